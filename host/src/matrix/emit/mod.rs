//! `builder matrix --emit`: what the GitLab, GitHub and Kubernetes
//! documents share — the `builder` command each variant's job runs, where
//! its artifacts go, shell quoting, and the YAML text with its header. The
//! documents themselves are built as data in `gitlab.rs`, `github.rs` and
//! `kubernetes.rs` and written with serde-saphyr.

use std::path::PathBuf;

use serde::ser::{Serialize, Serializer};

use super::{MatrixRequest, Variant};

mod github;
mod gitlab;
mod kubernetes;

/// Which document to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// A GitLab CI child pipeline: one job per variant.
    Gitlab,
    /// A GitHub Actions workflow: one matrix entry per variant.
    Github,
    /// A Kubernetes Indexed Job: one completion index per variant.
    Kubernetes,
}

/// What the emitted commands need besides the variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmitOptions {
    /// The descriptions and filters the variants were listed with (the
    /// Kubernetes Job lists them again with `--variant`).
    pub request: MatrixRequest,
    /// `--include-root`, passed on to every command.
    pub include_root: Option<PathBuf>,
    /// The container image of the Kubernetes Job.
    pub image: String,
}

/// Where a job puts its artifacts, relative to where it runs.
pub const TARGET_BASE: &str = "images";

/// The document `target` for `variants`, as YAML text.
pub fn emit(
    target: Target,
    variants: &[Variant],
    options: &EmitOptions,
) -> Result<String, serde_saphyr::SerializeError> {
    let (what, body) = match target {
        Target::Gitlab => ("gitlab", yaml(&gitlab::pipeline(variants, options))?),
        Target::Github => ("github", yaml(&github::workflow(variants, options))?),
        Target::Kubernetes => ("kubernetes", yaml(&kubernetes::job(variants, options))?),
    };
    let mut text = String::new();
    let mut regenerate = builder_command(options);
    regenerate.push("matrix".into());
    regenerate.extend(matrix_args(&options.request));
    regenerate.extend(["--emit".to_string(), what.to_string()]);
    if target == Target::Kubernetes {
        regenerate.extend(["--image".to_string(), options.image.clone()]);
    }
    text.push_str(&format!(
        "# {} variant(s), written by:\n#   {}\n# Run that again rather than edit this file.\n",
        variants.len(),
        shell_join(&regenerate)
    ));
    text.push_str(match target {
        Target::Gitlab => gitlab::HEADER,
        Target::Github => github::HEADER,
        Target::Kubernetes => kubernetes::HEADER,
    });
    text.push_str(&body);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// `document` as YAML: strings that YAML 1.1 readers (GitLab's) would take
/// for something else are quoted, and every string stays on one line (no
/// folded scalars: a command reads as it runs).
fn yaml<T: Serialize>(document: &T) -> Result<String, serde_saphyr::SerializeError> {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.prefer_block_scalars = false;
    serde_saphyr::to_string_with_options(document, options)
}

/// `builder`, with `--include-root` when given.
pub(super) fn builder_command(options: &EmitOptions) -> Vec<String> {
    let mut argv = vec!["builder".to_string()];
    if let Some(root) = &options.include_root {
        argv.push("--include-root".into());
        argv.push(root.display().to_string());
    }
    argv
}

/// The descriptions and the `--profile`/`--type` filters of `request`.
pub(super) fn matrix_args(request: &MatrixRequest) -> Vec<String> {
    let mut args: Vec<String> = request
        .descriptions
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    for profile in &request.profiles {
        args.push("--profile".into());
        args.push(profile.clone());
    }
    if let Some(image_type) = &request.image_type {
        args.push("--type".into());
        args.push(image_type.clone());
    }
    args
}

/// Where `variant`'s artifacts go: `images/<slug>`.
pub(super) fn target_dir(variant: &Variant) -> String {
    format!("{TARGET_BASE}/{}", variant.slug())
}

/// The command line that builds `variant` into [`target_dir`].
pub(super) fn run_command(variant: &Variant, options: &EmitOptions) -> String {
    let mut argv = builder_command(options);
    argv.push("run".into());
    argv.extend(variant.run_args());
    argv.push("--target-dir".into());
    argv.push(target_dir(variant));
    shell_join(&argv)
}

/// `argv` as one POSIX shell command line: words quoted where the shell
/// would read them otherwise.
pub fn shell_join(argv: &[String]) -> String {
    argv.iter()
        .map(|word| {
            let plain = !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
            if plain {
                word.clone()
            } else {
                format!("'{}'", word.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A map that keeps the order its entries were added in (job names, in
/// variant order).
#[derive(Debug, Default)]
pub(super) struct Ordered<V>(pub Vec<(String, V)>);

impl<V: Serialize> Serialize for Ordered<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        let argv: Vec<String> = ["builder", "run", "my desc", "it's", "", "a/b-c_d.e", "$(x)"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            shell_join(&argv),
            r"builder run 'my desc' 'it'\''s' '' a/b-c_d.e '$(x)'"
        );
    }
}
