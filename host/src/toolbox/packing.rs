//! Raw disk images packed as clouds and hypervisors take them, with the
//! members KIWI puts in them: Google Compute Engine's gzip-compressed GNU tar
//! holding a sparse `disk.raw`, an OVA (OVF descriptor, manifest and a
//! streamOptimized vmdk) and Vagrant boxes for libvirt and VirtualBox.
//! Archives are written here, not by `tar`, so their headers are the same
//! on every build (owner 0, mode 0644, `SOURCE_DATE_EPOCH` or 0 as the
//! time, members in a fixed order) and their bytes pass through the target
//! directory's budget and partial-file rename; conversions to qcow2 and
//! vmdk are made with qemu-img in a private scratch directory beside them.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::artifacts::{ArtifactWriter, Compression, TargetDir};
use super::disks::{self, DiskFormat};
use super::{ArtifactInfo, ToolError};

/// A virtual machine's firmware, as an OVF descriptor states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmFirmware {
    /// BIOS.
    Bios,
    /// EFI.
    Efi,
}

/// What the OVF descriptor of an OVA says of its virtual machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OvfSettings {
    /// The virtual machine's name.
    pub name: String,
    /// Its firmware.
    pub firmware: VmFirmware,
    /// EFI Secure Boot on (with [`VmFirmware::Efi`] only).
    pub secure_boot: bool,
}

/// A Vagrant provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VagrantProvider {
    /// vagrant-libvirt: a qcow2 `box.img`.
    Libvirt,
    /// VirtualBox: a streamOptimized `box.vmdk` and its `box.ovf`.
    Virtualbox,
}

/// What a Vagrant box holds besides its disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VagrantSettings {
    /// The provider.
    pub provider: VagrantProvider,
    /// The virtual machine's name in VirtualBox's `box.ovf`.
    pub name: String,
    /// `virtual_size` in libvirt's `metadata.json`, GB.
    pub virtual_size_gb: u64,
    /// The box's `Vagrantfile`; none: the one KIWI writes for the provider.
    pub vagrantfile: Option<String>,
    /// VirtualBox guest additions are in the image: no rsync synced folder.
    pub guest_additions: bool,
}

/// How a raw disk is packed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packaging {
    /// Google Compute Engine, with `manifest.json` naming a license when given.
    Gce {
        /// KIWI's `gcelicense`.
        license: Option<String>,
    },
    /// OVA.
    Ova(OvfSettings),
    /// A Vagrant box.
    Vagrant(VagrantSettings),
}

/// Longest name or license the descriptors take.
const MAX_TEXT: usize = 255;

/// Refuses a virtual machine name that is empty, too long or holds a
/// control character (it goes into XML, escaped).
fn check_name(what: &str, name: &str) -> Result<(), ToolError> {
    if name.is_empty() || name.len() > MAX_TEXT || name.chars().any(char::is_control) {
        return super::invalid(format!(
            "{what} `{}` must be 1 to {MAX_TEXT} bytes without control characters",
            name.escape_debug()
        ));
    }
    Ok(())
}

/// A GCE license is a number or a resource path
/// (`projects/P/global/licenses/L`): letters, digits, `-_./:`.
fn check_license(license: &str) -> Result<(), ToolError> {
    let ok = !license.is_empty()
        && license.len() <= MAX_TEXT
        && license
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:".contains(&b));
    if !ok {
        return super::invalid(format!(
            "gcelicense `{}`: a GCE license is a number or a resource path \
             (letters, digits and `-_./:`, at most {MAX_TEXT})",
            license.escape_debug()
        ));
    }
    Ok(())
}

/// Checks `packaging` before anything is written.
pub fn check(packaging: &Packaging) -> Result<(), ToolError> {
    match packaging {
        Packaging::Gce { license } => license.as_deref().map_or(Ok(()), check_license),
        Packaging::Ova(ovf) => {
            check_name("the OVF's virtual machine name", &ovf.name)?;
            if ovf.secure_boot && ovf.firmware != VmFirmware::Efi {
                return super::invalid("Secure Boot needs EFI firmware");
            }
            Ok(())
        }
        Packaging::Vagrant(vagrant) => {
            check_name("the box's virtual machine name", &vagrant.name)?;
            if vagrant.virtual_size_gb == 0 {
                return super::invalid("a Vagrant box's virtual size must be at least 1 GB");
            }
            if vagrant
                .vagrantfile
                .as_ref()
                .is_some_and(|v| v.len() > 1 << 20)
            {
                return super::invalid("an embedded Vagrantfile may be at most 1 MiB");
            }
            Ok(())
        }
    }
}

