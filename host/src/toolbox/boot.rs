//! Boot primitives (capability `bootloader`): the boot files written into
//! the root, the initrd made inside it with the image's own tool, GRUB
//! images made from the image's own GRUB modules, and GRUB's BIOS boot code
//! written into a disk image file (no loop device, no `grub-install`).

use std::cmp::Ordering;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::Command;

use super::{invalid, names, ToolError};
use crate::rootfs::command;
use crate::rootfs::files::RootDir;
use crate::rootfs::sandbox::{in_root, Contain};
use crate::rootfs::RootTree;

/// Where `rel` lands: its deepest existing directory resolved inside the
/// root (symlinks followed there, as the write follows them), the rest as
/// written.
fn landing(root: &RootDir, rel: &str) -> std::io::Result<String> {
    use rustix::fs::{self as rfs, Mode, OFlags, ResolveFlags};
    let fd_path = |fd: &std::os::fd::OwnedFd| {
        use std::os::fd::AsRawFd;
        fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
    };
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let top = rfs::open(root.host_path(), flags, Mode::empty())?;
    let top_path = fd_path(&top)?;
    let parts: Vec<&str> = rel.split('/').collect();
    let dirs = &parts[..parts.len() - 1];
    for depth in (1..=dirs.len()).rev() {
        let Ok(dir) = rfs::openat2(
            &top,
            dirs[..depth].join("/"),
            flags,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        ) else {
            continue;
        };
        let real = fd_path(&dir)?;
        let inside = real.strip_prefix(&top_path).map_err(|_| {
            std::io::Error::other(format!("{} is outside the root", real.display()))
        })?;
        let mut landed: Vec<String> = inside
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        landed.extend(parts[depth..].iter().map(|p| p.to_string()));
        return Ok(landed.join("/"));
    }
    Ok(rel.to_string())
}

/// Writes `content` as `path` of the root with `mode`, if `path` is a boot
/// data file ([`BOOT_FILES`]; never one a tool sources or runs,
/// [`SOURCED_OR_RUN`]) and `mode` makes no executable; parents are made.
/// Where the path leads through the root's symlinks is checked the same.
pub fn write_boot_file(
    root: &RootDir,
    path: &str,
    content: &[u8],
    mode: u32,
) -> Result<(), ToolError> {
    let rel = super::staging::image_path(path)?;
    if let Err(why) = names::boot_data_kind(&rel) {
        return invalid(format!("`{path}` refused: {why}"));
    }
    if mode & !0o7777 != 0 {
        return invalid(format!(
            "mode {mode:o} of `{path}` is not a permission mode"
        ));
    }
    if mode & 0o111 != 0 {
        return invalid(format!(
            "`{path}` refused: mode {mode:o} makes it executable, and write-boot-file writes \
             data files only"
        ));
    }
    if mode & 0o7000 != 0 {
        return invalid(format!(
            "`{path}` refused: mode {mode:o} has setuid, setgid or sticky bits, and \
             write-boot-file writes data files only"
        ));
    }
    let landed = landing(root, &rel)?;
    if landed != rel {
        if let Err(why) = names::boot_data_kind(&landed) {
            return invalid(format!(
                "`{path}` refused: through the root's symlinks it is `{landed}`: {why}"
            ));
        }
    }
    if let Some((parent, _)) = rel.rsplit_once('/') {
        root.create_dir_all(parent, 0o755)?;
    }
    root.write(&rel, content, mode)?;
    Ok(())
}

/// The unit [`grow_volume_at_boot`] writes, and where it is enabled.
const GROW_UNIT: &str = "etc/systemd/system/builder-grow-lvm.service";
const GROW_WANTS: &str = "etc/systemd/system/multi-user.target.wants/builder-grow-lvm.service";

/// KIWI's `oem-resize` on LVM: a unit of builder's, enabled in the root,
/// that at every boot, after systemd-repart has grown the partition
/// `partition_uuid` and the root is writable (LVM archives its metadata in
/// `/etc/lvm`), grows its physical volume and logical volume
/// `group/volume` with its filesystem (`lvextend --resizefs`, online) to
/// all there is, before `multi-user.target`. Nothing is grown when nothing is left (that run fails
/// quietly). The names are checked as LVM checks them, the UUID as one.
pub fn grow_volume_at_boot(
    root: &RootDir,
    partition_uuid: &str,
    group: &str,
    volume: &str,
) -> Result<(), ToolError> {
    super::options::uuid(partition_uuid)?;
    super::lvm::check_name(group, "volume group").map_err(ToolError::Invalid)?;
    super::lvm::check_name(volume, "logical volume").map_err(ToolError::Invalid)?;
    let lvm = ["usr/sbin/lvm", "sbin/lvm"]
        .into_iter()
        .find(|p| root.exists(p).unwrap_or(false))
        .ok_or_else(|| {
            ToolError::Invalid(
                "growing an LVM root at boot needs LVM's tools in the image: add lvm2".into(),
            )
        })?;
    let device = format!(
        "/dev/disk/by-partuuid/{}",
        partition_uuid.to_ascii_lowercase()
    );
    let unit = format!(
        "# Written by builder: KIWI's oem-resize for a root on LVM.\n\
         [Unit]\n\
         Description=Grow {group}/{volume} to its partition\n\
         After=systemd-repart.service systemd-remount-fs.service local-fs.target {dev_unit}\n\
         Requires={dev_unit}\n\
         Before=multi-user.target\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         RemainAfterExit=yes\n\
         ExecStart=/{lvm} pvresize {device}\n\
         ExecStart=-/{lvm} lvextend --resizefs --extents +100%%FREE {group}/{volume}\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n",
        dev_unit = device_unit(&device),
    );
    root.create_dir_all("etc/systemd/system/multi-user.target.wants", 0o755)?;
    root.write(GROW_UNIT, unit.as_bytes(), 0o644)?;
    root.symlink(GROW_WANTS, "/etc/systemd/system/builder-grow-lvm.service")?;
    Ok(())
}

