//! Disk images without loop devices: a sparse file, a partition table written
//! by `sfdisk` into the file, ext2/3/4 filesystems made straight into their
//! partitions (`mke2fs -E offset=`), other images copied in at their offsets
//! (runs of zeros skipped, so the disk stays sparse). Nothing is mounted and
//! no block device is created.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::filesystems::{self, FilesystemOptions};
use crate::rootfs::command;

use super::layout::{self, Slot};
pub use super::layout::{PartitionKind, PlacedPartition, Table};

/// A partition to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionSpec {
    /// GPT name.
    pub name: String,
    /// Kind.
    pub kind: PartitionKind,
    /// Size in bytes (rounded up to MiB).
    pub size_bytes: Option<u64>,
    /// What it holds.
    pub content: Option<Content>,
    /// Bootable attribute / active flag.
    pub bootable: bool,
}

/// What a partition holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// An image file, copied in at the partition's start.
    Image(PathBuf),
    /// A filesystem of the tree `root`, made straight into the partition
    /// where its tool can ([`filesystems::makes_in_place`]), else made
    /// beside the disk and copied in.
    Filesystem {
        /// The tree.
        root: PathBuf,
        /// Directories below `root` the filesystem holds empty: the mount
        /// points of other partitions ([`filesystems::make_hiding`]).
        hidden: Vec<PathBuf>,
        /// How to make it.
        options: FilesystemOptions,
    },
    /// A swap signature (`mkswap`) over the whole partition.
    Swap {
        /// Its label.
        label: Option<String>,
        /// Its UUID.
        uuid: Option<String>,
    },
    /// An LVM physical volume over the whole partition, holding one
    /// volume group ([`super::lvm`]).
    VolumeGroup(Group),
    /// A LUKS container over the whole partition ([`super::luks`]), its
    /// payload holding `content` (none: nothing, all encrypted zeros).
    Luks {
        /// How it is made.
        spec: super::luks::LuksSpec,
        /// What it holds.
        content: Option<Box<Content>>,
    },
}

/// An LVM volume group on one physical volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Its name.
    pub name: String,
    /// Its id and its physical volume's, as UUIDs.
    pub uuid: String,
    /// The physical volume's UUID.
    pub pv_uuid: String,
    /// Its logical volumes, in order.
    pub volumes: Vec<Volume>,
    /// When its volumes were made (`SOURCE_DATE_EPOCH`, else now).
    pub creation_time: i64,
}

/// One logical volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// Its name.
    pub name: String,
    /// Its id, as a UUID.
    pub uuid: String,
    /// Its size (rounded up to 4 MiB extents); none: its content's size,
    /// or for the last volume of a group with a size, the rest.
    pub size_bytes: Option<u64>,
    /// What it holds: a filesystem, a swap area or an image; none: nothing.
    pub content: Option<Content>,
}

/// The disk that was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskLayout {
    /// Disk GUID or MBR id.
    pub disk_id: String,
    /// Partitions in order.
    pub partitions: Vec<PlacedPartition>,
}

/// Why a disk image could not be made or converted.
pub type DiskError = super::ToolError;

/// The ids of one disk: its own and its partitions' (`"disk"`,
/// `"partition 2"`), each drawn once, so they can be known before the disk
/// is written. With a seed (`SOURCE_DATE_EPOCH`) they are derived from it,
/// else random.
#[derive(Debug, Clone)]
pub struct DiskIds {
    seed: Option<i64>,
    drawn: std::collections::HashMap<String, String>,
}

impl DiskIds {
    /// No id drawn yet.
    pub fn new(seed: Option<i64>) -> DiskIds {
        DiskIds {
            seed,
            drawn: Default::default(),
        }
    }

    /// The UUID named `what`, drawn when first asked for.
    pub fn get(&mut self, what: &str) -> Result<String, String> {
        if let Some(id) = self.drawn.get(what) {
            return Ok(id.clone());
        }
        let id = match self.seed {
            Some(epoch) => super::stable_uuid(&["builder-disk", what, &epoch.to_string()]),
            None => fs::read_to_string("/proc/sys/kernel/random/uuid")
                .map(|u| u.trim().to_string())
                .map_err(|e| format!("reading a random UUID: {e}"))?,
        };
        self.drawn.insert(what.to_string(), id.clone());
        Ok(id)
    }

    /// The disk id `table` gives this disk: the GPT GUID, or the MBR's
    /// 32-bit id as `0x` and 8 hex digits.
    pub fn disk_id(&mut self, table: Table) -> Result<String, String> {
        layout::disk_id(table, &mut |what| self.get(what))
    }

    /// The id partition `number` gets: its GPT partition UUID, or the
    /// MBR's `<disk id>-<nn>`.
    pub fn partition_id(&mut self, table: Table, number: u32) -> Result<String, String> {
        layout::partition_id(table, number, &mut |what| self.get(what))
    }
}

/// Makes the disk image `out` (`arch` for the root partition type; `seed`,
/// `SOURCE_DATE_EPOCH` or none, for the UUIDs).
pub fn make(
    out: &Path,
    table: Table,
    size_bytes: Option<u64>,
    partitions: &[PartitionSpec],
    arch: &str,
    seed: Option<i64>,
) -> Result<DiskLayout, DiskError> {
    let mut ids = DiskIds::new(seed);
    make_within(out, table, size_bytes, partitions, arch, &mut ids, u64::MAX)
}

/// [`make`] with the disk's `ids`, refusing a disk larger than `max_bytes` (its size as a sparse
/// file: what the partition table spans) before anything is written.
pub fn make_within(
    out: &Path,
    table: Table,
    size_bytes: Option<u64>,
    partitions: &[PartitionSpec],
    arch: &str,
    ids: &mut DiskIds,
    max_bytes: u64,
) -> Result<DiskLayout, DiskError> {
    if partitions.is_empty() {
        return Err(DiskError::Invalid(
            "a disk needs at least one partition".into(),
        ));
    }
    if table == Table::Msdos && partitions.len() > 4 {
        return Err(DiskError::Invalid(
            "an MBR disk has at most 4 primary partitions".into(),
        ));
    }
    for p in partitions {
        if table == Table::Gpt {
            // It goes into sfdisk's script as `name="…"`.
            super::options::gpt_partition_name(&p.name)?;
        }
        if let Some(content) = &p.content {
            // Refused before anything is made.
            check_content(content)?;
        }
    }
    // Read-only filesystems are as large as their content: made first,
    // beside the disk (removed when this returns).
    let mut beside = Beside::new(out);
    let mut contents = Vec::new();
    for (index, p) in partitions.iter().enumerate() {
        let key = format!("{}", index + 1);
        contents.push(match &p.content {
            Some(content) => Some(read_only_beside(content, &key, &mut beside)?),
            None => None,
        });
    }
    // What each partition holds, in bytes, where the layout needs it.
    let mut slots = Vec::new();
    for (index, (p, content)) in partitions.iter().zip(&contents).enumerate() {
        let last_of_sized = index + 1 == partitions.len() && size_bytes.is_some();
        let content_bytes = match content {
            _ if p.size_bytes.is_some() || last_of_sized => match content {
                Some(Content::Image(path)) => Some(fs::metadata(path)?.len()),
                _ => None,
            },
            Some(content) => content_size(content)?,
            None => None,
        };
        slots.push(Slot {
            name: &p.name,
            kind: p.kind,
            bootable: p.bootable,
            size_bytes: p.size_bytes,
            content_bytes,
        });
    }
    let mut uuid = |what: &str| ids.get(what);
    let layout::Layout {
        disk_size,
        disk_id,
        partitions: placed,
        script,
    } = layout::place(table, size_bytes, &slots, arch, max_bytes, &mut uuid)
        .map_err(DiskError::Invalid)?;

    let file = File::create(out)?;
    file.set_len(disk_size)?;
    drop(file);
    let script_file = command::temp_file()?;
    {
        let mut f = &script_file;
        f.write_all(script.as_bytes())?;
        f.seek(SeekFrom::Start(0))?;
    }
    let mut cmd = Command::new("sfdisk");
    cmd.args([
        "--quiet",
        "--no-reread",
        "--no-tell-kernel",
        "--wipe",
        "always",
    ])
    .arg(out);
    command::run_with_stdin("partition table: sfdisk", &mut cmd, script_file)?;

    // What goes where: each partition's content, a volume group's volumes
    // at their extents.
    let mut disk = fs::OpenOptions::new().read(true).write(true).open(out)?;
    let mut pieces = Vec::new();
    let mut seals = Vec::new();
    for (index, (content, place_)) in contents.iter().zip(&placed).enumerate() {
        if let Some(content) = content {
            let key = format!("{}", index + 1);
            place(
                &disk,
                key,
                content,
                place_.start_bytes,
                place_.size_bytes,
                &mut pieces,
                &mut seals,
            )?;
        }
    }
    // Filesystems first: mke2fs writes only its own range, and the images
    // copied in after it cannot be touched by it at all.
    for (key, content, start, size) in &pieces {
        fill(out, &mut disk, &mut beside, key, content, *start, *size)?;
    }
    for (_, content, start, _) in &pieces {
        if let Content::Image(image) = content {
            copy_sparse(image, &mut disk, *start)?;
        }
    }
    // LUKS containers last: their payloads are encrypted in place.
    drop(disk);
    for (spec, start, size) in seals {
        super::luks::seal(out, start, size, spec)?;
    }
    Ok(DiskLayout {
        disk_id,
        partitions: placed,
    })
}

