//! Compiled plugins on disk, keyed by the component's SHA-256 and the engine's
//! compatibility hash, so a plugin is compiled once per engine build.
//!
//! A compiled entry is native code: loading it runs whatever it holds, so
//! pinning a component's SHA-256 means nothing if the entry beside it can be
//! swapped. Every entry therefore carries an HMAC-SHA256, keyed by a random
//! secret of this host kept in the cache directory (a file only its owner
//! can read), over the component's SHA-256, the engine's compatibility hash
//! and the serialized code. An entry is read into memory once, its MAC
//! checked, and only those verified bytes are deserialized; one whose MAC is
//! missing or wrong is compiled again and overwritten. When the directory or
//! the key file is not private to this user, nothing is cached.

use std::fs::{self, File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use wasmtime::component::Component;
use wasmtime::Engine;

type HmacSha256 = Hmac<Sha256>;

/// The key file's name in the cache directory.
pub const KEY_FILE: &str = "cache.key";
/// Bytes in the key.
const KEY_LEN: usize = 32;
/// Bytes in a MAC.
const MAC_LEN: usize = 32;
/// What every entry starts with, before its MAC and the serialized code.
const MAGIC: &[u8; 8] = b"bldrmac1";
/// Separates what the MAC covers from any other use of the key.
const DOMAIN: &[u8] = b"builder compiled plugin cache v1\0";

/// A directory of serialized, precompiled components.
#[derive(Debug, Clone)]
pub struct CompiledCache {
    dir: PathBuf,
    /// The host secret, read (or made) on first use; `None`: no caching.
    key: OnceLock<Option<[u8; KEY_LEN]>>,
}

/// Whether a component came from the cache or was compiled now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded a precompiled artifact.
    Hit,
    /// Compiled (and stored, when the cache is writable).
    Compiled,
}

impl CompiledCache {
    /// A cache in `dir` (created, private, on first use).
    pub fn new(dir: &Path) -> Self {
        CompiledCache {
            dir: dir.to_path_buf(),
            key: OnceLock::new(),
        }
    }

    fn entry_path(&self, engine: &Engine, digest: &str) -> PathBuf {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        self.dir
            .join(format!("{digest}-{:016x}.cwasm", hasher.finish()))
    }

    /// The host secret, or `None` (warned once) when the cache directory or
    /// its key file cannot be trusted or made.
    fn key(&self) -> Option<&[u8; KEY_LEN]> {
        self.key
            .get_or_init(|| match open_key(&self.dir) {
                Ok(key) => Some(key),
                Err(e) => {
                    tracing::warn!(
                        "not caching compiled plugins in {}: {e}; compiling them every time",
                        self.dir.display()
                    );
                    None
                }
            })
            .as_ref()
    }

