//! The command line: `builder plan`, `builder prepare`, `builder create`,
//! `builder run`, `builder lock`, `builder matrix`, `builder gc`, `builder
//! verify`, `builder verify-attestation`, `builder diff`, `builder plugin
//! list|inspect|run|new`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{ArgGroup, Args, Parser, Subcommand};

use crate::create::{self, CreateRequest};
use crate::plugins::{
    Capability, Catalog, DescriptionPlugins, Grants, ImageIdentity, Plugin, PluginRuntime,
    PluginSource, Role, RuntimeLimits,
};

/// Golden OS images from KIWI descriptions; image types, hooks and baselines
/// are sandboxed WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "builder", version, about, long_about = None)]
pub struct Cli {
    /// Cache directory shared between builds: compiled plugins (`plugins/`),
    /// downloaded packages (`packages/`), prepared roots (`roots/`) and
    /// compressed xz chunks (`xz/`). Default: /var/cache/builder as root,
    /// $XDG_CACHE_HOME/builder (~/.cache/builder) without root.
    #[arg(
        long,
        global = true,
        env = "BUILDER_CACHE_DIR",
        default_value_os_t = crate::caches::default_dir(),
        hide_default_value = true
    )]
    pub cache_dir: PathBuf,

    /// A directory `<include>` may reach besides the description directory
    /// (for descriptions that share files with their siblings through a
    /// link such as `platforms -> ../platforms`). Without it, includes that
    /// lead out of the description directory are refused.
    #[arg(long, global = true, value_name = "DIR", env = "BUILDER_INCLUDE_ROOT")]
    pub include_root: Option<PathBuf>,

    /// More log output (-v: debug, -vv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only warnings and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load, validate and resolve a description without building anything.
    Plan(PlanArgs),
    /// Make the image of one type from a prepared root tree (like `kiwi-ng system create`).
    Create(CreateArgs),
    /// Prepare a root tree from a description (like `kiwi-ng system prepare`).
    Prepare(PrepareArgs),
    /// Build the image of a description: prepare + create, with checksums,
    /// package list, SBOMs and a result manifest (like `kiwi-ng system build`).
    Run(RunArgs),
    /// List every buildable variant of descriptions (each profile that
    /// selects an image type), or write the CI pipeline, workflow or
    /// Kubernetes Job that builds them all.
    Matrix(MatrixArgs),
    /// Remove what builds that stopped left behind (work directories,
    /// partial artifacts, half-written cache entries; unmounting what is
    /// mounted below them), then prune the caches by age and size. Every
    /// build does the first part when it starts.
    Gc(GcArgs),
    /// Check a build's provenance: its signature by KEY, and that every
    /// artifact it names is in the directory with the SHA-256 it gives.
    VerifyAttestation(VerifyAttestationArgs),
    /// Rebuild a target directory's image from what its result manifest and
    /// provenance record, and compare every artifact and package list byte
    /// for byte (exit status 1 when any differs).
    Verify(VerifyArgs),
    /// Record every package a description's build installs (name, version,
    /// architecture, SHA-256, repository) and each build repository's
    /// published state in a lock file, for `builder run --locked`. Prepares
    /// the root to know (filling the caches the build then uses).
    Lock(LockArgs),
    /// Compare two builds' target directories: packages added, removed,
    /// upgraded and downgraded, licence changes, the root's files and the
    /// artifacts' sizes (text, --json or --html).
    Diff(DiffArgs),
    /// Publish one build (artifacts, checksums, package list, SBOMs,
    /// provenance, result manifest) to an OCI registry as one artifact; the
    /// SBOMs are attached as its referrers too.
    Push(PushArgs),
    /// Fetch a build `builder push` published into a directory, every file
    /// checked against its digest.
    Pull(PullArgs),
    /// Inspect the available plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

/// `builder verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The directory `builder run` wrote the artifacts, result manifest and
    /// provenance to.
    #[arg(value_name = "TARGET_DIR")]
    pub target_dir: PathBuf,

    /// The description's directory, when it is no longer where the build
    /// read it; its digest must be the one the provenance records.
    #[arg(long, value_name = "DIR")]
    pub description: Option<PathBuf>,

    /// Rebuild from empty caches of its own, as a first build would: what
    /// checks that a cold build gives the same bytes.
    #[arg(long)]
    pub cold: bool,

    /// Keep the rebuild's artifacts in DIR (created if missing); by default
    /// they go to a temporary directory that is removed.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,

    /// Use this mirror for every `host://` repository (as `builder run --mirror`).
    #[arg(long, value_name = "URL", env = "BUILDER_MIRROR")]
    pub mirror: Option<String>,

    /// Rebuild with exactly the packages of this lock file, from the
    /// snapshots it records (as `builder run --locked FILE`).
    #[arg(long, value_name = "FILE")]
    pub locked: Option<PathBuf>,

    #[command(flatten)]
    pub plugin_args: PluginArgs,
}

/// `builder lock`.
#[derive(Debug, Args)]
pub struct LockArgs {
    /// The description directory (with config.xml, image/config.xml, *.kiwi,
    /// or config.yaml/config.json).
    #[arg(value_name = "DESCRIPTION_DIR")]
    pub description: PathBuf,

    /// Where to write the lock file.
    #[arg(long, short = 'o', value_name = "FILE", default_value = crate::packages::lock::DEFAULT_FILE)]
    pub output: PathBuf,

    #[command(flatten)]
    pub build: BuildArgs,

    #[command(flatten)]
    pub plugin_args: PluginArgs,
}

/// `builder push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// The directory `builder run` wrote the build to.
    #[arg(value_name = "TARGET_DIR")]
    pub target_dir: PathBuf,

    /// Where to: `oci://HOST[:PORT]/REPOSITORY:TAG`. Credentials come from
    /// `REGISTRY_AUTH_FILE` or `~/.docker/config.json`.
    #[arg(value_name = "REFERENCE")]
    pub reference: crate::registry::OciLocation,

    /// Plain HTTP instead of TLS; only for a registry on this machine.
    #[arg(long)]
    pub insecure: bool,
}

/// `builder pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// What: `oci://HOST[:PORT]/REPOSITORY:TAG`.
    #[arg(value_name = "REFERENCE")]
    pub reference: crate::registry::OciLocation,

    /// An empty or new directory to put the files in (default: the
    /// repository's last name).
    #[arg(value_name = "TARGET_DIR")]
    pub target_dir: Option<PathBuf>,

    /// Plain HTTP instead of TLS; only for a registry on this machine.
    #[arg(long)]
    pub insecure: bool,
}

/// `builder diff`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("format").args(["json", "html"])))]
pub struct DiffArgs {
    /// The older build's target directory.
    #[arg(value_name = "OLD_DIR")]
    pub old: PathBuf,

    /// The newer build's target directory.
    #[arg(value_name = "NEW_DIR")]
    pub new: PathBuf,

    /// Write the comparison as JSON.
    #[arg(long)]
    pub json: bool,

    /// Write the comparison as one self-contained HTML page, for a reviewer
    /// to open or a merge request to carry.
    #[arg(long)]
    pub html: bool,

    /// Write to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Exit with 1 when the builds differ and 0 when they do not (like
    /// `git diff --exit-code`); trouble reading them exits with 2.
    #[arg(long)]
    pub exit_code: bool,
}

