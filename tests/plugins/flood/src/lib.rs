//! Test fixture: an image type that asks the host for too much, one way per
//! `mode`: many open walks, readers or artifact writers, a huge artifact, a
//! disk of absurd size, a log flood full of escape sequences, a panic with
//! escape sequences on stderr, hostile values, or a sleep that never ends;
//! and, within the limits, a disk packed every way `pack-disk` knows.

use builder_sdk::prelude::*;
use builder_sdk::toolbox::{
    DiskPackaging, OvfSettings, Partition, PartitionKind, PartitionTable, VagrantProvider,
    VagrantSettings, VmFirmware,
};

struct Flood;

/// A log line full of what must not reach a terminal.
const NASTY: &str = "\x1b[31mred\x1b[0m bell\x07 csi\u{9b}2J cr\r nl\n del\x7f end";

impl Flood {
    /// A small artifact finished before the trouble starts: a failed call
    /// must remove it again.
    fn first_artifact(request: &BuildRequest) -> Result<Artifact, Error> {
        let out = toolbox::create_artifact(&request.artifact_name("first"), Compression::None)?;
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
                    writers.push(toolbox::create_artifact(
                        &format!("writer-{i}.bin"),
                        Compression::None,
                    )?);
                }
                Ok(vec![])
            }
            "artifact" => {
                let first = Self::first_artifact(&request)?;
                let out =
                    toolbox::create_artifact(&request.artifact_name("big"), Compression::None)?;
                let chunk = vec![0x5au8; 1 << 20];
                for _ in 0..count {
                    out.write(&chunk)?;
                }
                Ok(vec![first, ArtifactWriter::finish(out)?])
            }
            "disk" => {
                let disk = toolbox::make_disk(
                    root,
                    &request.artifact_name("raw"),
                    PartitionTable::Gpt,
                    Some(count),
                    &[Partition {
                        name: "root".into(),
                        kind: PartitionKind::Linux,
                        size_bytes: None,
                        content: None,
                        bootable: false,
                    }],
                    None,
                )?;
                Ok(vec![disk.artifact])
            }
            "disk-computed" => {
                let disk = toolbox::make_disk(
                    root,
                    &request.artifact_name("raw"),
                    PartitionTable::Gpt,
                    None,
                    &[Partition {
                        name: "root".into(),
                        kind: PartitionKind::Linux,
                        size_bytes: Some(count),
                        content: None,
                        bootable: false,
                    }],
                    None,
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
                let out = toolbox::create_artifact("hostile.bin", Compression::None)?;
                let appended = out.append_file(root, "etc/hostname", u64::MAX).is_err();
                let huge_partition = toolbox::make_disk(
                    root,
                    "hostile.raw",
                    PartitionTable::Gpt,
                    None,
                    &[Partition {
                        name: "huge".into(),
                        kind: PartitionKind::Linux,
                        size_bytes: Some(u64::MAX),
                        content: None,
                        bootable: false,
                    }],
                    None,
                )
                .is_err();
                let huge_disk = toolbox::make_disk(
                    root,
                    "hostile2.raw",
                    PartitionTable::Msdos,
                    Some(u64::MAX),
                    &[],
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
                toolbox::make_disk(
                    root,
                    &raw,
                    PartitionTable::Gpt,
                    Some(count),
                    &[Partition {
                        name: "root".into(),
                        kind: PartitionKind::Linux,
                        size_bytes: None,
                        content: None,
                        bootable: false,
                    }],
                    None,
                )?;
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
                    packed.push(toolbox::pack_disk(
                        &raw,
                        &request.artifact_name(extension),
                        &packaging,
                    )?);
                }
                toolbox::remove_artifact(&raw)?;
                Ok(packed)
            }
            other => Err(Error::invalid_option("mode", other)),
        }
    }
}

builder_sdk::export_image_type!(Flood);