    /// The compiled component for `bytes` (whose SHA-256 is `digest`).
    pub fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
        digest: &str,
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let Some(key) = self.key() else {
            return Ok((Component::new(engine, bytes)?, CacheOutcome::Compiled));
        };
        let path = self.entry_path(engine, digest);
        match read_entry(&path) {
            Ok(Some(entry)) => match verified(key, engine, digest, &entry) {
                Some(code) => {
                    // SAFETY: `code` is exactly what `store` serialized from a
                    // component with this digest for an engine with this
                    // compatibility hash: the MAC over all three, keyed by a
                    // secret only this user can read, proves it, and these
                    // bytes are in memory, so nothing can swap them between
                    // the check and the load. wasmtime still checks the header.
                    match unsafe { Component::deserialize(engine, code) } {
                        Ok(component) => return Ok((component, CacheOutcome::Hit)),
                        Err(e) => tracing::warn!(
                            "ignoring unusable compiled plugin {}: {e}",
                            path.display()
                        ),
                    }
                }
                None => tracing::warn!(
                    "compiled plugin {} is not authentic (its MAC is missing or wrong): \
                     compiling it again",
                    path.display()
                ),
            },
            Ok(None) => {}
            Err(e) => tracing::warn!("ignoring compiled plugin {}: {e}", path.display()),
        }
        let component = Component::new(engine, bytes)?;
        if let Err(e) = self.store(key, engine, digest, &path, &component) {
            tracing::debug!("not caching compiled plugin at {}: {e}", path.display());
        }
        Ok((component, CacheOutcome::Compiled))
    }

    fn store(
        &self,
        key: &[u8; KEY_LEN],
        engine: &Engine,
        digest: &str,
        path: &Path,
        component: &Component,
    ) -> std::io::Result<()> {
        let serialized = component.serialize().map_err(std::io::Error::other)?;
        let mac = mac(key, engine, digest, &serialized)
            .finalize()
            .into_bytes();
        // Write beside, then rename: a concurrent reader sees all or nothing.
        let mut tmp = crate::caches::incoming_file(&self.dir)?;
        tmp.write_all(MAGIC)?;
        tmp.write_all(&mac)?;
        tmp.write_all(&serialized)?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// The whole entry at `path` (`None`: there is none), read once.
fn read_entry(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    let mut file = match OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut entry = Vec::new();
    file.read_to_end(&mut entry)?;
    Ok(Some(entry))
}

/// The serialized code of `entry` when its MAC is right.
fn verified<'a>(
    key: &[u8; KEY_LEN],
    engine: &Engine,
    digest: &str,
    entry: &'a [u8],
) -> Option<&'a [u8]> {
    let rest = entry.strip_prefix(MAGIC.as_slice())?;
    if rest.len() < MAC_LEN {
        return None;
    }
    let (tag, code) = rest.split_at(MAC_LEN);
    // Constant-time comparison.
    mac(key, engine, digest, code).verify_slice(tag).ok()?;
    Some(code)
}

/// The MAC of an entry, before finalizing: the domain, the component's
/// SHA-256, the engine's compatibility hash and the code, each
/// length-prefixed so no two inputs run together.
fn mac(key: &[u8; KEY_LEN], engine: &Engine, digest: &str, code: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(DOMAIN);
    mac.update(&(digest.len() as u64).to_le_bytes());
    mac.update(digest.as_bytes());
    let mut compatibility = MacHasher(&mut mac, 0);
    engine
        .precompile_compatibility_hash()
        .hash(&mut compatibility);
    let fed = compatibility.1;
    mac.update(&fed.to_le_bytes());
    mac.update(&(code.len() as u64).to_le_bytes());
    mac.update(code);
    mac
}

/// Feeds what a `Hash` implementation writes into the MAC (and counts it).
struct MacHasher<'a>(&'a mut HmacSha256, u64);

impl Hasher for MacHasher<'_> {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
        self.1 += bytes.len() as u64;
    }

    fn finish(&self) -> u64 {
        self.1
    }
}

/// Why the cache cannot be used.
fn refuse<T>(message: String) -> std::io::Result<T> {
    Err(std::io::Error::new(
        std::io::ErrorKind::PermissionDenied,
        message,
    ))
}

/// The host secret of the cache in `dir`: the directory made (0700) when
/// missing, the key file made (0600, with O_EXCL: never over another) when
/// missing. The directory must be a directory of this user (one that lets
/// others in is closed to them first: an entry planted meanwhile fails its
/// MAC); the key file a regular file of this user that nobody else may
/// read or write, with one link and exactly the key's length.
fn open_key(dir: &Path) -> std::io::Result<[u8; KEY_LEN]> {
    let me = rustix::process::geteuid().as_raw();
    if let Some(parent) = dir.parent() {
        fs::create_dir_all(parent)?;
    }
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return refuse("it is not a directory".into());
    }
    if meta.uid() != me {
        return refuse(format!(
            "it belongs to uid {}, not to this user (uid {me})",
            meta.uid()
        ));
    }
    if meta.mode() & 0o077 != 0 {
        // Ours: close it to others (earlier versions made it 0755).
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        tracing::debug!(
            "{}: mode {:o} made 0700",
            dir.display(),
            meta.mode() & 0o7777
        );
    }
    let path = dir.join(KEY_FILE);
    if fs::symlink_metadata(&path).is_err() {
        let mut key = [0u8; KEY_LEN];
        File::open("/dev/urandom")?.read_exact(&mut key)?;
        // Written whole beside, then linked into place with O_EXCL semantics:
        // a concurrent builder sees no key or the whole key, and a key
        // already there (another builder's) is never replaced.
        let mut tmp = tempfile::Builder::new()
            .permissions(fs::Permissions::from_mode(0o600))
            .tempfile_in(dir)?;
        tmp.write_all(&key)?;
        tmp.as_file().sync_all()?;
        match tmp.persist_noclobber(&path) {
            Ok(_) => {}
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.error),
        }
    }
    read_key(&path, me)
}

