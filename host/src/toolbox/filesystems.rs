//! Filesystem images made from a root tree with the host's own tools: from
//! the directory wherever the tool can (`mke2fs -d`, `mksquashfs`,
//! `mkfs.erofs`, mtools for FAT), through a private loop mount for XFS
//! (whose `mkfs` cannot fill itself from a directory) and Btrfs (whose
//! `--rootdir` loses device numbers in the version Debian 12 has), sized
//! from the tree with headroom unless a size is given. Owners, modes, links,
//! device nodes and (where the filesystem has them) xattrs come from the tree.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::options::{self, CreateArgs, Mkfs};
use crate::rootfs::{command, mounts};

/// A filesystem the host can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsType {
    /// ext2.
    Ext2,
    /// ext3.
    Ext3,
    /// ext4.
    Ext4,
    /// XFS.
    Xfs,
    /// Btrfs.
    Btrfs,
    /// SquashFS.
    Squashfs,
    /// EROFS.
    Erofs,
    /// FAT.
    Vfat,
}

impl FsType {
    /// The usual name (`ext4`).
    pub fn name(self) -> &'static str {
        match self {
            FsType::Ext2 => "ext2",
            FsType::Ext3 => "ext3",
            FsType::Ext4 => "ext4",
            FsType::Xfs => "xfs",
            FsType::Btrfs => "btrfs",
            FsType::Squashfs => "squashfs",
            FsType::Erofs => "erofs",
            FsType::Vfat => "vfat",
        }
    }

    /// The program that makes it.
    pub fn mkfs(self) -> Mkfs {
        match self {
            FsType::Ext2 | FsType::Ext3 | FsType::Ext4 => Mkfs::Ext,
            FsType::Xfs => Mkfs::Xfs,
            FsType::Btrfs => Mkfs::Btrfs,
            FsType::Squashfs => Mkfs::Squashfs,
            FsType::Erofs => Mkfs::Erofs,
            FsType::Vfat => Mkfs::Vfat,
        }
    }

    /// Whether it is read-only (squashfs, erofs): as large as its content.
    pub fn read_only(self) -> bool {
        matches!(self, FsType::Squashfs | FsType::Erofs)
    }
}

/// How to make one filesystem image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesystemOptions {
    /// The filesystem.
    pub fs_type: FsType,
    /// Volume label.
    pub label: Option<String>,
    /// Filesystem UUID.
    pub uuid: Option<String>,
    /// Size in bytes (none: computed).
    pub size_bytes: Option<u64>,
    /// Added to the computed size.
    pub extra_bytes: u64,
    /// squashfs/erofs compression.
    pub compression: Option<String>,
    /// Extra mkfs arguments, checked against the tool's allowlist
    /// ([`options::create_options`]) before any is passed on.
    pub create_options: Vec<String>,
    /// `SOURCE_DATE_EPOCH`: timestamps and a UUID derived from it.
    pub source_date_epoch: Option<i64>,
}

/// Why a filesystem image could not be made.
pub type FilesystemError = super::ToolError;

/// Makes `options.fs_type` of the tree at `root` into the file `out`.
pub fn make(root: &Path, out: &Path, options: &FilesystemOptions) -> Result<(), FilesystemError> {
    make_hiding(root, &[], out, options)
}

