//! Allowlists for the free-form values plugins and descriptions hand to host
//! programs: mkfs create options, labels, UUIDs, compressions, GPT partition
//! names, ISO volume ids and paths, GRUB modules, and the package, unit, user
//! and group names the root's own tools get.
//!
//! Create options are parsed option by option against a table per tool:
//! an option the table does not name is refused (an allowlist, not a
//! denylist), and every value is checked for its form (numbers are
//! numbers, names come from lists). Nothing that names a host path, a
//! program, a pseudo-file or a protofile gets through, nor any positional
//! argument (a device, a size, a source directory). What comes out is a new
//! argument list built from the parsed options: each option in its own
//! spelling, its value apart from it, never the caller's text as given.
//!
//! This module uses nothing but `std`: the fuzz crate compiles it on its own.

use std::fmt;

/// Why a value was refused: what it was and why, in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// What was refused, as the message shows it (``mke2fs option `-d` ``).
    pub what: String,
    /// Why.
    pub reason: String,
}

impl Refused {
    fn new(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Refused {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is refused: {}", self.what, self.reason)
    }
}

impl std::error::Error for Refused {}

/// `value` for a message: control characters escaped, cut to 60 characters.
pub fn shown(value: &str) -> String {
    const MAX: usize = 60;
    let mut out = String::new();
    for (n, c) in value.chars().enumerate() {
        if n == MAX {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

// ---- create options --------------------------------------------------------

/// A program that makes a filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mkfs {
    /// `mke2fs` (ext2, ext3, ext4).
    Ext,
    /// `mkfs.xfs`.
    Xfs,
    /// `mkfs.btrfs`.
    Btrfs,
    /// `mksquashfs`.
    Squashfs,
    /// `mkfs.erofs`.
    Erofs,
    /// `mkfs.vfat`.
    Vfat,
}

impl Mkfs {
    /// Every tool, for tests and the fuzz target.
    pub const ALL: [Mkfs; 6] = [
        Mkfs::Ext,
        Mkfs::Xfs,
        Mkfs::Btrfs,
        Mkfs::Squashfs,
        Mkfs::Erofs,
        Mkfs::Vfat,
    ];

    /// The program's name.
    pub fn program(self) -> &'static str {
        match self {
            Mkfs::Ext => "mke2fs",
            Mkfs::Xfs => "mkfs.xfs",
            Mkfs::Btrfs => "mkfs.btrfs",
            Mkfs::Squashfs => "mksquashfs",
            Mkfs::Erofs => "mkfs.erofs",
            Mkfs::Vfat => "mkfs.vfat",
        }
    }

    fn spec(self) -> &'static Spec {
        match self {
            Mkfs::Ext => &MKE2FS,
            Mkfs::Xfs => &MKFS_XFS,
            Mkfs::Btrfs => &MKFS_BTRFS,
            Mkfs::Squashfs => &MKSQUASHFS,
            Mkfs::Erofs => &MKFS_EROFS,
            Mkfs::Vfat => &MKFS_VFAT,
        }
    }

    /// The options of this tool that read or write host files, run
    /// programs or take pseudo-file or protofile definitions: never in an
    /// accepted list (the fuzz target checks it).
    pub fn file_taking(self) -> &'static [&'static str] {
        self.spec().file_taking
    }
}

/// Validated create options, ready to be passed on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateArgs {
    /// The arguments, options and their values each their own.
    pub args: Vec<String>,
    /// mke2fs only: the `-E` extended options, for the caller to join with
    /// its own into the one `-E` mke2fs keeps.
    pub extended: Vec<String>,
}

/// Parses and checks the create options `options` for `tool`: the
/// arguments to pass, or the first option refused and why.
pub fn create_options(tool: Mkfs, options: &[String]) -> Result<CreateArgs, Refused> {
    let spec = tool.spec();
    let program = tool.program();
    let option = |text: &str| format!("{program} option `{}`", shown(text));
    let mut out = CreateArgs::default();
    let mut rest = options.iter();
    while let Some(token) = rest.next() {
        if token.chars().any(char::is_control) {
            return Err(Refused::new(
                option(token),
                "it holds a control character (a NUL byte, a line break or the like)",
            ));
        }
        if token == "--" {
            return Err(Refused::new(
                option(token),
                "it ends the options, and what follows would name devices or files",
            ));
        }
        if !token.starts_with('-') || token == "-" {
            return Err(Refused::new(
                format!("{program} argument `{}`", shown(token)),
                "only options are passed on; an argument of its own would name a device, \
                 a file or a size, which the host gives itself",
            ));
        }
        // The option's name, and its value when glued to it.
        let (name, glued): (&str, Option<&str>) = if spec.getopt {
            if let Some(long) = token.strip_prefix("--") {
                match long.split_once('=') {
                    Some((n, v)) => (&token[..2 + n.len()], Some(v)),
                    None => (token.as_str(), None),
                }
            } else {
                // `-b4096`: getopt takes what follows the letter as the value.
                let split = token.char_indices().nth(2).map_or(token.len(), |(i, _)| i);
                let (n, v) = token.split_at(split);
                (n, (!v.is_empty()).then_some(v))
            }
        } else {
            (token.as_str(), None)
        };
        let Some(opt) = spec.allowed.iter().find(|o| o.names.contains(&name)) else {
            let reason = spec
                .refused
                .iter()
                .find(|(names, _)| names.split(' ').any(|n| n == name))
                .map_or("not an option the host passes on", |(_, reason)| *reason);
            return Err(Refused::new(option(token), reason));
        };
        let canonical = opt.names[0];
        let Some(check) = &opt.value else {
            if glued.is_some() {
                let reason = if name.starts_with("--") {
                    "it takes no value"
                } else {
                    "not an option the host passes on (give each option on its own, \
                     not several letters together)"
                };
                return Err(Refused::new(option(token), reason));
            }
            out.args.push(canonical.to_string());
            continue;
        };
        let value = match glued {
            Some(value) => value,
            None => match rest.next() {
                Some(value) => value.as_str(),
                None => return Err(Refused::new(option(token), "it needs a value")),
            },
        };
        if value.chars().any(char::is_control) {
            return Err(Refused::new(
                option(&format!("{name} {value}")),
                "its value holds a control character",
            ));
        }
        if let Err(reason) = check.check(value) {
            return Err(Refused::new(option(&format!("{name} {value}")), reason));
        }
        if tool == Mkfs::Ext && canonical == "-E" {
            out.extended.extend(value.split(',').map(str::to_string));
        } else if canonical.starts_with("--") {
            out.args.push(format!("{canonical}={value}"));
        } else {
            out.args.push(canonical.to_string());
            out.args.push(value.to_string());
        }
    }
    Ok(out)
}

/// One tool's options.
struct Spec {
    /// Parsed by getopt (glued short values, `--long=value`); else every
    /// option is matched whole and its value is the next argument.
    getopt: bool,
    allowed: &'static [Opt],
    /// Options refused with a reason of their own (space-separated
    /// spellings, reason); anything else unknown is refused as such.
    refused: &'static [(&'static str, &'static str)],
    /// The refused options that take host files, programs or definitions.
    file_taking: &'static [&'static str],
}

/// An allowed option: its spellings (the first is passed on) and what its
/// value must be (none: a flag).
struct Opt {
    names: &'static [&'static str],
    value: Option<Check>,
}

const fn flag(names: &'static [&'static str]) -> Opt {
    Opt { names, value: None }
}

const fn with(names: &'static [&'static str], check: Check) -> Opt {
    Opt {
        names,
        value: Some(check),
    }
}

