//! The plugin runtime: one wasmtime engine, compiled-code cache, capability
//! grants, per-call limits (memory, time, host resources), and calls into
//! the three worlds.
//!
//! Every call gets a fresh store: nothing leaks between calls or plugins, and
//! a trap (a plugin bug), a timeout or an exhausted limit ends that call
//! only, with an error naming the plugin and its version.
//!
//! Calls run as futures on a small single-threaded tokio runtime, raced
//! against the call's deadline and Ctrl-C: a plugin computing yields at every
//! epoch tick, a plugin blocked in WASI (a sleep, a poll) is waiting on the
//! same executor, so either is stopped within a tick of its deadline and its
//! call unwound (the future dropped), after which the usual cleanup runs.
//! Host functions that run commands or copy data check the same deadline
//! ([`crate::interrupt::deadline_scope`]) and stop too.

pub mod cache;
pub mod carry_out;
pub mod catalog;
pub mod changes;
mod convert;
pub mod grants;
mod imports;
pub mod info;
pub mod limits;
pub mod select;
pub mod stages;
mod state;
pub mod v0_1_0;
pub mod v0_2_0;

use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use wasmtime::component::{Component, Resource};
use wasmtime::{Config, Engine, Store, Trap};

/// The family a baseline is told of (one home: [`crate::packages`]).
pub use crate::packages::Family;
pub use cache::{CacheOutcome, CompiledCache};
pub use catalog::{Admission, Candidate, Catalog, DescriptionPlugins, Pin, PluginSource};
pub use changes::RootChange;
pub use grants::{Capability, Grants};
pub use info::{GuestError, OptionKind, OptionSpec, PluginInfo, Role, Stage, World};
pub use select::{ActivePlugin, BuildPlugins, SelectError};
pub use stages::PipelinePlugins;
use state::{PluginState, RootHandle};

use crate::rootfs::RootTree;
use crate::toolbox::artifacts::ArtifactBudget;
use crate::toolbox::{ArtifactInfo, TargetDir};

/// How often the epoch advances: the granularity of call deadlines.
const EPOCH_TICK: Duration = Duration::from_millis(50);
/// How often a call blocked in a WASI call checks its deadline and Ctrl-C.
const STOP_POLL: Duration = Duration::from_millis(20);

/// Limits applied to every plugin call.
#[derive(Debug, Clone)]
pub struct RuntimeLimits {
    /// Most bytes of linear memory one plugin instance may use.
    pub memory_bytes: usize,
    /// Deadline for `describe`.
    pub describe_timeout: Duration,
    /// Deadline for `build`, `run` and `apply`.
    pub call_timeout: Duration,
    /// Most walks of the image root one call may have open at once.
    pub max_open_walks: usize,
    /// Most files of the image root one call may have open at once.
    pub max_open_readers: usize,
    /// Most artifacts one call may be writing at once (each has threads).
    pub max_open_writers: usize,
    /// Most bytes of artifacts one call may write; `None`: the free space
    /// of the target directory's filesystem when the call starts, less 5 %
    /// of the filesystem (at most 1 GiB).
    pub max_artifact_bytes: Option<u64>,
    /// Largest disk or filesystem image (its size, sparse or not) a call
    /// may ask for.
    pub max_disk_bytes: u64,
    /// Most bytes one call may log (escaped); later messages are dropped.
    pub max_log_bytes: u64,
    /// Most lines one plugin may log per second; more are dropped and counted.
    pub max_log_lines_per_second: u32,
}

impl Default for RuntimeLimits {
    fn default() -> Self {
        RuntimeLimits {
            memory_bytes: 1 << 30,
            describe_timeout: Duration::from_secs(10),
            call_timeout: Duration::from_secs(3600),
            max_open_walks: 64,
            max_open_readers: 256,
            max_open_writers: 16,
            max_artifact_bytes: None,
            max_disk_bytes: 2 << 40,
            max_log_bytes: 1 << 20,
            max_log_lines_per_second: 100,
        }
    }
}

/// The image being built, as every request names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImageIdentity {
    /// Image name.
    pub name: String,
    /// Image version.
    pub version: String,
    /// Target architecture.
    pub arch: String,
}

/// What an image-type plugin is asked to build.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The image.
    pub image: ImageIdentity,
    /// The type being built.
    pub type_name: String,
    /// Options, resolved against the plugin's specs (see [`PluginInfo::resolve_options`]).
    pub options: Vec<(String, String)>,
    /// `SOURCE_DATE_EPOCH`, if set.
    pub source_date_epoch: Option<i64>,
    /// The type's `<size>`, if the description gives one.
    pub size: Option<ImageSize>,
    /// The type's first `<vagrantconfig>`, if any.
    pub vagrant: Option<VagrantConfig>,
    /// The type's child elements, flattened (contract 0.2.0).
    pub settings: Vec<Setting>,
    /// Files of the description the settings name, by the name they use.
    pub files: Vec<(String, Vec<u8>)>,
}

