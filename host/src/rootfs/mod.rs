//! Primitives on an image root on the host: [`files`] writes inside it
//! without leaving it, [`tree`] gives plugins safe, chroot-like reads,
//! [`command`] runs the steps' programs, [`sandbox`] contains those run
//! inside the root (and the host tools working on it), [`mounts`] keeps a
//! build's mounts its own, [`owned`] marks what a live build holds. Making a
//! root is the job of the `prepare` module.

pub mod command;
pub mod files;
pub mod manifest;
pub mod mounts;
pub mod owned;
pub mod sandbox;
pub mod tree;
pub mod userns;

pub use tree::{EntryMeta, FileKind, RootTree, TreeEntry, Walk};