/// The form a value must have.
enum Check {
    /// Decimal digits.
    Digits,
    /// Digits, optionally negative.
    Signed,
    /// Digits with an optional fraction (`0.5`).
    Decimal,
    /// Digits with an optional one-letter unit from the list.
    Size(&'static str),
    /// Decimal or `0x` hexadecimal.
    DecOrHex,
    /// Octal digits.
    Octal,
    /// One word of the list (ASCII case ignored when `.1`).
    OneOf(&'static [&'static str], bool),
    /// A comma-separated list of words of the list, each optionally
    /// prefixed with `^` when `.1`.
    ListOf(&'static [&'static str], bool),
    /// A comma-separated list of `[a-z0-9_]` words.
    Words,
    /// `key[=value],...` sub-options.
    Sub(&'static [Key], &'static [(&'static str, &'static str)]),
    /// A check of its own.
    Custom(fn(&str) -> Result<(), String>),
}

/// A sub-option key and the value it takes.
struct Key {
    name: &'static str,
    value: KeyValue,
}

enum KeyValue {
    /// No value.
    None,
    /// Optionally `=0` or `=1`.
    OptionalBool,
    /// A value of this form.
    Some(Check),
}

const fn key(name: &'static str, value: KeyValue) -> Key {
    Key { name, value }
}

fn digits(value: &str) -> bool {
    !value.is_empty() && value.len() <= 20 && value.bytes().all(|b| b.is_ascii_digit())
}

impl Check {
    fn check(&self, value: &str) -> Result<(), String> {
        let v = shown(value);
        match self {
            Check::Digits => digits(value)
                .then_some(())
                .ok_or_else(|| format!("`{v}` is not a number")),
            Check::Signed => digits(value.strip_prefix('-').unwrap_or(value))
                .then_some(())
                .ok_or_else(|| format!("`{v}` is not a number")),
            Check::Decimal => {
                let ok = match value.split_once('.') {
                    Some((whole, fraction)) => digits(whole) && digits(fraction),
                    None => digits(value),
                };
                ok.then_some(())
                    .ok_or_else(|| format!("`{v}` is not a number"))
            }
            Check::Size(units) => {
                let number = value
                    .strip_suffix(|c: char| units.contains(c))
                    .unwrap_or(value);
                digits(number).then_some(()).ok_or_else(|| {
                    if units.is_empty() {
                        format!("`{v}` is not a number")
                    } else {
                        format!(
                            "`{v}` is not a size (a number, optionally followed by one of {units})"
                        )
                    }
                })
            }
            Check::DecOrHex => {
                let ok = match value
                    .strip_prefix("0x")
                    .or_else(|| value.strip_prefix("0X"))
                {
                    Some(hex) => {
                        !hex.is_empty()
                            && hex.len() <= 16
                            && hex.bytes().all(|b| b.is_ascii_hexdigit())
                    }
                    None => digits(value),
                };
                ok.then_some(())
                    .ok_or_else(|| format!("`{v}` is not a number"))
            }
            Check::Octal => (!value.is_empty()
                && value.len() <= 6
                && value.bytes().all(|b| (b'0'..=b'7').contains(&b)))
            .then_some(())
            .ok_or_else(|| format!("`{v}` is not an octal mode")),
            Check::OneOf(words, any_case) => {
                let found = words.iter().any(|w| {
                    if *any_case {
                        w.eq_ignore_ascii_case(value)
                    } else {
                        *w == value
                    }
                });
                found
                    .then_some(())
                    .ok_or_else(|| format!("`{v}` is not one of {}", words.join(", ")))
            }
            Check::ListOf(words, caret) => {
                for item in value.split(',') {
                    let word = if *caret {
                        item.strip_prefix('^').unwrap_or(item)
                    } else {
                        item
                    };
                    if !words.contains(&word) {
                        return Err(format!(
                            "`{}` is not one of {}",
                            shown(item),
                            words.join(", ")
                        ));
                    }
                }
                Ok(())
            }
            Check::Words => {
                let ok = value.split(',').all(|w| {
                    !w.is_empty()
                        && w.len() <= 64
                        && w.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                });
                ok.then_some(()).ok_or_else(|| {
                    format!("`{v}` is not a list of names (a-z, 0-9 and _, comma-separated)")
                })
            }
            Check::Sub(keys, refused) => {
                for item in value.split(',') {
                    let (name, val) = match item.split_once('=') {
                        Some((n, val)) => (n, Some(val)),
                        None => (item, None),
                    };
                    if let Some((_, reason)) = refused.iter().find(|(n, _)| *n == name) {
                        return Err(format!("`{}`: {reason}", shown(name)));
                    }
                    let Some(k) = keys.iter().find(|k| k.name == name) else {
                        let known: Vec<&str> = keys.iter().map(|k| k.name).collect();
                        return Err(format!(
                            "`{}` is not a setting the host passes on (known: {})",
                            shown(name),
                            known.join(", ")
                        ));
                    };
                    match (&k.value, val) {
                        (KeyValue::None, None) | (KeyValue::OptionalBool, None) => {}
                        (KeyValue::None, Some(_)) => {
                            return Err(format!("`{}` takes no value", shown(name)))
                        }
                        (KeyValue::OptionalBool, Some(b)) => {
                            if b != "0" && b != "1" {
                                return Err(format!("`{}` takes 0 or 1", shown(item)));
                            }
                        }
                        (KeyValue::Some(_), None) => {
                            return Err(format!("`{}` needs a value (`{name}=…`)", shown(name)))
                        }
                        (KeyValue::Some(check), Some(val)) => check
                            .check(val)
                            .map_err(|reason| format!("`{}`: {reason}", shown(name)))?,
                    }
                }
                Ok(())
            }
            Check::Custom(f) => f(value),
        }
    }
}

const BOOL: Check = Check::OneOf(&["0", "1"], false);

// mke2fs ---------------------------------------------------------------------

const EXT_FEATURES: &[&str] = &[
    "none",
    "64bit",
    "bigalloc",
    "casefold",
    "dir_index",
    "dir_nlink",
    "ea_inode",
    "encrypt",
    "ext_attr",
    "extent",
    "extents",
    "extra_isize",
    "fast_commit",
    "filetype",
    "flex_bg",
    "has_journal",
    "huge_file",
    "inline_data",
    "large_dir",
    "large_file",
    "metadata_csum",
    "metadata_csum_seed",
    "meta_bg",
    "mmp",
    "orphan_file",
    "project",
    "quota",
    "resize_inode",
    "sparse_super",
    "sparse_super2",
    "stable_inodes",
    "uninit_bg",
    "uninit_groups",
    "verity",
];

/// `-E` settings mke2fs gets from a description or plugin.
const EXT_EXTENDED: &[Key] = &[
    key("stride", KeyValue::Some(Check::Digits)),
    key("stripe_width", KeyValue::Some(Check::Digits)),
    key("stripe-width", KeyValue::Some(Check::Digits)),
    key("resize", KeyValue::Some(Check::Digits)),
    key("lazy_itable_init", KeyValue::OptionalBool),
    key("lazy_journal_init", KeyValue::OptionalBool),
    key("assume_storage_prezeroed", KeyValue::OptionalBool),
    key("packed_meta_blocks", KeyValue::OptionalBool),
    key("no_copy_xattrs", KeyValue::None),
    key(
        "num_backup_sb",
        KeyValue::Some(Check::OneOf(&["0", "1", "2"], false)),
    ),
    key("test_fs", KeyValue::None),
    key("orphan_file_size", KeyValue::Some(Check::Size("kKmMgG"))),
    key("discard", KeyValue::None),
    key("nodiscard", KeyValue::None),
    key("quotatype", KeyValue::Some(Check::Custom(quota_types))),
    key(
        "encoding",
        KeyValue::Some(Check::OneOf(&["utf8", "utf8-12.1"], false)),
    ),
    key(
        "encoding_flags",
        KeyValue::Some(Check::OneOf(&["strict", "nostrict"], false)),
    ),
    key("mmp_update_interval", KeyValue::Some(Check::Digits)),
];