/// Reads the key file at `path`, refusing one that is not private to `me`.
fn read_key(path: &Path, me: u32) -> std::io::Result<[u8; KEY_LEN]> {
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("key file {}: {e}", path.display())))?;
    let meta = file.metadata()?;
    let shown = path.display();
    if !meta.is_file() {
        return refuse(format!("key file {shown} is not a regular file"));
    }
    if meta.uid() != me {
        return refuse(format!(
            "key file {shown} belongs to uid {}, not to this user (uid {me})",
            meta.uid()
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return refuse(format!(
            "key file {shown} has mode {:o}: others may read or change it, so it is no \
             secret (remove it to have a new one made)",
            meta.mode() & 0o7777
        ));
    }
    if meta.nlink() != 1 {
        return refuse(format!("key file {shown} has {} links", meta.nlink()));
    }
    if meta.len() != KEY_LEN as u64 {
        return refuse(format!(
            "key file {shown} holds {} bytes, not {KEY_LEN} (remove it to have a new one made)",
            meta.len()
        ));
    }
    let mut key = [0u8; KEY_LEN];
    file.read_exact(&mut key)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component: the preamble of component-model layer 1,
    /// with a custom section naming it so two differ.
    fn component(name: &str) -> Vec<u8> {
        let mut bytes = b"\0asm\x0d\0\x01\0".to_vec();
        let payload = [&[4u8][..], b"name", name.as_bytes()].concat();
        assert!(payload.len() < 128);
        bytes.push(0);
        bytes.push(payload.len() as u8);
        bytes.extend(payload);
        bytes
    }

    fn engine() -> Engine {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        Engine::new(&config).unwrap()
    }

    fn cwasm(dir: &Path) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
            .collect();
        found.sort();
        found
    }

    #[test]
    fn entries_come_back_and_the_cache_is_private() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("plugins");
        let engine = engine();
        let a = component("a");
        let digest = crate::toolbox::sha256_hex(&a);
        let (_, outcome) = CompiledCache::new(&dir).load(&engine, &a, &digest).unwrap();
        assert_eq!(outcome, CacheOutcome::Compiled);
        let (_, outcome) = CompiledCache::new(&dir).load(&engine, &a, &digest).unwrap();
        assert_eq!(outcome, CacheOutcome::Hit);
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o7777, 0o700);
        let key = fs::metadata(dir.join(KEY_FILE)).unwrap();
        assert_eq!(key.mode() & 0o7777, 0o600);
        assert_eq!(key.len(), KEY_LEN as u64);
        assert_eq!(cwasm(&dir).len(), 1);
    }

    #[test]
    fn the_entry_of_another_component_copied_over_is_compiled_again() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine();
        let (a, b) = (component("a"), component("b"));
        let (da, db) = (
            crate::toolbox::sha256_hex(&a),
            crate::toolbox::sha256_hex(&b),
        );
        let cache = CompiledCache::new(dir.path());
        cache.load(&engine, &a, &da).unwrap();
        cache.load(&engine, &b, &db).unwrap();
        let (path_a, path_b) = (
            cache.entry_path(&engine, &da),
            cache.entry_path(&engine, &db),
        );
        let entry_b = fs::read(&path_b).unwrap();
        // b's compiled code, authentic for b, put where a's belongs.
        fs::copy(&path_b, &path_a).unwrap();
        let cache = CompiledCache::new(dir.path());
        let (_, outcome) = cache.load(&engine, &a, &da).unwrap();
        assert_eq!(outcome, CacheOutcome::Compiled, "b's code was loaded as a");
        // Overwritten with a's own, which then loads.
        assert_ne!(fs::read(&path_a).unwrap(), entry_b);
        let (_, outcome) = cache.load(&engine, &a, &da).unwrap();
        assert_eq!(outcome, CacheOutcome::Hit);
        let (_, outcome) = cache.load(&engine, &b, &db).unwrap();
        assert_eq!(outcome, CacheOutcome::Hit);
    }

    #[test]
    fn a_flipped_byte_or_a_missing_mac_is_compiled_again() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine();
        let a = component("a");
        let digest = crate::toolbox::sha256_hex(&a);
        let cache = CompiledCache::new(dir.path());
        cache.load(&engine, &a, &digest).unwrap();
        let path = cache.entry_path(&engine, &digest);
        let good = fs::read(&path).unwrap();
        let serialized = good[MAGIC.len() + MAC_LEN..].to_vec();
        let mut flipped_code = good.clone();
        *flipped_code.last_mut().unwrap() ^= 1;
        let mut flipped_mac = good.clone();
        flipped_mac[MAGIC.len()] ^= 0x80;
        // What earlier versions stored: wasmtime's bytes, no MAC.
        for (what, tampered) in [
            ("code", flipped_code),
            ("mac", flipped_mac),
            ("no mac", serialized),
            ("empty", Vec::new()),
        ] {
            fs::write(&path, &tampered).unwrap();
            let (_, outcome) = CompiledCache::new(dir.path())
                .load(&engine, &a, &digest)
                .unwrap();
            assert_eq!(outcome, CacheOutcome::Compiled, "{what}");
            let rewritten = fs::read(&path).unwrap();
            assert!(
                verified(cache.key().unwrap(), &engine, &digest, &rewritten).is_some(),
                "{what}: not overwritten with an authentic entry"
            );
        }
        // Another key (another host's entries) does not verify either.
        let other = [7u8; KEY_LEN];
        assert!(verified(&other, &engine, &digest, &fs::read(&path).unwrap()).is_none());
    }

    #[test]
    fn a_key_file_others_may_read_is_refused_and_nothing_is_cached() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine();
        let a = component("a");
        let digest = crate::toolbox::sha256_hex(&a);
        CompiledCache::new(dir.path())
            .load(&engine, &a, &digest)
            .unwrap();
        let key = dir.path().join(KEY_FILE);
        for mode in [0o640, 0o604, 0o660] {
            fs::set_permissions(&key, fs::Permissions::from_mode(mode)).unwrap();
            let err = open_key(dir.path()).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied);
            assert!(err.to_string().contains("no secret"), "{err}");
            let cache = CompiledCache::new(dir.path());
            for _ in 0..2 {
                let (_, outcome) = cache.load(&engine, &a, &digest).unwrap();
                assert_eq!(outcome, CacheOutcome::Compiled, "{mode:o}");
            }
        }
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
        let (_, outcome) = CompiledCache::new(dir.path())
            .load(&engine, &a, &digest)
            .unwrap();
        assert_eq!(outcome, CacheOutcome::Hit);
        // A symlink, a short key, a second link: refused too.
        let moved = dir.path().join("moved.key");
        fs::rename(&key, &moved).unwrap();
        std::os::unix::fs::symlink(&moved, &key).unwrap();
        assert!(open_key(dir.path()).is_err());
        fs::remove_file(&key).unwrap();
        fs::hard_link(&moved, &key).unwrap();
        let err = open_key(dir.path()).unwrap_err();
        assert!(err.to_string().contains("2 links"), "{err}");
        fs::remove_file(&moved).unwrap();
        fs::write(&key, b"short").unwrap();
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
        let err = open_key(dir.path()).unwrap_err();
        assert!(err.to_string().contains("holds 5 bytes"), "{err}");
    }

    #[test]
    fn a_directory_of_another_user_is_refused() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("plugins");
        fs::create_dir(&dir).unwrap();
        let me = rustix::process::geteuid().as_raw();
        // Running as root: give it away; otherwise it is someone else's
        // only if chown works, which it does not for a plain user.
        if rustix::fs::chown(&dir, Some(rustix::fs::Uid::from_raw(me + 1)), None).is_err() {
            return;
        }
        let err = open_key(&dir).unwrap_err();
        assert!(err.to_string().contains("not to this user"), "{err}");
        assert!(!dir.join(KEY_FILE).exists());
    }

    #[test]
    fn an_open_directory_of_this_user_is_closed_to_others() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("plugins");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        open_key(&dir).unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o7777, 0o700);
    }
}
