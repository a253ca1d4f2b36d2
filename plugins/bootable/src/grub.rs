//! What the disk and the ISO share: GRUB's module lists, its embedded
//! first configuration, the menu, and identifiers that are stable with
//! `SOURCE_DATE_EPOCH`.

use builder_sdk::boot::Kernel;
use builder_sdk::prelude::*;

/// Modules every GRUB image of ours has built in: partition tables, the
/// commands of the menu and serial console support. Nothing is loaded at
/// boot time, so `/boot/grub` needs no module copies.
const COMMON: &[&str] = &[
    "part_gpt",
    "part_msdos",
    "search",
    "search_fs_uuid",
    "search_fs_file",
    "search_label",
    "normal",
    "configfile",
    "linux",
    "echo",
    "test",
    "sleep",
    "serial",
    "terminal",
    "gzio",
];

/// The modules of an image for `platform`, reading `filesystems`.
pub fn modules(bios: bool, filesystems: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = COMMON.iter().map(|m| m.to_string()).collect();
    if bios {
        out.push("biosdisk".into());
    }
    for fs in filesystems {
        let module = match *fs {
            "ext2" | "ext3" | "ext4" => "ext2",
            other => other,
        };
        if !out.iter().any(|m| m == module) {
            out.push(module.to_string());
        }
    }
    out
}

