//! YAML and JSON descriptions into the element tree, with KIWI's mapping:
//! `'@name'` keys are attributes, `'#text'` is the text, a list repeats the
//! element, any other key is a child element (what KIWI's anymarkup/xmltodict
//! conversion does before the XML pipeline).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use super::error::{shorten, DescriptionError, Location};
use super::model::MarkupFormat;
use super::tree::{Attr, Node};

/// Most nodes a document may expand to (aliases can multiply a small file).
const MAX_NODES: usize = 200_000;
/// Deepest nesting accepted.
const MAX_DEPTH: usize = 256;

/// A YAML value with the position of its start.
#[derive(Debug, Clone)]
enum Value {
    /// A scalar, already normalised the way PyYAML + xmltodict would print it.
    Scalar(String, Location),
    Null(Location),
    Seq(Vec<Value>, Location),
    /// Keys keep their positions; order is the document's.
    Map(Vec<(String, Location, Value)>, Location),
}

impl Value {
    fn location(&self) -> &Location {
        match self {
            Value::Scalar(_, l) | Value::Null(l) | Value::Seq(_, l) | Value::Map(_, l) => l,
        }
    }

    fn count(&self) -> usize {
        match self {
            Value::Scalar(..) | Value::Null(_) => 1,
            Value::Seq(items, _) => 1 + items.iter().map(Value::count).sum::<usize>(),
            Value::Map(entries, _) => 1 + entries.iter().map(|(_, _, v)| v.count()).sum::<usize>(),
        }
    }
}

/// Parses a YAML description into its root element.
pub(crate) fn parse_yaml(text: &str, file: &Path) -> Result<Node, DescriptionError> {
    let value = load(text, file, MarkupFormat::Yaml)?;
    to_tree(value, file)
}

/// Parses a JSON description into its root element. serde_json checks that it
/// is JSON; the positions come from reading it as YAML (JSON is YAML 1.2).
pub(crate) fn parse_json(text: &str, file: &Path) -> Result<Node, DescriptionError> {
    if let Err(error) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        let message = error.to_string();
        let message = match message.rfind(" at line ") {
            Some(i) => message[..i].to_string(),
            None => message,
        };
        return Err(DescriptionError::Syntax {
            location: Location::new(
                file,
                u32::try_from(error.line().max(1)).unwrap_or(u32::MAX),
                u32::try_from(error.column().max(1)).unwrap_or(u32::MAX),
            ),
            format: MarkupFormat::Json,
            message,
        });
    }
    let value = load(text, file, MarkupFormat::Json)?;
    to_tree(value, file)
}

fn location(file: &Path, span: &Span) -> Location {
    Location::new(
        file,
        u32::try_from(span.start.line()).unwrap_or(u32::MAX),
        u32::try_from(span.start.col() + 1).unwrap_or(u32::MAX),
    )
}

struct Loader<'f> {
    file: &'f Path,
    format: MarkupFormat,
    anchors: HashMap<usize, Value>,
    nodes: usize,
}

fn load(text: &str, file: &Path, format: MarkupFormat) -> Result<Value, DescriptionError> {
    let mut parser = Parser::new_from_str(text);
    let mut loader = Loader {
        file,
        format,
        anchors: HashMap::new(),
        nodes: 0,
    };
    let mut document: Option<Value> = None;
    loop {
        let (event, span) = loader.next(&mut parser)?;
        match event {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                if document.is_some() {
                    return Err(DescriptionError::Markup {
                        location: location(file, &span),
                        path: "/".into(),
                        message: "a second document; a description is one document".into(),
                    });
                }
                let (first, first_span) = loader.next(&mut parser)?;
                if matches!(first, Event::DocumentEnd) {
                    document = Some(Value::Null(location(file, &first_span)));
                } else {
                    document = Some(loader.value(&mut parser, first, first_span, 0)?);
                }
            }
            other => {
                document = Some(loader.value(&mut parser, other, span, 0)?);
            }
        }
    }
    document.ok_or_else(|| DescriptionError::Markup {
        location: Location::new(file, 1, 1),
        path: "/".into(),
        message: "empty document; expected a mapping with the single key 'image'".into(),
    })
}

