//! The remote cache on an OCI registry (`--cache-remote oci://HOST/REPO`):
//! prepared roots shared between machines. Before a build prepares a root
//! its local root cache lacks, it looks the entry up in the registry and
//! pulls it; after a build made an entry, it pushes it when the registry
//! lacks it. An entry is an OCI artifact tagged `root-<key>` whose one
//! layer is the entry (its root and manifest) as a zstd-compressed POSIX
//! tar, with the key in its annotations.
//!
//! The registry is a cache, never a dependency: one that cannot be reached,
//! refuses a push or serves a blob that does not match its digest costs
//! the cache (a warning, once), not the build, which goes on locally. What
//! is pulled is checked against its digest before it is unpacked, then
//! stored as a local entry, which is checked against its manifest before
//! each use like any other.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::Context;

use crate::prepare::root_cache::RootCache;
use crate::registry::{title_of, titled, Artifact, OciLocation, Registry};

/// The `artifactType` of a prepared-root entry.
const ROOT_ENTRY: &str = "application/vnd.builder.root-cache.v1";
/// Its layer: a POSIX tar of the entry, zstd-compressed.
const ROOT_LAYER: &str = "application/vnd.builder.root-cache.v1.tar+zstd";
const KEY_ANNOTATION: &str = "dev.builder.cache-key";

/// `--cache-remote` and `--cache-remote-insecure`.
#[derive(Debug, Clone)]
pub struct RemoteSpec {
    /// The registry and repository (a tag is not used).
    pub location: OciLocation,
    /// Plain HTTP (loopback registries only).
    pub insecure: bool,
}

/// A connection to the remote cache; after a failure it warns once and
/// then stays out of the build's way.
pub struct RemoteCache {
    registry: Option<Registry>,
    failed: std::cell::Cell<bool>,
}

impl std::fmt::Debug for RemoteCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteCache")
            .field(
                "location",
                &self.registry.as_ref().map(|r| r.location().to_string()),
            )
            .field("failed", &self.failed.get())
            .finish()
    }
}

impl RemoteCache {
    /// Connects (nothing is sent yet); an unusable spec is warned about
    /// and leaves a cache that does nothing.
    pub fn connect(spec: &RemoteSpec) -> RemoteCache {
        match Registry::connect(&spec.location, spec.insecure) {
            Ok(registry) => RemoteCache {
                registry: Some(registry),
                failed: std::cell::Cell::new(false),
            },
            Err(e) => {
                tracing::warn!("remote cache: not used: {e:#}");
                RemoteCache {
                    registry: None,
                    failed: std::cell::Cell::new(true),
                }
            }
        }
    }

    fn usable(&self) -> Option<&Registry> {
        if self.failed.get() {
            return None;
        }
        self.registry.as_ref()
    }

    fn give_up(&self, what: &str, e: anyhow::Error) {
        if !self.failed.replace(true) {
            tracing::warn!(
                "remote cache: {what}: {e:#}; going on with the local cache only (the \
                 registry is a cache: the build does not need it)"
            );
        }
    }

    /// Pulls the entry of `cache` from the registry into the local root
    /// cache. Returns whether the local cache now has it.
    pub fn fetch_root(&self, cache: &RootCache) -> bool {
        let Some(registry) = self.usable() else {
            return false;
        };
        let tag = tag_of(cache);
        let layer = match root_layer(registry, &tag) {
            Ok(Some(layer)) => layer,
            Ok(None) => return false,
            Err(e) => {
                self.give_up(&format!("looking up `{tag}`"), e);
                return false;
            }
        };
        // The registry answers: what it serves may still be unusable (a blob
        // that does not match its digest), which costs this entry only.
        match fetch(registry, cache, &layer) {
            Ok(()) => {
                tracing::info!(tag, "remote cache: pulled the prepared root");
                true
            }
            Err(e) => {
                tracing::warn!("remote cache: not using `{tag}`: {e:#}; preparing the root here");
                false
            }
        }
    }