/// Checks what `content` asks of its tools before anything is made.
fn check_content(content: &Content) -> Result<(), DiskError> {
    match content {
        Content::Filesystem { options, .. } => {
            filesystems::check(options)?;
        }
        Content::VolumeGroup(group) => {
            super::lvm::check_name(&group.name, "volume group").map_err(DiskError::Invalid)?;
            let mut names = std::collections::HashSet::new();
            for volume in &group.volumes {
                super::lvm::check_name(&volume.name, "logical volume")
                    .map_err(DiskError::Invalid)?;
                if !names.insert(&volume.name) {
                    return Err(DiskError::Invalid(format!(
                        "volume group {}: two logical volumes are named {}",
                        group.name, volume.name
                    )));
                }
                match &volume.content {
                    Some(Content::VolumeGroup(_)) => {
                        return Err(DiskError::Invalid(format!(
                            "logical volume {}: a volume group cannot hold another",
                            volume.name
                        )))
                    }
                    Some(content) => check_content(content)?,
                    None => {}
                }
            }
        }
        Content::Luks { spec, content } => {
            super::luks::validate(spec)?;
            if let Some(inner) = content {
                if matches!(**inner, Content::Luks { .. }) {
                    return Err(DiskError::Invalid(
                        "a LUKS container cannot hold another".into(),
                    ));
                }
                check_content(inner)?;
            }
        }
        Content::Image(_) | Content::Swap { .. } => {}
    }
    Ok(())
}

/// `content` with its read-only filesystems (and those of its volumes)
/// made beside the disk, as images: they are as large as what they hold.
fn read_only_beside(
    content: &Content,
    key: &str,
    beside: &mut Beside,
) -> Result<Content, DiskError> {
    Ok(match content {
        Content::Filesystem {
            root,
            hidden,
            options,
        } if options.fs_type.read_only() => {
            let image = beside.path(key)?;
            filesystems::make_hiding(root, hidden, &image, options)?;
            Content::Image(image)
        }
        Content::VolumeGroup(group) => {
            let mut group = group.clone();
            for volume in &mut group.volumes {
                if let Some(content) = &volume.content {
                    let key = format!("{key}-{}", volume.name);
                    volume.content = Some(read_only_beside(content, &key, beside)?);
                }
            }
            Content::VolumeGroup(group)
        }
        Content::Luks { spec, content } => Content::Luks {
            spec: spec.clone(),
            content: match content {
                Some(inner) => Some(Box::new(read_only_beside(inner, key, beside)?)),
                None => None,
            },
        },
        other => other.clone(),
    })
}

/// The bytes `content` needs, where it says: an image's, a filesystem's
/// with headroom, a volume group's volumes' on their physical volume;
/// none for a swap area (it needs a size given).
fn content_size(content: &Content) -> Result<Option<u64>, DiskError> {
    Ok(match content {
        Content::Image(path) => Some(fs::metadata(path)?.len()),
        Content::Filesystem { root, options, .. } => Some(match options.size_bytes {
            Some(bytes) => bytes,
            None => filesystems::size_for(root, options)?,
        }),
        Content::Swap { .. } => None,
        Content::VolumeGroup(group) => {
            let mut extents = 0;
            for volume in &group.volumes {
                extents += super::lvm::extents_for(volume_bytes(group, volume)?);
            }
            Some(super::lvm::pv_bytes(extents))
        }
        Content::Luks { spec, content } => match content {
            Some(inner) => {
                content_size(inner)?.map(|bytes| bytes + super::luks::payload_offset(spec.version))
            }
            None => None,
        },
    })
}

/// The bytes a volume takes when the group has no size given: its own
/// size, else its content's.
fn volume_bytes(group: &Group, volume: &Volume) -> Result<u64, DiskError> {
    if let Some(bytes) = volume.size_bytes {
        return Ok(bytes);
    }
    match volume
        .content
        .as_ref()
        .map(content_size)
        .transpose()?
        .flatten()
    {
        Some(bytes) => Ok(bytes),
        None => Err(DiskError::Invalid(format!(
            "logical volume {} of {}: a swap area or an empty volume needs a size",
            volume.name, group.name
        ))),
    }
}

/// Writes `group`'s physical volume over the partition at `start`, `size`
/// bytes long; its volumes' byte ranges. Volumes with a size take it; the
/// last without one takes the extents the others leave, the others their
/// content's size.
fn write_group(
    disk: &File,
    group: &Group,
    start: u64,
    size: u64,
) -> Result<Vec<(u64, u64)>, DiskError> {
    use super::lvm;
    let available = lvm::extents_in(size);
    let rest_of = group.volumes.iter().rposition(|v| v.size_bytes.is_none());
    let mut volumes = Vec::new();
    for (index, volume) in group.volumes.iter().enumerate() {
        let extents = if Some(index) == rest_of {
            0
        } else {
            lvm::extents_for(volume_bytes(group, volume)?)
        };
        volumes.push(lvm::LogicalVolume {
            name: volume.name.clone(),
            id: lvm::id_from_uuid(&volume.uuid),
            extents,
        });
    }
    if let Some(index) = rest_of {
        let taken: u64 = volumes.iter().map(|v| v.extents).sum();
        let rest = available.saturating_sub(taken);
        if rest == 0 {
            return Err(DiskError::Invalid(format!(
                "volume group {}: no room is left for logical volume {}",
                group.name, group.volumes[index].name
            )));
        }
        volumes[index].extents = rest;
    }
    let vg = lvm::VolumeGroup {
        name: group.name.clone(),
        id: lvm::id_from_uuid(&group.uuid),
        pv_id: lvm::id_from_uuid(&group.pv_uuid),
        volumes,
        creation_time: group.creation_time,
    };
    lvm::write(disk, start, size, &vg)
        .map_err(|e| DiskError::Invalid(format!("volume group {}: {e}", group.name)))
}

