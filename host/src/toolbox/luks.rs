//! LUKS containers written into disk image files in user space: the header
//! made by `cryptsetup luksFormat` on a scratch file and copied into the
//! partition, the payload encrypted in place with AES-XTS (plain64 IVs).
//!
//! Nothing here needs device-mapper, a loop device or a mount: cryptsetup
//! only formats a sparse scratch file as large as the partition (with a
//! volume key the host drew from the OS random generator) and adds key
//! slots to it, and the host encrypts the plaintext already written at the
//! payload offset (a filesystem made there) sector by sector, as dm-crypt
//! would have written it: 512-byte sectors, the tweak the little-endian
//! sector number counted from the payload's start (`iv_offset` 0).
//!
//! The passphrase and the key file reach cryptsetup through its standard
//! input or a mode 0600 file in a private scratch directory, never through
//! an argument; the volume key lives in a mode 0600 file overwritten and
//! removed once the header is made (also on error). None of them is logged
//! or put in an error message.
//!
//! `cryptsetup luksFormat` options from a description (KIWI's
//! `<luksformat>`) are checked against an allowlist in the manner of
//! [`super::options`]: each option by name, each value for its form, and
//! anything the host sets itself (type, offset, sector size, keys, header
//! location, UUID) or that the host's encryption cannot honour (another
//! cipher, integrity protection) refused with the reason.
//!
//! cryptsetup's default PBKDF is kept (argon2id for LUKS2); GRUB 2.06 opens
//! only LUKS1 or LUKS2 containers whose key slots use pbkdf2, so a root
//! GRUB must unlock asks for `pbkdf2` (or LUKS1) explicitly.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use aes::cipher::{BlockCipherEncrypt, KeyInit};
use aes::{Aes128, Aes256, Block};
use zeroize::Zeroizing;

use super::options::{self, shown, Refused};
use super::{invalid, ToolError};
use crate::rootfs::command;

/// The one cipher the payload is encrypted with (dm-crypt's spelling).
pub const CIPHER: &str = "aes-xts-plain64";
/// The PBKDFs a key slot may use.
pub const PBKDFS: &[&str] = &["pbkdf2", "argon2i", "argon2id"];
/// The payload's sector size, in bytes: the encryption unit.
pub const SECTOR_SIZE: u64 = 512;
/// How much of the payload is encrypted at a time.
const CHUNK: usize = 1 << 20;
/// The largest key file cryptsetup reads by default (`--keyfile-size`).
const KEY_FILE_MAX: usize = 8 << 20;
/// The largest LUKS2 label or subsystem (48 bytes with the terminating NUL).
const LABEL_MAX: usize = 47;
/// Hashes cryptsetup's crypto backends know (PBKDF2, anti-forensic splitter).
const HASHES: &[&str] = &[
    "sha1",
    "sha224",
    "sha256",
    "sha384",
    "sha512",
    "sha3-224",
    "sha3-256",
    "sha3-384",
    "sha3-512",
    "ripemd160",
    "whirlpool",
    "sm3",
    "stribog256",
    "stribog512",
    "blake2b-512",
    "blake2s-256",
];

/// The on-disk format of a LUKS container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LuksVersion {
    /// LUKS1: eight key slots, pbkdf2 only; the payload at 2 MiB.
    Luks1,
    /// LUKS2 (cryptsetup's default): the payload at 16 MiB.
    #[default]
    Luks2,
}

impl LuksVersion {
    /// The version a description's `luks_version` names: `luks1`, `luks2`,
    /// or `luks`, which (like `cryptsetup luksFormat --type luks`) is
    /// cryptsetup's default format, LUKS2.
    pub fn parse(value: &str) -> Result<LuksVersion, ToolError> {
        match value {
            "luks1" => Ok(LuksVersion::Luks1),
            "luks2" | "luks" => Ok(LuksVersion::Luks2),
            _ => Err(Refused {
                what: format!("LUKS version `{}`", shown(value)),
                reason: "it is not one of luks, luks1, luks2".into(),
            }
            .into()),
        }
    }

    /// cryptsetup's name for it (`--type`).
    pub fn type_name(self) -> &'static str {
        match self {
            LuksVersion::Luks1 => "luks1",
            LuksVersion::Luks2 => "luks2",
        }
    }

    /// The version number in the binary header.
    fn number(self) -> u16 {
        match self {
            LuksVersion::Luks1 => 1,
            LuksVersion::Luks2 => 2,
        }
    }
}

/// What a LUKS container is to be: its keys and header settings.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct LuksSpec {
    /// The passphrase of key slot 0 (KIWI's `luks`): never logged, never in
    /// a command's arguments, never in an error message.
    pub passphrase: String,
    /// LUKS1 or LUKS2.
    pub version: LuksVersion,
    /// The container's UUID (8-4-4-4-12 hexadecimal digits); cryptsetup
    /// draws one when `None`.
    pub uuid: Option<String>,
    /// The PBKDF of the key slots (`pbkdf2`, `argon2i` or `argon2id`, KIWI's
    /// `luks_pbkdf`); cryptsetup's default when `None`.
    pub pbkdf: Option<String>,
    /// The content of the key file a second key slot opens with (KIWI's
    /// `/root/.root.keyfile`, for the initrd), if any.
    pub key_file: Option<Vec<u8>>,
    /// `cryptsetup luksFormat` options (KIWI's `<luksformat>`), each option
    /// and each value its own item or `--option=value`: `--cipher`,
    /// `--key-size`, `--hash`, `--pbkdf`, `--pbkdf-memory`,
    /// `--pbkdf-parallel`, `--pbkdf-force-iterations`, `--iter-time`,
    /// `--use-urandom`, `--use-random`, `--label`, `--subsystem`. The
    /// cipher can only be `aes-xts-plain64` and the key size 512
    /// (AES-256-XTS, the default) or 256 (AES-128-XTS).
    pub format_options: Vec<String>,
}

impl LuksSpec {
    /// A spec with `passphrase` and `version`, everything else cryptsetup's
    /// defaults.
    pub fn new(passphrase: impl Into<String>, version: LuksVersion) -> LuksSpec {
        LuksSpec {
            passphrase: passphrase.into(),
            version,
            ..LuksSpec::default()
        }
    }
}

impl fmt::Debug for LuksSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LuksSpec")
            .field("passphrase", &"<hidden>")
            .field("version", &self.version)
            .field("uuid", &self.uuid)
            .field("pbkdf", &self.pbkdf)
            .field("key_file", &self.key_file.as_ref().map(|_| "<hidden>"))
            .field("format_options", &self.format_options)
            .finish()
    }
}

/// Bytes from the partition start to the payload: LUKS1 2 MiB, LUKS2
/// 16 MiB (cryptsetup is given the offset, so this holds whatever the key
/// size or the header's own defaults).
pub fn payload_offset(version: LuksVersion) -> u64 {
    match version {
        LuksVersion::Luks1 => 2 << 20,
        LuksVersion::Luks2 => 16 << 20,
    }
}

