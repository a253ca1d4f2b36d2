//! `<include from="this://...">`: KIWI's include step (an XSLT pass that puts
//! the children of the included `<image>` where the include element was), plus
//! path resolution that follows symlinks stored as plain files.
//!
//! Unlike KIWI, which reads whatever file a reference names, includes are
//! confined: every included file must lie inside the description directory
//! (or the wider include root the user names), checked on the path as
//! written and again on the file it resolves to with every symlink followed.

use std::fs;
use std::path::{Component, Path, PathBuf};

use super::error::{DescriptionError, Location};
use super::tree::Node;
use super::xml;

/// Most includes a description may pull in (all levels together).
const MAX_INCLUDES: usize = 256;

/// Replaces every top-level `<include>` of `root` by the children of the
/// included file's `<image>`. Includes inside included files are expanded too
/// (KIWI copies them verbatim and never reads them; expanding is the useful
/// reading), and a file that includes itself, directly or not, is an error.
/// Returns the included files in the order they were read.
pub(crate) fn expand(
    root: &mut Node,
    main_file: &Path,
    description_dir: &Path,
    include_root: Option<&Path>,
) -> Result<Vec<PathBuf>, DescriptionError> {
    let mut included = Vec::new();
    let chain = vec![normalize(main_file)];
    let mut confinement = Confinement {
        root: include_root.unwrap_or(description_dir).to_path_buf(),
        resolved: None,
    };
    expand_into(
        root,
        description_dir,
        &mut confinement,
        &chain,
        &mut included,
    )?;
    Ok(included)
}

/// The directory includes must stay in: as given (absolute, without `.`
/// and `..`) for the check of the path as written, and with symlinks
/// resolved for the check of the file found (found when first needed).
struct Confinement {
    root: PathBuf,
    resolved: Option<(PathBuf, Option<PathBuf>)>,
}

impl Confinement {
    /// (the root as written, made absolute; the root with symlinks resolved)
    fn roots(&mut self) -> &(PathBuf, Option<PathBuf>) {
        self.resolved.get_or_insert_with(|| {
            let absolute = normalize(&std::path::absolute(&self.root).unwrap_or(self.root.clone()));
            let canonical = fs::canonicalize(&absolute).ok();
            (absolute, canonical)
        })
    }

    /// Refuses `wanted` (what `reference` names) unless it lies inside the
    /// root as written; refuses the file found for it unless, with every
    /// symlink followed, it lies inside the root too.
    fn check(
        &mut self,
        location: &Location,
        reference: &str,
        wanted: &Path,
        found: Option<&Path>,
    ) -> Result<(), DescriptionError> {
        let (root, canonical_root) = self.roots().clone();
        let outside = |resolved: PathBuf| DescriptionError::IncludeOutside {
            location: location.clone(),
            reference: reference.to_string(),
            resolved,
            root: root.clone(),
        };
        let absolute = normalize(&std::path::absolute(wanted).unwrap_or(wanted.to_path_buf()));
        if !absolute.starts_with(&root) {
            return Err(outside(absolute));
        }
        if let Some(found) = found {
            let real = fs::canonicalize(found).map_err(|source| DescriptionError::Io {
                path: found.to_path_buf(),
                source,
            })?;
            let inside = canonical_root
                .as_ref()
                .is_some_and(|canonical_root| real.starts_with(canonical_root));
            if !inside {
                return Err(outside(real));
            }
        }
        Ok(())
    }
}

fn expand_into(
    node: &mut Node,
    description_dir: &Path,
    confinement: &mut Confinement,
    chain: &[PathBuf],
    included: &mut Vec<PathBuf>,
) -> Result<(), DescriptionError> {
    if !node.children.iter().any(|c| c.name == "include") {
        return Ok(());
    }
    let children = std::mem::take(&mut node.children);
    for child in children {
        if child.name != "include" {
            node.children.push(child);
            continue;
        }
        let Some(reference) = child.attr("from").map(str::to_string) else {
            return Err(DescriptionError::MissingAttribute {
                location: child.location.clone(),
                path: "/image/include".into(),
                name: "from".into(),
            });
        };
        let wanted = include_target(&reference, description_dir);
        // refused before anything is looked up: an error does not tell
        // whether a file outside exists
        confinement.check(&child.location, &reference, &wanted, None)?;
        let Some(file) = resolve(&wanted) else {
            return Err(DescriptionError::IncludeNotFound {
                location: child.location.clone(),
                reference,
                resolved: wanted,
            });
        };
        // a stored or real symlink on the way may lead out
        confinement.check(&child.location, &reference, &wanted, Some(&file))?;
        let canonical = normalize(&file);
        if let Some(start) = chain.iter().position(|f| *f == canonical) {
            let mut names: Vec<String> = chain[start..]
                .iter()
                .map(|f| f.display().to_string())
                .collect();
            names.push(canonical.display().to_string());
            return Err(DescriptionError::IncludeLoop {
                location: child.location.clone(),
                chain: names.join(" -> "),
            });
        }
        if included.len() >= MAX_INCLUDES {
            return Err(DescriptionError::Invalid {
                location: child.location.clone(),
                path: "/image/include".into(),
                message: format!("more than {MAX_INCLUDES} included files"),
            });
        }
        included.push(file.clone());
        let text = read_text(&file)?;
        let mut included_root = xml::parse(&text, &file)?;
        if included_root.name != "image" {
            return Err(DescriptionError::Invalid {
                location: included_root.location.clone(),
                path: format!("/{}", included_root.name),
                message: "an included file must have <image> as its root element".into(),
            });
        }
        if let Some(attr) = included_root.attrs.iter().find(|a| {
            !(a.name == "xmlns" || a.name.starts_with("xmlns:") || a.name.starts_with("xsi:"))
        }) {
            // KIWI copies only the children; attributes here would be silently lost
            return Err(DescriptionError::UnknownAttribute {
                location: attr.location.clone(),
                path: "/image (included)".into(),
                name: attr.name.clone(),
                expected: "no attributes on the <image> of an included file".into(),
            });
        }
        let mut inner_chain = chain.to_vec();
        inner_chain.push(canonical);
        expand_into(
            &mut included_root,
            description_dir,
            confinement,
            &inner_chain,
            included,
        )?;
        node.children.extend(included_root.children);
    }
    Ok(())
}

