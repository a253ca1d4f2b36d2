//! What names and paths a plugin may hand the toolbox: artifact file names
//! in the target directory, paths inside the root, and the boot data files
//! `write-boot-file` may write. Plain functions over strings, with no I/O,
//! so the fuzz target `toolbox_args` checks them as they are.

/// Names the host writes in the target directory itself, which no
/// artifact may take: the result manifest, and the endings of checksum and
/// package-list files.
const RESERVED_NAMES: &[&str] = &["builder.result.json"];
const RESERVED_ENDINGS: &[&str] = &[".sha256", ".packages", ".spdx.json", ".cdx.json"];

/// An artifact name must be a plain file name: no directories, nothing
/// hidden, no control characters (a newline would forge lines of a
/// `.sha256` file), at most 255 bytes, none of the host's own names.
pub fn artifact_name(name: &str) -> std::io::Result<()> {
    let why = if name.is_empty() {
        Some("it is empty")
    } else if name.len() > 255 {
        Some("it is longer than 255 bytes")
    } else if name.starts_with('.') {
        Some("it is hidden (starts with `.`)")
    } else if name.contains('/') {
        Some("it holds a `/`")
    } else if name.chars().any(char::is_control) {
        Some("it holds a control character")
    } else if RESERVED_NAMES.contains(&name) || RESERVED_ENDINGS.iter().any(|e| name.ends_with(e)) {
        Some("the host writes files of that name itself")
    } else {
        None
    };
    match why {
        Some(why) => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "`{}` is not a plain artifact file name: {why}",
                name.escape_debug()
            ),
        )),
        None => Ok(()),
    }
}

/// A path a baseline names: inside the root, no `..`, stored without the leading `/`.
pub fn root_path(path: &str) -> Result<String, String> {
    let trimmed = path.trim_start_matches('/');
    if trimmed.is_empty()
        || trimmed.split('/').any(|c| c == ".." || c.is_empty())
        || path.contains('\0')
    {
        return Err(format!(
            "`{}` must name a file inside the root, without `..` or empty components",
            path.escape_debug()
        ));
    }
    Ok(trimmed.to_string())
}

/// What [`write_boot_file`] writes: data files the boot chain reads, never
/// one a tool of the image sources or runs, so the `bootloader` capability
/// cannot slip code into the initrd tools, `grub-mkconfig` or kernel hooks.
/// `(pattern, what)`: `*` is one path part, a pattern ending in `/` is
/// anything below it (checked further by [`boot_data_kind`]).
/// [`write_boot_file`]: super::boot::write_boot_file
const BOOT_FILES: &[(&str, &str)] = &[
    ("etc/fstab", "the mount table"),
    ("etc/crypttab", "the table of encrypted devices"),
    (
        "root/.root.keyfile",
        "the key file the initrd opens an encrypted root with (KIWI's)",
    ),
    ("etc/kernel/cmdline", "the kernel command line"),
    (
        "etc/repart.d/*.conf",
        "a systemd-repart partition definition",
    ),
    (
        "boot/grub/",
        "GRUB configuration (*.cfg, grubenv) or theme and font data",
    ),
    (
        "boot/grub2/",
        "GRUB configuration (*.cfg, grubenv) or theme and font data",
    ),
    (
        "boot/loader/loader.conf",
        "the boot loader specification's settings",
    ),
    (
        "boot/loader/entries/*.conf",
        "a boot loader specification entry",
    ),
    (
        "boot/efi/",
        "the ESP's EFI binaries (*.efi) and their data (*.cfg, *.csv, *.conf)",
    ),
];

/// Paths a tool sources as shell or runs, with who does: refused by name.
const SOURCED_OR_RUN: &[(&str, &str)] = &[
    (
        "etc/initramfs-tools/",
        "initramfs-tools sources its configuration (initramfs.conf, conf.d) as shell and \
         runs its hooks and scripts when it makes an initrd",
    ),
    (
        "etc/dracut.conf",
        "dracut sources its configuration as shell",
    ),
    (
        "etc/dracut.conf.d/",
        "dracut sources its configuration as shell",
    ),
    (
        "usr/lib/dracut/",
        "dracut runs its modules when it makes an initrd",
    ),
    (
        "lib/dracut/",
        "dracut runs its modules when it makes an initrd",
    ),
    ("etc/default/grub", "grub-mkconfig sources it as shell"),
    ("etc/default/grub.d/", "grub-mkconfig sources it as shell"),
    ("etc/grub.d/", "grub-mkconfig runs its scripts"),
    (
        "etc/kernel/",
        "kernel installation runs the hooks there (postinst.d, install.d, ...); only \
         etc/kernel/cmdline is written",
    ),
];

/// Extensions of the data files below `boot/grub*/`.
const GRUB_DATA: &[&str] = &["cfg", "pf2", "png", "jpg", "jpeg", "tga", "txt"];
/// Extensions of the files below `boot/efi/`.
const ESP_DATA: &[&str] = &["efi", "cfg", "csv", "conf"];
/// The ESP's mount point marker `plugins/bootable` writes.
pub const ESP_MARKER: &str = ".builder-esp";

fn matches(pattern: &str, rel: &str) -> bool {
    if let Some(dir) = pattern.strip_suffix('/') {
        return rel.len() > dir.len() + 1 && rel.starts_with(pattern);
    }
    let (pattern_parts, parts): (Vec<&str>, Vec<&str>) =
        (pattern.split('/').collect(), rel.split('/').collect());
    pattern_parts.len() == parts.len()
        && pattern_parts
            .iter()
            .zip(&parts)
            .all(|(p, part)| match p.strip_prefix('*') {
                Some(suffix) => part.len() > suffix.len() && part.ends_with(suffix),
                None => p == part,
            })
}

/// Whether the file name of `rel` ends in one of `extensions` (any case:
/// the ESP is FAT), and is not hidden.
fn has_extension(rel: &str, extensions: &[&str]) -> bool {
    let name = rel.rsplit('/').next().unwrap_or_default();
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !name.starts_with('.') => {
            extensions.iter().any(|e| e.eq_ignore_ascii_case(ext))
        }
        _ => false,
    }
}

/// What kind of boot data file `rel` is, or why it is none.
pub fn boot_data_kind(rel: &str) -> Result<&'static str, String> {
    if let Some((_, why)) = SOURCED_OR_RUN
        .iter()
        .find(|(pattern, _)| *pattern == rel || (pattern.ends_with('/') && matches(pattern, rel)))
        .filter(|_| rel != "etc/kernel/cmdline")
    {
        return Err(format!("{why}, so write-boot-file may not write it"));
    }
    let name = rel.rsplit('/').next().unwrap_or_default();
    for (pattern, what) in BOOT_FILES {
        if !matches(pattern, rel) {
            continue;
        }
        let fits = match *pattern {
            "boot/grub/" | "boot/grub2/" => name == "grubenv" || has_extension(rel, GRUB_DATA),
            "boot/efi/" => {
                rel.strip_prefix("boot/efi/") == Some(ESP_MARKER) || has_extension(rel, ESP_DATA)
            }
            _ => true,
        };
        if fits {
            return Ok(what);
        }
        return Err(format!(
            "below {pattern} only {what} is written, and `{name}` is none of it"
        ));
    }
    let known: Vec<&str> = BOOT_FILES.iter().map(|(pattern, _)| *pattern).collect();
    Err(format!(
        "it is not a boot data file; write-boot-file writes only {}",
        known.join(", ")
    ))
}
