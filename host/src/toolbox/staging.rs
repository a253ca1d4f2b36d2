//! The files of an image made from a list (an EFI system partition, an ISO
//! tree): each checked, and its content found on the host, copied out of
//! the root through the in-root door when it comes from there.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{invalid, ToolError};
use crate::rootfs::RootTree;

/// Where a listed file's content comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A regular file of the image root.
    RootFile(String),
    /// A finished artifact, already on the host.
    Artifact(PathBuf),
    /// These bytes.
    Data(Vec<u8>),
}

/// One file of the list.
#[derive(Debug, Clone)]
pub struct ListedFile {
    /// Its path inside the image made, without a leading `/`.
    pub path: String,
    /// Its content.
    pub source: Source,
}

/// The files ready for a tool: each image path with a host file holding its
/// content, kept alive as long as the staging directory.
#[derive(Debug)]
pub struct Staged {
    /// `(path in the image, file on the host)`, in the order given.
    pub files: Vec<(String, PathBuf)>,
    _dir: crate::caches::Owned,
}

impl Staged {
    /// Every directory the files need, parents first (`EFI`, `EFI/BOOT`).
    pub fn directories(&self) -> Vec<String> {
        let mut dirs = BTreeSet::new();
        for (path, _) in &self.files {
            let mut parent = Path::new(path).parent();
            while let Some(dir) = parent.filter(|d| !d.as_os_str().is_empty()) {
                dirs.insert(dir.to_string_lossy().into_owned());
                parent = dir.parent();
            }
        }
        // Sorted by name, a parent always comes before its children.
        dirs.into_iter().collect()
    }

    /// The sum of the content sizes.
    pub fn content_bytes(&self) -> io::Result<u64> {
        self.files
            .iter()
            .map(|(_, host)| fs::metadata(host).map(|m| m.len()))
            .sum()
    }
}

/// Checks an image path: relative (a leading `/` is dropped), no empty, `.`
/// or `..` component, no control characters; returns it normalised.
pub fn image_path(path: &str) -> Result<String, ToolError> {
    let trimmed = path.trim_start_matches('/');
    let parts: Vec<&str> = trimmed.split('/').collect();
    if trimmed.is_empty()
        || parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == "..")
        || path.chars().any(char::is_control)
    {
        return invalid(format!(
            "`{path}` is not a usable path inside an image (relative, no `.`, `..` or empty parts)"
        ));
    }
    Ok(trimmed.to_string())
}

/// Stages `files`: root files are copied out of `root` (symlinks resolved
/// inside it), data is written, artifacts are used where they are. A path
/// listed twice is an error.
pub fn stage(root: Option<&RootTree>, files: &[ListedFile]) -> Result<Staged, ToolError> {
    let dir = crate::rootfs::command::temp_dir()?;
    let mut seen = BTreeSet::new();
    let mut staged = Vec::new();
    for (n, file) in files.iter().enumerate() {
        let path = image_path(&file.path)?;
        if !seen.insert(path.clone()) {
            return invalid(format!("`{path}` is listed twice"));
        }
        let host = match &file.source {
            Source::Artifact(host) => host.clone(),
            Source::Data(bytes) => {
                let host = dir.path().join(n.to_string());
                fs::write(&host, bytes)?;
                host
            }
            Source::RootFile(rel) => {
                let Some(root) = root else {
                    return invalid(format!("`{path}`: no root to read `{rel}` from"));
                };
                let host = dir.path().join(n.to_string());
                let (mut from, _) = root.open_regular(rel).map_err(|e| {
                    ToolError::Invalid(format!("`{path}`: reading `{rel}` of the root: {e}"))
                })?;
                let mut to = fs::File::create(&host)?;
                io::copy(&mut from, &mut to)?;
                to.flush()?;
                host
            }
        };
        staged.push((path, host));
    }
    Ok(Staged {
        files: staged,
        _dir: dir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_checked_and_normalised() {
        assert_eq!(
            image_path("/EFI/BOOT/BOOTX64.EFI").unwrap(),
            "EFI/BOOT/BOOTX64.EFI"
        );
        for bad in ["", "/", "a/../b", "a//b", "./a", "a\nb"] {
            assert!(image_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn stages_root_files_data_and_lists_directories() {
        let root_dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(root_dir.path().join("usr/lib")).unwrap();
        fs::write(root_dir.path().join("usr/lib/a"), b"from root").unwrap();
        // An absolute symlink resolves inside the root, not on the host.
        std::os::unix::fs::symlink("/usr/lib/a", root_dir.path().join("link")).unwrap();
        let root = RootTree::open(root_dir.path()).unwrap();
        let staged = stage(
            Some(&root),
            &[
                ListedFile {
                    path: "/EFI/BOOT/x".into(),
                    source: Source::RootFile("link".into()),
                },
                ListedFile {
                    path: "boot/grub/grub.cfg".into(),
                    source: Source::Data(b"cfg".to_vec()),
                },
            ],
        )
        .unwrap();
        assert_eq!(fs::read(&staged.files[0].1).unwrap(), b"from root");
        assert_eq!(fs::read(&staged.files[1].1).unwrap(), b"cfg");
        assert_eq!(
            staged.directories(),
            ["EFI", "EFI/BOOT", "boot", "boot/grub"]
        );
        assert_eq!(staged.content_bytes().unwrap(), 12);
        let twice = stage(
            None,
            &[
                ListedFile {
                    path: "a".into(),
                    source: Source::Data(vec![]),
                },
                ListedFile {
                    path: "/a".into(),
                    source: Source::Data(vec![]),
                },
            ],
        );
        assert!(twice.unwrap_err().to_string().contains("listed twice"));
    }
}
