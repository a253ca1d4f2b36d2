//! Where plugins come from: the binary itself, a `plugins/` folder next to
//! the description, and `--plugin PATH`; earlier sources take precedence.
//!
//! Two rules keep a component file from running unasked:
//! - a file in a description's `plugins/` folder loads only when that
//!   description pins it (`<builder:plugin path="plugins/…" sha256="…">`),
//!   and only with that digest; an unpinned one is an error naming its
//!   digest, to check and pin;
//! - the names of the built-in plugins are reserved: a component file (from
//!   the folder, or `--plugin`, which needs no pin: it is the user's own
//!   choice) that calls itself like a built-in one is refused, never
//!   silently put in its place.

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

/// Why a candidate may load at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Built into the binary.
    BuiltIn,
    /// Given with `--plugin`: the user's explicit choice, unpinned.
    CommandLine,
    /// In a description's `plugins/` folder, pinned by that description to
    /// this SHA-256 (lower-case hex).
    Pinned(String),
}

/// A component found but not yet loaded.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Where it is.
    pub source: PluginSource,
    /// The file stem or built-in name, before `describe` says the real name.
    pub hint: String,
    /// Why it may load.
    pub admission: Admission,
}

impl Candidate {
    /// The component's bytes, read once; a pinned file's must have the
    /// pinned digest.
    pub fn bytes(&self) -> std::io::Result<std::borrow::Cow<'static, [u8]>> {
        match &self.source {
            PluginSource::BuiltIn => BUILTIN_PLUGINS
                .iter()
                .find(|(name, _)| *name == self.hint)
                .map(|(_, bytes)| std::borrow::Cow::Borrowed(*bytes))
                .ok_or_else(|| {
                    std::io::Error::other(format!("no built-in plugin `{}`", self.hint))
                }),
            PluginSource::File(path) => {
                let bytes = std::fs::read(path).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
                })?;
                if let Admission::Pinned(pinned) = &self.admission {
                    let digest = crate::toolbox::sha256_hex(&bytes);
                    if digest != *pinned {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::PermissionDenied,
                            format!(
                                "{}: plugin refused: it has sha256 {digest}, but the \
                                 description pins {pinned}",
                                path.display()
                            ),
                        ));
                    }
                }
                Ok(std::borrow::Cow::Owned(bytes))
            }
        }
    }

    /// Whether the plugin this candidate turned out to be (`describe` said
    /// `name`) may load: a component file may not take a built-in's name.
    pub fn admit(&self, name: &str) -> Result<(), String> {
        if self.admission == Admission::BuiltIn || !is_builtin(name) {
            return Ok(());
        }
        let how = match self.admission {
            Admission::CommandLine => "given with --plugin",
            _ => "next to the description",
        };
        Err(format!(
            "it calls itself `{name}`, the name of a plugin built into builder; a component \
             file ({how}) never takes a built-in plugin's place: give it a name of its own in \
             its `describe`"
        ))
    }
}

/// Whether `name` is the name of a built-in plugin.
pub fn is_builtin(name: &str) -> bool {
    BUILTIN_PLUGINS.iter().any(|(builtin, _)| *builtin == name)
}

/// A component file a description pins: a `<builder:plugin>` with both
/// `path` and `sha256`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// The file, as the description's reference resolves it.
    pub path: PathBuf,
    /// Its SHA-256, lower-case hex.
    pub sha256: String,
}

impl Pin {
    /// Every pin of a description's plugin references, whatever profiles
    /// they apply to.
    pub fn of(references: &[crate::description::PluginRef]) -> Vec<Pin> {
        references
            .iter()
            .filter_map(|r| {
                Some(Pin {
                    path: r.resolved_path.clone()?,
                    sha256: r.sha256.clone()?,
                })
            })
            .collect()
    }
}

/// The `plugins/` folder next to a description, with what it pins.
#[derive(Debug, Clone, Default)]
pub struct DescriptionPlugins {
    /// The folder.
    pub dir: PathBuf,
    /// The description's pins.
    pub pins: Vec<Pin>,
}

impl DescriptionPlugins {
    /// `description_dir/plugins` and the pins of `references`.
    pub fn new(description_dir: &Path, references: &[crate::description::PluginRef]) -> Self {
        DescriptionPlugins {
            dir: description_dir.join("plugins"),
            pins: Pin::of(references),
        }
    }

    /// What pins `file` (a file of the folder), if anything does.
    fn pin_of(&self, file: &Path) -> Option<&Pin> {
        let real = std::fs::canonicalize(file).ok()?;
        self.pins
            .iter()
            .find(|pin| std::fs::canonicalize(&pin.path).is_ok_and(|p| p == real))
    }
}

/// Every plugin source, in precedence order.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    candidates: Vec<Candidate>,
}

