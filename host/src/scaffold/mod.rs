//! `builder plugin new`: scaffolds a plugin crate (image type, hook or baseline)
//! that builds on its own and passes its own test against the real `builder`.
//!
//! The crate is self-contained: the SDK sources and the WIT contract are
//! embedded in this binary and written into `vendor/`, the guest toolchain
//! script (`scripts/build-plugin`) is copied in as `build-plugin`, and the
//! manifest has its own `[workspace]`. Layout of a new crate:
//!
//! ```text
//! NAME/
//!   Cargo.toml  README.md  .gitignore  build-plugin
//!   src/lib.rs              the plugin, from the kind's template
//!   tests/plugin.rs         builds the component, runs it through `builder`
//!   vendor/builder-sdk/     Cargo.toml (concrete, no workspace keys), src/*.rs
//!   vendor/wit/0.2.0/*.wit  where the SDK's `../wit/0.2.0` points
//! ```

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The contract version the vendored SDK is generated from.
pub const API_VERSION: &str = "0.2.0";

/// The SDK's manifest, as in the repository (with workspace keys).
const SDK_MANIFEST: &str = include_str!("../../../sdk/Cargo.toml");

/// The SDK's sources, `sdk/src/*.rs`. A unit test checks the list is complete.
const SDK_SOURCES: &[(&str, &str)] = &[
    ("archive.rs", include_str!("../../../sdk/src/archive.rs")),
    ("lib.rs", include_str!("../../../sdk/src/lib.rs")),
    ("options.rs", include_str!("../../../sdk/src/options.rs")),
    ("rootfs.rs", include_str!("../../../sdk/src/rootfs.rs")),
    ("settings.rs", include_str!("../../../sdk/src/settings.rs")),
];

/// The contract, `wit/0.2.0/*.wit`. A unit test checks the list is complete.
const WIT_FILES: &[(&str, &str)] = &[
    (
        "artifacts.wit",
        include_str!("../../../wit/0.2.0/artifacts.wit"),
    ),
    ("boot.wit", include_str!("../../../wit/0.2.0/boot.wit")),
    (
        "changes.wit",
        include_str!("../../../wit/0.2.0/changes.wit"),
    ),
    ("disks.wit", include_str!("../../../wit/0.2.0/disks.wit")),
    (
        "filesystems.wit",
        include_str!("../../../wit/0.2.0/filesystems.wit"),
    ),
    ("iso.wit", include_str!("../../../wit/0.2.0/iso.wit")),
    ("log.wit", include_str!("../../../wit/0.2.0/log.wit")),
    (
        "root-exec.wit",
        include_str!("../../../wit/0.2.0/root-exec.wit"),
    ),
    (
        "root-read.wit",
        include_str!("../../../wit/0.2.0/root-read.wit"),
    ),
    ("types.wit", include_str!("../../../wit/0.2.0/types.wit")),
    ("worlds.wit", include_str!("../../../wit/0.2.0/worlds.wit")),
];

/// The workspace manifest: the values of `[workspace.package]` the SDK inherits.
const WORKSPACE_MANIFEST: &str = include_str!("../../../Cargo.toml");

/// The project's guest build script, one source for the repository and every scaffold.
const BUILD_PLUGIN: &str = include_str!("../../../scripts/build-plugin");

const CARGO_TOML: &str = include_str!("templates/Cargo.toml.tmpl");
const README: &str = include_str!("templates/README.md.tmpl");
const GITIGNORE: &str = include_str!("templates/gitignore.tmpl");
const TEST_SUPPORT: &str = include_str!("templates/test_support.rs.tmpl");

/// What kind of plugin to scaffold: one per world of the contract.
pub use crate::plugins::World as PluginKind;

/// The templates and usage notes of each kind.
trait Templates {
    fn lib_template(self) -> &'static str;
    fn test_template(self) -> &'static str;
    fn usage(self) -> &'static str;
}

