//! The build plan: profiles resolved, build type selected, everything validated.
//!
//! [`plan`] turns a loaded [`Description`] and a [`PlanRequest`] (profiles,
//! type, architecture) into a [`BuildPlan`]: what KIWI's `XMLState` would
//! answer for that selection, collected in one serialisable value.

// Errors are built once per failed load; their size does not matter.
#![allow(clippy::result_large_err)]

mod display;
mod error;
mod files;
pub mod kiwi_boot;
mod profiles;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use serde::Serialize;

use crate::description::{
    Archive, Container, Description, FileEntry, GroupRef, ImageType, PackageManager, PackagesKind,
    PackagesSection, PasswordFormat, Preferences, Repository, UriScheme, User, ARCH_NAMES,
};

pub use error::PlanError;
pub use files::{Overlay, OverlayKind, Script};

/// What to plan: the selection a `builder plan`/`builder run` command line makes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanRequest {
    /// `--profile` values; empty selects the profiles marked `import="true"`.
    pub profiles: Vec<String>,
    /// `--type`: the `image` of the type to build; none selects the primary one.
    pub image_type: Option<String>,
    /// Target architecture; none means the build host's ([`host_arch`]).
    pub arch: Option<String>,
}

/// The build host's architecture in KIWI's spelling (what Python's
/// `platform.machine()` reports, which KIWI compares `arch` attributes with).
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86" => "i686",
        "arm" => "armv7l",
        "powerpc" => "ppc",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "s390x" => "s390x",
        other => other,
    }
}

