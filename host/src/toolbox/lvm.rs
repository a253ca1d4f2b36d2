//! LVM2 physical volumes written as bytes: the label, one metadata area and
//! one volume group of linear logical volumes, laid out as `pvcreate`,
//! `vgcreate` and `lvcreate` of LVM 2.03 lay them out, with ids the caller
//! gives. No device-mapper, loop device or LVM tool is needed, and the same
//! ids and time give the same bytes.
//!
//! The layout (all offsets from the partition's start):
//! - sector 1: the label (`LABELONE`, type `LVM2 001`) and the PV header,
//!   naming one data area from [`DATA_START`] on and one metadata area;
//! - [`MDA_START`]: the metadata area's header, then the volume group's
//!   text metadata 512 bytes further;
//! - [`DATA_START`]: the physical extents, [`EXTENT_BYTES`] each, handed to
//!   the logical volumes in order, each volume one linear segment.

use std::fmt::Write as _;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Where the physical extents start (`pe_start`), as `pvcreate` puts them.
pub const DATA_START: u64 = 1 << 20;
/// The size of one physical extent (`vgcreate`'s default).
pub const EXTENT_BYTES: u64 = 4 << 20;
/// Where the metadata area starts.
pub const MDA_START: u64 = 4096;
/// The metadata area's size: up to the data.
const MDA_SIZE: u64 = DATA_START - MDA_START;
/// The metadata area header's magic.
const MDA_MAGIC: &[u8; 16] = b" LVM2 x[5A%r0N*>";
/// LVM's CRC-32 starts from this value and is not inverted at the end.
const INITIAL_CRC: u32 = 0xf597_a6cf;

/// One logical volume: a run of extents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalVolume {
    /// Its name.
    pub name: String,
    /// Its id: 32 characters of LVM's id alphabet ([`id_from_uuid`]).
    pub id: String,
    /// How many extents it has.
    pub extents: u64,
}

/// A volume group on one physical volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeGroup {
    /// Its name.
    pub name: String,
    /// The volume group's id.
    pub id: String,
    /// The physical volume's id.
    pub pv_id: String,
    /// Its logical volumes, in extent order.
    pub volumes: Vec<LogicalVolume>,
    /// `creation_time` of the volumes and the metadata (seconds since
    /// 1970: `SOURCE_DATE_EPOCH` when set).
    pub creation_time: i64,
}

/// The extents `bytes` need, rounded up.
pub fn extents_for(bytes: u64) -> u64 {
    bytes.div_ceil(EXTENT_BYTES).max(1)
}

/// The size of a physical volume with `extents` extents.
pub fn pv_bytes(extents: u64) -> u64 {
    DATA_START + extents * EXTENT_BYTES
}

/// The extents a physical volume of `bytes` holds.
pub fn extents_in(bytes: u64) -> u64 {
    bytes.saturating_sub(DATA_START) / EXTENT_BYTES
}

/// An LVM id from a UUID: its 32 hex digits (all of them in LVM's alphabet).
pub fn id_from_uuid(uuid: &str) -> String {
    uuid.chars().filter(|c| c.is_ascii_hexdigit()).collect()
}

/// An id as LVM shows it: `6-4-4-4-4-4-6` characters.
pub fn dashed(id: &str) -> String {
    let mut out = String::new();
    let mut at = 0;
    for (index, len) in [6, 4, 4, 4, 4, 4, 6].into_iter().enumerate() {
        if index > 0 {
            out.push('-');
        }
        out.push_str(id.get(at..at + len).unwrap_or(""));
        at += len;
    }
    out
}

/// Checks a volume group or logical volume name as LVM does: 1 to 127 of
/// `A-Za-z0-9+_.-`, not starting with `-`, not `.` or `..`, and (volumes)
/// none of the prefixes and parts LVM keeps for itself.
pub fn check_name(name: &str, what: &str) -> Result<(), String> {
    let fine = !name.is_empty()
        && name.len() <= 127
        && !name.starts_with('-')
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+_.-".contains(c));
    let reserved = what != "volume group"
        && (name.starts_with("snapshot")
            || name.starts_with("pvmove")
            || [
                "_cdata", "_cmeta", "_mimage", "_mlog", "_pmspare", "_rimage", "_rmeta", "_tdata",
                "_tmeta", "_vorigin", "_vdata",
            ]
            .iter()
            .any(|part| name.contains(part)));
    if fine && !reserved {
        Ok(())
    } else {
        Err(format!(
            "{what} name `{name}`: LVM takes 1 to 127 of A-Z a-z 0-9 + _ . - (not starting \
             with -, not . or ..), and keeps names with snapshot, pvmove or _mlog, _rimage \
             and the like for itself"
        ))
    }
}

