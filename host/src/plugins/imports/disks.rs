//! Interface `disks`: a disk laid out partition by partition, each one's
//! ids fixed when it is added, written at `finish` from the root as it is
//! then; and the conversions and archives clouds and hypervisors take.

use std::path::PathBuf;

use wasmtime::component::Resource;

use super::super::grants::Capability;
use super::super::state::{DiskHandle, PluginState, RootHandle};
use super::super::v0_2_0::artifact_to;
use super::super::v0_2_0::latest::disks::{
    self, DiskFormat, DiskInfo, DiskPackaging, Encryption, LuksVersion, Partition,
    PartitionContent, PartitionIds, PartitionKind, PartitionTable, PlacedPartition, SwapOptions,
    TreeFilesystem, VagrantProvider, VmFirmware, VolumeContent, VolumeGroup,
};
use super::super::v0_2_0::latest::types::Artifact;
use super::{tree_part, CallError, CallResult};
use crate::toolbox::{self, disks::DiskIds, disks::Table};

/// A disk being laid out: what `create` and `add-partition` said.
pub struct Draft {
    file_name: String,
    table: Table,
    size_bytes: Option<u64>,
    ids: DiskIds,
    partitions: Vec<Added>,
    /// The GRUB core image for BIOS boot, once asked for.
    bios_boot: Option<PathBuf>,
}

/// A partition as added, its content's ids filled in.
struct Added {
    partition: Partition,
    /// Its LUKS container's UUID, when it is encrypted.
    luks_uuid: Option<String>,
    /// Its LVM physical volume's UUID, when it holds a volume group (the
    /// one `add-partition` gave, so `finish` writes the same).
    pv_uuid: Option<String>,
}

impl Draft {
    /// The UUID of content `what` of this disk: derived from
    /// `SOURCE_DATE_EPOCH` when it is set, else random.
    fn content_uuid(&mut self, what: &str) -> CallResult<String> {
        let name = format!("{} {what}", self.file_name);
        self.ids.get(&name).map_err(CallError::other)
    }
}

/// The LUKS container `encryption` asks for, with `uuid`.
fn luks_spec(encryption: &Encryption, uuid: Option<String>) -> toolbox::luks::LuksSpec {
    toolbox::luks::LuksSpec {
        passphrase: encryption.passphrase.clone(),
        version: match encryption.version {
            LuksVersion::Luks1 => toolbox::luks::LuksVersion::Luks1,
            LuksVersion::Luks2 => toolbox::luks::LuksVersion::Luks2,
        },
        uuid,
        pbkdf: encryption.pbkdf.clone(),
        key_file: encryption.key_file.clone(),
        format_options: encryption.format_options.clone(),
    }
}

/// The draft behind a disk handle.
fn draft_mut(handle: &mut DiskHandle) -> wasmtime::Result<&mut Draft> {
    handle.0.downcast_mut::<Draft>().ok_or_else(no_draft)
}

fn no_draft() -> wasmtime::Error {
    wasmtime::Error::msg("a disk handle without a draft")
}

/// The 0.1.0 swap UUID, kept so disks made through 0.1.0 stay the same.
pub(crate) fn swap_uuid(seed: Option<i64>, name: &str) -> Option<String> {
    seed.map(|epoch| toolbox::stable_uuid(&["builder-swap", name, &epoch.to_string()]))
}

impl disks::Host for PluginState {
    fn create(
        &mut self,
        file_name: String,
        table: PartitionTable,
        size_bytes: Option<u64>,
    ) -> CallResult<Resource<DiskHandle>> {
        for capability in [Capability::Partitioning, Capability::ArtifactWrite] {
            self.need(capability)?;
        }
        self.check_image_size(&file_name, size_bytes)?;
        toolbox::names::artifact_name(&file_name).map_err(|e| CallError::io(&file_name, e))?;
        let draft = Draft {
            file_name,
            table: match table {
                PartitionTable::Gpt => Table::Gpt,
                PartitionTable::Msdos => Table::Msdos,
            },
            size_bytes,
            ids: DiskIds::new(self.source_date_epoch),
            partitions: Vec::new(),
            bios_boot: None,
        };
        Ok(self.table.push(DiskHandle(Box::new(draft)))?)
    }

