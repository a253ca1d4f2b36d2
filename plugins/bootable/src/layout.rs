//! The partitions an `oem` disk has besides the boot loader's, in KIWI's
//! order: `/boot`, swap, the custom partitions of `<partitions>`, the spare
//! partition (`spare_part`), the root, or the spare partition last
//! (`spare_part_is_last`). Each partition holding a directory of the root
//! takes that directory's content, which the filesystems above it then hold
//! as an empty mount point; fstab names each by the ids the host gave when
//! it was added (`devicepersistency`).

use builder_sdk::disks::PartitionIds;
use builder_sdk::prelude::*;
use builder_sdk::{FilesystemOptions, FilesystemType, OptionValue};

pub const MIB: u64 = 1 << 20;

/// How fstab and the kernel's `root=` name what they mount (KIWI's
/// `devicepersistency`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persistency {
    /// The filesystem's UUID (`by-uuid`, the default).
    Uuid,
    /// The filesystem's label (`by-label`).
    Label,
    /// The GPT partition's UUID, or the MBR disk id and number
    /// (`by-partuuid`).
    PartUuid,
}

impl Persistency {
    /// From the option's value.
    pub fn from_option(value: Option<&str>) -> Persistency {
        match value {
            Some("by-label") => Persistency::Label,
            Some("by-partuuid") => Persistency::PartUuid,
            _ => Persistency::Uuid,
        }
    }

    /// How fstab names a partition with these ids and `label`: a swap area
    /// or filesystem without a UUID (an image the plugin made) is named by
    /// `fallback`.
    pub fn spec(self, ids: &PartitionIds, label: &str, fallback: Option<&str>) -> String {
        match self {
            Persistency::Label => format!("LABEL={label}"),
            Persistency::PartUuid => format!("PARTUUID={}", ids.uuid),
            Persistency::Uuid => match ids.content_uuid.as_deref().or(fallback) {
                Some(uuid) => format!("UUID={uuid}"),
                None => format!("PARTUUID={}", ids.uuid),
            },
        }
    }
}

/// A partition holding a directory of the root, or nothing: one of
/// `<partitions>`, or the spare partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extra {
    /// KIWI's name of it (`<partition name=…>`; `spare`).
    pub name: String,
    /// Its GPT partition name (`p.lx<name>` unless `partition_name` says;
    /// `p.spare`).
    pub gpt_name: String,
    /// Its size, MiB.
    pub size_mib: u64,
    /// The directory of the root it holds, without leading or trailing `/`.
    pub mountpoint: Option<String>,
    /// Its filesystem, KIWI's name; none: it is left empty.
    pub filesystem: Option<String>,
    /// Its filesystem's label.
    pub label: String,
    /// The partition number `part_id` asks for.
    pub number: Option<u32>,
}

impl Extra {
    /// Its fstab line, if it is mounted.
    pub fn fstab_line(&self, persistency: Persistency, ids: &PartitionIds) -> Option<String> {
        let (Some(mountpoint), Some(filesystem)) = (&self.mountpoint, &self.filesystem) else {
            return None;
        };
        // squashfs has no UUID or label: KIWI names it by PARTUUID.
        let persistency = if filesystem == "squashfs" {
            Persistency::PartUuid
        } else {
            persistency
        };
        Some(format!(
            "{} /{mountpoint} {} defaults 0 0\n",
            persistency.spec(ids, &self.label, None),
            fstab_type(filesystem)
        ))
    }
}

/// The type fstab gives a filesystem of KIWI's name.
pub fn fstab_type(name: &str) -> &str {
    match name {
        "fat16" | "fat32" => "vfat",
        other => other,
    }
}

/// The filesystem of KIWI's name.
pub fn filesystem_type(name: &str) -> FilesystemType {
    match name {
        "ext2" => FilesystemType::Ext2,
        "ext3" => FilesystemType::Ext3,
        "xfs" => FilesystemType::Xfs,
        "btrfs" => FilesystemType::Btrfs,
        "squashfs" => FilesystemType::Squashfs,
        "fat16" | "fat32" => FilesystemType::Vfat,
        _ => FilesystemType::Ext4,
    }
}

