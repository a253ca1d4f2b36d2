//! Artifact files in the target directory: streamed, compressed, hashed, and
//! published under their final name only when complete. Nothing is written
//! through a name that was there before: an artifact grows in a private
//! directory of random name and is renamed into place, and the host's own
//! files beside it (checksums, the result manifest) are written the same
//! way ([`write_file`]), so a symlink planted in the target directory is
//! replaced, never followed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use sha2::{Digest, Sha256};

use super::xz_chunks::{ChunkCache, ChunkedXzWriter};

/// How an artifact stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Stored as written.
    None,
    /// gzip, level 6, no timestamp in the header.
    Gzip,
    /// xz preset 6: content-defined chunks compressed in parallel, each an
    /// xz stream, unchanged chunks taken from a cache ([`super::xz_chunks`]).
    Xz,
    /// zstd level 3, multi-threaded.
    Zstd,
}

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

/// How many bytes of artifacts may still be written: one budget is shared
/// by every artifact of a plugin call (see [`TargetDir::with_budget`]).
/// Bytes are counted as they reach the disk (compressed); files that host
/// tools write count with the blocks they occupy when published.
#[derive(Debug, Clone)]
pub struct ArtifactBudget(Arc<BudgetState>);

#[derive(Debug)]
struct BudgetState {
    limit: u64,
    used: AtomicU64,
    exceeded: AtomicBool,
}

impl ArtifactBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: u64) -> Self {
        ArtifactBudget(Arc::new(BudgetState {
            limit,
            used: AtomicU64::new(0),
            exceeded: AtomicBool::new(false),
        }))
    }

    /// The budget for artifacts in `dir`: the free space of its filesystem
    /// less a margin (5 % of the filesystem, at most 1 GiB), so that a
    /// runaway plugin cannot fill the disk the build and the host need.
    pub fn free_space_of(dir: &Path) -> io::Result<Self> {
        let stat = rustix::fs::statvfs(dir)?;
        let block = stat.f_frsize.max(1);
        let free = stat.f_bavail.saturating_mul(block);
        let total = stat.f_blocks.saturating_mul(block);
        let margin = (total / 20).min(1 << 30);
        Ok(Self::new(free.saturating_sub(margin)))
    }

    /// Most bytes.
    pub fn limit(&self) -> u64 {
        self.0.limit
    }

    /// Bytes written so far.
    pub fn used(&self) -> u64 {
        self.0.used.load(Ordering::Relaxed)
    }

    /// Whether a write was refused because it would have gone past the limit.
    pub fn exceeded(&self) -> bool {
        self.0.exceeded.load(Ordering::Relaxed)
    }

    /// Count `bytes` more; refused (and remembered) past the limit.
    pub fn charge(&self, bytes: u64) -> io::Result<()> {
        let state = &self.0;
        let charged = state
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(bytes)
                    .filter(|total| *total <= state.limit)
            });
        if charged.is_err() {
            state.exceeded.store(true, Ordering::Relaxed);
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                self.exceeded_message(),
            ));
        }
        Ok(())
    }

    /// Give `bytes` back (an artifact was removed again).
    pub fn release(&self, bytes: u64) {
        let _ = self
            .0
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                Some(used.saturating_sub(bytes))
            });
    }

    /// What a refused write reports.
    pub fn exceeded_message(&self) -> String {
        format!(
            "artifact limit exceeded: a plugin call may write at most {} bytes of artifacts \
             (--max-artifact-bytes)",
            self.0.limit
        )
    }
}

/// Bytes a file occupies on disk (its blocks: a sparse file counts what it holds).
pub fn allocated_bytes(meta: &fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    meta.blocks().saturating_mul(512)
}

/// The directory artifacts are written to.
#[derive(Debug, Clone)]
pub struct TargetDir {
    path: PathBuf,
    xz_cache: Option<ChunkCache>,
    /// The names made (or being made) in this build: each is made once.
    names: Arc<Mutex<std::collections::HashSet<String>>>,
    budget: Option<ArtifactBudget>,
}

