//! The conversions every contract version shares between its generated
//! types and the host's own: each `v<version>` module invokes
//! [`contract_conversions!`] beside its bindings' `types` module, so a new
//! version repeats none of them.

/// Defines module `convert` in the invoking module (re-exported there): the
/// conversions of plugin info, capabilities, stages, errors, requests and
/// artifacts between the host's types and `super::types`, the invoking
/// version's generated `types` interface, whose shapes every version keeps.
macro_rules! contract_conversions {
    () => {
        /// Conversions between this version's `types` and the host's own.
        pub mod convert {
            use super::types;
            use $crate::plugins::grants::Capability;
            use $crate::plugins::info::{self, GuestError, OptionKind, PluginInfo, Role, Stage};
            use $crate::plugins::limits::escape_control;
            use $crate::plugins::{BaselineRequest, Family, HookRequest, ImageIdentity};
            use $crate::toolbox;

            pub fn capability_from(c: types::Capability) -> Capability {
                use types::Capability as W;
                match c {
                    W::RootRead => Capability::RootRead,
                    W::RootWrite => Capability::RootWrite,
                    W::RootExec => Capability::RootExec,
                    W::ArtifactWrite => Capability::ArtifactWrite,
                    W::Compression => Capability::Compression,
                    W::Filesystems => Capability::Filesystems,
                    W::Partitioning => Capability::Partitioning,
                    W::Bootloader => Capability::Bootloader,
                    W::Iso => Capability::Iso,
                    W::Network => Capability::Network,
                }
            }

            pub fn capability_to(c: Capability) -> types::Capability {
                use types::Capability as W;
                match c {
                    Capability::RootRead => W::RootRead,
                    Capability::RootWrite => W::RootWrite,
                    Capability::RootExec => W::RootExec,
                    Capability::ArtifactWrite => W::ArtifactWrite,
                    Capability::Compression => W::Compression,
                    Capability::Filesystems => W::Filesystems,
                    Capability::Partitioning => W::Partitioning,
                    Capability::Bootloader => W::Bootloader,
                    Capability::Iso => W::Iso,
                    Capability::Network => W::Network,
                }
            }

            pub fn stage_from(s: types::Stage) -> Stage {
                match s {
                    types::Stage::PostBootstrap => Stage::PostBootstrap,
                    types::Stage::Config => Stage::Config,
                    types::Stage::PreImage => Stage::PreImage,
                    types::Stage::PostImage => Stage::PostImage,
                }
            }

            pub fn stage_to(s: Stage) -> types::Stage {
                match s {
                    Stage::PostBootstrap => types::Stage::PostBootstrap,
                    Stage::Config => types::Stage::Config,
                    Stage::PreImage => types::Stage::PreImage,
                    Stage::PostImage => types::Stage::PostImage,
                }
            }

            pub fn info_from(i: types::PluginInfo) -> PluginInfo {
                PluginInfo {
                    name: i.name,
                    version: escape_control(&i.version, false),
                    summary: escape_control(&i.summary, false),
                    role: match i.role {
                        types::Role::ImageType(names) => Role::ImageType(names),
                        types::Role::Hook(stages) => {
                            Role::Hook(stages.into_iter().map(stage_from).collect())
                        }
                        types::Role::Baseline => Role::Baseline,
                    },
                    options: i
                        .options
                        .into_iter()
                        .map(|o| info::OptionSpec {
                            name: o.name,
                            kind: match o.kind {
                                types::OptionKind::Boolean => OptionKind::Boolean,
                                types::OptionKind::Integer => OptionKind::Integer,
                                types::OptionKind::Text => OptionKind::Text,
                                types::OptionKind::Choice(c) => OptionKind::Choice(c),
                            },
                            default: o.default,
                            doc: escape_control(&o.doc, true),
                        })
                        .collect(),
                    capabilities: i.capabilities.into_iter().map(capability_from).collect(),
                }
            }

            /// A plugin's error, its text made safe for the terminal it is shown on.
            pub fn error_from(e: types::Error) -> GuestError {
                let text = |s: String| escape_control(&s, true);
                match e {
                    types::Error::InvalidOption(o) => GuestError::InvalidOption {
                        name: text(o.name),
                        reason: text(o.reason),
                    },
                    types::Error::CapabilityDenied(c) => {
                        GuestError::CapabilityDenied(capability_from(c))
                    }
                    types::Error::ToolFailed(t) => GuestError::ToolFailed {
                        tool: text(t.tool),
                        exit_code: t.exit_code,
                        stderr: text(t.stderr),
                    },
                    types::Error::Io(io) => GuestError::Io {
                        path: text(io.path),
                        message: text(io.message),
                    },
                    types::Error::InvalidPath(p) => GuestError::InvalidPath(text(p)),
                    types::Error::Other(o) => GuestError::Other(text(o)),
                }
            }

            pub fn identity_to(image: &ImageIdentity) -> types::ImageIdentity {
                types::ImageIdentity {
                    name: image.name.clone(),
                    version: image.version.clone(),
                    arch: image.arch.clone(),
                }
            }

            pub fn options_to(options: &[(String, String)]) -> Vec<types::OptionValue> {
                options
                    .iter()
                    .map(|(name, value)| types::OptionValue {
                        name: name.clone(),
                        value: value.clone(),
                    })
                    .collect()
            }

            pub fn hook_request_to(request: &HookRequest) -> types::HookRequest {
                types::HookRequest {
                    image: identity_to(&request.image),
                    options: options_to(&request.options),
                    artifacts: request.artifacts.iter().cloned().map(artifact_to).collect(),
                }
            }

            pub fn baseline_request_to(request: &BaselineRequest) -> types::BaselineRequest {
                types::BaselineRequest {
                    image: identity_to(&request.image),
                    family: match request.family {
                        Family::Debian => types::Family::Debian,
                        Family::Rhel => types::Family::Rhel,
                        Family::Suse => types::Family::Suse,
                    },
                    release: request.release.clone(),
                    profiles: request.profiles.clone(),
                    options: options_to(&request.options),
                }
            }

            pub fn artifact_from(a: types::Artifact) -> toolbox::ArtifactInfo {
                toolbox::ArtifactInfo {
                    file_name: a.file_name,
                    size: a.size,
                    sha256: a.sha256,
                }
            }

            pub fn artifact_to(a: toolbox::ArtifactInfo) -> types::Artifact {
                types::Artifact {
                    file_name: a.file_name,
                    size: a.size,
                    sha256: a.sha256,
                }
            }
        }
        pub use convert::*;
    };
}