/// [`make`], with the directories `hidden` (relative to `root`) made empty
/// in the filesystem: the mount points of other partitions
/// ([`mounts::hide_from`]).
pub fn make_hiding(
    root: &Path,
    hidden: &[PathBuf],
    out: &Path,
    options: &FilesystemOptions,
) -> Result<(), FilesystemError> {
    let create = check(options)?;
    if let Some(why) = rootless_refusal(options.fs_type.name()) {
        return super::invalid(why);
    }
    let uuid = uuid_of(options);
    let size = || -> std::io::Result<u64> {
        Ok(match options.size_bytes {
            Some(bytes) => bytes,
            None => size_for(root, options)?,
        })
    };
    let step = format!("{} image", options.fs_type.name());
    let mut cmd;
    let mut _config = None;
    match options.fs_type {
        FsType::Ext2 | FsType::Ext3 | FsType::Ext4 => {
            let (mke2fs, config) = mke2fs(root, options, &create, uuid.as_deref(), &[])?;
            cmd = mke2fs;
            _config = Some(config);
            cmd.arg(out).arg(format!("{}k", size()?.div_ceil(1024)));
        }
        FsType::Btrfs => {
            // `mkfs.btrfs --rootdir` of btrfs-progs 6.2 (Debian 12) writes
            // device nodes without their device numbers: fill it through a
            // private mount, as XFS.
            fs::File::create(out)?.set_len(size()?)?;
            let mut mkfs = Command::new("mkfs.btrfs");
            mkfs.args(["-q", "-f"]);
            if let Some(label) = &options.label {
                mkfs.args(["-L", label]);
            }
            if let Some(uuid) = &uuid {
                mkfs.args(["-U", uuid]);
            }
            mkfs.args(&create.args).arg(out);
            command::run(&step, &mut mkfs)?;
            return fill_through_mount(root, hidden, out, &step);
        }
        FsType::Squashfs => {
            cmd = Command::new("mksquashfs");
            cmd.arg(root)
                .arg(out)
                .args(["-noappend", "-quiet", "-no-progress"]);
            match options.compression.as_deref() {
                Some("uncompressed") => {
                    cmd.args(["-noI", "-noD", "-noF", "-noX"]);
                }
                Some(c) => {
                    cmd.args(["-comp", c]);
                }
                None => {}
            }
            if let Some(epoch) = options.source_date_epoch {
                cmd.env("SOURCE_DATE_EPOCH", epoch.to_string());
            }
            cmd.args(&create.args);
        }
        FsType::Erofs => {
            cmd = Command::new("mkfs.erofs");
            // erofs-utils 1.5 (Debian 12) has no volume label option.
            cmd.arg("--quiet");
            if let Some(uuid) = &uuid {
                cmd.arg(format!("-U{uuid}"));
            }
            match options.compression.as_deref() {
                None | Some("uncompressed") => {}
                Some(c) => {
                    cmd.arg(format!("-z{c}"));
                }
            }
            if let Some(epoch) = options.source_date_epoch {
                cmd.arg(format!("-T{epoch}"));
            }
            cmd.args(&create.args).arg(out).arg(root);
        }
        FsType::Vfat => {
            let kib = size()?.div_ceil(1024);
            let mut mkfs = Command::new("mkfs.vfat");
            mkfs.arg("-C");
            if let Some(label) = &options.label {
                mkfs.args(["-n", label]);
            }
            if let Some(epoch) = options.source_date_epoch {
                fat_invariant(&mut mkfs, epoch);
            }
            if let Some(uuid) = &uuid {
                // FAT has a 32-bit volume id.
                mkfs.args(["-i", &options::fat_volume_id(uuid)?]);
            }
            mkfs.args(&create.args).arg(out).arg(kib.to_string());
            command::run(&step, &mut mkfs)?;
            let entries: Vec<_> = fs::read_dir(root)?
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<_, _>>()?;
            if entries.is_empty() {
                return Ok(());
            }
            cmd = Command::new("mcopy");
            if let Some(epoch) = options.source_date_epoch {
                cmd.env("SOURCE_DATE_EPOCH", epoch.to_string());
            }
            cmd.args(["-s", "-p", "-Q", "-i"])
                .arg(out)
                .args(&entries)
                .arg("::/");
        }
        FsType::Xfs => {
            fs::File::create(out)?.set_len(size()?)?;
            let mut mkfs = Command::new("mkfs.xfs");
            mkfs.args(["-q", "-f"]);
            if let Some(label) = &options.label {
                mkfs.args(["-L", label]);
            }
            if let Some(uuid) = &uuid {
                mkfs.args(["-m", &format!("uuid={uuid}")]);
            }
            mkfs.args(&create.args).arg(out);
            command::run(&step, &mut mkfs)?;
            return fill_through_mount(root, hidden, out, &step);
        }
    }
    let _hidden = mounts::hide_from(&mut cmd, root, hidden)?;
    command::run(&step, &mut cmd)?;
    // mke2fs keeps the tree's access times; the others keep none, or are
    // filled through a mount above.
    if let (Mkfs::Ext, Some(epoch)) = (options.fs_type.mkfs(), options.source_date_epoch) {
        settle_access_times(out, None, epoch)?;
    }
    Ok(())
}

/// Whether a filesystem of this type is made straight into a partition of
/// a disk file ([`make_in_place`]) rather than as an image of its own.
pub fn makes_in_place(fs_type: FsType) -> bool {
    matches!(fs_type, FsType::Ext2 | FsType::Ext3 | FsType::Ext4)
}

