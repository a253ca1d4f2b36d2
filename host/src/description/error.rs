//! Where a description problem is (`file:line:column` plus the element path) and what it is.

use std::io;
use std::path::PathBuf;

use super::model::MarkupFormat;

pub use super::position::{Location, Origin};

/// The names the loader looks for in a description directory, in order.
pub const LOOKUP_ORDER: &str =
    "config.xml, image/config.xml, *.kiwi, config.yaml, config.yml, config.json";

/// Why a description could not be loaded. Every variant renders as one line
/// that starts with `file:line:column` when the problem is inside a file.
#[derive(Debug, thiserror::Error)]
pub enum DescriptionError {
    /// No description file in the directory.
    #[error("{}: no image description found (looked for {LOOKUP_ORDER})", dir.display())]
    NotFound {
        /// The directory searched.
        dir: PathBuf,
    },
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The file is not well-formed XML, YAML or JSON.
    #[error("{location}: not well-formed {format}: {}", one_line(.message))]
    Syntax {
        /// Where the parser stopped.
        location: Location,
        /// The markup being read.
        format: MarkupFormat,
        /// The parser's message.
        message: String,
    },
    /// A YAML or JSON document that does not map onto KIWI's XML form.
    #[error("{location}: {path}: {}", one_line(.message))]
    Markup {
        /// Where.
        location: Location,
        /// Element path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// `schemaversion` below 7.4: KIWI 10 and later reject these too.
    #[error(
        "{location}: /image: schemaversion {found} is older than 7.4; expected 7.4 to 8.5 \
         (KIWI 10+ rejects it as well; convert it with an older KIWI release)"
    )]
    SchemaTooOld {
        /// Where the attribute is.
        location: Location,
        /// The version found.
        found: String,
    },
    /// `schemaversion` newer than 8.5 or not a number.
    #[error("{location}: /image: schemaversion {found:?} is not supported, expected 7.4 to 8.5")]
    SchemaUnsupported {
        /// Where the attribute is.
        location: Location,
        /// The version found.
        found: String,
    },
    /// An element the KIWI schema does not allow here.
    #[error("{location}: {path}: unknown element <{}>, expected {expected}", one_line(.name))]
    UnknownElement {
        /// Where.
        location: Location,
        /// Path of the parent element.
        path: String,
        /// The element name.
        name: String,
        /// What would be allowed.
        expected: String,
    },
    /// An attribute the KIWI schema does not allow on this element.
    #[error("{location}: {path}: unknown attribute '{}', expected {expected}", one_line(.name))]
    UnknownAttribute {
        /// Where.
        location: Location,
        /// Path of the element.
        path: String,
        /// The attribute name.
        name: String,
        /// What would be allowed.
        expected: String,
    },
    /// A required attribute is missing.
    #[error("{location}: {path}: missing required attribute '{name}'")]
    MissingAttribute {
        /// The element's location.
        location: Location,
        /// Path of the element.
        path: String,
        /// The attribute name.
        name: String,
    },
    /// A required child element is missing.
    #[error("{location}: {path}: missing required element <{name}>")]
    MissingElement {
        /// The parent's location.
        location: Location,
        /// Path of the parent.
        path: String,
        /// The missing element.
        name: String,
    },
    /// An element that may appear once appears again.
    #[error("{location}: {path}: <{name}> may appear only once here")]
    Repeated {
        /// Where the second one is.
        location: Location,
        /// Path of the parent.
        path: String,
        /// The element name.
        name: String,
    },
    /// An attribute or text value outside its type.
    #[error("{location}: {path}: invalid {what} {value:?}, expected {expected}")]
    InvalidValue {
        /// Where the value is.
        location: Location,
        /// Path of the element.
        path: String,
        /// `attribute 'name'` or `content`.
        what: String,
        /// The value (shortened).
        value: String,
        /// What the schema allows.
        expected: String,
    },
    /// Text inside an element that has none.
    #[error("{location}: {path}: unexpected text {text:?}, <{element}> holds no text")]
    UnexpectedText {
        /// Where the text starts.
        location: Location,
        /// Path of the element.
        path: String,
        /// The element name.
        element: String,
        /// The text (shortened).
        text: String,
    },
    /// A semantic rule of KIWI's broken (duplicate profile, exclusive attributes, ...).
    #[error("{location}: {path}: {}", one_line(.message))]
    Invalid {
        /// Where.
        location: Location,
        /// Element path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// `<include from=...>` names a file that does not exist.
    #[error("{location}: /image/include: included file {} does not exist (from={reference:?})", resolved.display())]
    IncludeNotFound {
        /// The include element.
        location: Location,
        /// The `from` attribute.
        reference: String,
        /// The path it resolved to.
        resolved: PathBuf,
    },
    /// A stop was requested (Ctrl-C or SIGTERM) while the description was read.
    #[error(transparent)]
    Interrupted(#[from] crate::interrupt::Interrupted),
    /// `<include from=...>` names a file outside the description directory
    /// (or the include root), as written or through a symlink.
    #[error(
        "{location}: /image/include: included file {} is outside {} (from={reference:?}); \
         includes must stay inside the description directory (a wider one can be allowed \
         with --include-root or BUILDER_INCLUDE_ROOT)",
        resolved.display(),
        root.display()
    )]
    IncludeOutside {
        /// The include element.
        location: Location,
        /// The `from` attribute.
        reference: String,
        /// Where it led.
        resolved: PathBuf,
        /// The directory includes must stay in.
        root: PathBuf,
    },
    /// Includes that include each other.
    #[error("{location}: /image/include: include loop: {chain}")]
    IncludeLoop {
        /// The include element that closes the loop.
        location: Location,
        /// The files in the loop, `a -> b -> a`.
        chain: String,
    },
}

impl DescriptionError {
    /// The location in a file, when the problem has one.
    pub fn location(&self) -> Option<&Location> {
        use DescriptionError::*;
        match self {
            NotFound { .. } | Io { .. } | Interrupted(_) => None,
            Syntax { location, .. }
            | Markup { location, .. }
            | SchemaTooOld { location, .. }
            | SchemaUnsupported { location, .. }
            | UnknownElement { location, .. }
            | UnknownAttribute { location, .. }
            | MissingAttribute { location, .. }
            | MissingElement { location, .. }
            | Repeated { location, .. }
            | InvalidValue { location, .. }
            | UnexpectedText { location, .. }
            | Invalid { location, .. }
            | IncludeNotFound { location, .. }
            | IncludeOutside { location, .. }
            | IncludeLoop { location, .. } => Some(location),
        }
    }
}

/// `text` with line breaks and other control characters escaped, so that a
/// message stays on one line whatever the input held.
pub(crate) fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A value cut to a length that keeps an error message on one line.
pub(crate) fn shorten(value: &str) -> String {
    const MAX: usize = 60;
    let mut out: String = value.chars().take(MAX).collect();
    if value.chars().count() > MAX {
        out.push('…');
    }
    out
}
