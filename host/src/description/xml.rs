//! KIWI XML into the element tree, with quick-xml and exact positions.

use std::path::Path;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::error::{DescriptionError, Location};
use super::model::MarkupFormat;
use super::tree::{Attr, LineIndex, Node};

/// Deepest element nesting accepted (KIWI descriptions nest about 6 deep).
const MAX_DEPTH: usize = 256;

/// Parses an XML document into its root element.
pub(crate) fn parse(text: &str, file: &Path) -> Result<Node, DescriptionError> {
    let lines = LineIndex::new(text);
    let at = |offset: usize| {
        let (line, column) = lines.position(offset);
        Location::new(file, line, column)
    };
    let syntax = |offset: usize, message: String| DescriptionError::Syntax {
        location: at(offset),
        format: MarkupFormat::Xml,
        message,
    };

    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(false);
    reader.config_mut().check_end_names = true;
    reader.config_mut().check_comments = true;
    reader.config_mut().expand_empty_elements = false;

    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let mut events: u32 = 0;
    loop {
        events = events.wrapping_add(1);
        if events.is_multiple_of(4096) {
            crate::interrupt::check("reading the description")?;
        }
        let start = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(error) => {
                let offset = usize::try_from(reader.error_position()).unwrap_or(start);
                return Err(syntax(offset, error.to_string()));
            }
        };
        match event {
            Event::Start(tag) | Event::Empty(tag) if root.is_some() && stack.is_empty() => {
                let _ = tag;
                return Err(syntax(
                    start,
                    "a second root element; a description has one <image>".into(),
                ));
            }
            Event::Start(tag) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(syntax(
                        start,
                        format!("elements nested deeper than {MAX_DEPTH}"),
                    ));
                }
                stack.push(element(&tag, text, start, &at, &syntax)?);
            }
            Event::Empty(tag) => {
                let node = element(&tag, text, start, &at, &syntax)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::End(_) => {
                let Some(node) = stack.pop() else {
                    return Err(syntax(start, "closing tag without an opening tag".into()));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::Text(content) => {
                let raw: &str = &content;
                add_text(&mut stack, raw, start, &at, &syntax)?;
            }
            Event::CData(content) => {
                let raw: &str = content.as_ref();
                // the text starts after "<![CDATA["
                add_text(&mut stack, raw, start + 9, &at, &syntax)?;
            }
            Event::GeneralRef(reference) => {
                let resolved = if reference.is_char_ref() {
                    match reference.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        _ => {
                            return Err(syntax(
                                start,
                                format!("invalid character reference &{};", &*reference),
                            ))
                        }
                    }
                } else {
                    match predefined_entity(&reference) {
                        Some(s) => s.to_string(),
                        None => {
                            return Err(syntax(start, format!("unknown entity &{};", &*reference)))
                        }
                    }
                };
                add_text(&mut stack, &resolved, start, &at, &syntax)?;
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(DescriptionError::Syntax {
            location: open.location.clone(),
            format: MarkupFormat::Xml,
            message: format!("element <{}> is never closed", open.name),
        });
    }
    root.ok_or_else(|| syntax(text.len(), "no root element; expected <image>".into()))
}

fn predefined_entity(name: &str) -> Option<&'static str> {
    Some(match name {
        "lt" => "<",
        "gt" => ">",
        "amp" => "&",
        "apos" => "'",
        "quot" => "\"",
        _ => return None,
    })
}

fn add_text(
    stack: &mut [Node],
    raw: &str,
    start: usize,
    at: &dyn Fn(usize) -> Location,
    syntax: &dyn Fn(usize, String) -> DescriptionError,
) -> Result<(), DescriptionError> {
    let blank_prefix = raw.len() - raw.trim_start().len();
    match stack.last_mut() {
        Some(node) => {
            if node.text_location.is_none() && blank_prefix < raw.len() {
                node.text_location = Some(at(start + blank_prefix));
            }
            // XML end-of-line handling: CR LF and lone CR become LF
            node.text
                .push_str(&raw.replace("\r\n", "\n").replace('\r', "\n"));
            Ok(())
        }
        None if raw.trim().is_empty() => Ok(()),
        None => Err(syntax(
            start + blank_prefix,
            "text outside the root element".into(),
        )),
    }
}