/// One element below the description's `<type>`, or below one of those.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// Element name.
    pub element: String,
    /// Index of its parent in the list; none below `<type>` itself.
    pub parent: Option<u32>,
    /// Attributes in document order.
    pub attributes: Vec<(String, String)>,
    /// Trimmed text, empty when none.
    pub text: String,
}

impl Setting {
    /// `elements` and everything below them, in document order.
    pub fn flatten(elements: &[crate::description::RawElement]) -> Vec<Setting> {
        fn add(out: &mut Vec<Setting>, e: &crate::description::RawElement, parent: Option<u32>) {
            let index = out.len() as u32;
            out.push(Setting {
                element: e.name.clone(),
                parent,
                attributes: e.attributes.0.clone(),
                text: e.text.clone().unwrap_or_default(),
            });
            for child in &e.children {
                add(out, child, Some(index));
            }
        }
        let mut out = Vec::new();
        for e in elements {
            add(&mut out, e, None);
        }
        out
    }
}

/// A Vagrant box's settings, as image types receive them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VagrantConfig {
    /// `provider`.
    pub provider: String,
    /// `virtualsize` in GB.
    pub virtual_size: Option<u64>,
    /// `virtualbox_guest_additions_present`.
    pub virtualbox_guest_additions: bool,
    /// The content of the `embedded_vagrantfile`.
    pub embedded_vagrantfile: Option<String>,
    /// Its name, as `embedded_vagrantfile` writes it.
    pub embedded_vagrantfile_name: Option<String>,
}

/// Largest `embedded_vagrantfile` read.
const MAX_VAGRANTFILE: u64 = 1 << 20;

impl VagrantConfig {
    /// The first `<vagrantconfig>` of the planned type, with the file its
    /// `embedded_vagrantfile` names read from the description's directory
    /// (a relative path that stays inside it, as KIWI joins the two).
    pub fn from_plan(plan: &crate::plan::BuildPlan) -> anyhow::Result<Option<Self>> {
        let Some(v) = plan.image_type.vagrantconfig.first() else {
            return Ok(None);
        };
        let embedded_vagrantfile = match v.attributes.get("embedded_vagrantfile") {
            Some(name) => {
                let inside = std::path::Path::new(name);
                if name.is_empty()
                    || inside.is_absolute()
                    || inside
                        .components()
                        .any(|c| !matches!(c, std::path::Component::Normal(_)))
                {
                    anyhow::bail!(
                        "<vagrantconfig embedded_vagrantfile=\"{name}\">: the Vagrantfile must be \
                         named by a path relative to the description's directory, without `..`"
                    );
                }
                let path = plan.description_dir.join(inside);
                let read = || -> std::io::Result<String> {
                    use std::io::Read;
                    let file = std::fs::File::open(&path)?;
                    let mut text = String::new();
                    file.take(MAX_VAGRANTFILE + 1).read_to_string(&mut text)?;
                    if text.len() as u64 > MAX_VAGRANTFILE {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            "larger than 1 MiB",
                        ));
                    }
                    Ok(text)
                };
                Some(read().map_err(|e| {
                    anyhow::anyhow!(
                        "reading the embedded Vagrantfile {}: {e} (KIWI reads \
                         <vagrantconfig embedded_vagrantfile=\"{name}\"> from the description's \
                         directory; put the file there)",
                        path.display()
                    )
                })?)
            }
            None => None,
        };
        Ok(Some(VagrantConfig {
            provider: v.provider.clone(),
            virtual_size: (v.virtualsize > 0).then_some(v.virtualsize),
            virtualbox_guest_additions: v
                .attributes
                .get_bool("virtualbox_guest_additions_present")
                .unwrap_or(false),
            embedded_vagrantfile,
            embedded_vagrantfile_name: v.attributes.get("embedded_vagrantfile").map(str::to_string),
        }))
    }

    /// The embedded Vagrantfile as a description file: its name and content.
    pub fn embedded_vagrantfile_file(&self) -> Option<(String, Vec<u8>)> {
        Some((
            self.embedded_vagrantfile_name.clone()?,
            self.embedded_vagrantfile.clone()?.into_bytes(),
        ))
    }
}

/// A container image's settings, as image types receive them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerConfig {
    /// Image name.
    pub name: String,
    /// Tag.
    pub tag: Option<String>,
    /// Further `name:tag` references.
    pub additional_names: Vec<String>,
    /// Author.
    pub maintainer: Option<String>,
    /// User.
    pub user: Option<String>,
    /// Working directory.
    pub workingdir: Option<String>,
    /// Entrypoint program and arguments.
    pub entrypoint: Vec<String>,
    /// Default command and arguments.
    pub cmd: Vec<String>,
    /// Exposed ports.
    pub expose: Vec<String>,
    /// Volumes.
    pub volumes: Vec<String>,
    /// Stop signal.
    pub stopsignal: Option<String>,
    /// Environment, in order.
    pub environment: Vec<(String, String)>,
    /// Labels, in order.
    pub labels: Vec<(String, String)>,
}