/// Everything a build needs to know, resolved from one description for one
/// selection of profiles, type and architecture.
///
/// # JSON form
///
/// `serde_json::to_string_pretty(&plan)` gives an object with these keys,
/// always present and in this order (`null` where a value is unset; the
/// objects under `options`/`attributes` keep the description's order):
///
/// ```json
/// {
///   "plan_version": 1,
///   "description": "/abs/path/config.xml",   // the file read
///   "description_dir": "/abs/path",
///   "format": "xml",                          // xml | yaml | json
///   "schema_version": "7.4",                  // as written; the model is 8.5
///   "included_files": ["/abs/platforms/cloud/generic-base.xml"],
///   "name": "Ubuntu-2004-Appliance",
///   "display_name": null,
///   "version": "0.0.0",
///   "arch": "x86_64",
///   "profiles": ["AWSEC2"],                   // requested + required, or the import ones
///   "package_manager": "apt",                 // apk apt zypper dnf4 dnf5 microdnf pacman
///   "preferences": {
///     "locale": "en_US", "keytable": "us", "timezone": "UTC",
///     "release_version": null, "rpm_excludedocs": false,
///     "rpm_check_signatures": false, "rpm_locale_filtering": false,
///     "bootloader_theme": null, "bootsplash_theme": null, "show_license": []
///   },
///   "type": {
///     "image": "oem", "primary": false,
///     "format": null, "filesystem": "ext4", "firmware": "uefi",
///     "kernelcmdline": "console=ttyS0 ...", "bootpartition": false,
///     "bootpartsize": null, "efipartsize": null, "devicepersistency": "by-label",
///     "editbootconfig": null, "editbootinstall": null,
///     "attributes": { "image": "oem", "filesystem": "ext4", "...": "every attribute" },
///     "bootloader": { "name": "grub2", "timeout": 1, "output_console": null,
///                     "input_console": null, "attributes": {"name": "grub2", "timeout": "1"},
///                     "settings": null, "securelinux": [] },
///     "containerconfig": null,
///     "oemconfig": { "oem-resize": "false" },
///     "size": { "value": 5, "unit": "G", "additive": null, "unpartitioned": null, "mbytes": 5120 },
///     "systemdisk": null,                     // {name, preferlvm, volumes: [{name, attributes}]}
///     "vagrantconfig": [],                    // [{provider, virtualsize, attributes}]
///     "machine": null, "partitions": null, "installmedia": null,
///     "initrd": [], "luksformat": null        // raw: {name, attributes, text?, children?}
///   },
///   "repositories": [{
///     "alias": "ubuntu", "type": "apt-deb",   // type null: the package manager's own
///     "path": "http://archive.ubuntu.com/ubuntu",   // as written
///     "uri": "http://archive.ubuntu.com/ubuntu",    // this:// resolved to dir://
///     "scheme": "http", "source_type": null,
///     "signing_keys": ["file:///usr/share/keyrings/ubuntu-archive-keyring.gpg"],
///     "distribution": "focal", "components": ["main", "restricted"],
///     "architectures": [], "priority": null,
///     "imageinclude": true, "imageonly": false, "use_for_bootstrap": true,
///     "repository_gpgcheck": null, "package_gpgcheck": null, "customize": null,
///     "username": null, "password": null     // a set password shows as "******"
///   }],
///   "packages": {
///     "bootstrap": { "packages": ["apt", "..."], "collections": [], "products": [],
///                    "archives": [], "ignore": [], "files": [],
///                    "collection_modules": {"enable": [], "disable": []},
///                    "pattern_type": "onlyRequired", "bootstrap_package": null },
///     "image": { "...": "same keys" },
///     "delete": [], "uninstall": [],
///     "substituted": [{ "package": "dracut-kiwi-live", "installed": "dracut-live",
///                       "by": "dracut's dmsquash-live, ..." }]
///   },
///   "users": [{ "name": "root", "password": "linux", "password_format": "plain",
///               "home": "/root", "shell": null, "realname": null, "id": null,
///               "groups": [{"name": "root", "id": null}] }],
///   "groups": [{ "name": "root", "id": null }],
///   "overlays": [{ "kind": "directory", "path": "/abs/path/root", "profile": null }],
///   "scripts": [{ "name": "config.sh", "path": "/abs/path/config.sh",
///                 "stage": "config", "in_image": true }],
///   "drivers": [], "strip": { "delete": [], "tools": [], "libs": [] },
///   "containers": [], "certificates": null,
///   "upgrades": ["repository ubuntu: use_for_bootstrap dropped (8.1 -> 8.2), kept as a hint"],
///   "warnings": [],
///   "plugins": []
/// }
/// ```
///
/// Package, collection, product and ignore lists are sorted and free of
/// duplicates (as KIWI's `XMLState` returns them); repositories, users,
/// overlays and scripts keep the order they are applied in.
#[derive(Debug, Clone, Serialize)]
pub struct BuildPlan {
    /// Version of this JSON form; bumped on incompatible changes.
    pub plan_version: u32,
    /// The description file.
    pub description: PathBuf,
    /// The description directory.
    pub description_dir: PathBuf,
    /// The description's markup.
    pub format: crate::description::MarkupFormat,
    /// `schemaversion` as written.
    pub schema_version: String,
    /// Files inlined by `<include>`.
    pub included_files: Vec<PathBuf>,
    /// `image name`: the artifact base name.
    pub name: String,
    /// `image displayname`.
    pub display_name: Option<String>,
    /// The image version (first `<version>` of the selected preferences).
    pub version: String,
    /// Target architecture.
    pub arch: String,
    /// The profiles in effect, in resolution order.
    pub profiles: Vec<String>,
    /// The package manager (KIWI's default dnf4 when none is named).
    pub package_manager: PackageManager,
    /// Merged preferences.
    pub preferences: PlanPreferences,
    /// The selected image type with every option.
    #[serde(rename = "type")]
    pub image_type: ImageType,
    /// Repositories to build from and/or configure in the image.
    pub repositories: Vec<PlanRepository>,
    /// Package sets.
    pub packages: PlanPackages,
    /// Users to create (first definition of a name wins, groups merged).
    pub users: Vec<User>,
    /// Groups the users need, with their ids when given.
    pub groups: Vec<GroupRef>,
    /// Overlay trees and archives, in the order they are applied.
    pub overlays: Vec<Overlay>,
    /// Scripts found next to the description, in pipeline order.
    pub scripts: Vec<Script>,
    /// Kernel drivers to keep (`<drivers>`).
    pub drivers: Vec<String>,
    /// `<strip>` lists.
    pub strip: PlanStrip,
    /// Container images to fetch into the root.
    pub containers: Vec<PlanContainer>,
    /// Certificates to add to the image's trust store.
    pub certificates: Option<PlanCertificates>,
    /// What the schema upgrade changed in the description.
    pub upgrades: Vec<String>,
    /// Problems that do not stop planning but stop a build (one line each,
    /// with location): a missing `editbootconfig`/`editbootinstall` script.
    pub warnings: Vec<String>,
    /// Plugins the build uses and their grants (filled by the plugin resolver).
    pub plugins: Vec<PlannedPlugin>,
    /// The plugins the description names (`<extension>`) for the selected
    /// profiles, in order, before they are loaded and checked.
    #[serde(skip)]
    pub plugin_refs: Vec<crate::description::PluginRef>,
}

impl BuildPlan {
    /// What the image-type plugin receives as options: the type's
    /// ([`crate::description::ImageType::plugin_options`]), then the
    /// preference KIWI applies to the boot loader, `bootloader-theme`.
    pub fn image_type_options(&self) -> Vec<(String, String)> {
        let mut options = self.image_type.plugin_options();
        if let Some(theme) = &self.preferences.bootloader_theme {
            options.push(("bootloader-theme".into(), theme.trim().to_string()));
        }
        options
    }
}

