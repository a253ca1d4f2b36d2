//! Test fixture: an image type that asks the host for too much, one way per
//! `mode`: many open walks, readers or artifact writers, a huge artifact, a
//! disk of absurd size, a log flood full of escape sequences, a panic with
//! escape sequences on stderr, hostile values, or a sleep that never ends;
//! and, within the limits, a disk packed every way `pack-disk` knows.

use builder_sdk::disks::{
    self, Disk, DiskInfo, DiskPackaging, OvfSettings, Partition, PartitionContent, PartitionKind,
    PartitionTable, VagrantProvider, VagrantSettings, VmFirmware,
};
use builder_sdk::prelude::*;

struct Flood;

/// Disk `file_name` of `size` bytes (none: computed) with one empty Linux
/// partition of `partition` bytes (none: the rest), or none at all.
fn disk(
    root: &RootTree,
    file_name: &str,
    table: PartitionTable,
    size: Option<u64>,
    partition: Option<Option<u64>>,
) -> Result<DiskInfo, Error> {
    let disk = disks::create(file_name, table, size)?;
    if let Some(size_bytes) = partition {
        disk.add_partition(&Partition {
            name: "root".into(),
            kind: PartitionKind::Linux,
            size_bytes,
            content: PartitionContent::Empty,
            encryption: None,
            bootable: false,
        })?;
    }
    Disk::finish(disk, root)
}

/// A log line full of what must not reach a terminal.
const NASTY: &str = "\x1b[31mred\x1b[0m bell\x07 csi\u{9b}2J cr\r nl\n del\x7f end";

impl Flood {
    /// A small artifact finished before the trouble starts: a failed call
    /// must remove it again.
    fn first_artifact(request: &BuildRequest) -> Result<Artifact, Error> {
        let out = artifacts::create(&request.artifact_name("first"), Compression::None)?;
        out.write(b"written before the trouble\n")?;
        ArtifactWriter::finish(out)
    }
}

impl ImageType for Flood {
    const NAME: &'static str = "flood";

    fn options() -> Vec<OptionSpec> {
        vec![
            OptionSpec::choice(
                "mode",
                &[
                    "walks",
                    "readers",
                    "writers",
                    "artifact",
                    "disk",
                    "disk-computed",
                    "log",
                    "panic",
                    "hostile",
                    "sleep",
                    "packed",
                ],
                "walks",
                "What to ask too much of",
            ),
            OptionSpec::integer("count", Some(100), "How many (walks, MiB, lines, bytes)"),
        ]
    }

    fn capabilities() -> Vec<Capability> {
        vec![
            Capability::RootRead,
            Capability::ArtifactWrite,
            Capability::Compression,
            Capability::Partitioning,
        ]
    }

    fn build(root: &RootTree, request: BuildRequest) -> Result<Vec<Artifact>, Error> {
        let mode = request.options.value("mode").unwrap_or("walks").to_string();
        let count = request.options.integer("count")?.unwrap_or(100).max(0) as u64;
        match mode.as_str() {
            "walks" => {
                let mut walks = Vec::new();
                for _ in 0..count {
                    let walk = root.walk("")?;
                    // Start reading: the host may read ahead from now on.
                    walk.next(1)?;
                    walks.push(walk);
                }
                log::info(&format!("{} walks open", walks.len()));
                Ok(vec![])
            }
            "readers" => {
                let mut readers = Vec::new();
                for _ in 0..count {
                    readers.push(root.open("etc/hostname")?);
                }
                Ok(vec![])
            }
            "writers" => {
                let mut writers = Vec::new();
                for i in 0..count {
                    writers.push(artifacts::create(
                        &format!("writer-{i}.bin"),
                        Compression::None,
                    )?);
                }
                Ok(vec![])
            }
            "artifact" => {
                let first = Self::first_artifact(&request)?;
                let out = artifacts::create(&request.artifact_name("big"), Compression::None)?;
                let chunk = vec![0x5au8; 1 << 20];
                for _ in 0..count {
                    out.write(&chunk)?;
                }
                Ok(vec![first, ArtifactWriter::finish(out)?])
            }
            "disk" => {
                let disk = disk(
                    root,
                    &request.artifact_name("raw"),
                    PartitionTable::Gpt,
                    Some(count),
                    Some(None),
                )?;
                Ok(vec![disk.artifact])
            }
            "disk-computed" => {
                let disk = disk(
                    root,
                    &request.artifact_name("raw"),
                    PartitionTable::Gpt,
                    None,
                    Some(Some(count)),
                )?;
                Ok(vec![disk.artifact])
            }
            "log" => {
                for i in 0..count {
                    log::info(&format!("line {i}: {NASTY}"));
                }
                Ok(vec![])
            }
            "panic" => {
                eprint!("\x1b[2J\x1b]0;title\x07 screen cleared");
                panic!("boom \x1b[31m in red");
            }
            "hostile" => {
                // Values no host may trust: each must come back as an error
                // or a bounded answer, never take the host down.
                let reader = root.open("etc/hostname")?;
                let data = reader.read(u32::MAX)?;
                let walk = root.walk("")?;
                let entries = walk.next(u32::MAX)?;
                let out = artifacts::create("hostile.bin", Compression::None)?;
                let appended = out.append_file(root, "etc/hostname", u64::MAX).is_err();
                let huge_partition = disk(
                    root,
                    "hostile.raw",
                    PartitionTable::Gpt,
                    None,
                    Some(Some(u64::MAX)),
                )
                .is_err();
                let huge_disk = disk(
                    root,
                    "hostile2.raw",
                    PartitionTable::Msdos,
                    Some(u64::MAX),
                    None,
                )
                .is_err();
                Err(Error::other(format!(
                    "survived: read {} bytes, {} entries, append refused {appended}, \
                     huge partition refused {huge_partition}, huge disk refused {huge_disk}",
                    data.len(),
                    entries.len()
                )))
            }
            "sleep" => {
                Self::first_artifact(&request)?;
                log::info("sleeping forever");
                std::thread::sleep(std::time::Duration::MAX);
                Err(Error::other("woke up"))
            }
            "packed" => {
                // A disk of `count` bytes, packed as gce, ova and both
                // Vagrant boxes; the raw disk is removed again.
                let raw = request.artifact_name("raw");
                disk(root, &raw, PartitionTable::Gpt, Some(count), Some(None))?;
                let vagrant = |provider| {
                    DiskPackaging::Vagrant(VagrantSettings {
                        provider,
                        name: request.image.name.clone(),
                        virtual_size_gb: 1,
                        vagrantfile: None,
                        guest_additions: false,
                    })
                };
                let mut packed = Vec::new();
                for (extension, packaging) in [
                    (
                        "tar.gz",
                        DiskPackaging::Gce(Some("1111111111111111111".into())),
                    ),
                    (
                        "ova",
                        DiskPackaging::Ova(OvfSettings {
                            name: request.image.name.clone(),
                            firmware: VmFirmware::Efi,
                            secure_boot: true,
                        }),
                    ),
                    ("vagrant.libvirt.box", vagrant(VagrantProvider::Libvirt)),
                    (
                        "vagrant.virtualbox.box",
                        vagrant(VagrantProvider::Virtualbox),
                    ),
                ] {
                    packed.push(disks::pack(
                        &raw,
                        &request.artifact_name(extension),
                        &packaging,
                    )?);
                }
                artifacts::remove(&raw)?;
                Ok(packed)
            }
            other => Err(Error::invalid_option("mode", other)),
        }
    }
}

builder_sdk::export_image_type!(Flood);