/// Checks `spec` without writing anything: what [`seal`] refuses before it
/// touches the disk (a plugin can ask before it builds the filesystem).
pub fn validate(spec: &LuksSpec) -> Result<(), ToolError> {
    checked(spec).map(|_| ())
}

/// Writes the container: header into `disk` at `start`, then encrypts in
/// place the `size - payload_offset` bytes of plaintext that are already at
/// `start + payload_offset`. `size` is the partition size (multiple of 512,
/// larger than the offset). Returns the container's UUID.
///
/// Every sector of the payload is written, holes too (zeros encrypt to
/// random-looking bytes): the partition is no longer sparse.
/// On error the partition holds no usable container: part of the payload
/// may be encrypted already, and the header may be missing.
pub fn seal(disk: &Path, start: u64, size: u64, spec: &LuksSpec) -> Result<String, ToolError> {
    let format = checked(spec)?;
    let offset = payload_offset(spec.version);
    if !start.is_multiple_of(SECTOR_SIZE) || !size.is_multiple_of(SECTOR_SIZE) {
        return invalid(format!(
            "a LUKS partition starts and ends on a {SECTOR_SIZE}-byte sector \
             (start {start}, size {size})"
        ));
    }
    if size <= offset {
        return invalid(format!(
            "a partition of {size} bytes is too small for a {} container: its payload \
             starts {} MiB into it",
            spec.version.type_name().to_ascii_uppercase(),
            offset >> 20
        ));
    }
    let disk_file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(disk)
        .map_err(|e| io_error(format!("opening the disk {}", disk.display()), e))?;
    let disk_len = disk_file
        .metadata()
        .map_err(|e| io_error(format!("reading the size of {}", disk.display()), e))?
        .len();
    if start.checked_add(size).is_none_or(|end| end > disk_len) {
        return invalid(format!(
            "the LUKS partition (start {start}, size {size}) ends past the end of the \
             disk ({disk_len} bytes)"
        ));
    }

    // The scratch directory: only this process's user may look into it.
    let scratch = command::temp_dir()
        .map_err(|e| io_error("making a scratch directory for a LUKS header", e))?;
    std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(0o700))
        .map_err(|e| io_error("making a scratch directory for a LUKS header", e))?;

    let mut volume_key = Zeroizing::new(vec![0u8; format.key_bytes]);
    getrandom::fill(&mut volume_key).map_err(|e| {
        ToolError::Io(io::Error::other(format!(
            "drawing a LUKS volume key from the OS random generator: {e}"
        )))
    })?;
    let volume_key_file = Secret::create(scratch.path().join("volume-key"), &volume_key)
        .map_err(|e| io_error("writing the LUKS volume key to a scratch file", e))?;

    let header_path = scratch.path().join("header");
    let header_file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&header_path)
        .and_then(|f| f.set_len(size).map(|_| f))
        .map_err(|e| io_error("making a scratch file for a LUKS header", e))?;

    let bits = (format.key_bytes * 8).to_string();
    let (stdin, _wiped) = secret_stdin(spec.passphrase.as_bytes())
        .map_err(|e| io_error("handing the LUKS passphrase to cryptsetup", e))?;
    let mut cmd = Command::new("cryptsetup");
    cmd.args(["luksFormat", "--batch-mode", "--disable-locks", "--type"])
        .arg(spec.version.type_name())
        .args(["--cipher", CIPHER, "--key-size", &bits])
        .arg("--offset")
        .arg((offset / SECTOR_SIZE).to_string());
    if spec.version == LuksVersion::Luks2 {
        cmd.arg("--sector-size").arg(SECTOR_SIZE.to_string());
    }
    if let Some(uuid) = &format.uuid {
        cmd.arg(format!("--uuid={uuid}"));
    }
    cmd.args(&format.args)
        .args(["--key-file", "-", "--volume-key-file"])
        .arg(volume_key_file.path())
        .arg(&header_path);
    command::run_with_stdin("formatting a LUKS header", &mut cmd, stdin)?;

    if let Some(key) = &spec.key_file {
        let key_path = Secret::create(scratch.path().join("key-file"), key)
            .map_err(|e| io_error("writing the LUKS key file to a scratch file", e))?;
        let mut cmd = Command::new("cryptsetup");
        cmd.args(["luksAddKey", "--batch-mode", "--disable-locks"])
            .args(&format.keyslot_args)
            .arg("--volume-key-file")
            .arg(volume_key_file.path())
            .arg(&header_path)
            .arg(key_path.path());
        command::run("adding a key file to a LUKS header", &mut cmd)?;
    }
    drop(volume_key_file);

    let mut header = vec![0u8; offset as usize];
    header_file
        .read_exact_at(&mut header, 0)
        .map_err(|e| io_error("reading the LUKS header cryptsetup made", e))?;
    let uuid = inspect(&header, spec.version, offset, format.key_bytes)?;

    let xts = Xts::new(&volume_key);
    drop(volume_key);
    encrypt_in_place(&disk_file, start + offset, size - offset, &xts).map_err(|e| {
        io_error(
            format!("encrypting a LUKS payload in {}", disk.display()),
            e,
        )
    })?;
    disk_file
        .write_all_at(&header, start)
        .map_err(|e| io_error(format!("writing a LUKS header into {}", disk.display()), e))?;
    tracing::debug!(
        disk = %disk.display(),
        start,
        size,
        version = spec.version.type_name(),
        %uuid,
        "LUKS container written"
    );
    Ok(uuid)
}

/// An [`io::Error`] saying what was being done.
fn io_error(what: impl fmt::Display, e: io::Error) -> ToolError {
    ToolError::Io(io::Error::new(e.kind(), format!("{what}: {e}")))
}

// ---- the spec, checked ----------------------------------------------------

/// A spec as cryptsetup gets it.
#[derive(Debug)]
struct Checked {
    /// `luksFormat` arguments beyond the host's own.
    args: Vec<String>,
    /// The key slot settings, repeated for `luksAddKey`.
    keyslot_args: Vec<String>,
    /// The volume key's length: 64 (AES-256-XTS) or 32 (AES-128-XTS).
    key_bytes: usize,
    /// The UUID asked for, in lower case.
    uuid: Option<String>,
}

/// The form an option's value must have.
enum Value {
    /// None: a flag.
    Flag,
    /// Decimal digits.
    Number,
    /// One word of the list; the reason when it is not.
    OneOf(&'static [&'static str], &'static str),
    /// A LUKS2 header string: printable, at most [`LABEL_MAX`] bytes.
    Text,
}

/// An allowed `luksFormat` option.
struct LuksOpt {
    /// Its spellings; the first is passed on.
    names: &'static [&'static str],
    /// What its value must be.
    value: Value,
    /// A key slot setting, given to `luksAddKey` too.
    keyslot: bool,
    /// Stored in the LUKS2 header only (LUKS1 has no such field).
    luks2_only: bool,
}

/// An allowed option, `keyslot` when `luksAddKey` takes it too.
const fn opt(names: &'static [&'static str], value: Value, keyslot: bool) -> LuksOpt {
    LuksOpt {
        names,
        value,
        keyslot,
        luks2_only: false,
    }
}