const EXT_EXTENDED_REFUSED: &[(&str, &str)] = &[
    (
        "offset",
        "the host places the filesystem in its disk itself",
    ),
    ("root_owner", "the host sets it (0:0)"),
    ("hash_seed", "the host derives it from the filesystem UUID"),
    (
        "android_sparse",
        "it writes an Android sparse image, not a filesystem",
    ),
];

fn quota_types(value: &str) -> Result<(), String> {
    let ok = value
        .split(':')
        .all(|t| matches!(t, "usrquota" | "grpquota" | "prjquota"));
    ok.then_some(()).ok_or_else(|| {
        format!(
            "`{}` is not a colon-separated list of usrquota, grpquota and prjquota",
            shown(value)
        )
    })
}

const EXT_JOURNAL: &[Key] = &[
    key("size", KeyValue::Some(Check::Digits)),
    key("fast_commit_size", KeyValue::Some(Check::Digits)),
    key("location", KeyValue::Some(Check::Size("kKmMgGtT"))),
];

const EXT_JOURNAL_REFUSED: &[(&str, &str)] = &[(
    "device",
    "it attaches the filesystem to a host device as its journal",
)];

static MKE2FS: Spec = Spec {
    getopt: true,
    allowed: &[
        with(&["-b"], Check::Signed),
        with(&["-C"], Check::Size("kKmMgG")),
        with(
            &["-e"],
            Check::OneOf(&["continue", "remount-ro", "panic"], false),
        ),
        with(&["-E"], Check::Sub(EXT_EXTENDED, EXT_EXTENDED_REFUSED)),
        with(&["-g"], Check::Digits),
        with(&["-G"], Check::Digits),
        with(&["-i"], Check::Size("kKmMgG")),
        with(&["-I"], Check::Digits),
        flag(&["-j"]),
        with(&["-J"], Check::Sub(EXT_JOURNAL, EXT_JOURNAL_REFUSED)),
        with(&["-m"], Check::Decimal),
        with(&["-N"], Check::Digits),
        with(
            &["-o"],
            Check::OneOf(&["Linux", "Hurd", "Masix", "FreeBSD", "Lites"], true),
        ),
        with(&["-O"], Check::ListOf(EXT_FEATURES, true)),
        with(&["-r"], Check::OneOf(&["0", "1"], false)),
        with(&["-T"], Check::Words),
    ],
    refused: &[
        (
            "-d",
            "it copies a host directory into the filesystem (the host fills it from the root itself)",
        ),
        ("-l", "it reads a bad-blocks list from a host file"),
        ("-c", "it runs badblocks over the output"),
        ("-z", "it writes an undo file on the host"),
        (
            "-R",
            "it is the old spelling of -E; give the extended options with -E",
        ),
        ("-L", "the host sets the label (give it as the label)"),
        ("-U", "the host sets the UUID (give it as the uuid)"),
        ("-t", "the host sets the filesystem type"),
        ("-F -q", "the host passes it already"),
        ("-n -S -V", "mke2fs would not make the filesystem"),
        ("-M", "it records a directory path, which the host does not pass on"),
    ],
    file_taking: &["-d", "-l", "-z", "-c"],
};

// mkfs.xfs -------------------------------------------------------------------

const XFS_SIZE: Check = Check::Size("sbkmgtpeSBKMGTPE");

static MKFS_XFS: Spec = Spec {
    getopt: true,
    allowed: &[
        with(
            &["-b"],
            Check::Sub(&[key("size", KeyValue::Some(XFS_SIZE))], &[]),
        ),
        with(
            &["-m"],
            Check::Sub(
                &[
                    key("crc", KeyValue::Some(BOOL)),
                    key("finobt", KeyValue::Some(BOOL)),
                    key("rmapbt", KeyValue::Some(BOOL)),
                    key("reflink", KeyValue::Some(BOOL)),
                    key("inobtcount", KeyValue::Some(BOOL)),
                    key("bigtime", KeyValue::Some(BOOL)),
                ],
                &[("uuid", "the host sets the UUID (give it as the uuid)")],
            ),
        ),
        with(
            &["-d"],
            Check::Sub(
                &[
                    key("agcount", KeyValue::Some(Check::Digits)),
                    key("agsize", KeyValue::Some(XFS_SIZE)),
                    key("su", KeyValue::Some(XFS_SIZE)),
                    key("sw", KeyValue::Some(Check::Digits)),
                    key("sunit", KeyValue::Some(Check::Digits)),
                    key("swidth", KeyValue::Some(Check::Digits)),
                    key("noalign", KeyValue::None),
                    key("sectsize", KeyValue::Some(XFS_SIZE)),
                    key("cowextsize", KeyValue::Some(Check::Digits)),
                    key("extszinherit", KeyValue::Some(Check::Digits)),
                    key("projinherit", KeyValue::Some(Check::Digits)),
                    key("rtinherit", KeyValue::Some(BOOL)),
                    key("daxinherit", KeyValue::Some(BOOL)),
                ],
                &[
                    (
                        "name",
                        "it names a host file or device to make the filesystem on",
                    ),
                    ("file", "it makes the filesystem in a host file it names"),
                    ("size", "the host sizes the image"),
                ],
            ),
        ),
        with(
            &["-i"],
            Check::Sub(
                &[
                    key("size", KeyValue::Some(XFS_SIZE)),
                    key("perblock", KeyValue::Some(Check::Digits)),
                    key("maxpct", KeyValue::Some(Check::Digits)),
                    key("align", KeyValue::OptionalBool),
                    key(
                        "attr",
                        KeyValue::Some(Check::OneOf(&["0", "1", "2"], false)),
                    ),
                    key("projid32bit", KeyValue::Some(BOOL)),
                    key("sparse", KeyValue::OptionalBool),
                    key("nrext64", KeyValue::OptionalBool),
                ],
                &[],
            ),
        ),
        with(
            &["-l"],
            Check::Sub(
                &[
                    key("size", KeyValue::Some(XFS_SIZE)),
                    key("version", KeyValue::Some(Check::OneOf(&["1", "2"], false))),
                    key("sunit", KeyValue::Some(Check::Digits)),
                    key("su", KeyValue::Some(XFS_SIZE)),
                    key("lazy-count", KeyValue::Some(BOOL)),
                    key("internal", KeyValue::OptionalBool),
                    key("agnum", KeyValue::Some(Check::Digits)),
                    key("sectsize", KeyValue::Some(XFS_SIZE)),
                ],
                &[
                    (
                        "logdev",
                        "it puts the log on a host device or file it names",
                    ),
                    ("name", "it names a host file for the log"),
                    ("file", "it puts the log in a host file"),
                ],
            ),
        ),
        with(
            &["-n"],
            Check::Sub(
                &[
                    key("size", KeyValue::Some(XFS_SIZE)),
                    key("version", KeyValue::Some(Check::OneOf(&["2", "ci"], false))),
                    key("ftype", KeyValue::Some(BOOL)),
                ],
                &[],
            ),
        ),
        with(
            &["-s"],
            Check::Sub(&[key("size", KeyValue::Some(XFS_SIZE))], &[]),
        ),
        flag(&["-K"]),
    ],
    refused: &[
        (
            "-p",
            "it reads a protofile from the host, which names host files to copy in",
        ),
        ("-c", "it reads a configuration file from the host"),
        ("-r", "the realtime section lives on a host device it names"),
        ("-L", "the host sets the label (give it as the label)"),
        ("-f -q", "the host passes it already"),
        ("-N -V", "mkfs.xfs would not make the filesystem"),
    ],
    file_taking: &["-p", "-c", "-r"],
};

