//! `firmware="uefi"`: Secure Boot with the image's own signed chain, as
//! KIWI makes it. The EFI system partition holds the distribution's shim as
//! the removable-media loader (`EFI/BOOT/BOOTX64.EFI`), the distribution's
//! signed GRUB beside it (shim starts `grubx64.efi` from its own directory),
//! and GRUB's first configuration where that GRUB looks for it; the kernel
//! GRUB then starts must be signed too (shim checks it). Nothing here is
//! signed by builder: a machine with Microsoft's keys enrolled trusts shim,
//! shim trusts the distribution's key.
//!
//! Where the chain is found in the root:
//! - Debian and Ubuntu (`shim-signed`, `grub-efi-amd64-signed`):
//!   `usr/lib/shim/shimx64.efi.signed`,
//!   `usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed`; that GRUB reads
//!   `/EFI/<os-release ID>/grub.cfg`, else the `grub.cfg` beside itself.
//! - The RHEL family (`shim-x64`, `grub2-efi-x64`): the packages install
//!   both into `boot/efi/EFI/<vendor>/`; that GRUB reads
//!   `/EFI/<vendor>/grub.cfg`.

use builder_sdk::prelude::*;
use builder_sdk::{FileSource, ImageFile};

/// The signed programs of the chain, as paths in the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// shim, signed with Microsoft's UEFI CA key.
    pub shim: String,
    /// GRUB, signed with the distribution's key shim carries.
    pub grub: String,
    /// shim's MOK manager, when the image has it (enrolling keys at boot).
    pub mok_manager: Option<String>,
    /// The directory below `EFI/` the signed GRUB reads its configuration from.
    pub vendor: String,
}

/// The EFI file name suffix of an architecture (`x64`, `aa64`).
fn efi_arch(arch: &str) -> Result<&'static str, Error> {
    match arch {
        "x86_64" | "amd64" => Ok("x64"),
        "aarch64" | "arm64" => Ok("aa64"),
        other => Err(Error::invalid_option(
            "firmware",
            format!("`uefi` (Secure Boot) is made for x86_64 and aarch64, not {other}"),
        )),
    }
}

/// GRUB's directory name of an architecture's signed images.
fn grub_platform(suffix: &str) -> &'static str {
    if suffix == "aa64" {
        "arm64-efi-signed"
    } else {
        "x86_64-efi-signed"
    }
}

fn is_file(root: &RootTree, path: &str) -> bool {
    // A symlink is followed inside the root when the file is copied.
    root.stat(path)
        .map(|m| matches!(m.file_type, FileType::Regular | FileType::Symlink))
        .unwrap_or(false)
}

/// A directory name usable below `EFI/` on the ESP.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name != "."
        && name != ".."
}

/// The `ID=` of the root's os-release.
fn os_id(root: &RootTree) -> Option<String> {
    let text = root
        .read_file("etc/os-release")
        .or_else(|_| root.read_file("usr/lib/os-release"))
        .ok()?;
    String::from_utf8_lossy(&text).lines().find_map(|line| {
        let value = line.strip_prefix("ID=")?;
        Some(value.trim().trim_matches('"').to_string())
    })
}

impl Chain {
    /// Finds the signed chain of `arch` in the root, or says which packages
    /// would bring it.
    pub fn find(root: &RootTree, arch: &str) -> Result<Chain, Error> {
        let suffix = efi_arch(arch)?;
        // Debian and Ubuntu.
        let shim_candidates = [
            format!("usr/lib/shim/shim{suffix}.efi.signed"),
            format!("usr/lib/shim/shim{suffix}.efi.signed.latest"),
        ];
        let grub = format!(
            "usr/lib/grub/{}/grub{suffix}.efi.signed",
            grub_platform(suffix)
        );
        if let Some(shim) = shim_candidates.iter().find(|p| is_file(root, p)) {
            if is_file(root, &grub) {
                let vendor = os_id(root)
                    .filter(|id| plain_name(id))
                    .unwrap_or_else(|| "debian".to_string());
                let mok = format!("usr/lib/shim/mm{suffix}.efi.signed");
                return Ok(Chain {
                    shim: shim.clone(),
                    grub,
                    mok_manager: is_file(root, &mok).then_some(mok),
                    vendor,
                });
            }
        }
        // The RHEL family: both in boot/efi/EFI/<vendor>/.
        if root.stat("boot/efi/EFI").is_ok() {
            for entry in root.walk_all("boot/efi/EFI")? {
                let entry = entry?;
                let Some(rest) = entry.path.strip_prefix("boot/efi/EFI/") else {
                    continue;
                };
                let Some((vendor, file)) = rest.split_once('/') else {
                    continue;
                };
                if file != format!("shim{suffix}.efi") || vendor == "BOOT" || !plain_name(vendor) {
                    continue;
                }
                let dir = format!("boot/efi/EFI/{vendor}");
                let grub = format!("{dir}/grub{suffix}.efi");
                if is_file(root, &grub) {
                    let mok = format!("{dir}/mm{suffix}.efi");
                    return Ok(Chain {
                        shim: entry.path.clone(),
                        grub,
                        mok_manager: is_file(root, &mok).then_some(mok),
                        vendor: vendor.to_string(),
                    });
                }
            }
        }
        Err(Error::invalid_option(
            "firmware",
            format!(
                "`uefi` boots with Secure Boot through the image's own signed shim and GRUB, \
                 and the root has none: add `shim-signed` and `grub-efi-{}-signed` (Debian, \
                 Ubuntu) or `shim-{suffix}` and `grub2-efi-{suffix}` (RHEL family) to the \
                 image's packages, or use firmware=\"efi\"",
                if suffix == "aa64" { "arm64" } else { "amd64" }
            ),
        ))
    }

