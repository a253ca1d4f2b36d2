//! Option specs and values: constructors for specs, typed lookups for values.

use crate::{Error, OptionKind, OptionSpec, OptionValue};

impl OptionSpec {
    /// An option taking one of `choices`, defaulting to `default`.
    pub fn choice(name: &str, choices: &[&str], default: &str, doc: &str) -> Self {
        OptionSpec {
            name: name.to_string(),
            kind: OptionKind::Choice(choices.iter().map(|c| c.to_string()).collect()),
            default: Some(default.to_string()),
            doc: doc.to_string(),
        }
    }
    /// A boolean option.
    pub fn boolean(name: &str, default: bool, doc: &str) -> Self {
        OptionSpec {
            name: name.to_string(),
            kind: OptionKind::Boolean,
            default: Some(default.to_string()),
            doc: doc.to_string(),
        }
    }
    /// An integer option, unset unless `default` is given.
    pub fn integer(name: &str, default: Option<i64>, doc: &str) -> Self {
        OptionSpec {
            name: name.to_string(),
            kind: OptionKind::Integer,
            default: default.map(|d| d.to_string()),
            doc: doc.to_string(),
        }
    }
    /// A free-text option, unset unless `default` is given.
    pub fn text(name: &str, default: Option<&str>, doc: &str) -> Self {
        OptionSpec {
            name: name.to_string(),
            kind: OptionKind::Text,
            default: default.map(|d| d.to_string()),
            doc: doc.to_string(),
        }
    }
}

/// Typed lookups in the option values the host passed (already checked
/// against the plugin's specs, defaults filled in).
pub trait OptionsExt {
    /// The value of `name`, if set.
    fn value(&self, name: &str) -> Option<&str>;
    /// `name` as a boolean (`false` when unset).
    fn flag(&self, name: &str) -> Result<bool, Error>;
    /// `name` as an integer, if set.
    fn integer(&self, name: &str) -> Result<Option<i64>, Error>;
}

impl OptionsExt for [OptionValue] {
    fn value(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|o| o.name == name)
            .map(|o| o.value.as_str())
    }
    fn flag(&self, name: &str) -> Result<bool, Error> {
        match self.value(name) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(Error::invalid_option(
                name,
                format!("`{other}` is not true or false"),
            )),
        }
    }
    fn integer(&self, name: &str) -> Result<Option<i64>, Error> {
        self.value(name)
            .map(|v| {
                v.parse()
                    .map_err(|_| Error::invalid_option(name, format!("`{v}` is not an integer")))
            })
            .transpose()
    }
}
