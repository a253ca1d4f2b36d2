//! A `Write` over the host's artifact writer: buffers small writes (tar
//! headers, JSON) and lets root files and finished artifacts go from host to
//! host without passing through the plugin.

use std::io::{self, Write};

use builder_sdk::prelude::*;

/// Flush to the host in chunks this large: few calls, little memory.
const CHUNK: usize = 1 << 20;

pub struct HostSink {
    writer: ArtifactWriter,
    buffer: Vec<u8>,
}

impl HostSink {
    pub fn new(writer: ArtifactWriter) -> Self {
        HostSink {
            writer,
            buffer: Vec::with_capacity(CHUNK * 2),
        }
    }

    fn flush_buffer(&mut self) -> Result<(), Error> {
        if !self.buffer.is_empty() {
            self.writer.write(&self.buffer)?;
            self.buffer.clear();
        }
        Ok(())
    }

    /// Append a root file's content after what is buffered.
    pub fn append_file(&mut self, root: &RootTree, path: &str, size: u64) -> Result<(), Error> {
        self.flush_buffer()?;
        self.writer.append_file(root, path, size)
    }

    /// Append a finished artifact of this call after what is buffered; the bytes appended.
    pub fn append_artifact(&mut self, file_name: &str) -> Result<u64, Error> {
        self.flush_buffer()?;
        self.writer.append_artifact(file_name)
    }

    pub fn finish(mut self) -> Result<Artifact, Error> {
        self.flush_buffer()?;
        ArtifactWriter::finish(self.writer)
    }
}

impl Write for HostSink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK {
            self.flush_buffer().map_err(to_io)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn to_io(e: Error) -> io::Error {
    io::Error::other(format!("{e:?}"))
}

pub fn io_error(path: &str, e: io::Error) -> Error {
    Error::Io(builder_sdk::IoError {
        path: path.to_string(),
        message: e.to_string(),
    })
}

/// Zeros that pad `size` bytes of entry data to a whole 512-byte block.
pub fn padding(size: u64) -> &'static [u8] {
    const ZEROS: [u8; 512] = [0; 512];
    &ZEROS[..(512 - (size % 512) as usize) % 512]
}