/// Packs the raw disk `source` as artifact `file_name` of `target`;
/// `seed` (`SOURCE_DATE_EPOCH`) sets the members' time and makes the
/// identifiers KIWI draws at random (VirtualBox's MAC address and disk
/// UUID) stable.
pub fn pack(
    source: &Path,
    target: &TargetDir,
    file_name: &str,
    packaging: &Packaging,
    seed: Option<i64>,
) -> Result<ArtifactInfo, ToolError> {
    if let Err(ToolError::Invalid(reason)) = check(packaging) {
        return super::invalid(format!("packing `{file_name}`: {reason}"));
    }
    let raw = File::open(source)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", source.display())))?;
    let raw_size = raw.metadata()?.len();
    let mtime = seed.unwrap_or(0).max(0) as u64;
    match packaging {
        Packaging::Gce { license } => {
            let map = data_map(&raw, raw_size)?;
            let writer = target.create_artifact(file_name, Compression::Gzip)?;
            let mut tar = TarWriter::new(writer, mtime);
            if let Some(license) = license {
                // KIWI's bytes, as it writes them.
                let manifest = format!("{{\"licenses\": [\"{license}\"]}}");
                tar.member("manifest.json", manifest.as_bytes())?;
            }
            tar.sparse_member("disk.raw", &raw, raw_size, &map)?;
            Ok(tar.finish()?)
        }
        Packaging::Ova(ovf) => {
            let base = file_name.strip_suffix(".ova").unwrap_or(file_name);
            let vmdk_name = format!("{base}.vmdk");
            let mut vmdk = target.scratch_file(&vmdk_name)?;
            disks::convert(source, vmdk.path(), DiskFormat::Vmdk, seed, file_name)?;
            vmdk.charge()?;
            let mut vmdk_file = File::open(vmdk.path())?;
            let vmdk_size = vmdk_file.metadata()?.len();
            let descriptor = ovf_descriptor(ovf, &vmdk_name, vmdk_size, raw_size);
            let vmdk_sha256 = super::sha256_reader(io::BufReader::with_capacity(
                1 << 20,
                StopReader(&mut vmdk_file),
            ))?;
            let manifest = format!(
                "SHA256({base}.ovf)= {}\nSHA256({vmdk_name})= {vmdk_sha256}\n",
                super::sha256_hex(descriptor.as_bytes())
            );
            vmdk_file.seek(SeekFrom::Start(0))?;
            let writer = target.create_artifact(file_name, Compression::None)?;
            let mut tar = TarWriter::new(writer, mtime);
            tar.member(&format!("{base}.ovf"), descriptor.as_bytes())?;
            tar.member(&format!("{base}.mf"), manifest.as_bytes())?;
            tar.file_member(&vmdk_name, &mut vmdk_file, vmdk_size)?;
            Ok(tar.finish()?)
        }
        Packaging::Vagrant(vagrant) => {
            let ids = Ids::new(seed, file_name)?;
            let (disk_name, format) = match vagrant.provider {
                VagrantProvider::Libvirt => ("box.img", DiskFormat::Qcow2),
                VagrantProvider::Virtualbox => ("box.vmdk", DiskFormat::Vmdk),
            };
            let mut disk = target.scratch_file(disk_name)?;
            disks::convert(source, disk.path(), format, seed, file_name)?;
            disk.charge()?;
            let mut disk_file = File::open(disk.path())?;
            let disk_size = disk_file.metadata()?.len();
            let vagrantfile = match &vagrant.vagrantfile {
                Some(text) => text.clone(),
                None => default_vagrantfile(vagrant, &ids.mac),
            };
            let writer = target.create_artifact(file_name, Compression::Gzip)?;
            let mut tar = TarWriter::new(writer, mtime);
            tar.member("metadata.json", vagrant_metadata(vagrant).as_bytes())?;
            tar.member("Vagrantfile", vagrantfile.as_bytes())?;
            tar.file_member(disk_name, &mut disk_file, disk_size)?;
            if vagrant.provider == VagrantProvider::Virtualbox {
                let ovf = virtualbox_ovf(&vagrant.name, &ids.uuid, raw_size);
                tar.member("box.ovf", ovf.as_bytes())?;
            }
            Ok(tar.finish()?)
        }
    }
}

/// Identifiers KIWI draws at random: stable with a seed.
struct Ids {
    /// A MAC address in Xen's range (`00163E…`), upper-case hex.
    mac: String,
    /// A UUID.
    uuid: String,
}

impl Ids {
    fn new(seed: Option<i64>, file_name: &str) -> io::Result<Ids> {
        let uuid = match seed {
            Some(epoch) => super::stable_uuid(&["builder-box", file_name, &epoch.to_string()]),
            None => std::fs::read_to_string("/proc/sys/kernel/random/uuid")?
                .trim()
                .to_string(),
        };
        let bytes = super::sha256_hex(uuid.as_bytes());
        let byte = |i: usize| u8::from_str_radix(&bytes[2 * i..2 * i + 2], 16).unwrap_or(0);
        // KIWI: 00:16:3e, then random(0, 0x7e), random(0, 0xff) twice.
        let mac = format!(
            "00163E{:02X}{:02X}{:02X}",
            byte(0) % 0x7e,
            byte(1) % 0xff,
            byte(2) % 0xff
        );
        Ok(Ids { mac, uuid })
    }
}

/// `metadata.json` as KIWI writes it (Python's `json.dumps` with sorted
/// keys, an indent of 2, no newline at the end).
fn vagrant_metadata(vagrant: &VagrantSettings) -> String {
    match vagrant.provider {
        VagrantProvider::Libvirt => format!(
            "{{\n  \"format\": \"qcow2\",\n  \"provider\": \"libvirt\",\n  \"virtual_size\": {}\n}}",
            vagrant.virtual_size_gb
        ),
        VagrantProvider::Virtualbox => "{\n  \"provider\": \"virtualbox\"\n}".to_string(),
    }
}

/// KIWI's Vagrantfile for the provider.
fn default_vagrantfile(vagrant: &VagrantSettings, mac: &str) -> String {
    const RSYNC: &str = "config.vm.synced_folder \".\", \"/vagrant\", type: \"rsync\"";
    let settings = match vagrant.provider {
        VagrantProvider::Libvirt => format!(
            "{RSYNC}\nconfig.vm.provider :libvirt do |libvirt|\n  libvirt.driver = \"kvm\"\nend"
        ),
        VagrantProvider::Virtualbox if vagrant.guest_additions => {
            format!("config.vm.base_mac = \"{mac}\"")
        }
        VagrantProvider::Virtualbox => format!("config.vm.base_mac = \"{mac}\"\n{RSYNC}"),
    };
    let mut text = String::from("Vagrant.configure(\"2\") do |config|\n");
    for line in settings.lines() {
        text.push_str("  ");
        text.push_str(line);
        text.push('\n');
    }
    text.push_str("end");
    text
}