/// A plugin the build will run, and what it is granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedPlugin {
    /// Plugin name.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// `image-type`, `hook` or `baseline`.
    pub kind: String,
    /// Where the component comes from (`built-in` or a path).
    pub source: String,
    /// Capabilities granted (what it declares and the build grants).
    pub grants: Vec<String>,
    /// SHA-256 of the component.
    pub sha256: String,
    /// Hook stages it runs at (hooks only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<String>,
    /// Options, defaults filled in.
    pub options: crate::description::Options,
    /// The description's settings for it that it does not declare, so
    /// that it reads them nowhere (`name=value`): KIWI settings builder
    /// does not carry out. The goal is none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_acted_on: Vec<String>,
}

/// Preferences merged over the selected sections: the first section (in
/// document order) that sets a value wins, as in KIWI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanPreferences {
    /// `<locale>`.
    pub locale: Option<String>,
    /// `<keytable>`.
    pub keytable: Option<String>,
    /// `<timezone>`.
    pub timezone: Option<String>,
    /// `<release-version>`.
    pub release_version: Option<String>,
    /// `<rpm-excludedocs>` (default false).
    pub rpm_excludedocs: bool,
    /// `<rpm-check-signatures>` (default false).
    pub rpm_check_signatures: bool,
    /// `<rpm-locale-filtering>` (default false).
    pub rpm_locale_filtering: bool,
    /// `<bootloader-theme>`.
    pub bootloader_theme: Option<String>,
    /// `<bootsplash-theme>`.
    pub bootsplash_theme: Option<String>,
    /// `<showlicense>` entries of all selected sections.
    pub show_license: Vec<String>,
}

/// A repository as the build uses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanRepository {
    /// `alias`.
    pub alias: Option<String>,
    /// `type`; null means the package manager's native type.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `source path` as written.
    pub path: String,
    /// The location to use: `this://` made `dir://<absolute path>`.
    pub uri: String,
    /// The scheme of `uri`.
    pub scheme: UriScheme,
    /// `sourcetype`.
    pub source_type: Option<String>,
    /// Signing keys (`$releasever` replaced when a release version is set).
    pub signing_keys: Vec<String>,
    /// `distribution` (apt suite).
    pub distribution: Option<String>,
    /// `components` (apt).
    pub components: Vec<String>,
    /// `architectures` (apt).
    pub architectures: Vec<String>,
    /// `priority`.
    pub priority: Option<i64>,
    /// Also configured inside the image.
    pub imageinclude: bool,
    /// Only configured inside the image, not used to build.
    pub imageonly: bool,
    /// Pre-8.2 hint: use for the bootstrap stage.
    pub use_for_bootstrap: bool,
    /// `repository_gpgcheck`.
    pub repository_gpgcheck: Option<bool>,
    /// `package_gpgcheck`.
    pub package_gpgcheck: Option<bool>,
    /// `customize` script.
    pub customize: Option<String>,
    /// `username`.
    pub username: Option<String>,
    /// `"******"` when a password is set (the description holds the real one).
    pub password: Option<String>,
}

/// Packages to install into the empty root or into the image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PackageSet {
    /// Package names.
    pub packages: Vec<String>,
    /// `namedCollection` names (patterns, groups).
    pub collections: Vec<String>,
    /// `product` names.
    pub products: Vec<String>,
    /// Archives to unpack, by name.
    pub archives: Vec<Archive>,
    /// Packages to leave out.
    pub ignore: Vec<String>,
    /// Files to place.
    pub files: Vec<FileEntry>,
    /// dnf modules to enable (`name` or `name:stream`) and disable.
    pub collection_modules: CollectionModules,
    /// `onlyRequired` (default) or `plusRecommended`.
    pub pattern_type: String,
    /// `bootstrap_package`.
    pub bootstrap_package: Option<String>,
}

/// dnf modules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CollectionModules {
    /// Modules to enable.
    pub enable: Vec<String>,
    /// Modules to disable.
    pub disable: Vec<String>,
}

/// All package sets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlanPackages {
    /// `type="bootstrap"`, plus the package manager itself when image
    /// packages exist (as KIWI does). Unlike KIWI, collections, products and
    /// ignores of `type="<build type>"` sections count for the image set only.
    pub bootstrap: PackageSet,
    /// `type="image"` and `type="<build type>"`.
    pub image: PackageSet,
    /// `type="delete"`: removed without dependencies.
    pub delete: Vec<String>,
    /// `type="uninstall"`: removed with what only they need.
    pub uninstall: Vec<String>,
    /// KIWI's boot packages left out of the image set, and what builder
    /// does in their place (see `kiwi_boot.rs`).
    pub substituted: Vec<kiwi_boot::Substitution>,
}

