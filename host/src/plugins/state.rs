//! The host-side state of one plugin call: WASI context, resource table,
//! granted capabilities, memory, handle and log accounting, and what the
//! call produced.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::changes::RootChange;
use super::grants::{Capability, Grants};
use super::limits::{escape_control, HandleCounts, LogLimiter};
use super::RuntimeLimits;
use crate::rootfs::{RootTree, Walk};
use crate::toolbox::{ArtifactWriter, TargetDir};

/// How much of a plugin's stderr is kept for error reports.
const STDERR_CAPACITY: usize = 64 * 1024;

/// The image root, as a plugin holds it.
pub struct RootHandle(pub Arc<RootTree>);
/// A walk a plugin started.
pub struct WalkHandle(pub Walk);
/// A file a plugin opened.
pub struct ReaderHandle(pub File);
/// An artifact a plugin is writing.
pub struct ArtifactHandle(pub ArtifactWriter);
/// A disk a plugin is laying out: the `disks` interface's draft, which
/// only that interface reads (kept opaque here so this module does not
/// depend on the interfaces that use it).
pub struct DiskHandle(pub Box<dyn std::any::Any + Send>);

/// Denies memory growth past a limit and remembers that it did.
pub struct MemoryLimiter {
    /// Most bytes of linear memory a plugin may have.
    pub limit: usize,
    /// Set once a growth was denied.
    pub exceeded: bool,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

/// Everything a plugin call can reach on the host.
pub struct PluginState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) stderr: MemoryOutputPipe,
    /// `` `name` version `` for logs and errors.
    pub(crate) label: String,
    /// What the plugin declared and was granted.
    pub(crate) grants: Grants,
    /// Where artifacts go, when the call may write any.
    pub(crate) target: Option<TargetDir>,
    /// Capabilities the plugin tried to use without a grant.
    pub(crate) denied: Vec<Capability>,
    /// Artifacts published during this call (removed if the call fails).
    pub(crate) published: Vec<PathBuf>,
    /// A baseline's requests, in order.
    pub(crate) changes: Vec<RootChange>,
    /// Whether `changes` may be requested (not at `post-image`, not from image types).
    pub(crate) changes_allowed: bool,
    /// `SOURCE_DATE_EPOCH` of the build, for toolbox calls.
    pub(crate) source_date_epoch: Option<i64>,
    /// The image's architecture (KIWI's name), when the call builds an image.
    pub(crate) arch: Option<String>,
    /// Walks, readers and artifact writers open, against their limits.
    pub(crate) handles: HandleCounts,
    /// What the plugin may still log.
    pub(crate) log: LogLimiter,
    /// Largest file `read-file` returns whole, and most bytes of file
    /// content the recorded changes may hold: the memory a plugin may have.
    pub(crate) max_data_bytes: u64,
    /// Bytes of file content in `changes`.
    pub(crate) changes_bytes: u64,
    /// Largest disk or filesystem image (its size, sparse or not) a plugin may ask for.
    pub(crate) max_disk_bytes: u64,
}

impl PluginState {
    /// A fresh state: no files, no network, no environment; stderr captured.
    pub fn new(label: String, grants: Grants, limits: &RuntimeLimits) -> Self {
        let memory_limit = limits.memory_bytes;
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        let wasi = wasmtime_wasi::WasiCtxBuilder::new()
            .stderr(stderr.clone())
            .allow_blocking_current_thread(true)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        PluginState {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                limit: memory_limit,
                exceeded: false,
            },
            stderr,
            label,
            grants,
            target: None,
            denied: Vec::new(),
            published: Vec::new(),
            changes: Vec::new(),
            changes_allowed: false,
            source_date_epoch: None,
            arch: None,
            handles: HandleCounts::new(
                limits.max_open_walks,
                limits.max_open_readers,
                limits.max_open_writers,
            ),
            log: LogLimiter::new(limits.max_log_bytes, limits.max_log_lines_per_second),
            max_data_bytes: memory_limit as u64,
            changes_bytes: 0,
            max_disk_bytes: limits.max_disk_bytes,
        }
    }

    /// Check a capability; a denial is logged and remembered.
    pub fn require(&mut self, capability: Capability) -> Result<(), Capability> {
        if self.grants.contains(capability) {
            return Ok(());
        }
        tracing::warn!(
            "plugin {} called a function needing capability `{capability}`, which it was not granted",
            self.label
        );
        self.denied.push(capability);
        Err(capability)
    }

    /// What the plugin wrote to stderr (a panic message, usually), its
    /// control characters escaped: it ends up on the terminal.
    pub fn stderr_text(&self) -> String {
        escape_control(
            String::from_utf8_lossy(&self.stderr.contents()).trim(),
            true,
        )
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