// mkfs.btrfs -----------------------------------------------------------------

const BTRFS_PROFILES: &[&str] = &[
    "single", "dup", "raid0", "raid1", "raid1c3", "raid1c4", "raid5", "raid6", "raid10",
];
const BTRFS_SIZE: Check = Check::Size("kKmMgGtTpPeE");

static MKFS_BTRFS: Spec = Spec {
    getopt: true,
    allowed: &[
        with(&["-d", "--data"], Check::OneOf(BTRFS_PROFILES, true)),
        with(&["-m", "--metadata"], Check::OneOf(BTRFS_PROFILES, true)),
        flag(&["-M", "--mixed"]),
        with(
            &["--csum", "--checksum"],
            Check::OneOf(&["crc32c", "xxhash", "sha256", "blake2"], false),
        ),
        with(&["-n", "--nodesize"], BTRFS_SIZE),
        with(&["-s", "--sectorsize"], BTRFS_SIZE),
        with(
            &["-O", "--features"],
            Check::ListOf(
                &[
                    "mixed-bg",
                    "extref",
                    "raid56",
                    "skinny-metadata",
                    "no-holes",
                    "raid1c34",
                    "zoned",
                    "quota",
                    "free-space-tree",
                    "block-group-tree",
                    "squota",
                    "raid-stripe-tree",
                ],
                true,
            ),
        ),
        with(
            &["-R", "--runtime-features"],
            Check::ListOf(&["quota", "free-space-tree"], true),
        ),
        flag(&["-K", "--nodiscard"]),
    ],
    refused: &[
        (
            "-r --rootdir",
            "it copies a host directory into the filesystem (the host fills it from the root itself)",
        ),
        ("--shrink", "it only goes with --rootdir"),
        ("-b --byte-count", "the host sizes the image"),
        ("-L --label", "the host sets the label (give it as the label)"),
        ("-U --uuid", "the host sets the UUID (give it as the uuid)"),
        ("-f --force -q --quiet", "the host passes it already"),
        ("-V --version --help", "mkfs.btrfs would not make the filesystem"),
    ],
    file_taking: &["-r", "--rootdir"],
};

// mksquashfs -----------------------------------------------------------------

/// squashfs compressors mksquashfs knows.
pub const SQUASHFS_COMPRESSORS: &[&str] = &["gzip", "lzo", "lz4", "xz", "zstd", "lzma"];

fn dict_size(value: &str) -> Result<(), String> {
    let ok = match value.strip_suffix('%') {
        Some(percent) => match percent.split_once('.') {
            Some((whole, fraction)) => digits(whole) && digits(fraction),
            None => digits(percent),
        },
        None => digits(value.strip_suffix(['k', 'K', 'm', 'M']).unwrap_or(value)),
    };
    ok.then_some(()).ok_or_else(|| {
        format!(
            "`{}` is not a dictionary size (a number with K or M, or a percentage)",
            shown(value)
        )
    })
}

static MKSQUASHFS: Spec = Spec {
    getopt: false,
    allowed: &[
        flag(&["-noappend"]),
        flag(&["-quiet"]),
        flag(&["-no-progress"]),
        flag(&["-no-xattrs"]),
        flag(&["-xattrs"]),
        flag(&["-no-exports"]),
        flag(&["-exports"]),
        flag(&["-no-sparse"]),
        flag(&["-noI", "-noInodeCompression"]),
        flag(&["-noId", "-noIdTableCompression"]),
        flag(&["-noD", "-noDataCompression"]),
        flag(&["-noF", "-noFragmentCompression"]),
        flag(&["-noX", "-noXattrCompression"]),
        flag(&["-no-fragments"]),
        flag(&["-always-use-fragments"]),
        flag(&["-no-duplicates"]),
        flag(&["-no-hardlinks"]),
        flag(&["-all-root", "-root-owned"]),
        flag(&["-tailends"]),
        flag(&["-no-tailends"]),
        flag(&["-reproducible"]),
        flag(&["-not-reproducible"]),
        flag(&["-one-file-system"]),
        flag(&["-exit-on-error"]),
        flag(&["-no-recovery"]),
        flag(&["-Xhc"]),
        with(&["-comp"], Check::OneOf(SQUASHFS_COMPRESSORS, false)),
        with(&["-b"], Check::Size("kKmM")),
        with(&["-processors"], Check::Digits),
        with(&["-mem"], Check::Size("kKmMgG")),
        with(&["-mkfs-time", "-fstime"], Check::Digits),
        with(&["-all-time"], Check::Digits),
        with(&["-root-time"], Check::Digits),
        with(&["-root-mode"], Check::Octal),
        with(&["-root-uid"], Check::Digits),
        with(&["-root-gid"], Check::Digits),
        with(&["-force-uid"], Check::Digits),
        with(&["-force-gid"], Check::Digits),
        with(&["-throttle"], Check::Digits),
        with(&["-limit"], Check::Digits),
        with(&["-Xcompression-level"], Check::Digits),
        with(&["-Xwindow-size"], Check::Digits),
        with(
            &["-Xstrategy"],
            Check::ListOf(
                &[
                    "default",
                    "filtered",
                    "huffman_only",
                    "run_length_encoded",
                    "fixed",
                ],
                false,
            ),
        ),
        with(
            &["-Xalgorithm"],
            Check::OneOf(
                &[
                    "lzo1x_1",
                    "lzo1x_1_11",
                    "lzo1x_1_12",
                    "lzo1x_1_15",
                    "lzo1x_999",
                ],
                false,
            ),
        ),
        with(
            &["-Xbcj"],
            Check::ListOf(
                &[
                    "x86", "arm", "armthumb", "arm64", "powerpc", "sparc", "ia64", "riscv",
                ],
                false,
            ),
        ),
        with(&["-Xdict-size"], Check::Custom(dict_size)),
    ],
    refused: &[
        (
            "-p",
            "it adds a pseudo-file definition; an `f` definition runs a command on the host",
        ),
        (
            "-pf",
            "it reads pseudo-file definitions from a host file; an `f` definition runs a command on the host",
        ),
        ("-sort", "it reads a sort list from a host file"),
        ("-ef", "it reads an exclude list from a host file"),
        (
            "-e",
            "it takes every later argument as a path to exclude",
        ),
        ("-wildcards -regex", "it only goes with exclude lists"),
        (
            "-cpiostyle -cpiostyle0 -tar",
            "it reads the files to store from standard input",
        ),
        ("-no-strip -tarstyle", "it only goes with -tar"),
        (
            "-root-becomes",
            "it only applies when appending to an existing image",
        ),
        (
            "-action -log-action -true-action -false-action",
            "actions evaluate expressions over the files and change what is stored",
        ),
        (
            "-action-file -log-action-file -true-action-file -false-action-file",
            "it reads actions from a host file",
        ),
        (
            "-recover -recovery-path",
            "it names a host file or directory for recovery data",
        ),
        ("-offset -o", "it writes the image at an offset in the output"),
        ("-keep-as-directory", "it changes where the root lands in the image"),
        (
            "-info -progress -version -help -h -Xhelp",
            "mksquashfs would print instead of, or besides, making the image",
        ),
    ],
    file_taking: &[
        "-p",
        "-pf",
        "-sort",
        "-ef",
        "-e",
        "-cpiostyle",
        "-cpiostyle0",
        "-tar",
        "-root-becomes",
        "-action-file",
        "-log-action-file",
        "-true-action-file",
        "-false-action-file",
        "-recover",
        "-recovery-path",
    ],
};