    /// Pushes the local entry of `cache` when the registry lacks it.
    pub fn store_root(&self, cache: &RootCache) {
        let Some(registry) = self.usable() else {
            return;
        };
        let tag = tag_of(cache);
        match registry.has_tag(&tag) {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => return self.give_up(&format!("looking up `{tag}`"), e),
        }
        let Some(entry) = cache.hold() else {
            return;
        };
        let started = std::time::Instant::now();
        if let Err(e) = push(registry, cache, entry.dir(), &tag) {
            return self.give_up(&format!("pushing `{tag}`"), e);
        }
        tracing::info!(
            tag,
            took = ?started.elapsed(),
            "remote cache: pushed the prepared root"
        );
    }
}

/// A cache directory's files (`*.EXT` below it) as one artifact: the
/// package pool a build downloaded into, the xz chunks it made.
const FILE_SET: &str = "application/vnd.builder.cache-files.v1";
const FILE_LAYER: &str = "application/vnd.builder.cache-file.v1";

impl RemoteCache {
    /// Pulls the files of the set `tag` that `dir` lacks into it (each
    /// checked against its digest; the cache that reads them checks them
    /// again as it always does). Returns how many it pulled.
    pub fn fetch_files(&self, tag: &str, dir: &Path) -> usize {
        let Some(registry) = self.usable() else {
            return 0;
        };
        match fetch_files(registry, tag, dir) {
            Ok(pulled) => {
                if pulled > 0 {
                    tracing::info!(tag, files = pulled, "remote cache: pulled files");
                }
                pulled
            }
            Err(e) => {
                self.give_up(&format!("pulling `{tag}`"), e);
                0
            }
        }
    }

    /// Pushes the files `*.EXT` below `dir` as the set `tag`, when the
    /// registry's set lacks some of them (keeping those it has).
    pub fn store_files(&self, tag: &str, dir: &Path, extension: &str) {
        let Some(registry) = self.usable() else {
            return;
        };
        match store_files(registry, tag, dir, extension) {
            Ok(0) => {}
            Ok(pushed) => tracing::info!(tag, files = pushed, "remote cache: pushed files"),
            Err(e) => self.give_up(&format!("pushing `{tag}`"), e),
        }
    }
}

/// The tag of a file set: `KIND-` and a digest of `key`.
pub fn file_set_tag(kind: &str, key: &str) -> String {
    format!(
        "{kind}-{}",
        &crate::toolbox::sha256_hex(key.as_bytes())[..32]
    )
}

fn fetch_files(registry: &Registry, tag: &str, dir: &Path) -> anyhow::Result<usize> {
    if !registry.has_tag(tag)? {
        return Ok(0);
    }
    let (manifest, _) = registry.pull_manifest(tag)?;
    anyhow::ensure!(
        manifest.artifact_type.as_deref() == Some(FILE_SET),
        "`{tag}` is not a set of cache files (artifactType {:?})",
        manifest.artifact_type
    );
    let mut pulled = 0;
    for layer in &manifest.layers {
        let name = title_of(layer)
            .filter(|name| relative_name_ok(name))
            .with_context(|| format!("`{tag}`: a file without a plain relative name"))?;
        let path = dir.join(name);
        if path.exists() {
            continue;
        }
        if let Some(parent) = path.parent() {
            crate::caches::private_dir(parent)?;
        }
        registry.pull_to_file(layer, &path)?;
        pulled += 1;
    }
    Ok(pulled)
}

fn store_files(
    registry: &Registry,
    tag: &str,
    dir: &Path,
    extension: &str,
) -> anyhow::Result<usize> {
    let mut local = Vec::new();
    files_below(dir, dir, extension, &mut local)?;
    local.sort();
    let mut layers = if registry.has_tag(tag)? {
        registry.pull_manifest(tag)?.0.layers
    } else {
        Vec::new()
    };
    let known: std::collections::BTreeSet<String> = layers
        .iter()
        .filter_map(|l| title_of(l).map(String::from))
        .collect();
    let mut pushed = 0;
    for name in local.iter().filter(|n| !known.contains(*n)) {
        let (digest, size) = registry.push_file(&dir.join(name))?;
        layers.push(titled(FILE_LAYER, &digest, size, name));
        pushed += 1;
    }
    if pushed == 0 {
        return Ok(0);
    }
    registry.push_artifact(
        Artifact {
            artifact_type: FILE_SET.to_string(),
            layers,
            ..Artifact::default()
        },
        Some(tag),
    )?;
    Ok(pushed)
}

