//! `builder matrix`: every buildable variant of a set of descriptions, in a
//! fixed order, and the CI documents that build them ([`emit`]).
//!
//! A variant is a description, the profiles to select and the image type
//! they select: what one `builder run` builds. Following KIWI, whose
//! `<preferences profiles="...">` sections hold the `<type>`s, a
//! description with profiles has one variant per profile that selects a
//! type, with what it requires; the plan decides ([`crate::plan::plan`]),
//! so a variant is exactly a selection `builder plan` accepts. A profile
//! whose plan fails (no type of its own, or not the `--type` asked for) is
//! no variant. A description without profiles has one variant: its primary
//! type, or the `--type` asked for. `--profile` keeps only the profiles
//! named. The order is the descriptions' order, then the profiles' order in
//! each description (includes inlined), so index N names the same variant
//! for `builder matrix --list` and `builder run --variant N` as long as the
//! descriptions do not change.
//!
//! Variants whose prepared roots are the same (the inputs of the
//! prepared-root cache's description key that a plan fixes: architecture,
//! package manager, build repositories, bootstrap and image packages,
//! post-bootstrap scripts and hooks) share a [`Variant::root`] key: the CI
//! documents build them one after the other, so the first fills the cache
//! the others start from, and [`fleet`] (`builder matrix --run`) builds
//! them on this machine the same way.

// Plan errors are built once per failed plan; their size does not matter.
#![allow(clippy::result_large_err)]

pub mod emit;
pub mod fleet;

use std::collections::HashSet;
use std::path::PathBuf;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::description::{Description, DescriptionError, PluginKind};
use crate::plan::{BuildPlan, PlanError, PlanRequest};

/// Which variants to list: the command line of `builder matrix` (and of
/// `builder run --variant`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatrixRequest {
    /// Description directories, in order.
    pub descriptions: Vec<PathBuf>,
    /// `--profile` values: only variants of these profiles (none: all).
    pub profiles: Vec<String>,
    /// `--type`: this image type instead of each selection's primary one.
    pub image_type: Option<String>,
}

/// One buildable variant.
///
/// # JSON form
///
/// `builder matrix --list --json` prints an array of these, in order:
///
/// ```json
/// { "index": 0, "description": "datto/kiwi-desc/ubuntu2004",
///   "profiles": ["Azure"], "profiles_in_effect": ["Azure"],
///   "type": { "image": "oem", "format": null },
///   "name": "Ubuntu-2004-Appliance", "arch": "x86_64", "root": "3f0c9a1e52d4b7a6" }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Variant {
    /// Its place in the list, from 0: `builder run --variant N`.
    pub index: usize,
    /// The description directory as given.
    pub description: PathBuf,
    /// The profiles to select (`--profile`); empty for a description
    /// without profiles.
    pub profiles: Vec<String>,
    /// The profiles in effect: those and what they require, in KIWI's order.
    pub profiles_in_effect: Vec<String>,
    /// The image type.
    #[serde(rename = "type")]
    pub image_type: VariantType,
    /// The image name (`<image name=...>`).
    pub name: String,
    /// The architecture it is built for (the build host's).
    pub arch: String,
    /// Key of its prepared root: variants with the same key prepare the same root.
    pub root: String,
}

/// A variant's image type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VariantType {
    /// `<type image=...>`.
    pub image: String,
    /// `<type format=...>`.
    pub format: Option<String>,
}

impl Variant {
    /// The arguments of `builder run` that build it, before `--target-dir`:
    /// the description, its profiles and its type.
    pub fn run_args(&self) -> Vec<String> {
        let mut args = vec![self.description.display().to_string()];
        for profile in &self.profiles {
            args.push("--profile".into());
            args.push(profile.clone());
        }
        args.push("--type".into());
        args.push(self.image_type.image.clone());
        args
    }

    /// A name for its job and its artifacts, unique in its list: the index,
    /// the description directory's name, the profiles and the type, in
    /// letters, digits, `.`, `_` and `-`.
    pub fn slug(&self) -> String {
        let base = self
            .description
            .components()
            .rev()
            .find_map(|c| match c {
                std::path::Component::Normal(name) => Some(name.to_string_lossy()),
                _ => None,
            })
            .map_or_else(|| self.name.clone(), |name| name.into_owned());
        let mut parts = vec![self.index.to_string(), base];
        parts.extend(self.profiles.iter().cloned());
        parts.push(self.image_type.image.clone());
        parts
            .join("-")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    }