/// Escapes `text` for XML content and attribute values.
fn xml(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

const VMDK_STREAM: &str =
    "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized";

/// The OVF descriptor of an OVA, as KIWI's ova-compose meta file describes
/// the machine when the description has no `<machine>`: hardware version 9,
/// the disk on an NVMe controller, USB 2 and 3 controllers, one VMXNET3
/// network card, the firmware (and Secure Boot) asked for. The disk's
/// capacity is the raw disk's size in bytes.
fn ovf_descriptor(ovf: &OvfSettings, vmdk_name: &str, vmdk_size: u64, capacity: u64) -> String {
    let name = xml(&ovf.name);
    let firmware = match ovf.firmware {
        VmFirmware::Bios => "bios",
        VmFirmware::Efi => "efi",
    };
    let secure_boot = ovf.secure_boot && ovf.firmware == VmFirmware::Efi;
    let item = |id: u32, kind: u32, what: &str, element: &str, extra: &str| {
        format!(
            "      <Item>\n        <rasd:Description>{what}</rasd:Description>\n        \
             <rasd:ElementName>{element}</rasd:ElementName>\n        \
             <rasd:InstanceID>{id}</rasd:InstanceID>\n        \
             <rasd:ResourceType>{kind}</rasd:ResourceType>\n{extra}      </Item>\n"
        )
    };
    let mut hardware = String::new();
    hardware.push_str(&item(
        1,
        20,
        "NVME Controller",
        "nvme0",
        "        <rasd:ResourceSubType>vmware.nvme.controller</rasd:ResourceSubType>\n",
    ));
    hardware.push_str(&item(
        2,
        17,
        "Hard Disk",
        "rootdisk",
        "        <rasd:AddressOnParent>0</rasd:AddressOnParent>\n        \
         <rasd:HostResource>ovf:/disk/vmdisk0</rasd:HostResource>\n        \
         <rasd:Parent>1</rasd:Parent>\n        \
         <vmw:Config ovf:required=\"false\" vmw:key=\"virtualDiskFormat\" vmw:value=\"native_512\"/>\n",
    ));
    hardware.push_str(&item(
        3,
        23,
        "USB Controller",
        "usb2",
        "        <rasd:ResourceSubType>vmware.usb.ehci</rasd:ResourceSubType>\n        \
         <vmw:Config ovf:required=\"false\" vmw:key=\"ehciEnabled\" vmw:value=\"true\"/>\n",
    ));
    hardware.push_str(&item(
        4,
        23,
        "USB3 Controller",
        "usb3",
        "        <rasd:ResourceSubType>vmware.usb.xhci</rasd:ResourceSubType>\n",
    ));
    hardware.push_str(&item(
        5,
        10,
        "Ethernet Adapter",
        "ethernet0",
        "        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>\n        \
         <rasd:Connection>VM Network</rasd:Connection>\n        \
         <rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>\n        \
         <vmw:Config ovf:required=\"false\" vmw:key=\"connectable.allowGuestControl\" vmw:value=\"true\"/>\n        \
         <vmw:Config ovf:required=\"false\" vmw:key=\"wakeOnLanEnabled\" vmw:value=\"false\"/>\n",
    ));
    let config = |key: &str, value: &str| {
        format!(
            "      <vmw:Config ovf:required=\"false\" vmw:key=\"{key}\" vmw:value=\"{value}\"/>\n"
        )
    };
    hardware.push_str(&config("firmware", firmware));
    hardware.push_str(&config(
        "bootOptions.efiSecureBootEnabled",
        if secure_boot { "true" } else { "false" },
    ));
    let vmdk_name = xml(vmdk_name);
    format!(
        "<?xml version='1.0' encoding='UTF-8'?>\n\
<Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\" \
xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\" \
xmlns:rasd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData\" \
xmlns:vmw=\"http://www.vmware.com/schema/ovf\" \
xmlns:vssd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData\" \
xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">
  <References>
    <File ovf:href=\"{vmdk_name}\" ovf:id=\"file0\" ovf:size=\"{vmdk_size}\"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:diskId=\"vmdisk0\" ovf:capacity=\"{capacity}\" ovf:capacityAllocationUnits=\"byte\" ovf:fileRef=\"file0\" ovf:format=\"{VMDK_STREAM}\"/>
  </DiskSection>
  <NetworkSection>
    <Info>Virtual Networks</Info>
    <Network ovf:name=\"VM Network\">
      <Description>The VM Network Network</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id=\"vm\">
    <Info>Virtual System</Info>
    <Name>{name}</Name>
    <OperatingSystemSection ovf:id=\"100\" vmw:osType=\"other4xLinux64Guest\">
      <Info>Operating System</Info>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual Hardware</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>{name}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-9</vssd:VirtualSystemType>
      </System>
{hardware}    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"
    )
}

/// VirtualBox's `box.ovf`: KIWI's template, with the disk's capacity in
/// bytes (KIWI writes the `virtualsize` in GB there, which OVF reads as
/// bytes) and `uuid` for the disk and the machine.
fn virtualbox_ovf(name: &str, uuid: &str, capacity: u64) -> String {
    let name = xml(name);
    format!(
        r#"<?xml version="1.0"?>
<Envelope ovf:version="1.0" xml:lang="en-US" xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:vbox="http://www.virtualbox.org/ovf/machine">
  <References>
    <File ovf:id="file1" ovf:href="box.vmdk"/>
  </References>
  <DiskSection>
    <Info>List of the virtual disks used in the package</Info>
    <Disk ovf:capacity="{capacity}" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="{VMDK_STREAM}" vbox:uuid="{uuid}"/>
  </DiskSection>
  <NetworkSection>
    <Info>Logical networks used in the package</Info>
    <Network ovf:name="NAT">
      <Description>Logical network used by this appliance.</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="{name}">
    <Info>A virtual machine</Info>
    <OperatingSystemSection ovf:id="101">
      <Info>The kind of installed guest operating system</Info>
      <Description>{name}</Description>
      <vbox:OSType ovf:required="false">Linux_64</vbox:OSType>
    </OperatingSystemSection>
    <vbox:Machine ovf:required="false" name="{name}" uuid="{uuid}" OSType="Linux_64">
      <Hardware>
        <AudioAdapter enabled="false"/>
        <Memory RAMSize="1024"/>
      </Hardware>
      <StorageControllers>
        <StorageController name="SATA Controller" type="AHCI" PortCount="1" useHostIOCache="false" Bootable="true" IDE0MasterEmulationPort="0" IDE0SlaveEmulationPort="1" IDE1MasterEmulationPort="2" IDE1SlaveEmulationPort="3">
          <AttachedDevice type="HardDisk" hotpluggable="false" port="0" device="0">
            <Image uuid="{{{uuid}}}"/>
          </AttachedDevice>
        </StorageController>
      </StorageControllers>
    </vbox:Machine>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements for a virtual machine</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>{name}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>virtualbox-2.2</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:Caption>1 virtual CPU</rasd:Caption>
        <rasd:Description>Number of virtual CPUs</rasd:Description>
        <rasd:ElementName>1 virtual CPU(s)</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>1</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>MegaBytes</rasd:AllocationUnits>
        <rasd:Caption>1024 MB of memory</rasd:Caption>
        <rasd:Description>Memory Size</rasd:Description>
        <rasd:ElementName>1024 MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>1024</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Caption>ideController0</rasd:Caption>
        <rasd:Description>IDE Controller</rasd:Description>
        <rasd:ElementName>ideController0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>PIIX4</rasd:ResourceSubType>
        <rasd:ResourceType>5</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:Address>1</rasd:Address>
        <rasd:Caption>ideController1</rasd:Caption>
        <rasd:Description>IDE Controller</rasd:Description>
        <rasd:ElementName>ideController1</rasd:ElementName>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:ResourceSubType>PIIX4</rasd:ResourceSubType>
        <rasd:ResourceType>5</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Caption>sataController0</rasd:Caption>
        <rasd:Description>SATA Controller</rasd:Description>
        <rasd:ElementName>sataController0</rasd:ElementName>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceSubType>AHCI</rasd:ResourceSubType>
        <rasd:ResourceType>20</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>3</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>false</rasd:AutomaticAllocation>
        <rasd:Caption>sound</rasd:Caption>
        <rasd:Description>Sound Card</rasd:Description>
        <rasd:ElementName>sound</rasd:ElementName>
        <rasd:InstanceID>6</rasd:InstanceID>
        <rasd:ResourceSubType>ensoniq1371</rasd:ResourceSubType>
        <rasd:ResourceType>35</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:Caption>disk1</rasd:Caption>
        <rasd:Description>Disk Image</rasd:Description>
        <rasd:ElementName>disk1</rasd:ElementName>
        <rasd:HostResource>/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>7</rasd:InstanceID>
        <rasd:Parent>5</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Caption>Ethernet adapter on 'NAT'</rasd:Caption>
        <rasd:Connection>NAT</rasd:Connection>
        <rasd:ElementName>Ethernet adapter on 'NAT'</rasd:ElementName>
        <rasd:InstanceID>8</rasd:InstanceID>
        <rasd:ResourceSubType>E1000</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"#
    )
}

/// Granularity of the sparse map: a block of zeros this large is a hole.
const SPARSE_BLOCK: u64 = 4096;

/// The data segments of `file` (`(offset, length)`, in order): every
/// [`SPARSE_BLOCK`]-aligned block that holds a non-zero byte, adjacent ones
/// joined. A function of the content alone, so the same disk gives the
/// same archive whatever its blocks on the build host; the filesystem's
/// holes (`SEEK_DATA`/`SEEK_HOLE`) are skipped unread.
fn data_map(file: &File, size: u64) -> io::Result<Vec<(u64, u64)>> {
    let mut map: Vec<(u64, u64)> = Vec::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut scanned = 0u64;
    while scanned < size {
        let Some(data) = seek_data(file, scanned)? else {
            break;
        };
        let hole = seek_hole(file, data)?.min(size);
        // Whole aligned blocks, each looked at once: reading on past the
        // hole to the end of a block reads zeros or the next data.
        let mut at = (data / SPARSE_BLOCK * SPARSE_BLOCK).max(scanned);
        while at < hole {
            crate::interrupt::check_stop("mapping a disk's data").map_err(io::Error::other)?;
            let want = (hole - at)
                .div_ceil(SPARSE_BLOCK)
                .saturating_mul(SPARSE_BLOCK)
                .min(buffer.len() as u64)
                .min(size - at) as usize;
            let chunk = &mut buffer[..want];
            file.read_exact_at(chunk, at)?;
            for (index, block) in chunk.chunks(SPARSE_BLOCK as usize).enumerate() {
                if block.iter().all(|b| *b == 0) {
                    continue;
                }
                let offset = at + index as u64 * SPARSE_BLOCK;
                let length = block.len() as u64;
                match map.last_mut() {
                    Some((start, len)) if *start + *len == offset => *len += length,
                    _ => map.push((offset, length)),
                }
            }
            at += want as u64;
        }
        scanned = at.max(hole);
    }
    Ok(map)
}

/// `lseek(SEEK_DATA)`: the next data at or after `from`, none past the end.
fn seek_data(file: &File, from: u64) -> io::Result<Option<u64>> {
    match rustix::fs::seek(file, rustix::fs::SeekFrom::Data(from)) {
        Ok(at) => Ok(Some(at)),
        Err(rustix::io::Errno::NXIO) => Ok(None),
        // A filesystem without holes: all of it is data.
        Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::OPNOTSUPP) => Ok(Some(from)),
        Err(e) => Err(e.into()),
    }
}

