//! What plugins say of themselves and what they return, independent of the
//! WIT version they were built against.

use std::fmt;

use serde::Serialize;

use super::grants::Capability;

/// The world a component implements (also what `builder plugin new --kind` makes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum World {
    /// Exports `describe` and `build`.
    ImageType,
    /// Exports `describe` and `run`.
    Hook,
    /// Exports `describe` and `apply`.
    Baseline,
}

impl fmt::Display for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            World::ImageType => "image-type",
            World::Hook => "hook",
            World::Baseline => "baseline",
        })
    }
}

/// A pipeline stage where hooks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// After the bootstrap package set.
    PostBootstrap,
    /// With `config.sh`.
    Config,
    /// With `images.sh`.
    PreImage,
    /// After artifacts, checksums and SBOMs.
    PostImage,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::PostBootstrap => "post-bootstrap",
            Stage::Config => "config",
            Stage::PreImage => "pre-image",
            Stage::PostImage => "post-image",
        })
    }
}

/// What a plugin serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "serves")]
pub enum Role {
    /// Image type names.
    ImageType(Vec<String>),
    /// Pipeline stages.
    Hook(Vec<Stage>),
    /// An organisation baseline.
    Baseline,
}

/// The type of value an option takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "type", content = "choices")]
pub enum OptionKind {
    /// `true` or `false`.
    Boolean,
    /// A signed integer.
    Integer,
    /// Free text.
    Text,
    /// One of the listed words.
    Choice(Vec<String>),
}

impl fmt::Display for OptionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionKind::Boolean => f.write_str("boolean"),
            OptionKind::Integer => f.write_str("integer"),
            OptionKind::Text => f.write_str("text"),
            OptionKind::Choice(choices) => write!(f, "one of {}", choices.join("|")),
        }
    }
}

/// One accepted option.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OptionSpec {
    /// Its name.
    pub name: String,
    /// Its type.
    pub kind: OptionKind,
    /// Its default, if any.
    pub default: Option<String>,
    /// One sentence for the user.
    pub doc: String,
}

impl OptionSpec {
    /// Check `value` against this spec; the error says what was expected.
    pub fn check(&self, value: &str) -> Result<(), String> {
        let ok = match &self.kind {
            OptionKind::Boolean => matches!(value, "true" | "false"),
            OptionKind::Integer => value.parse::<i64>().is_ok(),
            OptionKind::Text => true,
            OptionKind::Choice(choices) => choices.iter().any(|c| c == value),
        };
        if ok {
            Ok(())
        } else {
            Err(format!("`{value}` is not {}", self.kind))
        }
    }
}

/// What `describe` returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginInfo {
    /// Short unique name.
    pub name: String,
    /// The plugin's own version.
    pub version: String,
    /// One sentence.
    pub summary: String,
    /// What it serves.
    pub role: Role,
    /// Options it accepts.
    pub options: Vec<OptionSpec>,
    /// Capabilities it needs.
    pub capabilities: Vec<Capability>,
}

impl PluginInfo {
    /// `name version`, as errors and logs name a plugin.
    pub fn label(&self) -> String {
        format!("`{}` {}", self.name, self.version)
    }

    /// Check the plugin's self-description for things the host relies on.
    pub fn validate(&self) -> Result<(), String> {
        let name_ok = !self.name.is_empty()
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok {
            return Err(format!(
                "plugin name `{}` must be non-empty and use only a-z, 0-9 and -",
                self.name
            ));
        }
        if self.version.is_empty() {
            return Err("plugin version is empty".into());
        }
        for option in &self.options {
            if let Some(default) = &option.default {
                option
                    .check(default)
                    .map_err(|e| format!("default of option `{}`: {e}", option.name))?;
            }
        }
        Ok(())
    }

