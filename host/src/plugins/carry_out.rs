//! Carries out the root changes baselines and hooks asked for, in the order
//! they asked, and the description's users and groups, with the image's own
//! tools: its package manager, `systemctl`,
//! `groupadd`/`useradd`, files written through [`RootDir`] (never outside
//! the root), `sysctl.d` and `modules-load.d` drop-ins named after the plugin.
//! The requests themselves are recorded by the `changes` module.

use anyhow::{bail, Context};

use crate::packages::PackageTool;
use crate::plugins::RootChange;
use crate::rootfs::command;
use crate::rootfs::files::account_names as names;
use crate::rootfs::files::RootDir;
use crate::rootfs::sandbox::{in_root, Contain};

/// Carries out `changes` that plugin `label` asked for, in order.
pub fn carry_out(
    root: &RootDir,
    packages: &dyn PackageTool,
    label: &str,
    plugin_name: &str,
    changes: &[RootChange],
) -> anyhow::Result<()> {
    for change in changes {
        let step = describe(change);
        tracing::info!("{label}: {step}");
        crate::progress::detail(format!("{label}: {step}"));
        apply(root, packages, plugin_name, change)
            .with_context(|| format!("plugin {label}: {step}"))?;
    }
    Ok(())
}

/// One line saying what a change does (never a file's content or a hash).
pub fn describe(change: &RootChange) -> String {
    match change {
        RootChange::InstallPackages { names } => format!("install {}", names.join(" ")),
        RootChange::RemovePackages { names } => format!("remove {}", names.join(" ")),
        RootChange::WriteFile {
            path,
            content,
            mode,
            uid,
            gid,
        } => format!(
            "write /{path} ({} bytes, mode {mode:04o}, owner {uid}:{gid})",
            content.len()
        ),
        RootChange::EnableService { unit } => format!("enable {unit}"),
        RootChange::MaskService { unit } => format!("mask {unit}"),
        RootChange::SetDefaultTarget { target } => format!("default target {target}"),
        RootChange::AddGroup { name, .. } => format!("group {name}"),
        RootChange::AddUser { name, .. } => format!("user {name}"),
        RootChange::SetSysctl { key, value } => format!("sysctl {key} = {value}"),
        RootChange::LoadKernelModule { name } => format!("load module {name} at boot"),
        RootChange::RunInRoot { argv } => format!("run {}", argv.join(" ")),
    }
}