/// Makes `content` (a filesystem or swap area) into `disk` at `start`,
/// `size` bytes long: in place where its tool can, else beside and copied in.
fn fill(
    out: &Path,
    disk: &mut File,
    beside: &mut Beside,
    key: &str,
    content: &Content,
    start: u64,
    size: u64,
) -> Result<(), DiskError> {
    match content {
        Content::Swap { label, uuid } => {
            let image = beside.path(key)?;
            File::create(&image)?.set_len(size)?;
            let mut mkswap = Command::new("mkswap");
            mkswap.arg("--quiet");
            if let Some(label) = label {
                super::options::label(super::options::Mkfs::Ext, label)?;
                mkswap.arg("--label").arg(label);
            }
            if let Some(uuid) = uuid {
                super::options::uuid(uuid)?;
                mkswap.arg("--uuid").arg(uuid);
            }
            mkswap.arg(&image);
            command::run("swap partition: mkswap", &mut mkswap)?;
            copy_sparse(&image, disk, start)?;
            fs::remove_file(&image)?;
        }
        Content::Filesystem {
            root,
            hidden,
            options,
        } => {
            if filesystems::makes_in_place(options.fs_type) {
                filesystems::make_in_place(root, hidden, out, start, size, options)?;
            } else {
                let image = beside.path(key)?;
                let options = FilesystemOptions {
                    size_bytes: Some(size),
                    ..options.clone()
                };
                filesystems::make_hiding(root, hidden, &image, &options)?;
                copy_sparse(&image, disk, start)?;
                fs::remove_file(&image)?;
            }
        }
        Content::Image(_) | Content::VolumeGroup(_) | Content::Luks { .. } => {}
    }
    Ok(())
}

/// Where each part of `content` goes in the partition at `start`, `size`
/// bytes long: `pieces` gets what is made or copied in (a volume group's
/// volumes each at its extents, a LUKS container's content at its payload),
/// `seals` the containers to seal once their content is in; a volume
/// group's metadata is written now.
fn place<'a>(
    disk: &File,
    key: String,
    content: &'a Content,
    start: u64,
    size: u64,
    pieces: &mut Vec<(String, &'a Content, u64, u64)>,
    seals: &mut Vec<(&'a super::luks::LuksSpec, u64, u64)>,
) -> Result<(), DiskError> {
    match content {
        Content::VolumeGroup(group) => {
            let ranges = write_group(disk, group, start, size)?;
            for (volume, (start, size)) in group.volumes.iter().zip(ranges) {
                if let Some(content) = &volume.content {
                    pieces.push((format!("{key}-{}", volume.name), content, start, size));
                }
            }
        }
        Content::Luks { spec, content } => {
            let offset = super::luks::payload_offset(spec.version);
            if size <= offset {
                return Err(DiskError::Invalid(format!(
                    "a {size}-byte partition has no room for a LUKS payload after its {} MiB header",
                    offset >> 20
                )));
            }
            if let Some(inner) = content {
                place(
                    disk,
                    key,
                    inner,
                    start + offset,
                    size - offset,
                    pieces,
                    seals,
                )?;
            }
            seals.push((spec, start, size));
        }
        other => pieces.push((key, other, start, size)),
    }
    Ok(())
}

/// A hidden directory beside a disk for the images of its partitions that
/// are not made in place, made when first needed, removed when dropped.
struct Beside<'a> {
    disk: &'a Path,
    dir: Option<tempfile::TempDir>,
}

impl<'a> Beside<'a> {
    fn new(disk: &'a Path) -> Self {
        Beside { disk, dir: None }
    }

    /// Where the image of partition or volume `key` (`2`, `3-home`) is made.
    fn path(&mut self, key: &str) -> io::Result<PathBuf> {
        let dir = match &mut self.dir {
            Some(dir) => dir,
            None => {
                let name = self.disk.file_name().unwrap_or_default().to_string_lossy();
                self.dir.insert(
                    tempfile::Builder::new()
                        .prefix(&format!(".{name}.partitions-"))
                        .tempdir_in(self.disk.parent().unwrap_or(Path::new(".")))?,
                )
            }
        };
        Ok(dir.path().join(format!("partition-{key}.img")))
    }
}

/// A virtual disk format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskFormat {
    /// qcow2.
    Qcow2,
    /// vmdk.
    Vmdk,
    /// vhdx.
    Vhdx,
    /// VHD, dynamic.
    Vhd,
    /// VHD, fixed.
    VhdFixed,
}

/// Converts the raw disk `from` into `format` at `to` with qemu-img. With
/// a seed (`SOURCE_DATE_EPOCH`), the identifiers and times qemu-img draws
/// or reads from the clock are replaced, before anything reads the file,
/// by ones derived from the seed and `name` (the artifact's name): the
/// vmdk's content id, the VHD footer's time stamp and unique id, the
/// VHDX headers' GUIDs and sequence numbers and its disk id.
pub fn convert(
    from: &Path,
    to: &Path,
    format: DiskFormat,
    seed: Option<i64>,
    name: &str,
) -> Result<(), DiskError> {
    let mut cmd = Command::new("qemu-img");
    cmd.args(["convert", "-q", "-f", "raw", "-O"]);
    match format {
        DiskFormat::Qcow2 => cmd.args(["qcow2", "-c"]),
        DiskFormat::Vmdk => cmd.args(["vmdk", "-o", "subformat=streamOptimized"]),
        DiskFormat::Vhdx => cmd.args(["vhdx", "-o", "subformat=dynamic"]),
        DiskFormat::Vhd => cmd.args(["vpc", "-o", "subformat=dynamic,force_size=on"]),
        // VHD sizes are rounded to a CHS geometry unless forced; Azure wants
        // a fixed VHD of a whole number of MiB, as make-disk's sizes are.
        DiskFormat::VhdFixed => cmd.args(["vpc", "-o", "subformat=fixed,force_size=on"]),
    };
    cmd.arg(from).arg(to);
    command::run("disk format: qemu-img convert", &mut cmd)?;
    match format {
        DiskFormat::Vmdk => stable_vmdk_cid(to, seed, name)?,
        DiskFormat::Vhd | DiskFormat::VhdFixed => stable_vhd_ids(to, seed, name)?,
        DiskFormat::Vhdx => stable_vhdx_ids(to, seed, name)?,
        // qcow2 has neither ids nor times.
        DiskFormat::Qcow2 => {}
    }
    Ok(())
}

/// qemu-img gives a vmdk a random content id (`CID=` and up to 8 hex
/// digits in its embedded descriptor); with a seed, it is replaced by one
/// derived from the seed and the artifact's name. qemu-img draws the id
/// twice (at creation and on the first write) and rewrites the descriptor
/// in place, so a shorter second id leaves bytes of the first one after the
/// text's NUL; the whole descriptor area the header names is therefore
/// written again: the text with the stable id, then zeros.
pub(crate) fn stable_vmdk_cid(vmdk: &Path, seed: Option<i64>, file_name: &str) -> io::Result<()> {
    let Some(epoch) = seed else {
        return Ok(());
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(vmdk)?;
    let layout = |what: &str| {
        io::Error::other(format!(
            "{}: {what} (qemu-img wrote another vmdk layout)",
            vmdk.display()
        ))
    };
    // The sparse extent header: magic `KDMV`, then little-endian fields;
    // the descriptor's offset and size, in sectors, are at bytes 28 and 36.
    let mut header = [0u8; 44];
    file.read_exact_at(&mut header, 0)?;
    if &header[..4] != b"KDMV" {
        return Err(layout("no sparse extent header"));
    }
    let sectors = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().unwrap());
    let (offset, size) = (sectors(28), sectors(36));
    // qemu-img's descriptor is 20 sectors; 128 (64 KiB) bounds the read.
    if offset == 0 || size == 0 || size > 128 {
        return Err(layout("no embedded descriptor"));
    }
    let mut area = vec![0u8; size as usize * 512];
    file.read_exact_at(&mut area, offset * 512)?;
    let text_end = area.iter().position(|b| *b == 0).unwrap_or(area.len());
    let text = &area[..text_end];
    let at = (1..text.len().saturating_sub(4))
        .find(|at| text[at - 1] == b'\n' && &text[*at..at + 4] == b"CID=")
        .ok_or_else(|| layout("no `CID=` in the descriptor"))?;
    let digits = text[at + 4..]
        .iter()
        .take_while(|b| b.is_ascii_hexdigit())
        .count();
    if !(1..=8).contains(&digits) || text.get(at + 4 + digits) != Some(&b'\n') {
        return Err(layout("a `CID=` that is not 1 to 8 hex digits"));
    }
    let cid = &super::sha256_hex(format!("builder-vmdk-cid\0{file_name}\0{epoch}").as_bytes())[..8];
    let mut stable = text[..at].to_vec();
    stable.extend_from_slice(format!("CID={cid}").as_bytes());
    stable.extend_from_slice(&text[at + 4 + digits..]);
    if stable.len() >= area.len() {
        return Err(io::Error::other(format!(
            "{}: no room in the vmdk's descriptor for an 8-digit `CID=`",
            vmdk.display()
        )));
    }
    stable.resize(area.len(), 0);
    file.write_all_at(&stable, offset * 512)
}

