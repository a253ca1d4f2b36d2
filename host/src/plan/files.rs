//! Files next to the description that the build applies: overlay trees and
//! archives, and the hook scripts KIWI runs.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::description::ImageType;

/// What kind of overlay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OverlayKind {
    /// A directory copied over the root.
    Directory,
    /// A tarball unpacked over the root.
    Archive,
}

/// Files laid over the image root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Overlay {
    /// Directory or archive.
    pub kind: OverlayKind,
    /// Where it is.
    pub path: PathBuf,
    /// The profile it belongs to (a directory named like the profile).
    pub profile: Option<String>,
}

/// A script of the description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Script {
    /// File name (`config.sh`, ...).
    pub name: String,
    /// Where it is.
    pub path: PathBuf,
    /// When it runs: post-bootstrap, config, config-overlay,
    /// config-host-overlay, pre-image, pre-disk-sync, disk, edit-boot-config,
    /// edit-boot-install.
    pub stage: String,
    /// Runs chrooted inside the image (false: on the build host).
    pub in_image: bool,
}

/// KIWI's overlay order: `root/` (or, without it, `root.tar.gz`), then a
/// directory named after each selected profile.
pub(crate) fn overlays(dir: &Path, profiles: &[String]) -> Vec<Overlay> {
    let mut overlays = Vec::new();
    let root = dir.join("root");
    let archive = dir.join("root.tar.gz");
    if root.is_dir() {
        overlays.push(Overlay {
            kind: OverlayKind::Directory,
            path: root,
            profile: None,
        });
    } else if archive.is_file() {
        overlays.push(Overlay {
            kind: OverlayKind::Archive,
            path: archive,
            profile: None,
        });
    }
    for profile in profiles {
        // one plain name below the description (the loader refuses others;
        // `..` here would make the description's parent an overlay)
        let mut components = Path::new(profile).components();
        if !matches!(
            (components.next(), components.next()),
            (Some(std::path::Component::Normal(_)), None)
        ) {
            continue;
        }
        let path = dir.join(profile);
        if path.is_dir() {
            overlays.push(Overlay {
                kind: OverlayKind::Directory,
                path,
                profile: Some(profile.clone()),
            });
        }
    }
    overlays
}

/// The scripts KIWI looks for next to the description, in the order the
/// pipeline runs them: (file name, stage, chrooted).
const SCRIPTS: &[(&str, &str, bool)] = &[
    ("post_bootstrap.sh", "post-bootstrap", true),
    ("config.sh", "config", true),
    ("config-overlay.sh", "config-overlay", true),
    ("config-host-overlay.sh", "config-host-overlay", false),
    ("images.sh", "pre-image", true),
    ("pre_disk_sync.sh", "pre-disk-sync", true),
    ("disk.sh", "disk", true),
];

/// Scripts present in `dir`, plus the type's `editbootconfig` /
/// `editbootinstall` scripts. Those two must exist (KIWI stops the build
/// otherwise); a missing one is reported in `warnings`.
pub(crate) fn scripts(
    dir: &Path,
    image_type: &ImageType,
    warnings: &mut Vec<String>,
) -> Vec<Script> {
    let mut scripts: Vec<Script> = SCRIPTS
        .iter()
        .filter(|(name, _, _)| dir.join(name).is_file())
        .map(|(name, stage, in_image)| Script {
            name: name.to_string(),
            path: dir.join(name),
            stage: stage.to_string(),
            in_image: *in_image,
        })
        .collect();
    for (attribute, value, stage) in [
        (
            "editbootconfig",
            &image_type.editbootconfig,
            "edit-boot-config",
        ),
        (
            "editbootinstall",
            &image_type.editbootinstall,
            "edit-boot-install",
        ),
    ] {
        let Some(script) = value else { continue };
        let path = if Path::new(script).is_absolute() {
            PathBuf::from(script)
        } else {
            dir.join(script)
        };
        if !path.is_file() {
            warnings.push(format!(
                "{}: {attribute} script {script:?} does not exist; the build will stop there",
                image_type.origin
            ));
            continue;
        }
        scripts.push(Script {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| script.clone()),
            path,
            stage: stage.to_string(),
            in_image: false,
        });
    }
    scripts
}
