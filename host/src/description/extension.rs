//! builder's own part of `<extension>`: the plugins a description names (hooks,
//! baselines, image types from files), their options and their grants, in the
//! namespace [`PLUGINS_NAMESPACE`]. Other namespaces are left to their owners.
//!
//! ```xml
//! <extension xmlns:builder="urn:builder:plugins:1">
//!   <builder:plugin name="baseline-example" kind="baseline"
//!                   grants="root-read, root-write, root-exec" profiles="cloud">
//!     <builder:option name="default-user" value="admin"/>
//!   </builder:plugin>
//!   <builder:plugin name="stamp" kind="hook" stages="config"
//!                   path="plugins/stamp.wasm" sha256="0c1f…" grants="root-read, root-write"/>
//! </extension>
//! ```
//! YAML and JSON spell the same with KIWI's mapping (`'@name'` attributes,
//! `builder:plugin` keys, `'@xmlns:builder'` on the extension).

use std::path::PathBuf;

use serde::Serialize;

use super::error::{DescriptionError, Location, Origin};
use super::tree::Node;

/// The XML namespace of builder's plugin references.
pub const PLUGINS_NAMESPACE: &str = "urn:builder:plugins:1";

/// What a referenced plugin is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PluginKind {
    /// An image type, made available to `<type image=...>`.
    ImageType,
    /// A hook run at pipeline stages.
    Hook,
    /// An organisation baseline, applied after users and settings.
    Baseline,
}

impl PluginKind {
    /// The word used in descriptions.
    pub fn name(self) -> &'static str {
        match self {
            PluginKind::ImageType => "image-type",
            PluginKind::Hook => "hook",
            PluginKind::Baseline => "baseline",
        }
    }
}

/// A value as written, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Located {
    /// The value.
    pub value: String,
    /// Where.
    #[serde(skip)]
    pub location: Location,
}

/// `<builder:plugin>`: one plugin the build runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginRef {
    /// The name the plugin describes itself with.
    pub name: String,
    /// What it is for.
    pub kind: PluginKind,
    /// A component file, relative to the description directory as written.
    pub path: Option<String>,
    /// `path` made absolute.
    pub resolved_path: Option<PathBuf>,
    /// The pinned SHA-256 of the component file (lower-case hex).
    pub sha256: Option<String>,
    /// Capabilities granted, as written (checked against the plugin when it is loaded).
    pub grants: Vec<Located>,
    /// Hook stages to run at (none: every stage the hook serves).
    pub stages: Vec<Located>,
    /// Profiles the plugin applies to (none: always).
    pub profiles: Vec<String>,
    /// `<builder:option name= value=>` in document order.
    pub options: Vec<(String, String)>,
    /// Where the element is.
    #[serde(skip)]
    pub origin: Origin,
}

const PLUGIN_ATTRIBUTES: &[&str] = &[
    "name", "kind", "path", "sha256", "grants", "stages", "profiles",
];

/// The plugins named in `extension` (`path` is `/image/extension`), in order.
/// `scope` is the `<image>` element, where the namespace may be declared too.
pub(crate) fn plugin_refs(
    extension: &Node,
    scope: &Node,
    description_dir: &std::path::Path,
) -> Result<Vec<PluginRef>, DescriptionError> {
    let path = "/image/extension";
    let mut refs = Vec::new();
    for child in &extension.children {
        let Some(local) = local_name(child, &[extension, scope]) else {
            continue;
        };
        let here = format!("{path}/{}", child.name);
        if local != "plugin" {
            return Err(invalid(
                child,
                &here,
                format!("unknown element `{local}` in namespace {PLUGINS_NAMESPACE} (expected `plugin`)"),
            ));
        }
        refs.push(plugin_ref(child, &here, description_dir)?);
    }
    Ok(refs)
}

/// The local name of `node` when it is in builder's namespace, declared on
/// the node itself (`xmlns`, `xmlns:p`) or on one of `scopes`.
fn local_name<'a>(node: &'a Node, scopes: &[&Node]) -> Option<&'a str> {
    let (prefix, local) = match node.name.split_once(':') {
        Some((p, l)) => (Some(p), l),
        None => (None, node.name.as_str()),
    };
    let declaration = match prefix {
        Some(p) => format!("xmlns:{p}"),
        None => "xmlns".to_string(),
    };
    let namespace = std::iter::once(node)
        .chain(scopes.iter().copied())
        .find_map(|n| n.attr(&declaration))?;
    (namespace.trim() == PLUGINS_NAMESPACE).then_some(local)
}