impl Templates for PluginKind {
    fn lib_template(self) -> &'static str {
        match self {
            PluginKind::ImageType => include_str!("templates/image-type/lib.rs.tmpl"),
            PluginKind::Hook => include_str!("templates/hook/lib.rs.tmpl"),
            PluginKind::Baseline => include_str!("templates/baseline/lib.rs.tmpl"),
        }
    }

    fn test_template(self) -> &'static str {
        match self {
            PluginKind::ImageType => include_str!("templates/image-type/test.rs.tmpl"),
            PluginKind::Hook => include_str!("templates/hook/test.rs.tmpl"),
            PluginKind::Baseline => include_str!("templates/baseline/test.rs.tmpl"),
        }
    }

    /// How to use the built component, for the crate's README.
    fn usage(self) -> &'static str {
        match self {
            PluginKind::ImageType => {
                "Use it:\n\n```sh\n\
                 builder create --root ROOT --target-dir out --type {{name}} --plugin COMPONENT\n\
                 builder run DESCRIPTION_DIR --target-dir out --type {{name}} --plugin COMPONENT\n\
                 ```\n\n\
                 or put the component in a `plugins/` folder next to a description that\n\
                 pins it in its `<extension>` and selects it with `<type image=\"{{name}}\"/>`:\n\n\
                 ```xml\n\
                 <extension xmlns:builder=\"urn:builder:plugins:1\">\n  \
                 <builder:plugin name=\"{{name}}\" kind=\"image-type\"\n                  \
                 path=\"plugins/COMPONENT\" sha256=\"SHA256 OF COMPONENT\"/>\n\
                 </extension>\n\
                 ```\n\n\
                 An unpinned component there is refused. An image type is granted\n\
                 root-read, artifact-write, compression, filesystems, partitioning,\n\
                 bootloader and iso; anything else needs `--grant` or `grants=`."
            }
            PluginKind::Hook => {
                "Try it on a directory (the changes it asks for are carried out there;\n\
                 `--dry-run` prints them instead):\n\n```sh\n\
                 builder plugin run COMPONENT --root ROOT --stage config \\\n    \
                 --grant root-read --grant root-write\n```"
            }
            PluginKind::Baseline => {
                "Try it on a directory (the changes it asks for are carried out there;\n\
                 `--dry-run` prints them instead):\n\n```sh\n\
                 builder plugin run COMPONENT --root ROOT --option 'banner=Hello' \\\n    \
                 --grant root-write\n```"
            }
        }
    }
}

/// Why a crate could not be scaffolded.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The plugin name is not usable.
    #[error("invalid plugin name `{name}`: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The directory exists and has files in it.
    #[error("{0} is not empty: scaffold into a new or empty directory")]
    NotEmpty(PathBuf),
    /// The path exists and is not a directory.
    #[error("{0} exists and is not a directory")]
    NotADirectory(PathBuf),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
}

/// What was scaffolded.
#[derive(Debug)]
pub struct Scaffold {
    /// The crate's directory.
    pub dir: PathBuf,
    /// Files written, relative to `dir`, in order.
    pub files: Vec<PathBuf>,
}

/// Words a crate or plugin may not be called: Rust keywords (the crate name
/// is an identifier) and the names of crates every build links.
#[rustfmt::skip]
const RESERVED: &[&str] = &[
    "as", "async", "await", "box", "break", "const", "continue", "crate", "do", "dyn", "else",
    "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let", "loop",
    "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return", "self",
    "static", "struct", "super", "trait", "true", "try", "type", "typeof", "unsafe", "unsized",
    "use", "virtual", "where", "while", "yield", "alloc", "core", "std", "test", "proc-macro",
    "builder-sdk",
];