/// How GRUB finds the filesystem holding `/boot/grub/grub.cfg`.
pub enum Locate<'a> {
    /// By filesystem UUID.
    Uuid(&'a str),
    /// By filesystem label.
    Label(&'a str),
    /// By a file only that filesystem has.
    File(&'a str),
}

impl Locate<'_> {
    fn search(&self) -> String {
        match self {
            Locate::Uuid(uuid) => format!("search --no-floppy --fs-uuid --set=root {uuid}"),
            Locate::Label(label) => format!("search --no-floppy --label --set=root {label}"),
            Locate::File(file) => format!("search --no-floppy --file --set=root {file}"),
        }
    }
}

/// The configuration built into the GRUB image: find the boot filesystem,
/// then read its `/boot/grub/grub.cfg`, or `/grub/grub.cfg` when `/boot` is
/// a filesystem of its own (`boot_partition`).
pub fn early_config(locate: &Locate, boot_partition: bool) -> String {
    format!(
        "{}\nset prefix=($root){}/grub\nconfigfile $prefix/grub.cfg\n",
        locate.search(),
        if boot_partition { "" } else { "/boot" }
    )
}

/// The lines that open the LUKS container `uuid` before `early_config`
/// looks for the boot filesystem in it: GRUB asks for the passphrase on the
/// menu's terminals (set up here already, since grub.cfg is inside).
pub fn unlock_config(menu: &Menu, uuid: &str) -> String {
    format!(
        "{}cryptomount -u {}\n",
        // Before grub.cfg: the theme's fonts are not readable yet.
        menu.terminal_lines(false),
        uuid.replace('-', "")
    )
}

/// The modules GRUB needs to open a LUKS container of `version` (`luks1`
/// or `luks2`) encrypted with aes-xts-plain64.
pub fn luks_modules(version: &str) -> Vec<String> {
    let format = if version == "luks1" { "luks" } else { "luks2" };
    [
        "cryptodisk",
        format,
        "gcry_rijndael",
        "gcry_sha256",
        "gcry_sha1",
        "pbkdf2",
    ]
    .iter()
    .map(|m| m.to_string())
    .collect()
}

/// The firmware a disk or ISO is made for: KIWI's `firmware`, with `ec2`
/// and `custom` made as KIWI 11 makes them on x86_64, an MBR disk booted by
/// BIOS (neither is EFI-capable there).
pub fn firmware(options: &[builder_sdk::OptionValue]) -> &str {
    match options.value("firmware") {
        Some("ec2" | "custom") => "bios",
        Some(other) => other,
        None => "efi",
    }
}

/// KIWI's `initrd_system`: set in the description, it must be the tool the
/// image makes its initrd with (builder uses the image's own).
pub fn check_initrd_system(
    root: &RootTree,
    options: &[builder_sdk::OptionValue],
) -> Result<(), Error> {
    let asked = options.value("initrd_system").is_some();
    let has_dracut = ["usr/bin/dracut", "bin/dracut", "usr/sbin/dracut"]
        .iter()
        .any(|p| root.stat(p).is_ok());
    if asked && !has_dracut {
        return Err(Error::invalid_option(
            "initrd_system",
            "initrd_system=\"dracut\": the image has no dracut to make its initrd with \
             (builder uses the image's own tool): add `dracut` to its packages, or leave \
             initrd_system out to use initramfs-tools",
        ));
    }
    Ok(())
}

/// Whether an image for `firmware` on x86_64 boots with BIOS: `bios`
/// firmware, or EFI firmware with KIWI's `eficsm` (its default).
pub fn boots_with_bios(
    options: &[builder_sdk::OptionValue],
    firmware: &str,
) -> Result<bool, Error> {
    Ok(firmware == "bios" || options.flag("eficsm")?)
}

/// The options both types read: KIWI's `firmware`, `kernelcmdline` and
/// `<bootloader output_console= input_console= timeout= timeout_style=>`.
pub fn options() -> Vec<OptionSpec> {
    vec![
        OptionSpec::choice(
            "firmware",
            &["efi", "uefi", "bios", "ec2", "custom"],
            "efi",
            "efi: boots with EFI and (x86_64) BIOS (oem: GPT); uefi: as efi, with the image's signed shim, GRUB and kernel for Secure Boot; bios: BIOS only (oem: MBR); ec2 and custom: as bios, as KIWI 11 makes them",
        ),
        // Unset unless the description sets it.
        OptionSpec {
            name: "initrd_system".into(),
            kind: builder_sdk::OptionKind::Choice(vec!["dracut".into()]),
            default: None,
            doc: "The initrd's tool: builder makes it with the image's own tool; `dracut` asks that this be dracut (KIWI's `kiwi` and `none` are not made)".into(),
        },
        OptionSpec::boolean(
            "eficsm",
            true,
            "With efi or uefi firmware on x86_64, boot with BIOS as well (false: EFI only, no BIOS boot partition or BIOS boot image)",
        ),
        OptionSpec::choice(
            "bootloader.name",
            &["grub2"],
            "grub2",
            "The boot loader: GRUB 2 (KIWI's systemd_boot, zipl and custom are not made yet)",
        ),
        OptionSpec::text("kernelcmdline", None, "Extra kernel command line options"),
        OptionSpec::text(
            "bootloader.output_console",
            None,
            "GRUB's terminals: console, gfxterm, serial, or several (`serial console`)",
        ),
        OptionSpec::text(
            "bootloader.input_console",
            None,
            "GRUB's input terminals: console, serial, or both (output_console's when unset)",
        ),
        OptionSpec::integer("bootloader.timeout", Some(10), "Seconds before booting"),
        OptionSpec::text(
            "bootloader-theme",
            None,
            "KIWI's <bootloader-theme>: a GRUB theme of the image's packages, shown on gfxterm",
        ),
        OptionSpec::choice(
            "bootloader.timeout_style",
            &["menu", "countdown", "hidden"],
            "menu",
            "GRUB's timeout_style: the menu, a countdown, or nothing while waiting",
        ),
    ]
}

/// The boot menu: one entry, the terminals and timeout of `<bootloader>`.
pub struct Menu {
    title: String,
    timeout: i64,
    timeout_style: Option<String>,
    serial: bool,
    console: bool,
    serial_input: bool,
    console_input: bool,
    extra_cmdline: Option<String>,
    /// The theme's lines (fonts, `theme`), once [`Menu::set_theme`] is called.
    theme: Option<String>,
}

impl Menu {
    /// The menu the request's options describe, titled after the image.
    pub fn new(request: &BuildRequest, title_suffix: &str) -> Result<Menu, Error> {
        let options = request.options.as_slice();
        let terminals = options
            .value("bootloader.output_console")
            .unwrap_or("console");
        let inputs = options
            .value("bootloader.input_console")
            .unwrap_or(terminals);
        Ok(Menu {
            title: format!(
                "{} {}{title_suffix}",
                request.image.name, request.image.version
            ),
            timeout: options.integer("bootloader.timeout")?.unwrap_or(10).max(0),
            timeout_style: options
                .value("bootloader.timeout_style")
                .filter(|s| *s != "menu")
                .map(str::to_string),
            serial: terminals.split_whitespace().any(|t| t == "serial"),
            console: terminals
                .split_whitespace()
                .any(|t| t == "console" || t == "gfxterm"),
            theme: None,
            serial_input: inputs.split_whitespace().any(|t| t == "serial"),
            console_input: inputs
                .split_whitespace()
                .any(|t| t == "console" || t == "gfxterm"),
            extra_cmdline: options.value("kernelcmdline").map(str::to_string),
        })
    }

    /// `grub.cfg`: find the boot filesystem, boot `kernel` and `initrd`
    /// (paths on it) with `cmdline` and then the type's `kernelcmdline`.
    pub fn config(&self, locate: &Locate, kernel: &str, initrd: &str, cmdline: &str) -> String {
        let entry = Entry::Linux {
            title: self.title.clone(),
            kernel,
            initrd,
            cmdline: cmdline.to_string(),
        };
        self.config_of(locate, &[entry], 0)
    }

    /// `grub.cfg` with `entries`, `default` (an index) the one booted when
    /// the timeout passes.
    pub fn config_of(&self, locate: &Locate, entries: &[Entry], default: usize) -> String {
        let mut cfg = String::from("# Written by builder.\n");
        if let Some(theme) = &self.theme {
            cfg.push_str(theme);
        }
        cfg.push_str(&self.terminals());
        if let Some(style) = &self.timeout_style {
            cfg.push_str(&format!("set timeout_style={style}\n"));
        }
        cfg.push_str(&format!(
            "set timeout={}\nset default={default}\n{}\n",
            self.timeout,
            locate.search()
        ));
        for entry in entries {
            cfg.push_str(&self.entry(entry));
        }
        cfg
    }

    fn entry(&self, entry: &Entry) -> String {
        match entry {
            Entry::Linux {
                title,
                kernel,
                initrd,
                cmdline,
            } => {
                let mut cmdline = cmdline.to_string();
                if let Some(extra) = &self.extra_cmdline {
                    cmdline.push(' ');
                    cmdline.push_str(extra);
                }
                format!(
                    "menuentry '{}' {{\n    linux /{kernel} {}\n    initrd /{initrd}\n}}\n",
                    title.replace('\'', ""),
                    cmdline
                )
            }
            // EFI: back to the firmware, which boots the next device; BIOS:
            // the first hard disk's boot code.
            Entry::HardDisk => "menuentry 'Boot from Hard Disk' {\n    \
                 if [ \"$grub_platform\" = \"efi\" ]; then\n        exit\n    \
                 else\n        set root=(hd0)\n        chainloader +1\n    fi\n}\n"
                .to_string(),
        }
    }
}

/// A boot menu entry.
pub enum Entry<'a> {
    /// Boot `kernel` and `initrd` (paths on the boot filesystem) with
    /// `cmdline` and then the type's `kernelcmdline`.
    Linux {
        title: String,
        kernel: &'a str,
        initrd: &'a str,
        cmdline: String,
    },
    /// Boot the machine's first hard disk instead.
    HardDisk,
}

