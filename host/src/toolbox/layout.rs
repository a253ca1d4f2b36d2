//! Partition arithmetic: where each partition of a disk lies, how large the
//! disk is, and the `sfdisk` script that writes its table. No I/O: the
//! sizes a plugin asks for are checked here as numbers (the fuzz target
//! `toolbox_args` drives it), and the disks module makes what it returns.

/// One MiB: partitions start and end on MiB boundaries.
pub const MIB: u64 = 1 << 20;

/// A partition table type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// GUID partition table.
    Gpt,
    /// DOS/MBR.
    Msdos,
}

/// What a partition is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionKind {
    /// BIOS boot partition (GPT only).
    BiosBoot,
    /// EFI system partition.
    Esp,
    /// Root filesystem.
    Root,
    /// Other Linux filesystem.
    Linux,
    /// Swap.
    Swap,
    /// Extended boot loader partition.
    Xbootldr,
    /// An LVM physical volume.
    Lvm,
}

impl PartitionKind {
    /// Every kind.
    pub const ALL: [PartitionKind; 7] = [
        PartitionKind::BiosBoot,
        PartitionKind::Esp,
        PartitionKind::Root,
        PartitionKind::Linux,
        PartitionKind::Swap,
        PartitionKind::Xbootldr,
        PartitionKind::Lvm,
    ];

    /// The GPT type GUID (`arch` picks the discoverable root type).
    pub fn gpt_type(self, arch: &str) -> &'static str {
        match self {
            PartitionKind::BiosBoot => "21686148-6449-6E6F-744E-656564454649",
            PartitionKind::Esp => "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
            PartitionKind::Root => match arch {
                "aarch64" => "B921B045-1DF0-41C3-AF44-4C6F280D3FAE",
                "x86_64" => "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
                _ => "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
            },
            PartitionKind::Linux => "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
            PartitionKind::Swap => "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F",
            PartitionKind::Xbootldr => "BC13C2FF-59E6-4262-A352-B275FD6F7172",
            PartitionKind::Lvm => "E6D6D379-F507-44C2-A23C-238F2A3DF928",
        }
    }

    /// The MBR partition id.
    pub fn mbr_type(self) -> Option<&'static str> {
        match self {
            PartitionKind::BiosBoot => None,
            PartitionKind::Esp => Some("ef"),
            PartitionKind::Root | PartitionKind::Linux => Some("83"),
            PartitionKind::Swap => Some("82"),
            PartitionKind::Xbootldr => Some("ea"),
            PartitionKind::Lvm => Some("8e"),
        }
    }
}

/// A partition as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedPartition {
    /// 1-based number.
    pub number: u32,
    /// Name.
    pub name: String,
    /// Offset in bytes.
    pub start_bytes: u64,
    /// Size in bytes.
    pub size_bytes: u64,
    /// PARTUUID.
    pub uuid: String,
}

/// A partition as asked for.
#[derive(Debug, Clone, Copy)]
pub struct Slot<'a> {
    /// Its GPT name.
    pub name: &'a str,
    /// What it is for.
    pub kind: PartitionKind,
    /// Bootable attribute / active flag.
    pub bootable: bool,
    /// The size asked for, if any (rounded up to MiB).
    pub size_bytes: Option<u64>,
    /// How large its content is, when the content decides its size.
    pub content_bytes: Option<u64>,
}

/// Where everything goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The disk's size in bytes.
    pub disk_size: u64,
    /// Disk GUID or MBR id.
    pub disk_id: String,
    /// The partitions in order.
    pub partitions: Vec<PlacedPartition>,
    /// The `sfdisk` script that writes the table.
    pub script: String,
}

/// `bytes` rounded up to whole MiB; an error if that does not fit in 64 bits.
pub fn mib_ceil(bytes: u64) -> Result<u64, String> {
    bytes
        .div_ceil(MIB)
        .checked_mul(MIB)
        .ok_or_else(|| format!("{bytes} bytes is not a disk size"))
}