/// The error `builder diff --exit-code` and `builder verify` end with when
/// the builds differ: exit status 1, nothing more printed.
#[derive(Debug, thiserror::Error)]
#[error("the builds differ")]
pub struct BuildsDiffer;

/// The context of every error of `builder diff` and `builder verify`: exit
/// status 2, so that a script tells trouble from differences.
#[derive(Debug, thiserror::Error)]
#[error("builder {0}")]
pub struct Trouble(pub &'static str);

/// `builder verify-attestation`.
#[derive(Debug, Args)]
pub struct VerifyAttestationArgs {
    /// The directory `builder run` wrote the artifacts and their
    /// `*.intoto.jsonl` provenance to.
    #[arg(value_name = "TARGET_DIR")]
    pub target_dir: PathBuf,

    /// The public key (SPKI PEM) the provenance must be signed with.
    #[arg(long, value_name = "PUB.pem")]
    pub key: PathBuf,
}

/// `builder gc`.
#[derive(Debug, Args)]
pub struct GcArgs {
    /// Then remove cache entries, the least recently used first, until the
    /// caches hold at most this much (suffixes K, M, G, T: powers of 1024).
    /// Entries a running build uses are kept.
    #[arg(long, value_name = "SIZE", value_parser = parse_bytes)]
    pub max_size: Option<u64>,

    /// Remove cache entries no build used for more than this many days.
    #[arg(long, value_name = "DAYS")]
    pub max_age: Option<f64>,

    /// Also remove partial artifacts that stopped builds left in this
    /// target directory (repeatable).
    #[arg(long = "target-dir", value_name = "DIR")]
    pub target_dirs: Vec<PathBuf>,
}

/// Options shared by every command that loads plugins.
#[derive(Debug, Args, Clone)]
pub struct PluginArgs {
    /// Load this plugin component too (repeatable; no pin needed). It comes
    /// before a description's plugins; it may not take a built-in plugin's name.
    #[arg(long = "plugin", value_name = "PATH")]
    pub plugins: Vec<PathBuf>,

    /// Most memory one plugin may use, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    pub plugin_memory: usize,

    /// Longest a plugin's build, hook or baseline call may run, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600.0)]
    pub plugin_timeout: f64,

    /// Most walks of the image root one plugin call may have open at once.
    #[arg(
        long,
        value_name = "N",
        env = "BUILDER_PLUGIN_MAX_WALKS",
        default_value_t = 64
    )]
    pub plugin_max_walks: usize,

    /// Most files of the image root one plugin call may have open at once.
    #[arg(
        long,
        value_name = "N",
        env = "BUILDER_PLUGIN_MAX_READERS",
        default_value_t = 256
    )]
    pub plugin_max_readers: usize,

    /// Most artifacts one plugin call may be writing at once.
    #[arg(
        long,
        value_name = "N",
        env = "BUILDER_PLUGIN_MAX_WRITERS",
        default_value_t = 16
    )]
    pub plugin_max_writers: usize,

    /// Most bytes of artifacts one plugin call may write (suffixes K, M, G,
    /// T: powers of 1024); by default the free space of the target
    /// directory's filesystem less 5 % of it (at most 1 GiB).
    #[arg(long, value_name = "BYTES", env = "BUILDER_MAX_ARTIFACT_BYTES", value_parser = parse_bytes)]
    pub max_artifact_bytes: Option<u64>,

    /// Largest disk or filesystem image a plugin may ask for (its size as a
    /// sparse file; suffixes K, M, G, T).
    #[arg(long, value_name = "BYTES", env = "BUILDER_MAX_DISK_BYTES", default_value = "2T", value_parser = parse_bytes)]
    pub max_disk_bytes: u64,

    /// Most bytes one plugin call may log; later messages are dropped
    /// (suffixes K, M, G, T).
    #[arg(long, value_name = "BYTES", env = "BUILDER_PLUGIN_LOG_BYTES", default_value = "1M", value_parser = parse_bytes)]
    pub plugin_log_bytes: u64,

    /// Most lines a plugin may log per second; more are dropped and counted.
    #[arg(
        long,
        value_name = "LINES",
        env = "BUILDER_PLUGIN_LOG_RATE",
        default_value_t = 100
    )]
    pub plugin_log_rate: u32,
}

/// `builder create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The prepared image root tree.
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,

    /// Directory for the artifacts (created if missing).
    #[arg(long, value_name = "DIR")]
    pub target_dir: PathBuf,

    /// Image type to build, as KIWI names it (`tbz`, ...).
    #[arg(long = "type", value_name = "TYPE")]
    pub type_name: String,

    /// Image name used in artifact names.
    #[arg(long, value_name = "NAME", default_value = "image")]
    pub name: String,

    /// Image version used in artifact names.
    #[arg(
        long = "image-version",
        value_name = "VERSION",
        default_value = "1.0.0"
    )]
    pub image_version: String,

    /// Target architecture used in artifact names (defaults to the host's).
    #[arg(long, value_name = "ARCH", default_value = std::env::consts::ARCH)]
    pub arch: String,

    /// A type option, `name=value` (repeatable); `builder plugin inspect TYPE` lists them.
    #[arg(long = "option", short = 'o', value_name = "NAME=VALUE", value_parser = parse_option)]
    pub options: Vec<(String, String)>,

    /// Grant the image-type plugin a capability beyond the defaults
    /// (root-read, artifact-write, compression, filesystems, partitioning,
    /// bootloader, iso); repeatable.
    #[arg(long = "grant", value_name = "CAPABILITY")]
    pub grants: Vec<Capability>,

    /// Size of a filesystem or disk image in MiB (the type's `<size>`);
    /// without it, the tree's size with headroom.
    #[arg(long, value_name = "MIB")]
    pub size: Option<u64>,

    #[command(flatten)]
    pub plugin_args: PluginArgs,
}

/// `builder plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The description directory (with config.xml, image/config.xml, *.kiwi,
    /// or config.yaml/config.json).
    #[arg(value_name = "DESCRIPTION_DIR")]
    pub description: PathBuf,

    /// Select a profile (repeatable); without one, the profiles marked `import="true"`.
    #[arg(long = "profile", value_name = "PROFILE")]
    pub profiles: Vec<String>,

    /// Build this image type instead of the primary one.
    #[arg(long = "type", value_name = "TYPE")]
    pub type_name: Option<String>,

    /// Target architecture (defaults to the host's).
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,

    /// Print the plan as JSON (the form documented in the README).
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub plugin_args: PluginArgs,
}

/// `builder prepare`.
#[derive(Debug, Args)]
pub struct PrepareArgs {
    /// The description directory (with config.xml, image/config.xml, *.kiwi,
    /// or config.yaml/config.json).
    #[arg(value_name = "DESCRIPTION_DIR")]
    pub description: PathBuf,

    /// Where to prepare the root tree: an empty or missing directory.
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,

    #[command(flatten)]
    pub build: BuildArgs,

    #[command(flatten)]
    pub plugin_args: PluginArgs,
}