    /// The plugin as it serves image type `type_name`: a plugin that makes
    /// several types declares an option of one type alone as
    /// `TYPE:NAME` (the `iso` type's `iso:filesystem` beside the `oem`
    /// type's `filesystem`). For `type_name` such a spec is named `NAME`,
    /// in the place of a plain `NAME`; the other types' specs are left out.
    pub fn for_type(&self, type_name: &str) -> PluginInfo {
        let own: Vec<&str> = self
            .options
            .iter()
            .filter_map(|spec| spec.name.strip_prefix(type_name)?.strip_prefix(':'))
            .collect();
        let options = self
            .options
            .iter()
            .filter_map(|spec| match spec.name.split_once(':') {
                Some((of, name)) if of == type_name => Some(OptionSpec {
                    name: name.to_string(),
                    ..spec.clone()
                }),
                Some(_) => None,
                None if own.contains(&spec.name.as_str()) => None,
                None => Some(spec.clone()),
            })
            .collect();
        PluginInfo {
            options,
            ..self.clone()
        }
    }

    /// Check `given` options against the specs and fill in defaults; the
    /// result is in spec order.
    pub fn resolve_options(
        &self,
        given: &[(String, String)],
    ) -> Result<Vec<(String, String)>, GuestError> {
        for (name, value) in given {
            let spec = self
                .options
                .iter()
                .find(|s| &s.name == name)
                .ok_or_else(|| GuestError::InvalidOption {
                    name: name.clone(),
                    reason: format!(
                        "not an option of plugin `{}` (it accepts: {})",
                        self.name,
                        self.options
                            .iter()
                            .map(|s| s.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })?;
            spec.check(value)
                .map_err(|reason| GuestError::InvalidOption {
                    name: name.clone(),
                    reason,
                })?;
        }
        Ok(self
            .options
            .iter()
            .filter_map(|spec| {
                given
                    .iter()
                    .rev()
                    .find(|(n, _)| n == &spec.name)
                    .map(|(_, v)| v.clone())
                    .or_else(|| spec.default.clone())
                    .map(|v| (spec.name.clone(), v))
            })
            .collect())
    }
}

impl PluginInfo {
    /// Options from a description's `<type>` element: every attribute reaches
    /// the plugin (KIWI's attributes no plugin reads yet included); those the
    /// plugin declares are checked and defaulted, in spec order, the others
    /// follow as written. The description was checked against KIWI's schema,
    /// so a value outside a plugin's choices is one KIWI accepts and builder
    /// does not make yet, and the refusal says so.
    pub fn resolve_description_options(
        &self,
        attributes: &[(String, String)],
    ) -> Result<Vec<(String, String)>, GuestError> {
        let (declared, undeclared): (Vec<_>, Vec<_>) = attributes
            .iter()
            .cloned()
            .partition(|(name, _)| self.options.iter().any(|o| &o.name == name));
        let mut options = self.resolve_options(&declared).map_err(|e| match e {
            GuestError::InvalidOption { name, reason } => {
                let choices = self.options.iter().find_map(|spec| match &spec.kind {
                    OptionKind::Choice(choices) if spec.name == name => Some(choices),
                    _ => None,
                });
                let value = declared
                    .iter()
                    .rev()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.as_str());
                match (choices, value) {
                    (Some(choices), Some(value)) if !choices.iter().any(|c| c == value) => {
                        GuestError::InvalidOption {
                            reason: format!(
                                "builder does not make {name}=\"{value}\" yet, though KIWI \
                                 accepts it; plugin `{}` makes {}",
                                self.name,
                                choices.join("|")
                            ),
                            name,
                        }
                    }
                    _ => GuestError::InvalidOption { name, reason },
                }
            }
            other => other,
        })?;
        options.extend(undeclared);
        Ok(options)
    }
}

/// A typed error a plugin returned (the WIT `error` variant).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuestError {
    /// An option value the plugin cannot use.
    #[error("option `{name}`: {reason}")]
    InvalidOption {
        /// The option.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A call the plugin was not granted.
    #[error(
        "capability `{0}` was not granted (grant it with `--grant {0}` or in the description)"
    )]
    CapabilityDenied(Capability),
    /// An external tool failed.
    #[error("{tool} failed{}: {stderr}", exit_code.map(|c| format!(" with exit code {c}")).unwrap_or_default())]
    ToolFailed {
        /// The tool.
        tool: String,
        /// Its exit code.
        exit_code: Option<i32>,
        /// The end of its stderr.
        stderr: String,
    },
    /// A file operation failed.
    #[error("{}", io_message(path, message))]
    Io {
        /// The path.
        path: String,
        /// The message.
        message: String,
    },
    /// A bad path.
    #[error("invalid path: {0}")]
    InvalidPath(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// `path: message`, or the message alone when it names the path already.
fn io_message(path: &str, message: &str) -> String {
    if !path.is_empty() && message.contains(path) {
        message.to_string()
    } else {
        format!("{path}: {message}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> PluginInfo {
        PluginInfo {
            name: "tbz".into(),
            version: "0.1.0".into(),
            summary: String::new(),
            role: Role::ImageType(vec!["tbz".into()]),
            options: vec![
                OptionSpec {
                    name: "compression".into(),
                    kind: OptionKind::Choice(vec!["xz".into(), "none".into()]),
                    default: Some("xz".into()),
                    doc: String::new(),
                },
                OptionSpec {
                    name: "level".into(),
                    kind: OptionKind::Integer,
                    default: None,
                    doc: String::new(),
                },
            ],
            capabilities: vec![],
        }
    }

    #[test]
    fn options_are_checked_and_defaulted() {
        let info = info();
        assert_eq!(
            info.resolve_options(&[]).unwrap(),
            [("compression".to_string(), "xz".to_string())]
        );
        let given = [("level".to_string(), "9".to_string())];
        assert_eq!(info.resolve_options(&given).unwrap().len(), 2);
        let bad = [("compression".to_string(), "lz4".to_string())];
        let err = info.resolve_options(&bad).unwrap_err().to_string();
        assert_eq!(err, "option `compression`: `lz4` is not one of xz|none");
        let unknown = [("format".to_string(), "x".to_string())];
        let err = info.resolve_options(&unknown).unwrap_err().to_string();
        assert!(err.contains("not an option of plugin `tbz`"), "{err}");
    }

    #[test]
    fn an_option_of_one_type_replaces_the_shared_one_for_that_type_alone() {
        let choice = |name: &str, choices: &[&str]| OptionSpec {
            name: name.into(),
            kind: OptionKind::Choice(choices.iter().map(|c| c.to_string()).collect()),
            default: Some(choices[0].into()),
            doc: String::new(),
        };
        let info = PluginInfo {
            role: Role::ImageType(vec!["oem".into(), "iso".into()]),
            options: vec![
                choice("filesystem", &["ext4", "xfs"]),
                choice("format", &["raw"]),
                choice("iso:filesystem", &["squashfs", "erofs"]),
            ],
            ..info()
        };
        let names = |info: &PluginInfo| -> Vec<String> {
            info.options.iter().map(|o| o.name.clone()).collect()
        };
        let iso = info.for_type("iso");
        assert_eq!(names(&iso), ["format", "filesystem"]);
        let given = [("filesystem".to_string(), "erofs".to_string())];
        assert!(iso.resolve_options(&given).is_ok());
        assert!(info.for_type("oem").resolve_options(&given).is_err());
        assert_eq!(names(&info.for_type("oem")), ["filesystem", "format"]);
    }

    #[test]
    fn description_attributes_all_reach_the_plugin() {
        let info = info();
        let attrs = [
            ("image".to_string(), "tbz".to_string()),
            ("compression".to_string(), "none".to_string()),
        ];
        assert_eq!(
            info.resolve_description_options(&attrs).unwrap(),
            [
                ("compression".to_string(), "none".to_string()),
                ("image".to_string(), "tbz".to_string())
            ]
        );
        let bad = [("compression".to_string(), "lz4".to_string())];
        // A value KIWI accepts and the plugin does not make reads as what
        // builder lacks, not as a mistake in the description.
        assert_eq!(
            info.resolve_description_options(&bad)
                .unwrap_err()
                .to_string(),
            "option `compression`: builder does not make compression=\"lz4\" yet, though \
             KIWI accepts it; plugin `tbz` makes xz|none"
        );
    }

    #[test]
    fn names_are_validated() {
        let mut info = info();
        assert!(info.validate().is_ok());
        info.name = "Bad Name".into();
        assert!(info.validate().is_err());
    }
}
