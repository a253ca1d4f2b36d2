//! xz that never compresses the same data twice: the stream is cut into
//! content-defined chunks (a gear rolling hash picks the cut points, so an
//! insertion early in a tarball moves no later cut), each chunk becomes an
//! xz stream of its own (preset 6, CRC64), and compressed chunks are kept
//! in a cache keyed by the SHA-256 of their input. The streams are
//! concatenated, which the .xz format allows and every xz reader accepts.
//!
//! The output depends only on the input bytes: not on the thread count and
//! not on what the cache held, so a warm build writes exactly the bytes a
//! cold one does, only without compressing the chunks that did not change
//! (in a rebuilt root image, nearly all of them). Chunks are compressed in
//! parallel, on as many threads as the machine has, and written in order.
//!
//! A cached chunk is trusted only once checked: it is found by the digest
//! of the input it stands for, and used only if it decompresses, as one
//! whole xz stream with nothing after it, to exactly that input. One that
//! does not (a poisoned or damaged file) is discarded, with a warning, and
//! the chunk compressed again.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

/// No cut before this many bytes.
const MIN_CHUNK: usize = 1 << 20;
/// Always a cut at this many bytes (xz preset 6 has an 8 MiB dictionary).
const MAX_CHUNK: usize = 8 << 20;
/// A cut where the top bits of the rolling hash are all zero: on average
/// every 2 MiB after the minimum. Smaller chunks recompress less after a
/// change, larger ones compress better: on a Debian root of 180 MB, about
/// 3 MB chunks cost 1.4% in size against 7 MB ones and halve the warm
/// rebuild's compression time.
const CUT_BITS: u32 = 21;
/// The xz preset.
const PRESET: u32 = 6;
/// Names the compressor settings in cache keys.
const SETTINGS: &str = "xz-chunks-1 preset 6 crc64";
/// Cached chunks unused for this long are removed.
const KEEP_UNUSED: Duration = Duration::from_secs(14 * 24 * 3600);

/// The gear table: 256 fixed pseudo-random 64-bit values (splitmix64 of
/// the byte), so cut points never change between versions.
const GEAR: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut z = (i as u64)
            .wrapping_add(1)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        table[i] = z ^ (z >> 31);
        i += 1;
    }
    table
};

/// Compressed chunks kept between builds.
#[derive(Debug, Clone)]
pub struct ChunkCache {
    dir: PathBuf,
}