/// What `prepare` and `run` share: which image, from where, with which caches.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Select a profile (repeatable); without one, the profiles marked `import="true"`.
    #[arg(long = "profile", value_name = "PROFILE")]
    pub profiles: Vec<String>,

    /// Build for this image type instead of the primary one.
    #[arg(long = "type", value_name = "TYPE")]
    pub type_name: Option<String>,

    /// Use this mirror for every `host://` repository instead of the one the
    /// build host's apt is configured with.
    #[arg(long, value_name = "URL", env = "BUILDER_MIRROR")]
    pub mirror: Option<String>,

    /// Read the build repositories from a dated snapshot mirror in the
    /// layout of Debian's snapshot archive (`BASE/archive/ARCHIVE/TIMESTAMP`):
    /// `ALIAS=URL` for one repository, a plain URL for every other one (each
    /// its own ARCHIVE at the same TIMESTAMP). Repeatable. The image keeps
    /// the live repositories in its sources.
    #[arg(long = "snapshot", value_name = "[ALIAS=]URL")]
    pub snapshots: Vec<crate::packages::Snapshot>,

    /// Download every package, neither using nor filling the package cache.
    #[arg(long)]
    pub no_package_cache: bool,

    /// Always bootstrap and install, neither using nor filling the
    /// prepared-root cache.
    #[arg(long)]
    pub no_root_cache: bool,

    /// Share prepared roots through an OCI registry,
    /// `oci://HOST[:PORT]/REPOSITORY`: a root the local cache lacks is
    /// pulled from it, one a build made is pushed to it. Credentials come
    /// from `REGISTRY_AUTH_FILE` or `~/.docker/config.json`. A registry that
    /// cannot be reached costs the cache, not the build.
    #[arg(long, value_name = "OCI_URL", env = "BUILDER_CACHE_REMOTE")]
    pub cache_remote: Option<crate::registry::OciLocation>,

    /// Reach the remote cache over plain HTTP (a registry on this machine
    /// only).
    #[arg(long, env = "BUILDER_CACHE_REMOTE_INSECURE")]
    pub cache_remote_insecure: bool,
}

impl BuildArgs {
    /// The remote cache, unless the root cache is off.
    fn remote(&self) -> Option<crate::caches::remote::RemoteSpec> {
        let location = self.cache_remote.clone().filter(|_| !self.no_root_cache)?;
        Some(crate::caches::remote::RemoteSpec {
            location,
            insecure: self.cache_remote_insecure,
        })
    }

    fn plan_request(&self) -> crate::plan::PlanRequest {
        crate::plan::PlanRequest {
            profiles: self.profiles.clone(),
            image_type: self.type_name.clone(),
            arch: None,
        }
    }
}

/// `builder run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The description directory (with config.xml, image/config.xml, *.kiwi,
    /// or config.yaml/config.json). With --variant, one or more, read as
    /// `builder matrix` reads them.
    #[arg(value_name = "DESCRIPTION_DIR", required = true)]
    pub descriptions: Vec<PathBuf>,

    /// Build the variant N (from 0) of `builder matrix DESCRIPTION_DIR...
    /// --list`, with the same --profile and --type filters.
    #[arg(long, value_name = "N")]
    pub variant: Option<usize>,

    /// Directory for the artifacts and the result manifest (created if missing).
    #[arg(long, value_name = "DIR")]
    pub target_dir: PathBuf,

    /// Prepare the root here (must be empty or missing) and keep it;
    /// by default a temporary directory under /var/tmp is used and removed.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// On a prepared-root cache miss, how much memory the root may be
    /// prepared in (then stored in the cache while the image is made):
    /// `auto` (half the memory available, if that holds 2 GiB), `off`, or a
    /// size such as `8G`. A root that outgrows it is prepared again on disk.
    #[arg(
        long,
        value_name = "auto|off|SIZE",
        env = "BUILDER_MEMORY_ROOT",
        default_value = "auto"
    )]
    pub memory_root: crate::prepare::memory::MemoryBudget,

    /// Sign the provenance (`*.intoto.jsonl`) with this private key: Ed25519
    /// or ECDSA P-256, PEM (PKCS#8 or SEC1). Without it the provenance is
    /// written unsigned.
    #[arg(long, value_name = "KEY.pem", env = "BUILDER_SIGNING_KEY")]
    pub signing_key: Option<PathBuf>,

    /// Install exactly the packages of this lock file (default
    /// `builder.lock`), from the snapshots it records unless --snapshot is
    /// given; stop and list every package that drifted, before anything is
    /// installed when the repositories tell, else before the image is made.
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = crate::packages::lock::DEFAULT_FILE)]
    pub locked: Option<PathBuf>,

    #[command(flatten)]
    pub build: BuildArgs,

    #[command(flatten)]
    pub plugin_args: PluginArgs,
}

/// `builder matrix`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("output_kind").required(true).args(["list", "emit", "run"])))]
pub struct MatrixArgs {
    /// Description directories (with config.xml, image/config.xml, *.kiwi,
    /// or config.yaml/config.json); their variants are listed in this order.
    #[arg(value_name = "DESCRIPTION_DIR", required = true)]
    pub descriptions: Vec<PathBuf>,

    /// Only the variants of this profile (repeatable); without it, every
    /// profile that selects a type.
    #[arg(long = "profile", value_name = "PROFILE")]
    pub profiles: Vec<String>,

    /// This image type instead of each selection's primary one; profiles
    /// without it are left out.
    #[arg(long = "type", value_name = "TYPE")]
    pub type_name: Option<String>,

    /// Print the variants, one a line: index, description, profiles, type.
    #[arg(long)]
    pub list: bool,

    /// With --list: print a JSON array instead.
    #[arg(long, requires = "list")]
    pub json: bool,

    /// Write the document that builds every variant: a GitLab CI child
    /// pipeline, a GitHub Actions workflow or a Kubernetes Indexed Job.
    #[arg(long, value_enum, value_name = "gitlab|github|kubernetes")]
    pub emit: Option<crate::matrix::emit::Target>,

    /// Write the document to this file instead of standard output.
    #[arg(long, value_name = "FILE", requires = "emit")]
    pub output: Option<PathBuf>,

    /// The container image of the Kubernetes Job: one with builder and the
    /// descriptions (relative paths are read from its working directory).
    #[arg(long, value_name = "IMAGE", default_value = "builder")]
    pub image: String,

    /// Build every variant on this machine, --jobs at a time, each into
    /// TARGET_DIR/<index-description-profiles-type>/ with its log beside
    /// it. Variants that prepare the same root wait for the first of them:
    /// the root is prepared once.
    #[arg(long, requires = "target_dir")]
    pub run: bool,

    /// With --run: how many builds run at once.
    #[arg(long, value_name = "N", default_value_t = 2, requires = "run")]
    pub jobs: usize,

    /// With --run: where the variants' directories and logs go.
    #[arg(long, value_name = "DIR", requires = "run")]
    pub target_dir: Option<PathBuf>,

    /// With --run: the mirror for every `host://` repository (as `builder
    /// run --mirror`).
    #[arg(long, value_name = "URL", env = "BUILDER_MIRROR", requires = "run")]
    pub mirror: Option<String>,
}

impl MatrixArgs {
    fn request(&self) -> crate::matrix::MatrixRequest {
        crate::matrix::MatrixRequest {
            descriptions: self.descriptions.clone(),
            profiles: self.profiles.clone(),
            image_type: self.type_name.clone(),
        }
    }
}