/// `lseek(SEEK_HOLE)`: the next hole at or after `from` (the end counts).
fn seek_hole(file: &File, from: u64) -> io::Result<u64> {
    match rustix::fs::seek(file, rustix::fs::SeekFrom::Hole(from)) {
        Ok(at) => Ok(at),
        Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::OPNOTSUPP) => {
            Ok(file.metadata()?.len())
        }
        Err(e) => Err(e.into()),
    }
}

/// Tar's block size.
const BLOCK: u64 = 512;

/// A GNU tar stream written into an artifact, every header the same on
/// every build.
struct TarWriter {
    out: ArtifactSink,
    mtime: u64,
}

/// [`ArtifactWriter`] as an [`io::Write`].
struct ArtifactSink(ArtifactWriter);

impl Write for ArtifactSink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.write_all(data)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl TarWriter {
    fn new(writer: ArtifactWriter, mtime: u64) -> Self {
        TarWriter {
            out: ArtifactSink(writer),
            mtime,
        }
    }

    /// A GNU header of a regular file `name`, `size` bytes (a name longer
    /// than the header's 100 bytes keeps its start there: see [`Self::start`]).
    fn header(&self, name: &str, size: u64) -> io::Result<tar::Header> {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_username("root")?;
        header.set_groupname("root")?;
        header.set_mtime(self.mtime);
        header.set_size(size);
        if name.len() > 100 {
            header
                .as_old_mut()
                .name
                .copy_from_slice(&name.as_bytes()[..100]);
        } else {
            header.set_path(name)?;
        }
        header.set_cksum();
        Ok(header)
    }

