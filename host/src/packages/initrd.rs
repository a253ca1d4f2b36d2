//! Deferred initrds: while dpkg installs packages, the image's initrd tools
//! are diverted to a stub that only notes the call, so a kernel,
//! initramfs-tools and their triggers do not each rebuild the initrd (two
//! to three times per install otherwise); once the install is over, the
//! real tools are put back and the initrd of every kernel is made once.
//!
//! That initrd is made before the overlay, `config.sh`, package removals
//! and `images.sh`, which KIWI runs before it makes its initrd. So the
//! install notes in the root what the initrd was made from (a digest of
//! the initrd tools' configuration and hooks, module options, udev rules,
//! the package database, the kernels' module trees), and just before the
//! image is created, [`refresh`] takes that note out of the root and makes
//! the initrds again if any of it changed since.

use std::io::Read;

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::rootfs::command;
use crate::rootfs::files::RootDir;
use crate::rootfs::sandbox::{in_root, Contain};
use crate::rootfs::tree::{EntryMeta, FileKind, RootTree};

/// The tools diverted, where dpkg installs them.
const TOOLS: &[&str] = &["usr/sbin/update-initramfs", "usr/bin/dracut"];
/// Where the stubs note their calls, in the root.
const NOTES: &str = ".builder-initrd-deferred";
/// The suffix of a diverted tool.
const DIVERTED: &str = ".builder-deferred";

/// The diversions of one install; [`DeferredInitrd::finish`] puts the tools
/// back and makes the initrds, dropping it unfinished only puts them back.
pub struct DeferredInitrd<'r> {
    root: &'r RootDir,
    diverted: Vec<&'static str>,
}

fn dpkg_divert(root: &RootDir, step: &str, args: &[&str], tool: &str) -> anyhow::Result<()> {
    let mut cmd = in_root(root.host_path(), "dpkg-divert", Contain::TOOLS);
    cmd.args(["--quiet", "--local", "--rename"])
        .args(args)
        .arg(format!("/{tool}"));
    command::run(step, &mut cmd)?;
    Ok(())
}

impl<'r> DeferredInitrd<'r> {
    /// Diverts the initrd tools of `root` (installed or not yet) to stubs.
    /// A root without dpkg is left alone.
    pub fn new(root: &'r RootDir) -> anyhow::Result<Self> {
        let mut deferred = DeferredInitrd {
            root,
            diverted: Vec::new(),
        };
        if !root.exists("usr/bin/dpkg-divert").unwrap_or(false) {
            return Ok(deferred);
        }
        for tool in TOOLS {
            if root.exists(&format!("{tool}{DIVERTED}")).unwrap_or(false) {
                // Left by an interrupted build: the root is not ours to fix.
                anyhow::bail!("/{tool}{DIVERTED} exists: a build of this root was interrupted");
            }
            dpkg_divert(
                root,
                "deferring the initrd",
                &["--divert", &format!("/{tool}{DIVERTED}"), "--add"],
                tool,
            )?;
            deferred.diverted.push(tool);
            let stub = format!("#!/bin/sh\n# builder: the initrd is made once the install is over.\necho \"{tool} $*\" >> /{NOTES}\n");
            root.write(tool, stub.as_bytes(), 0o755)
                .with_context(|| format!("writing the /{tool} stub"))?;
        }
        Ok(deferred)
    }

    fn restore(&mut self) -> anyhow::Result<()> {
        while let Some(tool) = self.diverted.pop() {
            match self.root.remove_file(tool) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("removing the /{tool} stub")),
            }
            dpkg_divert(self.root, "restoring the initrd tools", &["--remove"], tool)?;
        }
        Ok(())
    }

    /// Puts the tools back and, if a package asked for an initrd, makes
    /// the initrd of every kernel once, for `filesystems` (the root's
    /// first). Returns whether it did.
    pub fn finish(mut self, filesystems: &[String]) -> anyhow::Result<bool> {
        self.restore()?;
        let asked = self.root.exists(NOTES).unwrap_or(false);
        if !asked {
            return Ok(false);
        }
        let notes = self.root.read_to_string(NOTES).unwrap_or_default();
        self.root
            .remove_file(NOTES)
            .context("removing the initrd notes")?;
        tracing::debug!(calls = %notes.trim(), "deferred initrd requests");
        let tree = crate::rootfs::RootTree::open(self.root.host_path())?;
        if crate::toolbox::boot::kernels(&tree)?.is_empty() {
            return Ok(false);
        }
        crate::toolbox::boot::make_initrd(
            self.root.host_path(),
            &crate::toolbox::boot::InitrdOptions {
                filesystems: filesystems.to_vec(),
                source_date_epoch: None,
                force: false,
                ..Default::default()
            },
        )
        .context("making the initrd the installed packages asked for")?;
        let note = format!(
            "filesystems={}\ninputs={}\n",
            filesystems.join(","),
            inputs_digest(&tree).context("initrd: reading what it was made from")?
        );
        self.root
            .write(INPUTS_NOTE, note.as_bytes(), 0o600)
            .context("initrd: noting what it was made from")?;
        Ok(true)
    }
}