/// Writes the physical volume's label and metadata into `disk` at `start`
/// (a partition of `size` bytes) and returns each logical volume's byte
/// range in `disk` (start, length), in order. The extents the volumes do
/// not take are left free in the group.
pub fn write(
    disk: &File,
    start: u64,
    size: u64,
    group: &VolumeGroup,
) -> io::Result<Vec<(u64, u64)>> {
    let pe_count = extents_in(size);
    let used: u64 = group.volumes.iter().map(|v| v.extents).sum();
    if used > pe_count {
        return Err(io::Error::other(format!(
            "volume group {}: its volumes take {used} extents of 4 MiB, the partition holds {pe_count}",
            group.name
        )));
    }
    let text = metadata(group, size, pe_count);
    if text.len() as u64 + 512 > MDA_SIZE {
        return Err(io::Error::other(format!(
            "volume group {}: {} bytes of metadata do not fit its area",
            group.name,
            text.len()
        )));
    }
    disk.write_all_at(&label(group, size), start + 512)?;
    let mut area = mda_header(&text);
    area.extend_from_slice(&text);
    disk.write_all_at(&area, start + MDA_START)?;
    let mut ranges = Vec::new();
    let mut extent = 0;
    for volume in &group.volumes {
        ranges.push((
            start + DATA_START + extent * EXTENT_BYTES,
            volume.extents * EXTENT_BYTES,
        ));
        extent += volume.extents;
    }
    Ok(ranges)
}

/// LVM's CRC-32 of `data`.
fn crc(data: &[u8]) -> u32 {
    let mut crc = INITIAL_CRC;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xedb8_8320 & (crc & 1).wrapping_neg());
        }
    }
    crc
}

/// Sector 1: the label header and the PV header.
fn label(group: &VolumeGroup, size: u64) -> Vec<u8> {
    let mut sector = Vec::with_capacity(512);
    sector.extend_from_slice(b"LABELONE");
    sector.extend_from_slice(&1u64.to_le_bytes()); // the sector it is in
    sector.extend_from_slice(&[0; 4]); // its CRC, below
    sector.extend_from_slice(&32u32.to_le_bytes()); // the PV header's offset
    sector.extend_from_slice(b"LVM2 001");
    sector.extend_from_slice(group.pv_id.as_bytes());
    sector.extend_from_slice(&size.to_le_bytes());
    // Data areas: one, to the end; then metadata areas: one.
    for (offset, len) in [(DATA_START, 0), (0, 0), (MDA_START, MDA_SIZE), (0, 0)] {
        sector.extend_from_slice(&offset.to_le_bytes());
        sector.extend_from_slice(&len.to_le_bytes());
    }
    // The extension: version 2, flag "in a volume group", no boot loader area.
    sector.extend_from_slice(&2u32.to_le_bytes());
    sector.extend_from_slice(&1u32.to_le_bytes());
    sector.extend_from_slice(&[0; 16]);
    sector.resize(512, 0);
    let sum = crc(&sector[20..]);
    sector[16..20].copy_from_slice(&sum.to_le_bytes());
    sector
}