/// systemd's unit name of device `path` (`/dev/disk/by-partuuid/x-y` is
/// `dev-disk-by\x2dpartuuid-x\x2dy.device`).
fn device_unit(path: &str) -> String {
    let escaped: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(|part| part.replace('-', "\\x2d"))
        .collect();
    format!("{}.device", escaped.join("-"))
}

/// A kernel of the root with its initrd (paths relative to the root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kernel {
    /// Its version: the directory in `lib/modules/`.
    pub version: String,
    /// The kernel image.
    pub image: String,
    /// Its initrd (it exists once [`make_initrd`] ran).
    pub initrd: String,
}

/// The kernels of the root, newest first: each `lib/modules/<version>` with
/// a kernel image in `boot/` (or in the module directory itself).
pub fn kernels(tree: &RootTree) -> Result<Vec<Kernel>, ToolError> {
    let versions = match tree.list_dir("lib/modules") {
        Ok(versions) => versions,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let family = InitrdNaming::of(tree);
    let mut found = Vec::new();
    for version in versions {
        let candidates = [
            format!("boot/vmlinuz-{version}"),
            format!("boot/vmlinux-{version}"),
            format!("boot/Image-{version}"),
            format!("boot/image-{version}"),
            format!("lib/modules/{version}/vmlinuz"),
        ];
        let Some(image) = candidates.into_iter().find(|c| is_regular(tree, c)) else {
            continue;
        };
        let initrd = family.path(tree, &version);
        found.push(Kernel {
            version,
            image,
            initrd,
        });
    }
    found.sort_by(|a, b| version_cmp(&b.version, &a.version));
    Ok(found)
}

fn is_regular(tree: &RootTree, rel: &str) -> bool {
    tree.open_regular(rel).is_ok()
}

/// How the distribution names initrds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InitrdNaming {
    /// Debian and Ubuntu: `boot/initrd.img-<version>`.
    Debian,
    /// SUSE: `boot/initrd-<version>`.
    Suse,
    /// Fedora, RHEL: `boot/initramfs-<version>.img`.
    Redhat,
}

impl InitrdNaming {
    fn of(tree: &RootTree) -> Self {
        if is_regular(tree, "etc/debian_version") {
            return InitrdNaming::Debian;
        }
        let os_release = ["etc/os-release", "usr/lib/os-release"]
            .iter()
            .find_map(|p| {
                let (mut file, _) = tree.open_regular(p).ok()?;
                let mut text = String::new();
                file.read_to_string(&mut text).ok()?;
                Some(text)
            })
            .unwrap_or_default();
        if os_release
            .lines()
            .any(|l| l.starts_with("ID") && l.contains("suse"))
        {
            InitrdNaming::Suse
        } else {
            InitrdNaming::Redhat
        }
    }

    /// The initrd of `version`: one that exists under any convention, else
    /// this distribution's name for it.
    fn path(self, tree: &RootTree, version: &str) -> String {
        let names = [
            format!("boot/initrd.img-{version}"),
            format!("boot/initrd-{version}"),
            format!("boot/initramfs-{version}.img"),
        ];
        if let Some(existing) = names.iter().find(|n| is_regular(tree, n)) {
            return existing.clone();
        }
        let [debian, suse, redhat] = names;
        match self {
            InitrdNaming::Debian => debian,
            InitrdNaming::Suse => suse,
            InitrdNaming::Redhat => redhat,
        }
    }
}

/// Compares kernel versions: runs of digits as numbers, the rest as text.
fn version_cmp(a: &str, b: &str) -> Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for ((da, xa), (db, xb)) in ca.iter().zip(cb.iter()) {
        let ord = if *da && *db {
            let (ta, tb) = (xa.trim_start_matches('0'), xb.trim_start_matches('0'));
            ta.len().cmp(&tb.len()).then(ta.cmp(tb))
        } else {
            xa.cmp(xb)
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    ca.len().cmp(&cb.len())
}

/// What an initrd must be able to do.
#[derive(Debug, Clone, Default)]
pub struct InitrdOptions {
    /// Filesystem types to mount and check at boot, the root's first.
    pub filesystems: Vec<String>,
    /// It opens LUKS containers `etc/crypttab` names.
    pub luks: bool,
    /// It activates LVM volume groups.
    pub lvm: bool,
    /// `SOURCE_DATE_EPOCH`, handed to the tool: file times in the initrd.
    pub source_date_epoch: Option<i64>,
    /// Make them even when the configuration is in place and every kernel
    /// has its initrd (something else they are made from changed).
    pub force: bool,
}

/// The image's own initrd tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InitrdTool {
    InitramfsTools,
    Dracut,
}

/// The image's initrd tool and its path in the root, if it has one.
pub(crate) fn initrd_tool(tree: &RootTree) -> Option<(InitrdTool, &'static str)> {
    [
        ("usr/sbin/update-initramfs", InitrdTool::InitramfsTools),
        ("sbin/update-initramfs", InitrdTool::InitramfsTools),
        ("usr/bin/dracut", InitrdTool::Dracut),
        ("usr/sbin/dracut", InitrdTool::Dracut),
        ("sbin/dracut", InitrdTool::Dracut),
    ]
    .into_iter()
    .find(|(path, _)| is_regular(tree, path))
    .map(|(path, tool)| (tool, path))
}

