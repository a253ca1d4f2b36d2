//! Compiled plugins on disk, keyed by the component's SHA-256 and the engine's
//! compatibility hash, so a plugin is compiled once per engine build.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use wasmtime::component::Component;
use wasmtime::Engine;

/// A directory of serialized, precompiled components.
#[derive(Debug, Clone)]
pub struct CompiledCache {
    dir: PathBuf,
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
    /// A cache in `dir` (created on first store).
    pub fn new(dir: &Path) -> Self {
        CompiledCache {
            dir: dir.to_path_buf(),
        }
    }

    fn entry_path(&self, engine: &Engine, digest: &str) -> PathBuf {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        self.dir
            .join(format!("{digest}-{:016x}.cwasm", hasher.finish()))
    }

    /// The compiled component for `bytes` (whose SHA-256 is `digest`).
    pub fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
        digest: &str,
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let path = self.entry_path(engine, digest);
        if path.is_file() {
            // SAFETY: the file was written by `store` below from wasmtime's own
            // serialization of a component with this exact digest for an
            // engine with this exact compatibility hash, into a directory
            // only this tool writes. wasmtime still checks the header.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok((component, CacheOutcome::Hit)),
                Err(e) => {
                    tracing::warn!("ignoring unusable compiled plugin {}: {e}", path.display())
                }
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Err(e) = self.store(&path, &component) {
            tracing::debug!("not caching compiled plugin at {}: {e}", path.display());
        }
        Ok((component, CacheOutcome::Compiled))
    }

    fn store(&self, path: &Path, component: &Component) -> std::io::Result<()> {
        let serialized = component.serialize().map_err(std::io::Error::other)?;
        fs::create_dir_all(&self.dir)?;
        // Write beside, then rename: a concurrent reader sees all or nothing.
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(&serialized)?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}