    /// Writes `header` of member `name`, after GNU tar's `././@LongLink`
    /// member holding the name when it is too long for the header.
    fn start(&mut self, name: &str, header: &tar::Header) -> io::Result<()> {
        if name.len() > 100 {
            let mut long = self.header("././@LongLink", name.len() as u64 + 1)?;
            long.set_entry_type(tar::EntryType::GNULongName);
            long.set_cksum();
            self.out.write_all(long.as_bytes())?;
            self.out.write_all(name.as_bytes())?;
            self.out.write_all(&[0])?;
            self.pad(name.len() as u64 + 1)?;
        }
        self.out.write_all(header.as_bytes())
    }

    /// Member `name` holding `data`.
    fn member(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        let header = self.header(name, data.len() as u64)?;
        self.start(name, &header)?;
        self.out.write_all(data)?;
        self.pad(data.len() as u64)
    }

    /// Member `name` holding the `size` bytes of `file` (which must not change).
    fn file_member(&mut self, name: &str, file: &mut File, size: u64) -> io::Result<()> {
        let header = self.header(name, size)?;
        self.start(name, &header)?;
        self.out.0.copy_from(file, size)?;
        self.pad(size)
    }

    /// Member `name`: `file` (`size` bytes) as a GNU sparse file holding
    /// the segments of `map`.
    fn sparse_member(
        &mut self,
        name: &str,
        file: &File,
        size: u64,
        map: &[(u64, u64)],
    ) -> io::Result<()> {
        let mut entries = map.to_vec();
        // A file ending in a hole ends its map with an empty segment at the
        // end, as GNU tar writes it, so extraction gives the full size.
        if entries.last().is_none_or(|(at, len)| at + len < size) {
            entries.push((size, 0));
        }
        let stored: u64 = map.iter().map(|(_, len)| len).sum();
        let mut header = self.header(name, stored)?;
        header.set_entry_type(tar::EntryType::GNUSparse);
        let gnu = header
            .as_gnu_mut()
            .ok_or_else(|| io::Error::other("a GNU header is not GNU"))?;
        gnu.set_real_size(size);
        let (first, rest) = entries.split_at(entries.len().min(gnu.sparse.len()));
        for (slot, (at, len)) in gnu.sparse.iter_mut().zip(first) {
            slot.set_offset(*at);
            slot.set_length(*len);
        }
        gnu.set_is_extended(!rest.is_empty());
        header.set_cksum();
        self.start(name, &header)?;
        let chunks: Vec<&[(u64, u64)]> = rest.chunks(21).collect();
        for (index, chunk) in chunks.iter().enumerate() {
            let mut ext = tar::GnuExtSparseHeader::new();
            for (slot, (at, len)) in ext.sparse_mut().iter_mut().zip(chunk.iter()) {
                slot.set_offset(*at);
                slot.set_length(*len);
            }
            ext.set_is_extended(index + 1 < chunks.len());
            self.out.write_all(ext.as_bytes())?;
        }
        for (at, len) in map {
            let mut segment = SegmentReader {
                file,
                at: *at,
                end: at + len,
            };
            self.out.0.copy_from(&mut segment, *len)?;
        }
        self.pad(stored)
    }

    /// Zeros up to the next block.
    fn pad(&mut self, size: u64) -> io::Result<()> {
        let rest = (BLOCK - size % BLOCK) % BLOCK;
        self.out.write_all(&vec![0u8; rest as usize])
    }

    /// The end-of-archive blocks; publishes the artifact.
    fn finish(mut self) -> io::Result<ArtifactInfo> {
        self.out.write_all(&[0u8; 2 * BLOCK as usize])?;
        self.out.0.finish()
    }
}

/// Reads `file` from `at` to `end`.
struct SegmentReader<'a> {
    file: &'a File,
    at: u64,
    end: u64,
}

impl Read for SegmentReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = (self.end - self.at).min(buf.len() as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        let got = self.file.read_at(&mut buf[..want], self.at)?;
        self.at += got as u64;
        Ok(got)
    }
}

/// A reader that fails once a plugin call's deadline passed or Ctrl-C was
/// pressed.
struct StopReader<R>(R);

impl<R: Read> Read for StopReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        crate::interrupt::check_stop("hashing a disk").map_err(io::Error::other)?;
        self.0.read(buf)
    }
}

#[cfg(test)]
mod tests {
    /// A vmdk of 4 sectors: qemu-img's sparse header naming a descriptor of
    /// sectors 1 and 2, the descriptor `text`, then `after` in the text's
    /// padding, and a sector of other data.
    fn vmdk_with_descriptor(text: &[u8], after: &[u8]) -> Vec<u8> {
        let mut bytes = b"KDMV".to_vec();
        bytes.resize(28, 7);
        bytes.extend_from_slice(&1u64.to_le_bytes());
        bytes.extend_from_slice(&2u64.to_le_bytes());
        bytes.resize(512, 7);
        bytes.extend_from_slice(text);
        bytes.push(0);
        bytes.extend_from_slice(after);
        bytes.resize(1536, 0);
        bytes.resize(2048, 9);
        bytes
    }

