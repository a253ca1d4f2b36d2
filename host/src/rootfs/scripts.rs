//! The description's scripts that run chrooted in the image (`post_bootstrap.sh`,
//! `config.sh`), with KIWI's environment: `/.profile` holding `kiwi_iname`,
//! `kiwi_iversion`, `kiwi_profiles` and `kiwi_type`, also exported.

use anyhow::Context;

use crate::plan::Script;
use crate::rootfs::command::{self, chroot};
use crate::rootfs::files::RootDir;
use crate::rootfs::mounts::ApiMounts;

/// The image identity a script sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptEnv {
    /// `kiwi_iname`: the image name.
    pub name: String,
    /// `kiwi_iversion`: the image version.
    pub version: String,
    /// `kiwi_profiles`: the selected profiles, comma separated.
    pub profiles: Vec<String>,
    /// `kiwi_type`: the build type.
    pub image_type: String,
}

impl ScriptEnv {
    /// Name/value pairs, in `.profile` order.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("kiwi_iname", self.name.clone()),
            ("kiwi_iversion", self.version.clone()),
            ("kiwi_profiles", self.profiles.join(",")),
            ("kiwi_type", self.image_type.clone()),
        ]
    }

    /// The `/.profile` text: `export name='value'` lines.
    pub fn profile(&self) -> String {
        self.vars()
            .into_iter()
            .map(|(k, v)| format!("export {k}='{}'\n", v.replace('\'', "'\\''")))
            .collect()
    }
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
    let in_root = script.name.clone();
    root.write(&in_root, &body, 0o755)
        .with_context(|| format!("{step}: copying into the image"))?;
    let shell = if root.exists("bin/bash").unwrap_or(false) {
        "/bin/bash"
    } else {
        "/bin/sh"
    };
    let result = (|| -> anyhow::Result<String> {
        let _mounts = ApiMounts::mount(root.host_path()).with_context(|| step.clone())?;
        let mut cmd = chroot(root.host_path(), shell);
        cmd.arg(format!("/{in_root}"));
        for (k, v) in env.vars() {
            cmd.env(k, v);
        }
        Ok(command::run(&step, &mut cmd)?)
    })();
    let removed = root.remove_file(&in_root);
    let output = result?;
    removed.with_context(|| format!("{step}: removing /{in_root}"))?;
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
            name: "it's".into(),
            version: "1.0".into(),
            profiles: vec!["a".into(), "b".into()],
            image_type: "tbz".into(),
        };
        assert_eq!(
            env.profile(),
            "export kiwi_iname='it'\\''s'\nexport kiwi_iversion='1.0'\n\
             export kiwi_profiles='a,b'\nexport kiwi_type='tbz'\n"
        );
    }
}
