//! ISO 9660 images (capability `iso`): a list of files made into an image
//! with Rock Ridge and Joliet by `xorriso`, bootable through El Torito on
//! BIOS and EFI, and hybrid (it also boots as a disk) when asked.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::options::{image_path, iso_volume_id};
use super::staging::Staged;
use super::{invalid, ToolError};
use crate::rootfs::command;

/// How to make an ISO image.
#[derive(Debug, Clone, Default)]
pub struct IsoOptions {
    /// Volume id.
    pub volume_id: String,
    /// Path in the image of the El Torito BIOS boot image.
    pub bios_boot: Option<String>,
    /// Path in the image of the El Torito EFI boot image (a FAT image).
    pub efi_boot: Option<String>,
    /// A host file with the hybrid MBR boot code (GRUB's boot_hybrid.img).
    pub hybrid_mbr: Option<PathBuf>,
    /// `SOURCE_DATE_EPOCH`: every time in the image.
    pub source_date_epoch: Option<i64>,
}

/// Escapes a path for xorriso's `-graft-points` (`=` and `\`).
fn graft_escape(path: &str) -> String {
    path.replace('\\', "\\\\").replace('=', "\\=")
}

/// Makes the ISO image `out` holding the staged files.
pub fn make(staged: &Staged, out: &Path, options: &IsoOptions) -> Result<(), ToolError> {
    let id = &options.volume_id;
    iso_volume_id(id)?;
    // The staged paths were checked when staged; checked again here, where
    // they become xorriso's graft points (`=` and `\` are escaped there).
    for (path, _) in &staged.files {
        image_path(path)?;
    }
    let listed = |what: &str, path: &Option<String>| -> Result<Option<String>, ToolError> {
        let Some(path) = path else { return Ok(None) };
        let path = image_path(path)?;
        if !staged.files.iter().any(|(p, _)| *p == path) {
            return invalid(format!(
                "the {what} boot image `{path}` is not among the files"
            ));
        }
        Ok(Some(path))
    };
    let bios = listed("BIOS", &options.bios_boot)?;
    let efi = listed("EFI", &options.efi_boot)?;
    if options.hybrid_mbr.is_some() && bios.is_none() {
        return invalid("a hybrid MBR needs a BIOS boot image");
    }

    let mut cmd = Command::new("xorriso");
    cmd.args([
        "-as",
        "mkisofs",
        "-quiet",
        "-graft-points",
        "-iso-level",
        "3",
    ])
    .args(["-r", "-J", "-joliet-long", "-V", id]);
    if let Some(epoch) = options.source_date_epoch {
        // xorriso takes the volume's times and UUID from it, but keeps the
        // files' access times (Rock Ridge records them), which reading the
        // files changes: every file date is set too.
        cmd.env("SOURCE_DATE_EPOCH", epoch.to_string())
            .arg("--set_all_file_dates")
            .arg(format!("={epoch}"));
    }
    if let Some(bios) = &bios {
        cmd.args(["-b", bios, "-no-emul-boot", "-boot-load-size", "4"])
            .args(["-boot-info-table", "--grub2-boot-info"]);
        if let Some(mbr) = &options.hybrid_mbr {
            cmd.arg("--grub2-mbr").arg(mbr);
        }
    }
    if let Some(efi) = &efi {
        cmd.args(["--efi-boot", efi, "-efi-boot-part", "--efi-boot-image"]);
    }
    if bios.is_some() || efi.is_some() {
        cmd.arg("--protective-msdos-label");
    }
    cmd.arg("-o").arg(out);
    for (path, host) in &staged.files {
        let mut graft = std::ffi::OsString::from(format!("/{}=", graft_escape(path)));
        graft.push(graft_escape(&host.to_string_lossy()));
        cmd.arg(graft);
    }
    command::run("making the ISO image", &mut cmd)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::staging::{stage, ListedFile, Source};
    use super::*;

    #[test]
    fn graft_points_are_escaped() {
        assert_eq!(graft_escape("a=b\\c"), "a\\=b\\\\c");
    }

    #[test]
    fn makes_an_image_holding_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let staged = stage(
            None,
            &[
                ListedFile {
                    path: "live/filesystem.squashfs".into(),
                    source: Source::Data(vec![7; 5000]),
                },
                ListedFile {
                    path: "boot/grub/grub.cfg".into(),
                    source: Source::Data(b"menuentry x {}\n".to_vec()),
                },
            ],
        )
        .unwrap();
        let out = dir.path().join("x.iso");
        let options = IsoOptions {
            volume_id: "BUILDER_TEST".into(),
            source_date_epoch: Some(1_700_000_000),
            ..Default::default()
        };
        make(&staged, &out, &options).unwrap();
        let listing = Command::new("xorriso")
            .args(["-indev"])
            .arg(&out)
            .args(["-find", "/", "-type", "f"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&listing.stdout);
        assert!(text.contains("'/live/filesystem.squashfs'"), "{text}");
        assert!(text.contains("'/boot/grub/grub.cfg'"), "{text}");
        // Same input, same epoch: the same bytes.
        let again = dir.path().join("y.iso");
        make(&staged, &again, &options).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());

        let bad = IsoOptions {
            volume_id: "lower".into(),
            ..Default::default()
        };
        assert!(make(&staged, &out, &bad).is_err());
        let missing = IsoOptions {
            volume_id: "X".into(),
            bios_boot: Some("boot/eltorito.img".into()),
            ..Default::default()
        };
        let err = make(&staged, &out, &missing).unwrap_err().to_string();
        assert!(err.contains("not among the files"), "{err}");
    }
}