/// The configuration files and contents that make `tool` build initrds
/// for `options` (none when there is nothing to add). `key_files` are the
/// key files `etc/crypttab` names (the initrd carries them) and
/// `conf_hook` cryptsetup-initramfs' settings as the image has them.
fn initrd_config(
    tool: InitrdTool,
    options: &InitrdOptions,
    key_files: &[String],
    conf_hook: Option<&str>,
) -> Vec<(&'static str, String)> {
    let filesystems = &options.filesystems;
    let Some(root_fs) = filesystems.first() else {
        return Vec::new();
    };
    match tool {
        // initramfs-tools probes the root *device* for its type (absent at
        // build time) unless told: without this the initrd has no fsck.
        // LUKS and LVM come with their packages' hooks (checked before).
        InitrdTool::InitramfsTools => {
            let mut conf =
                format!("# Written by builder: the image's root filesystem.\nFSTYPE={root_fs}\n");
            let mut files = Vec::new();
            if options.luks && !key_files.is_empty() {
                // The initrd holds a key: only root may read it.
                conf += "# It carries a LUKS key file.\nUMASK=0077\n";
                // cryptroot's hook copies key files matching this pattern
                // only, read from its own settings file.
                let pattern = format!("KEYFILE_PATTERN=\"{}\"\n", key_files.join(" "));
                let old = conf_hook.unwrap_or_default();
                let kept: String = old
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("KEYFILE_PATTERN="))
                    .map(|l| format!("{l}\n"))
                    .collect();
                files.push((
                    "etc/cryptsetup-initramfs/conf-hook",
                    format!("{kept}# Set by builder: the root's key file goes into the initrd.\n{pattern}"),
                ));
            }
            files.insert(0, ("etc/initramfs-tools/conf.d/builder", conf));
            files
        }
        InitrdTool::Dracut => {
            let mut conf = format!(
                "# Written by builder: an initrd for any machine.\nhostonly=\"no\"\nfilesystems+=\" {} \"\n",
                filesystems.join(" ")
            );
            for (wanted, module) in [(options.luks, "crypt"), (options.lvm, "lvm")] {
                if wanted {
                    conf += &format!("add_dracutmodules+=\" {module} \"\n");
                }
            }
            if options.luks && !key_files.is_empty() {
                conf += &format!(
                    "install_items+=\" /etc/crypttab {} \"\n",
                    key_files.join(" ")
                );
            }
            vec![("etc/dracut.conf.d/90-builder.conf", conf)]
        }
    }
}

/// The key files `etc/crypttab` names (absolute paths in the third field).
fn crypttab_key_files(dir: &RootDir) -> Vec<String> {
    let Ok(text) = dir.read_to_string("etc/crypttab") else {
        return Vec::new();
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_whitespace().nth(2))
        .filter(|key| {
            key.starts_with('/')
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b))
        })
        .map(str::to_string)
        .collect()
}

/// What the image lacks for an initramfs-tools initrd that opens LUKS or
/// activates LVM: the packages whose hooks do it.
fn missing_initramfs_hooks(tree: &RootTree, options: &InitrdOptions) -> Vec<&'static str> {
    [
        (
            options.luks,
            "usr/share/initramfs-tools/hooks/cryptroot",
            "cryptsetup-initramfs",
        ),
        (options.lvm, "usr/share/initramfs-tools/hooks/lvm2", "lvm2"),
    ]
    .into_iter()
    .filter(|(wanted, hook, _)| *wanted && !is_regular(tree, hook))
    .map(|(_, _, package)| package)
    .collect()
}

/// (Re)generates the initrd of every kernel of the root at `root` inside it
/// with the image's own tool, never host-only, configured for `options`
/// (its configuration left alone when they name no filesystem); returns the
/// kernels, newest first. When that configuration is already in place and
/// every kernel has its initrd (made after the install for the type's
/// `filesystem`), nothing is made again.
pub fn make_initrd(root: &Path, options: &InitrdOptions) -> Result<Vec<Kernel>, ToolError> {
    for fs in &options.filesystems {
        if fs.is_empty() || !fs.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return invalid(format!("`{fs}` is not a filesystem type"));
        }
    }
    let tree = RootTree::open(root)?;
    let kernels = kernels(&tree)?;
    if kernels.is_empty() {
        return invalid(
            "the root has no kernel (no `lib/modules/<version>` with its image in `boot/`): \
             add the distribution's kernel package (linux-image-amd64, kernel-default, kernel)",
        );
    }
    let Some((tool, tool_path)) = initrd_tool(&tree) else {
        return invalid(
            "the root has no initrd tool: add initramfs-tools or dracut to its packages",
        );
    };
    if tool == InitrdTool::InitramfsTools {
        let missing = missing_initramfs_hooks(&tree, options);
        if !missing.is_empty() {
            return invalid(format!(
                "the initrd must open LUKS or activate LVM, and initramfs-tools does that \
                 with the hooks of {}: add them to the image's packages",
                missing.join(" and ")
            ));
        }
    }
    let dir = RootDir::open(root)?;
    // Without filesystems to add, the image's own configuration stands.
    let key_files = if options.luks {
        crypttab_key_files(&dir)
    } else {
        Vec::new()
    };
    let conf_hook = dir
        .read_to_string("etc/cryptsetup-initramfs/conf-hook")
        .ok();
    let files = initrd_config(tool, options, &key_files, conf_hook.as_deref());
    if !files.is_empty() {
        let unchanged = files
            .iter()
            .all(|(path, conf)| dir.read_to_string(path).is_ok_and(|old| old == *conf));
        if unchanged && !options.force && kernels.iter().all(|k| is_regular(&tree, &k.initrd)) {
            // Made for this very configuration already (after the install).
            tracing::info!("initrds up to date for {}", options.filesystems.join(", "));
            return Ok(kernels);
        }
        for (path, conf) in &files {
            let parent = path.rsplit_once('/').map_or("", |(parent, _)| parent);
            dir.create_dir_all(parent, 0o755)?;
            dir.write(path, conf.as_bytes(), 0o644)?;
        }
    }
    for kernel in &kernels {
        let step = format!("making the initrd of kernel {}", kernel.version);
        // Contained like any tool run in the root (the image's initrd hooks
        // run as part of it), staging the initrd's few thousand files in a
        // tmpfs on /tmp (TMPDIR): in memory, not in the root's filesystem.
        let mut cmd = in_root(
            root,
            &format!("/{tool_path}"),
            Contain::TOOLS.with_scratch_tmp(),
        );
        if let Some(epoch) = options.source_date_epoch {
            cmd.env("SOURCE_DATE_EPOCH", epoch.to_string());
            if tool == InitrdTool::Dracut {
                cmd.arg("--reproducible");
            }
        }
        match tool {
            InitrdTool::InitramfsTools => {
                let mode = if is_regular(&tree, &kernel.initrd) {
                    "-u"
                } else {
                    "-c"
                };
                cmd.args([mode, "-k", &kernel.version]);
            }
            InitrdTool::Dracut => {
                cmd.args(["--force", "--no-hostonly", "--kver", &kernel.version])
                    .arg(format!("/{}", kernel.initrd));
            }
        }
        let output = command::run(&step, &mut cmd)?;
        for line in output.lines() {
            tracing::info!(target: "builder", "initrd: {line}");
        }
        if !is_regular(&tree, &kernel.initrd) {
            return invalid(format!(
                "{step}: the tool succeeded but `{}` is not there",
                kernel.initrd
            ));
        }
    }
    Ok(kernels)
}