/// `builder plugin ...`.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// List every available plugin: built in, and given with --plugin.
    List {
        #[command(flatten)]
        plugin_args: PluginArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one plugin's contract version, role, capabilities and options.
    Inspect {
        /// A plugin name, or the path of a component file.
        plugin: String,
        #[command(flatten)]
        plugin_args: PluginArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run a hook (at one stage) or apply a baseline over a root directory,
    /// then carry out the root changes it asks for there (`--dry-run`: print
    /// them as JSON lines and change nothing). For trying a plugin out.
    Run {
        /// A plugin name, or the path of a component file.
        plugin: String,
        /// The root directory to run over.
        #[arg(long, value_name = "DIR")]
        root: PathBuf,
        /// The stage to run a hook at [default: the first it serves].
        #[arg(long, value_name = "STAGE")]
        stage: Option<String>,
        /// A plugin option (repeatable).
        #[arg(long = "option", value_name = "NAME=VALUE", value_parser = parse_option)]
        options: Vec<(String, String)>,
        /// Grant a capability (repeatable); nothing is granted by default.
        #[arg(long = "grant", value_name = "CAPABILITY")]
        grants: Vec<crate::plugins::Capability>,
        /// The distribution family [default: from the root's /etc/os-release].
        #[arg(long, value_enum, value_name = "FAMILY")]
        family: Option<FamilyArg>,
        /// Print the requested changes as JSON lines instead of carrying them out.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        plugin_args: PluginArgs,
    },
    /// Scaffold a plugin crate that builds into a component and tests itself
    /// against this `builder` (`cargo test`).
    New {
        /// The plugin's world.
        #[arg(long, value_enum, value_name = "KIND")]
        kind: crate::scaffold::PluginKind,
        /// The plugin's name (`[a-z0-9-]+`, starting with a letter): its crate
        /// name and the name users see.
        name: String,
        /// A new or empty directory for the crate [default: ./NAME].
        dir: Option<PathBuf>,
    },
}

/// A distribution family on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FamilyArg {
    /// Debian, Ubuntu.
    Debian,
    /// RHEL, CentOS, Fedora.
    Rhel,
    /// SUSE.
    Suse,
}

impl From<FamilyArg> for crate::plugins::Family {
    fn from(f: FamilyArg) -> Self {
        match f {
            FamilyArg::Debian => crate::plugins::Family::Debian,
            FamilyArg::Rhel => crate::plugins::Family::Rhel,
            FamilyArg::Suse => crate::plugins::Family::Suse,
        }
    }
}

/// `builder plugin new`: write the crate and say what to do next.
fn run_plugin_new(
    kind: crate::scaffold::PluginKind,
    name: &str,
    dir: Option<&Path>,
) -> anyhow::Result<()> {
    let dir = dir.map_or_else(|| PathBuf::from(name), Path::to_path_buf);
    // The errors name the plugin name or the directory already.
    let done = crate::scaffold::scaffold(kind, name, &dir)?;
    println!("created {kind} plugin `{name}` in {}:", done.dir.display());
    for file in done.files.iter().filter(|f| !f.starts_with("vendor")) {
        println!("  {}", file.display());
    }
    println!("  vendor/  (the builder SDK and the WIT contract it is built against)");
    let builder = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "builder".into());
    println!("next:");
    println!("  cd {}", done.dir.display());
    println!("  ./build-plugin .                 # compile the component, print its path");
    println!("  BUILDER={builder} cargo test");
    Ok(())
}

/// A byte count: digits with an optional suffix K, M, G or T (KiB, MiB,
/// GiB, TiB; `MiB`, `GiB`... and `KB`... are read the same).
fn parse_bytes(s: &str) -> Result<u64, String> {
    let text = s.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(digits);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a number of bytes"))?;
    let shift = match suffix.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(format!("`{s}`: unknown unit (K, M, G or T)")),
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("`{s}` is too large"))
}

fn parse_option(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("`{s}` is not NAME=VALUE"))
}

/// What the user can do about `error`, when its cause is one of the
/// operating system's errors that have a usual remedy.
pub fn hint(error: &anyhow::Error) -> Option<String> {
    // An OS error that crossed a plugin's boundary arrives as text.
    let kind = match error
        .chain()
        .find_map(|e| e.downcast_ref::<std::io::Error>())
    {
        Some(io) => io.kind(),
        None => {
            let text = format!("{error:#}");
            let (_, code) = text.rsplit_once("(os error ")?;
            let code: i32 = code.split(')').next()?.parse().ok()?;
            std::io::Error::from_raw_os_error(code).kind()
        }
    };
    let tmp = crate::rootfs::command::temp_root();
    Some(match kind {
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => format!(
            "a filesystem is full: free space where the target directory, the cache \
             (--cache-dir) or the work directories ({}, set by {}) lie, or move them",
            tmp.display(),
            crate::rootfs::command::TEMP_DIR_VAR
        ),
        std::io::ErrorKind::ReadOnlyFilesystem => {
            "the path lies on a read-only filesystem: choose a writable one".to_string()
        }
        std::io::ErrorKind::PermissionDenied => {
            "builder needs root (or a user namespace that maps it) and write access to the \
             target, cache and work directories"
                .to_string()
        }
        _ => return None,
    })
}

/// Whether the command line asks for a command that prepares, creates or
/// sweeps roots: one that an unprivileged user runs as root of a user
/// namespace of its own ([`crate::rootfs::userns`]). A command line that
/// does not parse is left to [`run`] to report.
pub fn works_on_roots() -> bool {
    Cli::try_parse().is_ok_and(|cli| {
        matches!(
            cli.command,
            Command::Run(_)
                | Command::Prepare(_)
                | Command::Create(_)
                | Command::Lock(_)
                | Command::Verify(_)
                | Command::Gc(_)
        )
    })
}

/// Parse the command line and run it.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(root) = &cli.include_root {
        // every load of the description (plan, and again in the run)
        // reads it from there; no other thread runs yet
        std::env::set_var(crate::description::INCLUDE_ROOT_VAR, root);
    }
    init_logging(cli.verbose, cli.quiet);
    crate::interrupt::install().context("installing the Ctrl-C handler")?;
    let builds = matches!(
        cli.command,
        Command::Prepare(_) | Command::Run(_) | Command::Create(_) | Command::Lock(_)
    );
    if builds && !cli.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        crate::progress::enable();
    }
    let result = run_command(&cli);
    crate::progress::finish();
    result
}

