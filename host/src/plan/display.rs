//! The human-readable form of a build plan (`builder plan` without `--json`).

use std::fmt::{self, Write as _};

use super::{BuildPlan, PackageSet};

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".into()
    } else {
        items.join(", ")
    }
}

fn set_line(f: &mut fmt::Formatter<'_>, label: &str, set: &PackageSet) -> fmt::Result {
    writeln!(
        f,
        "  {label} ({}): {}",
        set.packages.len(),
        list(&set.packages)
    )?;
    if !set.collections.is_empty() {
        writeln!(
            f,
            "    collections: {} ({})",
            list(&set.collections),
            set.pattern_type
        )?;
    }
    if !set.products.is_empty() {
        writeln!(f, "    products: {}", list(&set.products))?;
    }
    if !set.archives.is_empty() {
        let archives: Vec<String> = set
            .archives
            .iter()
            .map(|a| match &a.target_dir {
                Some(dir) => format!("{} -> {dir}", a.name),
                None => a.name.clone(),
            })
            .collect();
        writeln!(f, "    archives: {}", archives.join(", "))?;
    }
    if !set.ignore.is_empty() {
        writeln!(f, "    ignore: {}", list(&set.ignore))?;
    }
    if !set.files.is_empty() {
        let files: Vec<String> = set.files.iter().map(|x| x.name.clone()).collect();
        writeln!(f, "    files: {}", files.join(", "))?;
    }
    let modules = &set.collection_modules;
    if !modules.enable.is_empty() || !modules.disable.is_empty() {
        writeln!(
            f,
            "    modules: enable {}; disable {}",
            list(&modules.enable),
            list(&modules.disable)
        )?;
    }
    Ok(())
}

