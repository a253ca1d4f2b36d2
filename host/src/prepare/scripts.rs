//! The description's scripts that run chrooted in the image
//! (`post_bootstrap.sh`, `config.sh`, `images.sh`), with KIWI's environment:
//! `/.profile` holding the `kiwi_*` variables (also exported), and
//! `/.kconfig` with the helper functions such scripts call (`baseInsertService`,
//! `baseSetRunlevel`, `baseStripDocs`, ...). Both are removed afterwards.

use anyhow::Context;

use crate::plan::{BuildPlan, Script};
use crate::rootfs::command;
use crate::rootfs::files::RootDir;
use crate::rootfs::sandbox::{self, Contain};

/// The helper functions, installed as `/.kconfig` while a script runs.
pub const KCONFIG: &str = include_str!("kconfig.sh");

/// Type attributes KIWI passes to scripts as `kiwi_<name>`.
const TYPE_VARIABLES: &[(&str, &str)] = &[
    ("firmware", "kiwi_firmware"),
    ("bootloader", "kiwi_bootloader"),
    ("initrd_system", "kiwi_initrd_system"),
    ("filesystem", "kiwi_filesystem"),
    ("format", "kiwi_format"),
    ("kernelcmdline", "kiwi_cmdline"),
    ("devicepersistency", "kiwi_devicepersistency"),
    ("btrfs_root_is_snapshot", "kiwi_btrfs_root_is_snapshot"),
    ("ramonly", "kiwi_ramonly"),
    ("compressed", "kiwi_compressed"),
];

/// The `kiwi_*` variables a script sees, in `/.profile` order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptEnv {
    vars: Vec<(String, String)>,
}

impl ScriptEnv {
    /// The variables KIWI sets for this plan: image identity, profiles,
    /// type and its boot attributes, locale settings, package sets.
    pub fn from_plan(plan: &BuildPlan) -> Self {
        let mut vars: Vec<(String, String)> = Vec::new();
        let mut set = |name: &str, value: String| vars.push((name.to_string(), value));
        set("kiwi_iname", plan.name.clone());
        set("kiwi_iversion", plan.version.clone());
        if let Some(display) = &plan.display_name {
            set("kiwi_displayname", display.clone());
        }
        set("kiwi_arch", plan.arch.clone());
        set("kiwi_profiles", plan.profiles.join(","));
        set("kiwi_type", plan.image_type.image.clone());
        for (attribute, variable) in TYPE_VARIABLES {
            if let Some(value) = plan.image_type.attributes.get(attribute) {
                set(variable, value.to_string());
            }
        }
        let prefs = &plan.preferences;
        for (variable, value) in [
            ("kiwi_language", &prefs.locale),
            ("kiwi_keytable", &prefs.keytable),
            ("kiwi_timezone", &prefs.timezone),
        ] {
            if let Some(value) = value {
                set(variable, value.clone());
            }
        }
        set("kiwi_delete", plan.packages.delete.join(" "));
        if !plan.drivers.is_empty() {
            set("kiwi_drivers", plan.drivers.join(","));
        }
        for (variable, list) in [
            ("kiwi_strip_delete", &plan.strip.delete),
            ("kiwi_strip_tools", &plan.strip.tools),
            ("kiwi_strip_libs", &plan.strip.libs),
        ] {
            if !list.is_empty() {
                set(variable, list.join(" "));
            }
        }
        ScriptEnv { vars }
    }

    /// Name/value pairs, in `.profile` order.
    pub fn vars(&self) -> &[(String, String)] {
        &self.vars
    }

    /// The `/.profile` text: `export name='value'` lines.
    pub fn profile(&self) -> String {
        self.vars
            .iter()
            .map(|(k, v)| format!("export {k}='{}'\n", v.replace('\'', "'\\''")))
            .collect()
    }
}

/// Runs the plan's in-image scripts of `stage`, in order.
pub fn run_stage(
    root: &RootDir,
    plan: &BuildPlan,
    env: &ScriptEnv,
    stage: &str,
) -> anyhow::Result<()> {
    for script in plan
        .scripts
        .iter()
        .filter(|s| s.stage == stage && s.in_image)
    {
        run_in_image(root, script, env)?;
    }
    Ok(())
}

