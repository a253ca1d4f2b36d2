//! `builder`: golden OS images from KIWI descriptions, with image types,
//! hooks and baselines as sandboxed WebAssembly plugins.
//!
//! Modules follow the pipeline: [`cli`] → [`description`] (KIWI XML/YAML/JSON
//! into one model) → [`plan`] (profiles, type, validation) → [`rootfs`] (the image root) →
//! [`plugins`] (the wasm runtime) → [`toolbox`] (host primitives plugins call)
//! → [`create`] (an image type over a prepared root). [`matrix`] lists the
//! variants of descriptions and writes the CI documents that build them.
//! [`provenance`] says what a build made and from what, signed; [`lock`]
//! pins the packages a build installs; [`verify`] rebuilds and compares;
//! [`diff`] reviews two builds; [`registry`] publishes and fetches builds on
//! OCI registries.

pub mod caches;
pub mod cli;
pub mod create;
pub mod description;
pub mod diff;
pub mod interrupt;
pub mod matrix;
pub mod packages;
pub mod plan;
pub mod plugins;
pub mod prepare;
pub mod progress;
pub mod provenance;
pub mod registry;
pub mod result;
pub mod rootfs;
pub mod run;
pub mod sbom;
pub mod scaffold;
pub mod toolbox;
pub mod verify;

/// Where the build put the compiled guest components (first-party plugins
/// and test fixtures); used by tests and benchmarks.
#[doc(hidden)]
pub const GUEST_BUILD_DIR: &str = env!("BUILDER_GUEST_DIR");
