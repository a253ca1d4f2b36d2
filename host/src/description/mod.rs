//! Image descriptions: the typed model and the KIWI XML, YAML and JSON readers.
//!
//! Loading follows `kiwi-ng`: find the description file in a directory
//! ([`find_description`]), read it (XML with quick-xml; YAML and JSON with
//! KIWI's `'@attribute'`/`'#text'` mapping), inline `<include>` files, check
//! `schemaversion` (7.4 to 8.5) and apply KIWI's upgrade steps, validate every
//! element and attribute against KIWI's schema, and build the [`Description`].
//! Every error names `file:line:column`, the element path and what was expected.

// Errors are built once per failed load; their size does not matter.
#![allow(clippy::result_large_err)]

mod convert;
mod error;
mod extension;
mod include;
mod kiwi_schema;
mod markup;
mod model;
mod position;
mod schema;
mod tree;
mod upgrade;
mod values;
mod xml;

use std::fs;
use std::path::{Path, PathBuf};

pub use error::{DescriptionError, Location, Origin, LOOKUP_ORDER};
pub use model::*;
pub use schema::closest;
pub use schema::ARCH_NAMES;
pub use upgrade::{CURRENT_SCHEMA, OLDEST_SCHEMA};

/// `path` without `.` and `..` components, computed without the file system.
pub fn normalize_path(path: &Path) -> PathBuf {
    include::normalize(path)
}

/// The description file in `dir`, found the way KIWI finds it: `config.xml`,
/// then `image/config.xml`, then the first `*.kiwi` in sorted order. As an
/// extension (KIWI needs `--kiwi-file` for these), `config.yaml`,
/// `config.yml` and `config.json` come last. A `*.kiwi` that is a symlink
/// stored as a plain file (a git checkout without symlinks) is followed.
pub fn find_description(dir: &Path) -> Option<PathBuf> {
    let config = dir.join("config.xml");
    if config.is_file() {
        return Some(config);
    }
    let nested = dir.join("image").join("config.xml");
    if nested.is_file() {
        return Some(nested);
    }
    let mut kiwi_files: Vec<PathBuf> = fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "kiwi") && p.is_file())
        .collect();
    kiwi_files.sort();
    if let Some(first) = kiwi_files.into_iter().next() {
        return Some(match include::link_placeholder(&first) {
            Some(target) => include::normalize(&dir.join(target)),
            None => first,
        });
    }
    ["config.yaml", "config.yml", "config.json"]
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
}

/// The variable naming a directory `<include>` may reach beyond the
/// description directory (descriptions that share files with their
/// siblings through a link, such as `platforms -> ../platforms`). Without
/// it, includes stay inside the description directory.
pub const INCLUDE_ROOT_VAR: &str = "BUILDER_INCLUDE_ROOT";