impl ChunkCache {
    /// The cache in `dir` (created private if missing; refused when it is
    /// not this user's own or others may write to it).
    pub fn open(dir: &Path) -> io::Result<Self> {
        crate::caches::private_dir(dir)?;
        Ok(ChunkCache {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.xz"))
    }

    /// The cached chunk `key` stands for, if it is there and decompresses
    /// to `input` (one that does not is removed).
    fn get(&self, key: &str, input: &[u8]) -> Option<Vec<u8>> {
        use std::io::Read;
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.path(key);
        let mut file = File::options()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&path)
            .ok()?;
        let mut data = Vec::new();
        file.read_to_end(&mut data).ok()?;
        if !decompresses_to(&data, input) {
            tracing::warn!(
                "xz chunk cache: {} does not decompress to the data it is stored for; \
                 discarded, compressing the chunk again",
                path.display()
            );
            let _ = fs::remove_file(&path);
            return None;
        }
        // Mark it used, for eviction.
        if let Ok(file) = File::options().write(true).open(&path) {
            let _ = file.set_modified(SystemTime::now());
        }
        Some(data)
    }

    fn put(&self, key: &str, data: &[u8]) {
        let stored = crate::caches::incoming_file(&self.dir).and_then(|mut tmp| {
            tmp.write_all(data)?;
            tmp.persist(self.path(key)).map_err(|e| e.error)
        });
        if let Err(e) = stored {
            tracing::debug!("xz chunk cache: not stored: {e}");
        }
    }

    /// Removes chunks no build used for two weeks.
    pub fn evict(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        let now = SystemTime::now();
        for entry in entries.flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .map(|t| now.duration_since(t).unwrap_or_default() > KEEP_UNUSED)
                .unwrap_or(false);
            if old {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// Counts of one stream's chunks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChunkStats {
    /// Chunks written.
    pub chunks: u64,
    /// Of those, taken from the cache.
    pub cached: u64,
}

type Compressed = io::Result<(Vec<u8>, bool)>;
/// A chunk to compress and where its result goes.
type Job = (Vec<u8>, mpsc::SyncSender<Compressed>);

/// A writer that xz-compresses into `inner` as described in the module docs.
pub struct ChunkedXzWriter<W: Write> {
    inner: W,
    cache: Option<ChunkCache>,
    chunk: Vec<u8>,
    hash: u64,
    pending: VecDeque<mpsc::Receiver<Compressed>>,
    in_flight: usize,
    jobs: Option<mpsc::Sender<Job>>,
    stats: ChunkStats,
    cuts: Cuts,
}

/// Where chunks are cut.
#[derive(Debug, Clone, Copy)]
struct Cuts {
    min: usize,
    max: usize,
    bits: u32,
}

const CUTS: Cuts = Cuts {
    min: MIN_CHUNK,
    max: MAX_CHUNK,
    bits: CUT_BITS,
};

impl<W: Write> ChunkedXzWriter<W> {
    /// Compresses into `inner`, using and filling `cache` when given, on one
    /// worker thread per core.
    pub fn new(inner: W, cache: Option<ChunkCache>) -> Self {
        let parallel = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        for _ in 0..parallel {
            let queue = queue.clone();
            let cache = cache.clone();
            let spawned = std::thread::Builder::new()
                .name("xz-chunk".into())
                .spawn(move || loop {
                    let job = queue.lock().map(|q| q.recv());
                    let Ok(Ok((data, done))) = job else {
                        return;
                    };
                    let _ = done.send(compress_chunk(&data, cache.as_ref()));
                });
            if let Err(e) = spawned {
                tracing::warn!("xz: starting a compression thread: {e}");
            }
        }
        ChunkedXzWriter {
            inner,
            cache,
            chunk: Vec::with_capacity(MAX_CHUNK),
            hash: 0,
            pending: VecDeque::new(),
            // Enough queued that no worker waits while the oldest chunk,
            // which must be written first, is still being compressed.
            in_flight: 2 * parallel + 2,
            jobs: Some(jobs),
            stats: ChunkStats::default(),
            cuts: CUTS,
        }
    }

    /// Queues the current chunk for the workers; writes what is done.
    fn cut(&mut self) -> io::Result<()> {
        let data = std::mem::replace(&mut self.chunk, Vec::with_capacity(self.cuts.max));
        self.hash = 0;
        while self.pending.len() >= self.in_flight {
            self.write_next()?;
        }
        let (done, result) = mpsc::sync_channel(1);
        self.jobs
            .as_ref()
            .and_then(|jobs| jobs.send((data, done)).ok())
            .ok_or_else(|| io::Error::other("xz compression threads stopped"))?;
        self.pending.push_back(result);
        while let Some(Ok(compressed)) = self.pending.front().map(|rx| rx.try_recv()) {
            self.pending.pop_front();
            self.write_compressed(compressed)?;
        }
        Ok(())
    }

    /// Writes the oldest pending chunk, waiting for it.
    fn write_next(&mut self) -> io::Result<()> {
        let Some(rx) = self.pending.pop_front() else {
            return Ok(());
        };
        let compressed = rx
            .recv()
            .map_err(|_| io::Error::other("xz chunk thread stopped"))?;
        self.write_compressed(compressed)
    }

    fn write_compressed(&mut self, compressed: Compressed) -> io::Result<()> {
        let (bytes, cached) = compressed?;
        self.stats.chunks += 1;
        self.stats.cached += u64::from(cached);
        self.inner.write_all(&bytes)
    }

    /// Compresses what is left and returns the inner writer.
    pub fn finish(mut self) -> io::Result<(W, ChunkStats)> {
        // An empty input still makes one (empty) stream: a valid .xz file.
        if !self.chunk.is_empty() || self.stats.chunks == 0 && self.pending.is_empty() {
            self.cut()?;
        }
        while !self.pending.is_empty() {
            self.write_next()?;
        }
        // The workers stop once the queue is closed.
        self.jobs = None;
        if let Some(cache) = &self.cache {
            cache.evict();
        }
        Ok((self.inner, self.stats))
    }
}

impl<W: Write> Write for ChunkedXzWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let Cuts { min, max, bits } = self.cuts;
        let mut start = 0;
        let mut hash = self.hash;
        let mut len = self.chunk.len();
        for (i, &byte) in data.iter().enumerate() {
            hash = (hash << 1).wrapping_add(GEAR[byte as usize]);
            len += 1;
            if (len >= min && hash >> (64 - bits) == 0) || len >= max {
                self.chunk.extend_from_slice(&data[start..=i]);
                start = i + 1;
                self.cut()?;
                hash = 0;
                len = 0;
            }
        }
        self.chunk.extend_from_slice(&data[start..]);
        self.hash = hash;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One chunk as a complete xz stream, from the cache or compressed now
/// (and then cached). Returns whether it came from the cache.
fn compress_chunk(data: &[u8], cache: Option<&ChunkCache>) -> Compressed {
    let key = cache.map(|_| {
        let mut hasher = Sha256::new();
        hasher.update(SETTINGS.as_bytes());
        hasher.update(data);
        hex::encode(hasher.finalize())
    });
    if let (Some(cache), Some(key)) = (cache, &key) {
        if let Some(bytes) = cache.get(key, data) {
            return Ok((bytes, true));
        }
    }
    let stream = liblzma::stream::Stream::new_easy_encoder(PRESET, liblzma::stream::Check::Crc64)
        .map_err(io::Error::other)?;
    let mut encoder =
        liblzma::write::XzEncoder::new_stream(Vec::with_capacity(data.len() / 3), stream);
    encoder.write_all(data)?;
    let bytes = encoder.finish()?;
    if let (Some(cache), Some(key)) = (cache, &key) {
        cache.put(key, &bytes);
    }
    Ok((bytes, false))
}

/// Whether `stream` is one whole xz stream, nothing after it, that
/// decompresses to exactly `expected`.
fn decompresses_to(stream: &[u8], expected: &[u8]) -> bool {
    use liblzma::stream::{Action, Status, Stream};
    let Ok(mut decoder) = Stream::new_stream_decoder(u64::MAX, 0) else {
        return false;
    };
    // One byte more than expected: room to see that there is more.
    let mut out = Vec::with_capacity(expected.len() + 1);
    loop {
        let (read, written) = (decoder.total_in(), decoder.total_out());
        let rest = &stream[(read as usize).min(stream.len())..];
        match decoder.process_vec(rest, &mut out, Action::Finish) {
            Ok(Status::StreamEnd) => break,
            Ok(_) if out.len() < out.capacity() => {}
            _ => return false,
        }
        if (read, written) == (decoder.total_in(), decoder.total_out()) {
            return false; // truncated: no progress
        }
    }
    decoder.total_in() == stream.len() as u64 && out == expected
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Compressible, varied test data.
    fn data(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed;
        (0..len)
            .map(|i| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                if i % 7 == 0 {
                    (x >> 56) as u8
                } else {
                    b"golden image "[i % 13]
                }
            })
            .collect()
    }

    fn compress(input: &[u8], cache: Option<ChunkCache>, pieces: usize) -> (Vec<u8>, ChunkStats) {
        let mut writer = ChunkedXzWriter::new(Vec::new(), cache);
        // The real cut rules scaled down 32 times, so tests stay quick.
        writer.cuts = Cuts {
            min: MIN_CHUNK / 32,
            max: MAX_CHUNK / 32,
            bits: CUT_BITS - 5,
        };
        for part in input.chunks(input.len().div_ceil(pieces).max(1)) {
            writer.write_all(part).unwrap();
        }
        writer.finish().unwrap()
    }

    fn decompress_with_xz(bytes: &[u8]) -> Vec<u8> {
        let mut child = std::process::Command::new("xz")
            .args(["-d", "-c"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = bytes.to_vec();
        let feeder = std::thread::spawn(move || stdin.write_all(&input).unwrap());
        let mut out = Vec::new();
        child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
        feeder.join().unwrap();
        assert!(child.wait().unwrap().success());
        out
    }

    #[test]
    fn output_depends_only_on_the_input_and_xz_reads_it() {
        let input = data(1, 40 << 15);
        let tmp = tempfile::tempdir().unwrap();
        let cache = ChunkCache::open(tmp.path()).unwrap();
        let (plain, stats) = compress(&input, None, 1);
        assert!(stats.chunks >= 3 && stats.cached == 0, "{stats:?}");
        let (cold, cold_stats) = compress(&input, Some(cache.clone()), 7);
        let (warm, warm_stats) = compress(&input, Some(cache), 3);
        assert_eq!(plain, cold);
        assert_eq!(cold, warm);
        assert_eq!(cold_stats.cached, 0);
        assert_eq!(warm_stats.cached, warm_stats.chunks);
        assert_eq!(decompress_with_xz(&warm), input);
        assert!(warm.len() < input.len() / 3);
    }

    #[test]
    fn an_insertion_recompresses_only_nearby_chunks() {
        let input = data(2, 48 << 15);
        let tmp = tempfile::tempdir().unwrap();
        let cache = ChunkCache::open(tmp.path()).unwrap();
        let (_, first) = compress(&input, Some(cache.clone()), 5);
        let mut changed = input.clone();
        changed.splice(150_000..150_000, b"a few new bytes in /etc".iter().copied());
        let (bytes, second) = compress(&changed, Some(cache), 5);
        assert!(
            second.cached + 2 >= first.chunks,
            "only {} of {} chunks reused",
            second.cached,
            second.chunks
        );
        assert_eq!(decompress_with_xz(&bytes), changed);
    }

    /// An xz stream of `data`, as xz(1) makes it.
    fn xz_of(data: &[u8]) -> Vec<u8> {
        let mut encoder = liblzma::write::XzEncoder::new(Vec::new(), 6);
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn a_poisoned_chunk_is_discarded_and_compressed_again() {
        let input = data(3, 40 << 15);
        let tmp = tempfile::tempdir().unwrap();
        let cache = ChunkCache::open(tmp.path()).unwrap();
        let (cold, cold_stats) = compress(&input, Some(cache.clone()), 4);
        let mut chunks: Vec<PathBuf> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        chunks.sort();
        assert_eq!(chunks.len() as u64, cold_stats.chunks);
        // One chunk holds a valid stream of other data, one has bytes
        // after its own stream, one is cut short.
        fs::write(&chunks[0], xz_of(b"PWNED!! in /etc/issue\n")).unwrap();
        let mut trailing = fs::read(&chunks[1]).unwrap();
        trailing.extend_from_slice(&xz_of(b"PWNED!!"));
        fs::write(&chunks[1], trailing).unwrap();
        let cut = fs::read(&chunks[2]).unwrap();
        fs::write(&chunks[2], &cut[..cut.len() / 2]).unwrap();

        let (warm, warm_stats) = compress(&input, Some(cache.clone()), 4);
        assert_eq!(warm_stats.chunks, cold_stats.chunks);
        assert_eq!(warm_stats.cached, cold_stats.chunks - 3, "{warm_stats:?}");
        assert_eq!(warm, cold);
        let out = decompress_with_xz(&warm);
        assert!(!out.windows(7).any(|w| w == b"PWNED!!"));
        assert_eq!(out, input);
        // Stored again, right this time: the next build takes them all.
        let (again, again_stats) = compress(&input, Some(cache), 2);
        assert_eq!(again_stats.cached, again_stats.chunks);
        assert_eq!(again, cold);
    }

    #[test]
    fn only_the_exact_stream_decompresses_to_its_input() {
        let stream = xz_of(b"golden");
        assert!(decompresses_to(&stream, b"golden"));
        assert!(!decompresses_to(&stream, b"golde"));
        assert!(!decompresses_to(&stream, b"golden!"));
        assert!(!decompresses_to(&stream[..stream.len() - 1], b"golden"));
        assert!(!decompresses_to(b"", b""));
        assert!(decompresses_to(&xz_of(b""), b""));
    }

    #[test]
    fn empty_input_is_a_valid_xz_file() {
        let (bytes, stats) = compress(&[], None, 1);
        assert_eq!(stats.chunks, 1);
        assert_eq!(decompress_with_xz(&bytes), b"");
    }
}
