//! Values of a description that become paths, shell text or tool arguments:
//! profile names (overlay directories), keytable and timezone (files the
//! image's shells source), repository suites and components (apt's
//! sources), user and group names (useradd and groupadd), archive names and
//! their target directories. Each check answers what was expected when the
//! value does not fit.

/// A profile name: also the name of the profile's overlay directory next to
/// the description, so it must be one plain path component.
pub(crate) fn profile_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(['/', ','])
        || name.chars().any(char::is_control)
    {
        return Err(
            "a profile name: not empty, not '.' or '..', without '/', ',' and \
                    control characters (it names the profile's overlay directory)",
        );
    }
    Ok(())
}

/// A console keymap name (`us`, `de-latin1-nodeadkeys`, `fr_CH-latin1`):
/// it is written into `/etc/default/keyboard`, which shells source.
pub(crate) fn keytable(value: &str) -> Result<(), &'static str> {
    let ok = (1..=64).contains(&value.len())
        && value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '+'));
    if ok {
        Ok(())
    } else {
        Err(
            "a keymap name: letters, digits, '_', '-', '.' and '+', starting with a letter \
             or digit, at most 64 characters",
        )
    }
}

/// A zone name of the tz database (`UTC`, `Europe/Berlin`, `Etc/GMT+5`):
/// a path below /usr/share/zoneinfo, so no empty, `.` or `..` parts.
pub(crate) fn timezone(value: &str) -> Result<(), &'static str> {
    let ok = (1..=255).contains(&value.len())
        && !value.starts_with('-')
        && value
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '+' | '/'));
    if ok {
        Ok(())
    } else {
        Err(
            "a zone name such as Europe/Berlin: letters, digits, '_', '-', '.', '+' \
             and '/' between non-empty parts other than '.' and '..'",
        )
    }
}

/// An apt suite or component (`bookworm`, `focal-security`, `stable/updates`,
/// `main/debian-installer`): part of a sources line and of the paths apt
/// fetches, so no blanks, no `..` and no leading `-` or `/`.
pub(crate) fn suite(value: &str) -> Result<(), &'static str> {
    let ok = !value.is_empty()
        && value.len() <= 255
        && !value.starts_with(['-', '/'])
        && !value.contains("..")
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '+' | '~' | '/'));
    if ok {
        Ok(())
    } else {
        Err(
            "a suite or component name: letters, digits, '_', '-', '.', '+', '~' and '/', \
             not starting with '-' or '/', without '..'",
        )
    }
}

/// A user or group name as useradd and groupadd take it by default:
/// `[a-z_][a-z0-9_-]*[$]?`, at most 32 characters.
pub(crate) fn account_name(value: &str) -> Result<(), &'static str> {
    let body = value.strip_suffix('$').unwrap_or(value);
    let ok = !body.is_empty()
        && value.len() <= 32
        && body.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && body
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err("a name as useradd takes it: [a-z_][a-z0-9_-]*[$]?, at most 32 characters")
    }
}

/// An `<archive name>`: a file in the description directory, named
/// relative to it (KIWI also takes absolute paths; they would read host
/// files, as `..` would).
pub(crate) fn archive_name(value: &str) -> Result<(), &'static str> {
    let path = std::path::Path::new(value);
    let ok = !value.is_empty()
        && !value.chars().any(char::is_control)
        && path.components().all(|c| {
            matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        })
        && path
            .components()
            .any(|c| matches!(c, std::path::Component::Normal(_)));
    if ok {
        Ok(())
    } else {
        Err("a file in the description directory, named relative to it, without '..'")
    }
}

/// An `<archive target_dir>`: a directory of the image, without `..`.
pub(crate) fn target_dir(value: &str) -> Result<(), &'static str> {
    let ok = !value.chars().any(char::is_control)
        && std::path::Path::new(value)
            .components()
            .all(|c| !matches!(c, std::path::Component::ParentDir));
    if ok {
        Ok(())
    } else {
        Err("a directory of the image without '..'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names() {
        for good in ["Azure", "Vagrant-libvirt", "std", "a.b", "..x"] {
            assert!(profile_name(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "/", "a,b", "a\tb"] {
            assert!(profile_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn keytables_and_timezones() {
        for good in [
            "us",
            "de-latin1-nodeadkeys",
            "fr_CH-latin1",
            "ruwin_alt-UTF-8",
        ] {
            assert!(keytable(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "de$(touch /tmp/x)",
            "us\"",
            "us\n",
            "-us",
            "us us",
            "a'b",
        ] {
            assert!(keytable(bad).is_err(), "{bad:?}");
        }
        for good in [
            "UTC",
            "Europe/Berlin",
            "Etc/GMT+5",
            "America/Port-au-Prince",
        ] {
            assert!(timezone(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "../etc/shadow",
            "/UTC",
            "Europe//Berlin",
            "UTC\n",
            "a b",
            "-x",
        ] {
            assert!(timezone(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn suites_and_components() {
        for good in ["bookworm", "focal-security", "stable/updates", "./", "main"] {
            assert!(suite(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-oDebug=1",
            "../../x",
            "a..b",
            "/etc",
            "a b",
            "x\ndeb y",
            "a;b",
        ] {
            assert!(suite(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn archive_names_and_targets() {
        for good in ["x.tar.gz", "./files/x.tar", "sub/x.tgz"] {
            assert!(archive_name(good).is_ok(), "{good}");
        }
        for bad in ["", "/etc/shadow", "../x.tar", "a/../../x.tar", ".", "a\nb"] {
            assert!(archive_name(bad).is_err(), "{bad:?}");
        }
        for good in ["/", "/opt/app", "opt", ""] {
            assert!(target_dir(good).is_ok(), "{good}");
        }
        for bad in ["/../..", "/opt/../../etc", "a\tb"] {
            assert!(target_dir(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn account_names() {
        for good in ["root", "_apt", "vagrant", "www-data", "host$", "a1"] {
            assert!(account_name(good).is_ok(), "{good}");
        }
        let long = "a".repeat(33);
        for bad in [
            "",
            "$",
            "-ou",
            "Root",
            "1user",
            "a b",
            "a:b",
            "a$b",
            long.as_str(),
        ] {
            assert!(account_name(bad).is_err(), "{bad:?}");
        }
    }
}