/// A filesystem of KIWI's name `name` labelled `label`, its UUID left to
/// the host.
pub fn filesystem(name: &str, label: &str) -> FilesystemOptions {
    FilesystemOptions {
        fs_type: filesystem_type(name),
        label: Some(label.to_string()),
        uuid: None,
        size_bytes: None,
        extra_bytes: 0,
        compression: None,
        create_options: Vec::new(),
    }
}

/// Names KIWI gives partitions it makes itself; `<partition>` may not use them.
const RESERVED: &[&str] = &[
    "root", "readonly", "boot", "prep", "spare", "swap", "efi_csm", "efi",
];

/// A size as KIWI writes one (`500`, `500M`, `2G`), in MiB.
pub fn mebibytes(what: &str, value: &str) -> Result<u64, Error> {
    let value = value.trim();
    let (digits, factor) = match value.strip_suffix('G') {
        Some(digits) => (digits, 1024),
        None => (value.strip_suffix('M').unwrap_or(value), 1),
    };
    match digits.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n * factor),
        _ => Err(Error::other(format!(
            "{what}: `{value}` is not a size like 500, 500M or 2G"
        ))),
    }
}

/// A mount point as a directory of the root: `/srv/data` is `srv/data`.
pub fn mountpoint(what: &str, value: &str) -> Result<String, Error> {
    let path = value.trim_matches('/');
    if path.is_empty()
        || path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(Error::other(format!(
            "{what}: mountpoint `{value}` is not a directory below /"
        )));
    }
    Ok(path.to_string())
}

/// The custom partitions of `<partitions>`, in the order written.
pub fn custom(request: &BuildRequest) -> Result<Vec<Extra>, Error> {
    let mut out: Vec<Extra> = Vec::new();
    let Some(partitions) = request.settings().element("partitions") else {
        return Ok(out);
    };
    for p in partitions.children("partition") {
        let name = p.attr("name").unwrap_or("").to_string();
        let what = format!("<partition name=\"{name}\">");
        if RESERVED.contains(&name.as_str()) {
            return Err(Error::other(format!(
                "{what}: KIWI reserves the name for a partition it makes itself ({})",
                RESERVED.join(", ")
            )));
        }
        if out.iter().any(|e| e.name == name) {
            return Err(Error::other(format!(
                "{what}: a second partition of that name"
            )));
        }
        if let Some(clone) = p.attr("clone").filter(|c| c.trim() != "0") {
            return Err(Error::other(format!(
                "{what}: KIWI accepts clone=\"{clone}\"; builder does not make partition clones \
                 yet (it would need the clones' ids made unique at first boot)"
            )));
        }
        if p.attr("partition_type") == Some("t.raid") {
            return Err(Error::other(format!(
                "{what}: KIWI accepts partition_type=\"t.raid\"; builder does not make RAID \
                 partitions yet (the host's partition kinds have no RAID type)"
            )));
        }
        let number = match p.attr("part_id") {
            Some(id) => Some(id.trim().parse::<u32>().map_err(|_| {
                Error::other(format!("{what}: part_id `{id}` is not a partition number"))
            })?),
            None => None,
        };
        let mountpoint = p
            .attr("mountpoint")
            .map(|m| mountpoint(&what, m))
            .transpose()?;
        out.push(Extra {
            gpt_name: p
                .attr("partition_name")
                .map_or_else(|| format!("p.lx{name}"), str::to_string),
            size_mib: mebibytes(&what, p.attr("size").unwrap_or(""))?,
            mountpoint,
            filesystem: p.attr("filesystem").map(str::to_string),
            label: p
                .attr("label")
                .filter(|l| !l.is_empty())
                .map_or_else(|| name.to_uppercase(), str::to_string),
            number,
            name,
        });
    }
    Ok(out)
}