fn invalid(node: &Node, path: &str, message: String) -> DescriptionError {
    DescriptionError::Invalid {
        location: node.location.clone(),
        path: path.to_string(),
        message,
    }
}

/// Splits a list attribute: commas (KIWI's way) or blanks.
fn words(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
}

fn plugin_ref(
    node: &Node,
    path: &str,
    description_dir: &std::path::Path,
) -> Result<PluginRef, DescriptionError> {
    for attr in &node.attrs {
        let name = attr.name.as_str();
        if name == "xmlns" || name.starts_with("xmlns:") {
            continue;
        }
        let local = name.split_once(':').map_or(name, |(_, l)| l);
        if !PLUGIN_ATTRIBUTES.contains(&local) {
            return Err(DescriptionError::Invalid {
                location: attr.location.clone(),
                path: path.to_string(),
                message: format!(
                    "unknown attribute `{name}` (known: {})",
                    PLUGIN_ATTRIBUTES.join(", ")
                ),
            });
        }
    }
    let attr = |name: &str| node.attr(name).map(|v| v.trim().to_string());
    let located = |name: &str| -> Vec<Located> {
        match node.attr_entry(name) {
            Some(a) => words(&a.value)
                .map(|w| Located {
                    value: w.to_string(),
                    location: a.location.clone(),
                })
                .collect(),
            None => Vec::new(),
        }
    };
    let name = attr("name").filter(|n| !n.is_empty()).ok_or_else(|| {
        DescriptionError::MissingAttribute {
            location: node.location.clone(),
            path: path.to_string(),
            name: "name".into(),
        }
    })?;
    let kind = match attr("kind").as_deref() {
        Some("hook") => PluginKind::Hook,
        Some("baseline") => PluginKind::Baseline,
        Some("image-type") => PluginKind::ImageType,
        Some(other) => {
            return Err(invalid(
                node,
                path,
                format!("plugin `{name}`: kind `{other}` is not one of hook, baseline, image-type"),
            ))
        }
        None => {
            return Err(DescriptionError::MissingAttribute {
                location: node.location.clone(),
                path: path.to_string(),
                name: "kind".into(),
            })
        }
    };
    let sha256 = match attr("sha256") {
        Some(digest) => {
            let digest = digest.to_ascii_lowercase();
            if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(
                    node,
                    path,
                    format!("plugin `{name}`: sha256 `{digest}` is not 64 hexadecimal digits"),
                ));
            }
            Some(digest)
        }
        None => None,
    };
    let plugin_path = attr("path").filter(|p| !p.is_empty());
    if sha256.is_some() && plugin_path.is_none() {
        return Err(invalid(
            node,
            path,
            format!("plugin `{name}`: sha256 pins a component file, but no path names one"),
        ));
    }
    let resolved_path = plugin_path.as_ref().map(|p| {
        let p = p.strip_prefix("this://").unwrap_or(p);
        description_dir.join(p)
    });
    let stages = located("stages");
    if kind != PluginKind::Hook {
        if let Some(stage) = stages.first() {
            return Err(DescriptionError::Invalid {
                location: stage.location.clone(),
                path: path.to_string(),
                message: format!("plugin `{name}`: only hooks have stages"),
            });
        }
    }
    let mut options = Vec::new();
    for child in &node.children {
        let local = child
            .name
            .split_once(':')
            .map_or(child.name.as_str(), |(_, l)| l);
        let here = format!("{path}/{}", child.name);
        if local != "option" {
            return Err(invalid(
                child,
                &here,
                format!("plugin `{name}`: unknown element `{local}` (expected `option`)"),
            ));
        }
        let option = child.attr("name").map(str::trim).filter(|n| !n.is_empty());
        let Some(option) = option else {
            return Err(DescriptionError::MissingAttribute {
                location: child.location.clone(),
                path: here,
                name: "name".into(),
            });
        };
        // `value="..."`, or the element's text.
        let value = child
            .attr("value")
            .map(str::to_string)
            .unwrap_or_else(|| child.trimmed_text().to_string());
        if options.iter().any(|(n, _): &(String, String)| n == option) {
            return Err(invalid(
                child,
                &here,
                format!("plugin `{name}`: option `{option}` is given twice"),
            ));
        }
        options.push((option.to_string(), value));
    }
    Ok(PluginRef {
        name,
        kind,
        path: plugin_path,
        resolved_path,
        sha256,
        grants: located("grants"),
        stages,
        profiles: attr("profiles")
            .map(|p| words(&p).map(str::to_string).collect())
            .unwrap_or_default(),
        options,
        origin: Origin {
            location: node.location.clone(),
            path: path.to_string(),
        },
    })
}
