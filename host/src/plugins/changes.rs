//! What baseline and hook plugins ask of an image root: recorded during the
//! call (grants checked then), carried out by the host afterwards with the
//! image's own tools (the `carry_out` module).

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
        /// The account's comment (the user's real name).
        comment: Option<String>,
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

impl RootChange {
    /// Refuses a request whose names the root's tools would misread: a
    /// package, unit, user or group name starting with `-` (an option), or
    /// holding blanks, control characters or separators.
    pub fn check(&self) -> Result<(), String> {
        use crate::toolbox::options::{account_name, package_name, unit_name};
        let checked = match self {
            RootChange::InstallPackages { names } | RootChange::RemovePackages { names } => {
                names.iter().try_for_each(|n| package_name(n))
            }
            RootChange::EnableService { unit } | RootChange::MaskService { unit } => {
                unit_name(unit)
            }
            RootChange::SetDefaultTarget { target } => unit_name(target),
            RootChange::AddGroup { name, .. } => account_name(name),
            RootChange::AddUser {
                name,
                group,
                groups,
                ..
            } => account_name(name)
                .and_then(|_| group.iter().try_for_each(|g| account_name(g)))
                .and_then(|_| groups.iter().try_for_each(|g| account_name(g))),
            RootChange::WriteFile { .. }
            | RootChange::SetSysctl { .. }
            | RootChange::LoadKernelModule { .. }
            | RootChange::RunInRoot { .. } => Ok(()),
        };
        checked.map_err(|refused| refused.to_string())
    }
}

/// File content as a JSON string when it is UTF-8, else as a byte array.
fn text_or_bytes<S: serde::Serializer>(content: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    match std::str::from_utf8(content) {
        Ok(text) => serializer.serialize_str(text),
        Err(_) => serializer.collect_seq(content),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_tools_would_read_as_options_are_refused() {
        let packages = |names: &[&str]| RootChange::InstallPackages {
            names: names.iter().map(|n| n.to_string()).collect(),
        };
        packages(&["vim", "kernel-default"]).check().unwrap();
        let e = packages(&["vim", "-oAPT::Get::AllowUnauthenticated=1"])
            .check()
            .unwrap_err();
        assert_eq!(
            e,
            "package name `-oAPT::Get::AllowUnauthenticated=1` is refused: it starts with `-`, \
             and the tool would read it as an option"
        );
        let user = |name: &str, group: Option<&str>, groups: &[&str]| RootChange::AddUser {
            name: name.into(),
            uid: None,
            group: group.map(str::to_string),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            home: None,
            shell: None,
            comment: None,
            password_hash: None,
        };
        user("demo", Some("users"), &["wheel"]).check().unwrap();
        for refused in [
            RootChange::RemovePackages {
                names: vec!["--force-yes".into()],
            },
            RootChange::EnableService {
                unit: "--root=/".into(),
            },
            RootChange::MaskService {
                unit: "../../x.service".into(),
            },
            RootChange::SetDefaultTarget {
                target: "-x".into(),
            },
            RootChange::AddGroup {
                name: "-g0".into(),
                gid: None,
            },
            user("-ou", None, &[]),
            user("demo", Some("-g0"), &[]),
            user("demo", None, &["wheel,root"]),
        ] {
            assert!(refused.check().is_err(), "{refused:?}");
        }
    }
}