/// Check a plugin name: `[a-z0-9-]+` (the contract's rule), and usable as a
/// cargo package and Rust crate name.
pub fn validate_name(name: &str) -> Result<(), ScaffoldError> {
    let invalid = |reason: &str| ScaffoldError::InvalidName {
        name: name.to_string(),
        reason: reason.to_string(),
    };
    if name.is_empty() {
        return Err(invalid("it is empty"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(invalid(&format!(
            "`{c}` is not allowed; use lower-case letters, digits and `-` ([a-z0-9-]+)"
        )));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(invalid(
            "it must start with a letter (it is also the Rust crate's name)",
        ));
    }
    if name.ends_with('-') || name.contains("--") {
        return Err(invalid("`-` must separate words"));
    }
    if name.len() > 64 {
        return Err(invalid("it is longer than 64 characters"));
    }
    if RESERVED.contains(&name) {
        return Err(invalid("it is a Rust keyword or a reserved crate name"));
    }
    if crate::plugins::catalog::is_builtin(name) {
        return Err(invalid(
            "a plugin built into builder has it, and a component file may not take a \
             built-in plugin's name",
        ));
    }
    Ok(())
}

/// `my-type` → `MyType`: the plugin's struct name.
fn type_name(name: &str) -> String {
    name.split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// A value of the workspace's `[workspace.package]` table (`version`, `edition`, ...).
fn workspace_package_value(key: &str) -> Option<&'static str> {
    let mut in_section = false;
    for line in WORKSPACE_MANIFEST.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_section = line == "[workspace.package]";
            continue;
        }
        if !in_section {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if k.trim() == key {
            return Some(v.trim().trim_matches('"'));
        }
    }
    None
}

/// The SDK's manifest with every `key.workspace = true` made concrete, so the
/// vendored copy builds outside the builder workspace.
fn vendored_sdk_manifest() -> String {
    let mut text = format!(
        "# The builder SDK, vendored by `builder plugin new` (builder {}).\n\
         # Update it by scaffolding again with a newer builder and copying vendor/.\n",
        env!("CARGO_PKG_VERSION")
    );
    for line in SDK_MANIFEST.lines() {
        let inherited = line
            .trim()
            .strip_suffix(".workspace = true")
            .filter(|k| !k.contains(' '));
        match inherited.and_then(|key| Some((key, workspace_package_value(key)?))) {
            Some((key, value)) => text.push_str(&format!("{key} = \"{value}\"\n")),
            None => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    text
}

/// Fill a template's `{{...}}` placeholders.
fn render(template: &str, kind: PluginKind, name: &str) -> String {
    template
        .replace("{{usage}}", kind.usage())
        .replace("{{name}}", name)
        .replace("{{type}}", &type_name(name))
        .replace("{{kind}}", &kind.to_string())
        .replace("{{api_version}}", API_VERSION)
        .replace(
            "{{sdk_version}}",
            workspace_package_value("version").unwrap_or(env!("CARGO_PKG_VERSION")),
        )
        .replace(
            "{{rust_version}}",
            workspace_package_value("rust-version").unwrap_or("1.95"),
        )
        .replace("{{builder_version}}", env!("CARGO_PKG_VERSION"))
}

/// Every file of a new crate: (path relative to its directory, content, executable).
fn files(kind: PluginKind, name: &str) -> Vec<(PathBuf, String, bool)> {
    let mut files = vec![
        (
            PathBuf::from("Cargo.toml"),
            render(CARGO_TOML, kind, name),
            false,
        ),
        (
            PathBuf::from("README.md"),
            render(README, kind, name),
            false,
        ),
        (PathBuf::from(".gitignore"), GITIGNORE.to_string(), false),
        (
            PathBuf::from("build-plugin"),
            BUILD_PLUGIN.to_string(),
            true,
        ),
        (
            PathBuf::from("src/lib.rs"),
            render(kind.lib_template(), kind, name),
            false,
        ),
        (
            PathBuf::from("tests/plugin.rs"),
            render(TEST_SUPPORT, kind, name) + &render(kind.test_template(), kind, name),
            false,
        ),
        (
            PathBuf::from("vendor/builder-sdk/Cargo.toml"),
            vendored_sdk_manifest(),
            false,
        ),
    ];
    for (file, content) in SDK_SOURCES {
        files.push((
            Path::new("vendor/builder-sdk/src").join(file),
            content.to_string(),
            false,
        ));
    }
    for (file, content) in WIT_FILES {
        files.push((
            Path::new("vendor/wit").join(API_VERSION).join(file),
            content.to_string(),
            false,
        ));
    }
    files
}

/// Write a new `kind` plugin crate called `name` into `dir` (created if
/// missing; refused unless empty).
pub fn scaffold(kind: PluginKind, name: &str, dir: &Path) -> Result<Scaffold, ScaffoldError> {
    validate_name(name)?;
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ScaffoldError::Io { path, source }
    };
    match fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => return Err(ScaffoldError::NotADirectory(dir.into())),
        Ok(_) => {
            let mut entries = fs::read_dir(dir).map_err(io_error(dir))?;
            if entries.next().is_some() {
                return Err(ScaffoldError::NotEmpty(dir.into()));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(io_error(dir))?;
        }
        Err(e) => return Err(io_error(dir)(e)),
    }
    let mut written = Vec::new();
    for (relative, content, executable) in files(kind, name) {
        let path = dir.join(&relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_error(parent))?;
        }
        fs::write(&path, content).map_err(io_error(&path))?;
        if executable {
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
                .map_err(io_error(&path))?;
        }
        written.push(relative);
    }
    Ok(Scaffold {
        dir: dir.to_path_buf(),
        files: written,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .into()
    }

    fn names_in(dir: &Path, extension: &str) -> BTreeSet<String> {
        fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(extension))
            .collect()
    }

    #[test]
    fn embeds_every_sdk_source() {
        let embedded: BTreeSet<String> = SDK_SOURCES.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(
            embedded,
            names_in(&repo().join("sdk/src"), ".rs"),
            "host/src/scaffold/mod.rs SDK_SOURCES must list every sdk/src/*.rs"
        );
    }

    #[test]
    fn embeds_every_wit_file() {
        let embedded: BTreeSet<String> = WIT_FILES.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(
            embedded,
            names_in(&repo().join("wit").join(API_VERSION), ".wit"),
            "host/src/scaffold/mod.rs WIT_FILES must list every wit/{API_VERSION}/*.wit"
        );
    }

    #[test]
    fn sdk_points_at_the_vendored_wit() {
        let lib = SDK_SOURCES.iter().find(|(n, _)| *n == "lib.rs").unwrap().1;
        let wit_path = format!("path: \"../wit/{API_VERSION}\"");
        assert!(
            lib.contains(&wit_path),
            "sdk/src/lib.rs no longer uses {wit_path}"
        );
        // The SDK compiles exactly one contract version; a new one needs a new WIT_FILES.
        assert_eq!(
            lib.matches("path: \"../wit/").count(),
            lib.matches(&wit_path).count()
        );
    }

    #[test]
    fn vendored_manifest_has_no_workspace_keys() {
        let manifest = vendored_sdk_manifest();
        assert!(!manifest.contains(".workspace"), "{manifest}");
        assert!(manifest.contains("name = \"builder-sdk\""));
        assert!(manifest.contains(&format!("version = \"{}\"", env!("CARGO_PKG_VERSION"))));
        assert!(manifest.contains("edition = \"20"), "{manifest}");
        assert!(manifest.contains("wit-bindgen"));
    }

    #[test]
    fn names() {
        for good in ["listing", "my-type", "x2", "a-1-b"] {
            validate_name(good).unwrap();
        }
        for bad in [
            "", "My", "a_b", "9p", "-a", "a-", "a--b", "fn", "test", "a b", "é", "tbz",
        ] {
            assert!(validate_name(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(type_name("my-type-2"), "MyType2");
    }

    #[test]
    fn templates_leave_no_placeholder() {
        for kind in [
            PluginKind::ImageType,
            PluginKind::Hook,
            PluginKind::Baseline,
        ] {
            for (path, content, _) in files(kind, "my-plugin") {
                assert!(!content.contains("{{"), "{kind}: {}", path.display());
            }
        }
    }

    #[test]
    fn refuses_a_non_empty_directory() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("keep"), "").unwrap();
        let err = scaffold(PluginKind::Hook, "h", dir.path()).unwrap_err();
        assert!(matches!(err, ScaffoldError::NotEmpty(_)), "{err}");
        assert!(!dir.path().join("Cargo.toml").exists());
    }

    #[test]
    fn writes_an_executable_build_script() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("new");
        let done = scaffold(PluginKind::Baseline, "corp", &target).unwrap();
        assert!(done.files.contains(&PathBuf::from(format!(
            "vendor/wit/{API_VERSION}/worlds.wit"
        ))));
        let mode = fs::metadata(target.join("build-plugin"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111);
        let manifest = fs::read_to_string(target.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("features = [\"baseline\"]"));
        assert!(manifest.contains("\n[workspace]\n"));
    }
}