/// An allowed option whose value is a LUKS2 header string.
const fn luks2_text(names: &'static [&'static str]) -> LuksOpt {
    LuksOpt {
        names,
        value: Value::Text,
        keyslot: false,
        luks2_only: true,
    }
}

/// Why another cipher is refused.
const HOST_CIPHER: &str =
    "the host encrypts the payload itself, with AES-XTS and plain64 IVs (aes-xts-plain64)";
/// Why another key size is refused.
const HOST_KEY_SIZE: &str =
    "the payload is encrypted with AES-XTS: 512 bits (AES-256-XTS) or 256 bits (AES-128-XTS)";

/// The `luksFormat` options a description may give.
const ALLOWED: &[LuksOpt] = &[
    opt(
        &["--cipher", "-c"],
        Value::OneOf(&[CIPHER], HOST_CIPHER),
        false,
    ),
    opt(
        &["--key-size", "-s"],
        Value::OneOf(&["512", "256"], HOST_KEY_SIZE),
        false,
    ),
    opt(
        &["--hash", "-h"],
        Value::OneOf(HASHES, "not a hash cryptsetup knows"),
        true,
    ),
    opt(
        &["--pbkdf"],
        Value::OneOf(PBKDFS, "not one of pbkdf2, argon2i, argon2id"),
        true,
    ),
    opt(&["--pbkdf-memory"], Value::Number, true),
    opt(&["--pbkdf-parallel"], Value::Number, true),
    opt(&["--pbkdf-force-iterations"], Value::Number, true),
    opt(&["--iter-time", "-i"], Value::Number, true),
    opt(&["--use-urandom"], Value::Flag, false),
    opt(&["--use-random"], Value::Flag, false),
    luks2_text(&["--label"]),
    luks2_text(&["--subsystem"]),
];

/// Options refused with a reason of their own (space-separated spellings,
/// reason); anything else unknown is refused as such.
const REFUSED: &[(&str, &str)] = &[
    ("--type -M", "give the LUKS version as the luks version"),
    ("--uuid", "the host sets the UUID (give it as the uuid)"),
    (
        "--offset -o --align-payload --luks2-metadata-size --luks2-keyslots-size \
         --reduce-device-size --device-size --size -b",
        "the host places the header and the payload itself",
    ),
    (
        "--sector-size",
        "the host encrypts the payload in 512-byte sectors",
    ),
    (
        "--header --header-backup-file --detached-header",
        "the header is written into the partition by the host",
    ),
    (
        "--key-file -d --keyfile-size -l --keyfile-offset --new-keyfile \
         --new-keyfile-size --new-keyfile-offset --master-key-file --volume-key-file \
         --volume-key-keyring --key-slot -S --key-description --token-id --token-only \
         --token-type",
        "the host gives the keys and assigns the key slots itself (the passphrase and \
         the key file)",
    ),
    (
        "--integrity --integrity-no-journal --integrity-no-wipe --integrity-legacy-padding",
        "the host encrypts the payload without integrity protection",
    ),
];

/// Parses and checks `spec` into what cryptsetup gets.
fn checked(spec: &LuksSpec) -> Result<Checked, ToolError> {
    if spec.passphrase.is_empty() {
        return invalid("a LUKS container needs a passphrase; it is empty");
    }
    if spec.passphrase.len() > KEY_FILE_MAX {
        return invalid("the LUKS passphrase is longer than cryptsetup reads (8 MiB)");
    }
    if let Some(key) = &spec.key_file {
        if key.is_empty() {
            return invalid("the LUKS key file is empty");
        }
        if key.len() > KEY_FILE_MAX {
            return invalid(format!(
                "the LUKS key file ({} bytes) is larger than cryptsetup reads (8 MiB)",
                key.len()
            ));
        }
    }
    let uuid = spec.uuid.as_deref().map(options::uuid).transpose()?;
    let luks1_pbkdf = |value: &str| -> Result<(), Refused> {
        if spec.version == LuksVersion::Luks1 && value != "pbkdf2" {
            return Err(Refused {
                what: format!("LUKS pbkdf `{}`", shown(value)),
                reason: "LUKS1 key slots use pbkdf2 only".into(),
            });
        }
        Ok(())
    };
    if let Some(pbkdf) = &spec.pbkdf {
        if !PBKDFS.contains(&pbkdf.as_str()) {
            return Err(Refused {
                what: format!("LUKS pbkdf `{}`", shown(pbkdf)),
                reason: "not one of pbkdf2, argon2i, argon2id".into(),
            }
            .into());
        }
        luks1_pbkdf(pbkdf)?;
    }

    let option = |text: &str| format!("cryptsetup option `{}`", shown(text));
    let mut out = Checked {
        args: Vec::new(),
        keyslot_args: Vec::new(),
        key_bytes: 64,
        uuid,
    };
    let mut pbkdf = spec.pbkdf.clone();
    let mut randoms = 0;
    let mut rest = spec.format_options.iter();
    while let Some(token) = rest.next() {
        if token.chars().any(char::is_control) {
            return Err(Refused {
                what: option(token),
                reason: "it holds a control character (a NUL byte, a line break or the like)"
                    .into(),
            }
            .into());
        }
        if !token.starts_with('-') || token == "-" || token == "--" {
            return Err(Refused {
                what: format!("cryptsetup argument `{}`", shown(token)),
                reason: "only options are passed on; the host names the device itself".into(),
            }
            .into());
        }
        let (name, glued) = match token.split_once('=') {
            Some((n, v)) if token.starts_with("--") => (n, Some(v)),
            _ => (token.as_str(), None),
        };
        let Some(allowed) = ALLOWED.iter().find(|o| o.names.contains(&name)) else {
            let reason = REFUSED
                .iter()
                .find(|(names, _)| names.split_whitespace().any(|n| n == name))
                .map_or("not an option the host passes on", |(_, reason)| *reason);
            return Err(Refused {
                what: option(token),
                reason: reason.into(),
            }
            .into());
        };
        let canonical = allowed.names[0];
        if allowed.luks2_only && spec.version == LuksVersion::Luks1 {
            // cryptsetup takes it and ignores it, as with KIWI.
            tracing::warn!("LUKS1 headers have no label nor subsystem: `{canonical}` is ignored");
        }
        let value = match (&allowed.value, glued) {
            (Value::Flag, Some(_)) => {
                return Err(Refused {
                    what: option(token),
                    reason: "it takes no value".into(),
                }
                .into())
            }
            (Value::Flag, None) => None,
            (_, Some(value)) => Some(value),
            (_, None) => match rest.next() {
                Some(value) => Some(value.as_str()),
                None => {
                    return Err(Refused {
                        what: option(token),
                        reason: "it needs a value".into(),
                    }
                    .into())
                }
            },
        };
        if let Some(value) = value {
            let what = || option(&format!("{name} {value}"));
            let fail = |reason: String| -> ToolError {
                Refused {
                    what: what(),
                    reason,
                }
                .into()
            };
            let v = shown(value);
            match &allowed.value {
                Value::Flag => {}
                Value::Number => {
                    if value.is_empty()
                        || value.len() > 10
                        || !value.bytes().all(|b| b.is_ascii_digit())
                    {
                        return Err(fail(format!("`{v}` is not a number")));
                    }
                }
                Value::OneOf(words, reason) => {
                    if !words.contains(&value) {
                        return Err(fail(format!("`{v}`: {reason}")));
                    }
                }
                Value::Text => {
                    if value.is_empty()
                        || value.len() > LABEL_MAX
                        || value.chars().any(char::is_control)
                    {
                        return Err(fail(format!(
                            "`{v}` is not a LUKS2 header string (1 to {LABEL_MAX} bytes, \
                             no control characters)"
                        )));
                    }
                }
            }
            match canonical {
                // The host passes the cipher and key size itself.
                "--cipher" => continue,
                "--key-size" => {
                    out.key_bytes = if value == "256" { 32 } else { 64 };
                    continue;
                }
                "--pbkdf" => {
                    luks1_pbkdf(value)?;
                    if let Some(given) = &pbkdf {
                        if given != value {
                            return Err(fail(format!(
                                "the pbkdf is also given as `{}`",
                                shown(given)
                            )));
                        }
                        continue;
                    }
                    pbkdf = Some(value.to_string());
                    continue;
                }
                _ => {}
            }
            let arg = format!("{canonical}={value}");
            if allowed.keyslot {
                out.keyslot_args.push(arg.clone());
            }
            out.args.push(arg);
        } else {
            if canonical.starts_with("--use-") {
                randoms += 1;
                if randoms > 1 {
                    return Err(Refused {
                        what: option(token),
                        reason: "--use-random and --use-urandom exclude each other".into(),
                    }
                    .into());
                }
            }
            out.args.push(canonical.to_string());
        }
    }
    if let Some(pbkdf) = pbkdf {
        let arg = format!("--pbkdf={pbkdf}");
        out.keyslot_args.insert(0, arg.clone());
        out.args.insert(0, arg);
    }
    Ok(out)
}

