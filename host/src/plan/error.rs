//! Why a description cannot be planned for a request.

use crate::description::Origin;

/// A request the description cannot satisfy. One line each; when the problem
/// sits in the description, the line starts with `file:line:column`.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The requested architecture is not one KIWI knows.
    #[error("unknown architecture {arch:?}, expected one of: {expected}")]
    UnknownArch {
        /// What was asked for.
        arch: String,
        /// The names KIWI accepts.
        expected: String,
    },
    /// A requested profile does not exist (for this architecture).
    #[error("{origin}: unknown profile {name:?} for {arch}, expected one of: {available}")]
    UnknownProfile {
        /// The description's `<image>`.
        origin: Origin,
        /// The profile asked for.
        name: String,
        /// The architecture planned for.
        arch: String,
        /// Profiles available on that architecture.
        available: String,
    },
    /// A profile requires a profile that does not exist.
    #[error("{origin}: profile {profile:?} requires unknown profile {required:?}, expected one of: {available}")]
    UnknownRequiredProfile {
        /// The `<requires>` element.
        origin: Origin,
        /// The requiring profile.
        profile: String,
        /// The missing profile.
        required: String,
        /// Profiles available.
        available: String,
    },
    /// The requested image type is not among the selected types.
    #[error("{origin}: no <type image={requested:?}> for profiles [{profiles}], expected one of: {available}")]
    UnknownType {
        /// The description's `<image>`.
        origin: Origin,
        /// The type asked for.
        requested: String,
        /// The selected profiles.
        profiles: String,
        /// Types available for them.
        available: String,
    },
    /// No type at all for the selected profiles.
    #[error("{origin}: no <type> in the preferences for profiles [{profiles}]{hint}")]
    NoType {
        /// The description's `<image>`.
        origin: Origin,
        /// The selected profiles.
        profiles: String,
        /// A hint which profiles do have types.
        hint: String,
    },
    /// The same image type twice among the selected preferences (KIWI
    /// refuses this as a conflicting image type setup).
    #[error("{second}: image type {image:?} a second time in the selected profiles ({profiles}), the first is at {}; KIWI allows each type once per selection: put one into a profile of its own", first.location)]
    DuplicateType {
        /// The first type.
        first: Origin,
        /// The second type.
        second: Origin,
        /// Their image name.
        image: String,
        /// The profiles selected.
        profiles: String,
    },
    /// More than one `primary="true"` type among the selected ones.
    #[error("{second}: a second primary type {second_image:?}, the first is {first_image:?} at {}; pick one with --type or profiles", first.location)]
    AmbiguousPrimary {
        /// The first primary type.
        first: Origin,
        /// Its image name.
        first_image: String,
        /// The second primary type.
        second: Origin,
        /// Its image name.
        second_image: String,
    },
    /// A stop was requested (Ctrl-C or SIGTERM) while planning.
    #[error(transparent)]
    Interrupted(#[from] crate::interrupt::Interrupted),
}