// mkfs.erofs -----------------------------------------------------------------

/// EROFS compressors mkfs.erofs knows (not all of them in every build).
pub const EROFS_COMPRESSORS: &[&str] = &["lz4", "lz4hc", "lzma", "deflate", "libdeflate", "zstd"];

/// `ALGORITHM[,LEVEL]`, as `-z` and the erofs compression take it.
fn erofs_compressor(value: &str) -> Result<(), String> {
    let (algorithm, level) = match value.split_once(',') {
        Some((a, l)) => (a, Some(l)),
        None => (value, None),
    };
    if !EROFS_COMPRESSORS.contains(&algorithm) {
        return Err(format!(
            "`{}` is not an EROFS compressor ({})",
            shown(algorithm),
            EROFS_COMPRESSORS.join(", ")
        ));
    }
    if let Some(level) = level {
        if !digits(level) || level.len() > 3 {
            return Err(format!("`{}` is not a compression level", shown(level)));
        }
    }
    Ok(())
}

static MKFS_EROFS: Spec = Spec {
    getopt: true,
    allowed: &[
        with(&["-z"], Check::Custom(erofs_compressor)),
        with(&["-C"], Check::Digits),
        with(
            &["-E"],
            Check::Sub(
                &[
                    key("force-inode-compact", KeyValue::None),
                    key("force-inode-extended", KeyValue::None),
                    key("force-inode-blockmap", KeyValue::None),
                    key("force-chunk-indexes", KeyValue::None),
                    key("legacy-compress", KeyValue::None),
                    key("noinline_data", KeyValue::None),
                    key("ztailpacking", KeyValue::None),
                    key("dedupe", KeyValue::None),
                    key("fragments", KeyValue::None),
                    key("all-fragments", KeyValue::None),
                ],
                &[],
            ),
        ),
        with(&["-x"], Check::Signed),
        with(
            &["-d"],
            Check::OneOf(&["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"], false),
        ),
        with(&["-T"], Check::Digits),
        flag(&["--all-root"]),
        with(&["--force-uid"], Check::Digits),
        with(&["--force-gid"], Check::Digits),
        with(&["--chunksize"], Check::Digits),
        with(&["--max-extent-bytes"], Check::Digits),
        flag(&["--ignore-mtime"]),
        flag(&["--preserve-mtime"]),
        flag(&["--quiet"]),
    ],
    refused: &[
        ("--blobdev", "it writes chunk data to a host file it names"),
        (
            "--compress-hints",
            "it reads compression hints from a host file",
        ),
        (
            "--file-contexts",
            "it reads SELinux file contexts from a host file",
        ),
        (
            "--exclude-path --exclude-regex",
            "it changes which files of the root go in",
        ),
        (
            "--tar --aufs --ovlfs",
            "it reads the files to store from elsewhere than the root",
        ),
        ("-U", "the host sets the UUID (give it as the uuid)"),
        ("-L", "the host sets the label (give it as the label)"),
        (
            "-V --version --help",
            "mkfs.erofs would not make the filesystem",
        ),
    ],
    file_taking: &["--blobdev", "--compress-hints", "--file-contexts", "--tar"],
};

// mkfs.vfat ------------------------------------------------------------------

fn geometry(value: &str) -> Result<(), String> {
    match value.split_once('/') {
        Some((heads, sectors)) if digits(heads) && digits(sectors) => Ok(()),
        _ => Err(format!(
            "`{}` is not a geometry (HEADS/SECTORS-PER-TRACK)",
            shown(value)
        )),
    }
}

static MKFS_VFAT: Spec = Spec {
    getopt: true,
    allowed: &[
        with(&["-F"], Check::OneOf(&["12", "16", "32"], false)),
        with(&["-S"], Check::Digits),
        with(&["-s"], Check::Digits),
        with(&["-R"], Check::Digits),
        with(&["-f"], Check::Digits),
        with(&["-r"], Check::Digits),
        with(&["-h"], Check::Digits),
        with(&["-b"], Check::Digits),
        with(&["-D"], Check::DecOrHex),
        with(&["-M"], Check::DecOrHex),
        with(&["-g"], Check::Custom(geometry)),
        flag(&["-a"]),
        flag(&["-A"]),
        with(&["--codepage"], Check::Digits),
        with(&["--variant"], Check::OneOf(&["standard", "atari"], true)),
        flag(&["--invariant"]),
    ],
    refused: &[
        ("-l", "it reads a bad-blocks list from a host file"),
        (
            "-m",
            "it reads the boot message from a host file or standard input",
        ),
        ("-c", "it checks the output for bad blocks"),
        ("-C", "the host passes it already"),
        ("-I", "it turns off mkfs.vfat's safety checks"),
        ("-i", "the host sets the volume id (give a uuid)"),
        ("-n", "the host sets the label (give it as the label)"),
        ("--offset", "the host places the filesystem itself"),
        (
            "-v --help",
            "mkfs.vfat would print instead of, or besides, making the filesystem",
        ),
    ],
    file_taking: &["-l", "-m"],
};

// ---- other values ----------------------------------------------------------

/// Checks a volume label for `tool`: not empty, no control characters or
/// `/`, within the filesystem's length (ext 16 bytes, XFS 12, FAT 11
/// printable ASCII characters, Btrfs 255 bytes). squashfs and EROFS keep no
/// label; theirs is only checked for its characters.
pub fn label(tool: Mkfs, label: &str) -> Result<(), Refused> {
    let what = || format!("{} label `{}`", tool_fs_name(tool), shown(label));
    if label.is_empty() {
        return Err(Refused::new(what(), "a label cannot be empty"));
    }
    if label.chars().any(|c| c.is_control() || c == '/') {
        return Err(Refused::new(
            what(),
            "a label holds no control characters and no `/`",
        ));
    }
    let max = match tool {
        Mkfs::Ext => 16,
        Mkfs::Xfs => 12,
        Mkfs::Btrfs => 255,
        Mkfs::Vfat => 11,
        Mkfs::Squashfs | Mkfs::Erofs => usize::MAX,
    };
    if label.len() > max {
        return Err(Refused::new(
            what(),
            format!(
                "{} labels hold at most {max} bytes, this one has {}",
                tool_fs_name(tool),
                label.len()
            ),
        ));
    }
    if tool == Mkfs::Vfat {
        let bad = |b: u8| !b.is_ascii_graphic() || b"\"*+,./:;<=>?[\\]|".contains(&b);
        if label.bytes().any(bad) {
            return Err(Refused::new(
                what(),
                "a FAT label is printable ASCII without spaces or any of \" * + , . / : ; < = > ? [ \\ ] |",
            ));
        }
    }
    Ok(())
}

fn tool_fs_name(tool: Mkfs) -> &'static str {
    match tool {
        Mkfs::Ext => "ext",
        Mkfs::Xfs => "XFS",
        Mkfs::Btrfs => "Btrfs",
        Mkfs::Squashfs => "squashfs",
        Mkfs::Erofs => "EROFS",
        Mkfs::Vfat => "FAT",
    }
}

/// Checks a UUID: 8-4-4-4-12 hexadecimal digits; returns it in lower case.
pub fn uuid(value: &str) -> Result<String, Refused> {
    let groups: Vec<&str> = value.split('-').collect();
    let ok = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()));
    if !ok {
        return Err(Refused::new(
            format!("UUID `{}`", shown(value)),
            "a UUID is 32 hexadecimal digits grouped 8-4-4-4-12",
        ));
    }
    Ok(value.to_ascii_lowercase())
}