/// Makes ext2, ext3 or ext4 of the tree at `root` into the existing file
/// `disk`, `size` bytes from byte `offset` on (`mke2fs -E offset=`): a
/// partition filled without an intermediate image or a loop device. The
/// rest of the file is not touched.
pub fn make_in_place(
    root: &Path,
    hidden: &[PathBuf],
    disk: &Path,
    offset: u64,
    size: u64,
    options: &FilesystemOptions,
) -> Result<(), FilesystemError> {
    if !makes_in_place(options.fs_type) {
        return Err(FilesystemError::Invalid(format!(
            "{} is not made in place",
            options.fs_type.name()
        )));
    }
    let create = check(options)?;
    // The disk file is new and sparse: discarding its blocks is wasted work.
    let extended = [format!("offset={offset}"), "nodiscard".to_string()];
    let (mut cmd, _config) = mke2fs(
        root,
        options,
        &create,
        uuid_of(options).as_deref(),
        &extended,
    )?;
    cmd.arg(disk).arg(format!("{}k", size / 1024));
    let _hidden = mounts::hide_from(&mut cmd, root, hidden)?;
    command::run(&format!("{} filesystem", options.fs_type.name()), &mut cmd)?;
    if let Some(epoch) = options.source_date_epoch {
        settle_access_times(disk, Some(offset), epoch)?;
    }
    Ok(())
}

/// With `SOURCE_DATE_EPOCH`, gives every inode of the ext2/3/4 filesystem
/// in `image` (from byte `offset` on) the access time `epoch`, with
/// `debugfs`.
///
/// Why: mke2fs copies each file's access time from the tree and clamps
/// only those after the epoch, so the image would keep the access times of
/// the tree's history on this host: a cached root checked or copied moves
/// them (reads under `relatime`), and a rootless build cannot stop that
/// with a `noatime` bind (a user namespace locks a mount's access-time
/// flags). With every access time the epoch, a warm build, a cold one, a
/// root one and a rootless one write the same bytes. KIWI's images carry
/// the time of its copy; no reader relies on them.
///
/// mke2fs fills a new filesystem's inodes in order, so the used ones are
/// 1 to the count in use (1 to 10 reserved); that is checked (the first
/// free inode follows them) before any is written.
fn settle_access_times(
    image: &Path,
    offset: Option<u64>,
    epoch: i64,
) -> Result<(), FilesystemError> {
    const STEP: &str = "ext4 access times: debugfs";
    // debugfs reads `?offset=` after the file name; a link of the build's
    // own keeps whatever the image's name holds from being read as options.
    let dir = command::temp_dir()?;
    let link = dir.path().join("image");
    std::os::unix::fs::symlink(std::path::absolute(image)?, &link)?;
    let device = match offset {
        Some(offset) => format!("{}?offset={offset}", link.display()),
        None => link.display().to_string(),
    };
    let failed = |why: String| -> FilesystemError {
        std::io::Error::other(format!("{STEP} {}: {why}", image.display())).into()
    };
    let script = dir.path().join("script");
    fs::write(&script, "stats\nffi\n")?;
    let mut query = Command::new("debugfs");
    query.arg("-f").arg(&script).arg(&device);
    let out = command::run(STEP, &mut query)?;
    let field = |name: &str| -> Option<u64> {
        out.lines()
            .find_map(|line| line.trim().strip_prefix(name))
            .and_then(|rest| rest.trim().parse().ok())
    };
    let (Some(count), Some(free), Some(first_free)) = (
        field("Inode count:"),
        field("Free inodes:"),
        field("Free inode found:"),
    ) else {
        return Err(failed(format!(
            "no inode counts in what it printed:\n{}",
            command::tail(&out)
        )));
    };
    let used = count - free;
    if first_free != used + 1 {
        return Err(failed(format!(
            "the {used} inodes in use are not 1 to {used} (the first free one is {first_free})"
        )));
    }
    let mut lines = String::new();
    // The root directory, then every inode after the reserved ones.
    for inode in std::iter::once(2).chain(11..=used) {
        lines.push_str(&format!("sif <{inode}> atime @{epoch}\n"));
    }
    fs::write(&script, lines)?;
    let mut write = Command::new("debugfs");
    write.arg("-w").arg("-f").arg(&script).arg(&device);
    let out = command::run(STEP, &mut write)?;
    // debugfs goes on past a failed command and exits 0: its own lines
    // (the banner, each command echoed) are all it may print.
    if let Some(line) = out.lines().find(|line| !line.starts_with("debugfs")) {
        return Err(failed(format!("a command failed: {line}")));
    }
    Ok(())
}

/// The size a writable filesystem of the tree at `root` gets when its
/// options give none: the tree with headroom, plus `extra_bytes`.
pub fn size_for(root: &Path, options: &FilesystemOptions) -> std::io::Result<u64> {
    Ok(computed_size(root, options.fs_type)? + options.extra_bytes)
}