    fn convert(
        &mut self,
        source: String,
        file_name: String,
        format: DiskFormat,
    ) -> CallResult<Artifact> {
        use toolbox::disks::DiskFormat as F;
        for capability in [Capability::Partitioning, Capability::ArtifactWrite] {
            self.need(capability)?;
        }
        let target = self.target_dir()?;
        let from = self.published_artifact(&source)?;
        let format = match format {
            DiskFormat::Qcow2 => F::Qcow2,
            DiskFormat::Vmdk => F::Vmdk,
            DiskFormat::Vhdx => F::Vhdx,
            DiskFormat::Vhd => F::Vhd,
            DiskFormat::VhdFixed => F::VhdFixed,
        };
        let file = target
            .create_file_artifact(&file_name)
            .map_err(|e| CallError::io(&file_name, e))?;
        toolbox::disks::convert(
            &from,
            file.path(),
            format,
            self.source_date_epoch,
            &file_name,
        )
        .map_err(|e| CallError::tool(&file_name, e))?;
        self.publish(&target, file, &file_name)
    }

    fn pack(
        &mut self,
        source: String,
        file_name: String,
        packaging: DiskPackaging,
    ) -> CallResult<Artifact> {
        use toolbox::packing::{self, Packaging};
        for capability in [Capability::Partitioning, Capability::ArtifactWrite] {
            self.need(capability)?;
        }
        if !matches!(packaging, DiskPackaging::Ova(_)) {
            self.need(Capability::Compression)?;
        }
        let target = self.target_dir()?;
        let from = self.published_artifact(&source)?;
        let packaging = match packaging {
            DiskPackaging::Gce(license) => Packaging::Gce { license },
            DiskPackaging::Ova(ovf) => Packaging::Ova(packing::OvfSettings {
                name: ovf.name,
                firmware: match ovf.firmware {
                    VmFirmware::Bios => packing::VmFirmware::Bios,
                    VmFirmware::Efi => packing::VmFirmware::Efi,
                },
                secure_boot: ovf.secure_boot,
            }),
            DiskPackaging::Vagrant(settings) => Packaging::Vagrant(packing::VagrantSettings {
                provider: match settings.provider {
                    VagrantProvider::Libvirt => packing::VagrantProvider::Libvirt,
                    VagrantProvider::Virtualbox => packing::VagrantProvider::Virtualbox,
                },
                name: settings.name,
                virtual_size_gb: settings.virtual_size_gb,
                vagrantfile: settings.vagrantfile,
                guest_additions: settings.guest_additions,
            }),
        };
        let info = packing::pack(
            &from,
            &target,
            &file_name,
            &packaging,
            self.source_date_epoch,
        )
        .map_err(|e| CallError::tool(&file_name, e))?;
        self.published.push(target.path().join(&info.file_name));
        Ok(artifact_to(info))
    }
}

impl disks::HostDisk for PluginState {
    fn id(&mut self, handle: Resource<DiskHandle>) -> wasmtime::Result<String> {
        let draft = draft_mut(self.table.get_mut(&handle)?)?;
        draft.ids.disk_id(draft.table).map_err(wasmtime::Error::msg)
    }

