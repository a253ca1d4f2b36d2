//! The image root on the host: safe, chroot-like access to a root tree.
//!
//! Later stages (bootstrap, package installation, overlays, scripts) live
//! beside [`tree`] as the package-manager work lands.

pub mod command;
pub mod files;
pub mod mounts;
pub mod prepare;
pub mod scripts;
pub mod tree;
pub mod users;

pub use tree::{EntryMeta, FileKind, RootTree, TreeEntry, Walk};
