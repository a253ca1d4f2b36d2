//! Host primitives that plugins orchestrate: artifact files, compression, checksums.

pub mod artifacts;
pub mod xz_chunks;

pub use artifacts::{ArtifactInfo, ArtifactWriter, Compression, TargetDir};

use sha2::{Digest, Sha256};

/// Lower-case hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}