/// A GRUB image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrubPlatform {
    /// BIOS core image.
    I386Pc,
    /// BIOS El Torito image.
    I386PcEltorito,
    /// x86-64 EFI application.
    X86_64Efi,
    /// ARM64 EFI application.
    Arm64Efi,
}

impl GrubPlatform {
    /// grub-mkimage's `-O` name.
    fn format(self) -> &'static str {
        match self {
            GrubPlatform::I386Pc => "i386-pc",
            GrubPlatform::I386PcEltorito => "i386-pc-eltorito",
            GrubPlatform::X86_64Efi => "x86_64-efi",
            GrubPlatform::Arm64Efi => "arm64-efi",
        }
    }

    /// The module directory it is made from.
    fn modules(self) -> &'static str {
        match self {
            GrubPlatform::I386Pc | GrubPlatform::I386PcEltorito => "i386-pc",
            GrubPlatform::X86_64Efi => "x86_64-efi",
            GrubPlatform::Arm64Efi => "arm64-efi",
        }
    }
}

/// The image's GRUB module directory for `platform` (Debian and Fedora
/// keep it in `usr/lib/grub`, SUSE in `usr/share/grub2`).
fn grub_module_dir(tree: &RootTree, platform: &str) -> Result<String, ToolError> {
    let candidates = [
        format!("usr/lib/grub/{platform}"),
        format!("usr/lib/grub2/{platform}"),
        format!("usr/share/grub2/{platform}"),
    ];
    candidates
        .iter()
        .find(|dir| is_regular(tree, &format!("{dir}/kernel.img")))
        .cloned()
        .ok_or_else(|| {
            ToolError::Invalid(format!(
                "the root has no GRUB modules for {platform} (looked in {}): add its GRUB \
                 package (Debian: grub-pc-bin for i386-pc, grub-efi-amd64-bin for x86_64-efi)",
                candidates.join(", ")
            ))
        })
}

/// Copies the regular files of the image's module directory `dir` out of
/// the root into `to`, through the in-root door: grub-mkimage then never
/// follows a symlink of the image on the host.
fn copy_modules(tree: &RootTree, dir: &str, to: &Path) -> Result<(), ToolError> {
    for name in tree.list_dir(dir)? {
        let rel = format!("{dir}/{name}");
        if let Ok((mut from, _)) = tree.open_regular(&rel) {
            let mut out = File::create(to.join(&name))?;
            std::io::copy(&mut from, &mut out)?;
        }
    }
    Ok(())
}

/// The build host's grub-mkimage (Debian's or Fedora's name).
fn host_grub_mkimage() -> Result<&'static str, ToolError> {
    ["grub-mkimage", "grub2-mkimage"]
        .into_iter()
        .find(|tool| Command::new(tool).arg("--version").output().is_ok())
        .map_or_else(
            || {
                invalid(
                    "the build host has no grub-mkimage: install grub-common (scripts/setup does)",
                )
            },
            Ok,
        )
}