impl Loader<'_> {
    fn next<'i>(
        &self,
        parser: &mut Parser<'i, saphyr_parser::StrInput<'i>>,
    ) -> Result<(Event<'i>, Span), DescriptionError> {
        match parser.next() {
            Some(Ok(pair)) => Ok(pair),
            Some(Err(error)) => Err(DescriptionError::Syntax {
                location: Location::new(
                    self.file,
                    u32::try_from(error.marker().line()).unwrap_or(u32::MAX),
                    u32::try_from(error.marker().col() + 1).unwrap_or(u32::MAX),
                ),
                format: self.format,
                message: error.info().to_string(),
            }),
            None => Ok((
                Event::StreamEnd,
                Span::empty(saphyr_parser::Marker::new(0, 1, 0)),
            )),
        }
    }

    fn grow(&mut self, by: usize, at: &Location) -> Result<(), DescriptionError> {
        let before = self.nodes;
        self.nodes = self.nodes.saturating_add(by);
        if before / 4096 != self.nodes / 4096 {
            crate::interrupt::check("reading the description")?;
        }
        if self.nodes > MAX_NODES {
            return Err(DescriptionError::Markup {
                location: at.clone(),
                path: "/".into(),
                message: format!("the document expands to more than {MAX_NODES} nodes"),
            });
        }
        Ok(())
    }

    fn value<'i>(
        &mut self,
        parser: &mut Parser<'i, saphyr_parser::StrInput<'i>>,
        event: Event<'i>,
        span: Span,
        depth: usize,
    ) -> Result<Value, DescriptionError> {
        let at = location(self.file, &span);
        if depth > MAX_DEPTH {
            return Err(DescriptionError::Markup {
                location: at,
                path: "/".into(),
                message: format!("nested deeper than {MAX_DEPTH}"),
            });
        }
        self.grow(1, &at)?;
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let value = scalar(text, style, tag.is_some(), at);
                self.remember(anchor, &value);
                Ok(value)
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(value) => {
                    let value = value.clone();
                    self.grow(value.count(), &at)?;
                    Ok(value)
                }
                None => Err(DescriptionError::Markup {
                    location: at,
                    path: "/".into(),
                    message: "alias to an unknown anchor".into(),
                }),
            },
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (event, span) = self.next(parser)?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    if matches!(event, Event::StreamEnd) {
                        return Err(self.truncated(&at));
                    }
                    items.push(self.value(parser, event, span, depth + 1)?);
                }
                let value = Value::Seq(items, at);
                self.remember(anchor, &value);
                Ok(value)
            }
            Event::MappingStart(anchor, _) => {
                let mut entries: Vec<(String, Location, Value)> = Vec::new();
                // where each key is in `entries` (a scan per key is quadratic)
                let mut keys: HashMap<String, usize> = HashMap::new();
                loop {
                    let (event, span) = self.next(parser)?;
                    if matches!(event, Event::MappingEnd) {
                        break;
                    }
                    if matches!(event, Event::StreamEnd) {
                        return Err(self.truncated(&at));
                    }
                    let key_at = location(self.file, &span);
                    let key = match self.value(parser, event, span, depth + 1)? {
                        Value::Scalar(key, _) => key,
                        Value::Null(_) => "null".to_string(),
                        _ => {
                            return Err(DescriptionError::Markup {
                                location: key_at,
                                path: "/".into(),
                                message: "a mapping key must be a plain name".into(),
                            })
                        }
                    };
                    if let Some((_, first, _)) = keys.get(&key).map(|&i| &entries[i]) {
                        return Err(DescriptionError::Markup {
                            location: key_at,
                            path: "/".into(),
                            message: format!(
                                "duplicate key {:?} (first at line {})",
                                shorten(&key),
                                first.line
                            ),
                        });
                    }
                    let (event, span) = self.next(parser)?;
                    if matches!(event, Event::StreamEnd | Event::MappingEnd) {
                        return Err(self.truncated(&key_at));
                    }
                    let value = self.value(parser, event, span, depth + 1)?;
                    keys.insert(key.clone(), entries.len());
                    entries.push((key, key_at, value));
                }
                let value = Value::Map(entries, at);
                self.remember(anchor, &value);
                Ok(value)
            }
            _ => Err(DescriptionError::Markup {
                location: at,
                path: "/".into(),
                message: "unexpected YAML event".into(),
            }),
        }
    }

    fn truncated(&self, at: &Location) -> DescriptionError {
        DescriptionError::Syntax {
            location: at.clone(),
            format: self.format,
            message: "unexpected end of document".into(),
        }
    }

    fn remember(&mut self, anchor: usize, value: &Value) {
        if anchor != 0 {
            self.anchors.insert(anchor, value.clone());
        }
    }
}

