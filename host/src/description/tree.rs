//! The neutral element tree every reader produces (KIWI's XML form, with positions).

use super::error::Location;

/// One attribute with its position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Attr {
    pub name: String,
    pub value: String,
    pub location: Location,
}

/// One element: what an XML element is, and what KIWI's YAML/JSON mapping
/// turns into one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub name: String,
    pub location: Location,
    pub attrs: Vec<Attr>,
    pub children: Vec<Node>,
    /// Concatenated character data (text and CDATA) directly inside the element.
    pub text: String,
    /// Where the first non-blank character of `text` is.
    pub text_location: Option<Location>,
    /// Attributes that a schema upgrade removed (KIWI drops them); kept so the
    /// model can still report what the description said.
    pub dropped: Vec<Attr>,
}

impl Node {
    pub fn new(name: impl Into<String>, location: Location) -> Self {
        Node {
            name: name.into(),
            location,
            attrs: Vec::new(),
            children: Vec::new(),
            text: String::new(),
            text_location: None,
            dropped: Vec::new(),
        }
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.value.as_str())
    }

    pub fn attr_entry(&self, name: &str) -> Option<&Attr> {
        self.attrs.iter().find(|a| a.name == name)
    }

    pub fn remove_attr(&mut self, name: &str) -> Option<Attr> {
        let index = self.attrs.iter().position(|a| a.name == name)?;
        Some(self.attrs.remove(index))
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text with surrounding blanks removed (XML `token` semantics for
    /// the values KIWI reads).
    pub fn trimmed_text(&self) -> &str {
        self.text.trim()
    }

    /// Where the text is, or the element when it has none.
    pub fn text_or_element_location(&self) -> &Location {
        self.text_location.as_ref().unwrap_or(&self.location)
    }

    /// Calls `f` on this node and every descendant, depth first.
    pub fn walk_mut(&mut self, f: &mut dyn FnMut(&mut Node)) {
        f(self);
        for child in &mut self.children {
            child.walk_mut(f);
        }
    }
}

/// Maps byte offsets of a text to 1-based line and character column.
///
/// Line starts are found once; a column is counted from the last position
/// asked for when it lies on the same line before the new one (readers ask in
/// document order), so a document on one long line costs linear time, not
/// quadratic.
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
    /// The last answer: (line index, byte offset, 0-based column).
    cursor: std::cell::Cell<(usize, usize, usize)>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                starts.push(i + 1);
            }
        }
        LineIndex {
            text,
            starts,
            cursor: std::cell::Cell::new((0, 0, 0)),
        }
    }

    /// Line and column of byte `offset` (clamped to the text).
    pub fn position(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.text.len());
        let line = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.starts.get(line).copied().unwrap_or(0);
        let (cursor_line, cursor_offset, cursor_column) = self.cursor.get();
        let (from, base) = if cursor_line == line && cursor_offset <= offset {
            (cursor_offset, cursor_column)
        } else {
            (start, 0)
        };
        // characters whose first byte lies in from..offset (counts over
        // adjacent ranges add up, so starting at the cursor is exact)
        let column = base
            + self.text.as_bytes()[from..offset]
                .iter()
                .filter(|b| (**b & 0xC0) != 0x80)
                .count();
        self.cursor.set((line, offset, column));
        (
            u32::try_from(line + 1).unwrap_or(u32::MAX),
            u32::try_from(column + 1).unwrap_or(u32::MAX),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_index_positions_in_any_order() {
        let text = "ab\nhé x\n\nz";
        let index = LineIndex::new(text);
        // in order, backwards, and across lines: the cursor never changes answers
        let offsets = [0, 1, 3, 4, 6, 7, 6, 3, 9, 10, 2, 8, 100];
        let expected = [
            (1, 1),
            (1, 2),
            (2, 1),
            (2, 2),
            (2, 3),
            (2, 4),
            (2, 3),
            (2, 1),
            (3, 1),
            (4, 1),
            (1, 3),
            (2, 5),
            (4, 2),
        ];
        for (offset, want) in offsets.iter().zip(expected) {
            assert_eq!(index.position(*offset), want, "offset {offset}");
        }
        // inside the two bytes of 'é' (bytes 4 and 5): as far as its first byte
        assert_eq!(LineIndex::new(text).position(5), (2, 3));
    }
}