/// `<strip>` lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlanStrip {
    /// Files to delete.
    pub delete: Vec<String>,
    /// Tools to keep.
    pub tools: Vec<String>,
    /// Libraries to keep.
    pub libs: Vec<String>,
}

/// A container image to fetch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanContainer {
    /// Registry (`containers source`).
    pub source: String,
    /// Tool that fetches it.
    pub backend: String,
    /// The container.
    #[serde(flatten)]
    pub container: Container,
}

/// `<certificates>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanCertificates {
    /// Distribution layout of the trust store.
    pub target_distribution: String,
    /// Certificate files.
    pub names: Vec<String>,
}

/// Section applies to the selected profiles and architecture.
fn applies(
    profiles_attr: &[String],
    arch_attr: &[String],
    selected: &HashSet<&str>,
    arch: &str,
) -> bool {
    let profile_ok =
        profiles_attr.is_empty() || profiles_attr.iter().any(|p| selected.contains(p.as_str()));
    profile_ok && arch_ok(arch_attr, arch)
}

fn arch_ok(arch_attr: &[String], arch: &str) -> bool {
    arch_attr.is_empty() || arch_attr.iter().any(|a| a == arch)
}

/// Plans `desc` for `request`.
pub fn plan(desc: &Description, request: &PlanRequest) -> Result<BuildPlan, PlanError> {
    crate::interrupt::check("planning")?;
    let arch = match &request.arch {
        Some(arch) => {
            let arch = arch.trim();
            if !ARCH_NAMES.contains(&arch) {
                return Err(PlanError::UnknownArch {
                    arch: arch.to_string(),
                    expected: ARCH_NAMES.join(", "),
                });
            }
            arch.to_string()
        }
        None => host_arch().to_string(),
    };
    let selected = profiles::resolve(desc, &request.profiles, &arch)?;
    let selected_set: HashSet<&str> = selected.iter().map(String::as_str).collect();
    let _span = tracing::debug_span!("plan", name = %desc.name, %arch).entered();

    let preferences: Vec<&Preferences> = desc
        .preferences
        .iter()
        .filter(|p| applies(&p.profiles, &p.arch, &selected_set, &arch))
        .collect();
    let image_type = select_type(desc, &preferences, request.image_type.as_deref(), &selected)?;
    let image_type = image_type_for_arch(image_type, &arch);

    let first = |f: &dyn Fn(&Preferences) -> Option<String>| preferences.iter().find_map(|p| f(p));
    let first_bool = |f: &dyn Fn(&Preferences) -> Option<bool>| {
        preferences.iter().find_map(|p| f(p)).unwrap_or(false)
    };
    let merged = PlanPreferences {
        locale: first(&|p| p.locale.clone()),
        keytable: first(&|p| p.keytable.clone()),
        timezone: first(&|p| p.timezone.clone()),
        release_version: first(&|p| p.release_version.clone()),
        rpm_excludedocs: first_bool(&|p| p.rpm_excludedocs),
        rpm_check_signatures: first_bool(&|p| p.rpm_check_signatures),
        rpm_locale_filtering: first_bool(&|p| p.rpm_locale_filtering),
        bootloader_theme: first(&|p| p.bootloader_theme.clone()),
        bootsplash_theme: first(&|p| p.bootsplash_theme.clone()),
        show_license: preferences
            .iter()
            .flat_map(|p| p.show_license.iter().cloned())
            .collect(),
    };
    let version = first(&|p| p.version.clone()).unwrap_or_default();
    let package_manager = preferences
        .iter()
        .find_map(|p| p.package_manager)
        .unwrap_or(PackageManager::DEFAULT);

    let repositories: Vec<PlanRepository> = desc
        .repositories
        .iter()
        .filter(|r| applies(&r.profiles, &r.arch, &selected_set, &arch))
        .map(|r| plan_repository(desc, r, merged.release_version.as_deref()))
        .collect();

    let sections: Vec<&PackagesSection> = desc
        .packages
        .iter()
        .filter(|s| applies(&s.profiles, &[], &selected_set, &arch))
        .collect();
    let packages = plan_packages(&sections, &image_type.image, package_manager, &arch);
    crate::interrupt::check("planning")?;

    let (users, groups) = plan_users(desc, &selected_set, &arch);
    let overlays = files::overlays(&desc.dir, &selected);
    let mut warnings = Vec::new();
    let scripts = files::scripts(&desc.dir, &image_type, &mut warnings);
    for warning in &warnings {
        tracing::warn!("{warning}");
    }
    tracing::debug!(
        profiles = ?selected,
        image_type = %image_type.image,
        repositories = repositories.len(),
        "plan resolved"
    );

    let drivers = desc
        .drivers
        .iter()
        .filter(|d| applies(&d.profiles, &[], &selected_set, &arch))
        .flat_map(|d| d.files.iter())
        .filter(|f| arch_ok(&f.arch, &arch))
        .map(|f| f.name.clone())
        .collect();
    let mut strip = PlanStrip::default();
    for section in desc
        .strip
        .iter()
        .filter(|s| applies(&s.profiles, &[], &selected_set, &arch))
    {
        let list = match section.kind.as_str() {
            "delete" => &mut strip.delete,
            "tools" => &mut strip.tools,
            _ => &mut strip.libs,
        };
        list.extend(
            section
                .files
                .iter()
                .filter(|f| arch_ok(&f.arch, &arch))
                .map(|f| f.name.clone()),
        );
    }
    let containers = desc
        .containers
        .iter()
        .filter(|c| applies(&c.profiles, &c.arch, &selected_set, &arch))
        .flat_map(|section| {
            section
                .containers
                .iter()
                .filter(|c| arch_ok(&c.arch, &arch))
                .map(|c| PlanContainer {
                    source: section.source.clone(),
                    backend: section.backend.clone(),
                    container: c.clone(),
                })
        })
        .collect();
    let certificates = desc
        .certificates
        .as_ref()
        .filter(|c| applies(&c.profiles, &[], &selected_set, &arch))
        .map(|c| PlanCertificates {
            target_distribution: c.target_distribution.clone(),
            names: c.names.clone(),
        });

    let plugin_refs = desc
        .plugins
        .iter()
        .filter(|p| applies(&p.profiles, &[], &selected_set, &arch))
        .cloned()
        .collect();
    Ok(BuildPlan {
        plan_version: 1,
        description: desc.file.clone(),
        description_dir: desc.dir.clone(),
        format: desc.format,
        schema_version: desc.schema_version.clone(),
        included_files: desc.included_files.clone(),
        name: desc.name.clone(),
        display_name: desc.display_name.clone(),
        version,
        arch,
        profiles: selected,
        package_manager,
        preferences: merged,
        image_type,
        repositories,
        packages,
        users,
        groups,
        overlays,
        scripts,
        drivers,
        strip,
        containers,
        certificates,
        upgrades: desc.upgrades.clone(),
        warnings,
        plugins: Vec::new(),
        plugin_refs,
    })
}

