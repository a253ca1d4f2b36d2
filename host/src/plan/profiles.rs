//! Profile selection: the requested profiles and what they require, or the
//! `import="true"` profiles when none is requested.

use std::collections::{HashMap, HashSet};

use crate::description::{Description, Profile, ProfileRequirement};

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
    let by_name: HashMap<&str, &Profile> = available
        .iter()
        .rev()
        .map(|p| (p.name.as_str(), *p))
        .collect();
    let mut resolved = Resolved::default();
    if requested.is_empty() {
        // KIWI takes the import profiles as they are; their requirements are
        // resolved here too, since a required profile is part of the profile.
        for profile in available.iter().filter(|p| p.import) {
            add(profile, &by_name, arch, &mut resolved, &names)?;
        }
        return Ok(resolved.order);
    }
    for name in requested {
        let name = name.trim();
        let Some(profile) = by_name.get(name) else {
            return Err(PlanError::UnknownProfile {
                origin: desc.origin.clone(),
                name: name.to_string(),
                arch: arch.to_string(),
                available: names(),
            });
        };
        add(profile, &by_name, arch, &mut resolved, &names)?;
    }
    Ok(resolved.order)
}

/// The profiles resolved so far, in order, and the set of their names.
#[derive(Default)]
struct Resolved {
    order: Vec<String>,
    seen: HashSet<String>,
}

/// Adds `profile` and, depth first, what it requires. An explicit stack
/// instead of recursion, so a long chain of requirements cannot overflow.
fn add(
    profile: &Profile,
    by_name: &HashMap<&str, &Profile>,
    arch: &str,
    resolved: &mut Resolved,
    names: &dyn Fn() -> String,
) -> Result<(), PlanError> {
    // a profile to add, or a requirement of a profile to look up
    enum Step<'p> {
        Add(&'p Profile),
        Require(&'p Profile, &'p ProfileRequirement),
    }
    let mut stack = vec![Step::Add(profile)];
    while let Some(step) = stack.pop() {
        let profile = match step {
            Step::Add(profile) => profile,
            Step::Require(parent, requirement) => match by_name.get(requirement.profile.as_str()) {
                Some(found) => *found,
                None => {
                    return Err(PlanError::UnknownRequiredProfile {
                        origin: requirement.origin.clone(),
                        profile: parent.name.clone(),
                        required: requirement.profile.clone(),
                        available: names(),
                    })
                }
            },
        };
        if !resolved.seen.insert(profile.name.clone()) {
            continue;
        }
        resolved.order.push(profile.name.clone());
        // the first requirement is taken next
        stack.extend(
            profile
                .requires
                .iter()
                .filter(|r| arch_ok(&r.arch, arch))
                .rev()
                .map(|r| Step::Require(profile, r)),
        );
    }
    Ok(())
}