impl ContainerConfig {
    /// The `<containerconfig>` among `settings`, as contract 0.1.0 passes
    /// it (0.2.0 plugins read the settings themselves).
    pub fn from_settings(settings: &[Setting]) -> Option<Self> {
        let children = |parent: usize, name: &'static str| {
            (settings.iter().enumerate())
                .filter(move |(_, s)| s.parent == Some(parent as u32) && s.element == name)
        };
        let attr = |s: &Setting, name: &str| {
            (s.attributes.iter())
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let (top, config) = (settings.iter().enumerate())
            .find(|(_, s)| s.parent.is_none() && s.element == "containerconfig")?;
        let command = |name| -> Vec<String> {
            let Some((i, cmd)) = children(top, name).next() else {
                return Vec::new();
            };
            let arguments = children(i, "argument").filter_map(|(_, a)| attr(a, "name"));
            attr(cmd, "execute").into_iter().chain(arguments).collect()
        };
        let nested = |outer, inner, key| -> Vec<String> {
            (children(top, outer).flat_map(|(i, _)| children(i, inner)))
                .filter_map(|(_, e)| attr(e, key))
                .collect()
        };
        let pairs = |outer, inner| -> Vec<(String, String)> {
            (children(top, outer).flat_map(|(i, _)| children(i, inner)))
                .filter_map(|(_, e)| Some((attr(e, "name")?, attr(e, "value").unwrap_or_default())))
                .collect()
        };
        Some(ContainerConfig {
            name: attr(config, "name").unwrap_or_default(),
            tag: attr(config, "tag"),
            additional_names: (attr(config, "additionalnames")
                .unwrap_or_default()
                .split(','))
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect(),
            maintainer: attr(config, "maintainer"),
            user: attr(config, "user"),
            workingdir: attr(config, "workingdir"),
            entrypoint: command("entrypoint"),
            cmd: command("subcommand"),
            expose: (nested("expose", "port", "number").into_iter())
                .map(|n| n.trim().to_string())
                .collect(),
            volumes: nested("volumes", "volume", "name"),
            stopsignal: children(top, "stopsignal")
                .next()
                .map(|(_, s)| s.text.clone()),
            environment: pairs("environment", "env"),
            labels: pairs("labels", "label"),
        })
    }
}

/// A size the description asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageSize {
    /// Bytes.
    pub bytes: u64,
    /// Added to the computed minimum instead of replacing it.
    pub additive: bool,
}

/// What a hook is passed.
#[derive(Debug, Clone)]
pub struct HookRequest {
    /// The image.
    pub image: ImageIdentity,
    /// Options, resolved against the plugin's specs.
    pub options: Vec<(String, String)>,
    /// At `post-image`, the artifacts written.
    pub artifacts: Vec<ArtifactInfo>,
}

/// What a baseline is passed.
#[derive(Debug, Clone)]
pub struct BaselineRequest {
    /// The image.
    pub image: ImageIdentity,
    /// Its distribution family.
    pub family: Family,
    /// Its release (`VERSION_ID`).
    pub release: String,
    /// Selected profiles.
    pub profiles: Vec<String>,
    /// Options, resolved against the plugin's specs.
    pub options: Vec<(String, String)>,
}

/// Why loading or calling a plugin failed.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The bytes are not a component of a world this host knows.
    #[error("{origin}: not a builder plugin: {reason}")]
    NotAPlugin {
        /// Where it came from.
        origin: PluginSource,
        /// What is wrong.
        reason: String,
    },
    /// The plugin's `describe` result is unusable.
    #[error("{origin}: plugin describes itself wrongly: {reason}")]
    BadDescription {
        /// Where it came from.
        origin: PluginSource,
        /// What is wrong.
        reason: String,
    },
    /// A component file that may not load: it calls itself like a built-in
    /// plugin (see [`Candidate::admit`]).
    #[error("{origin}: plugin refused: {reason}")]
    Refused {
        /// Where it came from.
        origin: PluginSource,
        /// Why.
        reason: String,
    },
    /// A declared capability was not granted; nothing was run.
    #[error("plugin {plugin} needs capability `{capability}`, which was not granted (grant it with `--grant {capability}` or in the description)")]
    NotGranted {
        /// The plugin.
        plugin: String,
        /// The capability.
        capability: Capability,
    },
    /// The plugin returned an error.
    #[error("plugin {plugin} failed: {error}")]
    Failed {
        /// The plugin.
        plugin: String,
        /// Its error.
        error: GuestError,
    },
    /// The call ran past its deadline and was stopped.
    #[error("plugin {plugin} did not finish within {seconds:.1} s and was stopped (a plugin bug, or raise --plugin-timeout)")]
    Timeout {
        /// The plugin.
        plugin: String,
        /// The deadline.
        seconds: f64,
    },
    /// The plugin wanted more memory than allowed.
    #[error("plugin {plugin} exceeded its memory limit of {mib} MiB and was stopped{stderr}")]
    OutOfMemory {
        /// The plugin.
        plugin: String,
        /// The limit.
        mib: usize,
        /// What it printed.
        stderr: String,
    },
    /// The build was interrupted (Ctrl-C) while the plugin ran.
    #[error("plugin {plugin} stopped: the build was interrupted")]
    Interrupted {
        /// The plugin.
        plugin: String,
    },
    /// The plugin made the host exceed a limit of a call (artifact bytes).
    #[error("plugin {plugin} was stopped: {limit}")]
    LimitExceeded {
        /// The plugin.
        plugin: String,
        /// Which limit, and the option that raises it.
        limit: String,
    },
    /// The plugin trapped: a bug in the plugin.
    #[error("plugin {plugin} crashed (a bug in the plugin): {trap}{stderr}")]
    Crashed {
        /// The plugin.
        plugin: String,
        /// The trap.
        trap: String,
        /// What it printed.
        stderr: String,
    },
    /// The host itself failed around the call.
    #[error("plugin {plugin}: host error: {message}")]
    Host {
        /// The plugin.
        plugin: String,
        /// What failed.
        message: String,
    },
    /// Reading a plugin file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A loaded plugin: compiled, its world known, its `describe` answered.