fn run_command(cli: &Cli) -> anyhow::Result<()> {
    // A build starts by sweeping what stopped ones left.
    let target_dir = match &cli.command {
        Command::Create(args) => Some(Some(args.target_dir.as_path())),
        Command::Run(args) => Some(Some(args.target_dir.as_path())),
        Command::Prepare(_) | Command::Verify(_) | Command::Lock(_) => Some(None),
        _ => None,
    };
    if let Some(target_dir) = target_dir {
        crate::caches::private_dir(&cli.cache_dir)?;
        crate::caches::sweep::at_startup(&cli.cache_dir, target_dir);
        // Roots are prepared below the temporary directory and kept in the
        // root cache: reads there must not change an image's bytes.
        let roots = cli.cache_dir.join(crate::caches::ROOTS);
        if crate::caches::private_dir(&roots).is_ok() {
            crate::rootfs::mounts::keep_access_times(&[
                &crate::rootfs::command::temp_root(),
                &roots,
            ]);
        }
    }
    match &cli.command {
        Command::Plan(args) => run_plan(cli, args),
        Command::Create(args) => run_create(cli, args),
        Command::Prepare(args) => run_prepare(cli, args),
        Command::Run(args) => run_run(cli, args),
        Command::Matrix(args) => run_matrix(cli, args),
        Command::Gc(args) => run_gc(cli, args),
        Command::VerifyAttestation(args) => run_verify_attestation(args),
        Command::Diff(args) => run_diff(args),
        Command::Push(args) => run_push(args),
        Command::Pull(args) => run_pull(args),
        Command::Verify(args) => run_verify(cli, args),
        Command::Lock(args) => run_lock(cli, args),
        Command::Plugin(PluginCommand::List { plugin_args, json }) => {
            let (_, plugins) = load_plugins(cli, plugin_args)?;
            print_list(&plugins, *json)
        }
        Command::Plugin(PluginCommand::Inspect {
            plugin,
            plugin_args,
            json,
        }) => {
            let (_, found) = find_plugin(cli, plugin, plugin_args)?;
            print_inspect(&found, *json)
        }
        Command::Plugin(PluginCommand::Run {
            plugin,
            root,
            stage,
            options,
            grants,
            family,
            dry_run,
            plugin_args,
        }) => {
            let (runtime, found) = find_plugin(cli, plugin, plugin_args)?;
            crate::plugins::stages::try_plugin(
                &runtime,
                &found,
                &crate::plugins::stages::TryRequest {
                    root: root.clone(),
                    stage: stage.clone(),
                    options: options.clone(),
                    grants: grants.iter().copied().collect(),
                    family: family.map(Into::into),
                    dry_run: *dry_run,
                },
            )
        }
        Command::Plugin(PluginCommand::New { kind, name, dir }) => {
            run_plugin_new(*kind, name, dir.as_deref())
        }
    }
}

fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("BUILDER_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("warn,builder={level},plugin={level}"))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::progress::LogWriter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .init();
}

/// The plugin `plugin` names: a component file (a path), loaded alone
/// (whatever its name: it replaces nothing), or a name among the available
/// ones.
fn find_plugin(
    cli: &Cli,
    plugin: &str,
    plugin_args: &PluginArgs,
) -> anyhow::Result<(PluginRuntime, Plugin)> {
    let as_path = Path::new(plugin);
    let by_path = plugin.ends_with(".wasm") || plugin.contains('/');
    if by_path {
        if !as_path.is_file() {
            bail!("{plugin}: no such plugin file");
        }
        let runtime = plugin_runtime(cli, plugin_args)?;
        let bytes = std::fs::read(as_path).with_context(|| format!("reading {plugin}"))?;
        let found = runtime.load(&bytes, PluginSource::File(as_path.to_path_buf()))?;
        return Ok((runtime, found));
    }
    let (runtime, plugins) = load_plugins(cli, plugin_args)?;
    let names: Vec<_> = plugins.iter().map(|p| p.info.name.clone()).collect();
    match plugins.into_iter().find(|p| p.info.name == plugin) {
        Some(found) => Ok((runtime, found)),
        None => bail!(
            "no plugin named `{plugin}` (available: {})",
            names.join(", ")
        ),
    }
}

/// The runtime and every plugin of the catalog, loaded and described.
pub fn load_plugins(cli: &Cli, args: &PluginArgs) -> anyhow::Result<(PluginRuntime, Vec<Plugin>)> {
    load_plugins_from(cli, args, &[])
}

/// Like [`load_plugins`], with `plugins/` folders (next to a description)
/// searched too: only the files their description pins load.
pub fn load_plugins_from(
    cli: &Cli,
    args: &PluginArgs,
    dirs: &[DescriptionPlugins],
) -> anyhow::Result<(PluginRuntime, Vec<Plugin>)> {
    let runtime = plugin_runtime(cli, args)?;
    let catalog = Catalog::discover(&args.plugins, dirs).context("finding plugins")?;
    let plugins = runtime.load_catalog(&catalog)?;
    Ok((runtime, plugins))
}

/// The plugin runtime, with the compiled-plugin cache and `args`' limits.
fn plugin_runtime(cli: &Cli, args: &PluginArgs) -> anyhow::Result<PluginRuntime> {
    let limits = RuntimeLimits {
        memory_bytes: args.plugin_memory << 20,
        call_timeout: Duration::from_secs_f64(args.plugin_timeout.max(0.05)),
        max_open_walks: args.plugin_max_walks,
        max_open_readers: args.plugin_max_readers,
        max_open_writers: args.plugin_max_writers,
        max_artifact_bytes: args.max_artifact_bytes,
        max_disk_bytes: args.max_disk_bytes,
        max_log_bytes: args.plugin_log_bytes,
        max_log_lines_per_second: args.plugin_log_rate,
        ..RuntimeLimits::default()
    };
    PluginRuntime::new(Some(&cli.cache_dir.join("plugins")), limits)
}

fn run_plan(cli: &Cli, args: &PlanArgs) -> anyhow::Result<()> {
    let description = crate::description::load(&args.description)?;
    let request = crate::plan::PlanRequest {
        profiles: args.profiles.clone(),
        image_type: args.type_name.clone(),
        arch: args.arch.clone(),
    };
    let mut plan = crate::plan::plan(&description, &request)?;
    let plugin_dir = DescriptionPlugins::new(&plan.description_dir, &description.plugins);
    let (runtime, plugins) = load_plugins_from(cli, &args.plugin_args, &[plugin_dir])?;
    crate::plugins::select::attach(&mut plan, &runtime, &plugins)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        println!("{plan}");
    }
    Ok(())
}

