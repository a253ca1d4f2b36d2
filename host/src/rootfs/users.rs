//! Users and groups of the description, created inside the image with its
//! own `groupadd`/`useradd`/`usermod`, and passwords hashed per `pwdformat`.

use std::path::Path;

use anyhow::Context;

use crate::description::{GroupRef, PasswordFormat, User};
use crate::rootfs::command;
use crate::rootfs::files::RootDir;
use crate::rootfs::sandbox::{in_root, Contain};

/// The crypt(3) hash to store for `user`: `pwdformat="plain"` is hashed with
/// sha512crypt and a random salt; anything else is a hash already. `None`
/// when no password is given.
pub fn password_hash(user: &User) -> anyhow::Result<Option<String>> {
    if user.password.is_empty() {
        return Ok(None);
    }
    match user.password_format {
        Some(PasswordFormat::Plain) => {
            let params = sha_crypt::Sha512Params::default();
            let hash = sha_crypt::sha512_simple(&user.password, &params)
                .map_err(|e| anyhow::anyhow!("hashing the password of {}: {e:?}", user.name))?;
            Ok(Some(hash))
        }
        Some(PasswordFormat::Encrypted) | None => Ok(Some(user.password.clone())),
    }
}

/// The names in `/etc/passwd` or `/etc/group` of the image (`file` relative to the root).
pub(crate) fn names(root: &RootDir, file: &str) -> anyhow::Result<Vec<String>> {
    let text = root
        .read_to_string(file)
        .with_context(|| format!("reading /{file} of the image"))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split(':').next())
        .map(str::to_string)
        .collect())
}

/// Creates the groups, then creates or updates the users.
pub fn apply(root: &RootDir, groups: &[GroupRef], users: &[User]) -> anyhow::Result<()> {
    if groups.is_empty() && users.is_empty() {
        return Ok(());
    }
    let path: &Path = root.host_path();
    let existing_groups = names(root, "etc/group")?;
    for group in groups {
        if existing_groups.contains(&group.name) {
            continue;
        }
        let mut cmd = in_root(path, "groupadd", Contain::TOOLS);
        if let Some(id) = group.id {
            cmd.args(["-g", &id.to_string()]);
        }
        cmd.arg("--").arg(&group.name);
        command::run(&format!("users: group {}", group.name), &mut cmd)?;
    }
    let existing_users = names(root, "etc/passwd")?;
    for user in users {
        let exists = existing_users.contains(&user.name);
        let mut cmd = in_root(
            path,
            if exists { "usermod" } else { "useradd" },
            Contain::TOOLS,
        );
        let hash = password_hash(user)?;
        if let Some(hash) = &hash {
            cmd.args(["-p", hash]);
        }
        if let Some(shell) = &user.shell {
            cmd.args(["-s", shell]);
        }
        if let Some(realname) = &user.realname {
            cmd.args(["-c", realname]);
        }
        if let Some(id) = user.id {
            cmd.args(["-u", &id.to_string()]);
        }
        if let Some((login, rest)) = user.groups.split_first() {
            cmd.args(["-g", &login.name]);
            if !rest.is_empty() {
                let extra: Vec<&str> = rest.iter().map(|g| g.name.as_str()).collect();
                cmd.args(["-G", &extra.join(",")]);
            }
        }
        if !exists {
            match &user.home {
                Some(home) => cmd.args(["-m", "-d", home]),
                None => cmd.arg("-m"),
            };
        } else if let Some(home) = &user.home {
            cmd.args(["-d", home]);
        }
        cmd.arg("--").arg(&user.name);
        run_with_hash(
            &format!("users: user {}", user.name),
            &mut cmd,
            hash.as_deref(),
        )?;
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn user(password: &str, format: Option<PasswordFormat>) -> User {
        User {
            name: "demo".into(),
            password: password.into(),
            password_format: format,
            home: None,
            shell: None,
            realname: None,
            id: None,
            groups: vec![],
        }
    }

    #[test]
    fn plain_passwords_get_salted_sha512() {
        let u = user("secret", Some(PasswordFormat::Plain));
        let a = password_hash(&u).unwrap().unwrap();
        let b = password_hash(&u).unwrap().unwrap();
        assert!(a.starts_with("$6$"), "{a}");
        assert_ne!(a, b, "salts must differ");
        assert!(sha_crypt::sha512_check("secret", &a).is_ok());
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

    /// Runs a user command as `apply` does, at the most verbose level, with
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
                run_with_hash("users: user demo", &mut cmd, Some(hash))
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
    fn encrypted_passwords_are_kept() {
        let u = user("$6$abc$def", None);
        assert_eq!(password_hash(&u).unwrap().as_deref(), Some("$6$abc$def"));
        assert_eq!(password_hash(&user("", None)).unwrap(), None);
    }
}
