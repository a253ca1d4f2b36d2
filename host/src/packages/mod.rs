//! Package managers: the distribution's own tools driven from the host, and
//! the repository configuration they and the image use.
//!
//! [`repository`] turns the plan's repositories into concrete apt sources
//! (the `host://` placeholder resolved, signing keys located); [`apt`]
//! bootstraps a root with `mmdebstrap`, installs and removes packages inside
//! it and writes the image's DEB822 `.sources` files; [`cache`] keeps the
//! downloaded packages between builds.

pub mod apt;
pub mod cache;
pub mod repository;

pub use apt::Apt;
pub use cache::PackageCache;
pub use repository::{host_mirrors, AptRepository, MirrorOverride, RepositoryError};