#[derive(Clone)]
pub struct Plugin {
    /// What it says of itself.
    pub info: PluginInfo,
    /// The world it implements.
    pub world: World,
    /// The contract version it was built against.
    pub api_version: &'static str,
    /// SHA-256 of the component.
    pub digest: String,
    /// Where it came from.
    pub source: PluginSource,
    /// Whether it was compiled now or came from the cache.
    pub cache: CacheOutcome,
    component: Component,
}

impl Plugin {
    /// `` `name` version ``.
    pub fn label(&self) -> String {
        self.info.label()
    }
}

/// Advances the engine's epoch until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    fn start(engine: &Engine) -> EpochTicker {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.clone();
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .ok();
        EpochTicker { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One call into a plugin: who, which world, over what, with which grants.
struct Call<'a> {
    plugin: &'a Plugin,
    world: World,
    root: Arc<RootTree>,
    target: Option<&'a TargetDir>,
    granted: &'a Grants,
    /// Whether the plugin may request root changes.
    changes_allowed: bool,
    /// `SOURCE_DATE_EPOCH` for the toolbox.
    source_date_epoch: Option<i64>,
    /// The image's architecture, for the toolbox (disk partition types).
    arch: Option<String>,
}

/// The plugin host.
pub struct PluginRuntime {
    engine: Engine,
    linkers: v0_1_0::Linkers,
    /// Contract 0.2.0's linkers, one per world and grants.
    linkers_v2: v0_2_0::Linkers,
    cache: Option<CompiledCache>,
    limits: RuntimeLimits,
    _ticker: EpochTicker,
}