/// Makes the GRUB image `out` for `platform` from the image's own modules,
/// with `modules` built in and `config` embedded: with the image's own
/// `grub-mkimage` run inside the root when it has one (as KIWI does), else
/// with the build host's.
pub fn make_grub_image(
    tree: &RootTree,
    out: &Path,
    platform: GrubPlatform,
    config: &str,
    modules: &[String],
) -> Result<(), ToolError> {
    for module in modules {
        // Passed to grub-mkimage as arguments of their own: never an option.
        super::options::grub_module(module)?;
    }
    let dir = grub_module_dir(tree, platform.modules())?;
    for module in modules {
        if !is_regular(tree, &format!("{dir}/{module}.mod")) {
            return invalid(format!(
                "GRUB module `{module}` is not in the image's `{dir}`"
            ));
        }
    }
    let step = format!("making the GRUB {} image", platform.format());
    let image_tool = ["usr/bin/grub-mkimage", "usr/bin/grub2-mkimage"]
        .into_iter()
        .find(|t| is_regular(tree, t));
    match image_tool {
        Some(tool) => {
            // The image's own grub-mkimage, inside the root: its modules
            // are of its own version.
            let root = RootDir::open(tree.host_path())?;
            let work = format!(".builder-grub-{}", std::process::id());
            let made = (|| -> Result<(), ToolError> {
                root.create_dir_all(&work, 0o700)?;
                root.write(&format!("{work}/early.cfg"), config.as_bytes(), 0o600)?;
                let mut cmd = in_root(tree.host_path(), &format!("/{tool}"), Contain::TOOLS);
                cmd.args(["-O", platform.format(), "-d", &format!("/{dir}")])
                    .args(["-c", &format!("/{work}/early.cfg")])
                    .args(["-p", "/boot/grub", "-o", &format!("/{work}/image")])
                    .args(modules);
                command::run(&step, &mut cmd)?;
                let (mut from, _) = tree.open_regular(&format!("{work}/image"))?;
                std::io::copy(&mut from, &mut File::create(out)?)?;
                Ok(())
            })();
            let removed = root.remove_tree(&work);
            made?;
            removed?;
        }
        None => {
            // The host's, with the image's modules copied out of the root
            // through the door first.
            let tool = host_grub_mkimage()?;
            let work = crate::rootfs::command::temp_dir()?;
            let module_copy = work.path().join(platform.modules());
            fs::create_dir(&module_copy)?;
            copy_modules(tree, &dir, &module_copy)?;
            let config_file = work.path().join("early.cfg");
            fs::write(&config_file, config)?;
            let mut cmd = Command::new(tool);
            cmd.arg("-O")
                .arg(platform.format())
                .arg("-d")
                .arg(&module_copy)
                .arg("-c")
                .arg(&config_file)
                .args(["-p", "/boot/grub", "-o"])
                .arg(out)
                .args(modules);
            command::run(&step, &mut cmd)?;
        }
    }
    Ok(())
}

/// Offset in a GRUB core image of the blocklist its first sector
/// (diskboot.img) reads the rest with: `u64 start, u16 sectors, u16 segment`.
const CORE_BLOCKLIST: usize = 500;
/// Offset in boot.img of the sector the core image starts at (`u64`).
const BOOT_KERNEL_SECTOR: usize = 0x5c;
/// Offset in boot.img of the jump over the boot drive check.
const BOOT_DRIVE_CHECK: usize = 0x66;
/// Boot code bytes of an MBR (the disk id and partition table follow).
const MBR_CODE: usize = 440;

/// Writes GRUB's BIOS boot code into the disk image `disk`: the core image
/// `core` at `offset` (where the disk holds only zeros, inside a partition
/// that starts there or before the first partition), the image's own
/// `boot.img` into the MBR's boot code, pointing at it.
pub fn install_grub_bios(
    tree: &RootTree,
    disk: &Path,
    core: &Path,
    offset: u64,
) -> Result<(), ToolError> {
    if offset == 0 || !offset.is_multiple_of(512) {
        return invalid(format!(
            "core image offset {offset} is not a sector boundary after the MBR"
        ));
    }
    let mut core_img = fs::read(core)?;
    if core_img.len() < 1024 {
        return invalid(format!(
            "{} is too small for a GRUB core image",
            core.display()
        ));
    }
    let segment =
        u16::from_le_bytes([core_img[CORE_BLOCKLIST + 10], core_img[CORE_BLOCKLIST + 11]]);
    let sectors = u16::from_le_bytes([core_img[CORE_BLOCKLIST + 8], core_img[CORE_BLOCKLIST + 9]]);
    if segment != 0x820 || u64::from(sectors) * 512 + 512 < core_img.len() as u64 {
        return invalid(format!(
            "{} is not a GRUB i386-pc core image (no diskboot blocklist)",
            core.display()
        ));
    }
    let dir = grub_module_dir(tree, "i386-pc")?;
    let (mut boot_file, boot_len) = tree.open_regular(&format!("{dir}/boot.img"))?;
    if boot_len != 512 {
        return invalid(format!("`{dir}/boot.img` is {boot_len} bytes, not 512"));
    }
    let mut boot_img = vec![0u8; 512];
    boot_file.read_exact(&mut boot_img)?;

    let space = room_for_core(disk, offset)?;
    if core_img.len() as u64 > space {
        return invalid(format!(
            "the GRUB core image ({} bytes) does not fit the {space} bytes at offset {offset}",
            core_img.len()
        ));
    }
    let mut file = OpenOptions::new().read(true).write(true).open(disk)?;
    let mut existing = vec![0u8; core_img.len()];
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(&mut existing)?;
    if existing.iter().any(|b| *b != 0) {
        return invalid(format!(
            "the disk holds data at offset {offset}: the core image would overwrite it"
        ));
    }
    let sector = offset / 512;
    core_img[CORE_BLOCKLIST..CORE_BLOCKLIST + 8].copy_from_slice(&(sector + 1).to_le_bytes());
    boot_img[BOOT_KERNEL_SECTOR..BOOT_KERNEL_SECTOR + 8].copy_from_slice(&sector.to_le_bytes());
    // As grub-bios-setup does for hard disks: boot from whatever drive the
    // BIOS booted, not only drive 0x80.
    boot_img[BOOT_DRIVE_CHECK..BOOT_DRIVE_CHECK + 2].copy_from_slice(&[0x90, 0x90]);
    file.seek(SeekFrom::Start(offset))?;
    file.write_all(&core_img)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(&boot_img[..MBR_CODE])?;
    Ok(())
}

