//! Host primitives that plugins orchestrate: artifact files, compression,
//! checksums, filesystem images.

pub mod artifacts;
pub mod filesystems;
pub mod xz_chunks;

pub use artifacts::{ArtifactInfo, ArtifactWriter, Compression, FileArtifact, TargetDir};

use sha2::{Digest, Sha256};

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
