//! KIWI's schema 8.5 as data: which elements exist, their attributes, value
//! types and children. Derived from `kiwi/schema/kiwi.rnc` (KIWI v10.3.9);
//! the content models are reduced to "which children, how many of each".

use super::schema::{AttrRule as A, Card as C, ElementRule as E, Pattern as P, ValueType as V};

/// Every element of the schema, sorted by name (binary-searched).
pub(super) static ELEMENTS: &[E] = &[
    E {
        name: "archive",
        text: None,
        attributes: &[
            A {
                name: "name",
                value: V::Text,
                required: true,
            },
            A {
                name: "bootinclude",
                value: V::Bool,
                required: false,
            },
            A {
                name: "target_dir",
                value: V::Text,
                required: false,
            },
        ],
        children: &[],
    },
    E {
        name: "argument",
        text: None,
        attributes: &[A {
            name: "name",
            value: V::Text,
            required: true,
        }],
        children: &[],
    },
    E {
        name: "author",
        text: Some(V::Text),
        attributes: &[],
        children: &[],
    },
    E {
        name: "bootloader",
        text: None,
        attributes: &[
            A {
                name: "name",
                value: V::Enum(&["grub2", "grub2_s390x_emu", "systemd_boot", "custom", "zipl"]),
                required: true,
            },
            A {
                name: "bls",
                value: V::Bool,
                required: false,
            },
            A {
                name: "output_console",
                value: V::Pattern(P::GrubConsoleOutput),
                required: false,
            },
            A {
                name: "input_console",
                value: V::Pattern(P::GrubConsoleInput),
                required: false,
            },
            A {
                name: "serial_line",
                value: V::Text,
                required: false,
            },
            A {
                name: "video_mode",
                value: V::Text,
                required: false,
            },
            A {
                name: "timeout",
                value: V::Count,
                required: false,
            },
            A {
                name: "timeout_style",
                value: V::Enum(&["countdown", "hidden", "menu"]),
                required: false,
            },
            A {
                name: "targettype",
                value: V::Enum(&["FBA", "SCSI", "CDL", "GPT"]),
                required: false,
            },
            A {
                name: "use_disk_password",
                value: V::Bool,
                required: false,
            },
            A {
                name: "grub_template",
                value: V::Text,
                required: false,
            },
        ],
        children: &[
            ("bootloadersettings", C::Optional),
            ("securelinux", C::Many),
        ],
    },
    E {
        name: "bootloader-theme",
        text: Some(V::Text),
        attributes: &[],
        children: &[],
    },
    E {
        name: "bootloadersettings",
        text: None,
        attributes: &[],
        children: &[
            ("shimoption", C::Many),
            ("installoption", C::Many),
            ("environment", C::Optional),
            ("configoption", C::Many),
        ],
    },
    E {
        name: "bootsplash-theme",
        text: Some(V::Text),
        attributes: &[],
        children: &[],
    },
    E {
        name: "certificate",
        text: None,
        attributes: &[A {
            name: "name",
            value: V::Text,
            required: true,
        }],
        children: &[],
    },
    E {
        name: "certificates",
        text: None,
        attributes: &[
            A {
                name: "profiles",
                value: V::Text,
                required: false,
            },
            A {
                name: "target_distribution",
                value: V::Enum(&["suse", "redhat", "debian", "archlinux"]),
                required: true,
            },
        ],
        children: &[("certificate", C::OneOrMore)],
    },
    E {
        name: "collectionModule",
        text: None,
        attributes: &[
            A {
                name: "name",
                value: V::Pattern(P::SafePosixName),
                required: true,
            },
            A {
                name: "enable",
                value: V::Bool,
                required: true,
            },
            A {
                name: "stream",
                value: V::Pattern(P::SafePosixName),
                required: false,
            },
            A {
                name: "arch",
                value: V::Pattern(P::ArchName),
                required: false,
            },
        ],
        children: &[],
    },
    E {
        name: "configoption",
        text: None,
        attributes: &[
            A {
                name: "name",
                value: V::Text,
                required: true,
            },
            A {
                name: "value",
                value: V::Text,
                required: false,
            },
        ],
        children: &[],
    },
    E {
        name: "contact",
        text: Some(V::Text),
        attributes: &[],
        children: &[],
    },
    E {
        name: "container",
        text: None,
        attributes: &[
            A {
                name: "name",
                value: V::Text,
                required: true,
            },
            A {
                name: "arch",
                value: V::Pattern(P::ArchName),
                required: false,
            },
            A {
                name: "path",
                value: V::Text,
                required: false,
            },
            A {
                name: "tag",
                value: V::Text,
                required: false,
            },
            A {
                name: "fetch_only",
                value: V::Bool,
                required: false,
            },
        ],
        children: &[],
    },
    E {
        name: "containerconfig",
        text: None,
        attributes: &[
            A {
                name: "name",
                value: V::Text,
                required: true,
            },
            A {
                name: "tag",
                value: V::Text,
                required: false,
            },
            A {
                name: "additionalnames",
                value: V::Text,
                required: false,
            },
            A {
                name: "maintainer",
                value: V::Text,
                required: false,
            },
            A {
                name: "user",
                value: V::Text,
                required: false,
            },
            A {
                name: "workingdir",
                value: V::Text,
                required: false,
            },
        ],
        children: &[
            ("entrypoint", C::Optional),
            ("subcommand", C::Optional),
            ("expose", C::Optional),
            ("volumes", C::Optional),
            ("stopsignal", C::Optional),
            ("environment", C::Optional),
            ("labels", C::Optional),
            ("history", C::Optional),
        ],
    },
    E {
        name: "containers",
        text: None,
        attributes: &[
            A {
                name: "profiles",
                value: V::Text,
                required: false,
            },
            A {
                name: "arch",
                value: V::Pattern(P::ArchName),
                required: false,
            },
            A {
                name: "source",
                value: V::Text,
                required: true,
            },
            A {
                name: "backend",
                value: V::Enum(&["podman", "docker", "container-snap"]),
                required: true,
            },
        ],
        children: &[("container", C::OneOrMore)],
    },
    E {
        name: "description",
        text: None,
        attributes: &[A {
            name: "type",
            value: V::Enum(&["boot", "system"]),
            required: true,
        }],
        children: &[
            ("author", C::One),
            ("contact", C::OneOrMore),
            ("specification", C::One),
            ("license", C::Optional),
        ],
    },
    E {
        name: "dracut",
        text: None,
        attributes: &[
            A {
                name: "module",
                value: V::Text,
                required: false,
            },
            A {
                name: "driver",
                value: V::Text,
                required: false,
            },
            A {
                name: "uefi",
                value: V::Bool,
                required: false,
            },
        ],
        children: &[],
    },
    E {
        name: "drivers",
        text: None,
        attributes: &[A {
            name: "profiles",
            value: V::Text,
            required: false,
        }],
        children: &[("file", C::OneOrMore)],
    },
    E {
        name: "entrypoint",
        text: None,
        attributes: &[
            A {
                name: "execute",
                value: V::Text,
                required: false,
            },
            A {
                name: "clear",
                value: V::Bool,
                required: false,
            },
        ],
        children: &[("argument", C::Many)],
    },
    E {
        name: "env",
        text: None,
        attributes: &[
            A {
                name: "name",
                value: V::Text,
                required: true,
            },
            A {
                name: "value",
                value: V::Text,
                required: true,
            },
        ],
        children: &[],
    },
    E {
        name: "environment",
        text: None,
        attributes: &[],
        children: &[("env", C::OneOrMore)],
    },
    E {
        name: "expose",
        text: None,
        attributes: &[],
        children: &[("port", C::OneOrMore)],
    },
    E {
        name: "extension",
        text: None,
        attributes: &[],
        children: &[],
    },
    E {
        name: "file",
        text: None,
        attributes: &[
            A {
                name: "name",
                value: V::Text,
                required: true,
            },
            A {
                name: "target",
                value: V::Text,
                required: false,
            },
            A {
                name: "owner",
                value: V::Text,
                required: false,
            },
            A {
                name: "permissions",
                value: V::Text,
                required: false,
            },
            A {
                name: "arch",
                value: V::Pattern(P::ArchName),
                required: false,
            },
        ],
        children: &[],
    },
    E {
        name: "history",
        text: Some(V::Text),
        attributes: &[
            A {
                name: "created_by",
                value: V::Text,
                required: false,
            },
            A {
                name: "author",
                value: V::Text,
                required: false,
            },
            A {
                name: "application_id",
                value: V::Text,
                required: false,
            },
            A {
                name: "package_version",
                value: V::Pattern(P::PackageVersionType),
                required: false,
            },
            A {
                name: "launcher",
                value: V::Text,
                required: false,
            },
        ],
        children: &[],
    },
    E {
        name: "hkd_cert",
        text: None,
        attributes: &[A {
            name: "name",
            value: V::Text,
            required: true,
        }],
        children: &[],
    },
    E {
        name: "hkd_revocation_list",
        text: None,
        attributes: &[A {
            name: "name",
            value: V::Text,
            required: true,
        }],
        children: &[],
    },
    E {
        name: "ignore",
        text: None,
        attributes: &[
            A {
                name: "name",
                value: V::Text,
                required: true,
            },
            A {
                name: "arch",
                value: V::Pattern(P::ArchName),
                required: false,
            },
        ],
        children: &[],
    },
    E {
        name: "image",
        text: None,
        attributes: &[
            A {
                name: "name",
                value: V::Pattern(P::SafePosixName),
                required: true,
            },
            A {
                name: "displayname",
                value: V::Text,
                required: false,
            },
            A {
                name: "id",
                value: V::Text,
                required: false,
            },
            A {
                name: "schemaversion",
                value: V::Enum(&["8.5"]),
                required: true,
            },
            A {
                name: "xsi:noNamespaceSchemaLocation",
                value: V::Text,
                required: false,
            },
            A {
                name: "xsi:schemaLocation",
                value: V::Text,
                required: false,
            },
        ],
        children: &[
            ("include", C::Many),
            ("certificates", C::Optional),
            ("description", C::One),
            ("preferences", C::OneOrMore),
            ("profiles", C::Many),
            ("users", C::Many),
            ("drivers", C::Many),
            ("strip", C::Many),
            ("repository", C::Many),
            ("containers", C::Many),
            ("packages", C::Many),
            ("extension", C::Optional),
        ],
    },
    E {
        name: "include",
        text: None,
        attributes: &[A {
            name: "from",
            value: V::Text,
            required: true,
        }],
        children: &[],
    },
    E {
        name: "initrd",
        text: None,
        attributes: &[A {
            name: "action",
            value: V::Enum(&["omit", "add", "set", "setup"]),
            required: true,
        }],
        children: &[("dracut", C::Many)],
    },
    E {
        name: "installmedia",
        text: None,
        attributes: &[],
        children: &[("initrd", C::Many)],
    },
    E {
        name: "installoption",
        text: None,
        attributes: &[
            A {
                name: "name",
                value: V::Text,
                required: true,
            },
            A {
                name: "value",
                value: V::Text,
                required: false,
            },
        ],
        children: &[],
    },
    E {
        name: "keytable",
        text: Some(V::Text),
        attributes: &[],
        children: &[],
    },
    E {
        name: "label",
        text: None,
        attributes: &[
            A {
                name: "name",
                value: V::Text,
                required: true,
            },
            A {
                name: "value",
                value: V::Text,
                required: true,
            },
        ],
        children: &[],
    },
    E {
        name: "labels",
        text: None,
        attributes: &[],
        children: &[("label", C::OneOrMore)],
    },
    E {
        name: "license",
        text: Some(V::Text),
        attributes: &[],
        children: &[],
    },
    E {
        name: "locale",
        text: Some(V::Pattern(P::LocaleName)),
        attributes: &[],
        children: &[],
    },
    E {
        name: "luksformat",
        text: None,
        attributes: &[],
        children: &[("option", C::OneOrMore)],
    },
    E {
        name: "machine",
        text: None,
        attributes: &[
            A {
                name: "min_memory",
                value: V::Count,
                required: false,
            },
            A {
                name: "max_memory",
                value: V::Count,
                required: false,
            },
            A {
                name: "min_cpu",
                value: V::Count,
                required: false,
            },
            A {
                name: "max_cpu",
                value: V::Count,
                required: false,
            },
            A {
                name: "ovftype",
                value: V::Enum(&["vmware"]),
                required: false,
            },
            A {
                name: "HWversion",
                value: V::Int,
                required: false,
            },
            A {
                name: "arch",
                value: V::Enum(&["ix86", "x86_64"]),
                required: false,
            },
            A {
                name: "xen_loader",
                value: V::Enum(&["hvmloader", "pygrub", "pvgrub"]),
                required: false,
            },
            A {
                name: "guestOS",
                value: V::Text,
                required: false,
            },
            A {
                name: "memory",
                value: V::Count,
                required: false,
            },
            A {
                name: "ncpus",
                value: V::Count,
                required: false,
            },
        ],
        children: &[
            ("vmconfig-entry", C::Many),
            ("vmdisk", C::Optional),
            ("vmdvd", C::Optional),
            ("vmnic", C::Many),
        ],
    },
    E {
        name: "namedCollection",
        text: None,
        attributes: &[
            A {
                name: "name",
                value: V::Text,
                required: true,
            },
            A {
                name: "arch",
                value: V::Pattern(P::ArchName),
                required: false,
            },
        ],
        children: &[],
    },
    E {
        name: "oem-boot-title",
        text: Some(V::Text),
        attributes: &[],
        children: &[],
    },
    E {
        name: "oem-bootwait",
        text: Some(V::Bool),
        attributes: &[],
        children: &[],
    },
    E {
        name: "oem-device-filter",
        text: Some(V::Text),
        attributes: &[],
        children: &[],
    },
    E {
        name: "oem-inplace-recovery",
        text: Some(V::Bool),
        attributes: &[],
        children: &[],
    },
    E {
        name: "oem-kiwi-initrd",
        text: Some(V::Bool),
        attributes: &[],
        children: &[],
    },
    E {
        name: "oem-multipath-scan",
        text: Some(V::Bool),
        attributes: &[],
        children: &[],
    },
    E {
        name: "oem-nic-filter",
        text: Some(V::Text),
        attributes: &[],
        children: &[],
    },
    E {
        name: "oem-partition-install",
        text: Some(V::Bool),
        attributes: &[],
        children: &[],
    },
    E {
        name: "oem-ramdisk-size",
        text: Some(V::Text),
        attributes: &[],
        children: &[],
    },
    E {
        name: "oem-reboot",
        text: Some(V::Bool),
        attributes: &[],
        children: &[],
    },
    E {
        name: "oem-reboot-interactive",
        text: Some(V::Bool),
        attributes: &[],
        children: &[],
    },
    E {
        name: "oem-recovery",
        text: Some(V::Bool),
        attributes: &[],
        children: &[],
    },
    E {
        name: "oem-recovery-part-size",
        text: Some(V::Count),
        attributes: &[],
        children: &[],
    },
    E {
        name: "oem-recoveryID",
        text: Some(V::Count),
        attributes: &[],
        children: &[],
    },
    E {
        name: "oem-resize",
        text: Some(V::Bool),
        attributes: &[],
        children: &[],
    },
    E {
        name: "oem-resize-once",
        text: Some(V::Bool),
        attributes: &[],
        children: &[],
    },
    E {
        name: "oem-shutdown",
        text: Some(V::Bool),
        attributes: &[],
        children: &[],
    },
    E {
        name: "oem-shutdown-interactive",
        text: Some(V::Bool),
        attributes: &[],
        children: &[],
    },
    E {
        name: "oem-silent-boot",
        text: Some(V::Bool),
        attributes: &[],
        children: &[],
    },
    E {
        name: "oem-silent-install",
        text: Some(V::Bool),
        attributes: &[],
        children: &[],
    },
    E {
        name: "oem-silent-verify",
        text: Some(V::Bool),
        attributes: &[],
        children: &[],
    },
    E {
        name: "oem-skip-verify",
        text: Some(V::Bool),
        attributes: &[],
        children: &[],
    },
    E {
        name: "oem-swap",
        text: Some(V::Bool),
        attributes: &[],
        children: &[],
    },
    E {
        name: "oem-swapname",
        text: Some(V::Text),
        attributes: &[],
        children: &[],
    },
    E {
        name: "oem-swapsize",
        text: Some(V::Count),
        attributes: &[],
        children: &[],
    },
    E {
        name: "oem-systemsize",
        text: Some(V::Count),
        attributes: &[],
        children: &[],
    },
    E {
        name: "oem-unattended",
        text: Some(V::Bool),
        attributes: &[],
        children: &[],
    },
    E {
        name: "oem-unattended-id",
        text: Some(V::Text),
        attributes: &[],
        children: &[],
    },
    E {
        name: "oem-vmcp-parmfile",
        text: Some(V::Text),
        attributes: &[],
        children: &[],
    },
    E {
        name: "oemconfig",
        text: None,
        attributes: &[],
        children: &[
            ("oem-boot-title", C::Optional),
            ("oem-bootwait", C::Optional),
            ("oem-resize", C::Optional),
            ("oem-resize-once", C::Optional),
            ("oem-ramdisk-size", C::Optional),
            ("oem-device-filter", C::Optional),
            ("oem-nic-filter", C::Optional),
            ("oem-inplace-recovery", C::Optional),
            ("oem-kiwi-initrd", C::Optional),
            ("oem-multipath-scan", C::Optional),
            ("oem-vmcp-parmfile", C::Optional),
            ("oem-partition-install", C::Optional),
            ("oem-reboot", C::Optional),
            ("oem-reboot-interactive", C::Optional),
            ("oem-recovery", C::Optional),
            ("oem-recoveryID", C::Optional),
            ("oem-recovery-part-size", C::Optional),
            ("oem-shutdown", C::Optional),
            ("oem-shutdown-interactive", C::Optional),
            ("oem-silent-boot", C::Optional),
            ("oem-silent-install", C::Optional),
            ("oem-silent-verify", C::Optional),
            ("oem-skip-verify", C::Optional),
            ("oem-swap", C::Optional),
            ("oem-swapsize", C::Optional),
            ("oem-swapname", C::Optional),
            ("oem-systemsize", C::Optional),
            ("oem-unattended", C::Optional),
            ("oem-unattended-id", C::Optional),
        ],
    },
    E {
        name: "option",
        text: None,
        attributes: &[
            A {
                name: "name",
                value: V::Text,
                required: true,
            },
            A {
                name: "value",
                value: V::Text,
                required: false,
            },
        ],
        children: &[],
    },
    E {
        name: "package",
        text: None,
        attributes: &[
            A {
                name: "name",
                value: V::Text,
                required: true,
            },
            A {
                name: "arch",
                value: V::Pattern(P::ArchName),
                required: false,
            },
            A {
                name: "bootdelete",
                value: V::Bool,
                required: false,
            },
            A {
                name: "bootinclude",
                value: V::Bool,
                required: false,
            },
        ],
        children: &[],
    },
    E {
        name: "packagemanager",
        text: Some(V::Enum(&[
            "apk", "apt", "zypper", "dnf4", "dnf5", "microdnf", "pacman",
        ])),
        attributes: &[],
        children: &[],
    },
    E {
        name: "packages",
        text: None,
        attributes: &[
            A {
                name: "type",
                value: V::Enum(&[
                    "bootstrap",
                    "delete",
                    "docker",
                    "image",
                    "iso",
                    "oem",
                    "pxe",
                    "kis",
                    "oci",
                    "uninstall",
                    "systemfiles",
                ]),
                required: true,
            },
            A {
                name: "profiles",
                value: V::Text,
                required: false,
            },
            A {
                name: "patternType",
                value: V::Enum(&["onlyRequired", "plusRecommended"]),
                required: false,
            },
            A {
                name: "bootstrap_package",
                value: V::Text,
                required: false,
            },
        ],
        children: &[
            ("archive", C::Many),
            ("file", C::Many),
            ("ignore", C::Many),
            ("namedCollection", C::Many),
            ("collectionModule", C::Many),
            ("product", C::Many),
            ("package", C::Many),
        ],
    },
    E {
        name: "partition",
        text: None,
        attributes: &[
            A {
                name: "part_id",
                value: V::Pattern(P::NumberType),
                required: false,
            },
            A {
                name: "name",
                value: V::Text,
                required: true,
            },
            A {
                name: "size",
                value: V::Pattern(P::PartitionSizeType),
                required: true,
            },
            A {
                name: "partition_name",
                value: V::Pattern(P::SafePosixShortName),
                required: false,
            },
            A {
                name: "partition_type",
                value: V::Enum(&["t.linux", "t.raid"]),
                required: false,
            },
            A {
                name: "mountpoint",
                value: V::Text,
                required: false,
            },
            A {
                name: "filesystem",
                value: V::Enum(&[
                    "btrfs", "ext2", "ext3", "ext4", "squashfs", "xfs", "fat32", "fat16",
                ]),
                required: false,
            },
            A {
                name: "label",
                value: V::Text,
                required: false,
            },
            A {
                name: "clone",
                value: V::Pattern(P::NumberType),
                required: false,
            },
        ],
        children: &[],
    },
    E {
        name: "partitions",
        text: None,
        attributes: &[],
        children: &[("partition", C::OneOrMore)],
    },
    E {
        name: "port",
        text: None,
        attributes: &[A {
            name: "number",
            value: V::Pattern(P::PortnumType),
            required: true,
        }],
        children: &[],
    },
    E {
        name: "preferences",
        text: None,
        attributes: &[
            A {
                name: "profiles",
                value: V::Text,
                required: false,
            },
            A {
                name: "arch",
                value: V::Pattern(P::ArchName),
                required: false,
            },
        ],
        children: &[
            ("bootsplash-theme", C::Optional),
            ("bootloader-theme", C::Optional),
            ("keytable", C::Optional),
            ("locale", C::Optional),
            ("packagemanager", C::Optional),
            ("release-version", C::Optional),
            ("rpm-locale-filtering", C::Optional),
            ("rpm-check-signatures", C::Optional),
            ("rpm-excludedocs", C::Optional),
            ("showlicense", C::Many),
            ("timezone", C::Optional),
            ("type", C::Many),
            ("version", C::Optional),
        ],
    },
    E {
        name: "product",
        text: None,
        attributes: &[
            A {
                name: "name",
                value: V::Text,
                required: true,
            },
            A {
                name: "arch",
                value: V::Pattern(P::ArchName),
                required: false,
            },
        ],
        children: &[],
    },
    E {
        name: "profile",
        text: None,
        attributes: &[
            A {
                name: "name",
                value: V::Text,
                required: true,
            },
            A {
                name: "description",
                value: V::Text,
                required: true,
            },
            A {
                name: "import",
                value: V::Bool,
                required: false,
            },
            A {
                name: "arch",
                value: V::Pattern(P::ArchName),
                required: false,
            },
        ],
        children: &[("requires", C::Many)],
    },
    E {
        name: "profiles",
        text: None,
        attributes: &[],
        children: &[("profile", C::OneOrMore)],
    },
    E {
        name: "release-version",
        text: Some(V::Text),
        attributes: &[],
        children: &[],
    },
    E {
        name: "repository",
        text: None,
        attributes: &[
            A {
                name: "type",
                value: V::Enum(&["apk", "apt-deb", "apt-rpm", "deb-dir", "mirrors", "rpm-md"]),
                required: false,
            },
            A {
                name: "profiles",
                value: V::Text,
                required: false,
            },
            A {
                name: "arch",
                value: V::Pattern(P::ArchName),
                required: false,
            },
            A {
                name: "alias",
                value: V::Pattern(P::SafePosixName),
                required: false,
            },
            A {
                name: "sourcetype",
                value: V::Enum(&["baseurl", "metalink", "mirrorlist"]),
                required: false,
            },
            A {
                name: "components",
                value: V::Text,
                required: false,
            },
            A {
                name: "distribution",
                value: V::Text,
                required: false,
            },
            A {
                name: "imageinclude",
                value: V::Bool,
                required: false,
            },
            A {
                name: "imageonly",
                value: V::Bool,
                required: false,
            },
            A {
                name: "repository_gpgcheck",
                value: V::Bool,
                required: false,
            },
            A {
                name: "customize",
                value: V::Text,
                required: false,
            },
            A {
                name: "package_gpgcheck",
                value: V::Bool,
                required: false,
            },
            A {
                name: "priority",
                value: V::Int,
                required: false,
            },
            A {
                name: "password",
                value: V::Text,
                required: false,
            },
            A {
                name: "username",
                value: V::Text,
                required: false,
            },
            A {
                name: "architectures",
                value: V::Pattern(P::ArchName),
                required: false,
            },
        ],
        children: &[("source", C::One)],
    },
    E {
        name: "requires",
        text: None,
        attributes: &[
            A {
                name: "profile",
                value: V::Text,
                required: true,
            },
            A {
                name: "arch",
                value: V::Pattern(P::ArchName),
                required: false,
            },
        ],
        children: &[],
    },
    E {
        name: "rpm-check-signatures",
        text: Some(V::Bool),
        attributes: &[],
        children: &[],
    },
    E {
        name: "rpm-excludedocs",
        text: Some(V::Bool),
        attributes: &[],
        children: &[],
    },
    E {
        name: "rpm-locale-filtering",
        text: Some(V::Bool),
        attributes: &[],
        children: &[],
    },
    E {
        name: "securelinux",
        text: None,
        attributes: &[
            A {
                name: "hkd_ca_cert",
                value: V::Text,
                required: true,
            },
            A {
                name: "hkd_sign_cert",
                value: V::Text,
                required: true,
            },
        ],
        children: &[("hkd_cert", C::OneOrMore), ("hkd_revocation_list", C::Many)],
    },
    E {
        name: "shimoption",
        text: None,
        attributes: &[
            A {
                name: "name",
                value: V::Text,
                required: true,
            },
            A {
                name: "value",
                value: V::Text,
                required: false,
            },
        ],
        children: &[],
    },
    E {
        name: "showlicense",
        text: Some(V::Text),
        attributes: &[],
        children: &[],
    },
    E {
        name: "signing",
        text: None,
        attributes: &[A {
            name: "key",
            value: V::Pattern(P::SimpleUriType),
            required: true,
        }],
        children: &[],
    },
    E {
        name: "size",
        text: Some(V::Count),
        attributes: &[
            A {
                name: "unit",
                value: V::Enum(&["M", "G"]),
                required: false,
            },
            A {
                name: "unpartitioned",
                value: V::Count,
                required: false,
            },
            A {
                name: "additive",
                value: V::Bool,
                required: false,
            },
        ],
        children: &[],
    },
    E {
        name: "source",
        text: None,
        attributes: &[A {
            name: "path",
            value: V::Text,
            required: true,
        }],
        children: &[("signing", C::Many)],
    },
    E {
        name: "specification",
        text: Some(V::Text),
        attributes: &[],
        children: &[],
    },
    E {
        name: "stopsignal",
        text: Some(V::Text),
        attributes: &[],
        children: &[],
    },
    E {
        name: "strip",
        text: None,
        attributes: &[
            A {
                name: "type",
                value: V::Enum(&["delete", "tools", "libs"]),
                required: true,
            },
            A {
                name: "profiles",
                value: V::Text,
                required: false,
            },
        ],
        children: &[("file", C::OneOrMore)],
    },
    E {
        name: "subcommand",
        text: None,
        attributes: &[
            A {
                name: "execute",
                value: V::Text,
                required: false,
            },
            A {
                name: "clear",
                value: V::Bool,
                required: false,
            },
        ],
        children: &[("argument", C::Many)],
    },
    E {
        name: "systemdisk",
        text: None,
        attributes: &[
            A {
                name: "name",
                value: V::Text,
                required: false,
            },
            A {
                name: "preferlvm",
                value: V::Bool,
                required: false,
            },
        ],
        children: &[("volume", C::Many)],
    },
    E {
        name: "timezone",
        text: Some(V::Text),
        attributes: &[],
        children: &[],
    },
    E {
        name: "type",
        text: None,
        attributes: &[
            A {
                name: "archive",
                value: V::Bool,
                required: false,
            },
            A {
                name: "eficsmpart_id",
                value: V::Pattern(P::NumberType),
                required: false,
            },
            A {
                name: "efipart_id",
                value: V::Pattern(P::NumberType),
                required: false,
            },
            A {
                name: "rootpart_id",
                value: V::Pattern(P::NumberType),
                required: false,
            },
            A {
                name: "bootpart_id",
                value: V::Pattern(P::NumberType),
                required: false,
            },
            A {
                name: "boot",
                value: V::Text,
                required: false,
            },
            A {
                name: "bootfilesystem",
                value: V::Enum(&["btrfs", "ext2", "ext3", "ext4", "xfs", "fat32", "fat16"]),
                required: false,
            },
            A {
                name: "firmware",
                value: V::Enum(&["bios", "ec2", "efi", "uefi", "ofw", "opal", "custom"]),
                required: false,
            },
            A {
                name: "bootkernel",
                value: V::Text,
                required: false,
            },
            A {
                name: "bootpartition",
                value: V::Bool,
                required: false,
            },
            A {
                name: "bootpartsize",
                value: V::Count,
                required: false,
            },
            A {
                name: "efipartsize",
                value: V::Count,
                required: false,
            },
            A {
                name: "efifatimagesize",
                value: V::Count,
                required: false,
            },
            A {
                name: "eficsm",
                value: V::Bool,
                required: false,
            },
            A {
                name: "efiparttable",
                value: V::Enum(&["msdos", "gpt"]),
                required: false,
            },
            A {
                name: "dosparttable_extended_layout",
                value: V::Bool,
                required: false,
            },
            A {
                name: "bootprofile",
                value: V::Text,
                required: false,
            },
            A {
                name: "btrfs_quota_groups",
                value: V::Bool,
                required: false,
            },
            A {
                name: "btrfs_root_is_snapper_snapshot",
                value: V::Bool,
                required: false,
            },
            A {
                name: "btrfs_root_is_subvolume",
                value: V::Bool,
                required: false,
            },
            A {
                name: "btrfs_set_default_volume",
                value: V::Bool,
                required: false,
            },
            A {
                name: "btrfs_root_is_readonly_snapshot",
                value: V::Bool,
                required: false,
            },
            A {
                name: "compressed",
                value: V::Bool,
                required: false,
            },
            A {
                name: "devicepersistency",
                value: V::Enum(&["by-uuid", "by-label", "by-partuuid"]),
                required: false,
            },
            A {
                name: "editbootconfig",
                value: V::Text,
                required: false,
            },
            A {
                name: "editbootinstall",
                value: V::Text,
                required: false,
            },
            A {
                name: "filesystem",
                value: V::Enum(&["btrfs", "ext2", "ext3", "ext4", "squashfs", "erofs", "xfs"]),
                required: false,
            },
            A {
                name: "flags",
                value: V::Enum(&["overlay", "dmsquash"]),
                required: false,
            },
            A {
                name: "enclave_format",
                value: V::Enum(&["aws-nitro"]),
                required: false,
            },
            A {
                name: "format",
                value: V::EnumOr(
                    &[
                        "gce",
                        "ova",
                        "qcow2",
                        "vagrant",
                        "vmdk",
                        "vdi",
                        "vhd",
                        "vhdx",
                        "vhd-fixed",
                    ],
                    P::OciFormatType,
                ),
                required: false,
            },
            A {
                name: "formatoptions",
                value: V::Text,
                required: false,
            },
            A {
                name: "fsmountoptions",
                value: V::Text,
                required: false,
            },
            A {
                name: "fscreateoptions",
                value: V::Text,
                required: false,
            },
            A {
                name: "squashfscompression",
                value: V::Enum(&["uncompressed", "gzip", "lzo", "lz4", "xz", "zstd"]),
                required: false,
            },
            A {
                name: "erofscompression",
                value: V::Text,
                required: false,
            },
            A {
                name: "gcelicense",
                value: V::Text,
                required: false,
            },
            A {
                name: "hybridpersistent",
                value: V::Bool,
                required: false,
            },
            A {
                name: "hybridpersistent_filesystem",
                value: V::Enum(&["ext4", "xfs"]),
                required: false,
            },
            A {
                name: "gpt_hybrid_mbr",
                value: V::Bool,
                required: false,
            },
            A {
                name: "force_mbr",
                value: V::Bool,
                required: false,
            },
            A {
                name: "initrd_system",
                value: V::Enum(&["kiwi", "dracut", "none"]),
                required: false,
            },
            A {
                name: "image",
                // KIWI's types, or any type an image-type plugin serves.
                value: V::EnumOr(
                    &[
                        "btrfs", "cpio", "docker", "ext2", "ext3", "ext4", "iso", "oem", "pxe",
                        "kis", "squashfs", "erofs", "tbz", "xfs", "oci", "appx", "enclave", "wsl",
                    ],
                    P::PluginTypeName,
                ),
                required: true,
            },
            A {
                name: "metadata_path",
                value: V::Text,
                required: false,
            },
            A {
                name: "installboot",
                value: V::Enum(&["failsafe-install", "harddisk", "install"]),
                required: false,
            },
            A {
                name: "install_continue_on_timeout",
                value: V::Bool,
                required: false,
            },
            A {
                name: "installprovidefailsafe",
                value: V::Bool,
                required: false,
            },
            A {
                name: "installiso",
                value: V::Bool,
                required: false,
            },
            A {
                name: "installstick",
                value: V::Bool,
                required: false,
            },
            A {
                name: "installpxe",
                value: V::Bool,
                required: false,
            },
            A {
                name: "mediacheck",
                value: V::Bool,
                required: false,
            },
            A {
                name: "kernelcmdline",
                value: V::Text,
                required: false,
            },
            A {
                name: "luks",
                value: V::Text,
                required: false,
            },
            A {
                name: "luks_version",
                value: V::Enum(&["luks", "luks1", "luks2"]),
                required: false,
            },
            A {
                name: "luksOS",
                value: V::Enum(&["sle12"]),
                required: false,
            },
            A {
                name: "luks_randomize",
                value: V::Bool,
                required: false,
            },
            A {
                name: "luks_pbkdf",
                value: V::Enum(&["pbkdf2", "argon2i", "argon2id"]),
                required: false,
            },
            A {
                name: "mdraid",
                value: V::Enum(&["mirroring", "striping"]),
                required: false,
            },
            A {
                name: "overlayroot",
                value: V::Bool,
                required: false,
            },
            A {
                name: "overlayroot_write_partition",
                value: V::Bool,
                required: false,
            },
            A {
                name: "overlayroot_readonly_filesystem",
                value: V::Enum(&["squashfs", "erofs"]),
                required: false,
            },
            A {
                name: "overlayroot_readonly_partsize",
                value: V::Count,
                required: false,
            },
            A {
                name: "verity_blocks",
                value: V::Pattern(P::BlocksType),
                required: false,
            },
            A {
                name: "embed_verity_metadata",
                value: V::Bool,
                required: false,
            },
            A {
                name: "standalone_integrity",
                value: V::Bool,
                required: false,
            },
            A {
                name: "embed_integrity_metadata",
                value: V::Bool,
                required: false,
            },
            A {
                name: "integrity_legacy_hmac",
                value: V::Bool,
                required: false,
            },
            A {
                name: "integrity_metadata_key_description",
                value: V::Text,
                required: false,
            },
            A {
                name: "integrity_keyfile",
                value: V::Text,
                required: false,
            },
            A {
                name: "primary",
                value: V::Bool,
                required: false,
            },
            A {
                name: "ramonly",
                value: V::Bool,
                required: false,
            },
            A {
                name: "rootfs_label",
                value: V::Text,
                required: false,
            },
            A {
                name: "spare_part",
                value: V::Pattern(P::PartitionSizeType),
                required: false,
            },
            A {
                name: "spare_part_mountpoint",
                value: V::Text,
                required: false,
            },
            A {
                name: "spare_part_fs",
                value: V::Enum(&["btrfs", "ext2", "ext3", "ext4", "xfs"]),
                required: false,
            },
            A {
                name: "spare_part_fs_attributes",
                value: V::Pattern(P::FsAttributes),
                required: false,
            },
            A {
                name: "spare_part_is_last",
                value: V::Bool,
                required: false,
            },
            A {
                name: "target_blocksize",
                value: V::Count,
                required: false,
            },
            A {
                name: "target_removable",
                value: V::Bool,
                required: false,
            },
            A {
                name: "selinux_policy",
                value: V::Enum(&["targeted", "mls", "minimum"]),
                required: false,
            },
            A {
                name: "vhdfixedtag",
                value: V::Pattern(P::VhdTagType),
                required: false,
            },
            A {
                name: "volid",
                value: V::Pattern(P::SafePosixShortName),
                required: false,
            },
            A {
                name: "application_id",
                value: V::Pattern(P::Ecma119Achar128Text),
                required: false,
            },
            A {
                name: "wwid_wait_timeout",
                value: V::Count,
                required: false,
            },
            A {
                name: "derived_from",
                value: V::Text,
                required: false,
            },
            A {
                name: "delta_root",
                value: V::Bool,
                required: false,
            },
            A {
                name: "provide_system_files",
                value: V::Bool,
                required: false,
            },
            A {
                name: "require_system_files",
                value: V::Bool,
                required: false,
            },
            A {
                name: "ensure_empty_tmpdirs",
                value: V::Bool,
                required: false,
            },
            A {
                name: "xen_server",
                value: V::Bool,
                required: false,
            },
            A {
                name: "publisher",
                value: V::Pattern(P::Ecma119Achar128Text),
                required: false,
            },
            A {
                name: "disk_start_sector",
                value: V::Int,
                required: false,
            },
            A {
                name: "root_clone",
                value: V::Pattern(P::NumberType),
                required: false,
            },
            A {
                name: "boot_clone",
                value: V::Pattern(P::NumberType),
                required: false,
            },
            A {
                name: "bundle_format",
                value: V::Text,
                required: false,
            },
        ],
        children: &[
            ("bootloader", C::Optional),
            ("containerconfig", C::Optional),
            ("machine", C::Optional),
            ("oemconfig", C::Optional),
            ("size", C::Optional),
            ("systemdisk", C::Optional),
            ("partitions", C::Optional),
            ("vagrantconfig", C::Many),
            ("installmedia", C::Optional),
            ("initrd", C::Many),
            ("luksformat", C::Optional),
        ],
    },
    E {
        name: "user",
        text: None,
        attributes: &[
            A {
                name: "groups",
                value: V::Pattern(P::GroupsList),
                required: false,
            },
            A {
                name: "home",
                value: V::Text,
                required: false,
            },
            A {
                name: "id",
                value: V::Count,
                required: false,
            },
            A {
                name: "name",
                value: V::Text,
                required: true,
            },
            A {
                name: "password",
                value: V::Text,
                required: true,
            },
            A {
                name: "pwdformat",
                value: V::Enum(&["encrypted", "plain"]),
                required: false,
            },
            A {
                name: "realname",
                value: V::Text,
                required: false,
            },
            A {
                name: "shell",
                value: V::Text,
                required: false,
            },
        ],
        children: &[],
    },
    E {
        name: "users",
        text: None,
        attributes: &[
            A {
                name: "arch",
                value: V::Pattern(P::ArchName),
                required: false,
            },
            A {
                name: "profiles",
                value: V::Text,
                required: false,
            },
        ],
        children: &[("user", C::OneOrMore)],
    },
    E {
        name: "vagrantconfig",
        text: None,
        attributes: &[
            A {
                name: "provider",
                value: V::Enum(&["libvirt", "virtualbox"]),
                required: true,
            },
            A {
                name: "virtualsize",
                value: V::Count,
                required: true,
            },
            A {
                name: "boxname",
                value: V::Text,
                required: false,
            },
            A {
                name: "virtualbox_guest_additions_present",
                value: V::Bool,
                required: false,
            },
            A {
                name: "embedded_vagrantfile",
                value: V::Text,
                required: false,
            },
        ],
        children: &[],
    },
    E {
        name: "version",
        text: Some(V::Text),
        attributes: &[],
        children: &[],
    },
    E {
        name: "vmconfig-entry",
        text: Some(V::Text),
        attributes: &[],
        children: &[],
    },
    E {
        name: "vmdisk",
        text: None,
        attributes: &[
            A {
                name: "disktype",
                value: V::Text,
                required: false,
            },
            A {
                name: "controller",
                value: V::Enum(&[
                    "ide",
                    "buslogic",
                    "lsilogic",
                    "lsisas1068",
                    "legacyESX",
                    "pvscsi",
                ]),
                required: false,
            },
            A {
                name: "id",
                value: V::Count,
                required: false,
            },
            A {
                name: "device",
                value: V::Text,
                required: false,
            },
            A {
                name: "diskmode",
                value: V::Enum(&[
                    "monolithicSparse",
                    "monolithicFlat",
                    "twoGbMaxExtentSparse",
                    "twoGbMaxExtentFlat",
                    "streamOptimized",
                ]),
                required: false,
            },
        ],
        children: &[],
    },
    E {
        name: "vmdvd",
        text: None,
        attributes: &[
            A {
                name: "controller",
                value: V::Enum(&["ide", "scsi"]),
                required: true,
            },
            A {
                name: "id",
                value: V::Count,
                required: true,
            },
        ],
        children: &[],
    },
    E {
        name: "vmnic",
        text: None,
        attributes: &[
            A {
                name: "driver",
                value: V::Text,
                required: false,
            },
            A {
                name: "interface",
                value: V::Text,
                required: true,
            },
            A {
                name: "mode",
                value: V::Text,
                required: false,
            },
            A {
                name: "mac",
                value: V::Pattern(P::MacAddressType),
                required: false,
            },
        ],
        children: &[],
    },
    E {
        name: "volume",
        text: None,
        attributes: &[
            A {
                name: "copy_on_write",
                value: V::Bool,
                required: false,
            },
            A {
                name: "quota",
                value: V::Pattern(P::PartitionSizeType),
                required: false,
            },
            A {
                name: "filesystem_check",
                value: V::Bool,
                required: false,
            },
            A {
                name: "freespace",
                value: V::Pattern(P::VolumeSizeType),
                required: false,
            },
            A {
                name: "mountpoint",
                value: V::Text,
                required: false,
            },
            A {
                name: "label",
                value: V::Text,
                required: false,
            },
            A {
                name: "name",
                value: V::Text,
                required: true,
            },
            A {
                name: "parent",
                value: V::Text,
                required: false,
            },
            A {
                name: "size",
                value: V::Pattern(P::VolumeSizeType),
                required: false,
            },
            A {
                name: "arch",
                value: V::Pattern(P::ArchName),
                required: false,
            },
        ],
        children: &[],
    },
    E {
        name: "volumes",
        text: None,
        attributes: &[],
        children: &[("volume", C::OneOrMore)],
    },
];
