//! Interfaces `changes` and `root-exec`: what a baseline or hook asks of the
//! root, checked and recorded now, carried out by the host after the call.

use super::super::changes::RootChange;
use super::super::grants::Capability;
use super::super::state::PluginState;
use super::super::v0_2_0::latest::changes::{self, Group, User};
use super::super::v0_2_0::latest::root_exec;
use super::super::v0_2_0::latest::types::Error;
use super::{CallError, CallResult};
use crate::toolbox;

impl PluginState {
    /// Record `action`, once `capability` and the stage allow it.
    fn record(&mut self, capability: Capability, action: RootChange) -> CallResult<()> {
        self.need(capability)?;
        if !self.changes_allowed {
            return Err(CallError::other(
                "the root is final at this stage: changes are refused",
            ));
        }
        action.check().map_err(CallError::other)?;
        self.changes.push(action);
        Ok(())
    }
}

impl changes::Host for PluginState {
    fn install_packages(&mut self, names: Vec<String>) -> CallResult<()> {
        self.record(Capability::RootWrite, RootChange::InstallPackages { names })
    }

    fn remove_packages(&mut self, names: Vec<String>) -> CallResult<()> {
        self.record(Capability::RootWrite, RootChange::RemovePackages { names })
    }

    fn write_file(
        &mut self,
        path: String,
        content: Vec<u8>,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> CallResult<()> {
        let path = toolbox::names::root_path(&path)
            .map_err(|e| CallError::Guest(Error::InvalidPath(e)))?;
        // Recorded changes are held until the call returns: bounded like
        // the plugin's own memory.
        let bytes = self.changes_bytes.saturating_add(content.len() as u64);
        if bytes > self.max_data_bytes {
            return Err(CallError::other(format!(
                "too much file content requested: a plugin call may ask for at most {} bytes \
                 of files (the plugin's memory limit, --plugin-memory)",
                self.max_data_bytes
            )));
        }
        self.changes_bytes = bytes;
        self.record(
            Capability::RootWrite,
            RootChange::WriteFile {
                path,
                content,
                mode: mode & 0o7777,
                uid,
                gid,
            },
        )
    }

    fn enable_service(&mut self, unit: String) -> CallResult<()> {
        self.record(Capability::RootWrite, RootChange::EnableService { unit })
    }

    fn mask_service(&mut self, unit: String) -> CallResult<()> {
        self.record(Capability::RootWrite, RootChange::MaskService { unit })
    }

    fn set_default_target(&mut self, target: String) -> CallResult<()> {
        self.record(
            Capability::RootWrite,
            RootChange::SetDefaultTarget { target },
        )
    }

    fn add_group(&mut self, group: Group) -> CallResult<()> {
        self.record(
            Capability::RootWrite,
            RootChange::AddGroup {
                name: group.name,
                gid: group.gid,
            },
        )
    }

    fn add_user(&mut self, user: User) -> CallResult<()> {
        self.record(
            Capability::RootWrite,
            RootChange::AddUser {
                name: user.name,
                uid: user.uid,
                group: user.group,
                groups: user.groups,
                home: user.home,
                shell: user.shell,
                comment: None,
                password_hash: user.password_hash,
            },
        )
    }

    fn set_sysctl(&mut self, key: String, value: String) -> CallResult<()> {
        self.record(Capability::RootWrite, RootChange::SetSysctl { key, value })
    }

    fn load_kernel_module(&mut self, name: String) -> CallResult<()> {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(CallError::other(format!(
                "`{name}` is not a kernel module name"
            )));
        }
        self.record(Capability::RootWrite, RootChange::LoadKernelModule { name })
    }
}

impl root_exec::Host for PluginState {
    fn run_in_root(&mut self, argv: Vec<String>) -> CallResult<()> {
        if argv.is_empty() {
            return Err(CallError::other("run-in-root needs a command"));
        }
        self.record(Capability::RootExec, RootChange::RunInRoot { argv })
    }
}