impl TargetDir {
    /// Use `path` (created if missing) as the target directory.
    pub fn create(path: &Path) -> io::Result<TargetDir> {
        if let Err(e) = fs::create_dir_all(path) {
            let why = match fs::metadata(path) {
                Ok(meta) if !meta.is_dir() => "it exists and is not a directory".to_string(),
                _ => e.to_string(),
            };
            return Err(io::Error::new(e.kind(), why));
        }
        Ok(TargetDir {
            path: path.to_path_buf(),
            xz_cache: None,
            names: Arc::default(),
            budget: None,
        })
    }

    /// Count every byte written through this value (and its clones)
    /// against `budget`: writes past it fail.
    pub fn with_budget(mut self, budget: Option<ArtifactBudget>) -> Self {
        self.budget = budget;
        self
    }

    /// The budget artifacts are counted against, if any.
    pub fn budget(&self) -> Option<&ArtifactBudget> {
        self.budget.as_ref()
    }

    /// Keep compressed xz chunks in `cache` and reuse them.
    pub fn with_xz_cache(mut self, cache: Option<ChunkCache>) -> Self {
        self.xz_cache = cache;
        self
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
        super::names::artifact_name(file_name)?;
        let partial = Partial::new(self, file_name)?;
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(partial.path())
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", partial.path().display())))?;
        let sink = DiskSink::start(file, self.budget.clone())?;
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
            Compression::Xz => Encoder::Xz(ChunkedXzWriter::new(sink, self.xz_cache.clone())),
            Compression::Zstd => {
                let mut encoder = zstd::stream::write::Encoder::new(sink, 3)?;
                encoder.multithread(threads)?;
                Encoder::Zstd(encoder)
            }
        };
        Ok(ArtifactWriter {
            encoder: Some(encoder),
            file_name: file_name.to_string(),
            partial,
        })
    }

    /// A file a host tool writes itself (a filesystem or disk image) that
    /// becomes artifact `file_name`: written at a hidden partial path and
    /// renamed into place by [`FileArtifact::publish`], removed if dropped.
    pub fn create_file_artifact(&self, file_name: &str) -> io::Result<FileArtifact> {
        super::names::artifact_name(file_name)?;
        Ok(FileArtifact {
            file_name: file_name.to_string(),
            partial: Partial::new(self, file_name)?,
            budget: self.budget.clone(),
        })
    }

    /// An intermediate file a host tool writes on the way to an artifact
    /// (the vmdk an OVA embeds), named `file_name` in a private hidden
    /// directory of the target directory; removed, and its bytes given
    /// back to the budget, when dropped.
    pub fn scratch_file(&self, file_name: &str) -> io::Result<ScratchFile> {
        super::names::artifact_name(file_name)?;
        let dir = tempfile::Builder::new()
            .prefix(".builder-scratch-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir_in(&self.path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.path.display())))?;
        Ok(ScratchFile {
            file: dir.path().join(file_name),
            _dir: dir,
            budget: self.budget.clone(),
            charged: 0,
        })
    }

    /// SHA-256 of the finished artifact `file_name`.
    pub fn sha256_of(&self, file_name: &str) -> io::Result<String> {
        super::names::artifact_name(file_name)?;
        let path = self.path.join(file_name);
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{file_name}: {e}")))?;
        super::sha256_reader(file)
    }

    /// Removes the finished artifact `file_name` of this build (an
    /// intermediate); its name may be made again, and its bytes no longer
    /// count against the budget.
    pub fn remove(&self, file_name: &str) -> io::Result<()> {
        super::names::artifact_name(file_name)?;
        let path = self.path.join(file_name);
        let bytes = fs::symlink_metadata(&path)
            .map(|m| allocated_bytes(&m))
            .unwrap_or(0);
        fs::remove_file(&path)?;
        self.release_name(file_name);
        if let Some(budget) = &self.budget {
            budget.release(bytes);
        }
        Ok(())
    }

    /// Takes `file_name` for this build, or says it is taken.
    fn reserve(&self, file_name: &str) -> io::Result<()> {
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        if !names.insert(file_name.to_string()) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("`{file_name}` is made twice in this build"),
            ));
        }
        Ok(())
    }

    fn release_name(&self, file_name: &str) {
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        names.remove(file_name);
    }
}

