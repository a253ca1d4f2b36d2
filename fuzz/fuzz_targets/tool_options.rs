//! Arbitrary argument lists into the toolbox's create-option allowlists, and
//! arbitrary strings into its other value checks (labels, UUIDs, partition
//! names, image paths, GRUB modules, package and account names).
//!
//! Errors are fine. Bugs are: a panic; an accepted list holding an argument
//! that is, or starts with, one of the tool's file-taking options (glued
//! short values, `--long=value`, getopt's abbreviations of long options); a
//! control character in an accepted argument; mke2fs extended options that
//! set what the host sets itself; an accepted list that, parsed again, does
//! not give itself back; an accepted name that a tool would read as an
//! option.
//!
//! The first byte picks the tool (`% 6`) and how the rest is split into
//! arguments (bit 3: at blanks, as the first-party plugins split KIWI's
//! `fscreateoptions`; else at 0x1e, so arguments may hold blanks, NUL bytes
//! and line breaks): `cargo fuzz run tool_options`.

#![no_main]

use builder_fuzz::options::{self, CreateArgs, Mkfs};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let tool = Mkfs::ALL[usize::from(*first) % Mkfs::ALL.len()];
    let args: Vec<String> = if first & 0x08 != 0 {
        text.split_whitespace().map(str::to_string).collect()
    } else {
        text.split('\u{1e}').map(str::to_string).collect()
    };
    if let Ok(accepted) = options::create_options(tool, &args) {
        check_accepted(tool, &accepted);
    }
    for arg in &args {
        values(tool, arg);
    }
});

fn check_accepted(tool: Mkfs, accepted: &CreateArgs) {
    for arg in accepted.args.iter().chain(&accepted.extended) {
        assert!(!arg.chars().any(char::is_control), "{arg:?}");
    }
    for arg in &accepted.args {
        for flag in tool.file_taking() {
            if tool == Mkfs::Squashfs {
                // mksquashfs matches whole arguments only.
                assert_ne!(arg, flag, "{tool:?} accepted {accepted:?}");
            } else if flag.starts_with("--") {
                let name = arg.split('=').next().unwrap_or(arg);
                let abbreviates =
                    name.len() > 2 && name.starts_with("--") && flag.starts_with(name);
                assert!(
                    !abbreviates,
                    "{tool:?} accepted {arg:?} ({flag}) in {accepted:?}"
                );
            } else {
                assert!(
                    !arg.starts_with(flag),
                    "{tool:?} accepted {arg:?} ({flag}) in {accepted:?}"
                );
            }
        }
    }
    if tool == Mkfs::Ext {
        for item in &accepted.extended {
            let key = item.split('=').next().unwrap_or(item);
            assert!(
                !matches!(key, "offset" | "root_owner" | "hash_seed"),
                "{accepted:?}"
            );
        }
    } else {
        assert!(accepted.extended.is_empty(), "{tool:?} {accepted:?}");
    }
    // What was accepted is accepted again as it stands.
    let mut again = accepted.args.clone();
    if !accepted.extended.is_empty() {
        again.push("-E".into());
        again.push(accepted.extended.join(","));
    }
    assert_eq!(
        options::create_options(tool, &again).as_ref(),
        Ok(accepted),
        "{tool:?} {again:?}"
    );
}

fn values(tool: Mkfs, text: &str) {
    let _ = options::label(tool, text);
    if let Ok(uuid) = options::uuid(text) {
        assert_eq!(uuid.len(), 36);
        let id = options::fat_volume_id(text).expect("a UUID gives a FAT id");
        assert!(id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit()));
    } else {
        assert!(options::fat_volume_id(text).is_err());
    }
    let _ = options::squashfs_compression(text);
    let _ = options::erofs_compression(text);
    if options::gpt_partition_name(text).is_ok() {
        assert!(!text.contains(['"', '\\', ',', '\n']), "{text:?}");
    }
    let _ = options::iso_volume_id(text);
    if let Ok(path) = options::image_path(text) {
        assert!(!path.starts_with('/'));
        assert!(path
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != ".."));
    }
    for check in [
        options::grub_module,
        options::package_name,
        options::unit_name,
        options::account_name,
    ] {
        if check(text).is_ok() {
            assert!(!text.starts_with('-') && !text.is_empty(), "{text:?}");
        }
    }
}