impl fmt::Display for BuildPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let title = self.display_name.as_deref().unwrap_or(&self.name);
        writeln!(f, "{title} {} for {}", self.version, self.arch)?;
        let upgraded = if self.schema_version == crate::description::CURRENT_SCHEMA {
            String::new()
        } else {
            format!(", upgraded to {}", crate::description::CURRENT_SCHEMA)
        };
        writeln!(
            f,
            "description:     {} ({}, schema {}{upgraded})",
            self.description.display(),
            self.format,
            self.schema_version
        )?;
        for file in &self.included_files {
            writeln!(f, "  includes       {}", file.display())?;
        }
        writeln!(f, "profiles:        {}", list(&self.profiles))?;

        let t = &self.image_type;
        writeln!(
            f,
            "type:            {}{}",
            t.image,
            if t.primary { " (primary)" } else { "" }
        )?;
        let options: Vec<String> = t
            .attributes
            .iter()
            .filter(|(name, _)| !matches!(*name, "image" | "primary"))
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        if !options.is_empty() {
            writeln!(f, "  options:       {}", options.join(" "))?;
        }
        if let Some(size) = &t.size {
            let additive = if size.additive == Some(true) {
                " (added)"
            } else {
                ""
            };
            writeln!(f, "  size:          {} MiB{additive}", size.mbytes)?;
        }
        if let Some(bootloader) = &t.bootloader {
            let mut line = bootloader.name.clone();
            for (name, value) in bootloader.attributes.iter().filter(|(n, _)| *n != "name") {
                let _ = write!(line, " {name}={value}");
            }
            writeln!(f, "  bootloader:    {line}")?;
        }
        if let Some(oem) = &t.oemconfig {
            let settings: Vec<String> = oem.0.iter().map(|(n, v)| format!("{n}={v}")).collect();
            writeln!(f, "  oemconfig:     {}", settings.join(" "))?;
        }
        if let Some(disk) = &t.systemdisk {
            let volumes: Vec<String> = disk.volumes.iter().map(|v| v.name.clone()).collect();
            writeln!(
                f,
                "  systemdisk:    {} volumes: {}",
                disk.name.as_deref().unwrap_or("(default group)"),
                list(&volumes)
            )?;
        }
        if let Some(config) = &t.containerconfig {
            writeln!(
                f,
                "  container:     {}:{}",
                config.name,
                config.tag.as_deref().unwrap_or("latest")
            )?;
        }
        for vagrant in &t.vagrantconfig {
            writeln!(
                f,
                "  vagrant:       {} {} GB",
                vagrant.provider, vagrant.virtualsize
            )?;
        }

        writeln!(f, "package manager: {}", self.package_manager)?;
        let p = &self.preferences;
        let mut settings = Vec::new();
        for (name, value) in [
            ("locale", &p.locale),
            ("keytable", &p.keytable),
            ("timezone", &p.timezone),
            ("release", &p.release_version),
        ] {
            if let Some(value) = value {
                settings.push(format!("{name}={value}"));
            }
        }
        if p.rpm_excludedocs {
            settings.push("rpm-excludedocs".into());
        }
        if p.rpm_check_signatures {
            settings.push("rpm-check-signatures".into());
        }
        if p.rpm_locale_filtering {
            settings.push("rpm-locale-filtering".into());
        }
        writeln!(f, "preferences:     {}", list(&settings))?;

        writeln!(f, "repositories ({}):", self.repositories.len())?;
        for r in &self.repositories {
            let mut line = format!(
                "  {} [{}] {}",
                r.alias.as_deref().unwrap_or("(no alias)"),
                r.kind.as_deref().unwrap_or("default"),
                r.uri
            );
            if let Some(dist) = &r.distribution {
                let _ = write!(line, " {dist}");
            }
            if !r.components.is_empty() {
                let _ = write!(line, " {}", r.components.join(" "));
            }
            if let Some(priority) = r.priority {
                let _ = write!(line, " priority={priority}");
            }
            if r.imageinclude {
                line.push_str(" +image");
            }
            if r.imageonly {
                line.push_str(" image-only");
            }
            writeln!(f, "{line}")?;
            for key in &r.signing_keys {
                writeln!(f, "    key {key}")?;
            }
        }

        writeln!(f, "packages:")?;
        set_line(f, "bootstrap", &self.packages.bootstrap)?;
        set_line(f, "image", &self.packages.image)?;
        if !self.packages.delete.is_empty() {
            writeln!(f, "  delete: {}", list(&self.packages.delete))?;
        }
        if !self.packages.uninstall.is_empty() {
            writeln!(f, "  uninstall: {}", list(&self.packages.uninstall))?;
        }
        for s in &self.packages.substituted {
            if s.installed.is_empty() {
                writeln!(f, "  substituted: {} (KIWI's) by {}", s.package, s.by)?;
            } else {
                writeln!(
                    f,
                    "  substituted: {} (KIWI's) by {}: {}",
                    s.package,
                    s.installed.join(" "),
                    s.by
                )?;
            }
        }

        let users: Vec<String> = self
            .users
            .iter()
            .map(|u| {
                let groups: Vec<&str> = u.groups.iter().map(|g| g.name.as_str()).collect();
                match u.home.as_deref() {
                    Some(home) => format!("{} ({}; {home})", u.name, groups.join(",")),
                    None => format!("{} ({})", u.name, groups.join(",")),
                }
            })
            .collect();
        writeln!(f, "users:           {}", list(&users))?;
        let overlays: Vec<String> = self
            .overlays
            .iter()
            .map(|o| o.path.display().to_string())
            .collect();
        writeln!(f, "overlays:        {}", list(&overlays))?;
        let scripts: Vec<String> = self
            .scripts
            .iter()
            .map(|s| format!("{} ({})", s.name, s.stage))
            .collect();
        writeln!(f, "scripts:         {}", list(&scripts))?;
        if !self.drivers.is_empty() {
            writeln!(f, "drivers:         {}", list(&self.drivers))?;
        }
        if !self.strip.delete.is_empty()
            || !self.strip.tools.is_empty()
            || !self.strip.libs.is_empty()
        {
            writeln!(
                f,
                "strip:           delete {}; keep tools {}; keep libs {}",
                self.strip.delete.len(),
                self.strip.tools.len(),
                self.strip.libs.len()
            )?;
        }
        for c in &self.containers {
            writeln!(
                f,
                "container:       {} from {} ({})",
                c.container.name, c.source, c.backend
            )?;
        }
        if let Some(certificates) = &self.certificates {
            writeln!(
                f,
                "certificates:    {} ({})",
                list(&certificates.names),
                certificates.target_distribution
            )?;
        }
        let plugins: Vec<String> = self
            .plugins
            .iter()
            .map(|p| {
                format!(
                    "{} {} ({}, {}; grants: {})",
                    p.name,
                    p.version,
                    p.kind,
                    p.source,
                    p.grants.join(", ")
                )
            })
            .collect();
        write!(f, "plugins:         {}", list(&plugins))?;
        for p in self.plugins.iter().filter(|p| !p.not_acted_on.is_empty()) {
            write!(
                f,
                "\nnot acted on:    {} by {} (KIWI settings builder does not carry out yet)",
                p.not_acted_on.join(", "),
                p.name
            )?;
        }
        for warning in &self.warnings {
            write!(f, "\nwarning: {warning}")?;
        }
        Ok(())
    }
}
