//! Deferred initrds: while dpkg installs packages, the image's initrd tools
//! are diverted to a stub that only notes the call, so a kernel,
//! initramfs-tools and their triggers do not each rebuild the initrd (two
//! to three times per install otherwise); once the install is over, the
//! real tools are put back and the initrd of every kernel is made once.

use anyhow::Context;

use crate::rootfs::command::{self, chroot};
use crate::rootfs::files::RootDir;

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
    let mut cmd = chroot(root.host_path(), "dpkg-divert");
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
            },
        )
        .context("making the initrd the installed packages asked for")?;
        Ok(true)
    }
}

impl Drop for DeferredInitrd<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.restore() {
            tracing::warn!(error = %format!("{e:#}"), "restoring the initrd tools");
        }
        let _ = self.root.remove_file(NOTES);
    }
}