// ---- the header ------------------------------------------------------------

/// The UUID of the LUKS header `header` (the region before the payload),
/// once checked that it is what the payload will be encrypted for: the
/// version asked, the payload at `offset`, aes-xts-plain64 with a
/// `key_bytes` key, 512-byte sectors, no IV offset.
fn inspect(
    header: &[u8],
    version: LuksVersion,
    offset: u64,
    key_bytes: usize,
) -> Result<String, ToolError> {
    let wrong = |what: String| -> ToolError {
        ToolError::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the LUKS header cryptsetup made is not what was asked: {what}"),
        ))
    };
    if header.len() < 4096 || &header[..6] != b"LUKS\xba\xbe" {
        return Err(wrong("no LUKS magic".into()));
    }
    let found = u16::from_be_bytes([header[6], header[7]]);
    if found != version.number() {
        return Err(wrong(format!("version {found}")));
    }
    // Both versions keep the UUID at byte 168, NUL-terminated.
    let text = |range: std::ops::Range<usize>| -> String {
        let field = &header[range];
        let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
        String::from_utf8_lossy(&field[..end]).into_owned()
    };
    let uuid = text(168..208);
    options::uuid(&uuid).map_err(|e| wrong(e.to_string()))?;
    match version {
        LuksVersion::Luks1 => {
            let be32 = |at: usize| {
                u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
            };
            let cipher = format!("{}-{}", text(8..40), text(40..72));
            if cipher != CIPHER {
                return Err(wrong(format!("cipher {cipher}")));
            }
            let payload = u64::from(be32(104)) * SECTOR_SIZE;
            if payload != offset {
                return Err(wrong(format!("payload at byte {payload}")));
            }
            let bytes = be32(108) as usize;
            if bytes != key_bytes {
                return Err(wrong(format!("a {bytes}-byte volume key")));
            }
        }
        LuksVersion::Luks2 => {
            let mut size = [0u8; 8];
            size.copy_from_slice(&header[8..16]);
            let size = u64::from_be_bytes(size) as usize;
            if !(4096 + 2..=header.len()).contains(&size) {
                return Err(wrong(format!("a header of {size} bytes")));
            }
            let area = &header[4096..size];
            let end = area.iter().position(|&b| b == 0).unwrap_or(area.len());
            let json: serde_json::Value = serde_json::from_slice(&area[..end])
                .map_err(|e| wrong(format!("its JSON metadata: {e}")))?;
            let segments = json["segments"]
                .as_object()
                .filter(|s| s.len() == 1)
                .ok_or_else(|| wrong("not one data segment".into()))?;
            let segment = segments
                .values()
                .next()
                .ok_or_else(|| wrong("no data segment".into()))?;
            let field = |name: &str| segment[name].to_string();
            let expected = [
                ("type", "\"crypt\"".to_string()),
                ("offset", format!("\"{offset}\"")),
                ("size", "\"dynamic\"".to_string()),
                ("iv_tweak", "\"0\"".to_string()),
                ("encryption", format!("\"{CIPHER}\"")),
                ("sector_size", SECTOR_SIZE.to_string()),
            ];
            for (name, value) in expected {
                if field(name) != value {
                    return Err(wrong(format!("segment {name} {}", field(name))));
                }
            }
            let keyslots = json["keyslots"]
                .as_object()
                .ok_or_else(|| wrong("no key slots".into()))?;
            for (n, slot) in keyslots {
                if slot["key_size"].as_u64() != Some(key_bytes as u64) {
                    return Err(wrong(format!("key slot {n} of another key size")));
                }
            }
        }
    }
    Ok(uuid)
}

// ---- the payload -----------------------------------------------------------

/// AES of the size of half the volume key.
enum Aes {
    /// From a 256-bit volume key (AES-128-XTS).
    Aes128(Aes128),
    /// From a 512-bit volume key (AES-256-XTS).
    Aes256(Aes256),
}

impl Aes {
    /// AES keyed with `key` (16 or 32 bytes).
    fn new(key: &[u8]) -> Aes {
        if key.len() == 16 {
            Aes::Aes128(Aes128::new_from_slice(key).expect("a 16-byte key"))
        } else {
            Aes::Aes256(Aes256::new_from_slice(key).expect("a 32-byte key"))
        }
    }

    /// Encrypts `blocks` in place, independently of each other (the
    /// crate's parallel-blocks backends: AES-NI, VAES).
    fn encrypt_blocks(&self, blocks: &mut [Block]) {
        match self {
            Aes::Aes128(aes) => aes.encrypt_blocks(blocks),
            Aes::Aes256(aes) => aes.encrypt_blocks(blocks),
        }
    }
}

/// XTS-AES (IEEE 1619) over 512-byte sectors with plain64 tweaks, as
/// dm-crypt's `aes-xts-plain64` computes it.
///
/// The AES is the `aes` crate's; only the mode is spelled out here, so that
/// whole runs of blocks go through AES at once (its AES-NI and VAES
/// backends): the `xts-mode` crate encrypts a block at a time, some
/// 25 MB/s in a debug build and 300 MB/s in a release one on this
/// project's machines, against 350 MB/s and 4 GB/s here. (Its generic
/// code, like `aes`'s inline code, is compiled into this crate at this
/// crate's optimisation level: a profile override for those crates changes
/// nothing.) The tests check this against `xts-mode` and against
/// OpenSSL's AES.
struct Xts {
    /// Keyed with the volume key's first half: encrypts the data.
    data: Aes,
    /// Keyed with its second half: encrypts the sector numbers into tweaks.
    tweak: Aes,
}

