//! The image root on the host: [`prepare`] makes it (in pipeline order:
//! bootstrap and install, on a cache miss in [`memory`], or an entry of
//! [`root_cache`], copied or with the build's changes in a [`layered`]
//! overlay over it; overlays in
//! [`files`]; [`users`]; [`scripts`]; cleanup), [`command`] runs the
//! steps' programs, [`sandbox`] contains those run inside the root, [`tree`]
//! gives plugins safe, chroot-like access.

pub mod changes;
pub mod command;
pub mod files;
pub mod layered;
pub mod manifest;
pub mod memory;
pub mod mounts;
pub mod prepare;
pub mod root_cache;
pub mod sandbox;
pub mod scripts;
pub mod tree;
pub mod users;

pub use tree::{EntryMeta, FileKind, RootTree, TreeEntry, Walk};