impl PluginRuntime {
    /// A runtime caching compiled plugins in `cache_dir` (none: no cache).
    pub fn new(cache_dir: Option<&Path>, limits: RuntimeLimits) -> anyhow::Result<PluginRuntime> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let linkers = v0_1_0::Linkers::new(&engine).map_err(|e| anyhow::anyhow!("{e:#}"))?;
        Ok(PluginRuntime {
            _ticker: EpochTicker::start(&engine),
            linkers_v2: v0_2_0::Linkers::new(&engine),
            engine,
            linkers,
            cache: cache_dir.map(CompiledCache::new),
            limits,
        })
    }

    /// The limits in force.
    pub fn limits(&self) -> &RuntimeLimits {
        &self.limits
    }

    /// Compile (or fetch from the cache) a component, find its world and
    /// contract version, and ask it to describe itself.
    pub fn load(&self, bytes: &[u8], source: PluginSource) -> Result<Plugin, PluginError> {
        let digest = crate::toolbox::sha256_hex(bytes);
        let not_a_plugin = |reason: String| PluginError::NotAPlugin {
            origin: source.clone(),
            reason,
        };
        let (component, cache) = match &self.cache {
            Some(cache) => cache.load(&self.engine, bytes, &digest),
            None => Component::new(&self.engine, bytes).map(|c| (c, CacheOutcome::Compiled)),
        }
        .map_err(|e| not_a_plugin(format!("{e:#}")))?;
        let (api_version, world) = identify(&self.engine, &component).map_err(not_a_plugin)?;
        let label = format!("{source}");
        let timeout = self.limits.describe_timeout;
        let deadline = Instant::now() + timeout;
        let mut store = self.store(label.clone(), Grants::none(), deadline);
        let _deadline = crate::interrupt::deadline_scope(deadline);
        // `describe` has the same signature in every world of a version.
        let outcome = drive(deadline, async {
            wasmtime::Result::Ok(if api_version == v0_2_0::VERSION {
                let linker = self.linkers_v2.get(world, None)?;
                let instance = linker.instantiate_async(&mut store, &component).await?;
                let describe = instance
                    .get_typed_func::<(), (v0_2_0::WitPluginInfo,)>(&mut store, "describe")?;
                let (info,) = describe.call_async(&mut store, ()).await?;
                v0_2_0::info_from(info)
            } else {
                let linker = self.linkers.for_world(world);
                let instance = linker.instantiate_async(&mut store, &component).await?;
                let describe = instance
                    .get_typed_func::<(), (v0_1_0::WitPluginInfo,)>(&mut store, "describe")?;
                let (info,) = describe.call_async(&mut store, ()).await?;
                v0_1_0::info_from(info)
            })
        })
        .map_err(|e| PluginError::Host {
            plugin: label.clone(),
            message: format!("starting the call: {e}"),
        })?;
        let info = match (outcome, stop_reason(deadline)) {
            (Ok(Ok(info)), None) => info,
            (_, Some(stop)) | (Err(stop), None) => return Err(stop.error(&label, timeout)),
            (Ok(Err(e)), None) => return Err(self.classify(&label, &store, e, timeout)),
        };
        if api_version == v0_2_0::VERSION {
            // Every interface it imports must be one of its declared
            // capabilities: only those are linked into it.
            v0_2_0::undeclared_import(&self.engine, &component, &info.capabilities).map_err(
                |reason| PluginError::BadDescription {
                    origin: source.clone(),
                    reason,
                },
            )?;
        }
        info.validate()
            .map_err(|reason| PluginError::BadDescription {
                origin: source.clone(),
                reason,
            })?;
        let role_matches = matches!(
            (&info.role, world),
            (Role::ImageType(_), World::ImageType)
                | (Role::Hook(_), World::Hook)
                | (Role::Baseline, World::Baseline)
        );
        if !role_matches {
            return Err(PluginError::BadDescription {
                origin: source,
                reason: format!("it implements the {world} world but describes another role"),
            });
        }
        Ok(Plugin {
            info,
            world,
            api_version,
            digest,
            source,
            cache,
            component,
        })
    }

    /// Load every candidate of `catalog`; the first plugin of each name wins,
    /// but a component file calling itself like a built-in plugin is refused.
    pub fn load_catalog(&self, catalog: &Catalog) -> Result<Vec<Plugin>, PluginError> {
        let mut plugins: Vec<Plugin> = Vec::new();
        for candidate in catalog.candidates() {
            let bytes = candidate.bytes()?;
            let plugin = self.load(&bytes, candidate.source.clone())?;
            candidate
                .admit(&plugin.info.name)
                .map_err(|reason| PluginError::Refused {
                    origin: candidate.source.clone(),
                    reason,
                })?;
            if let Some(first) = plugins.iter().find(|p| p.info.name == plugin.info.name) {
                tracing::info!(
                    "plugin `{}` from {} is shadowed by the one from {}",
                    plugin.info.name,
                    plugin.source,
                    first.source
                );
                continue;
            }
            plugins.push(plugin);
        }
        Ok(plugins)
    }

    fn store(&self, label: String, grants: Grants, deadline: Instant) -> Store<PluginState> {
        let mut store = Store::new(&self.engine, PluginState::new(label, grants, &self.limits));
        store.limiter(|s| &mut s.limiter);
        // Checked at every epoch tick: the call's deadline, and Ctrl-C; else
        // the guest yields to the executor, which checks them too.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if crate::interrupt::requested() {
                return Err(crate::interrupt::Interrupted("a plugin call".into()).into());
            }
            if Instant::now() >= deadline {
                return Err(Trap::Interrupt.into());
            }
            Ok(wasmtime::UpdateDeadline::Yield(1))
        });
        store
    }

    /// The artifact budget of a call writing into `target`.
    fn artifact_budget(&self, target: &TargetDir) -> std::io::Result<ArtifactBudget> {
        match self.limits.max_artifact_bytes {
            Some(bytes) => Ok(ArtifactBudget::new(bytes)),
            None => ArtifactBudget::free_space_of(target.path()),
        }
    }

    /// Check grants before anything runs: every declared capability must be granted.
    fn check_grants(&self, plugin: &Plugin, granted: &Grants) -> Result<Grants, PluginError> {
        if let Some(capability) = granted.first_missing(&plugin.info.capabilities) {
            return Err(PluginError::NotGranted {
                plugin: plugin.label(),
                capability,
            });
        }
        Ok(granted.effective(&plugin.info.capabilities))
    }

    /// Run an image-type plugin's `build` over `root`, writing into `target`.
    /// On any failure, artifacts this call published are removed again.
    pub fn build_image(
        &self,
        plugin: &Plugin,
        root: Arc<RootTree>,
        target: &TargetDir,
        request: &BuildRequest,
        granted: &Grants,
    ) -> Result<Vec<ArtifactInfo>, PluginError> {
        let call = Call {
            plugin,
            world: World::ImageType,
            root,
            target: Some(target),
            granted,
            changes_allowed: false,
            source_date_epoch: request.source_date_epoch,
            arch: Some(request.image.arch.clone()),
        };
        let (artifacts, _) = self.call(call, async |store, root| {
            if plugin.api_version == v0_2_0::VERSION {
                let linker = self
                    .linkers_v2
                    .get(World::ImageType, Some(&store.data().grants))?;
                let pre = v0_2_0::image_type::ImageTypePre::new(
                    linker.instantiate_pre(&plugin.component)?,
                )?;
                let bindings = pre.instantiate_async(&mut *store).await?;
                let built = bindings
                    .call_build(store, root, &v0_2_0::build_request_to(request))
                    .await?;
                return Ok(built
                    .map(|a| a.into_iter().map(v0_2_0::artifact_from).collect())
                    .map_err(v0_2_0::error_from));
            }
            let pre = v0_1_0::image_type::ImageTypePre::new(
                self.linkers.image_type.instantiate_pre(&plugin.component)?,
            )?;
            let bindings = pre.instantiate_async(&mut *store).await?;
            let built = bindings
                .call_build(store, root, &v0_1_0::build_request_to(request))
                .await?;
            Ok(built
                .map(|a| a.into_iter().map(v0_1_0::artifact_from).collect())
                .map_err(v0_1_0::error_from))
        })?;
        Ok(artifacts)
    }

    /// Run a hook plugin at `stage`; returns the root changes it asked for,
    /// in order, for the host to carry out (always none at `post-image`).
    pub fn run_hook(
        &self,
        plugin: &Plugin,
        stage: Stage,
        root: Arc<RootTree>,
        request: &HookRequest,
        granted: &Grants,
    ) -> Result<Vec<RootChange>, PluginError> {
        let call = Call {
            plugin,
            world: World::Hook,
            root,
            target: None,
            granted,
            changes_allowed: stage != Stage::PostImage,
            source_date_epoch: None,
            arch: None,
        };
        let ((), mut state) = self.call(call, async |store, root| {
            if plugin.api_version == v0_2_0::VERSION {
                let linker = self
                    .linkers_v2
                    .get(World::Hook, Some(&store.data().grants))?;
                let pre = v0_2_0::hook::HookPre::new(linker.instantiate_pre(&plugin.component)?)?;
                let bindings = pre.instantiate_async(&mut *store).await?;
                let stage = v0_2_0::stage_to(stage);
                let request = v0_2_0::hook_request_to(request);
                let ran = bindings.call_run(store, stage, root, &request).await?;
                return Ok(ran.map_err(v0_2_0::error_from));
            }
            let pre =
                v0_1_0::hook::HookPre::new(self.linkers.hook.instantiate_pre(&plugin.component)?)?;
            let bindings = pre.instantiate_async(&mut *store).await?;
            let ran = bindings
                .call_run(
                    store,
                    v0_1_0::stage_to(stage),
                    root,
                    &v0_1_0::hook_request_to(request),
                )
                .await?;
            Ok(ran.map_err(v0_1_0::error_from))
        })?;
        Ok(std::mem::take(&mut state.changes))
    }

    /// Run a baseline plugin's `apply`; returns its requests, in order, for
    /// the host to carry out.
    pub fn apply_baseline(
        &self,
        plugin: &Plugin,
        root: Arc<RootTree>,
        request: &BaselineRequest,
        granted: &Grants,
    ) -> Result<Vec<RootChange>, PluginError> {
        let call = Call {
            plugin,
            world: World::Baseline,
            root,
            target: None,
            granted,
            changes_allowed: true,
            source_date_epoch: None,
            arch: None,
        };
        let ((), mut state) = self.call(call, async |store, root| {
            if plugin.api_version == v0_2_0::VERSION {
                let linker = self
                    .linkers_v2
                    .get(World::Baseline, Some(&store.data().grants))?;
                let pre =
                    v0_2_0::baseline::BaselinePre::new(linker.instantiate_pre(&plugin.component)?)?;
                let bindings = pre.instantiate_async(&mut *store).await?;
                let request = v0_2_0::baseline_request_to(request);
                let applied = bindings.call_apply(store, root, &request).await?;
                return Ok(applied.map_err(v0_2_0::error_from));
            }
            let pre = v0_1_0::baseline::BaselinePre::new(
                self.linkers.baseline.instantiate_pre(&plugin.component)?,
            )?;
            let bindings = pre.instantiate_async(&mut *store).await?;
            let applied = bindings
                .call_apply(store, root, &v0_1_0::baseline_request_to(request))
                .await?;
            Ok(applied.map_err(v0_1_0::error_from))
        })?;
        Ok(std::mem::take(&mut state.changes))
    }

    /// The one path every `build`, `run` and `apply` takes: grants checked
    /// before anything runs, a fresh store with the limits, the root handed
    /// over as a borrowed resource, the call raced against its deadline and
    /// Ctrl-C, and every failure turned into a report naming the plugin
    /// (with artifacts of a failed call removed).
    fn call<T>(
        &self,
        call: Call<'_>,
        invoke: impl AsyncFnOnce(
            &mut Store<PluginState>,
            Resource<RootHandle>,
        ) -> wasmtime::Result<Result<T, GuestError>>,
    ) -> Result<(T, PluginState), PluginError> {
        let effective = self.check_grants(call.plugin, call.granted)?;
        self.expect_world(call.plugin, call.world)?;
        let label = call.plugin.label();
        let host_error = |message: String| PluginError::Host {
            plugin: label.clone(),
            message,
        };
        let target = match call.target {
            Some(target) => {
                let budget = self
                    .artifact_budget(target)
                    .map_err(|e| host_error(format!("free space of the target directory: {e}")))?;
                Some(target.clone().with_budget(Some(budget)))
            }
            None => None,
        };
        let started = Instant::now();
        let timeout = self.limits.call_timeout;
        let deadline = started + timeout;
        let mut store = self.store(label.clone(), effective, deadline);
        store.data_mut().target = target;
        store.data_mut().source_date_epoch = call.source_date_epoch;
        store.data_mut().arch = call.arch.clone();
        store.data_mut().changes_allowed = call.changes_allowed;
        let outcome = {
            // Commands and copies the call's host functions run stop at its deadline.
            let _deadline = crate::interrupt::deadline_scope(deadline);
            drive(deadline, async {
                let root = store.data_mut().table.push(RootHandle(call.root))?;
                let result = invoke(&mut store, Resource::new_borrow(root.rep())).await?;
                store.data_mut().table.delete(root)?;
                wasmtime::Result::Ok(result)
            })
            .map_err(|e| host_error(format!("starting the call: {e}")))?
        };
        tracing::debug!("plugin {label} ran for {:?}", started.elapsed());
        if let Some(notice) = store.data_mut().log.finish() {
            tracing::warn!(target: "plugin", "{label}: {notice}");
        }
        let over_budget = store
            .data()
            .target
            .as_ref()
            .and_then(|t| t.budget())
            .filter(|b| b.exceeded())
            .map(|b| b.exceeded_message());
        // A call that ran past its deadline, was interrupted or went over
        // its artifact budget failed, whatever it returned.
        let result = match (outcome, stop_reason(deadline), over_budget) {
            (_, Some(stop), _) | (Err(stop), None, _) => stop.error(&label, timeout),
            (Ok(_), None, Some(limit)) => PluginError::LimitExceeded {
                plugin: label.clone(),
                limit,
            },
            (Ok(Ok(Ok(value))), None, None) => return Ok((value, store.into_data())),
            (Ok(Ok(Err(error))), None, None) => self.guest_failure(&label, &store, error),
            (Ok(Err(e)), None, None) => self.classify(&label, &store, e, timeout),
        };
        for path in &store.data().published {
            let _ = std::fs::remove_file(path);
        }
        Err(result)
    }

    fn expect_world(&self, plugin: &Plugin, world: World) -> Result<(), PluginError> {
        if plugin.world == world {
            return Ok(());
        }
        Err(PluginError::Host {
            plugin: plugin.label(),
            message: format!("it is a {} plugin, not a {world} plugin", plugin.world),
        })
    }

    /// A plugin's own error, or, when it hid a denied capability behind
    /// another error, the denial.
    fn guest_failure(
        &self,
        label: &str,
        store: &Store<PluginState>,
        error: GuestError,
    ) -> PluginError {
        let error = match (&error, store.data().denied.first()) {
            (GuestError::CapabilityDenied(_), _) | (_, None) => error,
            (_, Some(capability)) => GuestError::CapabilityDenied(*capability),
        };
        PluginError::Failed {
            plugin: label.to_string(),
            error,
        }
    }

    /// Turn a wasmtime error (trap, interrupt, host failure) into a report.
    fn classify(
        &self,
        label: &str,
        store: &Store<PluginState>,
        error: wasmtime::Error,
        timeout: Duration,
    ) -> PluginError {
        let plugin = label.to_string();
        let stderr = match store.data().stderr_text() {
            s if s.is_empty() => String::new(),
            s => format!("; it printed: {s}"),
        };
        if store.data().limiter.exceeded {
            return PluginError::OutOfMemory {
                plugin,
                mib: self.limits.memory_bytes >> 20,
                stderr,
            };
        }
        if error
            .downcast_ref::<crate::interrupt::Interrupted>()
            .is_some()
        {
            return PluginError::Interrupted { plugin };
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => PluginError::Timeout {
                plugin,
                seconds: timeout.as_secs_f64(),
            },
            Some(trap) => PluginError::Crashed {
                plugin,
                trap: trap.to_string(),
                stderr,
            },
            None => PluginError::Host {
                plugin,
                message: format!("{error:#}"),
            },
        }
    }
}