    #[test]
    fn a_vmdk_id_becomes_eight_stable_digits_and_the_padding_zeros() {
        let dir = tempfile::tempdir().unwrap();
        let vmdk = dir.path().join("d.vmdk");
        let text = b"# Disk DescriptorFile\nversion=1\nCID=abc\nparentCID=ffffffff\n";
        std::fs::write(&vmdk, vmdk_with_descriptor(text, b"")).unwrap();
        disks::stable_vmdk_cid(&vmdk, Some(EPOCH), "d.vmdk").unwrap();
        let after = std::fs::read(&vmdk).unwrap();
        assert_eq!(after.len(), 2048);
        assert_eq!(after[..512], vmdk_with_descriptor(b"", b"")[..512]);
        assert!(
            after[1536..].iter().all(|b| *b == 9),
            "data after the area moved"
        );
        let shown = String::from_utf8_lossy(&after[512..1536])
            .trim_end_matches('\0')
            .to_string();
        let cid = shown.lines().nth(2).unwrap();
        assert!(
            cid.len() == 12 && cid[4..].chars().all(|c| c.is_ascii_hexdigit()),
            "{shown}"
        );
        assert!(shown.ends_with("\nparentCID=ffffffff\n"), "{shown:?}");
        // The same for an id with all its digits, and for one qemu-img
        // wrote over a longer one, leaving that one's last bytes behind
        // the NUL: the result depends on neither.
        for (text, left) in [
            (
                &b"# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\n"[..],
                &b""[..],
            ),
            (
                &b"# Disk DescriptorFile\nversion=1\nCID=2e39cf\nparentCID=ffffffff\n"[..],
                &b"\n"[..],
            ),
        ] {
            std::fs::write(&vmdk, vmdk_with_descriptor(text, left)).unwrap();
            disks::stable_vmdk_cid(&vmdk, Some(EPOCH), "d.vmdk").unwrap();
            assert_eq!(std::fs::read(&vmdk).unwrap(), after);
        }
        // A descriptor with no room for the longer id is refused, unchanged.
        let mut text = b"# Disk DescriptorFile\nCID=1\n".to_vec();
        text.resize(1023, b'x');
        let text = &text[..];
        std::fs::write(&vmdk, vmdk_with_descriptor(text, b"")).unwrap();
        let err = disks::stable_vmdk_cid(&vmdk, Some(EPOCH), "d.vmdk").unwrap_err();
        assert!(err.to_string().contains("no room"), "{err}");
        assert_eq!(
            std::fs::read(&vmdk).unwrap(),
            vmdk_with_descriptor(text, b"")
        );
    }

    use super::*;
    use crate::toolbox::artifacts::ArtifactBudget;
    use crate::toolbox::disks::{Content, PartitionKind, PartitionSpec, Table};
    use crate::toolbox::filesystems::{FilesystemOptions, FsType};
    use std::collections::HashMap;
    use std::fs;
    use std::path::PathBuf;
    use std::process::Command;

    const EPOCH: i64 = 1_700_000_000;
    const MIB: u64 = 1 << 20;

    /// A 24 MiB GPT disk with an ext4 root holding a file: sparse, as
    /// make-disk leaves it.
    fn small_disk(dir: &Path) -> PathBuf {
        let tree = dir.join("tree");
        fs::create_dir_all(tree.join("etc")).unwrap();
        fs::write(tree.join("etc/hostname"), "golden\n").unwrap();
        let disk = dir.join("disk.raw");
        let root = PartitionSpec {
            name: "p.lxroot".into(),
            kind: PartitionKind::Root,
            size_bytes: None,
            content: Some(Content::Filesystem {
                root: tree,
                hidden: Vec::new(),
                options: FilesystemOptions {
                    fs_type: FsType::Ext4,
                    label: Some("ROOT".into()),
                    uuid: None,
                    size_bytes: None,
                    extra_bytes: 0,
                    compression: None,
                    create_options: vec![],
                    source_date_epoch: Some(EPOCH),
                },
            }),
            bootable: false,
        };
        disks::make(
            &disk,
            Table::Gpt,
            Some(24 * MIB),
            &[root],
            "x86_64",
            Some(1),
        )
        .unwrap();
        disk
    }