/// The regular files `*.EXT` below `dir`, relative to `base`; files being
/// written (`.incoming-*`) left out.
fn files_below(
    base: &Path,
    dir: &Path,
    extension: &str,
    out: &mut Vec<String>,
) -> anyhow::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry.file_type()?;
        if name.starts_with('.') {
            continue;
        }
        if kind.is_dir() {
            files_below(base, &entry.path(), extension, out)?;
        } else if kind.is_file() && name.ends_with(&format!(".{extension}")) {
            let relative = entry
                .path()
                .strip_prefix(base)?
                .to_string_lossy()
                .into_owned();
            if relative_name_ok(&relative) {
                out.push(relative);
            }
        }
    }
    Ok(())
}

/// A relative path of plain names (no `..`, no root, no empty part).
fn relative_name_ok(name: &str) -> bool {
    !name.is_empty()
        && !name.contains('\0')
        && name
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

/// The tag of an entry: `root-` and its key.
fn tag_of(cache: &RootCache) -> String {
    format!("root-{}", cache.key())
}

/// The layer of the entry tagged `tag`, when the registry has one.
fn root_layer(
    registry: &Registry,
    tag: &str,
) -> anyhow::Result<Option<oci_client::manifest::OciDescriptor>> {
    if !registry.has_tag(tag)? {
        tracing::debug!(tag, "remote cache: no such entry");
        return Ok(None);
    }
    let (manifest, _) = registry.pull_manifest(tag)?;
    anyhow::ensure!(
        manifest.artifact_type.as_deref() == Some(ROOT_ENTRY),
        "`{tag}` is not a prepared root (artifactType {:?})",
        manifest.artifact_type
    );
    let [layer] = manifest.layers.as_slice() else {
        anyhow::bail!("`{tag}` has {} layers, not one", manifest.layers.len());
    };
    anyhow::ensure!(
        layer.media_type == ROOT_LAYER,
        "`{tag}`: a layer of type {}",
        layer.media_type
    );
    Ok(Some(layer.clone()))
}

/// Pulls the entry's `layer` into the local root cache.
fn fetch(
    registry: &Registry,
    cache: &RootCache,
    layer: &oci_client::manifest::OciDescriptor,
) -> anyhow::Result<()> {
    let incoming = cache.begin()?;
    let archive = incoming.dir().join("entry.tar.zst");
    registry.pull_to_file(layer, &archive)?;
    unpack(&archive, incoming.dir())?;
    std::fs::remove_file(&archive).with_context(|| format!("removing {}", archive.display()))?;
    drop(cache.commit_fetched(incoming));
    Ok(())
}

fn push(registry: &Registry, cache: &RootCache, entry: &Path, tag: &str) -> anyhow::Result<()> {
    let scratch = cache.scratch_file("entry.tar.zst")?;
    pack(entry, scratch.path())?;
    let (digest, size) = registry.push_file(scratch.path())?;
    registry.push_artifact(
        Artifact {
            artifact_type: ROOT_ENTRY.to_string(),
            layers: vec![oci_client::manifest::OciDescriptor {
                media_type: ROOT_LAYER.to_string(),
                digest,
                size: size as i64,
                ..Default::default()
            }],
            subject: None,
            annotations: std::collections::BTreeMap::from([(
                KEY_ANNOTATION.to_string(),
                cache.key(),
            )]),
        },
        Some(tag),
    )?;
    Ok(())
}

/// GNU tar's options for an entry: everything a root holds (owners by
/// number, modes, xattrs such as file capabilities, hard links, devices,
/// nanosecond times; access times in the POSIX headers, which
/// [`restore_access_times`] puts back).
const TAR_OPTIONS: &[&str] = &[
    "--format=posix",
    "--numeric-owner",
    "--xattrs",
    "--xattrs-include=*",
    "--acls",
    "--selinux",
];

/// The entry directory `entry` (its `root` and `manifest`) as a zstd tar
/// at `archive`.
fn pack(entry: &Path, archive: &Path) -> anyhow::Result<()> {
    let mut tar = Command::new("tar")
        .arg("--create")
        .args(TAR_OPTIONS)
        .args(["--sort=name", "--directory"])
        .arg(entry)
        .args(["--", "root", "manifest"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running tar")?;
    let out = std::fs::File::create(archive)
        .with_context(|| format!("creating {}", archive.display()))?;
    let mut encoder = zstd::Encoder::new(out, 3)?;
    let _ = encoder.multithread(2);
    let copied = std::io::copy(tar.stdout.as_mut().expect("piped"), &mut encoder);
    let output = tar.wait_with_output().context("waiting for tar")?;
    copied.with_context(|| format!("compressing into {}", archive.display()))?;
    encoder.finish()?.flush()?;
    anyhow::ensure!(
        output.status.success(),
        "tar of {} failed: {}",
        entry.display(),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}

/// Unpacks the zstd tar `archive` into `dir`, then gives every path the
/// access time its header records (tar sets them to now).
fn unpack(archive: &Path, dir: &Path) -> anyhow::Result<()> {
    let mut tar = Command::new("tar")
        .args(["--extract", "--same-owner", "--same-permissions"])
        .args(TAR_OPTIONS)
        .arg("--directory")
        .arg(dir)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running tar")?;
    let file =
        std::fs::File::open(archive).with_context(|| format!("reading {}", archive.display()))?;
    let mut decoder = zstd::Decoder::new(file)?;
    let mut stdin = tar.stdin.take().expect("piped");
    let copied = std::io::copy(&mut decoder, &mut stdin);
    drop(stdin);
    let output = tar.wait_with_output().context("waiting for tar")?;
    copied.with_context(|| format!("decompressing {}", archive.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "tar into {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    restore_access_times(zstd::Decoder::new(std::fs::File::open(archive)?)?, dir)
}

/// Sets each path of the tar read from `reader` below `dir` to the access
/// time of its POSIX header (`atime`), its modification time untouched.
fn restore_access_times(reader: impl Read, dir: &Path) -> anyhow::Result<()> {
    let dir_fd = std::fs::File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().context("reading the entry's tar")? {
        let mut entry = entry.context("reading the entry's tar")?;
        // A hard link is the file it links to, whose header came first
        // (tar read it in between, so the link's own header is later).
        if entry.header().entry_type().is_hard_link() {
            continue;
        }
        let Some(atime) = pax_time(&mut entry, "atime")? else {
            continue;
        };
        let path = entry
            .path()
            .context("a path in the entry's tar")?
            .into_owned();
        let path = path.strip_prefix("./").unwrap_or(&path).to_path_buf();
        if path.as_os_str().is_empty()
            || path
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            continue;
        }
        let times = rustix::fs::Timestamps {
            last_access: atime,
            last_modification: rustix::fs::Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_OMIT,
            },
        };
        rustix::fs::utimensat(
            &dir_fd,
            &path,
            &times,
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .with_context(|| format!("setting the access time of {}", path.display()))?;
    }
    Ok(())
}

/// A time of an entry's POSIX extended header (`SECONDS[.FRACTION]`).
fn pax_time<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    key: &str,
) -> anyhow::Result<Option<rustix::fs::Timespec>> {
    let Some(extensions) = entry.pax_extensions()? else {
        return Ok(None);
    };
    for extension in extensions {
        let extension = extension?;
        if extension.key().ok() != Some(key) {
            continue;
        }
        let value = extension.value().context("a POSIX header value")?;
        return Ok(Some(
            parse_pax_time(value).with_context(|| format!("`{key}={value}` in the entry's tar"))?,
        ));
    }
    Ok(None)
}

fn parse_pax_time(value: &str) -> anyhow::Result<rustix::fs::Timespec> {
    let (seconds, fraction) = value.split_once('.').unwrap_or((value, ""));
    let tv_sec: i64 = seconds.parse()?;
    anyhow::ensure!(fraction.chars().all(|c| c.is_ascii_digit()), "not a time");
    let digits: String = fraction
        .chars()
        .chain(std::iter::repeat('0'))
        .take(9)
        .collect();
    let mut tv_nsec: i64 = digits.parse()?;
    // `-1.5` is one and a half seconds before the epoch.
    let (tv_sec, nsec) = if tv_sec < 0 && tv_nsec > 0 {
        tv_nsec = 1_000_000_000 - tv_nsec;
        (tv_sec - 1, tv_nsec)
    } else {
        (tv_sec, tv_nsec)
    };
    Ok(rustix::fs::Timespec {
        tv_sec,
        tv_nsec: nsec as _,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn only_plain_relative_names_are_cache_files() {
        for good in ["a.deb", "dnf/x86_64/packages/a.rpm", "0f.xz"] {
            assert!(relative_name_ok(good), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../a.deb",
            "a/../../b",
            "a//b",
            "./a",
            "a\0b",
        ] {
            assert!(!relative_name_ok(bad), "{bad}");
        }
    }

    #[test]
    fn posix_header_times_parse() {
        let t = parse_pax_time("1655480126.21321788").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec as i64), (1655480126, 213217880));
        let t = parse_pax_time("1609459200").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec as i64), (1609459200, 0));
        assert!(parse_pax_time("x").is_err());
    }

    /// An entry packed and unpacked keeps its files, owners, modes,
    /// capabilities, links, and modification and access times.
    #[test]
    fn an_entry_comes_back_as_it_was_packed() {
        let tmp = tempfile::tempdir().unwrap();
        let entry = tmp.path().join("entry");
        let root = entry.join("root");
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::write(root.join("usr/bin/tool"), b"#!/bin/sh\n").unwrap();
        std::os::unix::fs::symlink("/etc/alternatives/nawk", root.join("usr/bin/nawk")).unwrap();
        std::fs::hard_link(root.join("usr/bin/tool"), root.join("usr/bin/tool2")).unwrap();
        std::fs::write(entry.join("manifest"), b"m\n").unwrap();
        // A file capability: an xattr (security.capability).
        let status = Command::new("setcap")
            .args(["cap_net_raw+ep"])
            .arg(root.join("usr/bin/tool"))
            .status()
            .expect("setcap (libcap2-bin)");
        assert!(status.success());
        let old = |sec| rustix::fs::Timespec {
            tv_sec: sec,
            tv_nsec: 5,
        };
        for (path, atime, mtime) in [
            (root.join("usr/bin/nawk"), 1_655_480_126, 1_655_480_126),
            (root.join("usr/bin/tool"), 1_609_459_200, 1_655_480_000),
        ] {
            rustix::fs::utimensat(
                rustix::fs::CWD,
                &path,
                &rustix::fs::Timestamps {
                    last_access: old(atime),
                    last_modification: old(mtime),
                },
                rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
            )
            .unwrap();
        }
        // As they were written (tar's reads may move the source's).
        let before: Vec<std::fs::Metadata> = ["usr/bin/nawk", "usr/bin/tool"]
            .iter()
            .map(|rel| std::fs::symlink_metadata(root.join(rel)).unwrap())
            .collect();
        let archive = tmp.path().join("entry.tar.zst");
        pack(&entry, &archive).unwrap();
        let back = tmp.path().join("back");
        std::fs::create_dir(&back).unwrap();
        unpack(&archive, &back).unwrap();
        for (rel, a) in ["usr/bin/nawk", "usr/bin/tool"].iter().zip(&before) {
            let b = std::fs::symlink_metadata(back.join("root").join(rel)).unwrap();
            assert_eq!(
                (a.atime(), a.atime_nsec(), a.mtime(), a.mtime_nsec()),
                (b.atime(), b.atime_nsec(), b.mtime(), b.mtime_nsec()),
                "{rel}"
            );
            assert_eq!(
                (a.mode(), a.uid(), a.gid()),
                (b.mode(), b.uid(), b.gid()),
                "{rel}"
            );
        }
        let tool = std::fs::symlink_metadata(back.join("root/usr/bin/tool")).unwrap();
        let tool2 = std::fs::symlink_metadata(back.join("root/usr/bin/tool2")).unwrap();
        assert_eq!(tool.ino(), tool2.ino(), "hard links stay links");
        assert_eq!(std::fs::read(back.join("manifest")).unwrap(), b"m\n");
        let caps = Command::new("getcap")
            .arg(back.join("root/usr/bin/tool"))
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&caps.stdout).contains("cap_net_raw"));
    }
}