/// The build type among the selected preferences: the requested one, else
/// the only `primary="true"` one, else the first (KIWI's order).
fn select_type<'d>(
    desc: &'d Description,
    preferences: &[&'d Preferences],
    requested: Option<&str>,
    selected: &[String],
) -> Result<&'d ImageType, PlanError> {
    let candidates: Vec<&ImageType> = preferences.iter().flat_map(|p| p.types.iter()).collect();
    let names = |types: &[&ImageType]| {
        let mut names: Vec<&str> = types.iter().map(|t| t.image.as_str()).collect();
        names.dedup();
        names.join(", ")
    };
    let mut first_of: HashMap<&str, &ImageType> = HashMap::new();
    for later in &candidates {
        if let Some(first) = first_of.insert(later.image.as_str(), later) {
            return Err(PlanError::DuplicateType {
                first: first.origin.clone(),
                second: later.origin.clone(),
                image: later.image.clone(),
                profiles: if selected.is_empty() {
                    "none".into()
                } else {
                    selected.join(", ")
                },
            });
        }
    }
    if let Some(requested) = requested {
        let matching: Vec<&ImageType> = candidates
            .iter()
            .copied()
            .filter(|t| t.image == requested.trim())
            .collect();
        return match matching.iter().find(|t| t.primary).or(matching.first()) {
            Some(t) => Ok(t),
            None => Err(PlanError::UnknownType {
                origin: desc.origin.clone(),
                requested: requested.to_string(),
                profiles: selected.join(", "),
                available: if candidates.is_empty() {
                    "none".into()
                } else {
                    names(&candidates)
                },
            }),
        };
    }
    let primaries: Vec<&ImageType> = candidates.iter().copied().filter(|t| t.primary).collect();
    if let [first, second, ..] = primaries.as_slice() {
        return Err(PlanError::AmbiguousPrimary {
            first: first.origin.clone(),
            first_image: first.image.clone(),
            second: second.origin.clone(),
            second_image: second.image.clone(),
        });
    }
    if let Some(primary) = primaries.first() {
        return Ok(primary);
    }
    candidates.first().copied().ok_or_else(|| {
        let with_types: Vec<&str> = desc
            .profiles
            .iter()
            .filter(|profile| {
                desc.preferences
                    .iter()
                    .any(|p| p.profiles.contains(&profile.name) && !p.types.is_empty())
            })
            .map(|p| p.name.as_str())
            .collect();
        PlanError::NoType {
            origin: desc.origin.clone(),
            profiles: selected.join(", "),
            hint: if with_types.is_empty() {
                String::new()
            } else {
                format!("; profiles with a type: {}", with_types.join(", "))
            },
        }
    })
}

