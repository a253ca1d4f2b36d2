//! KIWI's `<bootloader-theme>`: a GRUB theme from the image's own packages
//! (Debian's `grub-theme-starfield`, the RHEL and SUSE `grub2-*-theme`
//! packages), its files and GRUB's unicode font put next to `grub.cfg`, and
//! shown on GRUB's graphical terminal.

use builder_sdk::prelude::*;

/// Where the distributions install GRUB themes, in the root.
const THEME_DIRS: &[&str] = &[
    "usr/share/grub/themes",
    "usr/share/grub2/themes",
    "boot/grub2/themes",
];

/// Where they install the font GRUB's graphical terminal needs.
const FONTS: &[&str] = &[
    "usr/share/grub/unicode.pf2",
    "usr/share/grub2/unicode.pf2",
    "boot/grub2/fonts/unicode.pf2",
];

/// The kinds of file a theme is made of that GRUB reads (and the host's
/// boot files take below `boot/grub/`).
const THEME_FILES: &[&str] = &["txt", "png", "jpg", "jpeg", "tga", "pf2"];

/// What GRUB's image needs built in to show a theme.
pub const MODULES: &[&str] = &[
    "all_video",
    "gfxterm",
    "gfxmenu",
    "png",
    "jpeg",
    "tga",
    "font",
];

/// A theme found in the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Theme {
    /// Its name (the directory's).
    pub name: String,
    /// Its files: the path below GRUB's directory and the root's path.
    pub files: Vec<(String, String)>,
}

/// Theme `name` of the root: the theme directory's data files and the
/// unicode font.
pub fn find(root: &RootTree, name: &str) -> Result<Theme, Error> {
    let plain = !name.is_empty()
        && !name.starts_with(['-', '.'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !plain {
        return Err(Error::other(format!(
            "bootloader-theme: `{name}` is not a theme name"
        )));
    }
    let Some(dir) = THEME_DIRS
        .iter()
        .map(|d| format!("{d}/{name}"))
        .find(|d| root.stat(&format!("{d}/theme.txt")).is_ok())
    else {
        return Err(Error::other(format!(
            "bootloader-theme `{name}`: the image has no GRUB theme of that name (looked for \
             theme.txt in /{}/{name}): add the package with it (Debian: grub-theme-{name})",
            THEME_DIRS.join(", /")
        )));
    };
    let mut files = Vec::new();
    for entry in root.walk_all(&dir)? {
        let entry = entry?;
        if entry.metadata.file_type != FileType::Regular {
            continue;
        }
        let below = entry.path[dir.len() + 1..].to_string();
        let extension = below.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
        if extension.is_some_and(|e| THEME_FILES.contains(&e.as_str())) {
            files.push((format!("themes/{name}/{below}"), entry.path.clone()));
        } else {
            log::info(&format!(
                "bootloader-theme `{name}`: /{} is not a file GRUB reads for a theme; left out",
                entry.path
            ));
        }
    }
    let font = FONTS.iter().find(|f| root.stat(f).is_ok()).ok_or_else(|| {
        Error::other(format!(
            "bootloader-theme `{name}`: the image has no GRUB font ({}) for the graphical \
                 terminal a theme is shown on: add grub-common (Debian) or grub2-tools",
            FONTS.join(", ")
        ))
    })?;
    files.push(("fonts/unicode.pf2".to_string(), font.to_string()));
    Ok(Theme {
        name: name.to_string(),
        files,
    })
}

impl Theme {
    /// `grub.cfg`'s lines that load the fonts and set the theme, GRUB's
    /// directory being `grub_dir` on the boot filesystem (`/boot/grub`).
    pub fn config(&self, grub_dir: &str) -> String {
        let mut cfg = String::new();
        for (path, _) in self.files.iter().filter(|(p, _)| p.ends_with(".pf2")) {
            cfg.push_str(&format!("loadfont {grub_dir}/{path}\n"));
        }
        cfg.push_str(&format!(
            "set gfxmode=auto\nset theme={grub_dir}/themes/{}/theme.txt\nexport theme\n",
            self.name
        ));
        cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_loads_every_font_then_sets_the_theme() {
        let theme = Theme {
            name: "starfield".into(),
            files: vec![
                ("themes/starfield/theme.txt".into(), "x".into()),
                ("themes/starfield/dejavu_10.pf2".into(), "y".into()),
                ("fonts/unicode.pf2".into(), "z".into()),
            ],
        };
        assert_eq!(
            theme.config("/boot/grub"),
            "loadfont /boot/grub/themes/starfield/dejavu_10.pf2\n\
             loadfont /boot/grub/fonts/unicode.pf2\n\
             set gfxmode=auto\n\
             set theme=/boot/grub/themes/starfield/theme.txt\n\
             export theme\n"
        );
    }
}