/// The 32-bit FAT volume id (8 hex digits) for the filesystem UUID `value`:
/// its first 8 digits.
pub fn fat_volume_id(value: &str) -> Result<String, Refused> {
    Ok(uuid(value)?[..8].to_string())
}

/// Checks a squashfs compression: a compressor mksquashfs knows, or `uncompressed`.
pub fn squashfs_compression(value: &str) -> Result<(), Refused> {
    if value == "uncompressed" || SQUASHFS_COMPRESSORS.contains(&value) {
        return Ok(());
    }
    Err(Refused::new(
        format!("squashfs compression `{}`", shown(value)),
        format!(
            "it is none of uncompressed, {}",
            SQUASHFS_COMPRESSORS.join(", ")
        ),
    ))
}

/// Checks an EROFS compression: `ALGORITHM[,LEVEL]` with an algorithm
/// mkfs.erofs knows, or `uncompressed`.
pub fn erofs_compression(value: &str) -> Result<(), Refused> {
    if value == "uncompressed" {
        return Ok(());
    }
    erofs_compressor(value)
        .map_err(|reason| Refused::new(format!("EROFS compression `{}`", shown(value)), reason))
}

/// Checks a GPT partition name as it goes into sfdisk's script
/// (`name="…"`): no quotes, backslashes, commas or control characters, at
/// most 36 UTF-16 code units (the GPT field).
pub fn gpt_partition_name(name: &str) -> Result<(), Refused> {
    let what = || format!("GPT partition name `{}`", shown(name));
    if name
        .chars()
        .any(|c| c.is_control() || matches!(c, '"' | '\'' | '\\' | ','))
    {
        return Err(Refused::new(
            what(),
            "it may hold no quotes, backslashes, commas or control characters (sfdisk reads it from a script)",
        ));
    }
    let units = name.encode_utf16().count();
    if units > 36 {
        return Err(Refused::new(
            what(),
            format!("a GPT partition name holds at most 36 UTF-16 code units, this one {units}"),
        ));
    }
    Ok(())
}

/// Checks an ISO 9660 volume id: 1 to 32 of `A-Z`, `0-9` and `_`.
pub fn iso_volume_id(id: &str) -> Result<(), Refused> {
    if id.is_empty()
        || id.len() > 32
        || !id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(Refused::new(
            format!("ISO volume id `{}`", shown(id)),
            "it must be 1 to 32 of A-Z, 0-9 and _",
        ));
    }
    Ok(())
}

/// Checks a path inside an image (an ISO, a FAT image): relative (a
/// leading `/` is dropped), no empty, `.` or `..` component, no control
/// characters; returns it without the leading `/`.
pub fn image_path(path: &str) -> Result<String, Refused> {
    let trimmed = path.trim_start_matches('/');
    if trimmed.is_empty()
        || trimmed
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
        || path.chars().any(char::is_control)
    {
        return Err(Refused::new(
            format!("image path `{}`", shown(path)),
            "it must be relative, without `.`, `..`, empty parts or control characters",
        ));
    }
    Ok(trimmed.to_string())
}

/// Checks a GRUB module name: `[a-z0-9_-]`, not starting with `-`.
pub fn grub_module(name: &str) -> Result<(), Refused> {
    if name.is_empty()
        || name.len() > 64
        || name.starts_with('-')
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err(Refused::new(
            format!("GRUB module `{}`", shown(name)),
            "a module name is a-z, 0-9, _ and -, and does not start with -",
        ));
    }
    Ok(())
}

/// Checks a package name for the root's package manager: not empty, not
/// starting with `-` (it would be read as an option), no blanks or control
/// characters.
pub fn package_name(name: &str) -> Result<(), Refused> {
    plain_name("package name", name, "")
}

/// Checks a systemd unit name: a plain name, never a path or an option.
pub fn unit_name(name: &str) -> Result<(), Refused> {
    plain_name("unit name", name, "/")
}

/// Checks a user or group name for useradd/groupadd: no `:`, `,` or `/`
/// besides what [`package_name`] refuses.
pub fn account_name(name: &str) -> Result<(), Refused> {
    plain_name("user or group name", name, ":,/")
}

