//! Users and groups of the description: passwords hashed per `pwdformat`,
//! then the same user and group requests plugins make, carried out by the
//! one executor of root changes (`plugins::carry_out`) with the image's
//! own `groupadd`/`useradd`/`usermod`.

use anyhow::Context;

use crate::description::{GroupRef, PasswordFormat, User};
use crate::packages::PackageTool;
use crate::plugins::carry_out;
use crate::plugins::RootChange;
use crate::rootfs::files::RootDir;

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

/// The description's groups, then its users, as root changes: a user's
/// first group is its login group, the others supplementary ones.
/// `epoch` makes password salts reproducible (see [`password_hash`]).
pub fn changes(
    groups: &[GroupRef],
    users: &[User],
    epoch: Option<i64>,
) -> anyhow::Result<Vec<RootChange>> {
    let mut out: Vec<RootChange> = groups
        .iter()
        .map(|group| RootChange::AddGroup {
            name: group.name.clone(),
            gid: group.id,
        })
        .collect();
    for user in users {
        let (group, groups) = match user.groups.split_first() {
            Some((login, rest)) => (
                Some(login.name.clone()),
                rest.iter().map(|g| g.name.clone()).collect(),
            ),
            None => (None, Vec::new()),
        };
        out.push(RootChange::AddUser {
            name: user.name.clone(),
            uid: user.id,
            group,
            groups,
            home: user.home.clone(),
            shell: user.shell.clone(),
            comment: user.realname.clone(),
            password_hash: password_hash(user, epoch)?,
        });
    }
    Ok(out)
}

/// Creates the groups, then creates or updates the users.
pub fn apply(
    root: &RootDir,
    packages: &dyn PackageTool,
    groups: &[GroupRef],
    users: &[User],
) -> anyhow::Result<()> {
    if groups.is_empty() && users.is_empty() {
        return Ok(());
    }
    let epoch = crate::create::source_date_epoch_from_env()?;
    for change in changes(groups, users, epoch)? {
        carry_out::apply(root, packages, "description", &change)
            .with_context(|| format!("users: {}", carry_out::describe(&change)))?;
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