/// The spare partition (`spare_part`), if asked for.
pub fn spare(options: &[OptionValue]) -> Result<Option<Extra>, Error> {
    let Some(size) = options.value("spare_part") else {
        return Ok(None);
    };
    if let Some(attributes) = options.value("spare_part_fs_attributes") {
        return Err(Error::invalid_option(
            "spare_part_fs_attributes",
            format!(
                "KIWI accepts `{attributes}`; builder does not set file attributes on a \
                 filesystem it makes without mounting it yet"
            ),
        ));
    }
    Ok(Some(Extra {
        name: "spare".into(),
        gpt_name: "p.spare".into(),
        size_mib: mebibytes("spare_part", size)?,
        mountpoint: options
            .value("spare_part_mountpoint")
            .map(|m| mountpoint("spare_part_mountpoint", m))
            .transpose()?,
        filesystem: options.value("spare_part_fs").map(str::to_string),
        label: "SPARE".into(),
        number: None,
    }))
}

/// The directories below `part` (`""` is the whole root) that other
/// partitions hold: `part`'s filesystem keeps them as empty mount points.
pub fn mount_points_below(part: &str, all: &[&str]) -> Vec<String> {
    all.iter()
        .filter(|other| **other != part && !other.is_empty())
        .filter(|other| part.is_empty() || other.starts_with(&format!("{part}/")))
        .map(|other| other.to_string())
        .collect()
}

/// Two partitions may not hold the same directory.
pub fn check_distinct(parts: &[&str]) -> Result<(), Error> {
    for (i, a) in parts.iter().enumerate() {
        if parts[..i].contains(a) {
            return Err(Error::other(format!(
                "two partitions hold /{a}: give each its own mountpoint"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_read_as_kiwi_writes_them() {
        assert_eq!(mebibytes("s", "500").unwrap(), 500);
        assert_eq!(mebibytes("s", "500M").unwrap(), 500);
        assert_eq!(mebibytes("s", "2G").unwrap(), 2048);
        for bad in ["", "0", "2T", "-1", "x"] {
            assert!(mebibytes("s", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mount_points_are_directories_below_the_root() {
        assert_eq!(mountpoint("m", "/srv/data/").unwrap(), "srv/data");
        for bad in ["/", "", "/srv/../etc", "/a//b", "./x"] {
            assert!(mountpoint("m", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn each_filesystem_leaves_out_what_partitions_below_it_hold() {
        let all = ["", "boot", "srv", "srv/data", "home"];
        assert_eq!(
            mount_points_below("", &all),
            ["boot", "srv", "srv/data", "home"]
        );
        assert_eq!(mount_points_below("srv", &all), ["srv/data"]);
        assert!(mount_points_below("home", &all).is_empty());
        assert!(check_distinct(&all).is_ok());
        assert!(check_distinct(&["srv", "home", "srv"]).is_err());
    }

    #[test]
    fn fstab_names_partitions_as_devicepersistency_says() {
        let ids = PartitionIds {
            number: 4,
            uuid: "PART-UUID".into(),
            content_uuid: Some("FS-UUID".into()),
            luks_uuid: None,
            volume_uuids: Vec::new(),
        };
        let extra = Extra {
            name: "home".into(),
            gpt_name: "p.lxhome".into(),
            size_mib: 100,
            mountpoint: Some("home".into()),
            filesystem: Some("ext4".into()),
            label: "HOME".into(),
            number: None,
        };
        assert_eq!(
            extra.fstab_line(Persistency::Uuid, &ids).unwrap(),
            "UUID=FS-UUID /home ext4 defaults 0 0\n"
        );
        assert_eq!(
            extra.fstab_line(Persistency::Label, &ids).unwrap(),
            "LABEL=HOME /home ext4 defaults 0 0\n"
        );
        assert_eq!(
            extra.fstab_line(Persistency::PartUuid, &ids).unwrap(),
            "PARTUUID=PART-UUID /home ext4 defaults 0 0\n"
        );
        let squashfs = Extra {
            filesystem: Some("squashfs".into()),
            ..extra.clone()
        };
        assert!(squashfs
            .fstab_line(Persistency::Uuid, &ids)
            .unwrap()
            .starts_with("PARTUUID=PART-UUID "));
        let unmounted = Extra {
            mountpoint: None,
            ..extra
        };
        assert!(unmounted.fstab_line(Persistency::Uuid, &ids).is_none());
    }
}
