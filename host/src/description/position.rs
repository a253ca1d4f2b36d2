//! Where something of a description is: a file position (`file:line:column`)
//! and, for elements of the model, the element path in the merged document.

use std::fmt;
use std::path::PathBuf;

/// A position in a description file: 1-based line and column (in characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file, as the loader opened it (an included file for included content).
    pub file: PathBuf,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub column: u32,
}

impl Location {
    /// A location in `file`.
    pub fn new(file: impl Into<PathBuf>, line: u32, column: u32) -> Self {
        Location {
            file: file.into(),
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// Where an element of the model came from: its location and its element path
/// in the merged document (for example `/image/preferences/type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Start of the element.
    pub location: Location,
    /// Element path from the root, e.g. `/image/preferences/type`.
    pub path: String,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.path)
    }
}