/// The metadata area's header, pointing at `text` 512 bytes after it.
fn mda_header(text: &[u8]) -> Vec<u8> {
    let mut header = Vec::with_capacity(512);
    header.extend_from_slice(&[0; 4]);
    header.extend_from_slice(MDA_MAGIC);
    header.extend_from_slice(&1u32.to_le_bytes());
    header.extend_from_slice(&MDA_START.to_le_bytes());
    header.extend_from_slice(&MDA_SIZE.to_le_bytes());
    header.extend_from_slice(&512u64.to_le_bytes());
    header.extend_from_slice(&(text.len() as u64).to_le_bytes());
    header.extend_from_slice(&crc(text).to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    header.resize(512, 0);
    let sum = crc(&header[4..]);
    header[..4].copy_from_slice(&sum.to_le_bytes());
    header
}

/// The volume group's text metadata, with its terminating NUL.
fn metadata(group: &VolumeGroup, size: u64, pe_count: u64) -> Vec<u8> {
    let mut t = String::new();
    let _ = writeln!(t, "{} {{", group.name);
    let _ = writeln!(t, "id = \"{}\"", dashed(&group.id));
    t.push_str("seqno = 1\nformat = \"lvm2\"\nstatus = [\"RESIZEABLE\", \"READ\", \"WRITE\"]\n");
    let _ = writeln!(
        t,
        "flags = []\nextent_size = {}\nmax_lv = 0\nmax_pv = 0\nmetadata_copies = 0\n",
        EXTENT_BYTES / 512
    );
    t.push_str("physical_volumes {\n\npv0 {\n");
    let _ = writeln!(t, "id = \"{}\"", dashed(&group.pv_id));
    let _ = writeln!(
        t,
        "status = [\"ALLOCATABLE\"]\nflags = []\ndev_size = {}\npe_start = {}\npe_count = {pe_count}\n}}\n}}\n",
        size / 512,
        DATA_START / 512
    );
    if !group.volumes.is_empty() {
        t.push_str("logical_volumes {\n");
        let mut extent = 0;
        for volume in &group.volumes {
            let _ = writeln!(t, "\n{} {{", volume.name);
            let _ = writeln!(t, "id = \"{}\"", dashed(&volume.id));
            let _ = writeln!(
                t,
                "status = [\"READ\", \"WRITE\", \"VISIBLE\"]\nflags = []\ncreation_time = {}\n\
                 creation_host = \"builder\"\nsegment_count = 1\n",
                group.creation_time
            );
            let _ = writeln!(
                t,
                "segment1 {{\nstart_extent = 0\nextent_count = {}\n\ntype = \"striped\"\n\
                 stripe_count = 1\n\nstripes = [\n\"pv0\", {extent}\n]\n}}\n}}",
                volume.extents
            );
            extent += volume.extents;
        }
        t.push_str("}\n");
    }
    t.push_str(
        "}\n# Generated by builder\n\ncontents = \"Text Format Volume Group\"\nversion = 1\n\n",
    );
    let _ = writeln!(
        t,
        "description = \"\"\n\ncreation_host = \"builder\"\ncreation_time = {}\n",
        group.creation_time
    );
    let mut bytes = t.into_bytes();
    bytes.push(0);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn group() -> VolumeGroup {
        VolumeGroup {
            name: "systemVG".into(),
            id: id_from_uuid("0123abcd-0123-4567-89ab-0123456789ab"),
            pv_id: id_from_uuid("fedcba98-7654-4321-8fed-cba987654321"),
            volumes: vec![
                LogicalVolume {
                    name: "LVRoot".into(),
                    id: id_from_uuid("11111111-2222-4333-8444-555555555555"),
                    extents: 3,
                },
                LogicalVolume {
                    name: "home".into(),
                    id: id_from_uuid("66666666-7777-4888-8999-aaaaaaaaaaaa"),
                    extents: 2,
                },
            ],
            creation_time: 1_700_000_000,
        }
    }

    /// The label `pvcreate` and `vgcreate` of LVM 2.03.16 wrote on a 64 MiB
    /// device, byte for byte (its CRC included), is the one written here
    /// for the same PV id and size.
    #[test]
    fn the_label_is_pvcreates() {
        let lines = [
            (0x00, "4c4142454c4f4e45 0100000000000000 c33a9123 20000000"),
            (0x18, "4c564d3220303031 4c42525966735850 3066525777323041"),
            (0x30, "77566e7645506a59 774e563336524830"),
            (0x40, "0000000400000000 0000100000000000"),
            (0x68, "0010000000000000 00f00f0000000000"),
            (0x88, "0200000001000000"),
        ];
        let mut expected = vec![0u8; 512];
        for (at, hex) in lines {
            let hex: String = hex.split_whitespace().collect();
            let bytes = hex::decode(&hex).unwrap();
            expected[at..at + bytes.len()].copy_from_slice(&bytes);
        }
        let mut g = group();
        g.pv_id = "LBRYfsXP0fRWw20AwVnvEPjYwNV36RH0".into();
        assert_eq!(hex::encode(label(&g, 64 << 20)), hex::encode(&expected));
        assert_eq!(crc(&expected[20..]), 0x2391_3ac3);
    }

    #[test]
    fn ids_names_and_sizes() {
        assert_eq!(
            dashed("LBRYfsXP0fRWw20AwVnvEPjYwNV36RH0"),
            "LBRYfs-XP0f-RWw2-0AwV-nvEP-jYwN-V36RH0"
        );
        assert_eq!(
            id_from_uuid("0123abcd-0123-4567-89ab-0123456789ab").len(),
            32
        );
        assert_eq!(extents_for(1), 1);
        assert_eq!(extents_for(EXTENT_BYTES), 1);
        assert_eq!(extents_for(EXTENT_BYTES + 1), 2);
        assert_eq!(extents_in(pv_bytes(7)), 7);
        for good in ["systemVG", "LVRoot", "usr_lib", "a+b.c-d"] {
            assert!(check_name(good, "logical volume").is_ok(), "{good}");
        }
        for bad in [
            "",
            "-x",
            ".",
            "..",
            "a/b",
            "a b",
            "snapshot1",
            "x_mlog",
            &"a".repeat(128),
        ] {
            assert!(check_name(bad, "logical volume").is_err(), "{bad}");
        }
    }

    #[test]
    fn the_label_and_metadata_are_where_lvm_reads_them() {
        let file = tempfile::tempfile().unwrap();
        let size = pv_bytes(6);
        file.set_len(size).unwrap();
        let ranges = write(&file, 0, size, &group()).unwrap();
        assert_eq!(
            ranges,
            [
                (DATA_START, 3 * EXTENT_BYTES),
                (DATA_START + 3 * EXTENT_BYTES, 2 * EXTENT_BYTES)
            ]
        );
        let mut sector = vec![0; 512];
        file.read_exact_at(&mut sector, 512).unwrap();
        assert_eq!(&sector[..8], b"LABELONE");
        assert_eq!(&sector[24..32], b"LVM2 001");
        assert_eq!(crc(&sector[20..]).to_le_bytes(), sector[16..20]);
        let mut header = vec![0; 512];
        file.read_exact_at(&mut header, MDA_START).unwrap();
        assert_eq!(&header[4..20], MDA_MAGIC);
        assert_eq!(crc(&header[4..]).to_le_bytes(), header[..4]);
        let text_len = u64::from_le_bytes(header[48..56].try_into().unwrap());
        let mut text = vec![0; text_len as usize];
        file.read_exact_at(&mut text, MDA_START + 512).unwrap();
        assert_eq!(crc(&text).to_le_bytes(), header[56..60]);
        assert_eq!(text.last(), Some(&0));
        let text = String::from_utf8(text[..text.len() - 1].to_vec()).unwrap();
        assert!(text.contains("pe_count = 6\n"), "{text}");
        assert!(text.contains("\"pv0\", 3\n"), "{text}");
        // The same group gives the same bytes.
        let again = tempfile::tempfile().unwrap();
        again.set_len(size).unwrap();
        write(&again, 0, size, &group()).unwrap();
        let mut a = vec![0; DATA_START as usize];
        let mut b = a.clone();
        file.read_exact_at(&mut a, 0).unwrap();
        again.read_exact_at(&mut b, 0).unwrap();
        assert_eq!(a, b);
        // Too many extents for the partition are refused.
        assert!(write(&file, 0, pv_bytes(4), &group()).is_err());
    }

    /// LVM's own tools read the volume group from a loop device over the
    /// file: its volumes, their sizes and extents.
    #[test]
    fn lvm_reads_the_group() {
        let lvs = Command::new("lvs").arg("--version").output();
        let root = rustix::process::geteuid().is_root();
        if !root || lvs.map_or(true, |o| !o.status.success()) {
            eprintln!("skipped: lvm_reads_the_group needs root and LVM's lvs (Debian's lvm2)");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("pv.img");
        let file = File::create(&image).unwrap();
        let start = 1 << 20;
        let size = pv_bytes(6);
        file.set_len(start + size).unwrap();
        write(&file, start, size, &group()).unwrap();
        drop(file);
        let out = Command::new("losetup")
            .args([
                "--find",
                "--show",
                "--read-only",
                "--offset",
                &start.to_string(),
            ])
            .arg(&image)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let loop_dev = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let config = format!(
            "devices {{ filter=[\"a|^{loop_dev}$|\",\"r|.*|\"] use_devicesfile=0 }} \
             global {{ locking_type=0 }}"
        );
        let report = Command::new("lvs")
            .args([
                "--config",
                &config,
                "--readonly",
                "--noheadings",
                "--units",
                "m",
                "--nosuffix",
            ])
            .args(["-o", "vg_name,lv_name,lv_size,seg_pe_ranges,lv_uuid"])
            .output()
            .unwrap();
        let _ = Command::new("losetup").arg("-d").arg(&loop_dev).status();
        let said = String::from_utf8_lossy(&report.stdout);
        assert!(
            report.status.success(),
            "{said}{}",
            String::from_utf8_lossy(&report.stderr)
        );
        let rows: Vec<Vec<&str>> = said
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        let g = group();
        assert_eq!(
            rows,
            [
                vec![
                    "systemVG",
                    "LVRoot",
                    "12.00",
                    &format!("{loop_dev}:0-2"),
                    &dashed(&g.volumes[0].id)
                ],
                vec![
                    "systemVG",
                    "home",
                    "8.00",
                    &format!("{loop_dev}:3-4"),
                    &dashed(&g.volumes[1].id)
                ],
            ],
            "{said}"
        );
    }
}