/// Writes the host's own file `name` (a checksum, the result manifest)
/// into `dir`: a new file of random name, renamed over `name`, so a symlink
/// or anything else already there is replaced, never written through.
pub fn write_file(dir: &Path, name: &str, data: &[u8]) -> io::Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".builder-{}", crate::caches::owner_tag()))
        .tempfile_in(dir)?;
    // Held while written: a sweep leaves it to this build.
    tmp.as_file().try_lock_shared().map_err(io::Error::from)?;
    tmp.write_all(data)?;
    // Readable like the artifacts beside it (temporary files start private).
    fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )?;
    tmp.persist(dir.join(name)).map_err(|e| e.error)?;
    Ok(())
}

/// Where an artifact grows until it is complete: `NAME` in a new directory
/// `.builder-partial-PID-RANDOM` of the target directory, private to the
/// host (mode 0700), so no one else can put a link where the tool writes,
/// and held by this build (a build killed meanwhile leaves it to the next
/// one's sweep, see [`crate::caches::sweep`]).
/// Published by a rename onto the final name; removed with its directory
/// when dropped unpublished.
struct Partial {
    target: TargetDir,
    file_name: String,
    file: PathBuf,
    dir: Option<crate::caches::Owned>,
}

impl Partial {
    fn new(target: &TargetDir, file_name: &str) -> io::Result<Partial> {
        target.reserve(file_name)?;
        let dir = crate::caches::Owned::new_in(&target.path, ".builder-partial-", 0o700);
        let dir = match dir {
            Ok(dir) => dir,
            Err(e) => {
                target.release_name(file_name);
                return Err(io::Error::new(
                    e.kind(),
                    format!("{}: {e}", target.path.display()),
                ));
            }
        };
        Ok(Partial {
            target: target.clone(),
            file_name: file_name.to_string(),
            file: dir.path().join(file_name),
            dir: Some(dir),
        })
    }

    fn path(&self) -> &Path {
        &self.file
    }

    /// Renames the file onto its final name (replacing whatever was there,
    /// a symlink included) and removes the private directory.
    fn publish(&mut self) -> io::Result<()> {
        let to = self.target.path.join(&self.file_name);
        fs::rename(&self.file, &to).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "moving the finished file from {} to {}: {e}",
                    self.file.display(),
                    to.display()
                ),
            )
        })?;
        drop(self.dir.take());
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            drop(dir);
            self.target.release_name(&self.file_name);
        }
    }
}

/// An artifact that a host tool writes as a file (see [`TargetDir::create_file_artifact`]).
pub struct FileArtifact {
    file_name: String,
    partial: Partial,
    budget: Option<ArtifactBudget>,
}

impl FileArtifact {
    /// Where the tool writes it (a path in a private directory; nothing is
    /// there yet).
    pub fn path(&self) -> &Path {
        self.partial.path()
    }

    /// Publishes the file under its name; returns its size and digest. A
    /// file larger than what is left of the budget is refused (and removed).
    pub fn publish(mut self) -> io::Result<ArtifactInfo> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(self.partial.path())
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.file_name)))?;
        let meta = file.metadata()?;
        let size = meta.len();
        if let Some(budget) = &self.budget {
            budget
                .charge(allocated_bytes(&meta))
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.file_name)))?;
        }
        let sha256 = super::sha256_reader(io::BufReader::with_capacity(1 << 20, StopReader(file)))?;
        self.partial.publish()?;
        Ok(ArtifactInfo {
            file_name: self.file_name.clone(),
            size,
            sha256,
        })
    }
}