    /// The ESP's files: shim as the removable-media loader `loader_name`
    /// (`BOOTX64.EFI`), the signed GRUB and MOK manager beside it, and
    /// GRUB's first configuration `early` where the signed GRUB reads it.
    pub fn esp_files(&self, loader_name: &str, early: &str) -> Vec<ImageFile> {
        let suffix = if loader_name.contains("AA64") {
            "aa64"
        } else {
            "x64"
        };
        let mut files = vec![
            ImageFile {
                path: format!("EFI/BOOT/{loader_name}"),
                source: FileSource::RootFile(self.shim.clone()),
            },
            ImageFile {
                path: format!("EFI/BOOT/grub{suffix}.efi"),
                source: FileSource::RootFile(self.grub.clone()),
            },
        ];
        if let Some(mok) = &self.mok_manager {
            files.push(ImageFile {
                path: format!("EFI/BOOT/mm{suffix}.efi"),
                source: FileSource::RootFile(mok.clone()),
            });
        }
        for dir in ["BOOT", self.vendor.as_str()] {
            files.push(ImageFile {
                path: format!("EFI/{dir}/grub.cfg"),
                source: FileSource::Data(early.as_bytes().to_vec()),
            });
        }
        files
    }
}

/// Refuses a kernel without an Authenticode signature: shim would not
/// start it, and the disk would stop at GRUB.
pub fn check_kernel_signed(root: &RootTree, kernel: &str) -> Result<(), Error> {
    let reader = root.open(kernel)?;
    let mut head = Vec::new();
    while head.len() < 4096 {
        let chunk = reader.read(4096 - head.len() as u32)?;
        if chunk.is_empty() {
            break;
        }
        head.extend_from_slice(&chunk);
    }
    match pe_signature_size(&head) {
        Some(size) if size > 0 => Ok(()),
        Some(_) => Err(Error::invalid_option(
            "firmware",
            format!(
                "`uefi` (Secure Boot): the kernel /{kernel} is not signed, so shim would refuse \
                 it; install the distribution's signed kernel package"
            ),
        )),
        None => Err(Error::invalid_option(
            "firmware",
            format!(
                "`uefi` (Secure Boot): the kernel /{kernel} is not an EFI program (no PE \
                 header), so it cannot be checked and started by shim"
            ),
        )),
    }
}

fn le_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The size of a PE image's certificate table (its Authenticode
/// signatures): none when `head` is not a PE image.
fn pe_signature_size(head: &[u8]) -> Option<u32> {
    if head.get(..2)? != b"MZ" {
        return None;
    }
    let pe = le_u32(head, 0x3c)? as usize;
    if head.get(pe..pe + 4)? != b"PE\0\0" {
        return None;
    }
    let optional = pe + 4 + 20;
    // The data directories: after 96 (PE32) or 112 (PE32+) bytes; the
    // certificate table is the fifth, 8 bytes each (address, size).
    let directories = match le_u16(head, optional)? {
        0x10b => optional + 96,
        0x20b => optional + 112,
        _ => return None,
    };
    let count = le_u32(head, directories - 4)?;
    if count < 5 {
        return Some(0);
    }
    le_u32(head, directories + 4 * 8 + 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PE32+ header with `directories` data directories, the certificate
    /// table's size set to `signature`.
    fn pe(directories: u32, signature: u32) -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[..2].copy_from_slice(b"MZ");
        b[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        b[0x80..0x84].copy_from_slice(b"PE\0\0");
        let optional = 0x80 + 24;
        b[optional..optional + 2].copy_from_slice(&0x20bu16.to_le_bytes());
        b[optional + 108..optional + 112].copy_from_slice(&directories.to_le_bytes());
        let cert = optional + 112 + 32;
        b[cert..cert + 4].copy_from_slice(&0x4000u32.to_le_bytes());
        b[cert + 4..cert + 8].copy_from_slice(&signature.to_le_bytes());
        b
    }

    #[test]
    fn the_certificate_table_is_read_from_a_pe32_plus_header() {
        assert_eq!(pe_signature_size(&pe(16, 0x1a38)), Some(0x1a38));
        assert_eq!(pe_signature_size(&pe(16, 0)), Some(0));
        // fewer directories than the certificate table's index
        assert_eq!(pe_signature_size(&pe(4, 0x1a38)), Some(0));
        // not a PE image, or cut short
        assert_eq!(pe_signature_size(b"\x7fELF"), None);
        assert_eq!(pe_signature_size(&pe(16, 1)[..0x90]), None);
    }

    #[test]
    fn esp_directory_names_are_plain() {
        assert!(plain_name("debian"));
        assert!(plain_name("centos"));
        assert!(!plain_name("../x"));
        assert!(!plain_name("a/b"));
        assert!(!plain_name(""));
        assert!(!plain_name(".."));
    }

    #[test]
    fn the_esp_holds_shim_as_the_loader_and_grub_beside_it() {
        let chain = Chain {
            shim: "usr/lib/shim/shimx64.efi.signed".into(),
            grub: "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed".into(),
            mok_manager: None,
            vendor: "debian".into(),
        };
        let files = chain.esp_files("BOOTX64.EFI", "configfile x\n");
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "EFI/BOOT/BOOTX64.EFI",
                "EFI/BOOT/grubx64.efi",
                "EFI/BOOT/grub.cfg",
                "EFI/debian/grub.cfg"
            ]
        );
        assert!(
            matches!(&files[0].source, FileSource::RootFile(p) if p == "usr/lib/shim/shimx64.efi.signed")
        );
    }
}