/// The type with parts for other architectures left out.
fn image_type_for_arch(image_type: &ImageType, arch: &str) -> ImageType {
    let mut image_type = image_type.clone();
    if let Some(disk) = image_type.systemdisk.as_mut() {
        disk.volumes.retain(|v| arch_ok(&v.arch, arch));
    }
    for element in &mut image_type.elements {
        if element.name == "systemdisk" {
            element.children.retain(|v| {
                let archs: Vec<String> = v
                    .attributes
                    .get("arch")
                    .map(|a| a.split(',').map(|s| s.trim().to_string()).collect())
                    .unwrap_or_default();
                arch_ok(&archs, arch)
            });
        }
    }
    image_type
}

fn plan_repository(desc: &Description, r: &Repository, release: Option<&str>) -> PlanRepository {
    let (scheme, uri) = match UriScheme::parse(&r.path) {
        Some((UriScheme::This, rest)) => {
            let dir = std::path::absolute(&desc.dir).unwrap_or_else(|_| desc.dir.clone());
            let path = crate::description::normalize_path(&dir.join(rest));
            (UriScheme::Dir, format!("dir://{}", path.display()))
        }
        Some((UriScheme::Dir, rest)) if r.path.starts_with('/') => {
            (UriScheme::Dir, format!("dir://{rest}"))
        }
        _ => (r.scheme, r.path.clone()),
    };
    let signing_keys = r
        .signing_keys
        .iter()
        .map(|key| match release {
            Some(release) => key
                .replace("${releasever}", release)
                .replace("$releasever", release),
            None => key.clone(),
        })
        .collect();
    PlanRepository {
        alias: r.alias.clone(),
        kind: r.kind.map(|k| k.as_str().to_string()),
        path: r.path.clone(),
        uri,
        scheme,
        source_type: r.source_type.clone(),
        signing_keys,
        distribution: r.distribution.clone(),
        components: r.components.clone(),
        architectures: r.architectures.clone(),
        priority: r.priority,
        imageinclude: r.imageinclude,
        imageonly: r.imageonly,
        use_for_bootstrap: r.use_for_bootstrap,
        repository_gpgcheck: r.repository_gpgcheck,
        package_gpgcheck: r.package_gpgcheck,
        customize: r.customize.clone(),
        username: r.username.clone(),
        password: r.password.as_ref().map(|_| "******".to_string()),
    }
}

fn sorted_unique(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names.dedup();
    names
}

fn package_set(sections: &[&PackagesSection], arch: &str) -> PackageSet {
    let names = |pick: &dyn Fn(&PackagesSection) -> Vec<String>| {
        sorted_unique(sections.iter().flat_map(|s| pick(s)).collect())
    };
    let mut archives: Vec<Archive> = sections
        .iter()
        .flat_map(|s| s.archives.iter().cloned())
        .collect();
    archives.sort_by(|a, b| a.name.cmp(&b.name));
    archives.dedup_by(|a, b| a.name == b.name);
    let mut modules = CollectionModules::default();
    for module in sections
        .iter()
        .flat_map(|s| s.collection_modules.iter())
        .filter(|m| arch_ok(&m.arch, arch))
    {
        if module.enable {
            modules.enable.push(match &module.stream {
                Some(stream) => format!("{}:{stream}", module.name),
                None => module.name.clone(),
            });
        } else {
            modules.disable.push(module.name.clone());
        }
    }
    PackageSet {
        packages: names(&|s| {
            s.packages
                .iter()
                .filter(|p| arch_ok(&p.arch, arch))
                .map(|p| p.name.clone())
                .collect()
        }),
        collections: names(&|s| {
            s.collections
                .iter()
                .filter(|c| arch_ok(&c.arch, arch))
                .map(|c| c.name.clone())
                .collect()
        }),
        products: names(&|s| {
            s.products
                .iter()
                .filter(|c| arch_ok(&c.arch, arch))
                .map(|c| c.name.clone())
                .collect()
        }),
        archives,
        ignore: names(&|s| {
            s.ignore
                .iter()
                .filter(|c| arch_ok(&c.arch, arch))
                .map(|c| c.name.clone())
                .collect()
        }),
        files: sections
            .iter()
            .flat_map(|s| s.files.iter())
            .filter(|f| arch_ok(&f.arch, arch))
            .cloned()
            .collect(),
        collection_modules: modules,
        pattern_type: sections
            .iter()
            .find_map(|s| s.pattern_type.clone())
            .unwrap_or_else(|| "onlyRequired".to_string()),
        bootstrap_package: sections.iter().find_map(|s| s.bootstrap_package.clone()),
    }
}