fn element(
    tag: &BytesStart<'_>,
    text: &str,
    start: usize,
    at: &dyn Fn(usize) -> Location,
    syntax: &dyn Fn(usize, String) -> DescriptionError,
) -> Result<Node, DescriptionError> {
    let name = tag.name().as_ref().to_string();
    let mut node = Node::new(name, at(start));
    let offsets = attribute_offsets(text.get(start..).unwrap_or(""));
    for (index, attribute) in tag.attributes().with_checks(true).enumerate() {
        let attr_start = offsets.get(index).map_or(start, |o| start + o);
        let attribute = attribute.map_err(|e| syntax(attr_start, e.to_string()))?;
        let key = attribute.key.as_ref().to_string();
        let value = attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| syntax(attr_start, format!("attribute '{key}': {e}")))?
            .into_owned();
        node.attrs.push(Attr {
            name: key,
            value,
            location: at(attr_start),
        });
    }
    Ok(node)
}

/// Byte offsets (from the `<`) of each attribute name in a start tag, in order.
fn attribute_offsets(tag: &str) -> Vec<usize> {
    let bytes = tag.as_bytes();
    let mut offsets = Vec::new();
    let mut i = 1; // after '<'
    while i < bytes.len() && !is_space(bytes[i]) && bytes[i] != b'/' && bytes[i] != b'>' {
        i += 1;
    }
    loop {
        while i < bytes.len() && is_space(bytes[i]) {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] == b'/' || bytes[i] == b'>' {
            break;
        }
        offsets.push(i);
        while i < bytes.len() && !is_space(bytes[i]) && bytes[i] != b'=' && bytes[i] != b'>' {
            i += 1;
        }
        while i < bytes.len() && is_space(bytes[i]) {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] != b'=' {
            continue;
        }
        i += 1;
        while i < bytes.len() && is_space(bytes[i]) {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let quote = bytes[i];
        if quote != b'"' && quote != b'\'' {
            continue;
        }
        i += 1;
        while i < bytes.len() && bytes[i] != quote {
            i += 1;
        }
        i += 1;
    }
    offsets
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Node {
        parse(text, Path::new("t.xml")).unwrap()
    }

    #[test]
    fn positions_of_elements_attributes_and_text() {
        let root = parse_ok("<?xml version=\"1.0\"?>\n<image name=\"x\">\n  <a  b='1'\n     c=\"2\">hé &amp; <![CDATA[<x>]]></a>\n</image>\n");
        assert_eq!(root.name, "image");
        assert_eq!((root.location.line, root.location.column), (2, 1));
        let a = &root.children[0];
        assert_eq!((a.location.line, a.location.column), (3, 3));
        assert_eq!(
            (a.attrs[0].location.line, a.attrs[0].location.column),
            (3, 7)
        );
        assert_eq!(
            (a.attrs[1].location.line, a.attrs[1].location.column),
            (4, 6)
        );
        assert_eq!(a.text, "hé & <x>");
        let t = a.text_location.as_ref().unwrap();
        assert_eq!((t.line, t.column), (4, 12));
    }

    #[test]
    fn errors_are_located() {
        let e = parse("<image>\n  <a>\n</image>", Path::new("t.xml")).unwrap_err();
        assert!(e.to_string().starts_with("t.xml:3:"), "{e}");
        let e = parse("<image>\n  <a>\n", Path::new("t.xml")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.xml:2:3: not well-formed XML: element <a> is never closed"
        );
        let e = parse("<image a='1' a='2'/>", Path::new("t.xml")).unwrap_err();
        assert!(e.to_string().starts_with("t.xml:1:"), "{e}");
        let e = parse("<image>&nope;</image>", Path::new("t.xml")).unwrap_err();
        assert!(e.to_string().contains("unknown entity &nope;"), "{e}");
        let e = parse("<image/><image/>", Path::new("t.xml")).unwrap_err();
        assert!(e.to_string().contains("second root"), "{e}");
    }
}