/// Why a call was stopped from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Its deadline passed.
    Timeout,
    /// The build was asked to stop (Ctrl-C, SIGTERM).
    Interrupted,
}

impl Stop {
    fn error(self, label: &str, timeout: Duration) -> PluginError {
        let plugin = label.to_string();
        match self {
            Stop::Timeout => PluginError::Timeout {
                plugin,
                seconds: timeout.as_secs_f64(),
            },
            Stop::Interrupted => PluginError::Interrupted { plugin },
        }
    }
}

/// Whether a call with `deadline` must stop (or, once over, counts as stopped).
fn stop_reason(deadline: Instant) -> Option<Stop> {
    if crate::interrupt::requested() {
        Some(Stop::Interrupted)
    } else if Instant::now() >= deadline {
        Some(Stop::Timeout)
    } else {
        None
    }
}

/// Run `call` (a call into a plugin) on a single-threaded tokio runtime of
/// its own, until it ends, its deadline passes or the build is asked to
/// stop: checked whenever the call yields (at every epoch tick while the
/// guest computes) and every [`STOP_POLL`] while it waits in WASI. A
/// stopped call's future is dropped, which unwinds the guest.
fn drive<F: Future>(deadline: Instant, call: F) -> std::io::Result<Result<F::Output, Stop>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    Ok(runtime.block_on(async {
        let mut call = std::pin::pin!(call);
        let mut tick = tokio::time::interval(STOP_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(output) = call.as_mut().poll(cx) {
                return Poll::Ready(Ok(output));
            }
            if let Some(stop) = stop_reason(deadline) {
                return Poll::Ready(Err(stop));
            }
            // Wake up again in a while, whatever the call waits for.
            while tick.poll_tick(cx).is_ready() {}
            Poll::Pending
        })
        .await
    }))
}

