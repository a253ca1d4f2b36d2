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
        // The hash is an argument; keep it out of error messages.
        command::run(&format!("users: user {}", user.name), &mut cmd).map_err(|e| {
            let text = e.to_string();
            match &hash {
                Some(hash) => anyhow::anyhow!("{}", text.replace(hash.as_str(), "******")),
                None => anyhow::anyhow!("{text}"),
            }
        })?;
    }
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