/// Carries out one change, as plugin (or owner) `plugin` asked: the
/// description's users and groups come here too.
pub fn apply(
    root: &RootDir,
    packages: &dyn PackageTool,
    plugin: &str,
    change: &RootChange,
) -> anyhow::Result<()> {
    match change {
        RootChange::InstallPackages { names } => packages.install(names),
        RootChange::RemovePackages { names } => packages.remove(names),
        RootChange::WriteFile {
            path,
            content,
            mode,
            uid,
            gid,
        } => Ok(root.write_owned(path, content, *mode, *uid, *gid)?),
        RootChange::EnableService { unit } => systemctl(root, &["enable", "--", unit_name(unit)?]),
        RootChange::MaskService { unit } => systemctl(root, &["mask", "--", unit_name(unit)?]),
        RootChange::SetDefaultTarget { target } => {
            systemctl(root, &["set-default", "--", unit_name(target)?])
        }
        RootChange::AddGroup { name, gid } => add_group(root, name, *gid),
        RootChange::AddUser {
            name,
            uid,
            group,
            groups,
            home,
            shell,
            comment,
            password_hash,
        } => {
            if let Some(group) = group {
                add_group(root, group, None)?;
            }
            for group in groups {
                add_group(root, group, None)?;
            }
            let exists = names(root, "etc/passwd")?.contains(name);
            let mut cmd = in_root(
                root.host_path(),
                if exists { "usermod" } else { "useradd" },
                Contain::TOOLS,
            );
            // Without a hash the account stays locked (useradd's default).
            // First, so the log reads `useradd -p <hash> …`.
            if let Some(hash) = password_hash {
                cmd.args(["-p", hash]);
            }
            if let Some(uid) = uid {
                cmd.args(["-u", &uid.to_string()]);
            }
            if let Some(group) = group {
                cmd.args(["-g", group]);
            }
            if !groups.is_empty() {
                cmd.args(["-G", &groups.join(",")]);
            }
            if let Some(shell) = shell {
                cmd.args(["-s", shell]);
            }
            if let Some(comment) = comment {
                cmd.args(["-c", comment]);
            }
            match (exists, home) {
                (false, Some(home)) => cmd.args(["-m", "-d", home]),
                (false, None) => cmd.arg("-m"),
                (true, Some(home)) => cmd.args(["-d", home]),
                (true, None) => &mut cmd,
            };
            cmd.arg("--").arg(name);
            run_with_hash(&format!("user {name}"), &mut cmd, password_hash.as_deref())
        }
        RootChange::SetSysctl { key, value } => {
            let key_ok = !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-/*".contains(c));
            if !key_ok || value.contains(['\n', '\r']) {
                bail!("`{key}` = `{value}` is not a sysctl setting");
            }
            set_line(
                root,
                &format!("etc/sysctl.d/90-{plugin}.conf"),
                key,
                &format!("{key} = {value}"),
            )
        }
        RootChange::LoadKernelModule { name } => set_line(
            root,
            &format!("etc/modules-load.d/{plugin}.conf"),
            name,
            name,
        ),
        RootChange::RunInRoot { argv } => {
            let Some((program, args)) = argv.split_first() else {
                bail!("no command");
            };
            let mut cmd = in_root(root.host_path(), program, Contain::TOOLS);
            cmd.args(args);
            let output = command::run(&format!("run {program}"), &mut cmd)?;
            for line in output.lines() {
                tracing::info!(target: "builder", "{plugin}: {line}");
            }
            Ok(())
        }
    }
}

/// Runs `cmd`, which holds the password hash `hash` as an argument. The
/// command line in the log and in errors shows `-p <hash>` (see
/// [`command::command_line`]); the hash is also cut from the output a
/// failing tool echoes into the error.
fn run_with_hash(
    step: &str,
    cmd: &mut std::process::Command,
    hash: Option<&str>,
) -> anyhow::Result<()> {
    command::run(step, cmd).map_err(|e| {
        let text = e.to_string();
        match hash {
            Some(hash) if !hash.is_empty() => anyhow::anyhow!("{}", text.replace(hash, "<hash>")),
            _ => anyhow::anyhow!("{text}"),
        }
    })?;
    Ok(())
}

/// A unit name a plugin gave: a plain name, never a path.
fn unit_name(unit: &str) -> anyhow::Result<&str> {
    if unit.is_empty() || unit.contains(['/', '\0', '\n']) || unit.starts_with('-') {
        bail!("`{unit}` is not a systemd unit name");
    }
    Ok(unit)
}

fn systemctl(root: &RootDir, args: &[&str]) -> anyhow::Result<()> {
    let has_systemctl = ["usr/bin/systemctl", "bin/systemctl"]
        .iter()
        .any(|p| root.exists(p).unwrap_or(false));
    if !has_systemctl {
        bail!("the image has no systemctl (is systemd installed?)");
    }
    // Offline: systemctl sees it runs in a chroot and only edits unit links.
    let mut cmd = in_root(root.host_path(), "systemctl", Contain::TOOLS);
    cmd.args(args);
    command::run(&format!("systemctl {}", args.join(" ")), &mut cmd)?;
    Ok(())
}

fn add_group(root: &RootDir, name: &str, gid: Option<u32>) -> anyhow::Result<()> {
    if names(root, "etc/group")?.iter().any(|g| g == name) {
        return Ok(());
    }
    let mut cmd = in_root(root.host_path(), "groupadd", Contain::TOOLS);
    if let Some(gid) = gid {
        cmd.args(["-g", &gid.to_string()]);
    }
    cmd.arg("--").arg(name);
    command::run(&format!("groupadd {name}"), &mut cmd)?;
    Ok(())
}

/// Sets the line for `key` in drop-in `file`: replaces a line starting with
/// `key` (followed by a blank, `=` or the end), else appends.
fn set_line(root: &RootDir, file: &str, key: &str, line: &str) -> anyhow::Result<()> {
    let existing = match root.read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading /{file}")),
    };
    let same_key = |l: &str| {
        l.strip_prefix(key)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '=', '\t']))
    };
    let mut lines: Vec<String> = Vec::new();
    let mut replaced = false;
    for l in existing.lines() {
        if same_key(l) {
            if !replaced {
                lines.push(line.to_string());
                replaced = true;
            }
        } else {
            lines.push(l.to_string());
        }
    }
    if !replaced {
        lines.push(line.to_string());
    }
    let mut text = lines.join("\n");
    text.push('\n');
    root.write(file, text.as_bytes(), 0o644)
        .with_context(|| format!("writing /{file}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoPackages;

    impl PackageTool for NoPackages {
        fn install(&self, names: &[String]) -> anyhow::Result<()> {
            bail!("install {names:?}")
        }
        fn remove(&self, names: &[String]) -> anyhow::Result<()> {
            bail!("remove {names:?}")
        }
    }

    /// A log sink for one test: everything logged on this thread, as text.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Runs a user command as `apply` does (for a plugin's request or the
    /// description's user), at the most verbose level, with
    /// a stand-in `useradd` that echoes its arguments and `status`: the
    /// hash shows in no log line and in no error.
    #[test]
    fn password_hashes_are_never_logged() {
        let hash = "$6$rounds=5000$saltsalt$Yo9Jm0d1ZwFFr8Dcx3e2p0PyAaS1T2j0y5pPA1u4NmzWbT1sRdQ1vLh3.8kN0xqk0PLyQrM1ZP6T7uD0mXvY/";
        let tools = tempfile::tempdir().unwrap();
        let useradd = tools.path().join("useradd");
        std::fs::write(
            &useradd,
            "#!/bin/sh\necho \"useradd: $*\"\nexit \"$STATUS\"\n",
        )
        .unwrap();
        std::fs::set_permissions(
            &useradd,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        let (ok, failed) = tracing::subscriber::with_default(subscriber, || {
            let run = |status: &str| {
                let mut cmd = std::process::Command::new(&useradd);
                cmd.env("STATUS", status)
                    .args(["-p", hash, "-m", "--", "demo"]);
                run_with_hash("user demo", &mut cmd, Some(hash))
            };
            (run("0"), run("1"))
        });
        ok.unwrap();
        let error = format!("{:#}", failed.unwrap_err());
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        // the commands were logged, with the hash replaced
        assert!(log.contains("useradd -p <hash> -m -- demo"), "{log}");
        assert!(error.contains("useradd -p <hash> -m -- demo"), "{error}");
        for text in [&log, &error] {
            assert!(!text.contains(hash), "{text}");
            assert!(!text.contains("saltsalt"), "{text}");
        }
        // the tool's own echo of the hash is cut from the error too
        assert!(error.contains("useradd: -p <hash> -m -- demo"), "{error}");
    }

    #[test]
    fn files_and_drop_ins_stay_in_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root_path = tmp.path().join("root");
        std::fs::create_dir_all(root_path.join("etc")).unwrap();
        // An absolute symlink, as images have: must resolve inside the root.
        std::os::unix::fs::symlink("/tmp", root_path.join("etc/sysctl.d")).unwrap();
        std::fs::create_dir_all(root_path.join("tmp")).unwrap();
        let root = RootDir::open(&root_path).unwrap();
        let changes = [
            RootChange::WriteFile {
                path: "etc/motd".into(),
                content: b"hello\n".to_vec(),
                mode: 0o640,
                uid: 0,
                gid: 42,
            },
            RootChange::SetSysctl {
                key: "kernel.dmesg_restrict".into(),
                value: "1".into(),
            },
            RootChange::SetSysctl {
                key: "vm.swappiness".into(),
                value: "10".into(),
            },
            RootChange::SetSysctl {
                key: "kernel.dmesg_restrict".into(),
                value: "0".into(),
            },
            RootChange::LoadKernelModule {
                name: "br_netfilter".into(),
            },
        ];
        carry_out(&root, &NoPackages, "`demo` 1.0", "demo", &changes).unwrap();
        use std::os::unix::fs::MetadataExt;
        let motd = std::fs::metadata(root_path.join("etc/motd")).unwrap();
        assert_eq!(
            (motd.mode() & 0o7777, motd.uid(), motd.gid()),
            (0o640, 0, 42)
        );
        assert_eq!(
            std::fs::read_to_string(root_path.join("tmp/90-demo.conf")).unwrap(),
            "kernel.dmesg_restrict = 0\nvm.swappiness = 10\n"
        );
        assert_eq!(
            std::fs::read_to_string(root_path.join("etc/modules-load.d/demo.conf")).unwrap(),
            "br_netfilter\n"
        );
        // A bad sysctl key is refused, naming the plugin and the step.
        let err = carry_out(
            &root,
            &NoPackages,
            "`demo` 1.0",
            "demo",
            &[RootChange::SetSysctl {
                key: "a\nb".into(),
                value: "1".into(),
            }],
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("plugin `demo` 1.0: sysctl"),
            "{err:#}"
        );
        // Packages go to the package tool.
        let err = carry_out(
            &root,
            &NoPackages,
            "`demo` 1.0",
            "demo",
            &[RootChange::InstallPackages {
                names: vec!["chrony".into()],
            }],
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("install [\"chrony\"]"),
            "{err:#}"
        );
    }
}
