//! KIWI's encrypted root (`luks`, `luks_version`, `luks_pbkdf`,
//! `<luksformat>`): the LUKS container the root partition gets, the key
//! file the initrd opens it with, and `etc/crypttab`.

use builder_sdk::disks::{Encryption, LuksVersion};
use builder_sdk::prelude::*;
use builder_sdk::{OptionValue, Settings};

/// Where the key file goes in the root (KIWI's `/root/.root.keyfile`).
pub const KEY_FILE: &str = "root/.root.keyfile";

/// The name the opened container gets (KIWI's).
pub const MAPPED: &str = "luks";

/// The root's encryption.
pub struct Luks {
    /// What the host makes.
    pub encryption: Encryption,
    /// The key file's content, written to [`KEY_FILE`] (0600) and carried
    /// by the initrd, when GRUB opens the container first (the initrd then
    /// opens it again without asking) or there is no passphrase to ask for.
    pub key_file: Option<Vec<u8>>,
}

/// The root's encryption the options and `<luksformat>` ask for, if any.
/// `grub_unlocks`: /boot is inside (no boot partition), so GRUB must open
/// the container, which GRUB 2.06 can for LUKS1 and for LUKS2 with pbkdf2.
pub fn read(
    options: &[OptionValue],
    settings: Settings<'_>,
    grub_unlocks: bool,
) -> Result<Option<Luks>, Error> {
    let Some(passphrase) = options.value("luks") else {
        return Ok(None);
    };
    let version = match options.value("luks_version") {
        Some("luks1") => LuksVersion::Luks1,
        // KIWI's `luks` is cryptsetup's default type: LUKS2.
        None | Some("luks" | "luks2") => LuksVersion::Luks2,
        Some(other) => {
            return Err(Error::invalid_option(
                "luks_version",
                format!("`{other}` is not luks, luks1 or luks2"),
            ))
        }
    };
    if options.value("luksOS").is_some() {
        return Err(Error::invalid_option(
            "luksOS",
            "KIWI's per-distribution cryptsetup presets (sle12) are not made by builder: \
             give the options in <luksformat> instead",
        ));
    }
    let pbkdf = options.value("luks_pbkdf").map(str::to_string);
    let mut format_options = Vec::new();
    if let Some(format) = settings.element("luksformat") {
        for option in format.children("option") {
            let name = option.attr("name").unwrap_or_default();
            match option.attr("value").filter(|v| !v.is_empty()) {
                Some(value) => format_options.push(format!("{name}={value}")),
                None => format_options.push(name.to_string()),
            }
        }
    }
    let forced_pbkdf = format_options
        .iter()
        .find_map(|o| o.strip_prefix("--pbkdf="))
        .map(str::to_string);
    let pbkdf2 = pbkdf.as_deref().or(forced_pbkdf.as_deref()) == Some("pbkdf2");
    if grub_unlocks && version == LuksVersion::Luks2 && !pbkdf2 {
        return Err(Error::invalid_option(
            "luks_version",
            "/boot is on the encrypted root, and GRUB opens LUKS2 only with pbkdf2 key \
             slots: set luks_pbkdf=\"pbkdf2\" or luks_version=\"luks1\", or give /boot a \
             partition of its own (bootpartition=\"true\")",
        ));
    }
    if passphrase.is_empty() || passphrase == "random" {
        return Err(Error::invalid_option(
            "luks",
            "KIWI takes an empty or `random` passphrase for images that are encrypted again \
             at first boot; builder makes containers with a passphrase only",
        ));
    }
    let key_file = if grub_unlocks {
        let mut key = vec![0u8; 32];
        getrandom::fill(&mut key)
            .map_err(|e| Error::other(format!("drawing a LUKS key file: {e}")))?;
        Some(key)
    } else {
        None
    };
    Ok(Some(Luks {
        encryption: Encryption {
            passphrase: passphrase.to_string(),
            version,
            pbkdf,
            format_options,
            key_file: key_file.clone(),
        },
        key_file,
    }))
}

impl Luks {
    /// cryptsetup's name of its version.
    pub fn version_name(&self) -> &'static str {
        match self.encryption.version {
            LuksVersion::Luks1 => "luks1",
            LuksVersion::Luks2 => "luks2",
        }
    }

    /// `etc/crypttab`: the container by UUID, opened in the initrd
    /// (`initramfs`: the image's tools cannot see the root device while the
    /// image is built) with the key file, if any.
    pub fn crypttab(&self, uuid: &str) -> String {
        let key = if self.key_file.is_some() {
            format!("/{KEY_FILE}")
        } else {
            "none".to_string()
        };
        format!("# Written by builder.\n{MAPPED} UUID={uuid} {key} luks,initramfs\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use builder_sdk::Setting;

    fn value(name: &str, value: &str) -> OptionValue {
        OptionValue {
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    fn kiwis_attributes_become_the_encryption() {
        let options = [
            value("luks", "secret"),
            value("luks_version", "luks2"),
            value("luks_pbkdf", "pbkdf2"),
        ];
        let settings = vec![
            Setting {
                element: "luksformat".into(),
                parent: None,
                attributes: vec![],
                text: String::new(),
            },
            Setting {
                element: "option".into(),
                parent: Some(0),
                attributes: vec![
                    value("name", "--pbkdf-force-iterations"),
                    value("value", "1000"),
                ],
                text: String::new(),
            },
        ];
        let luks = read(&options, Settings::new(&settings), true)
            .unwrap()
            .unwrap();
        assert_eq!(luks.encryption.passphrase, "secret");
        assert_eq!(luks.version_name(), "luks2");
        assert_eq!(
            luks.encryption.format_options,
            ["--pbkdf-force-iterations=1000"]
        );
        let key = luks.key_file.clone().unwrap();
        assert_eq!(key.len(), 32);
        assert_eq!(luks.encryption.key_file.as_ref(), Some(&key));
        assert_eq!(
            luks.crypttab("U-U"),
            "# Written by builder.\nluks UUID=U-U /root/.root.keyfile luks,initramfs\n"
        );
        // With /boot outside, the initrd asks for the passphrase: no key file.
        let luks = read(&options, Settings::new(&[]), false).unwrap().unwrap();
        assert!(luks.key_file.is_none());
        assert!(luks.crypttab("U").contains(" none luks,initramfs"));
        assert!(read(&[], Settings::new(&[]), true).unwrap().is_none());
    }

    #[test]
    fn what_grub_or_builder_cannot_open_is_refused() {
        let refused = |options: &[OptionValue], grub: bool| {
            let err = read(options, Settings::new(&[]), grub).err().unwrap();
            format!("{err:?}")
        };
        // LUKS2 with argon2 (cryptsetup's default) and /boot inside.
        assert!(refused(&[value("luks", "s")], true).contains("pbkdf2"));
        assert!(read(&[value("luks", "s")], Settings::new(&[]), false).is_ok());
        assert!(read(
            &[value("luks", "s"), value("luks_version", "luks1")],
            Settings::new(&[]),
            true
        )
        .is_ok());
        assert!(
            refused(&[value("luks", ""), value("luks_version", "luks1")], true)
                .contains("passphrase")
        );
        assert!(
            refused(&[value("luks", "s"), value("luks_version", "luks3")], false).contains("luks3")
        );
        assert!(
            refused(&[value("luks", "s"), value("luksOS", "sle12")], false).contains("luksformat")
        );
    }
}