    /// Packs `disk` into a fresh target directory `dir/name`.
    fn pack_into(dir: &Path, disk: &Path, file_name: &str, packaging: &Packaging) -> PathBuf {
        let out = dir.join(format!("out-{}", fs::read_dir(dir).unwrap().count()));
        let target = TargetDir::create(&out).unwrap();
        let info = pack(disk, &target, file_name, packaging, Some(EPOCH)).unwrap();
        let path = out.join(file_name);
        let bytes = fs::read(&path).unwrap();
        assert_eq!(info.size, bytes.len() as u64);
        assert_eq!(info.sha256, crate::toolbox::sha256_hex(&bytes));
        // Nothing but the artifact is left: no partial or scratch files.
        let left: Vec<_> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, [std::ffi::OsString::from(file_name)]);
        path
    }

    /// What `cmd` prints; it must succeed.
    fn run(cmd: &mut Command) -> String {
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The member names of `archive`, in order, as `tar` lists them.
    fn members(archive: &Path) -> Vec<String> {
        run(Command::new("tar").arg("-tf").arg(archive))
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// `archive` extracted by `tar` into a new directory.
    fn extract(archive: &Path) -> PathBuf {
        let dir = archive.with_extension("extracted");
        fs::create_dir_all(&dir).unwrap();
        run(Command::new("tar")
            .arg("-xf")
            .arg(archive)
            .arg("-C")
            .arg(&dir));
        dir
    }

    /// Two archives are the same, byte for byte.
    fn assert_same(one: &Path, other: &Path) {
        let digest = |p: &Path| crate::toolbox::sha256_hex(&fs::read(p).unwrap());
        assert_eq!(
            digest(one),
            digest(other),
            "not reproducible: {}",
            one.display()
        );
    }

    fn qemu_info(path: &Path) -> serde_json::Value {
        serde_json::from_str(&run(Command::new("qemu-img")
            .args(["info", "--output=json"])
            .arg(path)))
        .unwrap()
    }

    /// Every element of an XML document: its name and attributes.
    fn elements(text: &str) -> Vec<(String, HashMap<String, String>)> {
        use quick_xml::events::Event;
        let mut reader = quick_xml::Reader::from_str(text);
        let mut found = Vec::new();
        loop {
            match reader.read_event().unwrap() {
                Event::Start(tag) | Event::Empty(tag) => {
                    let attrs = tag
                        .attributes()
                        .map(|a| {
                            let a = a.unwrap();
                            (
                                a.key.as_ref().to_string(),
                                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                    .unwrap()
                                    .into_owned(),
                            )
                        })
                        .collect();
                    found.push((tag.name().as_ref().to_string(), attrs));
                }
                Event::Eof => return found,
                _ => {}
            }
        }
    }

    fn element<'a>(
        found: &'a [(String, HashMap<String, String>)],
        name: &str,
    ) -> &'a HashMap<String, String> {
        &found
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no <{name}>"))
            .1
    }

    #[test]
    fn gce_is_a_sparse_disk_raw_in_a_gzip_gnu_tar() {
        let tmp = tempfile::tempdir().unwrap();
        let disk = small_disk(tmp.path());
        let name = "golden.x86_64-1.0.0.tar.gz";
        let packaging = Packaging::Gce {
            license: Some("projects/p/global/licenses/l".into()),
        };
        let archive = pack_into(tmp.path(), &disk, name, &packaging);
        let again = pack_into(tmp.path(), &disk, name, &packaging);
        assert_same(&archive, &again);

        assert_eq!(members(&archive), ["manifest.json", "disk.raw"]);
        let out = extract(&archive);
        assert_eq!(
            fs::read_to_string(out.join("manifest.json")).unwrap(),
            r#"{"licenses": ["projects/p/global/licenses/l"]}"#
        );
        assert_eq!(
            fs::read(out.join("disk.raw")).unwrap(),
            fs::read(&disk).unwrap()
        );
        let info = qemu_info(&out.join("disk.raw"));
        assert_eq!(info["format"], "raw");
        assert_eq!(info["virtual-size"], 24 * MIB);
        // GNU's sparse member, with the disk's size and only its data stored.
        let gz = fs::read(&archive).unwrap();
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&gz[..]));
        let mut entries = tar.entries().unwrap();
        let manifest = entries.next().unwrap().unwrap();
        assert_eq!(manifest.header().mtime().unwrap(), EPOCH as u64);
        assert_eq!(manifest.header().uid().unwrap(), 0);
        assert_eq!(manifest.header().mode().unwrap(), 0o644);
        let raw = entries.next().unwrap().unwrap();
        assert_eq!(raw.header().entry_type(), tar::EntryType::GNUSparse);
        let stored = raw.header().entry_size().unwrap();
        assert!(stored > 0 && stored < 12 * MIB, "{stored} bytes stored");
        assert_eq!(
            raw.header().as_gnu().unwrap().real_size().unwrap(),
            24 * MIB
        );
        // Without a license, the disk alone.
        let plain = pack_into(tmp.path(), &disk, name, &Packaging::Gce { license: None });
        assert_eq!(members(&plain), ["disk.raw"]);
    }

    #[test]
    fn ova_is_the_ovf_its_manifest_and_a_stream_optimized_vmdk() {
        let tmp = tempfile::tempdir().unwrap();
        let disk = small_disk(tmp.path());
        let packaging = Packaging::Ova(OvfSettings {
            name: "Golden <Image>".into(),
            firmware: VmFirmware::Efi,
            secure_boot: false,
        });
        let name = "golden.x86_64-1.0.0.ova";
        let archive = pack_into(tmp.path(), &disk, name, &packaging);
        let again = pack_into(tmp.path(), &disk, name, &packaging);
        assert_same(&archive, &again);

        let base = "golden.x86_64-1.0.0";
        assert_eq!(
            members(&archive),
            [
                format!("{base}.ovf"),
                format!("{base}.mf"),
                format!("{base}.vmdk")
            ]
        );
        let out = extract(&archive);
        let vmdk = out.join(format!("{base}.vmdk"));
        let info = qemu_info(&vmdk);
        assert_eq!(info["format"], "vmdk");
        assert_eq!(info["virtual-size"], 24 * MIB);
        assert_eq!(
            info["format-specific"]["data"]["create-type"],
            "streamOptimized"
        );
        let same = Command::new("qemu-img")
            .args(["compare", "-q", "-f", "raw", "-F", "vmdk"])
            .arg(&disk)
            .arg(&vmdk)
            .status()
            .unwrap();
        assert!(same.success(), "the vmdk's content differs from the disk");

        let ovf = fs::read_to_string(out.join(format!("{base}.ovf"))).unwrap();
        let found = elements(&ovf);
        let file = element(&found, "File");
        assert_eq!(file["ovf:href"], format!("{base}.vmdk"));
        assert_eq!(
            file["ovf:size"],
            fs::metadata(&vmdk).unwrap().len().to_string()
        );
        let disk_element = element(&found, "Disk");
        assert_eq!(disk_element["ovf:capacity"], (24 * MIB).to_string());
        assert_eq!(disk_element["ovf:capacityAllocationUnits"], "byte");
        assert_eq!(disk_element["ovf:fileRef"], file["ovf:id"]);
        assert!(disk_element["ovf:format"].ends_with("#streamOptimized"));
        let configs: HashMap<&str, &str> = found
            .iter()
            .filter(|(n, _)| n == "vmw:Config")
            .map(|(_, a)| (a["vmw:key"].as_str(), a["vmw:value"].as_str()))
            .collect();
        assert_eq!(configs["firmware"], "efi");
        assert_eq!(configs["bootOptions.efiSecureBootEnabled"], "false");
        assert!(ovf.contains("<Name>Golden &lt;Image&gt;</Name>"), "{ovf}");
        // The manifest's digests are those of the members.
        let manifest = fs::read_to_string(out.join(format!("{base}.mf"))).unwrap();
        assert_eq!(
            manifest,
            format!(
                "SHA256({base}.ovf)= {}\nSHA256({base}.vmdk)= {}\n",
                crate::toolbox::sha256_hex(ovf.as_bytes()),
                crate::toolbox::sha256_hex(&fs::read(&vmdk).unwrap())
            )
        );
    }

    fn vagrant(provider: VagrantProvider, vagrantfile: Option<&str>) -> Packaging {
        Packaging::Vagrant(VagrantSettings {
            provider,
            name: "golden".into(),
            virtual_size_gb: 42,
            vagrantfile: vagrantfile.map(str::to_string),
            guest_additions: false,
        })
    }

    #[test]
    fn vagrant_boxes_hold_metadata_a_vagrantfile_and_the_providers_disk() {
        let tmp = tempfile::tempdir().unwrap();
        let disk = small_disk(tmp.path());

        let name = "golden.x86_64-1.0.0.vagrant.libvirt.box";
        let libvirt = vagrant(VagrantProvider::Libvirt, None);
        let archive = pack_into(tmp.path(), &disk, name, &libvirt);
        let again = pack_into(tmp.path(), &disk, name, &libvirt);
        assert_same(&archive, &again);
        assert_eq!(
            members(&archive),
            ["metadata.json", "Vagrantfile", "box.img"]
        );
        let out = extract(&archive);
        let metadata: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(out.join("metadata.json")).unwrap()).unwrap();
        assert_eq!(
            metadata,
            serde_json::json!({"provider": "libvirt", "format": "qcow2", "virtual_size": 42})
        );
        assert_eq!(
            fs::read_to_string(out.join("Vagrantfile")).unwrap(),
            "Vagrant.configure(\"2\") do |config|\n  \
             config.vm.synced_folder \".\", \"/vagrant\", type: \"rsync\"\n  \
             config.vm.provider :libvirt do |libvirt|\n    libvirt.driver = \"kvm\"\n  end\nend"
        );
        let info = qemu_info(&out.join("box.img"));
        assert_eq!(info["format"], "qcow2");
        assert_eq!(info["virtual-size"], 24 * MIB);

        let name = "golden.x86_64-1.0.0.vagrant.virtualbox.box";
        let virtualbox = vagrant(VagrantProvider::Virtualbox, None);
        let archive = pack_into(tmp.path(), &disk, name, &virtualbox);
        let again = pack_into(tmp.path(), &disk, name, &virtualbox);
        assert_same(&archive, &again);
        assert_eq!(
            members(&archive),
            ["metadata.json", "Vagrantfile", "box.vmdk", "box.ovf"]
        );
        let out = extract(&archive);
        assert_eq!(
            fs::read_to_string(out.join("metadata.json")).unwrap(),
            "{\n  \"provider\": \"virtualbox\"\n}"
        );
        let vagrantfile = fs::read_to_string(out.join("Vagrantfile")).unwrap();
        let mac = vagrantfile
            .split("config.vm.base_mac = \"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("{vagrantfile}"));
        assert!(
            mac.len() == 12
                && mac.starts_with("00163E")
                && mac.bytes().all(|b| b.is_ascii_hexdigit()),
            "{mac}"
        );
        assert!(vagrantfile.contains("type: \"rsync\""), "{vagrantfile}");
        let info = qemu_info(&out.join("box.vmdk"));
        assert_eq!(info["format"], "vmdk");
        assert_eq!(info["virtual-size"], 24 * MIB);
        let ovf = fs::read_to_string(out.join("box.ovf")).unwrap();
        let found = elements(&ovf);
        assert_eq!(element(&found, "File")["ovf:href"], "box.vmdk");
        assert_eq!(
            element(&found, "Disk")["ovf:capacity"],
            (24 * MIB).to_string()
        );

        // The description's own Vagrantfile, as written.
        let own = "Vagrant.configure(\"2\") do |config|\n  config.vm.hostname = \"golden\"\nend\n";
        let archive = pack_into(
            tmp.path(),
            &disk,
            name,
            &vagrant(VagrantProvider::Virtualbox, Some(own)),
        );
        let out = extract(&archive);
        assert_eq!(fs::read_to_string(out.join("Vagrantfile")).unwrap(), own);
    }

    #[test]
    fn the_sparse_map_depends_on_the_content_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let sparse = tmp.path().join("sparse");
        let dense = tmp.path().join("dense");
        let size = 3 * MIB + 1000;
        let mut content = vec![0u8; size as usize];
        content[5000] = 1;
        content[MIB as usize..MIB as usize + 10_000].fill(7);
        content[size as usize - 1] = 9;
        // The same bytes: written whole, or with holes where they are zero.
        fs::write(&dense, &content).unwrap();
        let file = File::create(&sparse).unwrap();
        file.set_len(size).unwrap();
        for (at, len) in [(5000u64, 1u64), (MIB, 10_000), (size - 1, 1)] {
            file.write_all_at(&content[at as usize..(at + len) as usize], at)
                .unwrap();
        }
        let map = data_map(&File::open(&sparse).unwrap(), size).unwrap();
        assert_eq!(map, data_map(&File::open(&dense).unwrap(), size).unwrap());
        assert_eq!(
            map,
            [(4096, 4096), (MIB, 12288), (3 * MIB, 1000)],
            "aligned blocks holding data"
        );
        assert!(
            data_map(&File::create(tmp.path().join("empty")).unwrap(), 0)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_member_name_past_100_bytes_survives() {
        let tmp = tempfile::tempdir().unwrap();
        let disk = tmp.path().join("disk.raw");
        File::create(&disk).unwrap().set_len(MIB).unwrap();
        let base = format!("golden-{}.x86_64-1.0.0", "long".repeat(30));
        let name = format!("{base}.ova");
        let packaging = Packaging::Ova(OvfSettings {
            name: "golden".into(),
            firmware: VmFirmware::Bios,
            secure_boot: false,
        });
        let archive = pack_into(tmp.path(), &disk, &name, &packaging);
        assert_eq!(
            members(&archive),
            [
                format!("{base}.ovf"),
                format!("{base}.mf"),
                format!("{base}.vmdk")
            ]
        );
    }

    #[test]
    fn bad_settings_and_the_budget_are_refused_leaving_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let disk = small_disk(tmp.path());
        let out = tmp.path().join("out");
        let target = TargetDir::create(&out).unwrap();
        let refused = |packaging: &Packaging, target: &TargetDir| {
            pack(&disk, target, "golden.box", packaging, None)
                .unwrap_err()
                .to_string()
        };
        let err = refused(
            &Packaging::Gce {
                license: Some("x\"]}, {\"y".into()),
            },
            &target,
        );
        assert!(err.contains("gcelicense"), "{err}");
        let err = refused(
            &Packaging::Ova(OvfSettings {
                name: "a\nb".into(),
                firmware: VmFirmware::Efi,
                secure_boot: false,
            }),
            &target,
        );
        assert!(err.contains("control characters"), "{err}");
        let err = refused(
            &Packaging::Ova(OvfSettings {
                name: "golden".into(),
                firmware: VmFirmware::Bios,
                secure_boot: true,
            }),
            &target,
        );
        assert!(err.contains("Secure Boot needs EFI"), "{err}");
        let small = target
            .clone()
            .with_budget(Some(ArtifactBudget::new(64 << 10)));
        let err = refused(&vagrant(VagrantProvider::Libvirt, None), &small);
        assert!(err.contains("artifact limit exceeded"), "{err}");
        assert_eq!(
            small.budget().unwrap().used(),
            0,
            "the scratch disk's bytes are given back"
        );
        let left: Vec<_> = fs::read_dir(&out).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