/// A scalar as PyYAML would load it and xmltodict print it: booleans become
/// `true`/`false`, nulls become empty elements, everything else keeps its text.
fn scalar(text: Cow<'_, str>, style: ScalarStyle, tagged: bool, at: Location) -> Value {
    if style == ScalarStyle::Plain && !tagged {
        match text.as_ref() {
            "" | "~" | "null" | "Null" | "NULL" => return Value::Null(at),
            "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => {
                return Value::Scalar("true".into(), at)
            }
            "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => {
                return Value::Scalar("false".into(), at)
            }
            _ => {}
        }
    }
    Value::Scalar(text.into_owned(), at)
}

fn markup_error(at: &Location, path: &str, message: impl Into<String>) -> DescriptionError {
    DescriptionError::Markup {
        location: at.clone(),
        path: if path.is_empty() {
            "/".into()
        } else {
            path.into()
        },
        message: message.into(),
    }
}

fn to_tree(document: Value, file: &Path) -> Result<Node, DescriptionError> {
    let Value::Map(entries, at) = document else {
        return Err(markup_error(
            document.location(),
            "/",
            "expected a mapping with the single key 'image'",
        ));
    };
    let mut entries = entries.into_iter();
    let (Some((name, name_at, value)), None) = (entries.next(), entries.next()) else {
        return Err(markup_error(
            &at,
            "/",
            "expected exactly one top-level key (the root element 'image')",
        ));
    };
    let _ = file;
    let mut nodes = elements(&name, &name_at, value, "")?;
    match (nodes.pop(), nodes.is_empty()) {
        (Some(root), true) => Ok(root),
        _ => Err(markup_error(
            &name_at,
            "/",
            "the root element cannot be a list",
        )),
    }
}

/// What XML allows as a name, roughly: no blanks, controls or markup characters.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, '<' | '>' | '&' | '"' | '\'' | '=' | '/')
        })
}

/// The element(s) a key with this value turns into.
fn elements(
    name: &str,
    name_at: &Location,
    value: Value,
    parent_path: &str,
) -> Result<Vec<Node>, DescriptionError> {
    let path = format!("{parent_path}/{name}");
    if name.starts_with('@') || name == "#text" {
        return Err(markup_error(
            name_at,
            parent_path,
            format!("{name:?} is not an element name"),
        ));
    }
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c == '<' || c == '>')
    {
        return Err(markup_error(
            name_at,
            parent_path,
            format!("{:?} is not a valid element name", shorten(name)),
        ));
    }
    match value {
        Value::Seq(items, _) => {
            let mut nodes = Vec::with_capacity(items.len());
            for item in items {
                if let Value::Seq(_, at) = &item {
                    return Err(markup_error(
                        at,
                        &path,
                        "a list inside a list has no XML form",
                    ));
                }
                let at = item.location().clone();
                nodes.push(element(name, at, item, &path)?);
            }
            Ok(nodes)
        }
        other => Ok(vec![element(name, name_at.clone(), other, &path)?]),
    }
}

