//! KIWI's `<systemdisk>`: the LVM volume group holding the root and the
//! volumes of `<volume>`, read as KIWI 11 reads it (names, sizes,
//! `freespace`, the full-size volume, `@root`, the swap volume), and its
//! fstab lines.

use builder_sdk::disks::{LogicalVolume, TreeFilesystem, VolumeContent, VolumeGroup};
use builder_sdk::prelude::*;
use builder_sdk::{FilesystemOptions, Settings, TreePart};

use crate::layout::{self, MIB};

/// KIWI's name of the root volume.
pub const ROOT_VOLUME: &str = "LVRoot";

/// How large a volume is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    /// `size=`: this many MiB.
    Fixed(u64),
    /// `freespace=` (or neither): its content and this many MiB more.
    Freespace(u64),
    /// `size="all"`: what the others leave.
    All,
}

/// One volume of the group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Volume {
    /// Its logical volume's name.
    pub name: String,
    /// The directory of the root it holds (`""`: the root; none: swap).
    pub path: Option<String>,
    /// Its size.
    pub size: Size,
    /// Its filesystem's label, if any.
    pub label: Option<String>,
    /// fsck checks it at boot (`filesystem_check="true"`).
    pub check: bool,
}

/// The volume group of `<systemdisk>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemDisk {
    /// Its name (`systemVG` unless `name=` says).
    pub group: String,
    /// Its volumes in the order they get their extents: the full-size one last.
    pub volumes: Vec<Volume>,
}

/// KIWI's smallest free space of a volume, MiB, by filesystem.
fn min_mib(filesystem: &str) -> u64 {
    match filesystem {
        "btrfs" => 120,
        "xfs" => 300,
        _ => 30,
    }
}