/// Where an include reference points, the way KIWI's resolver reads it:
/// `this://` is relative to the description directory, `file://` and
/// `dir://` are absolute, a plain path is relative to the description.
fn include_target(reference: &str, description_dir: &Path) -> PathBuf {
    let reference = reference.trim();
    if let Some(rest) = reference.strip_prefix("this://") {
        return description_dir.join(rest);
    }
    for scheme in ["file://", "dir://"] {
        if let Some(rest) = reference.strip_prefix(scheme) {
            return PathBuf::from(rest);
        }
    }
    description_dir.join(reference)
}

/// Reads a description file as UTF-8 text.
pub(crate) fn read_text(file: &Path) -> Result<String, DescriptionError> {
    let bytes = fs::read(file).map_err(|source| DescriptionError::Io {
        path: file.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(&e.as_bytes()[..offset]).into_owned();
        let line = text.matches('\n').count() + 1;
        let column = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        DescriptionError::Invalid {
            location: Location::new(
                file,
                u32::try_from(line).unwrap_or(u32::MAX),
                u32::try_from(column).unwrap_or(u32::MAX),
            ),
            path: "/".into(),
            message: "the file is not valid UTF-8".into(),
        }
    })?;
    // a byte order mark is not part of the document (serde_json refuses it)
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}

/// `path` made absolute-looking and free of `.`/`..` (without touching the
/// file system, so it works for files that do not exist).
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The existing file `path` names. When a directory on the way is a plain
/// file holding a relative path — how git stores a symlink in a checkout
/// without symlink support, and how KIWI descriptions often share files —
/// the link is followed. `None` when nothing exists there.
pub(crate) fn resolve(path: &Path) -> Option<PathBuf> {
    if path.is_file() {
        return Some(path.to_path_buf());
    }
    let mut current = PathBuf::new();
    let mut hops = 0;
    let components: Vec<Component<'_>> = path.components().collect();
    for (index, component) in components.iter().enumerate() {
        current.push(component.as_os_str());
        let last = index + 1 == components.len();
        while current.is_file() {
            let Some(target) = link_placeholder(&current) else {
                // a real file: the end of the path, or a dead end
                return last.then_some(current);
            };
            hops += 1;
            if hops > 40 {
                return None;
            }
            let parent = current.parent().map(Path::to_path_buf).unwrap_or_default();
            current = normalize(&parent.join(target));
            if last && current.is_file() && link_placeholder(&current).is_none() {
                return Some(current);
            }
        }
    }
    current.is_file().then_some(current)
}

/// If `file` is a stored symlink (one short line holding a relative path
/// that exists), the path it holds.
pub(crate) fn link_placeholder(file: &Path) -> Option<PathBuf> {
    let metadata = fs::metadata(file).ok()?;
    if metadata.len() == 0 || metadata.len() > 1024 {
        return None;
    }
    let text = fs::read_to_string(file).ok()?;
    let target = text.strip_suffix('\n').unwrap_or(&text);
    if target.is_empty()
        || target.contains(['\n', '\0', '<', '{', ':'])
        || target.trim() != target
        || Path::new(target).is_absolute()
    {
        return None;
    }
    let parent = file.parent()?;
    let resolved = normalize(&parent.join(target));
    resolved.exists().then(|| PathBuf::from(target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_stored_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared/cloud");
        fs::create_dir_all(&shared).unwrap();
        fs::write(shared.join("a.xml"), "<image/>").unwrap();
        let desc = dir.path().join("desc");
        fs::create_dir_all(&desc).unwrap();
        fs::write(desc.join("platforms"), "../shared").unwrap();
        let found = resolve(&desc.join("./platforms/cloud/a.xml")).unwrap();
        assert_eq!(found, normalize(&shared.join("a.xml")));
        assert!(resolve(&desc.join("platforms/cloud/missing.xml")).is_none());
    }
}