fn element(name: &str, at: Location, value: Value, path: &str) -> Result<Node, DescriptionError> {
    let mut node = Node::new(name, at);
    match value {
        Value::Null(_) => {}
        Value::Scalar(text, text_at) => {
            node.text = text;
            node.text_location = Some(text_at);
        }
        Value::Seq(_, at) => {
            return Err(markup_error(
                &at,
                path,
                "a list inside a list has no XML form",
            ))
        }
        Value::Map(entries, _) => {
            for (key, key_at, value) in entries {
                if let Some(attribute) = key.strip_prefix('@') {
                    let text = match value {
                        Value::Scalar(text, _) => text,
                        other => {
                            return Err(markup_error(
                                other.location(),
                                path,
                                format!("attribute {key:?} needs a plain value"),
                            ))
                        }
                    };
                    if !valid_name(attribute) {
                        return Err(markup_error(
                            &key_at,
                            path,
                            format!("{:?} is not a valid attribute name", shorten(attribute)),
                        ));
                    }
                    node.attrs.push(Attr {
                        name: attribute.to_string(),
                        value: text,
                        location: key_at,
                    });
                } else if key == "#text" {
                    match value {
                        Value::Scalar(text, text_at) => {
                            node.text.push_str(&text);
                            node.text_location.get_or_insert(text_at);
                        }
                        Value::Null(_) => {}
                        other => {
                            return Err(markup_error(
                                other.location(),
                                path,
                                "'#text' needs a plain value",
                            ))
                        }
                    }
                } else {
                    node.children.extend(elements(&key, &key_at, value, path)?);
                }
            }
        }
    }
    Ok(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kiwi_mapping() {
        let yaml = "image:\n  '@name': x\n  '@schemaversion': 7.4\n  packages:\n    '@type': image\n    package:\n    - '@name': a\n    - '@name': b\n  preferences:\n    rpm-check-signatures: no\n    version: 1.0.4\n";
        let root = parse_yaml(yaml, Path::new("c.yaml")).unwrap();
        assert_eq!(root.name, "image");
        assert_eq!(root.attr("schemaversion"), Some("7.4"));
        let packages = root.child("packages").unwrap();
        let names: Vec<_> = packages
            .children_named("package")
            .map(|p| p.attr("name").unwrap())
            .collect();
        assert_eq!(names, ["a", "b"]);
        let second = packages.children_named("package").nth(1).unwrap();
        assert_eq!((second.location.line, second.location.column), (8, 7));
        let prefs = root.child("preferences").unwrap();
        assert_eq!(prefs.child("rpm-check-signatures").unwrap().text, "false");
        assert_eq!(prefs.child("version").unwrap().text, "1.0.4");
    }

    #[test]
    fn json_positions_and_errors() {
        let json =
            "{\"image\": {\n  \"@name\": \"x\",\n  \"preferences\": {\"version\": \"1\"}\n}}";
        let root = parse_json(json, Path::new("c.json")).unwrap();
        let prefs = root.child("preferences").unwrap();
        assert_eq!((prefs.location.line, prefs.location.column), (3, 3));
        let e = parse_json(
            "{\"image\": {\n  \"@name\": \"x\",\n}}",
            Path::new("c.json"),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("c.json:3:1: not well-formed JSON"),
            "{e}"
        );
    }

    #[test]
    fn alias_bombs_are_stopped() {
        let mut yaml = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            yaml.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n", p = i - 1));
        }
        let e = parse_yaml(&yaml, Path::new("c.yaml")).unwrap_err();
        assert!(e.to_string().contains("expands to more than"), "{e}");
    }
}