/// Seconds from the Unix epoch to VHD's (2000-01-01 00:00:00 UTC).
const VHD_EPOCH: i64 = 946_684_800;

/// qemu-img stamps a VHD's footer (at the end, and for a dynamic VHD also
/// at the start) with the time and a random unique id; with a seed, they
/// become the seed's time and an id derived from it and `name`, and the
/// footer's checksum is made again.
fn stable_vhd_ids(vhd: &Path, seed: Option<i64>, name: &str) -> io::Result<()> {
    let Some(epoch) = seed else {
        return Ok(());
    };
    let file = fs::OpenOptions::new().read(true).write(true).open(vhd)?;
    let len = file.metadata()?.len();
    if len < 512 {
        return Err(io::Error::other(format!(
            "{}: no VHD footer",
            vhd.display()
        )));
    }
    let stamp = u32::try_from((epoch - VHD_EPOCH).max(0)).unwrap_or(u32::MAX);
    let id = super::sha256_hex(format!("builder-vhd-id\0{name}\0{epoch}").as_bytes());
    let id = hex::decode(&id[..32]).map_err(io::Error::other)?;
    let mut patched = 0;
    for offset in [0, len - 512] {
        let mut footer = [0u8; 512];
        file.read_exact_at(&mut footer, offset)?;
        if &footer[..8] != b"conectix" {
            continue;
        }
        footer[24..28].copy_from_slice(&stamp.to_be_bytes());
        footer[68..84].copy_from_slice(&id);
        footer[64..68].fill(0);
        let sum = footer
            .iter()
            .fold(0u32, |sum, b| sum.wrapping_add(u32::from(*b)));
        footer[64..68].copy_from_slice(&(!sum).to_be_bytes());
        file.write_all_at(&footer, offset)?;
        patched += 1;
    }
    if patched == 0 {
        return Err(io::Error::other(format!(
            "{}: no VHD footer (`conectix`) where qemu-img writes it",
            vhd.display()
        )));
    }
    Ok(())
}

/// Where the two VHDX headers are (MS-VHDX 2.2), and their size.
const VHDX_HEADERS: [u64; 2] = [64 << 10, 128 << 10];
const VHDX_HEADER_SIZE: usize = 4 << 10;
/// The region tables (MS-VHDX 2.2.3), each 64 KiB.
const VHDX_REGION_TABLE: u64 = 192 << 10;
/// The metadata region's GUID and the Page 83 item's (the disk's id),
/// as stored (mixed-endian, as Windows lays GUIDs out).
const VHDX_METADATA_REGION: [u8; 16] =
    guid_bytes(0x8B7C_A206, 0x4790, 0x4B9A, 0xB8FE_575F_050F_886E);
const VHDX_PAGE83: [u8; 16] = guid_bytes(0xBECA_12AB, 0xB2E6, 0x4523, 0x93EF_C309_E000_C746);

/// A GUID's 16 bytes as MS-VHDX stores them: the first three fields
/// little-endian, the last eight bytes in order.
const fn guid_bytes(a: u32, b: u16, c: u16, d: u64) -> [u8; 16] {
    let a = a.to_le_bytes();
    let b = b.to_le_bytes();
    let c = c.to_le_bytes();
    let d = d.to_be_bytes();
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5], d[6],
        d[7],
    ]
}

/// qemu-img draws a VHDX's FileWriteGuid and DataWriteGuid, the headers'
/// sequence numbers and the disk's id (the Page 83 metadata item) at
/// random; with a seed they are derived from it and `name` (the two
/// headers keep their order), and each header's CRC-32C is made again.
fn stable_vhdx_ids(vhdx: &Path, seed: Option<i64>, name: &str) -> io::Result<()> {
    let Some(epoch) = seed else {
        return Ok(());
    };
    let file = fs::OpenOptions::new().read(true).write(true).open(vhdx)?;
    let layout = |what: &str| {
        io::Error::other(format!(
            "{}: {what} is not where MS-VHDX puts it (qemu-img wrote another layout)",
            vhdx.display()
        ))
    };
    let derived = |what: &str| {
        let hex = super::sha256_hex(format!("builder-vhdx-{what}\0{name}\0{epoch}").as_bytes());
        hex::decode(&hex[..32]).map_err(io::Error::other)
    };
    let mut headers = Vec::new();
    for offset in VHDX_HEADERS {
        let mut header = vec![0u8; VHDX_HEADER_SIZE];
        file.read_exact_at(&mut header, offset)?;
        if &header[..4] != b"head" {
            return Err(layout("a header"));
        }
        headers.push((offset, header));
    }
    // The log: qemu-img writes the BAT through it and, done, marks it empty
    // (a LogGuid of zero, MS-VHDX 2.3). What is left in it then is never
    // read, but holds a random LogGuid and sequence number: cleared.
    let log_empty = headers
        .iter()
        .all(|(_, h)| h[48..64].iter().all(|b| *b == 0));
    if !log_empty {
        return Err(io::Error::other(format!(
            "{}: the VHDX log holds entries still to be replayed (qemu-img left it open)",
            vhdx.display()
        )));
    }
    let (_, header) = &headers[0];
    let log_length = u64::from(u32::from_le_bytes(
        header[68..72].try_into().expect("4 bytes"),
    ));
    let log_offset = u64::from_le_bytes(header[72..80].try_into().expect("8 bytes"));
    if log_length > 0 {
        if log_offset < (1 << 20) || log_length > (256 << 20) {
            return Err(layout("the log"));
        }
        file.write_all_at(&vec![0u8; log_length as usize], log_offset)?;
    }
    let sequence = |h: &[u8]| u64::from_le_bytes(h[8..16].try_into().expect("8 bytes"));
    let first = headers.iter().map(|(_, h)| sequence(h)).min().unwrap_or(0);
    let (file_write, data_write) = (derived("file-write")?, derived("data-write")?);
    for (offset, header) in &mut headers {
        // Sequence numbers from 1, as far apart as qemu-img made them.
        let renumbered = 1 + (sequence(header) - first);
        header[8..16].copy_from_slice(&renumbered.to_le_bytes());
        header[16..32].copy_from_slice(&file_write);
        header[32..48].copy_from_slice(&data_write);
        header[4..8].fill(0);
        let sum = crc32c::crc32c(header);
        header[4..8].copy_from_slice(&sum.to_le_bytes());
        file.write_all_at(header, *offset)?;
    }
    // The region table gives the metadata region; its table, the Page 83
    // item (offsets within the region).
    let mut table = vec![0u8; 64 << 10];
    file.read_exact_at(&mut table, VHDX_REGION_TABLE)?;
    if &table[..4] != b"regi" {
        return Err(layout("the region table"));
    }
    let entries = u32::from_le_bytes(table[8..12].try_into().expect("4 bytes")) as usize;
    let metadata = vhdx_entry(&table, 16, entries, &VHDX_METADATA_REGION)
        .map(|entry| u64::from_le_bytes(entry[16..24].try_into().expect("8 bytes")))
        .ok_or_else(|| layout("the metadata region"))?;
    let mut items = vec![0u8; 64 << 10];
    file.read_exact_at(&mut items, metadata)?;
    if &items[..8] != b"metadata" {
        return Err(layout("the metadata table"));
    }
    let count = u16::from_le_bytes(items[10..12].try_into().expect("2 bytes")) as usize;
    let page83 = vhdx_entry(&items, 32, count, &VHDX_PAGE83)
        .map(|entry| {
            u64::from(u32::from_le_bytes(
                entry[16..20].try_into().expect("4 bytes"),
            ))
        })
        .ok_or_else(|| layout("the disk's id (Page 83 item)"))?;
    file.write_all_at(&derived("disk-id")?, metadata + page83)
}