/// Where the install notes what its initrds were made from, in the root.
const INPUTS_NOTE: &str = ".builder-initrd-inputs";

/// What initrds are made from, besides the kernels' modules: the tools'
/// configuration and hooks, module options, udev rules, crypttab, RAID
/// settings, and the package database (the programs hooks copy in come
/// from packages), plymouth's theme. Digested by content. The keyboard layout is left out:
/// `<keytable>` writes it after the install in nearly every description,
/// and initramfs-tools takes it in only with `KEYMAP=y` (in its own
/// configuration, which is digested).
const INPUT_PATHS: &[&str] = &[
    "etc/initramfs-tools",
    "usr/share/initramfs-tools",
    "etc/dracut.conf",
    "etc/dracut.conf.d",
    "usr/lib/dracut",
    "etc/modprobe.d",
    "lib/modprobe.d",
    "usr/lib/modprobe.d",
    "etc/udev",
    "etc/crypttab",
    "etc/mdadm",
    "etc/plymouth",
    "usr/share/plymouth/themes/default.plymouth",
    "var/lib/dpkg/status",
    "var/lib/rpm",
];

/// The kernels' module trees: digested by name, type and size only.
const MODULE_TREES: &[&str] = &["lib/modules", "usr/lib/modules"];

/// A digest of what the initrds of the root `tree` are made from.
fn inputs_digest(tree: &RootTree) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    // A merged-/usr root reaches one tree by two paths: walked once.
    let mut walked = std::collections::HashSet::new();
    for (paths, content) in [(INPUT_PATHS, true), (MODULE_TREES, false)] {
        for rel in paths {
            let meta = match tree.stat(rel) {
                Ok(meta) => meta,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                    ) =>
                {
                    hasher.update(format!("{rel} absent\n"));
                    continue;
                }
                Err(e) => return Err(e),
            };
            if meta.kind == FileKind::Directory && !walked.insert((meta.device, meta.inode)) {
                hasher.update(format!("{rel} walked\n"));
                continue;
            }
            digest_entry(tree, &mut hasher, rel, &meta, content)?;
            if meta.kind == FileKind::Directory {
                let mut walk = tree.walk(rel)?;
                loop {
                    let batch = walk.next_batch(256)?;
                    if batch.is_empty() {
                        break;
                    }
                    for entry in batch {
                        digest_entry(tree, &mut hasher, &entry.path, &entry.meta, content)?;
                    }
                }
            }
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// One file's part of [`inputs_digest`]: path, type, mode, owner, and its
/// content (or size), link target or device numbers.
fn digest_entry(
    tree: &RootTree,
    hasher: &mut Sha256,
    rel: &str,
    meta: &EntryMeta,
    content: bool,
) -> std::io::Result<()> {
    hasher.update(format!(
        "{rel}\0{:?} {:o} {}:{}",
        meta.kind, meta.mode, meta.uid, meta.gid
    ));
    match meta.kind {
        FileKind::Regular if content => {
            let (mut file, _) = tree.open_regular(rel)?;
            let mut buffer = vec![0u8; 64 * 1024];
            loop {
                let n = file.read(&mut buffer)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buffer[..n]);
            }
        }
        FileKind::Regular => hasher.update(meta.size.to_le_bytes()),
        FileKind::Symlink => hasher.update(tree.read_link(rel)?),
        FileKind::CharDevice | FileKind::BlockDevice => {
            hasher.update(format!("{}:{}", meta.rdev_major, meta.rdev_minor))
        }
        _ => {}
    }
    hasher.update(b"\n");
    Ok(())
}