    /// One line of `builder matrix --list`: index, description, profiles,
    /// type (and format).
    pub fn list_line(&self) -> String {
        let profiles = if self.profiles.is_empty() {
            "-".to_string()
        } else {
            self.profiles.join(",")
        };
        let image = match &self.image_type.format {
            Some(format) => format!("{} ({format})", self.image_type.image),
            None => self.image_type.image.clone(),
        };
        format!(
            "{}  {}  {profiles}  {image}",
            self.index,
            self.description.display()
        )
    }
}

/// Why the variants cannot be listed.
#[derive(Debug, thiserror::Error)]
pub enum MatrixError {
    /// A description does not load.
    #[error(transparent)]
    Description(#[from] DescriptionError),
    /// `--profile` names a profile no description declares.
    #[error("--profile {name}: no description declares it for {arch} ({declared})")]
    UnknownProfile {
        /// The profile asked for.
        name: String,
        /// The architecture.
        arch: String,
        /// Each description file with its profiles.
        declared: String,
    },
    /// No selection of a description plans.
    #[error("{file}: no variant can be built: {reasons}")]
    NoVariant {
        /// The description file.
        file: PathBuf,
        /// Each selection tried and why it failed.
        reasons: String,
    },
    /// `--variant N` past the end of the list.
    #[error("--variant {index}: the descriptions have {count} variant(s), numbered 0 to {last} (`builder matrix ... --list` lists them)", last = count.saturating_sub(1))]
    OutOfRange {
        /// The index asked for.
        index: usize,
        /// How many variants there are.
        count: usize,
    },
    /// A post-bootstrap script cannot be read for the root key.
    #[error("reading {}: {source}", path.display())]
    Script {
        /// The script.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A stop was requested while planning.
    #[error(transparent)]
    Interrupted(#[from] crate::interrupt::Interrupted),
}

/// Every buildable variant of `request`'s descriptions, in order.
pub fn variants(request: &MatrixRequest) -> Result<Vec<Variant>, MatrixError> {
    let loaded = request
        .descriptions
        .iter()
        .map(|dir| Ok((dir.clone(), crate::description::load(dir)?)))
        .collect::<Result<Vec<(PathBuf, Description)>, MatrixError>>()?;
    variants_of(&loaded, request)
}

/// The variant `index` of `request`'s list.
pub fn variant(request: &MatrixRequest, index: usize) -> Result<Variant, MatrixError> {
    let mut all = variants(request)?;
    let count = all.len();
    if index >= count {
        return Err(MatrixError::OutOfRange { index, count });
    }
    Ok(all.swap_remove(index))
}

/// The profiles of `desc` that exist on `arch`, in document order.
fn declared<'d>(desc: &'d Description, arch: &str) -> Vec<&'d str> {
    desc.profiles
        .iter()
        .filter(|p| p.arch.is_empty() || p.arch.iter().any(|a| a == arch))
        .map(|p| p.name.as_str())
        .collect()
}

/// [`variants`] of descriptions already loaded (each with the path it was
/// given as).
pub fn variants_of(
    loaded: &[(PathBuf, Description)],
    request: &MatrixRequest,
) -> Result<Vec<Variant>, MatrixError> {
    let arch = crate::plan::host_arch();
    for name in &request.profiles {
        if !loaded
            .iter()
            .any(|(_, desc)| declared(desc, arch).contains(&name.as_str()))
        {
            let declared = loaded
                .iter()
                .map(|(_, desc)| {
                    let names = declared(desc, arch);
                    let names = if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    };
                    format!("{}: {names}", desc.file.display())
                })
                .collect::<Vec<_>>()
                .join("; ");
            return Err(MatrixError::UnknownProfile {
                name: name.clone(),
                arch: arch.to_string(),
                declared,
            });
        }
    }
    let mut variants = Vec::new();
    // why the first description without the type asked for has none
    let mut unmatched = None;
    for (dir, desc) in loaded {
        let profiles = declared(desc, arch);
        // each selection to plan: one profile, or none at all
        let selections: Vec<Vec<String>> = if profiles.is_empty() {
            if request.profiles.is_empty() {
                vec![Vec::new()]
            } else {
                Vec::new()
            }
        } else {
            profiles
                .iter()
                .filter(|p| request.profiles.is_empty() || request.profiles.iter().any(|r| r == *p))
                .map(|p| vec![p.to_string()])
                .collect()
        };
        // a profile that requires another can select what that one selects
        let mut seen: HashSet<(Vec<String>, String)> = HashSet::new();
        let mut reasons = Vec::new();
        // whether every selection failed for the `--type` filter only
        let mut filtered = true;
        let before = variants.len();
        for selection in &selections {
            let plan_request = PlanRequest {
                profiles: selection.clone(),
                image_type: request.image_type.clone(),
                arch: None,
            };
            let plan = match crate::plan::plan(desc, &plan_request) {
                Ok(plan) => plan,
                Err(PlanError::Interrupted(stop)) => return Err(stop.into()),
                Err(e) => {
                    let which = match selection.first() {
                        Some(profile) => format!("profile {profile}"),
                        None => "without profiles".to_string(),
                    };
                    filtered &= matches!(e, PlanError::UnknownType { .. });
                    if matches!(e, PlanError::NoType { .. } | PlanError::UnknownType { .. }) {
                        tracing::debug!("{}: {which} is no variant: {e}", dir.display());
                    } else {
                        tracing::warn!("{}: {which} is no variant: {e}", dir.display());
                    }
                    reasons.push(format!("{which}: {e}"));
                    continue;
                }
            };
            let mut set = plan.profiles.clone();
            set.sort();
            if !seen.insert((set, plan.image_type.image.clone())) {
                continue;
            }
            variants.push(Variant {
                index: variants.len(),
                description: dir.clone(),
                profiles: selection.clone(),
                profiles_in_effect: plan.profiles.clone(),
                image_type: VariantType {
                    image: plan.image_type.image.clone(),
                    format: plan.image_type.format.clone(),
                },
                name: plan.name.clone(),
                arch: plan.arch.clone(),
                root: root_key(&plan)?,
            });
        }
        if !selections.is_empty() && variants.len() == before {
            let error = MatrixError::NoVariant {
                file: desc.file.clone(),
                reasons: reasons.join("; "),
            };
            // a description without the type asked for has no variant of
            // it, like one without the profiles asked for; one that has no
            // variant at all is wrong
            if !filtered {
                return Err(error);
            }
            unmatched.get_or_insert(error);
        }
    }
    match unmatched {
        Some(error) if variants.is_empty() => Err(error),
        _ => Ok(variants),
    }
}