/// Checks everything of `options` that reaches the tool (label, UUID,
/// compression) and returns the create options the tool's allowlist lets
/// through ([`options`]): nothing else of the caller's is passed on.
pub(crate) fn check(options: &FilesystemOptions) -> Result<CreateArgs, FilesystemError> {
    let tool = options.fs_type.mkfs();
    if let Some(label) = &options.label {
        options::label(tool, label)?;
    }
    if let Some(uuid) = &options.uuid {
        options::uuid(uuid)?;
    }
    if let Some(compression) = &options.compression {
        match options.fs_type {
            FsType::Squashfs => options::squashfs_compression(compression)?,
            FsType::Erofs => options::erofs_compression(compression)?,
            _ => {}
        }
    }
    Ok(options::create_options(tool, &options.create_options)?)
}

/// The UUID to give the filesystem: the options', else one derived from
/// `SOURCE_DATE_EPOCH`, else none (the tool picks one).
fn uuid_of(options: &FilesystemOptions) -> Option<String> {
    options.uuid.clone().or_else(|| {
        options.source_date_epoch.map(|epoch| {
            super::stable_uuid(&["builder", options.fs_type.name(), &epoch.to_string()])
        })
    })
}

/// `mke2fs` filling a new ext2/3/4 from the tree (the device and size
/// follow), with the checked create options and `extended` options besides
/// its own. mke2fs keeps only the last `-E` it is given, so all of them, the
/// caller's and those in the create options, go into one.
fn mke2fs(
    root: &Path,
    options: &FilesystemOptions,
    create: &CreateArgs,
    uuid: Option<&str>,
    extended: &[String],
) -> std::io::Result<(Command, crate::rootfs::owned::Owned)> {
    let mut cmd = Command::new("mke2fs");
    cmd.args(["-q", "-F", "-t", options.fs_type.name(), "-d"])
        .arg(root);
    let mut all = vec!["root_owner=0:0".to_string()];
    if let Some(label) = &options.label {
        cmd.args(["-L", label]);
    }
    if let Some(uuid) = uuid {
        cmd.args(["-U", uuid]);
        all.push(format!("hash_seed={uuid}"));
    }
    // The feature set is builder's, not the build host's: the same on
    // every host, and one the GRUB and e2fsck of older images read.
    let config = mke2fs_config()?;
    cmd.env("MKE2FS_CONFIG", config.path().join("mke2fs.conf"));
    if let Some(epoch) = options.source_date_epoch {
        // The superblock's times; e2fsprogs 1.47.1 and later also clamp
        // every inode's times to SOURCE_DATE_EPOCH.
        cmd.env("E2FSPROGS_FAKE_TIME", epoch.to_string());
        cmd.env("SOURCE_DATE_EPOCH", epoch.to_string());
        if !mke2fs_clamps_times() {
            warn_once_mke2fs();
        }
    }
    cmd.args(&create.args);
    all.extend(create.extended.iter().cloned());
    all.extend(extended.iter().cloned());
    cmd.arg("-E").arg(all.join(","));
    Ok((cmd, config))
}

/// Settings of `mke2fs` for the filesystems builder makes: Debian 12's
/// defaults. Later e2fsprogs add `metadata_csum_seed` and `orphan_file` to
/// ext4's features, which GRUB 2.06 and e2fsck before 1.47 cannot read.
const MKE2FS_CONF: &str = "\
[defaults]
\tbase_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
\tdefault_mntopts = acl,user_xattr
\tenable_periodic_fsck = 0
\tblocksize = 4096
\tinode_size = 256
\tinode_ratio = 16384

[fs_types]
\text3 = {
\t\tfeatures = has_journal
\t}
\text4 = {
\t\tfeatures = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
\t}
\tsmall = {
\t\tblocksize = 1024
\t\tinode_ratio = 4096
\t}
\tfloppy = {
\t\tblocksize = 1024
\t\tinode_ratio = 8192
\t}
\tbig = {
\t\tinode_ratio = 32768
\t}
\thuge = {
\t\tinode_ratio = 65536
\t}
\tnews = {
\t\tinode_ratio = 4096
\t}
\tlarge = {
\t\tinode_ratio = 1048576
\t\tblocksize = -1
\t}
\tlargefile = {
\t\tinode_ratio = 4194304
\t\tblocksize = -1
\t}
\thurd = {
\t     blocksize = 4096
\t     inode_size = 128
\t     warn_y2038_dates = 0
\t}

[options]
\tfname_encoding = utf8
";

