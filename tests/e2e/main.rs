//! builder's end-to-end tests: the real plugin host, real plugins and real
//! tools (apt, dnf, zypper, mkfs, qemu, skopeo), one module a subject, all
//! in one test binary so that the harness runs them side by side.
//! `cargo test -p builder-tests --test e2e MODULE::` runs one module; each
//! module's own header says what it covers.

mod baseline_example;
mod boot;
mod containers;
mod demo_profiles;
mod description;
mod extensions;
mod filesystems;
mod plan;
mod plugin_host;
mod prepare;
mod python_hook;
mod rpm;
mod run;
mod sbom;
mod scaffold;
mod security;
mod tbz;