impl Catalog {
    /// `--plugin` paths first, then `*.wasm` in each of `dirs`, then
    /// built-ins. A file of `dirs` that its description does not pin is an
    /// error (with its digest, to check and pin).
    pub fn discover(explicit: &[PathBuf], dirs: &[DescriptionPlugins]) -> std::io::Result<Catalog> {
        let mut candidates = Vec::new();
        for path in explicit {
            candidates.push(file_candidate(path, Admission::CommandLine));
        }
        for dir in dirs {
            let Ok(entries) = std::fs::read_dir(&dir.dir) else {
                continue;
            };
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
                .collect();
            found.sort();
            for path in found {
                let Some(pin) = dir.pin_of(&path) else {
                    return Err(unpinned(&path));
                };
                candidates.push(file_candidate(&path, Admission::Pinned(pin.sha256.clone())));
            }
        }
        for (name, _) in BUILTIN_PLUGINS {
            candidates.push(Candidate {
                source: PluginSource::BuiltIn,
                hint: name.to_string(),
                admission: Admission::BuiltIn,
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

fn file_candidate(path: &Path, admission: Admission) -> Candidate {
    Candidate {
        source: PluginSource::File(path.to_path_buf()),
        hint: path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        admission,
    }
}

/// Why a file of a description's `plugins/` folder is not loaded.
fn unpinned(path: &Path) -> std::io::Error {
    let digest = match std::fs::read(path) {
        Ok(bytes) => crate::toolbox::sha256_hex(&bytes),
        Err(e) => format!("unknown: {e}"),
    };
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    std::io::Error::new(
        std::io::ErrorKind::PermissionDenied,
        format!(
            "{}: plugin refused: a plugin next to the description loads only when the \
             description pins it, and nothing pins this one (sha256 {digest}). Check the \
             file, then pin it in the description's <extension>: <builder:plugin name=\"…\" \
             kind=\"…\" path=\"plugins/{file}\" sha256=\"{digest}\"/>; or move it out of plugins/",
            path.display()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pinned(dir: &Path, file: &str, bytes: &[u8]) -> Pin {
        Pin {
            path: dir.join(file),
            sha256: crate::toolbox::sha256_hex(bytes),
        }
    }

    #[test]
    fn an_unpinned_file_next_to_a_description_is_refused_with_its_digest() {
        let description = tempfile::tempdir().unwrap();
        let plugins = description.path().join("plugins");
        std::fs::create_dir(&plugins).unwrap();
        std::fs::write(plugins.join("stamp.wasm"), b"component").unwrap();
        std::fs::write(plugins.join("README"), b"not a plugin").unwrap();
        let dirs = [DescriptionPlugins::new(description.path(), &[])];
        let err = Catalog::discover(&[], &dirs).unwrap_err();
        let message = err.to_string();
        assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied);
        let digest = crate::toolbox::sha256_hex(b"component");
        assert!(
            message.contains("stamp.wasm: plugin refused: a plugin next to the description loads only when the description pins it"),
            "{message}"
        );
        assert!(
            message.contains(&format!(r#"path="plugins/stamp.wasm" sha256="{digest}""#)),
            "{message}"
        );
        // A pin of another file, or of the same file under another
        // digest, is no pin of it.
        let dirs = [DescriptionPlugins {
            dir: plugins.clone(),
            pins: vec![pinned(&plugins, "other.wasm", b"component")],
        }];
        assert!(Catalog::discover(&[], &dirs).is_err());
    }

    #[test]
    fn a_pinned_file_is_a_candidate_with_its_pin_and_must_match_it() {
        let description = tempfile::tempdir().unwrap();
        let plugins = description.path().join("plugins");
        std::fs::create_dir(&plugins).unwrap();
        std::fs::write(plugins.join("stamp.wasm"), b"component").unwrap();
        // Written as the description writes it: relative, with `./`.
        let pin = Pin {
            path: description.path().join("./plugins/stamp.wasm"),
            sha256: crate::toolbox::sha256_hex(b"component"),
        };
        let dirs = [DescriptionPlugins {
            dir: plugins.clone(),
            pins: vec![pin.clone()],
        }];
        let explicit = description.path().join("mine.wasm");
        let catalog = Catalog::discover(std::slice::from_ref(&explicit), &dirs).unwrap();
        let candidates = catalog.candidates();
        assert_eq!(candidates[0].admission, Admission::CommandLine);
        assert_eq!(
            candidates[1].source,
            PluginSource::File(plugins.join("stamp.wasm"))
        );
        assert_eq!(
            candidates[1].admission,
            Admission::Pinned(pin.sha256.clone())
        );
        assert!(candidates[2..]
            .iter()
            .all(|c| c.admission == Admission::BuiltIn));
        assert_eq!(&candidates[1].bytes().unwrap()[..], b"component");
        // Changed after discovery: refused when read.
        std::fs::write(plugins.join("stamp.wasm"), b"swapped").unwrap();
        let err = candidates[1].bytes().unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "plugin refused: it has sha256 {}, but the description pins {}",
                crate::toolbox::sha256_hex(b"swapped"),
                pin.sha256
            )),
            "{err}"
        );
    }

    #[test]
    fn built_in_names_are_reserved_for_built_in_plugins() {
        let builtin = Catalog::builtin_names().next().unwrap();
        let file = |admission| Candidate {
            source: PluginSource::File(PathBuf::from("x.wasm")),
            hint: "x".into(),
            admission,
        };
        for admission in [Admission::CommandLine, Admission::Pinned("0".repeat(64))] {
            let err = file(admission.clone()).admit(builtin).unwrap_err();
            assert!(
                err.contains(&format!(
                    "it calls itself `{builtin}`, the name of a plugin built into builder"
                )),
                "{err}"
            );
            file(admission).admit("my-own").unwrap();
        }
        Candidate {
            source: PluginSource::BuiltIn,
            hint: builtin.into(),
            admission: Admission::BuiltIn,
        }
        .admit(builtin)
        .unwrap();
    }
}