fn plan_packages(
    sections: &[&PackagesSection],
    build_type: &str,
    package_manager: PackageManager,
    arch: &str,
) -> PlanPackages {
    let of_kind = |wanted: &dyn Fn(&PackagesKind) -> bool| -> Vec<&PackagesSection> {
        sections
            .iter()
            .copied()
            .filter(|s| wanted(&s.kind))
            .collect()
    };
    let bootstrap_sections = of_kind(&|k| *k == PackagesKind::Bootstrap);
    let image_sections = of_kind(&|k| {
        *k == PackagesKind::Image || matches!(k, PackagesKind::ForImageType(t) if t == build_type)
    });
    let mut bootstrap = package_set(&bootstrap_sections, arch);
    let mut image = package_set(&image_sections, arch);
    let substituted = kiwi_boot::substitute(package_manager, &mut image.packages);
    // KIWI installs the image packages with the package manager inside the
    // root, so the bootstrap set brings that package manager along.
    if !bootstrap.packages.is_empty() && !image.packages.is_empty() {
        bootstrap
            .packages
            .push(package_manager.package_name().to_string());
        bootstrap.packages = sorted_unique(std::mem::take(&mut bootstrap.packages));
    }
    let removal = |kind: PackagesKind| {
        sorted_unique(
            sections
                .iter()
                .filter(|s| s.kind == kind)
                .flat_map(|s| s.packages.iter())
                .filter(|p| arch_ok(&p.arch, arch))
                .map(|p| p.name.clone())
                .collect(),
        )
    };
    PlanPackages {
        bootstrap,
        image,
        delete: removal(PackagesKind::Delete),
        uninstall: removal(PackagesKind::Uninstall),
        substituted,
    }
}