/// Sectors encrypted together: their tweaks fit in the L1 cache.
const BATCH_SECTORS: usize = 64;
/// 16-byte blocks in a sector.
const SECTOR_BLOCKS: usize = SECTOR_SIZE as usize / 16;

impl Xts {
    /// XTS keyed with `key` (32 or 64 bytes): its first half keys the data
    /// cipher, the second the tweak cipher, as dm-crypt splits it.
    fn new(key: &[u8]) -> Xts {
        let (data, tweak) = key.split_at(key.len() / 2);
        Xts {
            data: Aes::new(data),
            tweak: Aes::new(tweak),
        }
    }

    /// Encrypts `buf` (whole sectors) in place, its first sector the
    /// payload's sector `first`.
    ///
    /// Plain loops over indices: the debug builds the tests use run them
    /// unoptimised, where iterator adapters cost more than the AES.
    fn encrypt(&self, buf: &mut [u8], first: u64) {
        let sector = SECTOR_SIZE as usize;
        debug_assert_eq!(buf.len() % sector, 0);
        // Key-derived: wiped once used.
        let mut tweaks = Zeroizing::new(vec![0u128; BATCH_SECTORS * SECTOR_BLOCKS]);
        let mut starts = Zeroizing::new(vec![[0u8; 16]; BATCH_SECTORS]);
        for (n, run) in buf.chunks_mut(BATCH_SECTORS * sector).enumerate() {
            let sectors = run.len() / sector;
            let first = u128::from(first) + (n * BATCH_SECTORS) as u128;
            // Each sector's first tweak: its number, little-endian (plain64),
            // encrypted with the tweak key.
            let (starts, _) = Block::slice_as_chunks_mut(starts.as_flattened_mut());
            let starts = &mut starts[..sectors];
            let mut i = 0;
            while i < sectors {
                starts[i].0 = (first + i as u128).to_le_bytes();
                i += 1;
            }
            self.tweak.encrypt_blocks(starts);
            // Each block XORed with its tweak, the tweak of the next block
            // of the sector being this one's times x in GF(2^128),
            // little-endian; then encrypted, then XORed again.
            let (blocks, rest) = Block::slice_as_chunks_mut(run);
            debug_assert!(rest.is_empty());
            let count = blocks.len();
            let tweaks = &mut tweaks[..count];
            let mut j = 0;
            while j < count {
                let mut t = u128::from_le_bytes(starts[j / SECTOR_BLOCKS].0);
                let end = j + SECTOR_BLOCKS;
                while j < end {
                    tweaks[j] = t;
                    let block = &mut blocks[j].0;
                    *block = (u128::from_le_bytes(*block) ^ t).to_le_bytes();
                    t = (t << 1) ^ ((t >> 127).wrapping_neg() & 0x87);
                    j += 1;
                }
            }
            self.data.encrypt_blocks(blocks);
            let mut j = 0;
            while j < count {
                let block = &mut blocks[j].0;
                *block = (u128::from_le_bytes(*block) ^ tweaks[j]).to_le_bytes();
                j += 1;
            }
        }
    }
}

/// Encrypts the `len` bytes of `disk` from `from` in place, a chunk at a
/// time, the sector at `from` being the payload's sector 0.
///
/// One thread: at some 4 GB/s in a release build (350 MB/s in a debug
/// one) the disk is the bottleneck, and on this project's machines (two
/// virtual cores) two threads encrypted no faster than one.
fn encrypt_in_place(disk: &File, from: u64, len: u64, xts: &Xts) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    let mut done = 0u64;
    while done < len {
        crate::interrupt::check_stop("encrypting a LUKS payload").map_err(io::Error::other)?;
        let n = (len - done).min(CHUNK as u64) as usize;
        let chunk = &mut buf[..n];
        disk.read_exact_at(chunk, from + done)?;
        xts.encrypt(chunk, done / SECTOR_SIZE);
        disk.write_all_at(chunk, from + done)?;
        done += n as u64;
    }
    Ok(())
}

// ---- secrets on disk -------------------------------------------------------

/// A file holding a secret (mode 0600): overwritten with zeros and removed
/// when dropped, on error too.
struct Secret {
    /// Where it is.
    path: PathBuf,
    /// How long the secret is.
    len: usize,
}

impl Secret {
    /// Writes `data` into a new file at `path`.
    fn create(path: PathBuf, data: &[u8]) -> io::Result<Secret> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        let secret = Secret {
            path,
            len: data.len(),
        };
        file.write_all(data)?;
        Ok(secret)
    }

    /// Where it is.
    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        if let Ok(file) = OpenOptions::new().write(true).open(&self.path) {
            let _ = file.write_all_at(&vec![0; self.len], 0);
            let _ = file.sync_data();
        }
        if let Err(e) = std::fs::remove_file(&self.path) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(path = %self.path.display(), "could not remove a secret file: {e}");
            }
        }
    }
}

/// An unlinked file a secret was given to a command through: overwritten
/// and emptied when dropped.
struct Wiped {
    /// A handle on the file.
    file: File,
    /// How long the secret is.
    len: usize,
}

impl Drop for Wiped {
    fn drop(&mut self) {
        let _ = self.file.write_all_at(&vec![0; self.len], 0);
        let _ = self.file.set_len(0);
    }
}