/// Takes the install's note out of the root at `root` and, if what its
/// initrds were made from changed since (the overlay, a script, a package
/// removal), makes them again, as the install did. Without a note (no
/// initrd was made after an install) nothing is done. Returns whether the
/// initrds were made again.
pub fn refresh(root: &std::path::Path) -> anyhow::Result<bool> {
    let dir = RootDir::open(root)?;
    if !dir.exists(INPUTS_NOTE).unwrap_or(false) {
        return Ok(false);
    }
    let note = dir
        .read_to_string(INPUTS_NOTE)
        .context("initrd: reading the install's note")?;
    dir.remove_file(INPUTS_NOTE)
        .context("initrd: removing the install's note")?;
    let field = |name: &str| {
        note.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_string)
    };
    let filesystems: Vec<String> = field("filesystems")
        .unwrap_or_default()
        .split(',')
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect();
    let tree = RootTree::open(root)?;
    let now = inputs_digest(&tree).context("initrd: reading what it is made from")?;
    if field("inputs").as_deref() == Some(now.as_str()) {
        tracing::debug!("initrd: made from the same inputs as after the install");
        return Ok(false);
    }
    tracing::info!(
        "initrd: its configuration, hooks, modules or packages changed since the install; making it again"
    );
    crate::toolbox::boot::make_initrd(
        root,
        &crate::toolbox::boot::InitrdOptions {
            filesystems,
            source_date_epoch: None,
            force: true,
            ..Default::default()
        },
    )
    .context("making the initrd again")?;
    Ok(true)
}

impl Drop for DeferredInitrd<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.restore() {
            tracing::warn!(error = %format!("{e:#}"), "restoring the initrd tools");
        }
        let _ = self.root.remove_file(NOTES);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn digest(root: &std::path::Path) -> String {
        inputs_digest(&RootTree::open(root).unwrap()).unwrap()
    }

    #[test]
    fn the_digest_follows_what_initrds_are_made_from() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        for dir in [
            "etc/initramfs-tools/conf.d",
            "usr/share/initramfs-tools/hooks",
            "usr/lib/modules/6.1.0-1-amd64/kernel",
            "var/lib/dpkg",
            "etc/default",
        ] {
            fs::create_dir_all(root.join(dir)).unwrap();
        }
        std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
        fs::write(
            root.join("etc/initramfs-tools/initramfs.conf"),
            "MODULES=most\n",
        )
        .unwrap();
        fs::write(
            root.join("usr/share/initramfs-tools/hooks/udev"),
            "#!/bin/sh\n",
        )
        .unwrap();
        let module = root.join("usr/lib/modules/6.1.0-1-amd64/kernel/virtio.ko");
        fs::write(&module, "module").unwrap();
        fs::write(root.join("var/lib/dpkg/status"), "Package: udev\n").unwrap();
        fs::write(root.join("etc/default/keyboard"), "XKBLAYOUT=us\n").unwrap();
        let first = digest(root);
        assert_eq!(digest(root), first, "the same tree, the same digest");

        // The keyboard layout and a module's content (same size) are not
        // part of it.
        fs::write(root.join("etc/default/keyboard"), "XKBLAYOUT=de\n").unwrap();
        fs::write(&module, "MODULE").unwrap();
        assert_eq!(digest(root), first);

        // Everything else is: a setting, a new configuration file, a hook's
        // mode, a package, a module's size, module options.
        let changes: [(&str, &dyn Fn()); 6] = [
            ("a setting", &|| {
                fs::write(
                    root.join("etc/initramfs-tools/initramfs.conf"),
                    "MODULES=dep\n",
                )
                .unwrap()
            }),
            ("a new file", &|| {
                fs::write(
                    root.join("etc/initramfs-tools/conf.d/compress"),
                    "COMPRESS=gzip\n",
                )
                .unwrap()
            }),
            ("a hook's mode", &|| {
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(
                    root.join("usr/share/initramfs-tools/hooks/udev"),
                    fs::Permissions::from_mode(0o755),
                )
                .unwrap()
            }),
            ("a package", &|| {
                fs::write(
                    root.join("var/lib/dpkg/status"),
                    "Package: udev\n\nPackage: lvm2\n",
                )
                .unwrap()
            }),
            ("a module's size", &|| {
                fs::write(&module, "a larger module").unwrap()
            }),
            ("module options", &|| {
                fs::create_dir_all(root.join("etc/modprobe.d")).unwrap();
                fs::write(
                    root.join("etc/modprobe.d/local.conf"),
                    "options virtio x=1\n",
                )
                .unwrap()
            }),
        ];
        let mut seen = vec![first];
        for (what, change) in changes {
            change();
            let now = digest(root);
            assert!(!seen.contains(&now), "{what} did not change the digest");
            seen.push(now);
        }
    }
}