    fn add_partition(
        &mut self,
        handle: Resource<DiskHandle>,
        mut partition: Partition,
    ) -> CallResult<PartitionIds> {
        let what = format!("partition {}", partition.name);
        self.check_image_size(&what, partition.size_bytes)?;
        if let Some(encryption) = &partition.encryption {
            // Refused now, before the plugin builds on the ids.
            toolbox::luks::validate(&luks_spec(encryption, None))
                .map_err(|e| CallError::tool(&what, e))?;
        }
        // What the content needs is checked now; it is made at `finish`.
        match &partition.content {
            PartitionContent::Filesystem(fs) => {
                for capability in [Capability::Filesystems, Capability::RootRead] {
                    self.need(capability)?;
                }
                let options = self.filesystem_options(&what, fs.options.clone())?;
                toolbox::filesystems::check(&options).map_err(|e| CallError::tool(&what, e))?;
            }
            PartitionContent::Blank(options) => {
                self.need(Capability::Filesystems)?;
                let options = self.filesystem_options(&what, options.clone())?;
                toolbox::filesystems::check(&options).map_err(|e| CallError::tool(&what, e))?;
            }
            // The artifact may be made once the ids are known; `finish`
            // needs it.
            PartitionContent::Image(name) => {
                toolbox::names::artifact_name(name).map_err(|e| CallError::io(name, e))?;
            }
            PartitionContent::VolumeGroup(group) => {
                use toolbox::lvm::check_name;
                check_name(&group.name, "volume group").map_err(CallError::other)?;
                for volume in &group.volumes {
                    check_name(&volume.name, "logical volume").map_err(CallError::other)?;
                    self.check_image_size(&volume.name, volume.size_bytes)?;
                    if let VolumeContent::Filesystem(fs) = &volume.content {
                        for capability in [Capability::Filesystems, Capability::RootRead] {
                            self.need(capability)?;
                        }
                        let what = format!("{what}, logical volume {}", volume.name);
                        let options = self.filesystem_options(&what, fs.options.clone())?;
                        toolbox::filesystems::check(&options)
                            .map_err(|e| CallError::tool(&what, e))?;
                    }
                }
            }
            PartitionContent::Swap(_) | PartitionContent::Empty => {}
        }
        let seed = self.source_date_epoch;
        let draft = draft_mut(self.table.get_mut(&handle)?)?;
        if draft.table == Table::Gpt {
            // It goes into sfdisk's script as `name="…"`.
            toolbox::options::gpt_partition_name(&partition.name)
                .map_err(|e| CallError::tool(&what, e.into()))?;
        }
        if draft.table == Table::Msdos && draft.partitions.len() == 4 {
            return Err(CallError::other(
                "an MBR disk has at most 4 primary partitions",
            ));
        }
        let number = draft.partitions.len() as u32 + 1;
        let mut volume_uuids = Vec::new();
        let mut pv_uuid = None;
        let content_uuid = match &mut partition.content {
            PartitionContent::Filesystem(TreeFilesystem { options, .. })
            | PartitionContent::Blank(options) => {
                if options.uuid.is_none() {
                    options.uuid = Some(draft.content_uuid(&format!("{number} filesystem"))?);
                }
                options.uuid.clone()
            }
            PartitionContent::Swap(swap) => {
                if swap.uuid.is_none() {
                    swap.uuid = match swap_uuid(seed, &partition.name) {
                        Some(uuid) => Some(uuid),
                        None => Some(draft.content_uuid(&format!("{number} swap"))?),
                    };
                }
                swap.uuid.clone()
            }
            PartitionContent::VolumeGroup(group) => {
                for volume in &mut group.volumes {
                    let what = format!("{number} volume {}", volume.name);
                    match &mut volume.content {
                        VolumeContent::Filesystem(TreeFilesystem { options, .. }) => {
                            if options.uuid.is_none() {
                                options.uuid =
                                    Some(draft.content_uuid(&format!("{what} filesystem"))?);
                            }
                            volume_uuids.push(options.uuid.clone());
                        }
                        VolumeContent::Swap(swap) => {
                            if swap.uuid.is_none() {
                                swap.uuid = Some(draft.content_uuid(&format!("{what} swap"))?);
                            }
                            volume_uuids.push(swap.uuid.clone());
                        }
                        VolumeContent::Empty => volume_uuids.push(None),
                    }
                }
                // As blkid shows a physical volume's id.
                let pv = draft.content_uuid(&format!("{number} physical volume"))?;
                let shown = toolbox::lvm::dashed(&toolbox::lvm::id_from_uuid(&pv));
                pv_uuid = Some(pv);
                Some(shown)
            }
            _ => None,
        };
        let luks_uuid = match &partition.encryption {
            Some(_) => Some(draft.content_uuid(&format!("{number} luks"))?),
            None => None,
        };
        let uuid = draft
            .ids
            .partition_id(draft.table, number)
            .map_err(CallError::other)?;
        draft.partitions.push(Added {
            partition,
            luks_uuid: luks_uuid.clone(),
            pv_uuid,
        });
        Ok(PartitionIds {
            number,
            uuid,
            content_uuid,
            luks_uuid,
            volume_uuids,
        })
    }

