//! Profile selection: the requested profiles and what they require, or the
//! `import="true"` profiles when none is requested.

use crate::description::{Description, Profile};

use super::{arch_ok, PlanError};

/// Resolves the profiles in effect, in KIWI's order (a profile, then what it
/// requires, depth first; each once). Profiles and requirements restricted
/// to other architectures do not exist for this plan.
pub(crate) fn resolve(
    desc: &Description,
    requested: &[String],
    arch: &str,
) -> Result<Vec<String>, PlanError> {
    let available: Vec<&Profile> = desc
        .profiles
        .iter()
        .filter(|p| arch_ok(&p.arch, arch))
        .collect();
    let names = || {
        if available.is_empty() {
            "none (the description declares no profiles for this architecture)".to_string()
        } else {
            available
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let mut resolved = Vec::new();
    if requested.is_empty() {
        // KIWI takes the import profiles as they are; their requirements are
        // resolved here too, since a required profile is part of the profile.
        for profile in available.iter().filter(|p| p.import) {
            add(profile, &available, arch, &mut resolved, &names)?;
        }
        return Ok(resolved);
    }
    for name in requested {
        let name = name.trim();
        let Some(profile) = available.iter().find(|p| p.name == name) else {
            return Err(PlanError::UnknownProfile {
                origin: desc.origin.clone(),
                name: name.to_string(),
                arch: arch.to_string(),
                available: names(),
            });
        };
        add(profile, &available, arch, &mut resolved, &names)?;
    }
    Ok(resolved)
}

fn add(
    profile: &Profile,
    available: &[&Profile],
    arch: &str,
    resolved: &mut Vec<String>,
    names: &dyn Fn() -> String,
) -> Result<(), PlanError> {
    if resolved.contains(&profile.name) {
        return Ok(());
    }
    resolved.push(profile.name.clone());
    for requirement in profile.requires.iter().filter(|r| arch_ok(&r.arch, arch)) {
        let Some(required) = available.iter().find(|p| p.name == requirement.profile) else {
            return Err(PlanError::UnknownRequiredProfile {
                origin: requirement.origin.clone(),
                profile: profile.name.clone(),
                required: requirement.profile.clone(),
                available: names(),
            });
        };
        add(required, available, arch, resolved, names)?;
    }
    Ok(())
}