/// Which contract version and world a component implements, from its
/// imports (`builder:plugin/*@X.Y.Z`) and exports (`build`, `run`, `apply`).
fn identify(engine: &Engine, component: &Component) -> Result<(&'static str, World), String> {
    let ty = component.component_type();
    let mut versions: Vec<String> = ty
        .imports(engine)
        .filter_map(|(name, _)| {
            name.strip_prefix("builder:plugin/")
                .and_then(|rest| rest.split_once('@'))
                .map(|(_, version)| version.to_string())
        })
        .collect();
    versions.sort();
    versions.dedup();
    let api_version = match versions.as_slice() {
        [v] if v == v0_1_0::VERSION => v0_1_0::VERSION,
        [v] if v == v0_2_0::VERSION => v0_2_0::VERSION,
        [] => return Err("it imports no `builder:plugin` interface".into()),
        [v] => {
            return Err(format!(
                "it was built for contract builder:plugin@{v}; this host speaks {} and {}",
                v0_1_0::VERSION,
                v0_2_0::VERSION
            ))
        }
        many => return Err(format!("it mixes contract versions {}", many.join(", "))),
    };
    let exports: Vec<String> = ty
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    let has = |n: &str| exports.iter().any(|e| e == n);
    if !has("describe") {
        return Err("it does not export `describe`".into());
    }
    let world = if has("build") {
        World::ImageType
    } else if has("run") {
        World::Hook
    } else if has("apply") {
        World::Baseline
    } else {
        return Err("it exports none of `build`, `run`, `apply`".into());
    };
    Ok((api_version, world))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(element: &str, parent: Option<u32>, attributes: &[(&str, &str)]) -> Setting {
        Setting {
            element: element.into(),
            parent,
            attributes: (attributes.iter())
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            text: String::new(),
        }
    }

    #[test]
    fn contract_0_1_0_gets_its_container_config_from_the_settings() {
        assert_eq!(ContainerConfig::from_settings(&[]), None);
        let mut settings = vec![
            setting(
                "containerconfig",
                None,
                &[("name", "box"), ("additionalnames", "a:1, ,b")],
            ),
            setting("entrypoint", Some(0), &[("execute", "/bin/sh")]),
            setting("argument", Some(1), &[("name", "-c")]),
            setting("expose", Some(0), &[]),
            setting("port", Some(3), &[("number", " 80 ")]),
            setting("environment", Some(0), &[]),
            setting("env", Some(5), &[("name", "LANG"), ("value", "C")]),
            setting("stopsignal", Some(0), &[]),
            // Another element's children are not the container's.
            setting("vagrantconfig", None, &[("provider", "libvirt")]),
            setting("port", Some(8), &[("number", "22")]),
        ];
        settings[7].text = "SIGINT".into();
        let config = ContainerConfig::from_settings(&settings).unwrap();
        assert_eq!(
            config,
            ContainerConfig {
                name: "box".into(),
                additional_names: vec!["a:1".into(), "b".into()],
                entrypoint: vec!["/bin/sh".into(), "-c".into()],
                expose: vec!["80".into()],
                environment: vec![("LANG".into(), "C".into())],
                stopsignal: Some("SIGINT".into()),
                ..ContainerConfig::default()
            }
        );
    }
}