/// An intermediate file (see [`TargetDir::scratch_file`]).
pub struct ScratchFile {
    file: PathBuf,
    _dir: tempfile::TempDir,
    budget: Option<ArtifactBudget>,
    charged: u64,
}

impl ScratchFile {
    /// Where the tool writes it (nothing is there yet).
    pub fn path(&self) -> &Path {
        &self.file
    }

    /// Counts the blocks the file occupies now against the budget, until
    /// it is dropped; refused past the limit.
    pub fn charge(&mut self) -> io::Result<()> {
        let meta = fs::symlink_metadata(&self.file)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.file.display())))?;
        let bytes = allocated_bytes(&meta);
        if let Some(budget) = &self.budget {
            budget.charge(bytes)?;
        }
        self.charged += bytes;
        Ok(())
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        // The directory goes with `_dir`.
        if let Some(budget) = &self.budget {
            budget.release(self.charged);
        }
    }
}

/// A reader that fails once a plugin call's deadline passed or Ctrl-C was
/// pressed: hashing a large disk image takes minutes.
struct StopReader<R>(R);

impl<R: Read> Read for StopReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        crate::interrupt::check_stop("hashing an artifact").map_err(io::Error::other)?;
        self.0.read(buf)
    }
}

/// An artifact being written (see [`TargetDir::create_artifact`]).
pub struct ArtifactWriter {
    encoder: Option<Encoder>,
    file_name: String,
    partial: Partial,
}

enum Encoder {
    None(DiskSink),
    Gzip(flate2::write::GzEncoder<DiskSink>),
    Xz(ChunkedXzWriter<DiskSink>),
    Zstd(zstd::stream::write::Encoder<'static, DiskSink>),
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
        .map_err(|e| io::Error::new(e.kind(), format!("writing {}: {e}", self.file_name)))
    }

    /// Append exactly `size` bytes read from `source` (a file of the root,
    /// whose length the caller checked); a source that ends early is an
    /// error. Uncompressed
    /// artifacts read straight into the disk thread's buffers.
    pub fn copy_from(&mut self, source: &mut impl Read, size: u64) -> io::Result<()> {
        let name = self.file_name.clone();
        let annotate = |e: io::Error| io::Error::new(e.kind(), format!("writing {name}: {e}"));
        let encoder = self
            .encoder
            .as_mut()
            .ok_or_else(|| io::Error::other("artifact already finished"))?;
        let copied = match encoder {
            Encoder::None(sink) => sink.fill_from(source, size),
            Encoder::Gzip(w) => copy_exact(source, w, size),
            Encoder::Xz(w) => copy_exact(source, w, size),
            Encoder::Zstd(w) => copy_exact(source, w, size),
        }
        .map_err(annotate)?;
        if copied < size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "source ended after {copied} of {size} bytes (it changed while being read)"
                ),
            ));
        }
        Ok(())
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
            Encoder::Xz(w) => w.finish().map(|(sink, stats)| {
                tracing::debug!(
                    chunks = stats.chunks,
                    cached = stats.cached,
                    "{}: xz chunks",
                    self.file_name
                );
                sink
            }),
            Encoder::Zstd(w) => w.finish(),
        }
        .map_err(|e| io::Error::new(e.kind(), format!("finishing {}: {e}", self.file_name)))?;
        let (size, sha256) = sink
            .finish()
            .map_err(|e| io::Error::new(e.kind(), format!("finishing {}: {e}", self.file_name)))?;
        // Published by rename only once complete: an interrupted build never
        // leaves a file under the final name. (Like tar and KIWI, no fsync:
        // durability across power loss is the filesystem's business.)
        self.partial.publish()?;
        Ok(ArtifactInfo {
            file_name: self.file_name.clone(),
            size,
            sha256,
        })
    }
}