/// An unlinked temporary file holding `data`, positioned at its start, for
/// a command's standard input, and its wiper.
fn secret_stdin(data: &[u8]) -> io::Result<(File, Wiped)> {
    let mut file = command::temp_file()?;
    let wiped = Wiped {
        file: file.try_clone()?,
        len: data.len(),
    };
    file.write_all(data)?;
    file.seek(SeekFrom::Start(0))?;
    Ok((file, wiped))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::process::Stdio;

    const MIB: u64 = 1 << 20;
    const PASSPHRASE: &str = "correct horse battery staple";
    const KEY_FILE: &[u8] = b"\x00\x01key file bytes\xff\n";
    const FAST: [&str; 4] = ["--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"];

    /// Whether `program` runs; if not, one line saying the test is skipped.
    pub(crate) fn have(program: &str, args: &[&str]) -> bool {
        let ok = Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !ok {
            eprintln!("skipped: `{program}` is not installed on this host");
        }
        ok
    }

    /// A spec whose key slots are quick to make (and to break).
    pub(crate) fn fast_spec(version: LuksVersion) -> LuksSpec {
        LuksSpec {
            format_options: FAST.iter().map(|s| s.to_string()).collect(),
            ..LuksSpec::new(PASSPHRASE, version)
        }
    }

    /// Varied bytes, the same for the same seed.
    fn pattern(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    /// Runs `program` with `input` on stdin; its stdout, or its failure.
    pub(crate) fn output(program: &str, args: &[&str], input: &[u8]) -> Result<Vec<u8>, String> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(format!(
                "{program} {args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// AES-ECB of `data` with `key` by the openssl command (`decrypt` or not).
    fn openssl_ecb(key: &[u8], data: &[u8], decrypt: bool) -> Vec<u8> {
        let cipher = format!("-aes-{}-ecb", key.len() * 8);
        let hex_key = hex::encode(key);
        let mode = if decrypt { "-d" } else { "-e" };
        output(
            "openssl",
            &["enc", mode, &cipher, "-K", &hex_key, "-nopad"],
            data,
        )
        .unwrap()
    }

    /// XTS-decrypts `sectors` (each 512 bytes, `first` the payload sector
    /// number of the first) with `key`, the AES work done by openssl:
    /// openssl 3's `enc` refuses XTS, so its ECB mode encrypts the
    /// plain64 IVs (the tweaks) and decrypts the blocks the tweaks were
    /// XORed into, as IEEE 1619 defines it.
    pub(crate) fn openssl_xts_decrypt(key: &[u8], ciphertext: &[u8], first: u64) -> Vec<u8> {
        let (k1, k2) = key.split_at(key.len() / 2);
        let sectors = ciphertext.len() / 512;
        let ivs: Vec<u8> = (0..sectors)
            .flat_map(|s| (u128::from(first) + s as u128).to_le_bytes())
            .collect();
        let tweaks0 = openssl_ecb(k2, &ivs, false);
        let mut tweaks = Vec::with_capacity(ciphertext.len());
        for s in 0..sectors {
            let mut t = u128::from_le_bytes(tweaks0[s * 16..s * 16 + 16].try_into().unwrap());
            for _ in 0..32 {
                tweaks.extend_from_slice(&t.to_le_bytes());
                t = (t << 1) ^ if t >> 127 == 1 { 0x87 } else { 0 };
            }
        }
        let xored: Vec<u8> = ciphertext.iter().zip(&tweaks).map(|(c, t)| c ^ t).collect();
        let decrypted = openssl_ecb(k1, &xored, true);
        decrypted.iter().zip(&tweaks).map(|(p, t)| p ^ t).collect()
    }

    /// The volume key of the container in `partition`, dumped by cryptsetup.
    pub(crate) fn dumped_volume_key(partition: &Path) -> Vec<u8> {
        let out = output(
            "cryptsetup",
            &[
                "luksDump",
                "--dump-volume-key",
                "--batch-mode",
                "--key-file",
                "-",
                partition.to_str().unwrap(),
            ],
            PASSPHRASE.as_bytes(),
        )
        .unwrap();
        let out = String::from_utf8(out).unwrap();
        let start = out.find("MK dump:").expect("a key dump") + "MK dump:".len();
        let hex: String = out[start..]
            .split_whitespace()
            .take_while(|w| w.len() == 2 && w.bytes().all(|b| b.is_ascii_hexdigit()))
            .collect();
        hex::decode(hex).unwrap()
    }

    /// Seals a 40 MiB disk's partition at 1 MiB (an ext4 and a pattern in
    /// the payload, the rest a hole) and checks it with cryptsetup and
    /// openssl; `key_size` 512 or 256.
    fn sealed_container_opens_and_decrypts(version: LuksVersion, key_size: &str) {
        if !have("cryptsetup", &["--version"])
            || !have("openssl", &["version"])
            || !have("mke2fs", &["-V"])
        {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let disk = tmp.path().join("disk.img");
        let (start, size) = (MIB, 38 * MIB);
        let offset = payload_offset(version);
        let payload = (size - offset) as usize;
        File::create(&disk).unwrap().set_len(40 * MIB).unwrap();
        // Beyond the partition: must stay as it is.
        let outside = pattern(512, 7);
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&disk)
            .unwrap();
        f.write_all_at(&outside, start - 512).unwrap();
        f.write_all_at(&outside, start + size).unwrap();
        // An ext4 of 4 MiB at the payload, then a pattern of 3 MiB.
        let fs_offset = (start + offset).to_string();
        command::run(
            "test mke2fs",
            Command::new("mke2fs")
                .args(["-q", "-F", "-t", "ext4", "-E"])
                .arg(format!("offset={fs_offset}"))
                .arg(&disk)
                .arg("4M"),
        )
        .unwrap();
        let data = pattern(3 * MIB as usize, 42);
        f.write_all_at(&data, start + offset + 4 * MIB).unwrap();
        let mut plaintext = vec![0u8; payload];
        f.read_exact_at(&mut plaintext, start + offset).unwrap();
        drop(f);

        let uuid = "0F3B2A1C-4D5E-4F60-8172-93A4B5C6D7E8";
        let mut spec = fast_spec(version);
        spec.uuid = Some(uuid.into());
        spec.key_file = Some(KEY_FILE.to_vec());
        spec.format_options
            .extend(["--key-size".to_string(), key_size.to_string()]);
        spec.format_options.push(format!("--cipher={CIPHER}"));
        let got = seal(&disk, start, size, &spec).unwrap();
        assert_eq!(got, uuid.to_ascii_lowercase());

        let f = File::open(&disk).unwrap();
        let mut around = vec![0u8; 512];
        f.read_exact_at(&mut around, start - 512).unwrap();
        assert_eq!(around, outside, "the sector before the partition changed");
        f.read_exact_at(&mut around, start + size).unwrap();
        assert_eq!(around, outside, "the sector after the partition changed");
        let mut partition_bytes = vec![0u8; size as usize];
        f.read_exact_at(&mut partition_bytes, start).unwrap();
        let partition = tmp.path().join("partition.img");
        std::fs::write(&partition, &partition_bytes).unwrap();
        let part = partition.to_str().unwrap();

        // The header, as cryptsetup reads it.
        let dump =
            String::from_utf8(output("cryptsetup", &["luksDump", part], b"").unwrap()).unwrap();
        let line = |key: &str| {
            dump.lines()
                .find_map(|l| l.trim_start().strip_prefix(key))
                .map(|v| v.trim().to_string())
                .unwrap_or_else(|| panic!("no {key} in\n{dump}"))
        };
        assert_eq!(line("Version:"), version.number().to_string(), "{dump}");
        assert_eq!(line("UUID:"), uuid.to_ascii_lowercase(), "{dump}");
        match version {
            LuksVersion::Luks1 => {
                assert_eq!(line("Cipher name:"), "aes", "{dump}");
                assert_eq!(line("Cipher mode:"), "xts-plain64", "{dump}");
                assert_eq!(line("Payload offset:"), "4096", "{dump}");
                assert_eq!(line("MK bits:"), key_size, "{dump}");
                assert_eq!(dump.matches(": ENABLED").count(), 2, "{dump}");
            }
            LuksVersion::Luks2 => {
                assert_eq!(line("cipher:"), CIPHER, "{dump}");
                assert_eq!(line("offset:"), "16777216 [bytes]", "{dump}");
                assert_eq!(line("sector:"), "512 [bytes]", "{dump}");
                assert_eq!(dump.matches(": luks2").count(), 2, "{dump}");
            }
        }

        // The passphrase and the key file open it; another passphrase does not.
        let test = |args: &[&str], input: &[u8]| {
            let mut all = vec!["luksOpen", "--test-passphrase"];
            all.extend_from_slice(args);
            all.push(part);
            output("cryptsetup", &all, input)
        };
        test(&["--key-file", "-"], PASSPHRASE.as_bytes()).unwrap();
        let key_path = tmp.path().join("keyfile");
        std::fs::write(&key_path, KEY_FILE).unwrap();
        test(&["--key-file", key_path.to_str().unwrap()], b"").unwrap();
        assert!(test(&["--key-file", "-"], b"wrong passphrase").is_err());

        // The payload decrypts to the plaintext, by openssl's AES.
        let key = dumped_volume_key(&partition);
        assert_eq!(key.len() * 8, key_size.parse::<usize>().unwrap());
        let ciphertext = &partition_bytes[offset as usize..];
        let sectors = payload / 512;
        for sector in [
            0,
            2,
            1,
            sectors / 2,
            (4 * MIB / 512) as usize + 5,
            sectors - 1,
        ] {
            let c = &ciphertext[sector * 512..(sector + 1) * 512];
            let p = &plaintext[sector * 512..(sector + 1) * 512];
            assert_ne!(c, p, "sector {sector} is not encrypted");
            assert_eq!(
                openssl_xts_decrypt(&key, c, sector as u64),
                p,
                "sector {sector} does not decrypt to the plaintext"
            );
        }
        // All of it, at once.
        let decrypted = openssl_xts_decrypt(&key, ciphertext, 0);
        assert!(decrypted == plaintext, "the payload does not decrypt");
        // And the filesystem in it is whole.
        let fs = tmp.path().join("fs.img");
        std::fs::write(&fs, &decrypted[..4 * MIB as usize]).unwrap();
        if have("e2fsck", &["-V"]) {
            command::run(
                "test e2fsck",
                Command::new("e2fsck").args(["-f", "-n"]).arg(&fs),
            )
            .unwrap();
        }
    }

    #[test]
    fn luks1_container_opens_and_decrypts() {
        sealed_container_opens_and_decrypts(LuksVersion::Luks1, "512");
    }

    #[test]
    fn luks2_container_opens_and_decrypts() {
        sealed_container_opens_and_decrypts(LuksVersion::Luks2, "512");
    }

    #[test]
    fn luks2_with_aes128_xts_opens_and_decrypts() {
        sealed_container_opens_and_decrypts(LuksVersion::Luks2, "256");
    }

    #[test]
    fn payload_offsets_are_fixed() {
        assert_eq!(payload_offset(LuksVersion::Luks1), 2 * MIB);
        assert_eq!(payload_offset(LuksVersion::Luks2), 16 * MIB);
        assert_eq!(LuksVersion::parse("luks").unwrap(), LuksVersion::Luks2);
        assert_eq!(LuksVersion::parse("luks1").unwrap(), LuksVersion::Luks1);
        assert!(LuksVersion::parse("luks3").is_err());
        // A header that is not one is not taken for one.
        let err = inspect(&[0; 8192], LuksVersion::Luks2, 16 * MIB, 64).unwrap_err();
        assert!(err.to_string().contains("no LUKS magic"), "{err}");
    }

    /// The message of the refusal of `spec` (which must be refused).
    fn refusal(spec: &LuksSpec) -> String {
        let err = validate(spec).unwrap_err();
        assert!(matches!(err, ToolError::Invalid(_)), "{err:?}");
        let text = err.to_string();
        assert!(!text.contains(PASSPHRASE), "{text}");
        text
    }

    /// [`fast_spec`] with `extra` format options.
    fn with_options(version: LuksVersion, extra: &[&str]) -> LuksSpec {
        let mut spec = fast_spec(version);
        spec.format_options
            .extend(extra.iter().map(|s| s.to_string()));
        spec
    }

    #[test]
    fn format_options_are_checked_against_the_allowlist() {
        use LuksVersion::*;
        // Accepted, each option in its own spelling.
        let spec = with_options(
            Luks2,
            &[
                "-c",
                CIPHER,
                "--key-size=256",
                "--hash",
                "sha512",
                "--iter-time",
                "100",
                "--use-urandom",
                "--label",
                "root fs",
                "--subsystem=builder",
                "--pbkdf-memory",
                "65536",
                "--pbkdf-parallel",
                "2",
            ],
        );
        let checked = checked(&spec).unwrap();
        assert_eq!(checked.key_bytes, 32);
        assert_eq!(
            checked.args,
            [
                "--pbkdf=pbkdf2",
                "--pbkdf-force-iterations=1000",
                "--hash=sha512",
                "--iter-time=100",
                "--use-urandom",
                "--label=root fs",
                "--subsystem=builder",
                "--pbkdf-memory=65536",
                "--pbkdf-parallel=2",
            ]
        );
        assert_eq!(
            checked.keyslot_args,
            [
                "--pbkdf=pbkdf2",
                "--pbkdf-force-iterations=1000",
                "--hash=sha512",
                "--iter-time=100",
                "--pbkdf-memory=65536",
                "--pbkdf-parallel=2",
            ]
        );

        // Refused, the option named.
        for (extra, needle) in [
            (&["--header", "/etc/shadow"][..], "`--header`"),
            (&["--offset", "0"], "places the header"),
            (&["--sector-size", "4096"], "512-byte sectors"),
            (&["--type", "plain"], "luks version"),
            (
                &["--uuid", "0f3b2a1c-4d5e-4f60-8172-93a4b5c6d7e8"],
                "`--uuid`",
            ),
            (&["--key-file=/etc/shadow"], "`--key-file=/etc/shadow`"),
            (&["--integrity", "hmac-sha256"], "integrity"),
            (&["--debug"], "`--debug` is refused: not an option"),
            (&["/dev/sda"], "argument `/dev/sda`"),
            (
                &["--cipher", "aes-cbc-essiv:sha256"],
                "aes-cbc-essiv:sha256",
            ),
            (&["--cipher=serpent-xts-plain64"], "AES-XTS"),
            (&["--key-size", "128"], "`128`"),
            (&["--key-size", "1024"], "AES-256-XTS"),
            (&["--hash", "md5"], "`md5`"),
            (&["--pbkdf", "scrypt"], "`scrypt`"),
            (&["--iter-time", "1s"], "not a number"),
            (&["--label", "a\nb"], "control character"),
            (&["--label", &"x".repeat(48)], "LUKS2 header string"),
            (&["--use-urandom=yes"], "takes no value"),
            (&["--use-urandom", "--use-random"], "exclude each other"),
            (&["--hash"], "needs a value"),
            (&["--pbkdf", "argon2id"], "also given"),
        ] {
            let mut spec = with_options(Luks2, extra);
            spec.pbkdf = Some("pbkdf2".into());
            let text = refusal(&spec);
            assert!(text.contains(needle), "{extra:?}: {text}");
            assert!(text.contains("refused"), "{extra:?}: {text}");
        }
        // LUKS1: labels taken (and ignored, as cryptsetup does), pbkdf2 only.
        assert!(validate(&with_options(Luks1, &["--label", "x"])).is_ok());
        let mut spec = LuksSpec::new(PASSPHRASE, Luks1);
        spec.pbkdf = Some("argon2id".into());
        assert!(refusal(&spec).contains("pbkdf2 only"));
        let spec = LuksSpec {
            format_options: vec!["--pbkdf=argon2i".into()],
            ..LuksSpec::new(PASSPHRASE, Luks1)
        };
        assert!(refusal(&spec).contains("pbkdf2 only"));
        let mut spec = LuksSpec::new(PASSPHRASE, Luks2);
        spec.pbkdf = Some("bcrypt".into());
        assert!(refusal(&spec).contains("`bcrypt`"));
    }

    #[test]
    fn bad_uuids_passphrases_and_key_files_are_refused() {
        for bad in ["not-a-uuid", "0f3b2a1c4d5e4f60817293a4b5c6d7e8", ""] {
            let mut spec = fast_spec(LuksVersion::Luks2);
            spec.uuid = Some(bad.into());
            assert!(refusal(&spec).contains("UUID"), "{bad}");
        }
        let spec = LuksSpec::new("", LuksVersion::Luks2);
        assert!(refusal(&spec).contains("passphrase"));
        let mut spec = fast_spec(LuksVersion::Luks1);
        spec.key_file = Some(Vec::new());
        assert!(refusal(&spec).contains("key file"));
    }

    #[test]
    fn bad_partitions_are_refused_before_anything_is_written() {
        let tmp = tempfile::tempdir().unwrap();
        let disk = tmp.path().join("disk.img");
        File::create(&disk).unwrap().set_len(20 * MIB).unwrap();
        let spec = fast_spec(LuksVersion::Luks2);
        for (start, size, needle) in [
            (MIB, 16 * MIB, "too small"),
            (MIB, 17 * MIB + 1, "sector"),
            (MIB + 1, 17 * MIB, "sector"),
            (MIB, 20 * MIB, "past the end"),
        ] {
            let err = seal(&disk, start, size, &spec).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, ToolError::Invalid(_)), "{text}");
            assert!(text.contains(needle), "{text}");
        }
        // Nothing was written.
        let f = File::open(&disk).unwrap();
        let mut head = vec![0u8; 2 * MIB as usize];
        f.read_exact_at(&mut head, 0).unwrap();
        assert!(head.iter().all(|&b| b == 0));
    }

    #[test]
    fn the_passphrase_stays_out_of_errors_and_debug_output() {
        let spec = fast_spec(LuksVersion::Luks2);
        let shown = format!("{spec:?}");
        assert!(!shown.contains(PASSPHRASE), "{shown}");
        if !have("cryptsetup", &["--version"]) {
            return;
        }
        // cryptsetup itself refuses this one: too few iterations.
        let tmp = tempfile::tempdir().unwrap();
        let disk = tmp.path().join("disk.img");
        File::create(&disk).unwrap().set_len(20 * MIB).unwrap();
        let mut spec = LuksSpec::new(PASSPHRASE, LuksVersion::Luks2);
        spec.key_file = Some(PASSPHRASE.as_bytes().to_vec());
        spec.format_options = ["--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let err = seal(&disk, 0, 20 * MIB, &spec).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ToolError::Tool(_)), "{text}");
        assert!(
            text.starts_with("formatting a LUKS header: `cryptsetup luksFormat"),
            "{text}"
        );
        assert!(!text.contains(PASSPHRASE), "{text}");
        assert!(!format!("{err:?}").contains(PASSPHRASE));
    }

    #[test]
    fn secret_files_are_private_and_wiped() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("secret");
        let secret = Secret::create(path.clone(), b"volume key").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read(&path).unwrap(), b"volume key");
        let kept = File::open(&path).unwrap();
        drop(secret);
        assert!(!path.exists());
        // What was in it is gone too, not only its name.
        let mut left = [1u8; 10];
        kept.read_exact_at(&mut left, 0).unwrap();
        assert_eq!(left, [0; 10]);

        let (mut stdin, wiped) = secret_stdin(b"passphrase").unwrap();
        let mut read = String::new();
        io::Read::read_to_string(&mut stdin, &mut read).unwrap();
        assert_eq!(read, "passphrase");
        drop(wiped);
        assert_eq!(stdin.metadata().unwrap().len(), 0);
    }

    #[test]
    fn encryption_is_what_xts_mode_computes() {
        use xts_mode::{get_tweak_default, Xts128};
        for key_bytes in [64, 32] {
            let key = pattern(key_bytes, 3);
            let xts = Xts::new(&key);
            // Runs that end mid-batch, from sectors that do not start one.
            for (sectors, first) in [(1, 0), (3, 77), (BATCH_SECTORS + 5, 1 << 40), (300, 9)] {
                let plain = pattern(sectors * 512, sectors as u64);
                let mut ours = plain.clone();
                xts.encrypt(&mut ours, first);
                let mut theirs = plain.clone();
                if key_bytes == 64 {
                    Xts128::new(
                        Aes256::new_from_slice(&key[..32]).unwrap(),
                        Aes256::new_from_slice(&key[32..]).unwrap(),
                    )
                    .encrypt_area(
                        &mut theirs,
                        512,
                        first.into(),
                        get_tweak_default,
                    );
                } else {
                    Xts128::new(
                        Aes128::new_from_slice(&key[..16]).unwrap(),
                        Aes128::new_from_slice(&key[16..]).unwrap(),
                    )
                    .encrypt_area(
                        &mut theirs,
                        512,
                        first.into(),
                        get_tweak_default,
                    );
                }
                assert!(
                    ours == theirs,
                    "{key_bytes}-byte key, {sectors} sectors from {first}"
                );
                assert!(ours != plain);
            }
        }
    }

    #[test]
    fn sectors_are_encrypted_on_their_own_number() {
        let key = pattern(64, 3);
        let xts = Xts::new(&key);
        let plain = pattern(CHUNK, 5);
        let mut run = plain.clone();
        xts.encrypt(&mut run, 77);
        // Sector 78 alone, as the 2nd sector of the run from 77.
        let mut single = plain[512..1024].to_vec();
        xts.encrypt(&mut single, 78);
        assert_eq!(single, run[512..1024]);
        // The same plaintext in another sector is encrypted otherwise.
        let mut other = plain[512..1024].to_vec();
        xts.encrypt(&mut other, 79);
        assert_ne!(other, single);
        if have("openssl", &["version"]) {
            assert_eq!(openssl_xts_decrypt(&key, &run[..8192], 77), plain[..8192]);
        }
    }

    #[test]
    fn encryption_throughput() {
        // In this build's profile (debug for `cargo test`), from and to a
        // file; printed, not checked (machines differ).
        let key = pattern(64, 3);
        let xts = Xts::new(&key);
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("payload");
        let size = 256 * MIB;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        file.set_len(size).unwrap();
        let started = std::time::Instant::now();
        encrypt_in_place(&file, 0, size, &xts).unwrap();
        let elapsed = started.elapsed();
        eprintln!(
            "encrypted {} MiB in place in {elapsed:.2?}: {:.0} MB/s",
            size / MIB,
            size as f64 / elapsed.as_secs_f64() / 1e6
        );
    }
}