/// Bytes from `offset` to the end of the partition starting there (a BIOS
/// boot partition), or to the first partition when `offset` lies before it
/// (the gap after an MBR).
fn room_for_core(disk: &Path, offset: u64) -> Result<u64, ToolError> {
    let mut cmd = Command::new("sfdisk");
    cmd.arg("-J").arg(disk);
    let json = command::run("reading the disk's partition table", &mut cmd)?;
    let table: serde_json::Value = serde_json::from_str(&json)
        .map_err(|e| ToolError::Invalid(format!("sfdisk -J output: {e}")))?;
    let table = &table["partitiontable"];
    let sector_size = table["sectorsize"].as_u64().unwrap_or(512);
    let parts: Vec<(u64, u64)> = table["partitions"]
        .as_array()
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| Some((p["start"].as_u64()?, p["size"].as_u64()?)))
                .map(|(start, size)| (start * sector_size, size * sector_size))
                .collect()
        })
        .unwrap_or_default();
    if let Some((start, size)) = parts.iter().find(|(start, _)| *start == offset) {
        return Ok(*size + start - offset);
    }
    let first = parts.iter().map(|(start, _)| *start).min();
    let gpt = table["label"].as_str() == Some("gpt");
    match first {
        Some(first) if !gpt && offset < first => Ok(first - offset),
        _ => invalid(format!(
            "offset {offset} is neither the start of a partition nor in the gap before the \
             first partition of an MBR disk"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn kernel_versions_sort_numerically() {
        let mut v = vec![
            "6.1.0-9-amd64",
            "6.1.0-27-amd64",
            "5.10.0-30-amd64",
            "6.10.1",
        ];
        v.sort_by(|a, b| version_cmp(b, a));
        assert_eq!(
            v,
            [
                "6.10.1",
                "6.1.0-27-amd64",
                "6.1.0-9-amd64",
                "5.10.0-30-amd64"
            ]
        );
    }

    #[test]
    fn only_boot_files_are_written_and_stay_in_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root_path = dir.path().join("root");
        fs::create_dir_all(root_path.join("etc")).unwrap();
        fs::create_dir_all(root_path.join("boot/grub2")).unwrap();
        // An absolute symlink (SUSE's GRUB lives in grub2) resolves inside
        // the root, not on the build host.
        std::os::unix::fs::symlink("/boot/grub2", root_path.join("boot/grub")).unwrap();
        let root = RootDir::open(&root_path).unwrap();
        write_boot_file(&root, "/etc/fstab", b"UUID=x / ext4 defaults 0 1\n", 0o644).unwrap();
        write_boot_file(&root, "boot/grub/grub.cfg", b"menuentry {}\n", 0o644).unwrap();
        assert_eq!(
            fs::read(root_path.join("boot/grub2/grub.cfg")).unwrap(),
            b"menuentry {}\n"
        );
        for bad in [
            "etc/passwd",
            "etc/fstab2",
            "boot",
            "boot/",
            "etc/kernel/../shadow",
            "boot/grub/../../etc/initramfs-tools/conf.d/x",
            "usr/bin/x",
        ] {
            let err = write_boot_file(&root, bad, b"x", 0o644).unwrap_err();
            assert!(matches!(err, ToolError::Invalid(_)), "{bad}: {err}");
        }
        assert!(write_boot_file(&root, "boot/grub/custom.cfg", b"", 0o100644).is_err());
    }

    /// The LVM growth unit: pvresize of the partition by PARTUUID, then
    /// lvextend of the volume with its filesystem, after systemd-repart;
    /// enabled for multi-user.target. Bad names and a root without LVM's
    /// tools are refused.
    #[test]
    fn the_lvm_growth_unit_is_written_and_enabled() {
        let dir = tempfile::tempdir().unwrap();
        let root = RootDir::open(dir.path()).unwrap();
        let uuid = "0E3F4C6A-1B2D-4E5F-8A9B-0C1D2E3F4A5B";
        let err = grow_volume_at_boot(&root, uuid, "systemVG", "LVRoot").unwrap_err();
        assert!(err.to_string().contains("add lvm2"), "{err}");
        fs::create_dir_all(dir.path().join("usr/sbin")).unwrap();
        fs::write(dir.path().join("usr/sbin/lvm"), "").unwrap();
        for (group, volume, uuid) in [
            ("system VG", "LVRoot", uuid),
            ("systemVG", "snapshot1", uuid),
            ("systemVG", "LVRoot", "not-a-uuid; rm -rf /"),
        ] {
            assert!(
                grow_volume_at_boot(&root, uuid, group, volume).is_err(),
                "{group} {volume} {uuid}"
            );
        }
        grow_volume_at_boot(&root, uuid, "systemVG", "LVRoot").unwrap();
        let unit = fs::read_to_string(dir.path().join(GROW_UNIT)).unwrap();
        for line in [
            "After=systemd-repart.service systemd-remount-fs.service local-fs.target dev-disk-by\\x2dpartuuid-0e3f4c6a\\x2d1b2d\\x2d4e5f\\x2d8a9b\\x2d0c1d2e3f4a5b.device\n",
            "ExecStart=/usr/sbin/lvm pvresize /dev/disk/by-partuuid/0e3f4c6a-1b2d-4e5f-8a9b-0c1d2e3f4a5b\n",
            // `%%`: systemd's escape of `%`, a specifier otherwise.
            "ExecStart=-/usr/sbin/lvm lvextend --resizefs --extents +100%%FREE systemVG/LVRoot\n",
            "WantedBy=multi-user.target\n",
        ] {
            assert!(unit.contains(line), "{line:?} is not in\n{unit}");
        }
        assert_eq!(
            fs::read_link(dir.path().join(GROW_WANTS)).unwrap(),
            Path::new("/etc/systemd/system/builder-grow-lvm.service")
        );
    }

    /// What `plugins/bootable` writes, and the other data files of a boot
    /// chain, are written with data modes.
    #[test]
    fn boot_data_files_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let root = RootDir::open(dir.path()).unwrap();
        for (path, mode) in [
            // plugins/bootable (oem).
            ("etc/fstab", 0o644),
            ("etc/repart.d/50-builder-root.conf", 0o644),
            ("boot/efi/.builder-esp", 0o644),
            ("boot/grub/grub.cfg", 0o644),
            // The rest of the family.
            ("boot/grub2/grub.cfg", 0o600),
            ("boot/grub/grubenv", 0o644),
            ("boot/grub/themes/starfield/theme.txt", 0o644),
            ("boot/grub/themes/starfield/background.png", 0o644),
            ("boot/grub/fonts/unicode.pf2", 0o644),
            ("boot/efi/EFI/BOOT/BOOTX64.EFI", 0o644),
            ("boot/efi/EFI/debian/grub.cfg", 0o644),
            ("boot/efi/EFI/debian/BOOTX64.CSV", 0o644),
            ("boot/loader/loader.conf", 0o644),
            ("boot/loader/entries/linux.conf", 0o644),
            ("etc/kernel/cmdline", 0o644),
            ("etc/crypttab", 0o600),
            ("root/.root.keyfile", 0o600),
        ] {
            write_boot_file(&root, path, b"data", mode).unwrap_or_else(|e| panic!("{path}: {e}"));
            let meta = fs::metadata(dir.path().join(path)).unwrap();
            assert_eq!(meta.permissions().mode() & 0o7777, mode, "{path}");
        }
    }

    /// Nothing a tool sources as shell or runs: the initrd tools' settings,
    /// hooks and modules, grub-mkconfig's, kernel hooks, executables.
    #[test]
    fn files_a_tool_sources_or_runs_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let root = RootDir::open(dir.path()).unwrap();
        for (path, why) in [
            ("etc/initramfs-tools/conf.d/x", "initramfs-tools sources"),
            ("etc/initramfs-tools/hooks/x", "runs its hooks"),
            (
                "etc/initramfs-tools/scripts/init-top/x",
                "runs its hooks and scripts",
            ),
            (
                "etc/initramfs-tools/initramfs.conf",
                "initramfs-tools sources",
            ),
            ("etc/dracut.conf.d/x.conf", "dracut sources"),
            ("etc/dracut.conf", "dracut sources"),
            (
                "usr/lib/dracut/modules.d/99x/module-setup.sh",
                "dracut runs its modules",
            ),
            ("etc/default/grub", "grub-mkconfig sources it"),
            ("etc/default/grub.d/x.cfg", "grub-mkconfig sources it"),
            ("etc/grub.d/40_custom", "grub-mkconfig runs"),
            ("etc/kernel/postinst.d/zz-x", "kernel installation runs"),
            (
                "etc/kernel/install.d/50-x.install",
                "kernel installation runs",
            ),
            (
                "boot/grub/i386-pc/normal.mod",
                "below boot/grub/ only GRUB configuration",
            ),
            ("boot/vmlinuz-6.1.0-27-amd64", "not a boot data file"),
            ("boot/initrd.img-6.1.0-27-amd64", "not a boot data file"),
            ("boot/efi/EFI/x/startup.nsh", "below boot/efi/ only"),
            ("etc/repart.d/x.sh", "not a boot data file"),
            ("etc/systemd/system/x.service", "not a boot data file"),
        ] {
            let err = write_boot_file(&root, path, b"x", 0o644)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("`{path}` refused: ")) && err.contains(why),
                "{path}: {err}"
            );
            assert!(!dir.path().join(path).exists(), "{path}");
        }
        for mode in [0o755, 0o744, 0o654, 0o645, 0o4644, 0o2644, 0o1644] {
            let err = write_boot_file(&root, "boot/grub/grub.cfg", b"x", mode)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("`boot/grub/grub.cfg` refused: mode")
                    && err.contains("write-boot-file writes data files only"),
                "{mode:o}: {err}"
            );
        }
        for path in [
            "boot/grub/../../etc/initramfs-tools/conf.d/x",
            "../etc/default/grub",
            "boot/grub/./grub.cfg",
        ] {
            let err = write_boot_file(&root, path, b"x", 0o644)
                .unwrap_err()
                .to_string();
            assert!(err.contains("no `.`, `..` or empty parts"), "{path}: {err}");
        }
        assert!(!dir.path().join("boot").exists());
    }

    /// A symlink of the root cannot carry a boot file to where a tool
    /// sources it: where the path lands is checked too.
    #[test]
    fn a_symlink_into_sourced_configuration_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc/initramfs-tools/conf.d")).unwrap();
        fs::create_dir_all(dir.path().join("boot")).unwrap();
        std::os::unix::fs::symlink("/etc/initramfs-tools/conf.d", dir.path().join("boot/grub"))
            .unwrap();
        std::os::unix::fs::symlink("../etc/initramfs-tools", dir.path().join("boot/efi")).unwrap();
        let root = RootDir::open(dir.path()).unwrap();
        for (path, landed) in [
            ("boot/grub/x.cfg", "etc/initramfs-tools/conf.d/x.cfg"),
            ("boot/efi/conf.d/x.cfg", "etc/initramfs-tools/conf.d/x.cfg"),
        ] {
            let err = write_boot_file(&root, path, b"x", 0o644)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("`{path}` refused: through the root's symlinks it is `{landed}`: initramfs-tools sources")),
                "{path}: {err}"
            );
        }
        assert_eq!(
            fs::read_dir(dir.path().join("etc/initramfs-tools/conf.d"))
                .unwrap()
                .count(),
            0
        );
    }

    /// A root with only the host's i386-pc GRUB modules (no grub-mkimage of
    /// its own): the host's tool makes the core image, which lands in the
    /// BIOS boot partition with its blocklist pointing after its first
    /// sector, and boot.img's code in the MBR points at it.
    #[test]
    fn grub_bios_boot_code_goes_into_a_disk_file() {
        use crate::toolbox::disks::{self, PartitionKind, PartitionSpec, Table};
        let host_modules = Path::new("/usr/lib/grub/i386-pc");
        assert!(
            host_modules.join("boot.img").is_file(),
            "grub-pc-bin is missing on the build host: run scripts/setup"
        );
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let modules = root.join("usr/lib/grub/i386-pc");
        fs::create_dir_all(&modules).unwrap();
        for entry in fs::read_dir(host_modules).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                fs::copy(entry.path(), modules.join(entry.file_name())).unwrap();
            }
        }
        let tree = RootTree::open(&root).unwrap();
        let core = dir.path().join("core.img");
        let mods: Vec<String> = ["biosdisk", "part_gpt", "ext2", "search", "normal"]
            .iter()
            .map(|m| m.to_string())
            .collect();
        make_grub_image(
            &tree,
            &core,
            GrubPlatform::I386Pc,
            "set prefix=(hd0,gpt3)/boot/grub\n",
            &mods,
        )
        .unwrap();
        let disk = dir.path().join("disk.raw");
        let layout = disks::make(
            &disk,
            Table::Gpt,
            None,
            &[
                PartitionSpec {
                    name: "p.legacy".into(),
                    kind: PartitionKind::BiosBoot,
                    size_bytes: Some(1 << 20),
                    content: None,
                    bootable: false,
                },
                PartitionSpec {
                    name: "p.lxroot".into(),
                    kind: PartitionKind::Root,
                    size_bytes: Some(2 << 20),
                    content: None,
                    bootable: false,
                },
            ],
            "x86_64",
            Some(1),
        )
        .unwrap();
        let start = layout.partitions[0].start_bytes;
        assert_eq!(start, 1 << 20);
        let table_before = fs::read(&disk).unwrap()[440..512].to_vec();
        install_grub_bios(&tree, &disk, &core, start).unwrap();
        let bytes = fs::read(&disk).unwrap();
        let le64 = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        // boot.img: its code, the core image's sector, the drive check skipped.
        let boot_img = fs::read(host_modules.join("boot.img")).unwrap();
        assert_eq!(bytes[..0x5c], boot_img[..0x5c]);
        assert_eq!(le64(0x5c), start / 512);
        assert_eq!(bytes[0x66..0x68], [0x90, 0x90]);
        // The protective MBR's partition table and the disk id are kept.
        assert_eq!(bytes[440..512], table_before[..]);
        // The core image at the partition, reading on from the next sector.
        let core_img = fs::read(&core).unwrap();
        let at = start as usize;
        assert_eq!(le64(at + CORE_BLOCKLIST), start / 512 + 1);
        assert_eq!(bytes[at + 512..at + core_img.len()], core_img[512..]);
        // Twice is refused: the partition is no longer free.
        let again = install_grub_bios(&tree, &disk, &core, start).unwrap_err();
        assert!(again.to_string().contains("holds data"), "{again}");
        // Not at a partition start of a GPT disk.
        let err = install_grub_bios(&tree, &disk, &core, 512).unwrap_err();
        assert!(err.to_string().contains("neither the start"), "{err}");
    }

    #[test]
    fn kernels_are_found_with_their_initrd_names() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        for v in ["6.1.0-9-amd64", "6.1.0-27-amd64", "6.1.0-1-orphan"] {
            fs::create_dir_all(r.join("usr/lib/modules").join(v)).unwrap();
        }
        std::os::unix::fs::symlink("usr/lib", r.join("lib")).unwrap();
        fs::create_dir_all(r.join("boot")).unwrap();
        fs::create_dir_all(r.join("etc")).unwrap();
        fs::write(r.join("etc/debian_version"), "12.8\n").unwrap();
        fs::write(r.join("boot/vmlinuz-6.1.0-9-amd64"), "k").unwrap();
        fs::write(r.join("boot/vmlinuz-6.1.0-27-amd64"), "k").unwrap();
        fs::write(r.join("boot/initrd.img-6.1.0-9-amd64"), "i").unwrap();
        let tree = RootTree::open(r).unwrap();
        let found = kernels(&tree).unwrap();
        assert_eq!(
            found,
            [
                Kernel {
                    version: "6.1.0-27-amd64".into(),
                    image: "boot/vmlinuz-6.1.0-27-amd64".into(),
                    initrd: "boot/initrd.img-6.1.0-27-amd64".into(),
                },
                Kernel {
                    version: "6.1.0-9-amd64".into(),
                    image: "boot/vmlinuz-6.1.0-9-amd64".into(),
                    initrd: "boot/initrd.img-6.1.0-9-amd64".into(),
                }
            ]
        );
        // Without a kernel, make_initrd says what to add.
        let empty = tempfile::tempdir().unwrap();
        let err = make_initrd(empty.path(), &InitrdOptions::default()).unwrap_err();
        assert!(err.to_string().contains("no kernel"), "{err}");
    }
}