/// The entry for `guid` among the `count` 32-byte entries of a VHDX table
/// (region table or metadata table) that start at `first`, each led by
/// its GUID.
fn vhdx_entry<'a>(
    table: &'a [u8],
    first: usize,
    count: usize,
    guid: &[u8; 16],
) -> Option<&'a [u8]> {
    table
        .get(first..)?
        .chunks_exact(32)
        .take(count)
        .find(|entry| entry[..16] == guid[..])
}

/// Copies `from` into `to` at `offset`, seeking over blocks of zeros.
fn copy_sparse(from: &Path, to: &mut File, offset: u64) -> io::Result<()> {
    const BLOCK: usize = 64 * 1024;
    let mut source = File::open(from)?;
    let mut buffer = vec![0u8; BLOCK];
    let mut position = offset;
    loop {
        // A plugin call's deadline or Ctrl-C stops a long copy.
        crate::interrupt::check_stop("copying an image into a disk").map_err(io::Error::other)?;
        let mut filled = 0;
        while filled < BLOCK {
            match source.read(&mut buffer[filled..])? {
                0 => break,
                n => filled += n,
            }
        }
        if filled == 0 {
            return Ok(());
        }
        if buffer[..filled].iter().any(|b| *b != 0) {
            to.seek(SeekFrom::Start(position))?;
            to.write_all(&buffer[..filled])?;
        }
        position += filled as u64;
        if filled < BLOCK {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toolbox::filesystems::{self, FilesystemOptions, FsType};
    use crate::toolbox::layout::MIB;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn sfdisk_json(disk: &Path) -> serde_json::Value {
        let out = Command::new("sfdisk").arg("-J").arg(disk).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn filesystem(dir: &Path, name: &str, fs_type: FsType, tree: &Path) -> PathBuf {
        let out = dir.join(name);
        filesystems::make(
            tree,
            &out,
            &FilesystemOptions {
                fs_type,
                label: Some(name.to_uppercase()),
                uuid: None,
                size_bytes: Some(40 << 20),
                extra_bytes: 0,
                compression: None,
                create_options: vec![],
                source_date_epoch: Some(1_700_000_000),
            },
        )
        .unwrap();
        out
    }

    #[test]
    fn a_gpt_disk_holds_its_partitions_at_their_offsets() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = tmp.path().join("tree");
        fs::create_dir_all(tree.join("etc")).unwrap();
        fs::write(tree.join("etc/hostname"), "golden\n").unwrap();
        let esp = filesystem(tmp.path(), "esp", FsType::Vfat, &tree);
        let root = filesystem(tmp.path(), "root", FsType::Ext4, &tree);
        let disk = tmp.path().join("disk.raw");
        let parts = [
            PartitionSpec {
                name: "p.legacy".into(),
                kind: PartitionKind::BiosBoot,
                size_bytes: Some(MIB),
                content: None,
                bootable: false,
            },
            PartitionSpec {
                name: "p.UEFI".into(),
                kind: PartitionKind::Esp,
                size_bytes: Some(64 << 20),
                content: Some(Content::Image(esp.clone())),
                bootable: false,
            },
            PartitionSpec {
                name: "p.lxroot".into(),
                kind: PartitionKind::Root,
                size_bytes: None,
                content: Some(Content::Image(root.clone())),
                bootable: true,
            },
        ];
        let layout = make(&disk, Table::Gpt, None, &parts, "x86_64", Some(1)).unwrap();
        let again = make(
            &tmp.path().join("again.raw"),
            Table::Gpt,
            None,
            &parts,
            "x86_64",
            Some(1),
        )
        .unwrap();
        assert_eq!(layout, again, "stable ids with a seed");

        let table = sfdisk_json(&disk);
        let pt = &table["partitiontable"];
        assert_eq!(pt["label"], "gpt");
        assert_eq!(pt["id"].as_str().unwrap().to_lowercase(), layout.disk_id);
        let found = pt["partitions"].as_array().unwrap();
        assert_eq!(found.len(), 3);
        let types = ["21686148", "C12A7328", "4F68BCE3"];
        for ((p, placed), ty) in found.iter().zip(&layout.partitions).zip(types) {
            assert_eq!(p["start"].as_u64().unwrap() * 512, placed.start_bytes);
            assert_eq!(p["size"].as_u64().unwrap() * 512, placed.size_bytes);
            assert_eq!(p["name"], placed.name.as_str());
            assert!(p["type"].as_str().unwrap().starts_with(ty), "{p}");
            assert_eq!(p["uuid"].as_str().unwrap().to_lowercase(), placed.uuid);
            assert_eq!(placed.start_bytes % MIB, 0);
        }
        assert_eq!(found[2]["attrs"], "LegacyBIOSBootable");
        // Each content image lies at its partition's offset, byte for byte.
        let bytes = fs::read(&disk).unwrap();
        for (content, placed) in [
            (&esp, &layout.partitions[1]),
            (&root, &layout.partitions[2]),
        ] {
            let image = fs::read(content).unwrap();
            let start = placed.start_bytes as usize;
            assert!(
                bytes[start..start + image.len()] == image[..],
                "{}",
                placed.name
            );
        }
        // The disk stays sparse: far fewer blocks than its size.
        use std::os::unix::fs::MetadataExt;
        let meta = fs::metadata(&disk).unwrap();
        assert!(
            meta.blocks() * 512 < meta.len(),
            "{} of {}",
            meta.blocks() * 512,
            meta.len()
        );
    }

    /// KIWI's `<systemdisk>` layout: an LVM partition whose volume group
    /// holds a sized swap volume, /home of its content's size and the root
    /// taking the rest; each filesystem lies at its volume's extents, and
    /// LVM's own `lvs` reads the group.
    #[test]
    fn a_volume_group_holds_the_root_home_and_swap() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = tmp.path().join("tree");
        fs::create_dir_all(tree.join("home/user")).unwrap();
        fs::create_dir_all(tree.join("etc")).unwrap();
        fs::write(tree.join("home/user/note"), "on home\n").unwrap();
        fs::write(tree.join("etc/hostname"), "golden\n").unwrap();
        let ext4 = |label: &str, uuid: &str| FilesystemOptions {
            fs_type: FsType::Ext4,
            label: Some(label.into()),
            uuid: Some(uuid.into()),
            size_bytes: None,
            extra_bytes: 0,
            compression: None,
            create_options: vec![],
            source_date_epoch: Some(1_700_000_000),
        };
        let root_uuid = "0e3f4c6a-1b2d-4e5f-8a9b-0c1d2e3f4a5b";
        let home_uuid = "1e3f4c6a-1b2d-4e5f-8a9b-0c1d2e3f4a5b";
        let volume = |name: &str, size_bytes, content| Volume {
            name: name.into(),
            uuid: crate::toolbox::stable_uuid(&["test", name]),
            size_bytes,
            content,
        };
        let group = Group {
            name: "systemVG".into(),
            uuid: crate::toolbox::stable_uuid(&["test", "vg"]),
            pv_uuid: crate::toolbox::stable_uuid(&["test", "pv"]),
            creation_time: 1_700_000_000,
            volumes: vec![
                volume(
                    "LVSwap",
                    Some(8 << 20),
                    Some(Content::Swap {
                        label: Some("SWAP".into()),
                        uuid: Some("2e3f4c6a-1b2d-4e5f-8a9b-0c1d2e3f4a5b".into()),
                    }),
                ),
                volume(
                    "home",
                    None,
                    Some(Content::Filesystem {
                        root: tree.join("home"),
                        hidden: vec![],
                        options: ext4("HOME", home_uuid),
                    }),
                ),
                volume(
                    "LVRoot",
                    None,
                    Some(Content::Filesystem {
                        root: tree.clone(),
                        hidden: vec![PathBuf::from("home")],
                        options: ext4("ROOT", root_uuid),
                    }),
                ),
            ],
        };
        let disk = tmp.path().join("lvm.raw");
        let parts = [PartitionSpec {
            name: "p.lxlvm".into(),
            kind: PartitionKind::Lvm,
            size_bytes: None,
            content: Some(Content::VolumeGroup(group.clone())),
            bootable: false,
        }];
        let layout = make(
            &disk,
            Table::Gpt,
            Some(256 << 20),
            &parts,
            "x86_64",
            Some(1),
        )
        .unwrap();
        let part = &layout.partitions[0];
        let table = sfdisk_json(&disk);
        assert!(
            table["partitiontable"]["partitions"][0]["type"]
                .as_str()
                .unwrap()
                .starts_with("E6D6D379"),
            "{table}"
        );
        // The volumes' extents, in order: swap 2, home its content's, the root the rest.
        let extents =
            |start: u64| (start - part.start_bytes - crate::toolbox::lvm::DATA_START) / (4 << 20);
        let home_start = part.start_bytes + crate::toolbox::lvm::DATA_START + (8 << 20);
        let probe = |offset: u64, tag: &str| {
            output(
                Command::new("blkid")
                    .args(["-p", "-o", "value", "-s", tag, "-O", &offset.to_string()])
                    .arg(&disk),
            )
            .trim()
            .to_string()
        };
        assert_eq!(probe(part.start_bytes, "TYPE"), "LVM2_member");
        assert_eq!(
            probe(part.start_bytes + crate::toolbox::lvm::DATA_START, "TYPE"),
            "swap"
        );
        assert_eq!(probe(home_start, "UUID"), home_uuid);
        let debugfs = |offset: u64, request: &str| {
            output(
                Command::new("debugfs")
                    .args(["-R", request])
                    .arg(format!("{}?offset={offset}", disk.display())),
            )
        };
        assert_eq!(debugfs(home_start, "cat /user/note"), "on home\n");
        // The root follows home's extents: find it by its superblock.
        let stats = debugfs(home_start, "stats");
        let field = |name: &str| -> u64 {
            stats
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        };
        let home_bytes = field("Block count:") * field("Block size:");
        let root_start = home_start + home_bytes;
        assert_eq!(home_bytes % (4 << 20), 0);
        assert_eq!(extents(root_start), 2 + home_bytes / (4 << 20));
        assert_eq!(probe(root_start, "UUID"), root_uuid);
        assert_eq!(debugfs(root_start, "cat /etc/hostname"), "golden\n");
        assert!(!debugfs(root_start, "ls /home").contains("user"));
        // LVM's own tools read the group (where they and root are here).
        let lvs = Command::new("lvs").arg("--version").output();
        if lvs.is_ok_and(|o| o.status.success()) && rustix::process::geteuid().is_root() {
            let loop_dev = output(
                Command::new("losetup")
                    .args(["--find", "--show", "--read-only", "--offset"])
                    .arg(part.start_bytes.to_string())
                    .args(["--sizelimit", &part.size_bytes.to_string()])
                    .arg(&disk),
            );
            let loop_dev = loop_dev.trim();
            let config =
                format!("devices {{ filter=[\"a|^{loop_dev}$|\",\"r|.*|\"] use_devicesfile=0 }}");
            let report = Command::new("lvs")
                .args(["--config", &config, "--readonly", "--noheadings"])
                .args(["-o", "lv_name,seg_pe_ranges"])
                .output()
                .unwrap();
            let _ = Command::new("losetup").arg("-d").arg(loop_dev).status();
            let said = String::from_utf8_lossy(&report.stdout);
            let names: Vec<&str> = said.split_whitespace().step_by(2).collect();
            assert_eq!(names, ["LVRoot", "LVSwap", "home"], "{said}");
            assert!(said.contains(&format!("{loop_dev}:0-1")), "{said}");
        } else {
            eprintln!("skipped: reading the group with lvs needs root and Debian's lvm2");
        }
        // The same group makes the same disk.
        let again = tmp.path().join("again.raw");
        make(
            &again,
            Table::Gpt,
            Some(256 << 20),
            &parts,
            "x86_64",
            Some(1),
        )
        .unwrap();
        assert!(fs::read(&disk).unwrap() == fs::read(&again).unwrap());
        // A swap volume without a size cannot be sized on a disk without one.
        let mut no_size = group.clone();
        no_size.volumes[0].size_bytes = None;
        let err = make(
            &tmp.path().join("bad.raw"),
            Table::Gpt,
            None,
            &[PartitionSpec {
                content: Some(Content::VolumeGroup(no_size)),
                ..parts[0].clone()
            }],
            "x86_64",
            Some(1),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("LVSwap of systemVG: a swap area"),
            "{err}"
        );
    }

    /// KIWI's `luks` with `<systemdisk>`: a disk whose LVM partition is
    /// inside a LUKS container. The container is there, and its payload,
    /// decrypted with the key cryptsetup dumps, starts with the LVM label
    /// of the group's physical volume.
    #[test]
    fn a_volume_group_inside_a_luks_container() {
        use crate::toolbox::luks::tests::{
            dumped_volume_key, fast_spec, have, openssl_xts_decrypt, output,
        };
        use crate::toolbox::luks::{payload_offset, LuksSpec, LuksVersion};
        if !have("cryptsetup", &["--version"]) || !have("openssl", &["version"]) {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let disk = dir.path().join("disk.raw");
        let group = Group {
            name: "systemVG".into(),
            uuid: crate::toolbox::stable_uuid(&["vg"]),
            pv_uuid: crate::toolbox::stable_uuid(&["pv"]),
            volumes: vec![Volume {
                name: "LVSwap".into(),
                uuid: crate::toolbox::stable_uuid(&["lv"]),
                size_bytes: Some(8 * MIB),
                content: Some(Content::Swap {
                    label: Some("SWAP".into()),
                    uuid: None,
                }),
            }],
            creation_time: 1_700_000_000,
        };
        let spec = LuksSpec {
            uuid: Some("4b8f3b1e-2c3d-4e5f-8a9b-0c1d2e3f4a5b".into()),
            ..fast_spec(LuksVersion::Luks2)
        };
        let layout = make(
            &disk,
            Table::Gpt,
            None,
            &[PartitionSpec {
                name: "p.lxlvm".into(),
                kind: PartitionKind::Lvm,
                size_bytes: None,
                content: Some(Content::Luks {
                    spec,
                    content: Some(Box::new(Content::VolumeGroup(group))),
                }),
                bootable: false,
            }],
            "x86_64",
            Some(1),
        )
        .unwrap();
        let placed = &layout.partitions[0];
        // The partition: the header, then the group's 1 MiB and 8 MiB volume.
        assert_eq!(
            placed.size_bytes,
            payload_offset(LuksVersion::Luks2) + 9 * MIB
        );
        let bytes = std::fs::read(&disk).unwrap();
        let start = placed.start_bytes as usize;
        let partition = dir.path().join("partition");
        std::fs::write(
            &partition,
            &bytes[start..start + placed.size_bytes as usize],
        )
        .unwrap();
        let dump = output(
            "cryptsetup",
            &["luksDump", partition.to_str().unwrap()],
            b"",
        )
        .unwrap();
        let dump = String::from_utf8_lossy(&dump);
        assert!(
            dump.contains("4b8f3b1e-2c3d-4e5f-8a9b-0c1d2e3f4a5b"),
            "{dump}"
        );
        let key = dumped_volume_key(&partition);
        let payload = start + payload_offset(LuksVersion::Luks2) as usize;
        let first = openssl_xts_decrypt(&key, &bytes[payload..payload + 1024], 0);
        assert_eq!(&first[512..520], b"LABELONE");
        assert_eq!(&first[536..544], b"LVM2 001");
        // Encrypted on the disk: no label in the clear.
        assert_ne!(&bytes[payload + 512..payload + 520], b"LABELONE");
    }

    /// What `cmd` prints, which must succeed.
    fn output(cmd: &mut Command) -> String {
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{cmd:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// KIWI's `bootpartition` and `oem-swap` layout: /boot a filesystem of
    /// its own, made of the tree's /boot, which the root's filesystem (made
    /// in place, ext4, or copied in, xfs) holds empty with its owner and
    /// mode; swap with its signature. The tree itself is not changed.
    #[test]
    fn a_separate_boot_and_swap_partition() {
        for root_type in [FsType::Ext4, FsType::Xfs] {
            let tmp = tempfile::tempdir().unwrap();
            let tree = tmp.path().join("tree");
            fs::create_dir_all(tree.join("boot/grub")).unwrap();
            fs::create_dir_all(tree.join("etc")).unwrap();
            fs::write(tree.join("boot/vmlinuz-1"), "kernel").unwrap();
            fs::write(tree.join("etc/hostname"), "golden\n").unwrap();
            fs::set_permissions(tree.join("boot"), fs::Permissions::from_mode(0o700)).unwrap();
            let options = |fs_type, label: &str| FilesystemOptions {
                fs_type,
                label: Some(label.into()),
                uuid: None,
                size_bytes: None,
                extra_bytes: 0,
                compression: None,
                create_options: Vec::new(),
                source_date_epoch: Some(1_700_000_000),
            };
            let parts = [
                PartitionSpec {
                    name: "p.lxboot".into(),
                    kind: PartitionKind::Xbootldr,
                    size_bytes: Some(32 << 20),
                    content: Some(Content::Filesystem {
                        root: tree.join("boot"),
                        hidden: Vec::new(),
                        options: options(FsType::Ext4, "BOOT"),
                    }),
                    bootable: false,
                },
                PartitionSpec {
                    name: "p.swap".into(),
                    kind: PartitionKind::Swap,
                    size_bytes: Some(16 << 20),
                    content: Some(Content::Swap {
                        label: Some("SWAP".into()),
                        uuid: Some("2b9c8f0e-4f3a-4d6b-9a51-0c6f3e8d7a12".into()),
                    }),
                    bootable: false,
                },
                PartitionSpec {
                    name: "p.lxroot".into(),
                    kind: PartitionKind::Root,
                    size_bytes: None,
                    content: Some(Content::Filesystem {
                        root: tree.clone(),
                        hidden: vec![PathBuf::from("boot")],
                        options: options(root_type, "ROOT"),
                    }),
                    bootable: false,
                },
            ];
            let disk = tmp.path().join("disk.raw");
            let layout = make(
                &disk,
                Table::Gpt,
                Some(400 << 20),
                &parts,
                "x86_64",
                Some(1),
            )
            .unwrap();
            let table = sfdisk_json(&disk);
            let found = table["partitiontable"]["partitions"].as_array().unwrap();
            let summary: Vec<(String, String, u64)> = found
                .iter()
                .map(|p| {
                    (
                        p["name"].as_str().unwrap().to_string(),
                        p["type"].as_str().unwrap().to_string(),
                        p["size"].as_u64().unwrap(),
                    )
                })
                .collect();
            assert_eq!(
                summary[..2],
                [
                    (
                        "p.lxboot".to_string(),
                        "BC13C2FF-59E6-4262-A352-B275FD6F7172".to_string(),
                        32 * 2048
                    ),
                    (
                        "p.swap".to_string(),
                        "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F".to_string(),
                        16 * 2048
                    ),
                ],
                "{table}"
            );
            assert_eq!(summary[2].1, "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709");
            let probe = |p: &PlacedPartition, tag: &str| -> String {
                let out = Command::new("blkid")
                    .args(["-p", "-o", "value", "-s", tag, "-O"])
                    .arg(p.start_bytes.to_string())
                    .arg(&disk)
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&out.stdout).trim().to_string()
            };
            let [boot, swap, root] = &layout.partitions[..] else {
                panic!("{layout:?}")
            };
            assert_eq!(probe(swap, "TYPE"), "swap");
            assert_eq!(probe(swap, "LABEL"), "SWAP");
            assert_eq!(probe(swap, "UUID"), "2b9c8f0e-4f3a-4d6b-9a51-0c6f3e8d7a12");
            assert_eq!(probe(boot, "LABEL"), "BOOT");
            assert_eq!(probe(root, "TYPE"), root_type.name());
            // /boot's content is on its own filesystem, at its top.
            let debugfs = |p: &PlacedPartition, request: &str| -> String {
                let out = Command::new("debugfs")
                    .args(["-R", request])
                    .arg(format!("{}?offset={}", disk.display(), p.start_bytes))
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&out.stdout).into_owned()
            };
            assert!(debugfs(boot, "ls /").contains("vmlinuz-1"));
            // The root holds /boot empty, as the tree's /boot (mode 0700).
            let mounted = tmp.path().join("mnt");
            fs::create_dir(&mounted).unwrap();
            let status = Command::new("mount")
                .args(["-o", &format!("ro,loop,offset={}", root.start_bytes)])
                .arg(&disk)
                .arg(&mounted)
                .status()
                .unwrap();
            assert!(status.success());
            let boot_dir = fs::read_dir(mounted.join("boot")).map(|d| d.count());
            let mode = fs::metadata(mounted.join("boot")).map(|m| m.mode() & 0o7777);
            let hostname = fs::read_to_string(mounted.join("etc/hostname"));
            let status = Command::new("umount").arg(&mounted).status().unwrap();
            assert!(status.success());
            assert_eq!(boot_dir.unwrap(), 0, "{root_type:?}");
            assert_eq!(mode.unwrap(), 0o700, "{root_type:?}");
            assert_eq!(hostname.unwrap(), "golden\n");
            // The tree is as it was.
            assert!(tree.join("boot/vmlinuz-1").is_file());
        }
    }

    #[test]
    fn filesystems_are_made_in_their_partitions() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = tmp.path().join("tree");
        fs::create_dir_all(tree.join("etc")).unwrap();
        fs::write(tree.join("etc/hostname"), "golden\n").unwrap();
        let options = |fs_type, label: &str, create_options: Vec<String>| FilesystemOptions {
            fs_type,
            label: Some(label.into()),
            uuid: None,
            size_bytes: None,
            extra_bytes: 0,
            compression: None,
            create_options,
            source_date_epoch: Some(1_700_000_000),
        };
        let part = |name: &str, size: Option<u64>, content| PartitionSpec {
            name: name.into(),
            kind: PartitionKind::Linux,
            size_bytes: size,
            content: Some(content),
            bootable: false,
        };
        let fs = |options| Content::Filesystem {
            root: tree.clone(),
            hidden: Vec::new(),
            options,
        };
        let esp = filesystem(tmp.path(), "esp", FsType::Vfat, &tree);
        let parts = [
            // Before the others: nothing made later may overwrite it.
            part("esp", Some(40 << 20), Content::Image(esp.clone())),
            // No size: the tree with headroom; the caller's -E kept beside
            // the offset.
            part(
                "sized",
                None,
                fs(options(
                    FsType::Ext4,
                    "SIZED",
                    vec!["-E".into(), "stride=4".into()],
                )),
            ),
            // Read-only: made beside the disk, as large as its content.
            part(
                "squash",
                None,
                fs(options(FsType::Squashfs, "SQUASH", vec![])),
            ),
            // Not in place either, but writable: fills its partition.
            part(
                "fat",
                Some(40 << 20),
                fs(options(FsType::Vfat, "FAT", vec![])),
            ),
            // The last partition of a sized disk: the rest of it.
            part("rest", None, fs(options(FsType::Ext2, "REST", vec![]))),
        ];
        let disk = tmp.path().join("disk.raw");
        let size = 400 << 20;
        let layout = make(&disk, Table::Gpt, Some(size), &parts, "x86_64", Some(1)).unwrap();
        assert_eq!(fs::metadata(&disk).unwrap().len(), size);
        let table = sfdisk_json(&disk);
        let found = table["partitiontable"]["partitions"].as_array().unwrap();
        assert_eq!(found.len(), 5, "{table}");
        let [esp_at, sized, squash, fat, rest] = &layout.partitions[..] else {
            panic!("{layout:?}")
        };
        assert_eq!(rest.start_bytes + rest.size_bytes, size - MIB);
        // Nothing beside the disk is left.
        let names: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.contains("partitions")), "{names:?}");

        let at = |p: &PlacedPartition| format!("{}?offset={}", disk.display(), p.start_bytes);
        let image = fs::read(&esp).unwrap();
        let bytes = fs::read(&disk).unwrap();
        let start = esp_at.start_bytes as usize;
        assert!(
            bytes[start..start + image.len()] == image[..],
            "the ESP image"
        );
        for (p, label, stride) in [(sized, "SIZED", true), (rest, "REST", false)] {
            output(Command::new("e2fsck").arg("-fn").arg(at(p)));
            // debugfs: dumpe2fs 1.47.2 no longer opens `FILE?offset=N`.
            let header = output(Command::new("debugfs").args(["-R", "stats"]).arg(at(p)));
            let field = |name: &str| {
                header
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.trim().to_string())
                    .unwrap_or_default()
            };
            assert_eq!(field("Filesystem volume name:"), label);
            // A writable filesystem fills its partition.
            let blocks: u64 = field("Block count:").parse().unwrap();
            let block_size: u64 = field("Block size:").parse().unwrap();
            assert_eq!(blocks * block_size, p.size_bytes, "{label}");
            assert_eq!(field("RAID stride:") == "4", stride, "{header}");
            let hostname = output(
                Command::new("debugfs")
                    .args(["-R", "cat /etc/hostname"])
                    .arg(at(p)),
            );
            assert_eq!(hostname, "golden\n");
        }
        let listing = output(
            Command::new("unsquashfs")
                .args(["-l", "-o", &squash.start_bytes.to_string()])
                .arg(&disk),
        );
        assert!(listing.contains("squashfs-root/etc/hostname"), "{listing}");
        let files = output(
            Command::new("mdir")
                .args([
                    "-b",
                    "-i",
                    &format!("{}@@{}", disk.display(), fat.start_bytes),
                ])
                .arg("::/etc"),
        );
        assert!(files.to_lowercase().contains("hostname"), "{files}");
        assert_eq!(fat.size_bytes, 40 << 20);
    }

    #[test]
    fn disks_convert_to_every_format_with_the_same_content() {
        let tmp = tempfile::tempdir().unwrap();
        let raw = tmp.path().join("disk.raw");
        let tree = tmp.path().join("tree");
        fs::create_dir_all(tree.join("etc")).unwrap();
        fs::write(tree.join("etc/hostname"), "golden\n").unwrap();
        let root = filesystem(tmp.path(), "root", FsType::Ext4, &tree);
        let part = PartitionSpec {
            name: "p.lxroot".into(),
            kind: PartitionKind::Root,
            size_bytes: None,
            content: Some(Content::Image(root)),
            bootable: false,
        };
        make(&raw, Table::Gpt, None, &[part], "x86_64", Some(1)).unwrap();
        let raw_size = fs::metadata(&raw).unwrap().len();
        for (format, name, qemu) in [
            (DiskFormat::Qcow2, "qcow2", "qcow2"),
            (DiskFormat::Vmdk, "vmdk", "vmdk"),
            (DiskFormat::Vhdx, "vhdx", "vhdx"),
            (DiskFormat::Vhd, "vhd", "vpc"),
            (DiskFormat::VhdFixed, "vhdfixed", "vpc"),
        ] {
            let out = tmp.path().join(format!("disk.{name}"));
            convert(&raw, &out, format, Some(1_700_000_000), name).unwrap();
            // The same bytes again, seconds later.
            {
                std::thread::sleep(std::time::Duration::from_millis(1100));
                // Same file name: a vmdk's descriptor names its extent file.
                let again_dir = tmp.path().join("again");
                fs::create_dir_all(&again_dir).unwrap();
                let again = again_dir.join(format!("disk.{name}"));
                convert(&raw, &again, format, Some(1_700_000_000), name).unwrap();
                let (a, b) = (fs::read(&out).unwrap(), fs::read(&again).unwrap());
                let differ: Vec<usize> = (0..a.len().min(b.len()))
                    .filter(|i| a[*i] != b[*i])
                    .take(8)
                    .collect();
                assert!(
                    a == b,
                    "{name}: two conversions differ (lengths {} and {}, first at {differ:?})",
                    a.len(),
                    b.len()
                );
            }
            // A fixed VHD is the raw bytes plus a footer: qemu-img probes it
            // as raw, so the format is named.
            let info = Command::new("qemu-img")
                .args(["info", "--output=json", "-f", qemu])
                .arg(&out)
                .output()
                .unwrap();
            let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
            assert_eq!(info["format"], qemu, "{name}");
            assert_eq!(info["virtual-size"].as_u64().unwrap(), raw_size, "{name}");
            // The guest sees the same bytes.
            let same = Command::new("qemu-img")
                .args(["compare", "-q", "-f", "raw", "-F", qemu])
                .arg(&raw)
                .arg(&out)
                .status()
                .unwrap();
            assert!(same.success(), "{name}: content differs");
        }
        let fixed = fs::read(tmp.path().join("disk.vhdfixed")).unwrap();
        assert_eq!(fixed.len() as u64, raw_size + 512);
        assert_eq!(&fixed[fixed.len() - 512..][..8], b"conectix");
    }

    #[test]
    fn an_mbr_disk_and_bad_layouts() {
        let tmp = tempfile::tempdir().unwrap();
        let disk = tmp.path().join("mbr.raw");
        let part = |name: &str, kind, size: Option<u64>| PartitionSpec {
            name: name.into(),
            kind,
            size_bytes: size,
            content: None,
            bootable: kind == PartitionKind::Root,
        };
        let layout = make(
            &disk,
            Table::Msdos,
            Some(256 << 20),
            &[
                part("boot", PartitionKind::Esp, Some(32 << 20)),
                part("root", PartitionKind::Root, None),
            ],
            "x86_64",
            None,
        )
        .unwrap();
        assert_eq!(fs::metadata(&disk).unwrap().len(), 256 << 20);
        let table = sfdisk_json(&disk);
        let found = table["partitiontable"]["partitions"].as_array().unwrap();
        assert_eq!(table["partitiontable"]["label"], "dos");
        assert_eq!(found[0]["type"], "ef");
        assert_eq!(found[1]["type"], "83");
        assert_eq!(found[1]["bootable"], true);
        assert_eq!(
            found[1]["size"].as_u64().unwrap() * 512,
            layout.partitions[1].size_bytes
        );
        // What cannot be laid out is said.
        let err = make(
            &disk,
            Table::Msdos,
            None,
            &[part("legacy", PartitionKind::BiosBoot, Some(MIB))],
            "x86_64",
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("GPT"), "{err}");
        let err = make(
            &disk,
            Table::Gpt,
            Some(8 << 20),
            &[part("root", PartitionKind::Root, Some(64 << 20))],
            "x86_64",
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("more than the disk"), "{err}");
    }
}