impl Drop for ArtifactWriter {
    /// An unfinished artifact never looks finished: its partial file goes
    /// (with its directory, when the [`Partial`] drops).
    fn drop(&mut self) {
        self.encoder.take();
    }
}

/// Bytes per hand-over to the disk thread.
const SINK_CHUNK: usize = 1 << 20;
/// Chunks in flight between the stream and the disk thread.
const SINK_DEPTH: usize = 8;

/// Copy up to `size` bytes from `source` into `sink`; returns how many.
/// Stops (an error) at a plugin call's deadline or on Ctrl-C: a compressor
/// may take minutes over a large file before a byte reaches the disk.
fn copy_exact(source: &mut impl Read, sink: &mut impl Write, size: u64) -> io::Result<u64> {
    const STEP: u64 = 256 << 10;
    let mut buffer = vec![0u8; size.min(STEP) as usize];
    let mut copied = 0u64;
    while copied < size {
        crate::interrupt::check_stop("writing an artifact").map_err(io::Error::other)?;
        let want = (size - copied).min(STEP) as usize;
        let got = match source.read(&mut buffer[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        sink.write_all(&buffer[..got])?;
        copied += got as u64;
    }
    Ok(copied)
}

/// The file end of the stream: a thread of its own writes and hashes what
/// reaches the disk, so hashing and write syscalls overlap with producing the
/// stream (the plugin, the compressor). Buffers go round between the two.
struct DiskSink {
    budget: Option<ArtifactBudget>,
    buffer: Vec<u8>,
    full: Option<mpsc::SyncSender<Vec<u8>>>,
    empty: mpsc::Receiver<Vec<u8>>,
    worker: Option<std::thread::JoinHandle<io::Result<(u64, String)>>>,
}

impl DiskSink {
    fn start(mut file: File, budget: Option<ArtifactBudget>) -> io::Result<DiskSink> {
        let (full_tx, full_rx) = mpsc::sync_channel::<Vec<u8>>(SINK_DEPTH);
        let (empty_tx, empty_rx) = mpsc::sync_channel::<Vec<u8>>(2 * SINK_DEPTH + 1);
        // Hashing gets a thread of its own: SHA-256 costs as much CPU as
        // producing an uncompressed stream does.
        let (hash_tx, hash_rx) = mpsc::sync_channel::<Vec<u8>>(SINK_DEPTH);
        let hasher = std::thread::Builder::new()
            .name("artifact-hash".into())
            .spawn(move || {
                let mut hasher = Sha256::new();
                let mut size = 0u64;
                for mut chunk in hash_rx {
                    hasher.update(&chunk);
                    size += chunk.len() as u64;
                    chunk.clear();
                    // The stream may already be gone after an error.
                    let _ = empty_tx.try_send(chunk);
                }
                (size, hex::encode(hasher.finalize()))
            })?;
        let worker = std::thread::Builder::new()
            .name("artifact-writer".into())
            .spawn(move || {
                for chunk in full_rx {
                    file.write_all(&chunk)?;
                    if hash_tx.send(chunk).is_err() {
                        break;
                    }
                }
                file.flush()?;
                drop(hash_tx);
                hasher
                    .join()
                    .map_err(|_| io::Error::other("artifact hash thread panicked"))
            })?;
        Ok(DiskSink {
            budget,
            buffer: Vec::with_capacity(SINK_CHUNK),
            full: Some(full_tx),
            empty: empty_rx,
            worker: Some(worker),
        })
    }

    fn hand_over(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        // A plugin call's deadline or Ctrl-C stops a long copy here, once
        // a MiB; the budget is kept before the bytes reach the disk.
        crate::interrupt::check_stop("writing an artifact").map_err(io::Error::other)?;
        if let Some(budget) = &self.budget {
            budget.charge(self.buffer.len() as u64)?;
        }
        let next = self
            .empty
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(SINK_CHUNK));
        let chunk = std::mem::replace(&mut self.buffer, next);
        let sent = self.full.as_ref().map(|tx| tx.send(chunk));
        if !matches!(sent, Some(Ok(()))) {
            // The disk thread stopped: its error says why.
            return Err(self
                .join()
                .err()
                .unwrap_or_else(|| io::Error::other("artifact writer stopped")));
        }
        Ok(())
    }

    fn join(&mut self) -> io::Result<(u64, String)> {
        self.full = None;
        match self.worker.take().map(|w| w.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("artifact writer thread panicked")),
            None => Err(io::Error::other("artifact writer already finished")),
        }
    }

    /// Read up to `size` bytes from `source` straight into the buffers;
    /// returns how many were read before end of file.
    fn fill_from(&mut self, source: &mut impl Read, size: u64) -> io::Result<u64> {
        let mut copied = 0;
        while copied < size {
            let room = (SINK_CHUNK - self.buffer.len()) as u64;
            let want = room.min(size - copied);
            let got = source.take(want).read_to_end(&mut self.buffer)? as u64;
            copied += got;
            if self.buffer.len() >= SINK_CHUNK {
                self.hand_over()?;
            }
            if got < want {
                break;
            }
        }
        Ok(copied)
    }

    /// Write what is left, wait for the disk thread; returns size and SHA-256.
    fn finish(mut self) -> io::Result<(u64, String)> {
        self.hand_over()?;
        self.join()
    }
}