/// The include root [`INCLUDE_ROOT_VAR`] names, if set.
fn include_root_from_env() -> Option<PathBuf> {
    std::env::var_os(INCLUDE_ROOT_VAR)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Loads the description in directory `dir` (see [`find_description`]);
/// includes may reach the directory [`INCLUDE_ROOT_VAR`] names, else only
/// the description directory.
pub fn load(dir: &Path) -> Result<Description, DescriptionError> {
    load_within(dir, include_root_from_env().as_deref())
}

/// Loads the description in `dir`, its includes confined to `include_root`
/// (the description directory when `None`).
pub fn load_within(
    dir: &Path,
    include_root: Option<&Path>,
) -> Result<Description, DescriptionError> {
    let file = find_description(dir).ok_or_else(|| DescriptionError::NotFound {
        dir: dir.to_path_buf(),
    })?;
    load_file_within(&file, include_root)
}

/// Loads one description file; its directory is the description directory.
pub fn load_file(file: &Path) -> Result<Description, DescriptionError> {
    load_file_within(file, include_root_from_env().as_deref())
}

fn load_file_within(
    file: &Path,
    include_root: Option<&Path>,
) -> Result<Description, DescriptionError> {
    let _span = tracing::debug_span!("load_description", file = %file.display()).entered();
    tracing::debug!("reading the description");
    let text = include::read_text(file)?;
    let format = MarkupFormat::detect(file, &text)?;
    let description = from_str_within(&text, format, file, include_root)?;
    tracing::debug!(
        format = %description.format,
        schema = %description.schema_version,
        includes = description.included_files.len(),
        upgrades = description.upgrades.len(),
        "description loaded"
    );
    Ok(description)
}

/// Reads a description from `text` as if it were the file `file` (used for
/// the file's name in errors and as the base of includes and `this://`).
pub fn from_str(
    text: &str,
    format: MarkupFormat,
    file: &Path,
) -> Result<Description, DescriptionError> {
    from_str_within(text, format, file, include_root_from_env().as_deref())
}

fn from_str_within(
    text: &str,
    format: MarkupFormat,
    file: &Path,
    include_root: Option<&Path>,
) -> Result<Description, DescriptionError> {
    let mut root = match format {
        MarkupFormat::Xml => xml::parse(text, file)?,
        MarkupFormat::Yaml => markup::parse_yaml(text, file)?,
        MarkupFormat::Json => markup::parse_json(text, file)?,
    };
    let dir = file
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    if root.name != "image" {
        return Err(DescriptionError::UnknownElement {
            location: root.location.clone(),
            path: "/".into(),
            name: root.name.clone(),
            expected: "<image> as the root element".into(),
        });
    }
    crate::interrupt::check("reading the description")?;
    let included_files = include::expand(&mut root, file, &dir, include_root)?;
    let (schema_version, upgrades) = upgrade::upgrade(&mut root)?;
    crate::interrupt::check("upgrading the description")?;
    schema::validate(&root)?;
    crate::interrupt::check("checking the description")?;
    convert::convert(
        &root,
        file,
        dir,
        format,
        schema_version,
        upgrades,
        included_files,
    )
}

impl MarkupFormat {
    /// The format of a description the way KIWI's anymarkup tells it: by
    /// extension (`.xml`, `.yaml`/`.yml`, `.json`), else by content (`<` is
    /// XML, `{` is JSON, an INI section header is refused, anything else is YAML).
    pub fn detect(file: &Path, text: &str) -> Result<MarkupFormat, DescriptionError> {
        match file.extension().and_then(|e| e.to_str()) {
            Some("xml") => return Ok(MarkupFormat::Xml),
            Some("yaml") | Some("yml") => return Ok(MarkupFormat::Yaml),
            Some("json") => return Ok(MarkupFormat::Json),
            _ => {}
        }
        let content = text.trim_start_matches('\u{feff}').trim_start();
        if content.starts_with('<') {
            return Ok(MarkupFormat::Xml);
        }
        if content.starts_with('{') {
            return Ok(MarkupFormat::Json);
        }
        // anymarkup's INI test: the first line that is not a comment is `[name]`
        let first_line = content
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'));
        let ini_section = first_line
            .and_then(|l| l.strip_prefix('['))
            .and_then(|l| l.split_once(']'))
            .is_some_and(|(name, _)| {
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
            });
        if ini_section {
            return Err(DescriptionError::Syntax {
                location: Location::new(file, 1, 1),
                format: MarkupFormat::Yaml,
                message: "this looks like an INI file; descriptions are XML, YAML or JSON".into(),
            });
        }
        Ok(MarkupFormat::Yaml)
    }
}

impl Description {
    /// The profile called `name`.
    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }

    /// Every image type of every preferences section, in document order.
    pub fn all_types(&self) -> impl Iterator<Item = &ImageType> {
        self.preferences.iter().flat_map(|p| p.types.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<image schemaversion="7.4" name="mini">
  <description type="system">
    <author>A</author>
    <contact>a@example.org</contact>
    <specification>spec</specification>
  </description>
  <preferences>
    <version>1.0.0</version>
    <packagemanager>dnf</packagemanager>
    <type image="oem" filesystem="ext4" primary="true">
      <bootloader name="grub2" console="gfxterm serial" timeout="3"/>
      <size unit="G">2</size>
    </type>
  </preferences>
  <repository type="rpm-md" use_for_bootstrap="true" alias="base">
    <source path="this://repo"/>
  </repository>
  <packages type="bootstrap"><package name="filesystem"/></packages>
</image>
"#;

    #[test]
    fn minimal_xml_with_upgrades() {
        let d = from_str(MINIMAL, MarkupFormat::Xml, Path::new("/x/config.xml")).unwrap();
        assert_eq!(d.name, "mini");
        assert_eq!(d.schema_version, "7.4");
        assert_eq!(d.preferences[0].package_manager, Some(PackageManager::Dnf4));
        let t = &d.preferences[0].types[0];
        let b = t.bootloader.as_ref().unwrap();
        assert_eq!(b.output_console.as_deref(), Some("gfxterm"));
        assert_eq!(b.input_console.as_deref(), Some("serial"));
        assert_eq!(t.size.as_ref().unwrap().mbytes, 2048);
        assert!(d.repositories[0].use_for_bootstrap);
        assert_eq!(d.repositories[0].scheme, UriScheme::This);
        assert_eq!(d.upgrades.len(), 3, "{:?}", d.upgrades);
        assert_eq!(d.dir, Path::new("/x"));
    }

    #[test]
    fn unknown_attribute_is_an_error() {
        let text = MINIMAL.replace("filesystem=\"ext4\"", "filesytem=\"ext4\"");
        let e = from_str(&text, MarkupFormat::Xml, Path::new("c.xml")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "c.xml:11:23: /image/preferences/type: unknown attribute 'filesytem', expected \"filesystem\"? (one of 94 <type> attributes)"
        );
    }

    #[test]
    fn names_a_tool_would_read_as_options_are_refused() {
        let cases = [
            (
                r#"<package name="filesystem"/>"#,
                r#"<package name="-oAPT::Get::AllowUnauthenticated=1"/>"#,
                "c.xml:19:39: /image/packages/package: invalid attribute 'name' \
                 \"-oAPT::Get::AllowUnauthenticated=1\", expected a package name that does \
                 not start with '-' (the tool would read it as an option) and holds no \
                 control characters",
            ),
            (
                r#"<package name="filesystem"/>"#,
                r#"<package name="filesystem"/><namedCollection name="--nogpgcheck"/>"#,
                "c.xml:19:75: /image/packages/namedCollection: invalid attribute 'name' \
                 \"--nogpgcheck\", expected a collection name",
            ),
            (
                "</packages>",
                r#"</packages><users><user name="-ou" password=""/></users>"#,
                "c.xml:19:82: /image/users/user: invalid attribute 'name' \"-ou\", \
                 expected a user name",
            ),
            (
                "</packages>",
                r#"</packages><users><user name="u" groups="users,-g0" password=""/></users>"#,
                "c.xml:19:91: /image/users/user: invalid attribute 'groups' \"-g0\", \
                 expected a group name",
            ),
        ];
        for (from, to, expected) in cases {
            let text = MINIMAL.replace(from, to);
            let e = from_str(&text, MarkupFormat::Xml, Path::new("c.xml")).unwrap_err();
            assert!(e.to_string().starts_with(expected), "{e}\n{expected}");
        }
        // Names with a `-` inside are names.
        let text = MINIMAL.replace("\"filesystem\"", "\"kernel-default\"");
        from_str(&text, MarkupFormat::Xml, Path::new("c.xml")).unwrap();
    }

    #[test]
    fn detect_formats() {
        let p = Path::new("a.kiwi");
        assert_eq!(
            MarkupFormat::detect(p, "  <image/>").unwrap(),
            MarkupFormat::Xml
        );
        assert_eq!(
            MarkupFormat::detect(p, "{\"image\":{}}").unwrap(),
            MarkupFormat::Json
        );
        assert_eq!(
            MarkupFormat::detect(p, "# c\nimage:\n").unwrap(),
            MarkupFormat::Yaml
        );
        assert!(MarkupFormat::detect(p, "[main]\na=1\n").is_err());
        assert_eq!(
            MarkupFormat::detect(Path::new("a.json"), "x").unwrap(),
            MarkupFormat::Json
        );
    }
}