/// Lays out `slots` on a disk of `size_bytes` (none: as small as they
/// allow) with a `table`: partitions 1 MiB aligned from 1 MiB on (room for
/// the table and GRUB's core image after an MBR), the backup GPT in the
/// last MiB; a last partition of a sized disk without a size of its own
/// takes the rest. `uuid` names the disk (`"disk"`) and each partition
/// (`"partition N"`). Refuses what no disk can be, and a disk larger than
/// `max_bytes`.
pub fn place(
    table: Table,
    size_bytes: Option<u64>,
    slots: &[Slot],
    arch: &str,
    max_bytes: u64,
    uuid: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<Layout, String> {
    if slots.is_empty() {
        return Err("a disk needs at least one partition".into());
    }
    if table == Table::Msdos && slots.len() > 4 {
        return Err("an MBR disk has at most 4 primary partitions".into());
    }
    let mut sizes = Vec::new();
    for (index, slot) in slots.iter().enumerate() {
        if table == Table::Gpt {
            // It goes into sfdisk's script as `name="…"`.
            super::options::gpt_partition_name(slot.name).map_err(|e| e.to_string())?;
        }
        if slot.kind == PartitionKind::BiosBoot && table == Table::Msdos {
            return Err("a BIOS boot partition belongs on a GPT disk".into());
        }
        let last_of_sized = index + 1 == slots.len() && size_bytes.is_some();
        let size = match (slot.size_bytes, slot.content_bytes) {
            (Some(size), Some(content)) if content > size => {
                return Err(format!(
                    "partition {}: its content ({content} bytes) does not fit in {size} bytes",
                    slot.name
                ))
            }
            (Some(0), _) => return Err(format!("partition {}: a size of 0 bytes", slot.name)),
            (Some(size), _) => Some(mib_ceil(size)?),
            (None, Some(content)) => Some(mib_ceil(content.max(1))?),
            (None, None) if last_of_sized => None,
            (None, None) => {
                return Err(format!(
                    "partition {}: no size, no content, and it is not the last partition of a sized disk",
                    slot.name
                ))
            }
        };
        sizes.push(size);
    }
    let too_large = || "the partitions' sizes add up to more than 64 bits".to_string();
    let fixed = sizes
        .iter()
        .flatten()
        .try_fold(0u64, |sum, size| sum.checked_add(*size))
        .ok_or_else(too_large)?;
    let needed = fixed
        .checked_add(2 * MIB + if sizes.last() == Some(&None) { MIB } else { 0 })
        .ok_or_else(too_large)?;
    let disk_size = match size_bytes {
        Some(size) if mib_ceil(size)? < needed => {
            return Err(format!(
                "the partitions need {needed} bytes, more than the disk's {size}"
            ))
        }
        Some(size) => mib_ceil(size)?,
        None => needed,
    };
    if disk_size > max_bytes {
        return Err(format!(
            "the disk would be {disk_size} bytes, larger than the {max_bytes} bytes allowed \
             (--max-disk-bytes)"
        ));
    }

    let disk_id = disk_id(table, uuid)?;
    let mut script = match table {
        Table::Gpt => format!("label: gpt\nlabel-id: {disk_id}\nunit: sectors\n"),
        Table::Msdos => format!("label: dos\nlabel-id: {disk_id}\nunit: sectors\n"),
    };
    let mut placed = Vec::new();
    let mut start = MIB;
    for (index, (slot, size)) in slots.iter().zip(&sizes).enumerate() {
        let number = index as u32 + 1;
        let size = match size {
            Some(size) => *size,
            None => disk_size - MIB - start,
        };
        let mut line = format!("start={}, size={}", start / 512, size / 512);
        let part_uuid = partition_id(table, number, uuid)?;
        match table {
            Table::Gpt => {
                line += &format!(
                    ", type={}, uuid={part_uuid}, name=\"{}\"",
                    slot.kind.gpt_type(arch),
                    slot.name
                );
                if slot.bootable {
                    line += ", attrs=\"LegacyBIOSBootable\"";
                }
            }
            Table::Msdos => {
                let id = slot.kind.mbr_type().unwrap_or("83");
                line += &format!(", type={id}");
                if slot.bootable {
                    line += ", bootable";
                }
            }
        }
        script += &line;
        script.push('\n');
        placed.push(PlacedPartition {
            number,
            name: slot.name.to_string(),
            start_bytes: start,
            size_bytes: size,
            uuid: part_uuid,
        });
        start += size;
    }
    Ok(Layout {
        disk_size,
        disk_id,
        partitions: placed,
        script,
    })
}

/// The disk id of a `table` disk from the UUID `uuid("disk")`: the GPT
/// GUID, or an MBR's 32 bits as `0x` and 8 hex digits.
pub fn disk_id(
    table: Table,
    uuid: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<String, String> {
    Ok(match table {
        Table::Gpt => uuid("disk")?,
        Table::Msdos => {
            let hex: String = uuid("disk")?
                .chars()
                .filter(char::is_ascii_hexdigit)
                .collect();
            match hex.get(..8) {
                Some(id) => format!("0x{id}"),
                None => return Err(format!("`{hex}` is no disk id")),
            }
        }
    })
}

/// The id of partition `number`: on GPT its UUID `uuid("partition N")`,
/// on MBR `<disk id>-<nn>` as the kernel's `PARTUUID` reads it.
pub fn partition_id(
    table: Table,
    number: u32,
    uuid: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<String, String> {
    Ok(match table {
        Table::Gpt => uuid(&format!("partition {number}"))?,
        Table::Msdos => format!(
            "{}-{number:02}",
            disk_id(table, uuid)?.trim_start_matches("0x")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(name: &str, size: Option<u64>, content: Option<u64>) -> Slot<'_> {
        Slot {
            name,
            kind: PartitionKind::Root,
            bootable: false,
            size_bytes: size,
            content_bytes: content,
        }
    }

    fn ids() -> impl FnMut(&str) -> Result<String, String> {
        let mut n = 0;
        move |_| {
            n += 1;
            Ok(format!("12345678-0000-4000-8000-{n:012x}"))
        }
    }

    #[test]
    fn partitions_are_aligned_and_the_last_takes_the_rest() {
        let slots = [slot("a", Some(3 * MIB + 1), None), slot("b", None, None)];
        let layout = place(
            Table::Gpt,
            Some(64 * MIB),
            &slots,
            "x86_64",
            u64::MAX,
            &mut ids(),
        )
        .unwrap();
        assert_eq!(layout.disk_size, 64 * MIB);
        let [a, b] = &layout.partitions[..] else {
            panic!("{layout:?}")
        };
        assert_eq!((a.start_bytes, a.size_bytes), (MIB, 4 * MIB));
        assert_eq!((b.start_bytes, b.size_bytes), (5 * MIB, 58 * MIB));
        assert_eq!(layout.script.lines().count(), 5, "{}", layout.script);
        assert!(layout.script.contains("name=\"b\""));
    }

    #[test]
    fn an_unsized_disk_fits_its_content_and_an_mbr_id_is_32_bits() {
        let slots = [slot("root", None, Some(1))];
        let layout = place(Table::Msdos, None, &slots, "x86_64", u64::MAX, &mut ids()).unwrap();
        assert_eq!(layout.disk_size, 3 * MIB);
        assert_eq!(layout.disk_id, "0x12345678");
        assert_eq!(layout.partitions[0].uuid, "12345678-01");
    }

    #[test]
    fn what_no_disk_can_be_is_refused_with_a_reason() {
        let refuse = |table, size, slots: &[Slot], max| {
            place(table, size, slots, "x86_64", max, &mut ids()).unwrap_err()
        };
        let e = refuse(Table::Gpt, None, &[slot("z", Some(0), None)], u64::MAX);
        assert!(e.contains("size of 0"), "{e}");
        let e = refuse(
            Table::Gpt,
            None,
            &[slot("c", Some(MIB), Some(2 * MIB))],
            u64::MAX,
        );
        assert!(e.contains("does not fit"), "{e}");
        let e = refuse(
            Table::Gpt,
            None,
            &[slot("m", Some(u64::MAX), None)],
            u64::MAX,
        );
        assert!(
            e.contains("64 bits") || e.contains("not a disk size"),
            "{e}"
        );
        let e = refuse(
            Table::Gpt,
            None,
            &[slot("big", Some(10 * MIB), None)],
            8 * MIB,
        );
        assert!(e.contains("--max-disk-bytes"), "{e}");
        let e = refuse(
            Table::Gpt,
            Some(4 * MIB),
            &[slot("p", Some(8 * MIB), None)],
            u64::MAX,
        );
        assert!(e.contains("more than the disk"), "{e}");
        let five: Vec<Slot> = (0..5).map(|_| slot("p", Some(MIB), None)).collect();
        let e = refuse(Table::Msdos, None, &five, u64::MAX);
        assert!(e.contains("at most 4"), "{e}");
        let e = refuse(Table::Gpt, None, &[slot("x\"", Some(MIB), None)], u64::MAX);
        assert!(!e.is_empty());
        let e = refuse(
            Table::Gpt,
            None,
            &[slot("a", None, None), slot("b", Some(MIB), None)],
            u64::MAX,
        );
        assert!(e.contains("no size"), "{e}");
    }
}