impl Write for DiskSink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = SINK_CHUNK - self.buffer.len();
        let n = data.len().min(room);
        self.buffer.extend_from_slice(&data[..n]);
        if self.buffer.len() == SINK_CHUNK {
            self.hand_over()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for DiskSink {
    fn drop(&mut self) {
        if self.worker.is_some() {
            let _ = self.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

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
    fn copies_from_a_source_must_match_their_size() {
        let dir = tempfile::tempdir().unwrap();
        let target = TargetDir::create(dir.path()).unwrap();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| i as u8).collect();
        for compression in [Compression::None, Compression::Zstd] {
            let mut writer = target.create_artifact("copy.bin", compression).unwrap();
            writer.write_all(b"head").unwrap();
            writer.copy_from(&mut &data[..], data.len() as u64).unwrap();
            let short = writer.copy_from(&mut &data[..10], 11).unwrap_err();
            assert!(
                short.to_string().contains("ended after 10 of 11 bytes"),
                "{short}"
            );
            drop(writer);
        }
        let mut writer = target
            .create_artifact("copy.bin", Compression::None)
            .unwrap();
        writer.write_all(b"head").unwrap();
        writer.copy_from(&mut &data[..], data.len() as u64).unwrap();
        writer.finish().unwrap();
        let written = fs::read(dir.path().join("copy.bin")).unwrap();
        assert_eq!(&written[..4], b"head");
        assert_eq!(&written[4..], &data[..]);
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
    fn symlinks_planted_in_the_target_directory_are_replaced_not_followed() {
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let target = TargetDir::create(dir.path()).unwrap();
        for name in [
            "disk.raw",
            "disk.raw.sha256",
            "builder.result.json",
            "image.tar",
        ] {
            std::os::unix::fs::symlink(&victim, dir.path().join(name)).unwrap();
        }
        let mut writer = target
            .create_artifact("disk.raw", Compression::None)
            .unwrap();
        writer.write_all(b"artifact").unwrap();
        writer.finish().unwrap();
        let tool = target.create_file_artifact("image.tar").unwrap();
        // A tool writes in a private directory the host made just now.
        assert!(tool.path().parent().unwrap() != dir.path());
        assert_eq!(
            fs::metadata(tool.path().parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        fs::write(tool.path(), "tool output").unwrap();
        tool.publish().unwrap();
        write_file(dir.path(), "disk.raw.sha256", b"sum").unwrap();
        write_file(dir.path(), "builder.result.json", b"{}").unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        for name in [
            "disk.raw",
            "disk.raw.sha256",
            "builder.result.json",
            "image.tar",
        ] {
            let meta = fs::symlink_metadata(dir.path().join(name)).unwrap();
            assert!(meta.is_file(), "{name} is still a link");
        }
        // Nothing partial is left, and a name is made once per build.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 4, "{names:?}");
        let again = target
            .create_artifact("disk.raw", Compression::None)
            .err()
            .unwrap();
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
        target.remove("disk.raw").unwrap();
        target
            .create_artifact("disk.raw", Compression::None)
            .unwrap();
    }

    #[test]
    fn writes_past_the_budget_fail_and_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let budget = ArtifactBudget::new(3 << 20);
        let target = TargetDir::create(dir.path())
            .unwrap()
            .with_budget(Some(budget.clone()));
        let mut writer = target.create_artifact("a.bin", Compression::None).unwrap();
        let chunk = vec![1u8; 1 << 20];
        for _ in 0..3 {
            writer.write_all(&chunk).unwrap();
        }
        assert!(!budget.exceeded());
        let err = writer.write_all(&chunk).unwrap_err();
        assert!(
            err.to_string()
                .contains("at most 3145728 bytes of artifacts (--max-artifact-bytes)"),
            "{err}"
        );
        assert!(budget.exceeded());
        drop(writer);
        // A file a tool wrote counts with its blocks when published.
        let file = target.create_file_artifact("b.img").unwrap();
        fs::write(file.path(), vec![7u8; 1 << 20]).unwrap();
        assert!(file.publish().is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        // Given back, the bytes may be written again.
        budget.release(3 << 20);
        let file = target.create_file_artifact("c.img").unwrap();
        fs::write(file.path(), vec![7u8; 1 << 20]).unwrap();
        file.publish().unwrap();
    }

    #[test]
    fn the_default_budget_keeps_a_margin_of_free_space() {
        let dir = tempfile::tempdir().unwrap();
        let budget = ArtifactBudget::free_space_of(dir.path()).unwrap();
        let stat = rustix::fs::statvfs(dir.path()).unwrap();
        let free = stat.f_bavail * stat.f_frsize;
        let total = stat.f_blocks * stat.f_frsize;
        assert!(budget.limit() < free || free == 0);
        assert!(
            budget.limit() + (total / 20).min(1 << 30) + (64 << 20) >= free,
            "{} of {free} free",
            budget.limit()
        );
    }

    #[test]
    fn copies_stop_at_the_plugin_calls_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let target = TargetDir::create(dir.path()).unwrap();
        let data = vec![0u8; 3 << 20];
        for compression in [Compression::None, Compression::Zstd] {
            let mut writer = target.create_artifact("late.bin", compression).unwrap();
            let _deadline = crate::interrupt::deadline_scope(
                std::time::Instant::now() - std::time::Duration::from_secs(1),
            );
            let err = writer
                .copy_from(&mut &data[..], data.len() as u64)
                .unwrap_err();
            assert!(err.to_string().contains("ran out of time"), "{err}");
        }
        // Nor is a file a tool wrote hashed and published past it.
        let file = target.create_file_artifact("late.img").unwrap();
        fs::write(file.path(), &data).unwrap();
        {
            let _deadline = crate::interrupt::deadline_scope(std::time::Instant::now());
            let err = file.publish().unwrap_err();
            assert!(err.to_string().contains("ran out of time"), "{err}");
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn names_must_be_plain() {
        let dir = tempfile::tempdir().unwrap();
        let target = TargetDir::create(dir.path()).unwrap();
        for bad in [
            "",
            "../x",
            "a/b",
            ".hidden",
            "/etc/passwd",
            "a\nb",
            "bell\u{7}",
            "csi\u{9b}",
            "builder.result.json",
            "disk.raw.sha256",
            "image.x86_64-1.0.packages",
            &"x".repeat(256),
        ] {
            let err = target
                .create_artifact(bad, Compression::None)
                .err()
                .unwrap();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad}");
        }
    }
}