/// Users as KIWI merges them: the first definition of a name wins, and a
/// user's groups are the union over all its definitions, in order.
fn plan_users(
    desc: &Description,
    selected: &HashSet<&str>,
    arch: &str,
) -> (Vec<User>, Vec<GroupRef>) {
    let definitions: Vec<&User> = desc
        .users
        .iter()
        .filter(|s| applies(&s.profiles, &s.arch, selected, arch))
        .flat_map(|s| s.users.iter())
        .collect();
    let mut users: Vec<User> = Vec::new();
    // where each name is in `users`, and the names of the groups it has
    let mut user_index: HashMap<&str, usize> = HashMap::new();
    let mut user_groups: Vec<HashSet<&str>> = Vec::new();
    for user in &definitions {
        match user_index.get(user.name.as_str()) {
            Some(&index) => {
                for group in &user.groups {
                    if user_groups[index].insert(group.name.as_str()) {
                        users[index].groups.push(group.clone());
                    }
                }
            }
            None => {
                user_index.insert(user.name.as_str(), users.len());
                user_groups.push(user.groups.iter().map(|g| g.name.as_str()).collect());
                let mut user = (*user).clone();
                if user.password_format.is_none() {
                    user.password_format = Some(PasswordFormat::Encrypted);
                }
                users.push(user);
            }
        }
    }
    let mut groups: Vec<GroupRef> = Vec::new();
    let mut group_index: HashMap<&str, usize> = HashMap::new();
    for group in users.iter().flat_map(|u| u.groups.iter()) {
        match group_index.get(group.name.as_str()) {
            Some(&index) => {
                let existing = &mut groups[index];
                if existing.id.is_none() {
                    existing.id = group.id;
                }
            }
            None => {
                group_index.insert(group.name.as_str(), groups.len());
                groups.push(group.clone());
            }
        }
    }
    (users, groups)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::description::{from_str, MarkupFormat};

    const DESCRIPTION: &str = r#"<image schemaversion="8.5" name="t">
  <description type="system"><author>a</author><contact>c</contact><specification>s</specification></description>
  <profiles>
    <profile name="base" description="b"/>
    <profile name="cloud" description="c" import="true"><requires profile="base"/></profile>
    <profile name="arm" description="a" arch="aarch64"/>
    <profile name="disk" description="d"><requires profile="base"/><requires profile="cloud"/></profile>
  </profiles>
  <preferences>
    <version>1.2.3</version>
    <locale>en_US</locale>
  </preferences>
  <preferences profiles="base">
    <version>9.9.9</version>
    <timezone>UTC</timezone>
    <packagemanager>zypper</packagemanager>
    <type image="tbz"/>
  </preferences>
  <preferences profiles="cloud">
    <type image="oem" filesystem="xfs" primary="true">
      <systemdisk><volume name="home"/><volume name="arm" arch="aarch64"/></systemdisk>
    </type>
  </preferences>
  <users><user name="root" password="x" groups="root"/></users>
  <users profiles="cloud"><user name="root" password="y" groups="wheel:10"/><user name="u" password="" groups="users"/></users>
  <packages type="image"><package name="vim"/><package name="grub" arch="x86_64"/><package name="uboot" arch="aarch64,armv7l"/></packages>
  <packages type="oem"><package name="dracut"/><namedCollection name="base" /></packages>
  <packages type="iso"><package name="xorriso"/></packages>
  <packages type="bootstrap" profiles="cloud"><package name="filesystem"/></packages>
  <packages type="delete"><package name="b"/><package name="a"/><package name="a"/></packages>
</image>"#;

    fn description() -> Description {
        from_str(
            DESCRIPTION,
            MarkupFormat::Xml,
            Path::new("/nowhere/config.xml"),
        )
        .unwrap()
    }

    fn request(profiles: &[&str], arch: &str) -> PlanRequest {
        PlanRequest {
            profiles: profiles.iter().map(|p| p.to_string()).collect(),
            image_type: None,
            arch: Some(arch.into()),
        }
    }

    #[test]
    fn import_profiles_and_requirements() {
        let p = plan(&description(), &request(&[], "x86_64")).unwrap();
        assert_eq!(p.profiles, ["cloud", "base"]);
        let p = plan(&description(), &request(&["disk"], "x86_64")).unwrap();
        assert_eq!(p.profiles, ["disk", "base", "cloud"]);
    }

    #[test]
    fn preferences_merge_first_wins() {
        let p = plan(&description(), &request(&["base"], "x86_64")).unwrap();
        assert_eq!(p.version, "1.2.3");
        assert_eq!(p.preferences.locale.as_deref(), Some("en_US"));
        assert_eq!(p.preferences.timezone.as_deref(), Some("UTC"));
        assert_eq!(p.package_manager, PackageManager::Zypper);
        assert_eq!(p.image_type.image, "tbz");
    }

    #[test]
    fn primary_type_packages_and_arch() {
        let p = plan(&description(), &request(&["cloud"], "x86_64")).unwrap();
        assert_eq!(p.image_type.image, "oem");
        assert_eq!(p.packages.image.packages, ["dracut", "grub", "vim"]);
        assert_eq!(p.packages.image.collections, ["base"]);
        assert_eq!(p.packages.bootstrap.packages, ["filesystem", "zypper"]);
        assert_eq!(p.packages.delete, ["a", "b"]);
        let volumes = &p.image_type.systemdisk.as_ref().unwrap().volumes;
        assert_eq!(volumes.len(), 1);
        let p = plan(&description(), &request(&["cloud"], "aarch64")).unwrap();
        assert_eq!(p.packages.image.packages, ["dracut", "uboot", "vim"]);
        assert_eq!(p.image_type.systemdisk.as_ref().unwrap().volumes.len(), 2);
        let with_type = PlanRequest {
            image_type: Some("tbz".into()),
            ..request(&["cloud"], "x86_64")
        };
        let p = plan(&description(), &with_type).unwrap();
        assert_eq!(p.image_type.image, "tbz");
        assert_eq!(p.packages.image.packages, ["grub", "vim"]);
    }

    #[test]
    fn users_merge_like_kiwi() {
        let p = plan(&description(), &request(&["cloud"], "x86_64")).unwrap();
        let root = &p.users[0];
        assert_eq!(root.password, "x");
        let groups: Vec<_> = root
            .groups
            .iter()
            .map(|g| (g.name.as_str(), g.id))
            .collect();
        assert_eq!(groups, [("root", None), ("wheel", Some(10))]);
        assert_eq!(p.users[1].name, "u");
        let names: Vec<_> = p.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["root", "wheel", "users"]);
    }

    #[test]
    fn errors() {
        let d = description();
        let e = plan(&d, &request(&["arm"], "x86_64")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/nowhere/config.xml:1:1: /image: unknown profile \"arm\" for x86_64, expected one of: base, cloud, disk"
        );
        let e = plan(&d, &request(&[], "sparc")).unwrap_err();
        assert!(
            e.to_string().starts_with("unknown architecture \"sparc\""),
            "{e}"
        );
        let e = plan(
            &d,
            &PlanRequest {
                image_type: Some("iso".into()),
                ..request(&["cloud"], "x86_64")
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("expected one of: tbz, oem"), "{e}");
    }

    #[test]
    fn display_and_json() {
        let p = plan(&description(), &request(&["cloud"], "x86_64")).unwrap();
        let text = p.to_string();
        assert!(text.starts_with("t 1.2.3 for x86_64\n"), "{text}");
        assert!(text.contains("type:            oem (primary)"), "{text}");
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["type"]["attributes"]["filesystem"], "xfs");
        assert_eq!(json["plugins"], serde_json::json!([]));
    }
}
