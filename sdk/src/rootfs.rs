//! Reading the root (capability `root-read`): [`RootTree`]'s methods over the
//! `root-read` interface, iterating a walk, reading whole files.

use crate::bindings::builder::plugin::root_read;
use crate::{Entry, Error, FileReader, Metadata, RootTree, Walker};

/// How many entries one host call returns during a walk.
const WALK_BATCH: u32 = 512;

/// An iterator over a walk, fetching entries from the host in batches.
pub struct EntryIter {
    walker: Walker,
    batch: std::vec::IntoIter<Entry>,
    done: bool,
}

impl Iterator for EntryIter {
    type Item = Result<Entry, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(entry) = self.batch.next() {
                return Some(Ok(entry));
            }
            if self.done {
                return None;
            }
            match self.walker.next(WALK_BATCH) {
                Ok(batch) if batch.is_empty() => self.done = true,
                Ok(batch) => self.batch = batch.into_iter(),
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

impl RootTree {
    /// A walk of the entries below `path` (`""`: the whole root), depth
    /// first, names in byte order, in batches; [`RootTree::walk_all`] iterates it.
    pub fn walk(&self, path: &str) -> Result<Walker, Error> {
        root_read::walk(self, path)
    }

    /// The metadata of `path`, symlinks not followed.
    pub fn stat(&self, path: &str) -> Result<Metadata, Error> {
        root_read::stat(self, path)
    }

    /// The target of symlink `path`, as written.
    pub fn read_link(&self, path: &str) -> Result<String, Error> {
        root_read::read_link(self, path)
    }

    /// Open regular file `path` (symlinks followed inside the root) for reading.
    pub fn open(&self, path: &str) -> Result<FileReader, Error> {
        root_read::open(self, path)
    }

    /// The whole content of regular file `path` (symlinks followed inside the root).
    pub fn read_file(&self, path: &str) -> Result<Vec<u8>, Error> {
        root_read::read_file(self, path)
    }

    /// Every entry below `path`, depth first, names in byte order.
    pub fn walk_all(&self, path: &str) -> Result<EntryIter, Error> {
        Ok(EntryIter {
            walker: self.walk(path)?,
            batch: Vec::new().into_iter(),
            done: false,
        })
    }
}

/// Reading a file to its end in large chunks.
pub trait ReadAll {
    /// Call `sink` with each chunk until end of file.
    fn for_each_chunk(&self, sink: impl FnMut(&[u8]) -> Result<(), Error>) -> Result<(), Error>;
}

/// Chunk size of reads from the host: large, to keep calls few.
const READ_CHUNK: u32 = 1 << 20;

impl ReadAll for FileReader {
    fn for_each_chunk(
        &self,
        mut sink: impl FnMut(&[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        loop {
            let chunk = self.read(READ_CHUNK)?;
            if chunk.is_empty() {
                return Ok(());
            }
            sink(&chunk)?;
        }
    }
}
