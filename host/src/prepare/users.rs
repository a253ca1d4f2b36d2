//! Users and groups of the description, created inside the image with its
//! own `groupadd`/`useradd`/`usermod`, and passwords hashed per `pwdformat`.

use std::path::Path;

use crate::description::{GroupRef, PasswordFormat, User};
use crate::rootfs::command;
use crate::rootfs::files::{account_names as names, RootDir};
use crate::rootfs::sandbox::{in_root, Contain};

/// The crypt(3) hash to store for `user`: `pwdformat="plain"` is hashed with
/// sha512crypt; anything else is a hash already. `None` when no password
/// is given. The salt is random, except in a reproducible build
/// (`reproducible_salt`: `SOURCE_DATE_EPOCH` is set), where it is derived
/// from the user, the password and the epoch, so that two builds store the
/// same hash. It is still a salt of its own per user, password and epoch;
/// only builds with the same three share it.
pub fn password_hash(
    user: &User,
    reproducible_salt: Option<i64>,
) -> anyhow::Result<Option<String>> {
    if user.password.is_empty() {
        return Ok(None);
    }
    match user.password_format {
        Some(PasswordFormat::Plain) => {
            let params = sha_crypt::Sha512Params::default();
            let failed = |e| anyhow::anyhow!("hashing the password of {}: {e:?}", user.name);
            let hash = match reproducible_salt {
                None => sha_crypt::sha512_simple(&user.password, &params).map_err(failed)?,
                Some(epoch) => {
                    let salt = derived_salt(&user.name, &user.password, epoch);
                    let bytes = sha_crypt::sha512_crypt_b64(
                        user.password.as_bytes(),
                        salt.as_bytes(),
                        &params,
                    )
                    .map_err(failed)?;
                    format!("$6${salt}${bytes}")
                }
            };
            Ok(Some(hash))
        }
        Some(PasswordFormat::Encrypted) | None => Ok(Some(user.password.clone())),
    }
}

/// 16 characters of crypt's alphabet from SHA-256 of what the hash is of.
fn derived_salt(user: &str, password: &str, epoch: i64) -> String {
    use sha2::Digest;
    const ALPHABET: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let digest = sha2::Sha256::new()
        .chain_update(b"builder password salt\0")
        .chain_update(user.as_bytes())
        .chain_update(b"\0")
        .chain_update(password.as_bytes())
        .chain_update(b"\0")
        .chain_update(epoch.to_le_bytes())
        .finalize();
    digest[..16]
        .iter()
        .map(|b| ALPHABET[usize::from(b & 63)] as char)
        .collect()
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
        let epoch = crate::create::source_date_epoch_from_env()?;
        let hash = password_hash(user, epoch)?;
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
        let a = password_hash(&u, None).unwrap().unwrap();
        let b = password_hash(&u, None).unwrap().unwrap();
        assert!(a.starts_with("$6$"), "{a}");
        assert_ne!(a, b, "salts must differ");
        assert!(sha_crypt::sha512_check("secret", &a).is_ok());
        // A reproducible build: the same hash for the same user, password
        // and epoch, another for any other.
        let c = password_hash(&u, Some(1_700_000_000)).unwrap().unwrap();
        assert_eq!(
            Some(c.clone()),
            password_hash(&u, Some(1_700_000_000)).unwrap()
        );
        assert!(sha_crypt::sha512_check("secret", &c).is_ok(), "{c}");
        assert_ne!(
            Some(c.clone()),
            password_hash(&u, Some(1_700_000_001)).unwrap()
        );
        let other = User {
            name: "other".into(),
            ..u.clone()
        };
        assert_ne!(Some(c), password_hash(&other, Some(1_700_000_000)).unwrap());
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
        assert_eq!(
            password_hash(&u, None).unwrap().as_deref(),
            Some("$6$abc$def")
        );
        assert_eq!(password_hash(&user("", None), None).unwrap(), None);
    }
}
