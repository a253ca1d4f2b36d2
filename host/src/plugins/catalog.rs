//! Where plugins come from: the binary itself, a `plugins/` folder next to
//! the description, and `--plugin PATH`; earlier sources take precedence.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

// `BUILTIN_PLUGINS: &[(&str, &[u8])]`, written by build.rs.
include!(concat!(env!("OUT_DIR"), "/builtin_plugins.rs"));

/// Where a plugin's component came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "path")]
pub enum PluginSource {
    /// Embedded in the `builder` binary.
    BuiltIn,
    /// A component file.
    File(PathBuf),
}

impl fmt::Display for PluginSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginSource::BuiltIn => f.write_str("built-in"),
            PluginSource::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A component found but not yet loaded.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Where it is.
    pub source: PluginSource,
    /// The file stem or built-in name, before `describe` says the real name.
    pub hint: String,
}

impl Candidate {
    /// The component's bytes.
    pub fn bytes(&self) -> std::io::Result<std::borrow::Cow<'static, [u8]>> {
        match &self.source {
            PluginSource::BuiltIn => BUILTIN_PLUGINS
                .iter()
                .find(|(name, _)| *name == self.hint)
                .map(|(_, bytes)| std::borrow::Cow::Borrowed(*bytes))
                .ok_or_else(|| {
                    std::io::Error::other(format!("no built-in plugin `{}`", self.hint))
                }),
            PluginSource::File(path) => std::fs::read(path)
                .map(std::borrow::Cow::Owned)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        }
    }
}

/// Every plugin source, in precedence order.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    candidates: Vec<Candidate>,
}

impl Catalog {
    /// `--plugin` paths first, then `*.wasm` in each of `dirs`, then built-ins.
    pub fn discover(explicit: &[PathBuf], dirs: &[PathBuf]) -> std::io::Result<Catalog> {
        let mut candidates = Vec::new();
        for path in explicit {
            candidates.push(file_candidate(path));
        }
        for dir in dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
                .collect();
            found.sort();
            candidates.extend(found.iter().map(|p| file_candidate(p)));
        }
        for (name, _) in BUILTIN_PLUGINS {
            candidates.push(Candidate {
                source: PluginSource::BuiltIn,
                hint: name.to_string(),
            });
        }
        Ok(Catalog { candidates })
    }

    /// The candidates in precedence order.
    pub fn candidates(&self) -> &[Candidate] {
        &self.candidates
    }

    /// Names of the plugins built into this binary.
    pub fn builtin_names() -> impl Iterator<Item = &'static str> {
        BUILTIN_PLUGINS.iter().map(|(name, _)| *name)
    }
}

fn file_candidate(path: &Path) -> Candidate {
    Candidate {
        source: PluginSource::File(path.to_path_buf()),
        hint: path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}
