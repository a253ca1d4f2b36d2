//! Arbitrary values into what the toolbox decodes from a plugin's call
//! before it touches anything: artifact file names, paths in the root, boot
//! data file paths (`write-boot-file`), and the partition arithmetic of
//! `make-disk` (sizes, kinds, names, table type, disk size, the
//! `--max-disk-bytes` cap).
//!
//! Errors are fine. Bugs are: a panic (an overflow included); an accepted
//! artifact name with a `/`, a control character, a leading `.`, more than
//! 255 bytes or a name the host writes itself; an accepted root path that
//! climbs (`..`), is empty or absolute; an accepted boot file below a path
//! a tool sources or runs; a layout whose partitions are empty, unaligned,
//! overlapping or outside the disk, a disk over the cap, or an `sfdisk`
//! script with other lines than its header and one line a partition.
//!
//! Layout: byte 0 picks the table (bit 0) and whether the disk is sized
//! (bit 1); byte 1 the number of partitions (`% 6 + 1`); then per partition
//! 18 bytes: kind, flags (bootable, size given, content given), an 8-byte
//! size and an 8-byte content size; the rest, split at 0x1e, are the
//! strings (partition names first): `cargo fuzz run toolbox_args`.

#![no_main]

use builder_fuzz::layout::{self, PartitionKind, Slot, Table, MIB};
use builder_fuzz::names;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (head, rest) = data.split_at(data.len().min(2));
    let [flags, count] = match head {
        [a, b] => [*a, *b],
        _ => return,
    };
    let count = usize::from(count % 6) + 1;
    let Some(numbers) = rest.get(..count * 18 + 8) else {
        return;
    };
    let strings: Vec<String> = rest[count * 18 + 8..]
        .split(|b| *b == 0x1e)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    for s in &strings {
        check_names(s);
    }
    let u64_at = |at: usize| u64::from_le_bytes(numbers[at..at + 8].try_into().unwrap());
    let disk_size = (flags & 2 != 0).then(|| u64_at(count * 18));
    let table = if flags & 1 != 0 { Table::Msdos } else { Table::Gpt };
    let slots: Vec<Slot> = (0..count)
        .map(|i| {
            let at = i * 18;
            let bits = numbers[at + 1];
            Slot {
                name: strings.get(i).map(String::as_str).unwrap_or("p"),
                kind: PartitionKind::ALL[usize::from(numbers[at]) % PartitionKind::ALL.len()],
                bootable: bits & 1 != 0,
                size_bytes: (bits & 2 != 0).then(|| u64_at(at + 2)),
                content_bytes: (bits & 4 != 0).then(|| u64_at(at + 10)),
            }
        })
        .collect();
    let max = u64::MAX >> (flags >> 2);
    let mut n = 0u32;
    let mut uuid = |_: &str| {
        n += 1;
        Ok(format!("00000000-0000-4000-8000-{n:012x}"))
    };
    if let Ok(layout) = layout::place(table, disk_size, &slots, "x86_64", max, &mut uuid) {
        check_layout(&layout, &slots, disk_size, max);
    }
});

fn check_names(s: &str) {
    if names::artifact_name(s).is_ok() {
        assert!(!s.is_empty() && s.len() <= 255, "{s:?}");
        assert!(!s.starts_with('.') && !s.contains('/'), "{s:?}");
        assert!(!s.chars().any(char::is_control), "{s:?}");
        assert!(s != "builder.result.json" && !s.ends_with(".sha256"), "{s:?}");
    }
    if let Ok(rel) = names::root_path(s) {
        assert!(!rel.is_empty() && !rel.starts_with('/'), "{s:?} -> {rel:?}");
        assert!(!rel.split('/').any(|c| c == ".." || c.is_empty()), "{s:?}");
        assert!(!rel.contains('\0'), "{s:?}");
    }
    if names::boot_data_kind(s).is_ok() {
        for refused in [
            "etc/initramfs-tools/",
            "etc/dracut.conf",
            "usr/lib/dracut/",
            "lib/dracut/",
            "etc/default/grub",
            "etc/grub.d/",
        ] {
            assert!(!s.starts_with(refused), "{s:?}");
        }
        assert!(
            !s.starts_with("etc/kernel/") || s == "etc/kernel/cmdline",
            "{s:?}"
        );
        assert!(!s.split('/').any(|c| c == ".."), "{s:?}");
    }
}

fn check_layout(layout: &layout::Layout, slots: &[Slot], disk_size: Option<u64>, max: u64) {
    assert!(layout.disk_size <= max, "{layout:?}");
    assert_eq!(layout.disk_size % MIB, 0, "{layout:?}");
    if let Some(asked) = disk_size {
        assert!(layout.disk_size >= asked, "{layout:?}");
    }
    assert_eq!(layout.partitions.len(), slots.len());
    let mut end = MIB;
    for (placed, slot) in layout.partitions.iter().zip(slots) {
        assert!(placed.start_bytes >= end, "{layout:?}");
        assert_eq!(placed.start_bytes % MIB, 0, "{layout:?}");
        assert_eq!(placed.size_bytes % MIB, 0, "{layout:?}");
        assert!(placed.size_bytes > 0, "{layout:?}");
        if let Some(content) = slot.content_bytes {
            assert!(placed.size_bytes >= content, "{layout:?}");
        }
        if let Some(size) = slot.size_bytes {
            assert!(placed.size_bytes >= size, "{layout:?}");
        }
        end = placed.start_bytes + placed.size_bytes;
    }
    // The backup GPT's last MiB stays free.
    assert!(end <= layout.disk_size - MIB, "{layout:?}");
    assert_eq!(
        layout.script.lines().count(),
        3 + slots.len(),
        "{:?}",
        layout.script
    );
}