fn plain_name(what: &str, name: &str, also: &str) -> Result<(), Refused> {
    let refuse = |reason: &str| Err(Refused::new(format!("{what} `{}`", shown(name)), reason));
    if name.is_empty() {
        return refuse("it is empty");
    }
    if name.starts_with('-') {
        return refuse("it starts with `-`, and the tool would read it as an option");
    }
    if name
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || also.contains(c))
    {
        return refuse(&if also.is_empty() {
            "it holds blanks or control characters".to_string()
        } else {
            format!(
                "it holds blanks, control characters or one of {}",
                also.chars()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    fn ok(tool: Mkfs, line: &str) -> CreateArgs {
        create_options(tool, &args(line))
            .unwrap_or_else(|e| panic!("{} `{line}`: {e}", tool.program()))
    }

    fn refused(tool: Mkfs, list: &[&str]) -> String {
        let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        match create_options(tool, &list) {
            Ok(accepted) => panic!("{} {list:?} was accepted: {accepted:?}", tool.program()),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn mke2fs_takes_what_descriptions_use() {
        // KIWI's documented examples, and what its ext builds pass.
        let a = ok(Mkfs::Ext, "-O ^has_journal");
        assert_eq!(a.args, ["-O", "^has_journal"]);
        assert_eq!(ok(Mkfs::Ext, "-I 256").args, ["-I", "256"]);
        assert_eq!(ok(Mkfs::Ext, "-I256").args, ["-I", "256"], "glued");
        assert_eq!(
            ok(Mkfs::Ext, "-O^has_journal,metadata_csum").args,
            ["-O", "^has_journal,metadata_csum"]
        );
        let a = ok(
            Mkfs::Ext,
            "-b 4096 -i 8192 -m 0 -N 100000 -j -J size=64 -T news -e remount-ro -E stride=16,stripe_width=64",
        );
        assert_eq!(
            a.args,
            [
                "-b",
                "4096",
                "-i",
                "8192",
                "-m",
                "0",
                "-N",
                "100000",
                "-j",
                "-J",
                "size=64",
                "-T",
                "news",
                "-e",
                "remount-ro"
            ]
        );
        assert_eq!(a.extended, ["stride=16", "stripe_width=64"]);
        let a = ok(
            Mkfs::Ext,
            "-Elazy_itable_init=0 -E nodiscard,quotatype=usrquota:grpquota",
        );
        assert_eq!(
            a.extended,
            [
                "lazy_itable_init=0",
                "nodiscard",
                "quotatype=usrquota:grpquota"
            ]
        );
        assert!(a.args.is_empty());
        assert_eq!(ok(Mkfs::Ext, "-m 0.5 -o Linux -r 1").args.len(), 6);
    }

    #[test]
    fn mke2fs_refuses_host_paths_and_host_settings() {
        let e = refused(Mkfs::Ext, &["-d", "/etc/ssh"]);
        assert!(e.contains("`-d`") && e.contains("host directory"), "{e}");
        assert!(refused(Mkfs::Ext, &["-d/etc"]).contains("host directory"));
        for list in [
            &["-l", "/etc/shadow"][..],
            &["-l/etc/shadow"],
            &["-z", "/root/undo"],
            &["-c"],
            &["-jd/etc"],
            &["-L", "x"],
            &["-U", "clear"],
            &["-t", "ext2"],
            &["-q"],
            &["-M", "/"],
            &["-R", "stride=1"],
            &["--", "/dev/sda"],
            &["/dev/sda"],
            &["4096"],
            &["-b"],
            &["-b", "4k/etc"],
            &["-b", "-d"],
            &["-I", "256\0"],
            &["-I\n256"],
            &["-O", "has_journal\n"],
            &["-O", "journal_dev"],
            &["-O", "has_journal,-d"],
            &["-T", "../../etc/x"],
            &["-J", "device=/dev/sdb"],
            &["-J", "size=64,device=/dev/sdb"],
            &["--root-directory=/etc"],
            &["-e", "continue;reboot"],
        ] {
            refused(Mkfs::Ext, list);
        }
        for ext in [
            "offset=0",
            "stride=4,offset=1048576",
            "root_owner=1000:1000",
            "hash_seed=0",
            "android_sparse",
            "stride",
            "stride=x",
            "no_copy_xattrs=1",
            "lazy_itable_init=2",
            "quotatype=usrquota:/etc",
            "encoding=../x",
        ] {
            let e = refused(Mkfs::Ext, &["-E", ext]);
            assert!(e.starts_with("mke2fs option `-E "), "{e}");
            let e = refused(Mkfs::Ext, &[&format!("-E{ext}")]);
            assert!(e.contains("is refused"), "{e}");
        }
        let e = refused(Mkfs::Ext, &["-E", "offset=512"]);
        assert!(e.contains("places the filesystem"), "{e}");
    }

    #[test]
    fn mkfs_xfs_takes_known_settings_only() {
        let a = ok(
            Mkfs::Xfs,
            "-i size=512 -l size=64m,lazy-count=1 -n ftype=1 -b size=4096 -d agcount=4,su=64k,sw=2 -s size=4k -m crc=1,reflink=1 -K",
        );
        assert_eq!(a.args.len(), 15);
        assert_eq!(ok(Mkfs::Xfs, "-isize=512").args, ["-i", "size=512"]);
        assert_eq!(
            ok(Mkfs::Xfs, "-i sparse,align").args,
            ["-i", "sparse,align"]
        );
        for list in [
            &["-p", "/etc/proto"][..],
            &["-p/etc/proto"],
            &["-c", "options=/etc/x"],
            &["-d", "name=/dev/sda"],
            &["-d", "file,name=/tmp/x"],
            &["-d", "size=1g"],
            &["-dname=/dev/sda"],
            &["-l", "logdev=/dev/sdb"],
            &["-l", "size=64m,logdev=/dev/sdb"],
            &["-r", "rtdev=/dev/sdc"],
            &["-m", "uuid=0-0"],
            &["-m", "crc=2"],
            &["-i", "size=512=1"],
            &["-i", "size=5x"],
            &["-L", "ROOT"],
            &["-N"],
            &["-q"],
            &["-f"],
            &["-Kq"],
            &["--protofile=/etc/x"],
            &["/dev/sda"],
        ] {
            refused(Mkfs::Xfs, list);
        }
        let e = refused(Mkfs::Xfs, &["-d", "agcount=4,name=/dev/sda"]);
        assert!(e.contains("`name`") && e.contains("host file"), "{e}");
    }

    #[test]
    fn mkfs_btrfs_takes_profiles_features_and_sizes() {
        let a = ok(
            Mkfs::Btrfs,
            "-m dup -d single --csum xxhash -n 16k -s 4096 -O no-holes,^mixed-bg -R quota -K",
        );
        assert_eq!(
            a.args,
            [
                "-m",
                "dup",
                "-d",
                "single",
                "--csum=xxhash",
                "-n",
                "16k",
                "-s",
                "4096",
                "-O",
                "no-holes,^mixed-bg",
                "-R",
                "quota",
                "-K"
            ]
        );
        assert_eq!(
            ok(Mkfs::Btrfs, "--metadata=single --features block-group-tree").args,
            ["-m", "single", "-O", "block-group-tree"]
        );
        for list in [
            &["-r", "/etc"][..],
            &["-r/etc"],
            &["--rootdir", "/etc"],
            &["--rootdir=/etc"],
            &["--root=/etc"],
            &["--shrink"],
            &["-b", "1g"],
            &["-L", "x"],
            &["-U", "x"],
            &["-f"],
            &["-m", "raid9"],
            &["--csum", "md5"],
            &["-O", "^/etc"],
            &["-K=1"],
            &["--nodiscard=yes"],
            &["/dev/sdb"],
            &["-Kr/etc"],
        ] {
            refused(Mkfs::Btrfs, list);
        }
    }

    #[test]
    fn mksquashfs_never_takes_pseudo_files_or_host_files() {
        let a = ok(
            Mkfs::Squashfs,
            "-b 1M -comp xz -Xbcj x86 -Xdict-size 100% -noappend -no-xattrs -all-root",
        );
        assert_eq!(
            a.args,
            [
                "-b",
                "1M",
                "-comp",
                "xz",
                "-Xbcj",
                "x86",
                "-Xdict-size",
                "100%",
                "-noappend",
                "-no-xattrs",
                "-all-root"
            ]
        );
        ok(Mkfs::Squashfs, "-comp zstd -Xcompression-level 19");
        ok(
            Mkfs::Squashfs,
            "-noI -noD -noF -noX -no-duplicates -Xdict-size 512K",
        );
        let e = refused(Mkfs::Squashfs, &["-p", "pwn f 644 0 0 /bin/sh -c CMD"]);
        assert!(e.contains("`-p`") && e.contains("runs a command"), "{e}");
        for list in [
            &["-pf", "/etc/pseudo"][..],
            &["-p"],
            &["-sort", "/etc/x"],
            &["-ef", "/etc/x"],
            &["-e", "boot"],
            &["-wildcards"],
            &["-cpiostyle"],
            &["-tar"],
            &["-root-becomes", "x"],
            &["-action", "exclude@true"],
            &["-action-file", "/etc/x"],
            &["-recover", "/etc/x"],
            &["-offset", "1"],
            &["-comp", "brotli"],
            &["-b1M"],
            &["-comp=xz"],
            &["--comp", "xz"],
            &["-b", "1M;id"],
            &["-Xbcj", "x86,/etc"],
            &["-Xdict-size", "x%"],
            &["-root-mode", "0999"],
            &["/etc"],
            &["-info"],
        ] {
            refused(Mkfs::Squashfs, list);
        }
    }

    #[test]
    fn mkfs_erofs_takes_compression_and_extended_options() {
        let a = ok(
            Mkfs::Erofs,
            "-zlz4hc,12 -C 65536 -E ztailpacking,force-inode-compact -x -1 --all-root --force-uid=0 -T 0",
        );
        assert_eq!(
            a.args,
            [
                "-z",
                "lz4hc,12",
                "-C",
                "65536",
                "-E",
                "ztailpacking,force-inode-compact",
                "-x",
                "-1",
                "--all-root",
                "--force-uid=0",
                "-T",
                "0"
            ]
        );
        for list in [
            &["--blobdev=/tmp/x"][..],
            &["--blobdev", "/tmp/x"],
            &["--compress-hints=/etc/x"],
            &["--file-contexts", "/etc/selinux"],
            &["--exclude-path=/x"],
            &["--tar=f"],
            &["-U", "x"],
            &["-z", "gzip"],
            &["-z", "lz4hc,x"],
            &["-E", "unknown"],
            &["-E", "noinline_data=1"],
            &["--all-root=1"],
            &["--force-uid", "root"],
            &["--force"],
            &["/tmp/out"],
        ] {
            refused(Mkfs::Erofs, list);
        }
    }

    #[test]
    fn mkfs_vfat_takes_geometry_and_sizes() {
        let a = ok(
            Mkfs::Vfat,
            "-F 32 -S 512 -s 8 -R 32 -f 2 -r 512 -h 0 -D 0x80 -M 0xF8 -a",
        );
        assert_eq!(a.args.len(), 19);
        assert_eq!(ok(Mkfs::Vfat, "-F32").args, ["-F", "32"]);
        assert_eq!(ok(Mkfs::Vfat, "--codepage=850").args, ["--codepage=850"]);
        for list in [
            &["-l", "/etc/badblocks"][..],
            &["-m", "/etc/motd"],
            &["-m", "-"],
            &["-m/etc/motd"],
            &["-F", "64"],
            &["-i", "1234"],
            &["-n", "X"],
            &["-C"],
            &["--offset", "2048"],
            &["-I"],
            &["-D", "0xZZ"],
            &["-aC"],
            &["/tmp/out"],
        ] {
            refused(Mkfs::Vfat, list);
        }
    }

    #[test]
    fn no_accepted_list_holds_a_file_taking_option() {
        // Every file-taking option, alone, glued and with a value, is refused.
        for tool in Mkfs::ALL {
            for flag in tool.file_taking() {
                for list in [
                    vec![flag.to_string()],
                    vec![flag.to_string(), "/etc".to_string()],
                    vec![format!("{flag}/etc")],
                    vec![format!("{flag}=/etc")],
                ] {
                    assert!(
                        create_options(tool, &list).is_err(),
                        "{} {list:?}",
                        tool.program()
                    );
                }
            }
        }
    }

    #[test]
    fn messages_name_the_option_and_the_reason() {
        assert_eq!(
            refused(Mkfs::Squashfs, &["-sort", "/etc/x"]),
            "mksquashfs option `-sort` is refused: it reads a sort list from a host file"
        );
        assert_eq!(
            refused(Mkfs::Ext, &["-b", "big"]),
            "mke2fs option `-b big` is refused: `big` is not a number"
        );
        assert_eq!(
            refused(Mkfs::Ext, &["-I\n256"]),
            "mke2fs option `-I\\n256` is refused: it holds a control character \
             (a NUL byte, a line break or the like)"
        );
        assert_eq!(
            refused(Mkfs::Btrfs, &["--frobnicate"]),
            "mkfs.btrfs option `--frobnicate` is refused: not an option the host passes on"
        );
        assert_eq!(
            refused(Mkfs::Xfs, &["/dev/sda"]),
            "mkfs.xfs argument `/dev/sda` is refused: only options are passed on; an argument \
             of its own would name a device, a file or a size, which the host gives itself"
        );
        assert_eq!(
            refused(Mkfs::Ext, &["-b"]),
            "mke2fs option `-b` is refused: it needs a value"
        );
    }

    #[test]
    fn labels_fit_their_filesystem() {
        label(Mkfs::Ext, "0123456789abcdef").unwrap();
        assert!(label(Mkfs::Ext, "0123456789abcdefg")
            .unwrap_err()
            .to_string()
            .contains("ext labels hold at most 16 bytes, this one has 17"));
        label(Mkfs::Xfs, "0123456789ab").unwrap();
        assert!(label(Mkfs::Xfs, "0123456789abc").is_err());
        label(Mkfs::Vfat, "EFI").unwrap();
        assert!(label(Mkfs::Vfat, "EFI SYSTEM").is_err());
        assert!(label(Mkfs::Vfat, "A.B").is_err());
        assert!(label(Mkfs::Vfat, "ABCDEFGHIJKL").is_err());
        label(Mkfs::Btrfs, &"b".repeat(255)).unwrap();
        assert!(label(Mkfs::Btrfs, &"b".repeat(256)).is_err());
        label(Mkfs::Squashfs, "ROOT").unwrap();
        for bad in ["", "a\nb", "a/b", "a\0b", "\u{1b}[2J"] {
            for tool in Mkfs::ALL {
                assert!(label(tool, bad).is_err(), "{tool:?} {bad:?}");
            }
        }
    }

    #[test]
    fn uuids_parse_and_give_fat_ids() {
        let u = "C1B9D5A2-F162-11CF-9ECE-0020AFC76F16";
        assert_eq!(uuid(u).unwrap(), u.to_lowercase());
        assert_eq!(fat_volume_id(u).unwrap(), "c1b9d5a2");
        for bad in [
            "x",
            "",
            "c1b9d5a2",
            "c1b9d5a2f16211cf9ece0020afc76f16",
            "c1b9d5a2-f162-11cf-9ece-0020afc76f1g",
            "c1b9d5a2-f162-11cf-9ece-0020afc76f16,crc=0",
            "random",
            "é1b9d5a2-f162-11cf-9ece-0020afc76f1",
        ] {
            assert!(uuid(bad).is_err(), "{bad}");
            assert!(fat_volume_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn compressions_come_from_lists() {
        for ok in ["gzip", "xz", "zstd", "lz4", "lzo", "uncompressed"] {
            squashfs_compression(ok).unwrap();
        }
        for ok in ["lz4", "lz4hc", "lz4hc,12", "lzma", "uncompressed"] {
            erofs_compression(ok).unwrap();
        }
        for bad in ["", "xz -p x", "-p", "gzip,9", "XZ"] {
            assert!(squashfs_compression(bad).is_err(), "{bad}");
        }
        for bad in ["", "gzip", "lz4hc,", "lz4hc,1,2", "-p"] {
            assert!(erofs_compression(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn partition_names_stay_inside_the_sfdisk_script() {
        gpt_partition_name("p.lxroot").unwrap();
        gpt_partition_name("").unwrap();
        gpt_partition_name(&"é".repeat(36)).unwrap();
        assert!(gpt_partition_name(&"é".repeat(37)).is_err());
        // One code point outside the BMP is two UTF-16 units.
        assert!(gpt_partition_name(&"😀".repeat(19)).is_err());
        for bad in ["a\"b", "a\\b", "a,b", "a\nb", "a\rtype=0", "a'b"] {
            assert!(gpt_partition_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn iso_ids_paths_and_grub_modules() {
        iso_volume_id("BUILDER_TEST").unwrap();
        for bad in ["", "lower", "A-B", &"A".repeat(33)] {
            assert!(iso_volume_id(bad).is_err(), "{bad}");
        }
        assert_eq!(image_path("/EFI/BOOT/x.efi").unwrap(), "EFI/BOOT/x.efi");
        for bad in ["", "/", "a/../b", "a//b", "./a", "a\nb", ".."] {
            assert!(image_path(bad).is_err(), "{bad:?}");
        }
        for ok in ["part_gpt", "search_fs_uuid", "all_video", "ext2", "linux16"] {
            grub_module(ok).unwrap();
        }
        for bad in ["", "-o", "--prefix", "Part_gpt", "a/b", "a b", "a.mod"] {
            assert!(grub_module(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_never_read_as_options() {
        package_name("vim").unwrap();
        package_name("kernel-default>=6.4").unwrap();
        unit_name("sshd.service").unwrap();
        account_name("demo").unwrap();
        for bad in [
            "-oAPT::Get::x=1",
            "--install-suggests",
            "-",
            "",
            "a b",
            "a\nb",
        ] {
            assert!(package_name(bad).is_err(), "{bad:?}");
            assert!(unit_name(bad).is_err(), "{bad:?}");
            assert!(account_name(bad).is_err(), "{bad:?}");
        }
        assert!(unit_name("../x.service").is_err());
        assert!(account_name("a:b").is_err());
        assert!(account_name("wheel,root").is_err());
        assert!(package_name("-f")
            .unwrap_err()
            .to_string()
            .contains("starts with `-`"));
    }
}