fn run_prepare(cli: &Cli, args: &PrepareArgs) -> anyhow::Result<()> {
    let description = crate::description::load(&args.description)?;
    let plan = crate::plan::plan(&description, &args.build.plan_request())?;
    let plugin_dir = DescriptionPlugins::new(&plan.description_dir, &description.plugins);
    let (runtime, plugins) = load_plugins_from(cli, &args.plugin_args, &[plugin_dir])?;
    let selected = crate::plugins::select::select(
        &runtime,
        &plugins,
        &plan,
        crate::plugins::select::Purpose::Prepare,
    )?;
    let pipeline = crate::plugins::PipelinePlugins::new(&runtime, &selected, &plan)?;
    let started = std::time::Instant::now();
    let report = crate::prepare::prepare(
        &plan,
        &crate::prepare::PrepareRequest {
            root: args.root.clone(),
            mirror: crate::packages::MirrorOverride(args.build.mirror.clone()),
            snapshots: args.build.snapshots.clone(),
            lock: crate::packages::lock::LockMode::Off,
            package_cache: package_cache(cli, args.build.no_package_cache),
            root_cache: root_cache(cli, args.build.no_root_cache),
            layer_dir: None,
            // The root outlives the build: never a tmpfs.
            memory_root: crate::prepare::memory::MemoryBudget::Off,
            remote: args.build.remote(),
        },
        &pipeline,
    )
    .with_context(|| format!("preparing {} into {}", plan.name, args.root.display()));
    crate::progress::finish();
    let mut report = report?;
    if let Some(took) = report.share_root() {
        report.phases.push(("share-root".to_string(), took));
    }
    for (phase, took) in &report.phases {
        tracing::info!("{phase}: {:.1}s", took.as_secs_f64());
    }
    println!(
        "{} prepared in {:.1}s",
        report.root.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `builder lock`: prepare the root in a work directory of its own (with
/// the caches a build uses) and record what it holds.
fn run_lock(cli: &Cli, args: &LockArgs) -> anyhow::Result<()> {
    let description = crate::description::load(&args.description)?;
    let plan = crate::plan::plan(&description, &args.build.plan_request())?;
    let plugin_dir = DescriptionPlugins::new(&plan.description_dir, &description.plugins);
    let (runtime, plugins) = load_plugins_from(cli, &args.plugin_args, &[plugin_dir])?;
    let selected = crate::plugins::select::select(
        &runtime,
        &plugins,
        &plan,
        crate::plugins::select::Purpose::Prepare,
    )?;
    let pipeline = crate::plugins::PipelinePlugins::new(&runtime, &selected, &plan)?;
    let description_sha256 = crate::provenance::description_digest(&plan.description_dir)?;
    let work =
        crate::rootfs::command::temp_dir().context("creating a work directory in /var/tmp")?;
    let report = crate::prepare::prepare(
        &plan,
        &crate::prepare::PrepareRequest {
            root: work.path().join("root"),
            mirror: crate::packages::MirrorOverride(args.build.mirror.clone()),
            snapshots: args.build.snapshots.clone(),
            lock: crate::packages::lock::LockMode::Record,
            package_cache: package_cache(cli, args.build.no_package_cache),
            root_cache: root_cache(cli, args.build.no_root_cache),
            layer_dir: Some(work.path().join("layer")),
            memory_root: crate::prepare::memory::MemoryBudget::Auto,
            remote: args.build.remote(),
        },
        &pipeline,
    )
    .with_context(|| format!("locking {}", plan.name));
    crate::progress::finish();
    let mut report = report?;
    let lock = crate::packages::lock::Lock::new(
        &plan,
        description_sha256,
        std::mem::take(&mut report.repositories),
        std::mem::take(&mut report.installed),
    );
    drop(report);
    lock.write(&args.output)?;
    let digests = lock.packages.iter().filter(|p| p.sha256.is_some()).count();
    println!(
        "{}: {} packages ({digests} with their SHA-256) from {} repositories",
        args.output.display(),
        lock.packages.len(),
        lock.repositories.len()
    );
    Ok(())
}

/// `builder gc`: sweep, prune, say what went.
fn run_gc(cli: &Cli, args: &GcArgs) -> anyhow::Result<()> {
    use crate::caches::gc::{ago, human, Why};
    crate::caches::private_dir(&cli.cache_dir)?;
    let max_age = match args.max_age {
        Some(days) if !(days >= 0.0 && days.is_finite()) => {
            bail!("--max-age {days}: expected a number of days, 0 or more")
        }
        Some(days) => Some(Duration::from_secs_f64(days * 86400.0)),
        None => None,
    };
    let report = crate::caches::gc::gc(&crate::caches::gc::GcRequest {
        cache_dir: cli.cache_dir.clone(),
        temp_root: crate::rootfs::command::temp_root(),
        target_dirs: args.target_dirs.clone(),
        max_age,
        max_size: args.max_size,
    });
    for leftover in &report.leftovers {
        let owner = match leftover.owner {
            Some(pid) => format!("process {pid}, which is gone"),
            None => "a build that stopped".into(),
        };
        let unmounted = match leftover.unmounted.len() {
            0 => String::new(),
            n => format!("; unmounted {n} mount(s) below it"),
        };
        println!(
            "removed {} ({}): left by {owner}{unmounted}",
            leftover.path.display(),
            human(leftover.bytes)
        );
    }
    for pruned in &report.pruned {
        let why = match pruned.why {
            Why::Age => "older than --max-age",
            Why::Size => "over --max-size",
        };
        println!(
            "removed {} ({}): unused for {}, {why}",
            pruned.path.display(),
            human(pruned.bytes),
            ago(pruned.unused)
        );
    }
    for path in &report.in_use {
        println!("kept {}: a running build uses it", path.display());
    }
    println!(
        "freed {} ({} removed); the caches in {} hold {}",
        human(report.freed()),
        report.leftovers.len() + report.pruned.len(),
        cli.cache_dir.display(),
        human(report.remaining)
    );
    Ok(())
}

/// The package cache directory, unless switched off.
fn package_cache(cli: &Cli, off: bool) -> Option<PathBuf> {
    (!off).then(|| cli.cache_dir.join("packages"))
}

/// Where compressed xz chunks are kept.
fn xz_cache(cli: &Cli) -> PathBuf {
    cli.cache_dir.join("xz")
}

/// The prepared-root cache directory, unless switched off.
fn root_cache(cli: &Cli, off: bool) -> Option<PathBuf> {
    (!off).then(|| cli.cache_dir.join("roots"))
}

/// `builder matrix`: the variants listed, or the document that builds them.
fn run_matrix(cli: &Cli, args: &MatrixArgs) -> anyhow::Result<()> {
    let request = args.request();
    let variants = crate::matrix::variants(&request)?;
    if args.list {
        if args.json {
            println!("{}", serde_json::to_string_pretty(&variants)?);
        } else {
            for variant in &variants {
                println!("{}", variant.list_line());
            }
        }
        return Ok(());
    }
    if args.run {
        return run_fleet(cli, args, &variants);
    }
    let Some(target) = args.emit else {
        bail!("--list, --emit or --run is needed");
    };
    let options = crate::matrix::emit::EmitOptions {
        request,
        include_root: cli.include_root.clone(),
        image: args.image.clone(),
    };
    let text = crate::matrix::emit::emit(target, &variants, &options)
        .context("writing the document as YAML")?;
    match &args.output {
        Some(file) => {
            std::fs::write(file, text).with_context(|| format!("writing {}", file.display()))
        }
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// `builder matrix --run`: every variant built here, a line for each as it
/// finishes, a summary, and failure when any failed.
fn run_fleet(
    cli: &Cli,
    args: &MatrixArgs,
    variants: &[crate::matrix::Variant],
) -> anyhow::Result<()> {
    let target_dir = args
        .target_dir
        .clone()
        .context("--run needs --target-dir")?;
    let mut global_args = vec![
        "--cache-dir".to_string(),
        cli.cache_dir.display().to_string(),
    ];
    if let Some(root) = &cli.include_root {
        global_args.push("--include-root".into());
        global_args.push(root.display().to_string());
    }
    let request = crate::matrix::fleet::FleetRequest {
        program: std::env::current_exe().context("finding the builder program")?,
        global_args,
        run_args: match &args.mirror {
            Some(mirror) => vec!["--mirror".into(), mirror.clone()],
            None => Vec::new(),
        },
        target_dir: target_dir.clone(),
        jobs: args.jobs,
    };
    let started = std::time::Instant::now();
    eprintln!(
        "matrix: {} variants, {} at a time, into {}",
        variants.len(),
        args.jobs.max(1),
        target_dir.display()
    );
    let outcomes = crate::matrix::fleet::run(variants, &request, |variant, outcome| {
        let dir = target_dir.join(&outcome.slug);
        if outcome.built {
            println!("built   {:>7.1}s  {}", outcome.seconds, dir.display());
        } else {
            println!(
                "FAILED  {:>7.1}s  {} (log: {})",
                outcome.seconds,
                variant.list_line(),
                crate::matrix::fleet::log_of(&target_dir, &outcome.slug).display()
            );
        }
    })?;
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.built)
        .map(|o| o.slug.as_str())
        .collect();
    println!(
        "{} of {} variants built in {:.1}s",
        outcomes.len() - failed.len(),
        outcomes.len(),
        started.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        bail!(
            "{} variant{} failed: {} (each log is beside its directory)",
            failed.len(),
            if failed.len() == 1 { "" } else { "s" },
            failed.join(", ")
        );
    }
    Ok(())
}

/// The description and the selection `builder run` builds: the one
/// description with the command line's profiles and type, or the variant
/// `--variant` names.
fn run_selection(args: &RunArgs) -> anyhow::Result<(PathBuf, crate::plan::PlanRequest)> {
    if let Some(index) = args.variant {
        let request = crate::matrix::MatrixRequest {
            descriptions: args.descriptions.clone(),
            profiles: args.build.profiles.clone(),
            image_type: args.build.type_name.clone(),
        };
        let variant = crate::matrix::variant(&request, index)?;
        tracing::info!("variant {}", variant.list_line());
        let plan = crate::plan::PlanRequest {
            profiles: variant.profiles,
            image_type: Some(variant.image_type.image),
            arch: None,
        };
        return Ok((variant.description, plan));
    }
    match args.descriptions.as_slice() {
        [one] => Ok((one.clone(), args.build.plan_request())),
        many => bail!(
            "{} descriptions given: build one of their variants with --variant N \
             (`builder matrix DESCRIPTION_DIR... --list` lists them)",
            many.len()
        ),
    }
}

fn run_run(cli: &Cli, args: &RunArgs) -> anyhow::Result<()> {
    let (description_dir, plan) = run_selection(args)?;
    // Its pins decide which files of its `plugins/` folder may load.
    let description = crate::description::load(&description_dir)?;
    let plugin_dir = DescriptionPlugins::new(&description.dir, &description.plugins);
    let (runtime, plugins) = load_plugins_from(cli, &args.plugin_args, &[plugin_dir])?;
    // A key that cannot sign stops the build before anything is installed.
    let signing_key = args
        .signing_key
        .as_deref()
        .map(crate::provenance::keys::SigningKey::from_pem_file)
        .transpose()?
        .map(std::sync::Arc::new);
    let request = crate::run::RunRequest {
        description: description_dir,
        target_dir: args.target_dir.clone(),
        plan,
        mirror: crate::packages::MirrorOverride(args.build.mirror.clone()),
        snapshots: args.build.snapshots.clone(),
        locked: args
            .locked
            .as_deref()
            .map(crate::packages::lock::Lock::read)
            .transpose()?
            .map(std::sync::Arc::new),
        package_cache: package_cache(cli, args.build.no_package_cache),
        root_cache: root_cache(cli, args.build.no_root_cache),
        xz_cache: Some(xz_cache(cli)),
        root: args.root.clone(),
        source_date_epoch: create::source_date_epoch_from_env()?,
        memory_root: args.memory_root,
        remote: args.build.remote(),
        signing_key,
    };
    let result = crate::run::run(&runtime, &plugins, &request);
    crate::progress::finish();
    let result = result?;
    print_artifacts(&args.target_dir, &result.artifacts);
    if let Some(sbom) = &result.sbom {
        for file in &sbom.files {
            println!("{}", args.target_dir.join(file).display());
        }
    }
    if let Some(provenance) = &result.provenance {
        println!("{}", args.target_dir.join(provenance).display());
    }
    println!("{}", args.target_dir.join("builder.result.json").display());
    Ok(())
}

fn run_verify_attestation(args: &VerifyAttestationArgs) -> anyhow::Result<()> {
    let key = crate::provenance::keys::VerifyingKey::from_pem_file(&args.key)?;
    let checked = crate::provenance::verify(&args.target_dir, &key)?;
    for subject in &checked {
        println!("ok  {}  {}", subject.sha256, subject.name);
    }
    println!(
        "{} files match the provenance signed by {} ({})",
        checked.len(),
        key.keyid(),
        key.scheme()
    );
    Ok(())
}

fn run_verify(cli: &Cli, args: &VerifyArgs) -> anyhow::Result<()> {
    let (verdicts, rebuilt_in) = (|| -> anyhow::Result<_> {
        let rebuild = crate::verify::plan_rebuild(&args.target_dir, args.description.as_deref())?;
        // The whole rebuild sees the recorded epoch, as the build did: the
        // prepare phase and the programs it runs read it from the
        // environment. Set before the plugin runtime starts its threads.
        match rebuild.source_date_epoch {
            Some(epoch) => std::env::set_var("SOURCE_DATE_EPOCH", epoch.to_string()),
            None => std::env::remove_var("SOURCE_DATE_EPOCH"),
        }
        let description = crate::description::load(&rebuild.description)?;
        let plugin_dir = DescriptionPlugins::new(&description.dir, &description.plugins);
        let (runtime, plugins) = load_plugins_from(cli, &args.plugin_args, &[plugin_dir])?;
        let scratch = tempfile::Builder::new()
            .prefix("builder-verify-")
            .tempdir_in("/var/tmp")
            .context("creating the rebuild's directory in /var/tmp")?;
        let target_dir = args
            .keep
            .clone()
            .unwrap_or_else(|| scratch.path().join("out"));
        let caches = scratch.path().join("caches");
        let (package_cache, root_cache, xz) = if args.cold {
            (
                caches.join("packages"),
                caches.join("roots"),
                caches.join("xz"),
            )
        } else {
            (
                package_cache(cli, false).expect("on"),
                root_cache(cli, false).expect("on"),
                xz_cache(cli),
            )
        };
        eprintln!(
            "verify: rebuilding {} ({}) {}",
            rebuild.description.display(),
            rebuild.plan.image_type.as_deref().unwrap_or_default(),
            if args.cold {
                "from empty caches"
            } else {
                "with the caches"
            }
        );
        let request = crate::run::RunRequest {
            description: rebuild.description.clone(),
            target_dir: target_dir.clone(),
            plan: rebuild.plan.clone(),
            mirror: crate::packages::MirrorOverride(args.mirror.clone()),
            snapshots: Vec::new(),
            locked: args
                .locked
                .as_deref()
                .map(crate::packages::lock::Lock::read)
                .transpose()?
                .map(std::sync::Arc::new),
            package_cache: Some(package_cache),
            root_cache: Some(root_cache),
            xz_cache: Some(xz),
            root: None,
            source_date_epoch: rebuild.source_date_epoch,
            memory_root: crate::prepare::memory::MemoryBudget::Auto,
            // A rebuild checks what this machine makes.
            remote: None,
            signing_key: None,
        };
        let result = crate::run::run(&runtime, &plugins, &request);
        crate::progress::finish();
        result.context("the rebuild")?;
        let verdicts = crate::verify::compare(&args.target_dir, &target_dir, &rebuild.files);
        let kept = args.keep.as_ref().map(|dir| dir.display().to_string());
        Ok((verdicts, kept))
    })()
    .context(Trouble("verify"))?;
    let mut identical = 0;
    for (name, verdict) in &verdicts {
        match verdict {
            crate::verify::Verdict::Identical => {
                identical += 1;
                println!("identical  {name}");
            }
            crate::verify::Verdict::Differs(lines) => {
                println!("differs    {name}");
                for line in lines {
                    println!("           {line}");
                }
            }
            crate::verify::Verdict::Missing(why) => println!("missing    {name} ({why})"),
        }
    }
    println!(
        "{identical} of {} files identical{}",
        verdicts.len(),
        rebuilt_in
            .map(|dir| format!("; the rebuild is in {dir}"))
            .unwrap_or_default()
    );
    if identical != verdicts.len() {
        return Err(BuildsDiffer.into());
    }
    Ok(())
}

fn run_push(args: &PushArgs) -> anyhow::Result<()> {
    let pushed = crate::registry::artifact::push(&args.target_dir, &args.reference, args.insecure)?;
    for (name, digest) in &pushed.files {
        println!("{digest}  {name}");
    }
    println!("pushed {}@{}", args.reference, pushed.digest);
    if !pushed.referrers.is_empty() {
        println!("SBOM referrers: {}", pushed.referrers.join(", "));
    }
    Ok(())
}

fn run_pull(args: &PullArgs) -> anyhow::Result<()> {
    let target = args
        .target_dir
        .clone()
        .unwrap_or_else(|| crate::registry::artifact::default_pull_dir(&args.reference));
    let names = crate::registry::artifact::pull(&args.reference, &target, args.insecure)?;
    println!("pulled {} files into {}", names.len(), target.display());
    Ok(())
}

fn run_diff(args: &DiffArgs) -> anyhow::Result<()> {
    let report = (|| -> anyhow::Result<crate::diff::Report> {
        let old = crate::diff::Build::read(&args.old)?;
        let new = crate::diff::Build::read(&args.new)?;
        let report = crate::diff::compare(&old, &new);
        let text = if args.json {
            let mut json = serde_json::to_string_pretty(&report)?;
            json.push('\n');
            json
        } else if args.html {
            crate::diff::html(&report)
        } else {
            crate::diff::text(&report)
        };
        match &args.output {
            Some(path) => {
                let dir = match path.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p,
                    _ => Path::new("."),
                };
                let name = path
                    .file_name()
                    .with_context(|| format!("--output {}: not a file name", path.display()))?;
                crate::toolbox::artifacts::write_file(
                    dir,
                    &name.to_string_lossy(),
                    text.as_bytes(),
                )
                .with_context(|| format!("writing {}", path.display()))?;
            }
            None => {
                use std::io::Write as _;
                let mut stdout = std::io::stdout().lock();
                stdout
                    .write_all(text.as_bytes())
                    .and_then(|()| stdout.flush())
                    .context("writing to standard output")?;
            }
        }
        Ok(report)
    })()
    .context(Trouble("diff"))?;
    if args.exit_code && report.differs() {
        return Err(BuildsDiffer.into());
    }
    Ok(())
}

/// One line per artifact: path, SHA-256, size (like `sha256sum`, plus the size).
fn print_artifacts(target_dir: &Path, artifacts: &[crate::toolbox::ArtifactInfo]) {
    for artifact in artifacts {
        println!(
            "{}  {}  {} bytes",
            target_dir.join(&artifact.file_name).display(),
            artifact.sha256,
            artifact.size
        );
    }
}

fn run_create(cli: &Cli, args: &CreateArgs) -> anyhow::Result<()> {
    let (runtime, plugins) = load_plugins(cli, &args.plugin_args)?;
    let request = CreateRequest {
        root: args.root.clone(),
        target_dir: args.target_dir.clone(),
        type_name: args.type_name.clone(),
        image: ImageIdentity {
            name: args.name.clone(),
            version: args.image_version.clone(),
            arch: args.arch.clone(),
        },
        options: args.options.clone(),
        options_from_description: false,
        extra_grants: args.grants.iter().copied().collect::<Grants>(),
        source_date_epoch: create::source_date_epoch_from_env()?,
        xz_cache: Some(xz_cache(cli)),
        size: args.size.map(|mib| crate::plugins::ImageSize {
            bytes: mib << 20,
            additive: false,
        }),
        vagrant: None,
        settings: Vec::new(),
        files: Vec::new(),
        package_digests: Default::default(),
    };
    let outcome = create::create(&runtime, &plugins, &request);
    crate::progress::finish();
    let outcome = outcome?;
    print_artifacts(&args.target_dir, &outcome.artifacts);
    Ok(())
}

fn role_text(role: &Role) -> String {
    match role {
        Role::ImageType(types) => format!("image-type: {}", types.join(", ")),
        Role::Hook(stages) => format!(
            "hook: {}",
            stages
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Role::Baseline => "baseline".into(),
    }
}

fn plugin_json(p: &Plugin) -> serde_json::Value {
    serde_json::json!({
        "name": p.info.name,
        "version": p.info.version,
        "summary": p.info.summary,
        "api": format!("builder:plugin@{}", p.api_version),
        "world": p.world,
        "role": p.info.role,
        "capabilities": p.info.capabilities,
        "options": p.info.options,
        "source": p.source,
        "sha256": p.digest,
    })
}

fn print_list(plugins: &[Plugin], json: bool) -> anyhow::Result<()> {
    if json {
        let list: Vec<_> = plugins.iter().map(plugin_json).collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    println!(
        "{:<16} {:<10} {:<8} {:<24} SOURCE",
        "NAME", "VERSION", "API", "ROLE"
    );
    for p in plugins {
        println!(
            "{:<16} {:<10} {:<8} {:<24} {}",
            p.info.name,
            p.info.version,
            p.api_version,
            role_text(&p.info.role),
            p.source
        );
    }
    Ok(())
}

fn print_inspect(p: &Plugin, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&plugin_json(p))?);
        return Ok(());
    }
    println!("name:         {}", p.info.name);
    println!("version:      {}", p.info.version);
    println!("summary:      {}", p.info.summary);
    println!("api:          builder:plugin@{}", p.api_version);
    println!("world:        {}", p.world);
    println!("serves:       {}", role_text(&p.info.role));
    println!("source:       {}", p.source);
    println!("sha256:       {}", p.digest);
    let caps: Vec<_> = p.info.capabilities.iter().map(|c| c.name()).collect();
    println!(
        "capabilities: {}",
        if caps.is_empty() {
            "(none)".into()
        } else {
            caps.join(", ")
        }
    );
    if p.info.options.is_empty() {
        println!("options:      (none)");
    } else {
        println!("options:");
        for o in &p.info.options {
            let default = o
                .default
                .as_deref()
                .map(|d| format!(", default {d}"))
                .unwrap_or_default();
            println!("  {:<14} {}{}", o.name, o.kind, default);
            if !o.doc.is_empty() {
                println!("  {:<14} {}", "", o.doc);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_take_binary_suffixes() {
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert_eq!(parse_bytes("1M"), Ok(1 << 20));
        assert_eq!(parse_bytes("64 KiB"), Ok(64 << 10));
        assert_eq!(parse_bytes("2T"), Ok(2 << 40));
        assert!(parse_bytes("3X").is_err());
        assert!(parse_bytes("-1").is_err());
        assert!(parse_bytes("99999999999T").is_err());
    }
}
