//! Artifact files in the target directory: streamed, compressed, hashed, and
//! published under their final name only when complete.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// How an artifact stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Stored as written.
    None,
    /// gzip, level 6, no timestamp in the header.
    Gzip,
    /// xz preset 6, multi-threaded with a fixed block size (bytes independent of threads).
    Xz,
    /// zstd level 3, multi-threaded.
    Zstd,
}

/// xz block size: fixed, so the output does not depend on the thread count.
const XZ_BLOCK_SIZE: u64 = 24 << 20;

/// A finished artifact.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ArtifactInfo {
    /// File name inside the target directory.
    pub file_name: String,
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex SHA-256.
    pub sha256: String,
}

/// The directory artifacts are written to.
#[derive(Debug, Clone)]
pub struct TargetDir {
    path: PathBuf,
}

impl TargetDir {
    /// Use `path` (created if missing) as the target directory.
    pub fn create(path: &Path) -> io::Result<TargetDir> {
        fs::create_dir_all(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Ok(TargetDir {
            path: path.to_path_buf(),
        })
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Start writing the artifact `file_name`. It is written to a hidden
    /// partial file and renamed into place by [`ArtifactWriter::finish`].
    pub fn create_artifact(
        &self,
        file_name: &str,
        compression: Compression,
    ) -> io::Result<ArtifactWriter> {
        check_file_name(file_name)?;
        let final_path = self.path.join(file_name);
        let partial_path = self
            .path
            .join(format!(".{file_name}.partial-{}", std::process::id()));
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&partial_path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", partial_path.display())))?;
        let sink = HashingFile {
            file,
            hasher: Sha256::new(),
            size: 0,
        };
        let threads = std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1);
        let encoder = match compression {
            Compression::None => Encoder::None(sink),
            Compression::Gzip => Encoder::Gzip(
                flate2::GzBuilder::new()
                    .mtime(0)
                    .write(sink, flate2::Compression::new(6)),
            ),
            Compression::Xz => {
                let stream = liblzma::stream::MtStreamBuilder::new()
                    .preset(6)
                    .threads(threads)
                    .block_size(XZ_BLOCK_SIZE)
                    .check(liblzma::stream::Check::Crc64)
                    .encoder()
                    .map_err(io::Error::other)?;
                Encoder::Xz(liblzma::write::XzEncoder::new_stream(sink, stream))
            }
            Compression::Zstd => {
                let mut encoder = zstd::stream::write::Encoder::new(sink, 3)?;
                encoder.multithread(threads)?;
                Encoder::Zstd(encoder)
            }
        };
        Ok(ArtifactWriter {
            encoder: Some(encoder),
            file_name: file_name.to_string(),
            partial_path,
            final_path,
        })
    }

    /// SHA-256 of the finished artifact `file_name`.
    pub fn sha256_of(&self, file_name: &str) -> io::Result<String> {
        check_file_name(file_name)?;
        let path = self.path.join(file_name);
        let mut file = OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{file_name}: {e}")))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(hex::encode(hasher.finalize()))
    }
}

/// An artifact name must be a plain file name: no directories, nothing hidden.
fn check_file_name(name: &str) -> io::Result<()> {
    let bad = name.is_empty()
        || name.len() > 255
        || name.starts_with('.')
        || name.contains('/')
        || name.contains('\0');
    if bad {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{name}` is not a plain artifact file name"),
        ));
    }
    Ok(())
}

/// An artifact being written (see [`TargetDir::create_artifact`]).
pub struct ArtifactWriter {
    encoder: Option<Encoder>,
    file_name: String,
    partial_path: PathBuf,
    final_path: PathBuf,
}

enum Encoder {
    None(HashingFile),
    Gzip(flate2::write::GzEncoder<HashingFile>),
    Xz(liblzma::write::XzEncoder<HashingFile>),
    Zstd(zstd::stream::write::Encoder<'static, HashingFile>),
}

impl ArtifactWriter {
    /// The artifact's final file name.
    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// Append (uncompressed) bytes.
    pub fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        let encoder = self
            .encoder
            .as_mut()
            .ok_or_else(|| io::Error::other("artifact already finished"))?;
        match encoder {
            Encoder::None(w) => w.write_all(data),
            Encoder::Gzip(w) => w.write_all(data),
            Encoder::Xz(w) => w.write_all(data),
            Encoder::Zstd(w) => w.write_all(data),
        }
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.file_name)))
    }

    /// Finish compression, sync, and publish the file under its final name.
    pub fn finish(mut self) -> io::Result<ArtifactInfo> {
        let encoder = self
            .encoder
            .take()
            .ok_or_else(|| io::Error::other("artifact already finished"))?;
        let sink = match encoder {
            Encoder::None(w) => Ok(w),
            Encoder::Gzip(w) => w.finish(),
            Encoder::Xz(w) => w.finish(),
            Encoder::Zstd(w) => w.finish(),
        }
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.file_name)))?;
        sink.file.sync_all()?;
        fs::rename(&self.partial_path, &self.final_path)?;
        Ok(ArtifactInfo {
            file_name: self.file_name.clone(),
            size: sink.size,
            sha256: hex::encode(sink.hasher.finalize()),
        })
    }
}

impl Drop for ArtifactWriter {
    /// An unfinished artifact never looks finished: its partial file goes.
    fn drop(&mut self) {
        if self.encoder.take().is_some() {
            let _ = fs::remove_file(&self.partial_path);
        }
    }
}

/// The file end of the stream: counts and hashes what reaches the disk.
struct HashingFile {
    file: File,
    hasher: Sha256,
    size: u64,
}

impl Write for HashingFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.file.write(data)?;
        self.hasher.update(&data[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(compression: Compression) -> (ArtifactInfo, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let target = TargetDir::create(dir.path()).unwrap();
        let mut writer = target.create_artifact("a.bin", compression).unwrap();
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        writer.write_all(&data).unwrap();
        assert!(
            !dir.path().join("a.bin").exists(),
            "published before finish"
        );
        let info = writer.finish().unwrap();
        let bytes = fs::read(dir.path().join("a.bin")).unwrap();
        assert_eq!(info.size, bytes.len() as u64);
        assert_eq!(info.sha256, crate::toolbox::sha256_hex(&bytes));
        assert_eq!(target.sha256_of("a.bin").unwrap(), info.sha256);
        let plain = match compression {
            Compression::None => bytes.clone(),
            Compression::Gzip => {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&bytes[..])
                    .read_to_end(&mut out)
                    .unwrap();
                out
            }
            Compression::Xz => {
                let mut out = Vec::new();
                liblzma::read::XzDecoder::new(&bytes[..])
                    .read_to_end(&mut out)
                    .unwrap();
                out
            }
            Compression::Zstd => zstd::decode_all(&bytes[..]).unwrap(),
        };
        assert_eq!(plain, data);
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
        (info, bytes)
    }

    #[test]
    fn every_compression_round_trips() {
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Xz,
            Compression::Zstd,
        ] {
            let (first, _) = roundtrip(c);
            let (second, _) = roundtrip(c);
            assert_eq!(first, second, "{c:?} is not deterministic");
        }
    }

    #[test]
    fn unfinished_artifacts_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = TargetDir::create(dir.path()).unwrap();
        let mut writer = target.create_artifact("x.tar", Compression::Xz).unwrap();
        writer.write_all(b"half").unwrap();
        drop(writer);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn names_must_be_plain() {
        let dir = tempfile::tempdir().unwrap();
        let target = TargetDir::create(dir.path()).unwrap();
        for bad in ["", "../x", "a/b", ".hidden", "/etc/passwd"] {
            let err = target
                .create_artifact(bad, Compression::None)
                .err()
                .unwrap();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad}");
        }
    }
}
