//! Host primitives that plugins orchestrate: artifact files, compression,
//! checksums, filesystem images, disk images, boot loaders, ISO images.

pub mod artifacts;
pub mod boot;
pub mod disks;
pub mod filesystems;
pub mod install;
pub mod iso;
pub mod layout;
pub mod live;
pub mod luks;
pub mod lvm;
pub mod names;
pub mod options;
pub mod packing;
pub mod staging;
pub mod xz_chunks;

pub use artifacts::{ArtifactInfo, ArtifactWriter, Compression, FileArtifact, TargetDir};

/// What the toolbox's tests share.
#[cfg(test)]
pub(crate) mod test_support {
    use crate::rootfs::files::RootDir;

    /// A root in a temporary directory holding empty files at `paths`.
    pub fn root_with(paths: &[&str]) -> (tempfile::TempDir, RootDir) {
        let dir = tempfile::tempdir().unwrap();
        for path in paths {
            let full = dir.path().join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(&full, "").unwrap();
        }
        let root = RootDir::open(dir.path()).unwrap();
        (dir, root)
    }
}

use sha2::{Digest, Sha256};

use crate::rootfs::command::CommandError;
use crate::rootfs::files::RootDir;

/// Whether `root` has the program `name` in a directory of `PATH`.
pub(crate) fn has_program(root: &RootDir, name: &str) -> bool {
    ["usr/bin", "bin", "usr/sbin", "sbin"]
        .iter()
        .any(|dir| root.exists(&format!("{dir}/{name}")).unwrap_or(false))
}

/// Why a toolbox primitive failed.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The request cannot be carried out as asked (the plugin's mistake).
    #[error("{0}")]
    Invalid(String),
    /// A host tool failed.
    #[error(transparent)]
    Tool(#[from] CommandError),
    /// Reading an input or writing the output failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<options::Refused> for ToolError {
    fn from(refused: options::Refused) -> Self {
        ToolError::Invalid(refused.to_string())
    }
}

/// Shorthand for a [`ToolError::Invalid`].
pub(crate) fn invalid<T>(reason: impl Into<String>) -> Result<T, ToolError> {
    Err(ToolError::Invalid(reason.into()))
}

/// Lower-case hex SHA-256 of everything `reader` gives.
pub fn sha256_reader(mut reader: impl std::io::Read) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    std::io::copy(&mut reader, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// Lower-case hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A UUID (RFC 4122 layout, version 5-style) derived from `parts`: the same
/// image and package set always give the same document identity.
pub fn stable_uuid(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let mut b: [u8; 16] = hasher.finalize()[..16].try_into().unwrap_or([0; 16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