/// A directory of the build's own holding [`MKE2FS_CONF`], for the
/// command's life.
fn mke2fs_config() -> std::io::Result<crate::rootfs::owned::Owned> {
    let dir = command::temp_dir()?;
    fs::write(dir.path().join("mke2fs.conf"), MKE2FS_CONF)?;
    Ok(dir)
}

/// Whether this host's `mke2fs` (1.47.1 or later) clamps inode times to
/// `SOURCE_DATE_EPOCH`.
fn mke2fs_clamps_times() -> bool {
    static CLAMPS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *CLAMPS.get_or_init(|| {
        let Ok(out) = Command::new("mke2fs").arg("-V").output() else {
            return false;
        };
        let text = String::from_utf8_lossy(&out.stderr);
        let version: Vec<u32> = text
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .split('.')
            .map(|n| n.parse().unwrap_or(0))
            .collect();
        version >= vec![1, 47, 1]
    })
}

fn warn_once_mke2fs() {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        tracing::warn!(
            "this host's mke2fs is older than 1.47.1 and keeps the tree's change times: ext4 \
             images of two cold builds will differ; scripts/setup installs a newer e2fsprogs"
        )
    });
}

/// `mkfs.vfat --invariant` (before `-i`, which then sets the volume id):
/// the volume label's entry gets a fixed time instead of the clock's.
fn fat_invariant(mkfs: &mut Command, epoch: i64) {
    mkfs.arg("--invariant")
        .env("SOURCE_DATE_EPOCH", epoch.to_string());
}

/// XFS: mount the new image privately, copy the tree in with everything
/// `cp -a` keeps, unmount whatever happens.
/// The filesystems filled by mounting the new image (a loop device), which
/// a rootless build cannot do: mkfs.xfs fills only from a protofile that
/// keeps no extended attributes, hard links or times, and Debian 12's
/// mkfs.btrfs `--rootdir` drops device numbers.
pub const FILLED_THROUGH_A_MOUNT: [&str; 2] = ["xfs", "btrfs"];

/// Why a rootless build cannot make a `fs` filesystem, when it cannot.
pub fn rootless_refusal(fs: &str) -> Option<String> {
    (FILLED_THROUGH_A_MOUNT.contains(&fs) && crate::rootfs::userns::rootless()).then(|| {
        format!(
            "a {fs} filesystem is filled through a loop mount, which needs root: \
             build it as root, or choose ext4, squashfs or erofs for a rootless build"
        )
    })
}

fn fill_through_mount(
    root: &Path,
    hidden: &[PathBuf],
    image: &Path,
    step: &str,
) -> Result<(), FilesystemError> {
    let mount_point = command::temp_dir()?;
    let mut copy = Command::new("cp");
    copy.args([
        "-a",
        "--preserve=all",
        "--no-target-directory",
        "--one-file-system",
    ])
    .arg(root)
    .arg(mount_point.path());
    let _hidden = mounts::hide_from(&mut copy, root, hidden)?;
    let mut mount = Command::new("mount");
    mount
        .args(["-o", "loop,nosuid,nodev"])
        .arg(image)
        .arg(mount_point.path());
    command::run(&format!("{step}: mounting"), &mut mount)?;
    let copied = command::run(&format!("{step}: copying the tree"), &mut copy);
    let mut umount = Command::new("umount");
    umount.arg(mount_point.path());
    let unmounted = command::run(&format!("{step}: unmounting"), &mut umount);
    copied?;
    unmounted?;
    Ok(())
}

/// The bytes a writable filesystem needs for the tree: its files' allocated
/// size plus metadata, with 20 % and 64 MiB of headroom (btrfs needs more
/// room for its chunk allocation).
fn computed_size(root: &Path, fs_type: FsType) -> std::io::Result<u64> {
    if fs_type.read_only() {
        return Ok(0);
    }
    // Reckoned from the tree's content in 4 KiB blocks, not from the
    // blocks its files take where they are now: a tree in a tmpfs (a cold
    // build's root) or an overlay gets the size it gets on disk.
    const BLOCK: u64 = 4096;
    let blocks = |bytes: u64| bytes.div_ceil(BLOCK) * BLOCK;
    let mut bytes = 0u64;
    let mut inodes = 0u64;
    let device = fs::symlink_metadata(root)?.dev();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        // ext4's directory entries: 8 bytes and the name, 4-byte aligned.
        let mut listing = 24u64;
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            inodes += 1;
            listing += (8 + entry.file_name().len() as u64).next_multiple_of(4);
            if meta.is_dir() {
                if meta.dev() == device {
                    stack.push(entry.path());
                }
            } else if meta.is_file() {
                bytes += blocks(meta.len());
            } else if meta.is_symlink() && meta.len() >= 60 {
                bytes += BLOCK; // shorter targets live in the inode
            }
        }
        bytes += blocks(listing);
    }
    let data = bytes + inodes * 512;
    let headroom = match fs_type {
        FsType::Btrfs => data / 2 + (256 << 20),
        _ => data / 5 + (64 << 20),
    };
    // mkfs.xfs refuses filesystems under 300 MiB.
    let minimum = if fs_type == FsType::Xfs { 300 << 20 } else { 0 };
    Ok(((data + headroom).div_ceil(1 << 20) << 20).max(minimum))
}