/// The `<systemdisk>` of the type's `settings`, if any, with the root's
/// `root_label`, for an image of `filesystem` (KIWI's name) and `arch`, and
/// the swap volume `swap` (its name and MiB) when `oem-swap` asks for one.
pub fn read(
    settings: Settings<'_>,
    arch: &str,
    filesystem: &str,
    root_label: &str,
    swap: Option<(&str, u64)>,
) -> Result<Option<SystemDisk>, Error> {
    let Some(disk) = settings.element("systemdisk") else {
        return Ok(None);
    };
    if filesystem == "btrfs" && !disk.flag("preferlvm") {
        return Err(Error::invalid_option(
            "filesystem",
            "KIWI makes <systemdisk> on btrfs as subvolumes; builder makes LVM volume groups \
             (add preferlvm=\"true\" to <systemdisk>), not btrfs subvolumes yet",
        ));
    }
    let group = disk.attr("name").unwrap_or("systemVG").to_string();
    let min = min_mib(filesystem);
    let mut volumes: Vec<Volume> = Vec::new();
    let mut have_root = false;
    for v in disk.children("volume") {
        if let Some(arches) = v.attr("arch") {
            if !arches.split(',').any(|a| a.trim() == arch) {
                continue;
            }
        }
        let name = v.attr("name").unwrap_or("").trim();
        let what = format!("<volume name=\"{name}\">");
        for (attribute, why) in [
            ("quota", "a btrfs quota"),
            ("parent", "a btrfs subvolume's parent"),
        ] {
            if v.attr(attribute).is_some() {
                return Err(Error::other(format!(
                    "{what}: KIWI takes {attribute}= for {why}; builder makes LVM volumes, which have none"
                )));
            }
        }
        if v.attr("copy_on_write") == Some("false") {
            return Err(Error::other(format!(
                "{what}: KIWI takes copy_on_write=\"false\" for btrfs; builder makes LVM volumes, \
                 which have no copy-on-write to switch off"
            )));
        }
        let size = match (v.attr("size"), v.attr("freespace")) {
            (Some(s), _) if s.trim() == "all" => Size::All,
            (Some(s), _) => Size::Fixed(layout::mebibytes(&what, s)?),
            (None, Some(f)) if f.trim() == "all" => Size::All,
            (None, Some(f)) => {
                let mib = layout::mebibytes(&what, f)?;
                // KIWI adds its minimum to any other free space.
                Size::Freespace(if mib == min { mib } else { mib + min })
            }
            (None, None) => Size::Freespace(min),
        };
        let (lv_name, path) = if let Some(rest) = name.strip_prefix("@root") {
            have_root = true;
            let lv = rest.strip_prefix('=').unwrap_or(ROOT_VOLUME);
            (lv.to_string(), String::new())
        } else {
            let path = match v.attr("mountpoint") {
                Some(m) => layout::mountpoint(&what, m)?,
                None => layout::mountpoint(&what, name)?,
            };
            // Without a mount point the name is the path: `usr/lib` is `usr_lib`.
            let lv = if v.attr("mountpoint").is_some() {
                name.to_string()
            } else {
                path.replace('/', "_")
            };
            (lv, path)
        };
        if path.split('/').next() == Some("boot") {
            return Err(Error::other(format!(
                "{what}: builder keeps /boot on the root or its own boot partition, not on a volume"
            )));
        }
        volumes.push(Volume {
            name: lv_name,
            path: Some(path),
            size,
            label: v
                .attr("label")
                .filter(|l| !l.is_empty())
                .map(str::to_string),
            check: v.flag("filesystem_check"),
        });
    }
    let full_size = volumes.iter().any(|v| v.size == Size::All);
    if volumes.iter().filter(|v| v.size == Size::All).count() > 1 {
        return Err(Error::other(
            "<systemdisk>: only one volume can take all the space left (size=\"all\")",
        ));
    }
    if !have_root {
        volumes.push(Volume {
            name: ROOT_VOLUME.into(),
            path: Some(String::new()),
            size: if full_size {
                Size::Freespace(min)
            } else {
                Size::All
            },
            label: None,
            check: true,
        });
    }
    if let Some((name, mib)) = swap {
        volumes.push(Volume {
            name: name.to_string(),
            path: None,
            size: Size::Fixed(mib),
            label: Some("SWAP".into()),
            check: false,
        });
    }
    for v in volumes.iter_mut().filter(|v| v.path.as_deref() == Some("")) {
        v.label = Some(v.label.clone().unwrap_or_else(|| root_label.to_string()));
        v.check = true;
    }
    // The full-size volume takes the extents left, so it comes last.
    volumes.sort_by_key(|v| v.size == Size::All);
    let mut seen = Vec::new();
    for v in &volumes {
        if seen.contains(&&v.name) {
            return Err(Error::other(format!(
                "<systemdisk>: two volumes are named {}",
                v.name
            )));
        }
        seen.push(&v.name);
    }
    Ok(Some(SystemDisk { group, volumes }))
}

impl SystemDisk {
    /// The directories of the root its volumes hold (not the root itself).
    pub fn paths(&self) -> Vec<&str> {
        self.volumes
            .iter()
            .filter_map(|v| v.path.as_deref())
            .filter(|p| !p.is_empty())
            .collect()
    }

    /// The volume group to add as a partition's content: each volume a
    /// filesystem of `filesystem` made of its directory (`tree_part` gives
    /// what it leaves out), the root's with `root_options` besides.
    pub fn content(
        &self,
        filesystem: &str,
        root_options: &FilesystemOptions,
        tree_part: &dyn Fn(&str) -> TreePart,
    ) -> VolumeGroup {
        let volumes = self
            .volumes
            .iter()
            .map(|v| {
                let content = match &v.path {
                    None => VolumeContent::Swap(builder_sdk::disks::SwapOptions {
                        label: v.label.clone(),
                        uuid: None,
                    }),
                    Some(path) => {
                        let mut options = if path.is_empty() {
                            root_options.clone()
                        } else {
                            FilesystemOptions {
                                label: v.label.clone(),
                                ..layout::filesystem(filesystem, "")
                            }
                        };
                        if let Size::Freespace(mib) = v.size {
                            options.extra_bytes += mib * MIB;
                        }
                        VolumeContent::Filesystem(TreeFilesystem {
                            part: tree_part(path),
                            options,
                        })
                    }
                };
                LogicalVolume {
                    name: v.name.clone(),
                    size_bytes: match v.size {
                        Size::Fixed(mib) => Some(mib * MIB),
                        _ => None,
                    },
                    content,
                }
            })
            .collect();
        VolumeGroup {
            name: self.group.clone(),
            volumes,
        }
    }