pub(crate) use contract_conversions;

/// Converts between two enums with the same variants, unit or holding one
/// value of the same type: `same_enum!(value, old::Source => new::Source:
/// Data(d), Empty)`.
macro_rules! same_enum {
    ($value:expr, $($from:ident)::+ => $($to:ident)::+ : $($variant:ident $(($x:ident))?),+ $(,)?) => {{
        use $($from)::+ as From_;
        use $($to)::+ as To_;
        match $value {
            $(From_::$variant $(($x))? => To_::$variant $(($x))?,)+
        }
    }};
}

/// A record of another type with the same fields, moved from variable
/// `value`, and after `;` fields set otherwise:
/// `same_record!(user => new::User: name, uid; groups: Vec::new())`.
macro_rules! same_record {
    ($value:ident => $($to:ident)::+ : $($field:ident),+ $(; $($set:ident: $with:expr),+)? $(,)?) => {
        $($to)::+ { $($field: $value.$field,)+ $($($set: $with,)+)? }
    };
}

/// The wasmtime bindings of one world of a contract version, in module
/// `$module`: host functions return [`super::imports::CallError`] (bindgen's
/// `trappable_error_type`, so they use `?`), calls into the plugin are
/// futures (raced against their deadline), and `with` maps resources to the
/// host's handles and interfaces to those another world already generated.
macro_rules! world_bindings {
    ($(#[$doc:meta])* $module:ident, $path:tt, $world:tt, { $($with:tt)* }) => {
        $(#[$doc])*
        pub mod $module {
            wasmtime::component::bindgen!({
                path: $path,
                world: $world,
                imports: { default: trappable },
                exports: { default: async },
                trappable_error_type: {
                    "builder:plugin/types.error" => crate::plugins::imports::CallError,
                },
                with: { $($with)* },
            });
        }
    };
}

pub(crate) use {same_enum, same_record, world_bindings};