/// How to make a FAT image from a list of files.
#[derive(Debug, Clone, Default)]
pub struct FatOptions {
    /// Volume label.
    pub label: Option<String>,
    /// Volume id, 8 hex digits.
    pub volume_id: Option<String>,
    /// Size in bytes; none: the content with headroom.
    pub size_bytes: Option<u64>,
    /// `SOURCE_DATE_EPOCH`: a volume id derived from the content.
    pub source_date_epoch: Option<i64>,
}

/// The smallest FAT32 volume with 512-byte clusters (65525 of them), rounded.
const FAT32_MIN: u64 = 33 << 20;

/// Makes the FAT image `out` holding the staged files, with `mkfs.vfat`
/// and mtools (nothing mounted). FAT32 from 33 MiB on, as firmware expects
/// of an EFI system partition; smaller images get what mkfs.vfat picks.
pub fn make_fat_image(
    staged: &super::staging::Staged,
    out: &Path,
    options: &FatOptions,
) -> Result<(), FilesystemError> {
    use super::invalid;
    if let Some(label) = &options.label {
        options::label(Mkfs::Vfat, label)?;
    }
    let volume_id = match &options.volume_id {
        Some(id) => {
            let hex: String = id.chars().filter(|c| *c != '-').collect();
            if hex.len() != 8 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return invalid(format!("`{id}` is not a FAT volume id (8 hex digits)"));
            }
            Some(hex)
        }
        None => options.source_date_epoch.map(|epoch| {
            let mut parts = vec!["builder".to_string(), "fat".into(), epoch.to_string()];
            parts.extend(staged.files.iter().map(|(path, _)| path.clone()));
            let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
            super::stable_uuid(&parts)[..8].to_string()
        }),
    };
    let content = staged.content_bytes()?;
    let size = match options.size_bytes {
        Some(size) => size,
        // Room for the FATs, directories and cluster slack.
        None => (content + content / 4 + 1024 * 1024 + 64 * 1024 * staged.files.len() as u64)
            .next_multiple_of(1 << 20),
    };
    if size < content {
        return invalid(format!(
            "{size} bytes cannot hold the {content} bytes of the files"
        ));
    }
    let mut mkfs = Command::new("mkfs.vfat");
    mkfs.arg("-C");
    if size >= FAT32_MIN {
        mkfs.args(["-F", "32"]);
    }
    if let Some(label) = &options.label {
        mkfs.args(["-n", label]);
    }
    if let Some(epoch) = options.source_date_epoch {
        fat_invariant(&mut mkfs, epoch);
    }
    if let Some(id) = &volume_id {
        mkfs.args(["-i", id]);
    }
    mkfs.arg(out).arg(size.div_ceil(1024).to_string());
    command::run("FAT image", &mut mkfs)?;
    let dirs = staged.directories();
    if !dirs.is_empty() {
        let mut mmd = Command::new("mmd");
        mmd.env("MTOOLS_SKIP_CHECK", "1").arg("-i").arg(out);
        if let Some(epoch) = options.source_date_epoch {
            mmd.env("SOURCE_DATE_EPOCH", epoch.to_string());
        }
        mmd.args(dirs.iter().map(|d| format!("::/{d}")));
        command::run("FAT image directories", &mut mmd)?;
    }
    for (path, host) in &staged.files {
        let mut mcopy = Command::new("mcopy");
        mcopy
            .env("MTOOLS_SKIP_CHECK", "1")
            .args(["-o", "-i"])
            .arg(out)
            .arg(host)
            .arg(format!("::/{path}"));
        if let Some(epoch) = options.source_date_epoch {
            // mtools stamps entries with it instead of the clock.
            mcopy.env("SOURCE_DATE_EPOCH", epoch.to_string());
        }
        command::run(&format!("copying {path} into the FAT image"), &mut mcopy)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Directories, files of many sizes, a short and a long symlink.
    fn tree(root: &Path) {
        for d in 0..20 {
            let dir = root.join(format!("dir-{d}/sub"));
            fs::create_dir_all(&dir).unwrap();
            for f in 0..30 {
                fs::write(dir.join(format!("file-{f}")), vec![b'x'; f * 1000]).unwrap();
            }
        }
        std::os::unix::fs::symlink("short", root.join("link")).unwrap();
        std::os::unix::fs::symlink("l".repeat(100), root.join("long-link")).unwrap();
    }

    #[test]
    fn the_computed_size_does_not_depend_on_where_the_tree_lies() {
        let disk = tempfile::tempdir_in("/var/tmp").unwrap();
        let memory = crate::rootfs::mounts::Scratch::mount(64 << 20).unwrap();
        tree(disk.path());
        tree(memory.path());
        for fs_type in [FsType::Ext4, FsType::Xfs, FsType::Btrfs] {
            assert_eq!(
                computed_size(disk.path(), fs_type).unwrap(),
                computed_size(memory.path(), fs_type).unwrap(),
                "{fs_type:?}"
            );
        }
        // 600 files in 4 KiB blocks (9.83 MB), 41 directories and the long
        // link (172 kB), 642 inodes (329 kB): 9.85 MiB; a fifth more and
        // 64 MiB of headroom.
        assert_eq!(computed_size(disk.path(), FsType::Ext4).unwrap(), 76 << 20);
    }
}

