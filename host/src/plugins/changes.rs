//! What baseline and hook plugins ask of an image root: recorded during the
//! call (grants checked then), carried out by the host afterwards with the
//! image's own tools (`rootfs::changes`).

use serde::Serialize;

/// One request a baseline made, in the order it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "action")]
pub enum RootChange {
    /// Install packages with the image's package manager.
    InstallPackages {
        /// Package names.
        names: Vec<String>,
    },
    /// Remove packages.
    RemovePackages {
        /// Package names.
        names: Vec<String>,
    },
    /// Write a file.
    WriteFile {
        /// Path inside the root, without a leading `/`.
        path: String,
        /// Content (shown as text when it is UTF-8).
        #[serde(serialize_with = "text_or_bytes")]
        content: Vec<u8>,
        /// Permission bits.
        mode: u32,
        /// Owner.
        uid: u32,
        /// Group.
        gid: u32,
    },
    /// Enable a systemd unit.
    EnableService {
        /// Unit name.
        unit: String,
    },
    /// Mask a systemd unit.
    MaskService {
        /// Unit name.
        unit: String,
    },
    /// Set the default systemd target.
    SetDefaultTarget {
        /// Target name.
        target: String,
    },
    /// Create a group.
    AddGroup {
        /// Group name.
        name: String,
        /// Fixed gid.
        gid: Option<u32>,
    },
    /// Create a user.
    AddUser {
        /// Login name.
        name: String,
        /// Fixed uid.
        uid: Option<u32>,
        /// Primary group.
        group: Option<String>,
        /// Supplementary groups.
        groups: Vec<String>,
        /// Home directory.
        home: Option<String>,
        /// Login shell.
        shell: Option<String>,
        /// crypt(3) hash; none for a locked password.
        password_hash: Option<String>,
    },
    /// Set a kernel parameter persistently.
    SetSysctl {
        /// Parameter name.
        key: String,
        /// Value.
        value: String,
    },
    /// Load a kernel module at boot.
    LoadKernelModule {
        /// Module name.
        name: String,
    },
    /// Run a command inside the root.
    RunInRoot {
        /// Command and arguments.
        argv: Vec<String>,
    },
}

/// File content as a JSON string when it is UTF-8, else as a byte array.
fn text_or_bytes<S: serde::Serializer>(content: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    match std::str::from_utf8(content) {
        Ok(text) => serializer.serialize_str(text),
        Err(_) => serializer.collect_seq(content),
    }
}