impl Menu {
    /// Shows `theme` (its files in `grub_dir` of the boot filesystem) on
    /// the graphical terminal, which then takes the console's place.
    pub fn set_theme(&mut self, theme: &crate::theme::Theme, grub_dir: &str) {
        self.theme = Some(theme.config(grub_dir));
    }

    /// The lines that set up `<bootloader>`'s terminals: the graphical one
    /// for the console when a theme is shown.
    pub fn terminals(&self) -> String {
        self.terminal_lines(self.theme.is_some())
    }

    /// The terminals' lines, with the graphical terminal if `themed`.
    fn terminal_lines(&self, themed: bool) -> String {
        let mut cfg = String::new();
        if self.serial || self.serial_input {
            cfg.push_str("serial --unit=0 --speed=115200\n");
        }
        let list = |serial: bool, console: bool, screen: &'static str| {
            let mut terminals = Vec::new();
            if serial {
                terminals.push("serial");
            }
            if console || terminals.is_empty() {
                terminals.push(screen);
            }
            terminals.join(" ")
        };
        let screen = if themed { "gfxterm" } else { "console" };
        cfg.push_str(&format!(
            "terminal_input {}\nterminal_output {}\n",
            list(self.serial_input, self.console_input, "console"),
            list(self.serial, self.console, screen)
        ));
        cfg
    }
}

/// A UUID for `what` of this image: derived from the image and
/// `SOURCE_DATE_EPOCH` when set, so the same input gives the same disk;
/// else from the clock, new for every build.
pub fn uuid(request: &BuildRequest, what: &str) -> String {
    let seed = match request.source_date_epoch {
        Some(epoch) => format!("epoch {epoch}"),
        None => format!("now {:?}", std::time::SystemTime::now()),
    };
    let h = builder_sdk::sha256(
        format!(
            "builder {} {} {} {} {what} {seed}",
            request.image.name, request.image.version, request.image.arch, request.type_name
        )
        .as_bytes(),
    );
    // Version 4 layout (random), variant 1.
    let mut b = h[..32].to_string().into_bytes();
    b[12] = b'4';
    b[16] = b"89ab"[(b[16] as usize) % 4];
    let h = String::from_utf8(b).unwrap_or_default();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The newest kernel, its initrd made again with the image's own tool
/// (after builder's pieces for it were written into the root).
pub fn remake_initrd(root: &RootTree) -> Result<Kernel, Error> {
    newest(builder_sdk::boot::make_initrd(
        root,
        &builder_sdk::boot::InitrdOptions {
            filesystems: Vec::new(),
            luks: false,
            lvm: false,
        },
    )?)
}

/// The newest kernel of those `make-initrd` returned.
pub fn newest(kernels: Vec<Kernel>) -> Result<Kernel, Error> {
    kernels
        .into_iter()
        .next()
        .ok_or_else(|| Error::other("the root has no kernel"))
}