#[cfg(test)]
mod option_tests {
    use super::*;

    fn options(fs_type: FsType, create: &[&str]) -> FilesystemOptions {
        FilesystemOptions {
            fs_type,
            label: Some("ROOT".into()),
            uuid: None,
            size_bytes: None,
            extra_bytes: 0,
            compression: None,
            create_options: create.iter().map(|s| s.to_string()).collect(),
            source_date_epoch: Some(1_700_000_000),
        }
    }

    /// Options as descriptions give them reach each tool in a form it takes.
    #[test]
    fn allowed_create_options_reach_the_tools() {
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        let root = tmp.path().join("root");
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(root.join("etc/hostname"), "golden\n").unwrap();
        for (fs_type, create) in [
            (
                FsType::Ext4,
                &[
                    "-O",
                    "^has_journal",
                    "-I",
                    "256",
                    "-E",
                    "stride=16,stripe_width=64",
                    "-m",
                    "0",
                ][..],
            ),
            (FsType::Ext3, &["-J", "size=4", "-T", "default"]),
            (
                FsType::Xfs,
                &["-i", "size=512", "-n", "ftype=1", "-m", "crc=1,reflink=1"],
            ),
            (
                FsType::Btrfs,
                &["-m", "dup", "-d", "single", "-O", "no-holes"],
            ),
            (
                FsType::Squashfs,
                &[
                    "-b",
                    "1M",
                    "-comp",
                    "xz",
                    "-Xbcj",
                    "x86",
                    "-Xdict-size",
                    "100%",
                    "-all-root",
                ],
            ),
            (
                FsType::Erofs,
                &["-zlz4hc,12", "-E", "force-inode-compact", "--all-root"],
            ),
            (FsType::Vfat, &["-F", "32", "-f", "2", "-R", "32"]),
        ] {
            let out = tmp.path().join(fs_type.name());
            make(&root, &out, &options(fs_type, create))
                .unwrap_or_else(|e| panic!("{fs_type:?} {create:?}: {e}"));
            assert!(fs::metadata(&out).unwrap().len() > 0, "{fs_type:?}");
        }
        // The create options' -E joins the host's own.
        let out = tmp.path().join("ext4-e");
        make(&root, &out, &options(FsType::Ext4, &["-E", "stride=8"])).unwrap();
        let listing = Command::new("dumpe2fs")
            .arg("-h")
            .arg(&out)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&listing.stdout);
        assert!(text.contains("RAID stride:              8"), "{text}");
    }

    /// What `debugfs` says of `path`'s access time in the filesystem at
    /// `device` (an image, or `disk?offset=N`).
    fn atime_in(device: &str, path: &str) -> String {
        let out = Command::new("debugfs")
            .args(["-R", &format!("stat {path}")])
            .arg(device)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        text.lines()
            .find_map(|l| l.trim().strip_prefix("atime: "))
            .unwrap_or_else(|| panic!("{path}: {text}"))
            .to_string()
    }

    /// Access times a read on this host moved, or ones from before the
    /// epoch, do not reach an ext4 image: every inode has the epoch.
    #[test]
    fn ext4_access_times_are_the_epoch_whatever_the_tree_had() {
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        let root = tmp.path().join("root");
        fs::create_dir_all(root.join("usr/bin")).unwrap();
        fs::write(root.join("usr/bin/awk"), "awk\n").unwrap();
        std::os::unix::fs::symlink("awk", root.join("usr/bin/nawk")).unwrap();
        let set_atimes = |seconds: i64| {
            for path in ["", "usr", "usr/bin", "usr/bin/awk", "usr/bin/nawk"] {
                let status = Command::new("touch")
                    .args(["-a", "-h", "-d", &format!("@{seconds}")])
                    .arg(root.join(path))
                    .status()
                    .unwrap();
                assert!(status.success());
            }
        };
        let options = options(FsType::Ext4, &[]);
        let epoch = "0x6553f100:00000000";
        // Before the epoch (as dpkg leaves them), then after it (as a read
        // leaves them): the same bytes, with the epoch everywhere.
        let mut images = Vec::new();
        for (n, seconds) in [1_500_000_000, 1_800_000_000].into_iter().enumerate() {
            set_atimes(seconds);
            let out = tmp.path().join(format!("ext4-{n}"));
            make(&root, &out, &options).unwrap();
            let device = out.display().to_string();
            for path in ["/", "/usr/bin", "/usr/bin/awk", "/usr/bin/nawk"] {
                assert!(atime_in(&device, path).starts_with(epoch), "{n} {path}");
            }
            images.push(fs::read(&out).unwrap());
        }
        assert!(
            images[0] == images[1],
            "the tree's access times reached the image"
        );
        let fsck = Command::new("e2fsck")
            .args(["-fn"])
            .arg(tmp.path().join("ext4-0"))
            .output()
            .unwrap();
        assert!(
            fsck.status.success(),
            "{}",
            String::from_utf8_lossy(&fsck.stdout)
        );
        // The same in a partition of a disk file.
        set_atimes(1_500_000_000);
        let disk = tmp.path().join("disk");
        fs::File::create(&disk).unwrap().set_len(64 << 20).unwrap();
        make_in_place(&root, &[], &disk, 1 << 20, 32 << 20, &options).unwrap();
        let device = format!("{}?offset={}", disk.display(), 1 << 20);
        assert!(atime_in(&device, "/usr/bin/nawk").starts_with(epoch));
        assert!(atime_in(&device, "/usr/bin/awk").starts_with(epoch));
    }

    /// The injections of issue 21 are refused before any tool runs.
    #[test]
    fn hostile_values_are_refused_before_a_tool_runs() {
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        let root = tmp.path().join("root");
        fs::create_dir_all(&root).unwrap();
        let marker = tmp.path().join("pwned");
        let pseudo = format!("pwn f 644 0 0 /bin/sh -c 'touch {}'", marker.display());
        let out = tmp.path().join("image");
        let refused = |options: FilesystemOptions| -> String {
            match make(&root, &out, &options) {
                Err(FilesystemError::Invalid(reason)) => reason,
                other => panic!("{options:?}: {other:?}"),
            }
        };
        let e = refused(FilesystemOptions {
            create_options: vec!["-p".into(), pseudo],
            ..options(FsType::Squashfs, &[])
        });
        assert!(e.contains("mksquashfs option `-p` is refused"), "{e}");
        assert!(!marker.exists() && !out.exists());
        let e = refused(options(FsType::Ext4, &["-d", "/etc/ssh"]));
        assert!(e.contains("mke2fs option `-d` is refused"), "{e}");
        let e = refused(options(FsType::Ext4, &["-E", "offset=4096"]));
        assert!(e.contains("`offset`"), "{e}");
        let e = refused(FilesystemOptions {
            uuid: Some("x".into()),
            ..options(FsType::Vfat, &[])
        });
        assert!(e.contains("UUID `x` is refused"), "{e}");
        let e = refused(FilesystemOptions {
            uuid: Some("0-0,crc=0".into()),
            ..options(FsType::Xfs, &[])
        });
        assert!(e.contains("UUID"), "{e}");
        let e = refused(FilesystemOptions {
            label: Some("TOO LONG FOR XFS".into()),
            ..options(FsType::Xfs, &[])
        });
        assert!(e.contains("at most 12 bytes"), "{e}");
        let e = refused(FilesystemOptions {
            compression: Some("xz -pf /etc/x".into()),
            ..options(FsType::Squashfs, &[])
        });
        assert!(e.contains("squashfs compression"), "{e}");
        assert!(!out.exists());
    }
}