/// The key of the root `plan` prepares: what the prepared-root cache's
/// description key hashes and the plan fixes (the cache adds the bytes of
/// the signing keys and the repositories' published state, which only a
/// build reads; hooks count whether or not they run at post-bootstrap).
fn root_key(plan: &BuildPlan) -> Result<String, MatrixError> {
    let mut hash = Sha256::new();
    let mut feed = |field: &str, bytes: &[u8]| {
        for part in [field.as_bytes(), bytes] {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part);
        }
    };
    feed("arch", plan.arch.as_bytes());
    feed(
        "package-manager",
        format!("{:?}", plan.package_manager).as_bytes(),
    );
    for repo in plan.repositories.iter().filter(|r| !r.imageonly) {
        feed("uri", repo.uri.as_bytes());
        feed("type", repo.kind.as_deref().unwrap_or("").as_bytes());
        feed(
            "suite",
            repo.distribution.as_deref().unwrap_or("").as_bytes(),
        );
        feed("components", repo.components.join(",").as_bytes());
        feed("architectures", repo.architectures.join(",").as_bytes());
        feed("keys", repo.signing_keys.join("\n").as_bytes());
    }
    for (name, set) in [
        ("bootstrap", &plan.packages.bootstrap),
        ("image", &plan.packages.image),
    ] {
        feed(name, set.packages.join("\n").as_bytes());
        feed("pattern", set.pattern_type.as_bytes());
    }
    for script in plan.scripts.iter().filter(|s| s.stage == "post-bootstrap") {
        let bytes = std::fs::read(&script.path).map_err(|source| MatrixError::Script {
            path: script.path.clone(),
            source,
        })?;
        feed("post-bootstrap", &bytes);
    }
    for hook in plan
        .plugin_refs
        .iter()
        .filter(|p| p.kind == PluginKind::Hook)
    {
        feed("hook", hook.name.as_bytes());
        feed(
            "hook-sha256",
            hook.sha256.as_deref().unwrap_or("").as_bytes(),
        );
        for (name, value) in &hook.options {
            feed(name, value.as_bytes());
        }
    }
    Ok(hex::encode(hash.finalize())[..16].to_string())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::description::{from_str, MarkupFormat};

    /// `base` has no type; `disk` has none of its own but requires `cloud`;
    /// `cloud` has two; `arm` exists on another architecture only.
    const PROFILED: &str = r#"<image schemaversion="8.5" name="fleet">
  <description type="system"><author>a</author><contact>c</contact><specification>s</specification></description>
  <profiles>
    <profile name="base" description="b"/>
    <profile name="tarball" description="t"/>
    <profile name="cloud" description="c"/>
    <profile name="disk" description="d"><requires profile="cloud"/></profile>
    <profile name="arm" description="a" arch="OTHER_ARCH"/>
  </profiles>
  <preferences><version>1.0.0</version><packagemanager>apt</packagemanager></preferences>
  <preferences profiles="tarball"><type image="tbz"/></preferences>
  <preferences profiles="cloud">
    <type image="oem" format="qcow2" primary="true"/>
    <type image="iso"/>
  </preferences>
  <preferences profiles="arm"><type image="tbz"/></preferences>
  <repository type="apt-deb"><source path="file:///srv/debian"/></repository>
  <packages type="bootstrap"><package name="apt"/></packages>
  <packages type="image" profiles="disk"><package name="parted"/></packages>