/// Runs `script` inside the root: copied to `/<name>`, run with bash (or
/// `/bin/sh` when the image has no bash) with `/proc`, `/sys`, `/dev`
/// mounted, removed afterwards. A non-zero exit fails with its output.
pub fn run_in_image(root: &RootDir, script: &Script, env: &ScriptEnv) -> anyhow::Result<()> {
    let step = format!("script {}", script.name);
    let _span = tracing::info_span!("script", name = %script.name).entered();
    let body = std::fs::read(&script.path)
        .with_context(|| format!("{step}: reading {}", script.path.display()))?;
    root.write(".profile", env.profile().as_bytes(), 0o644)
        .with_context(|| format!("{step}: writing /.profile"))?;
    root.write(".kconfig", KCONFIG.as_bytes(), 0o644)
        .with_context(|| format!("{step}: writing /.kconfig"))?;
    let in_root = script.name.clone();
    root.write(&in_root, &body, 0o755)
        .with_context(|| format!("{step}: copying into the image"))?;
    let shell = if root.exists("bin/bash").unwrap_or(false) {
        "/bin/bash"
    } else {
        "/bin/sh"
    };
    let result = (|| -> anyhow::Result<String> {
        let mut cmd = sandbox::in_root(root.host_path(), shell, Contain::SCRIPTS);
        cmd.arg(format!("/{in_root}"));
        for (k, v) in env.vars() {
            cmd.env(k, v);
        }
        Ok(command::run(&step, &mut cmd)?)
    })();
    let removed = [in_root.as_str(), ".profile", ".kconfig"]
        .into_iter()
        .map(|file| {
            root.remove_file(file)
                .with_context(|| format!("{step}: removing /{file}"))
        })
        .collect::<anyhow::Result<Vec<()>>>();
    let output = result?;
    removed?;
    for line in output.lines() {
        tracing::info!(target: "builder", "{}: {line}", script.name);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_quotes_values() {
        let env = ScriptEnv {
            vars: vec![
                ("kiwi_iname".into(), "it's".into()),
                ("kiwi_profiles".into(), "a,b".into()),
            ],
        };
        assert_eq!(
            env.profile(),
            "export kiwi_iname='it'\\''s'\nexport kiwi_profiles='a,b'\n"
        );
    }

    /// `/.profile` sourced by `sh` gives back every value as it was, and
    /// runs nothing, whatever the description's values hold.
    #[test]
    fn profile_sourced_by_sh_runs_nothing() {
        let values = [
            "de$(touch pwned)",
            "`touch pwned`",
            "it's'$(touch pwned)'",
            "a\nb; touch pwned",
        ];
        let env = ScriptEnv {
            vars: values
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("kiwi_v{i}"), v.to_string()))
                .collect(),
        };
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".profile"), env.profile()).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(". ./.profile && printf '%s|' \"$kiwi_v0\" \"$kiwi_v1\" \"$kiwi_v2\" \"$kiwi_v3\"")
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            values.join("|") + "|"
        );
        assert!(!dir.path().join("pwned").exists());
    }

    /// The helper library is valid shell for both shells scripts run with.
    #[test]
    fn kconfig_parses_in_sh_and_bash() {
        for shell in ["sh", "bash"] {
            let out = std::process::Command::new(shell)
                .args(["-n", "-c", KCONFIG])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{shell}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// The helpers behave as KIWI's do, in both shells (run here on a
    /// scratch file; the image-level ones are covered by the e2e build).
    #[test]
    fn kconfig_helpers_work() {
        let tmp = tempfile::tempdir().unwrap();
        let sysconfig = tmp.path().join("kernel");
        std::fs::write(&sysconfig, "# comment\nINITRD_MODULES=\"old\"\n").unwrap();
        let script = format!(
            "{KCONFIG}\n\
             Echo hello\n\
             baseUpdateSysConfig {f} INITRD_MODULES 'a/b & c'\n\
             baseUpdateSysConfig {f} NEW_VAR yes\n\
             echo \"profiles=$(baseGetProfilesUsed) delete=$(baseGetPackagesForDeletion)\"\n\
             if baseService foo sideways; then echo wrong; fi\n",
            f = sysconfig.display()
        );
        for shell in ["sh", "bash"] {
            std::fs::write(&sysconfig, "# comment\nINITRD_MODULES=\"old\"\n").unwrap();
            let out = std::process::Command::new(shell)
                .args(["-c", &script])
                .env("kiwi_profiles", "cloud,base")
                .env("kiwi_delete", "man-db")
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(stdout.starts_with("[ * ] hello\n"), "{shell}: {stdout}");
            assert!(
                stdout.contains("profiles=cloud,base delete=man-db"),
                "{shell}: {stdout}"
            );
            assert!(stdout.contains("expected on or off"), "{shell}: {stdout}");
            assert!(!stdout.contains("wrong"), "{shell}: {stdout}");
            assert_eq!(
                std::fs::read_to_string(&sysconfig).unwrap(),
                "# comment\nINITRD_MODULES=\"a/b & c\"\nNEW_VAR=\"yes\"\n",
                "{shell}"
            );
        }
    }
}
