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
    // KIWI's layout of a hybrid image: an MBR whose first partition is the
    // ISO 9660 filesystem, mountable on its own (it starts 16 blocks in,
    // where xorriso writes a second superblock), and whose second is the
    // EFI boot image, appended after it; El Torito's EFI entry points there.
    // The free space after them is where a live system's `cow` partition
    // goes when the image is written onto a larger disk.
    if options.hybrid_mbr.is_some() || efi.is_some() {
        cmd.args(["-partition_offset", "16"]);
    }
    // No padding after the last partition (KIWI's `-padding 0`): the image
    // ends where its partitions do, and what follows is free.
    cmd.arg("-no-pad");
    if let Some(efi) = &efi {
        let (_, image) = staged
            .files
            .iter()
            .find(|(p, _)| p == efi)
            .expect("checked to be among the files");
        cmd.args(["-append_partition", "2", "0xef"])
            .arg(image)
            .args(["-eltorito-alt-boot", "-e"])
            .args(["--interval:appended_partition_2:all::", "-no-emul-boot"]);
    }
    cmd.arg("-o").arg(out);
    // The EFI boot image is the appended partition, not a file as well.
    for (path, host) in staged.files.iter().filter(|(p, _)| Some(p) != efi.as_ref()) {
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

    /// KIWI's hybrid layout: partition 1 is the ISO 9660 filesystem,
    /// mountable from 16 blocks in; partition 2 the appended EFI image.
    #[test]
    fn a_hybrid_image_has_the_filesystem_and_the_efi_image_as_partitions() {
        let mbr = Path::new("/usr/lib/grub/i386-pc/boot_hybrid.img");
        if !mbr.exists() {
            eprintln!("skipped: {} is missing (run scripts/setup)", mbr.display());
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let fat = dir.path().join("efi.img");
        std::fs::File::create(&fat)
            .unwrap()
            .set_len(2 << 20)
            .unwrap();
        let status = Command::new("mkfs.vfat")
            .args(["-n", "EFIBOOT"])
            .arg(&fat)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        let staged = stage(
            None,
            &[
                ListedFile {
                    path: "boot/grub/eltorito.img".into(),
                    source: Source::Data(vec![0; 4096]),
                },
                ListedFile {
                    path: "boot/efi.img".into(),
                    source: Source::Data(std::fs::read(&fat).unwrap()),
                },
                ListedFile {
                    path: "live/filesystem.squashfs".into(),
                    source: Source::Data(vec![7; 100_000]),
                },
            ],
        )
        .unwrap();
        let out = dir.path().join("hybrid.iso");
        let options = IsoOptions {
            volume_id: "HYBRID".into(),
            bios_boot: Some("boot/grub/eltorito.img".into()),
            efi_boot: Some("boot/efi.img".into()),
            hybrid_mbr: Some(mbr.to_path_buf()),
            source_date_epoch: Some(1_700_000_000),
        };
        make(&staged, &out, &options).unwrap();
        let table = Command::new("sfdisk").arg("-J").arg(&out).output().unwrap();
        let table: serde_json::Value = serde_json::from_slice(&table.stdout).unwrap();
        let table = &table["partitiontable"];
        assert_eq!(table["label"], "dos", "{table}");
        let parts = table["partitions"].as_array().unwrap();
        assert_eq!(parts.len(), 2, "{table}");
        assert_eq!(parts[0]["start"], 64, "{table}");
        assert_eq!(parts[1]["type"], "ef", "{table}");
        let end =
            |i: usize| parts[i]["start"].as_u64().unwrap() + parts[i]["size"].as_u64().unwrap();
        assert!(parts[1]["start"].as_u64().unwrap() >= end(0), "{table}");
        // Nothing after the last partition: the rest of a stick is free.
        assert_eq!(
            std::fs::metadata(&out).unwrap().len(),
            end(1) * 512,
            "{table}"
        );
        // The first partition alone is the ISO 9660 filesystem.
        let probe = Command::new("blkid")
            .args(["-p", "-o", "export", "-O"])
            .arg((64 * 512).to_string())
            .arg(&out)
            .output()
            .unwrap();
        let probe = String::from_utf8_lossy(&probe.stdout);
        assert!(probe.contains("TYPE=iso9660\n"), "{probe}");
        assert!(probe.contains("LABEL=HYBRID\n"), "{probe}");
        let report = Command::new("xorriso")
            .args(["-indev"])
            .arg(&out)
            .args(["-report_el_torito", "plain", "-find", "/", "-type", "f"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&report.stdout).into_owned()
            + &String::from_utf8_lossy(&report.stderr);
        assert!(text.contains("El Torito boot img :   2  UEFI"), "{text}");
        // Not a file as well.
        assert!(!text.contains("'/boot/efi.img'"), "{text}");

        // EFI alone (KIWI's eficsm="false"): the same partitions, one boot
        // image, no BIOS boot code.
        let efi_only = dir.path().join("efi-only.iso");
        let options = IsoOptions {
            bios_boot: None,
            hybrid_mbr: None,
            ..options
        };
        make(&staged, &efi_only, &options).unwrap();
        let table = Command::new("sfdisk")
            .arg("-J")
            .arg(&efi_only)
            .output()
            .unwrap();
        let table: serde_json::Value = serde_json::from_slice(&table.stdout).unwrap();
        let parts = table["partitiontable"]["partitions"].as_array().unwrap();
        assert_eq!(parts.len(), 2, "{table}");
        assert_eq!(parts[0]["start"], 64, "{table}");
        assert_eq!(parts[1]["type"], "ef", "{table}");
        let report = Command::new("xorriso")
            .args(["-indev"])
            .arg(&efi_only)
            .args(["-report_el_torito", "plain"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&report.stdout).into_owned()
            + &String::from_utf8_lossy(&report.stderr);
        assert!(text.contains("El Torito boot img :   1  UEFI"), "{text}");
        assert!(!text.contains("BIOS"), "{text}");
        // No boot code in the MBR: its first 440 bytes are zeros.
        let head = std::fs::read(&efi_only).unwrap();
        assert!(head[..440].iter().all(|b| *b == 0));
    }
}