</image>"#;

    const PLAIN: &str = r#"<image schemaversion="8.5" name="plain">
  <description type="system"><author>a</author><contact>c</contact><specification>s</specification></description>
  <preferences>
    <version>1.0.0</version><packagemanager>apt</packagemanager>
    <type image="tbz"/>
    <type image="oem" primary="true"/>
  </preferences>
  <repository type="apt-deb"><source path="file:///srv/debian"/></repository>
  <packages type="bootstrap"><package name="apt"/></packages>
</image>"#;

    /// An architecture that is not the build host's.
    fn other_arch() -> &'static str {
        if crate::plan::host_arch() == "s390x" {
            "ppc64le"
        } else {
            "s390x"
        }
    }

    fn load(dir: &str, text: &str) -> (PathBuf, Description) {
        let text = text.replace("OTHER_ARCH", other_arch());
        let file = Path::new("/nowhere").join(dir).join("config.xml");
        let desc = from_str(&text, MarkupFormat::Xml, &file).unwrap();
        (PathBuf::from(dir), desc)
    }

    fn request(profiles: &[&str], image_type: Option<&str>) -> MatrixRequest {
        MatrixRequest {
            descriptions: Vec::new(),
            profiles: profiles.iter().map(|p| p.to_string()).collect(),
            image_type: image_type.map(str::to_string),
        }
    }

    /// (description, profiles, profiles in effect, image, format) of each variant.
    fn summary(variants: &[Variant]) -> Vec<(String, String, String, String)> {
        variants
            .iter()
            .enumerate()
            .map(|(i, v)| {
                assert_eq!(v.index, i);
                (
                    v.description.display().to_string(),
                    v.profiles.join(","),
                    v.profiles_in_effect.join(","),
                    match &v.image_type.format {
                        Some(format) => format!("{} {format}", v.image_type.image),
                        None => v.image_type.image.clone(),
                    },
                )
            })
            .collect()
    }

    fn row(d: &str, p: &str, e: &str, t: &str) -> (String, String, String, String) {
        (d.into(), p.into(), e.into(), t.into())
    }

    #[test]
    fn one_variant_per_profile_that_selects_a_type_in_description_order() {
        let loaded = [load("fleet", PROFILED), load("plain", PLAIN)];
        let all = variants_of(&loaded, &request(&[], None)).unwrap();
        assert_eq!(
            summary(&all),
            [
                // `base` selects no type; `arm` is not for this architecture
                row("fleet", "tarball", "tarball", "tbz"),
                row("fleet", "cloud", "cloud", "oem qcow2"),
                // `disk` has no type of its own: it selects `cloud`'s primary
                row("fleet", "disk", "disk,cloud", "oem qcow2"),
                // no profiles: the primary type
                row("plain", "", "", "oem"),
            ]
        );
        assert!(all.iter().all(|v| v.arch == crate::plan::host_arch()));
        assert_eq!(all[0].name, "fleet");
        assert_eq!(all[3].run_args(), ["plain", "--type", "oem"]);
        assert_eq!(
            all[2].run_args(),
            ["fleet", "--profile", "disk", "--type", "oem"]
        );
        assert_eq!(all[2].slug(), "2-fleet-disk-oem");
        assert_eq!(all[2].list_line(), "2  fleet  disk  oem (qcow2)");
        assert_eq!(all[3].list_line(), "3  plain  -  oem");
    }

    #[test]
    fn filters_keep_the_profiles_and_the_type_asked_for() {
        let loaded = [load("fleet", PROFILED), load("plain", PLAIN)];
        // in the description's order, whatever the order asked in; a
        // description without profiles has none of them
        let some = variants_of(&loaded, &request(&["disk", "tarball"], None)).unwrap();
        assert_eq!(
            summary(&some),
            [
                row("fleet", "tarball", "tarball", "tbz"),
                row("fleet", "disk", "disk,cloud", "oem qcow2"),
            ]
        );
        // a profile, or a description, without the type is left out
        let iso = variants_of(&loaded, &request(&[], Some("iso"))).unwrap();
        assert_eq!(
            summary(&iso),
            [
                row("fleet", "cloud", "cloud", "iso"),
                row("fleet", "disk", "disk,cloud", "iso"),
            ]
        );
        let tbz = variants_of(&loaded, &request(&[], Some("tbz"))).unwrap();
        assert_eq!(
            summary(&tbz),
            [
                row("fleet", "tarball", "tarball", "tbz"),
                row("plain", "", "", "tbz"),
            ]
        );
    }

    #[test]
    fn a_selection_reached_twice_is_one_variant() {
        // `a` and `b` require each other: both select the set {a, b}
        let text = PROFILED.replace(
            r#"<profile name="base" description="b"/>"#,
            r#"<profile name="a" description="a"><requires profile="b"/></profile>
    <profile name="b" description="b"><requires profile="a"/></profile>"#,
        );
        let text = text.replace(
            r#"<preferences profiles="tarball">"#,
            r#"<preferences profiles="a"><type image="tbz"/></preferences>
  <preferences profiles="tarball">"#,
        );
        let all = variants_of(&[load("fleet", &text)], &request(&["a", "b"], None)).unwrap();
        assert_eq!(summary(&all), [row("fleet", "a", "a,b", "tbz")]);
    }

    #[test]
    fn variants_of_the_same_packages_share_a_root() {
        let all = variants_of(&[load("fleet", PROFILED)], &request(&[], None)).unwrap();
        let (tarball, cloud, disk) = (&all[0].root, &all[1].root, &all[2].root);
        assert_eq!(tarball.len(), 16);
        // tbz and oem install the same packages here; `disk` adds parted
        assert_eq!(tarball, cloud);
        assert_ne!(cloud, disk);
    }

    #[test]
    fn unknown_profiles_and_unbuildable_descriptions_are_refused() {
        let loaded = [load("fleet", PROFILED)];
        let e = variants_of(&loaded, &request(&["tarbal"], None)).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "--profile tarbal: no description declares it for {} \
                 (/nowhere/fleet/config.xml: base, tarball, cloud, disk)",
                crate::plan::host_arch()
            )
        );
        // only on another architecture
        let e = variants_of(&loaded, &request(&["arm"], None)).unwrap_err();
        assert!(e.to_string().starts_with("--profile arm: "), "{e}");
        let e = variants_of(&loaded, &request(&["base"], None)).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("/nowhere/fleet/config.xml: no variant can be built: profile base: /nowhere/fleet/config.xml:1:1: /image: no <type>"),
            "{text}"
        );
        // nothing has the type asked for
        let e = variants_of(&loaded, &request(&[], Some("vmx"))).unwrap_err();
        assert!(
            e.to_string().starts_with("/nowhere/fleet/config.xml: no variant can be built: profile base: /nowhere/fleet/config.xml:1:1: /image: no <type image=\"vmx\">"),
            "{e}"
        );
    }

    #[test]
    fn the_variant_past_the_end_names_how_many_there_are() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.xml"),
            PROFILED.replace("OTHER_ARCH", other_arch()),
        )
        .unwrap();
        let request = MatrixRequest {
            descriptions: vec![dir.path().to_path_buf()],
            ..MatrixRequest::default()
        };
        let second = variant(&request, 1).unwrap();
        assert_eq!(second.profiles, ["cloud"]);
        let e = variant(&request, 3).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--variant 3: the descriptions have 3 variant(s), numbered 0 to 2 \
             (`builder matrix ... --list` lists them)"
        );
    }
}