    fn install_bios_boot(
        &mut self,
        handle: Resource<DiskHandle>,
        core_image: String,
    ) -> CallResult<()> {
        self.need(Capability::Bootloader)?;
        let core = self.published_artifact(&core_image)?;
        let draft = draft_mut(self.table.get_mut(&handle)?)?;
        if draft.table == Table::Gpt
            && !draft
                .partitions
                .iter()
                .any(|a| a.partition.kind == PartitionKind::BiosBoot)
        {
            return Err(CallError::other(format!(
                "{}: GRUB's BIOS boot code needs a BIOS boot partition on a GPT disk; add it first",
                draft.file_name
            )));
        }
        draft.bios_boot = Some(core);
        Ok(())
    }

    fn finish(
        &mut self,
        handle: Resource<DiskHandle>,
        root: Resource<RootHandle>,
    ) -> CallResult<DiskInfo> {
        let draft = self
            .table
            .delete(handle)?
            .0
            .downcast::<Draft>()
            .map_err(|_| no_draft())?;
        self.write_disk(*draft, &root)
    }

    fn drop(&mut self, handle: Resource<DiskHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

/// A swap area as the disk tool makes it: labelled `SWAP` unless named.
fn swap_content(swap: &SwapOptions) -> toolbox::disks::Content {
    toolbox::disks::Content::Swap {
        label: Some(swap.label.clone().unwrap_or_else(|| "SWAP".to_string())),
        uuid: swap.uuid.clone(),
    }
}

impl PluginState {
    /// A filesystem of a part of `root` (`what` names it in errors) as the
    /// disk tool makes it.
    fn tree_filesystem(
        &mut self,
        root: &Resource<RootHandle>,
        what: &str,
        fs: &TreeFilesystem,
    ) -> CallResult<toolbox::disks::Content> {
        let tree = self.readable_root(root)?;
        let (dir, hidden) = tree_part(&tree, &fs.part)?;
        Ok(toolbox::disks::Content::Filesystem {
            root: dir,
            hidden,
            options: self.filesystem_options(what, fs.options.clone())?,
        })
    }

    /// The volume group `group` of partition `number` as the disk tool
    /// takes it: its ids drawn, each volume's filesystem of the root.
    fn volume_group(
        &mut self,
        ids: &mut DiskIds,
        pv_uuid: Option<&String>,
        root: &Resource<RootHandle>,
        number: usize,
        group: &VolumeGroup,
    ) -> CallResult<toolbox::disks::Content> {
        use toolbox::disks::{Content, Group, Volume};
        let id = |ids: &mut DiskIds, what: String| ids.get(&what).map_err(CallError::other);
        let mut volumes = Vec::new();
        for volume in &group.volumes {
            let what = format!("logical volume {}", volume.name);
            let content = match &volume.content {
                VolumeContent::Filesystem(fs) => Some(self.tree_filesystem(root, &what, fs)?),
                VolumeContent::Swap(swap) => Some(swap_content(swap)),
                VolumeContent::Empty => None,
            };
            volumes.push(Volume {
                name: volume.name.clone(),
                uuid: id(ids, format!("{number} volume {} id", volume.name))?,
                size_bytes: volume.size_bytes,
                content,
            });
        }
        Ok(Content::VolumeGroup(Group {
            name: group.name.clone(),
            uuid: id(ids, format!("{number} volume group"))?,
            pv_uuid: pv_uuid
                .cloned()
                .ok_or_else(|| CallError::other("a volume group added without its PV id"))?,
            volumes,
            creation_time: self.source_date_epoch.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64)
            }),
        }))
    }

    /// Write `draft` into its artifact from `root`.
    fn write_disk(
        &mut self,
        mut draft: Draft,
        root: &Resource<RootHandle>,
    ) -> CallResult<DiskInfo> {
        use toolbox::disks::{Content, PartitionKind as K, PartitionSpec};
        let target = self.target_dir()?;
        let file_name = draft.file_name.clone();
        let mut specs = Vec::new();
        // What blank filesystems are made of.
        let mut blank_dir = None;
        let partitions = std::mem::take(&mut draft.partitions);
        for added in &partitions {
            let p = &added.partition;
            let what = format!("partition {}", p.name);
            let content = match &p.content {
                PartitionContent::Image(name) => {
                    Some(Content::Image(self.published_artifact(name)?))
                }
                PartitionContent::Filesystem(fs) => Some(self.tree_filesystem(root, &what, fs)?),
                PartitionContent::Blank(options) => {
                    let dir = match &blank_dir {
                        Some(dir) => dir,
                        None => blank_dir.insert(
                            crate::rootfs::command::temp_dir()
                                .map_err(|e| CallError::io("a blank filesystem's directory", e))?,
                        ),
                    };
                    Some(Content::Filesystem {
                        root: dir.path().to_path_buf(),
                        hidden: Vec::new(),
                        options: self.filesystem_options(&what, options.clone())?,
                    })
                }
                PartitionContent::Swap(swap) => Some(swap_content(swap)),
                PartitionContent::VolumeGroup(group) => {
                    let number = specs.len() + 1;
                    Some(self.volume_group(
                        &mut draft.ids,
                        added.pv_uuid.as_ref(),
                        root,
                        number,
                        group,
                    )?)
                }
                PartitionContent::Empty => None,
            };
            let content = match &p.encryption {
                Some(encryption) => Some(Content::Luks {
                    spec: luks_spec(encryption, added.luks_uuid.clone()),
                    content: content.map(Box::new),
                }),
                None => content,
            };
            specs.push(PartitionSpec {
                name: p.name.clone(),
                kind: match p.kind {
                    PartitionKind::BiosBoot => K::BiosBoot,
                    PartitionKind::Esp => K::Esp,
                    PartitionKind::Root => K::Root,
                    PartitionKind::Linux => K::Linux,
                    PartitionKind::Swap => K::Swap,
                    PartitionKind::Xbootldr => K::Xbootldr,
                    PartitionKind::Lvm => K::Lvm,
                },
                size_bytes: p.size_bytes,
                content,
                bootable: p.bootable,
            });
        }
        let tree = self.tree(root)?;
        let file = target
            .create_file_artifact(&file_name)
            .map_err(|e| CallError::io(&file_name, e))?;
        let layout = toolbox::disks::make_within(
            file.path(),
            draft.table,
            draft.size_bytes,
            &specs,
            self.arch.as_deref().unwrap_or(std::env::consts::ARCH),
            &mut draft.ids,
            self.max_disk_bytes,
        )
        .map_err(|e| CallError::tool(&file_name, e))?;
        if let Some(core) = &draft.bios_boot {
            let offset = match draft.table {
                Table::Msdos => 512,
                Table::Gpt => specs
                    .iter()
                    .zip(&layout.partitions)
                    .find(|(spec, _)| spec.kind == K::BiosBoot)
                    .map(|(_, placed)| placed.start_bytes)
                    .unwrap_or_default(),
            };
            toolbox::boot::install_grub_bios(&tree, file.path(), core, offset)
                .map_err(|e| CallError::tool(&file_name, e))?;
        }
        let artifact = self.publish(&target, file, &file_name)?;
        Ok(DiskInfo {
            artifact,
            disk_id: layout.disk_id,
            partitions: layout
                .partitions
                .into_iter()
                .map(|p| PlacedPartition {
                    number: p.number,
                    name: p.name,
                    start_bytes: p.start_bytes,
                    size_bytes: p.size_bytes,
                    uuid: p.uuid,
                })
                .collect(),
        })
    }
}