    /// The root volume's device path (`/dev/systemVG/LVRoot`).
    pub fn root_device(&self) -> String {
        let root = self
            .volumes
            .iter()
            .find(|v| v.path.as_deref() == Some(""))
            .map_or(ROOT_VOLUME, |v| v.name.as_str());
        format!("/dev/{}/{root}", self.group)
    }

    /// The volume that takes what the others leave (`size="all"`, else the
    /// root), and grows with the disk at boot.
    pub fn growing(&self) -> &str {
        self.volumes
            .iter()
            .find(|v| v.size == Size::All)
            .or_else(|| self.volumes.iter().find(|v| v.path.as_deref() == Some("")))
            .map_or(ROOT_VOLUME, |v| v.name.as_str())
    }

    /// The index of the root volume.
    pub fn root_index(&self) -> usize {
        self.volumes
            .iter()
            .position(|v| v.path.as_deref() == Some(""))
            .unwrap_or_default()
    }

    /// fstab's lines for the volumes but the root, by device path as KIWI
    /// writes them, in the order of their mount points.
    pub fn fstab_lines(&self, filesystem: &str) -> String {
        let mut volumes: Vec<&Volume> = self.volumes.iter().collect();
        volumes.sort_by_key(|v| v.path.clone());
        let mut out = String::new();
        for v in volumes {
            let device = format!("/dev/{}/{}", self.group, v.name);
            match v.path.as_deref() {
                None => out.push_str(&format!("{device} swap swap defaults 0 0\n")),
                Some("") => {}
                Some(path) => out.push_str(&format!(
                    "{device} /{path} {} defaults 0 {}\n",
                    layout::fstab_type(filesystem),
                    if v.check { 2 } else { 0 }
                )),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use builder_sdk::{OptionValue, Setting};

    fn settings(volumes: &[&[(&str, &str)]], disk: &[(&str, &str)]) -> Vec<Setting> {
        let setting = |element: &str, parent, attributes: &[(&str, &str)]| Setting {
            element: element.into(),
            parent,
            attributes: attributes
                .iter()
                .map(|(n, v)| OptionValue {
                    name: n.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            text: String::new(),
        };
        let mut all = vec![setting("systemdisk", None, disk)];
        for v in volumes {
            all.push(setting("volume", Some(0), v));
        }
        all
    }

    fn read_all(all: &[Setting], fs: &str, swap: Option<(&str, u64)>) -> Result<SystemDisk, Error> {
        read(Settings::new(all), "x86_64", fs, "ROOT", swap).map(Option::unwrap)
    }

    /// KIWI's volume list: names from paths, `freespace` plus the minimum,
    /// the root taking the rest unless a volume takes all, swap as a volume.
    #[test]
    fn volumes_are_named_and_sized_as_kiwi_does() {
        let all = settings(
            &[
                &[("name", "home"), ("size", "1G")],
                &[("name", "usr/lib"), ("freespace", "100")],
                &[
                    ("name", "data"),
                    ("mountpoint", "/srv/data"),
                    ("label", "DATA"),
                ],
                &[("name", "arm"), ("arch", "aarch64")],
            ],
            &[],
        );
        let disk = read_all(&all, "ext4", Some(("LVSwap", 128))).unwrap();
        assert_eq!(disk.group, "systemVG");
        let rows: Vec<(&str, Option<&str>, Size)> = disk
            .volumes
            .iter()
            .map(|v| (v.name.as_str(), v.path.as_deref(), v.size))
            .collect();
        assert_eq!(
            rows,
            [
                ("home", Some("home"), Size::Fixed(1024)),
                ("usr_lib", Some("usr/lib"), Size::Freespace(130)),
                ("data", Some("srv/data"), Size::Freespace(30)),
                ("LVSwap", None, Size::Fixed(128)),
                ("LVRoot", Some(""), Size::All),
            ]
        );
        assert_eq!(disk.root_device(), "/dev/systemVG/LVRoot");
        assert_eq!(disk.growing(), "LVRoot");
        assert_eq!(disk.root_index(), 4);
        assert_eq!(disk.paths(), ["home", "usr/lib", "srv/data"]);
        assert_eq!(
            disk.fstab_lines("ext4"),
            "/dev/systemVG/LVSwap swap swap defaults 0 0\n\
             /dev/systemVG/home /home ext4 defaults 0 0\n\
             /dev/systemVG/data /srv/data ext4 defaults 0 0\n\
             /dev/systemVG/usr_lib /usr/lib ext4 defaults 0 0\n"
        );
        let part = |p: &str| TreePart {
            path: p.to_string(),
            mount_points: Vec::new(),
        };
        let group = disk.content("ext4", &layout::filesystem("ext4", "ROOT"), &part);
        assert_eq!(group.volumes[0].size_bytes, Some(1024 * MIB));
        match &group.volumes[1].content {
            VolumeContent::Filesystem(fs) => {
                assert_eq!(fs.options.extra_bytes, 130 * MIB);
                assert_eq!(fs.part.path, "usr/lib");
            }
            other => panic!("{other:?}"),
        }
        match &group.volumes[2].content {
            VolumeContent::Filesystem(fs) => assert_eq!(fs.options.label.as_deref(), Some("DATA")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(group.volumes[3].content, VolumeContent::Swap(_)));
        assert_eq!(group.volumes[4].size_bytes, None);
    }

    /// `@root=name` names and sizes the root; a volume taking all comes last.
    #[test]
    fn the_root_volume_and_the_full_size_one() {
        let all = settings(
            &[
                &[("name", "var"), ("size", "all")],
                &[("name", "@root=rootvol"), ("size", "2G")],
            ],
            &[("name", "vg0")],
        );
        let disk = read_all(&all, "xfs", None).unwrap();
        let rows: Vec<(&str, Size)> = disk
            .volumes
            .iter()
            .map(|v| (v.name.as_str(), v.size))
            .collect();
        assert_eq!(rows, [("rootvol", Size::Fixed(2048)), ("var", Size::All)]);
        assert_eq!(disk.root_device(), "/dev/vg0/rootvol");
        assert_eq!(disk.growing(), "var");
        // Without @root, a full-size volume leaves the root its minimum.
        let all = settings(&[&[("name", "var"), ("size", "all")]], &[]);
        let disk = read_all(&all, "xfs", None).unwrap();
        assert_eq!(disk.volumes[0].size, Size::Freespace(300));
        assert_eq!(disk.volumes[1].name, "var");
    }

    #[test]
    fn what_lvm_cannot_be_is_refused() {
        for (volume, fs, disk, says) in [
            (vec![("name", "home")], "btrfs", vec![], "preferlvm"),
            (
                vec![("name", "home"), ("quota", "1G")],
                "ext4",
                vec![],
                "quota=",
            ),
            (
                vec![("name", "home"), ("copy_on_write", "false")],
                "ext4",
                vec![],
                "copy-on-write",
            ),
            (vec![("name", "boot/efi")], "ext4", vec![], "/boot"),
            (vec![("name", "../etc")], "ext4", vec![], "not a directory"),
            (
                vec![("name", "home"), ("size", "huge")],
                "ext4",
                vec![],
                "not a size",
            ),
        ] {
            let all = settings(&[&volume], &disk);
            let err = read_all(&all, fs, None).unwrap_err();
            assert!(format!("{err:?}").contains(says), "{volume:?}: {err:?}");
        }
        let all = settings(
            &[
                &[("name", "a"), ("size", "all")],
                &[("name", "b"), ("size", "all")],
            ],
            &[],
        );
        assert!(read_all(&all, "ext4", None).is_err());
        let all = settings(&[&[("name", "home")]], &[("preferlvm", "true")]);
        assert!(read_all(&all, "btrfs", None).is_ok());
    }
}
