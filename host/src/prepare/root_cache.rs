//! The prepared-root cache: the root as it is once its packages are
//! installed (bootstrap, `post_bootstrap.sh`, image packages), kept in the
//! cache directory so that a build whose inputs have not changed starts
//! from a copy of it instead of bootstrapping again, like mkosi's
//! incremental mode. Overlays, users, settings, `config.sh` and everything
//! after them always run.
//!
//! An entry is found by two keys. The *description key* hashes what the
//! description and the build host put into those steps: builder's version,
//! the architecture, every build repository (URI, suite, components, the
//! bytes of its signing keys), the bootstrap and image package sets and the
//! post-bootstrap scripts and hooks. The *repository key* hashes what each
//! build repository publishes now (apt: its `InRelease` or `Release`,
//! fetched with apt's own `apt-helper`; see [`PackageManager::repository_state`]),
//! so a repository that published anything new gives a new entry. When the
//! state cannot be fetched, nothing is cached.
//!
//! [`PackageManager::repository_state`]: crate::packages::PackageManager::repository_state
//!
//! Entries live at `roots/<description key>/<repository key>/`: the root
//! in `root/` and its [`Manifest`] in `manifest` (every path with its type,
//! mode, owner, size and digest), written under a temporary name and
//! renamed into place, so concurrent builds see whole entries or none. An
//! entry is checked against its manifest before a build uses it (the
//! overlay's lower layer, or the copy made of it); one that differs (a
//! file planted, changed or removed) is discarded with a warning naming
//! the first difference, and the root bootstrapped afresh. Storing a new repository state removes the older
//! states of the same description, and the entries of descriptions no build
//! used for 30 days. A copy that fails half-way (an entry
//! removed by another build meanwhile) is cleared and the build prepares
//! the root from scratch.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::caches::{remove_entry, removing_name, REMOVING};
use crate::packages::RepositoryState;
use crate::plan::BuildPlan;
use crate::rootfs::manifest::Manifest;

/// Bumped when the layout or meaning of an entry changes.
const FORMAT: &str = "builder-root-cache-2";
/// The root in an entry.
const ROOT: &str = "root";
/// The manifest in an entry.
const MANIFEST: &str = "manifest";

/// One entry of the cache, hit or not yet stored.
#[derive(Debug, Clone)]
pub struct RootCache {
    base: PathBuf,
    entry: PathBuf,
}

impl RootCache {
    /// The entry for this plan and the repositories' current state, or
    /// `None` when that state cannot be read (nothing is cached then).
    pub fn lookup(
        cache_root: &Path,
        plan: &BuildPlan,
        repositories: Option<&RepositoryState>,
        post_bootstrap_plugins: &[String],
        source_date_epoch: Option<i64>,
    ) -> anyhow::Result<Option<Self>> {
        let Some(repositories) = repositories else {
            return Ok(None);
        };
        let mut description = Sha256::new();
        feed(&mut description, "format", FORMAT.as_bytes());
        feed(
            &mut description,
            "builder",
            env!("CARGO_PKG_VERSION").as_bytes(),
        );
        feed(&mut description, "arch", plan.arch.as_bytes());
        feed(
            &mut description,
            "package-manager",
            format!("{:?}", plan.package_manager).as_bytes(),
        );
        for (field, bytes) in &repositories.identity {
            feed(&mut description, field, bytes);
        }
        for (name, set) in [
            ("bootstrap", &plan.packages.bootstrap),
            ("image", &plan.packages.image),
        ] {
            feed(&mut description, name, set.packages.join("\n").as_bytes());
            feed(&mut description, "pattern", set.pattern_type.as_bytes());
        }
        for script in plan.scripts.iter().filter(|s| s.stage == "post-bootstrap") {
            let bytes = fs::read(&script.path)
                .with_context(|| format!("root cache: reading {}", script.path.display()))?;
            feed(&mut description, "post-bootstrap", &bytes);
        }
        for plugin in post_bootstrap_plugins {
            feed(&mut description, "post-bootstrap-plugin", plugin.as_bytes());
        }
        // The package tools write it into the root (the days of
        // /etc/shadow's last changes, for one): a root prepared with
        // another epoch, or none, is another root.
        if let Some(epoch) = source_date_epoch {
            feed(
                &mut description,
                "source-date-epoch",
                epoch.to_string().as_bytes(),
            );
        }

        let mut state = Sha256::new();
        for published in &repositories.published {
            feed(&mut state, "release", published);
        }
        let base = cache_root.join(&hex::encode(description.finalize())[..24]);
        let entry = base.join(&hex::encode(state.finalize())[..24]);
        Ok(Some(RootCache { base, entry }))
    }

    /// Entry `name` under the description directory `base` (tests).
    #[cfg(test)]
    pub fn at(base: &Path, name: &str) -> RootCache {
        RootCache {
            base: base.to_path_buf(),
            entry: base.join(name),
        }
    }

    /// The entry's key, unique to the description's packages and the
    /// repositories' state: `<description>-<state>`.
    pub fn key(&self) -> String {
        let name = |p: &Path| {
            p.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        };
        format!("{}-{}", name(&self.base), name(&self.entry))
    }

    /// A file of this build's own beside the entries (removed when
    /// dropped; a killed build's is swept).
    pub fn scratch_file(&self, what: &str) -> anyhow::Result<tempfile::NamedTempFile> {
        crate::caches::private_dir(&self.base)?;
        crate::caches::incoming_file(&self.base).with_context(|| {
            format!(
                "root cache: a file for the {what} in {}",
                self.base.display()
            )
        })
    }

    /// Whether the entry exists.
    pub fn is_stored(&self) -> bool {
        self.entry.join(ROOT).is_dir()
    }

    /// The entry, held in use (no other build removes it meanwhile), or
    /// `None` when it is not stored or is being removed. Not checked
    /// against its manifest: see [`RootCache::hold_verified`].
    pub fn hold(&self) -> Option<EntryInUse> {
        let dir = fs::File::open(&self.entry).ok()?;
        dir.try_lock_shared().ok()?;
        // Still the entry: not renamed aside by a removal that finished
        // between the open and the lock.
        let held = dir.metadata().ok()?;
        let now = fs::symlink_metadata(&self.entry).ok()?;
        if (held.dev(), held.ino()) != (now.dev(), now.ino()) {
            return None;
        }
        if !self.is_stored() {
            return None;
        }
        touch(&self.base);
        Some(EntryInUse {
            dir: self.entry.clone(),
            root: self.entry.join(ROOT),
            lock: dir,
            remove_on_drop: false,
        })
    }

    /// The entry held in use once its root matches its manifest; `None`
    /// when it is not stored, or differs (then it is discarded, with a
    /// warning naming the first difference).
    pub fn hold_verified(&self) -> Option<EntryInUse> {
        let entry = self.hold()?;
        match self.verify(entry.path()) {
            Ok(()) => Some(entry),
            Err(why) => {
                drop(entry);
                self.discard(&why);
                None
            }
        }
    }

    /// Checks `root` (the entry's root, or a copy of it) against the
    /// entry's manifest; the error says why it cannot be used.
    fn verify(&self, root: &Path) -> Result<(), String> {
        let started = std::time::Instant::now();
        let manifest = Manifest::read(&self.entry.join(MANIFEST)).map_err(|e| format!("{e:#}"))?;
        match manifest.check(root) {
            Ok(Ok(())) => {
                tracing::debug!(
                    entry = %self.entry.display(),
                    paths = manifest.len(),
                    took = ?started.elapsed(),
                    "root cache: the entry matches its manifest"
                );
                Ok(())
            }
            Ok(Err(difference)) => Err(format!(
                "it differs from its manifest, first at {difference}"
            )),
            Err(e) => Err(format!("{e:#}")),
        }
    }

    /// Takes the entry out of use for good: renamed aside at once (builds
    /// that hold it keep what they have) and removed once no build holds it.
    fn discard(&self, why: &str) {
        tracing::warn!(
            "root cache: not using the entry {}: {why}; discarding it and preparing the \
             root from scratch",
            self.entry.display()
        );
        let aside = removing_name(&self.entry);
        if fs::rename(&self.entry, &aside).is_ok() {
            remove_entry(&aside);
        }
    }

    /// Copies the entry into the (empty) `root` and checks the copy against
    /// the entry's manifest. On failure, or when the copy differs (the
    /// entry is then discarded), the root is emptied again and `false`
    /// returned.
    pub fn restore(&self, root: &Path) -> anyhow::Result<bool> {
        let copied = match self.hold() {
            Some(entry) => crate::rootfs::tree::copy_tree(entry.path(), root),
            None => Err(anyhow::anyhow!("the entry is gone")),
        };
        let result = match copied {
            Ok(()) => match self.verify(root) {
                Ok(()) => return Ok(true),
                Err(why) => {
                    self.discard(&why);
                    Ok(())
                }
            },
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::warn!(
                "root cache: restoring {} failed, preparing from scratch: {e:#}",
                self.entry.display()
            );
        }
        empty_dir(root)?;
        Ok(false)
    }

    /// A new, empty directory to prepare this entry's root in, beside the
    /// entries (so that [`commit`](Self::commit) is a rename).
    pub fn begin(&self) -> anyhow::Result<Incoming> {
        crate::caches::private_dir(&self.base)?;
        let dir = crate::caches::Owned::new_in(&self.base, INCOMING, 0o700).with_context(|| {
            format!(
                "root cache: creating a directory in {}",
                self.base.display()
            )
        })?;
        // The root directory itself, as a bootstrap makes it.
        let root = dir.path().join(ROOT);
        fs::DirBuilder::new()
            .mode(0o755)
            .create(&root)
            .and_then(|()| fs::set_permissions(&root, fs::Permissions::from_mode(0o755)))
            .with_context(|| format!("root cache: creating {}", root.display()))?;
        Ok(Incoming { dir, root })
    }

    /// Makes the prepared root in `incoming` this entry, with its manifest
    /// (no mounts may be left below it), and removes older repository
    /// states of the same description that no build is using. The entry
    /// stays held in use.
    pub fn commit(&self, incoming: Incoming) -> EntryInUse {
        strip_unneeded(incoming.path());
        let started = std::time::Instant::now();
        let manifest = Manifest::of(incoming.path())
            .and_then(|m| m.write(&incoming.dir.path().join(MANIFEST)).map(|()| m));
        let Incoming { dir, root: _ } = incoming;
        let (path, lock) = dir.keep_held();
        match manifest {
            Ok(manifest) => {
                tracing::debug!(paths = manifest.len(), took = ?started.elapsed(), "root cache: manifest made");
                self.place(path, lock)
            }
            Err(e) => {
                tracing::warn!("root cache: {} not stored: {e:#}", self.entry.display());
                ours(path, lock)
            }
        }
    }

    /// Makes an entry fetched whole into `incoming` (root and manifest,
    /// from the remote cache) this entry. Like every entry, it is checked
    /// against its manifest before a build uses it
    /// ([`hold_verified`](Self::hold_verified)).
    pub fn commit_fetched(&self, incoming: Incoming) -> EntryInUse {
        let Incoming { dir, root: _ } = incoming;
        let (path, lock) = dir.keep_held();
        self.place(path, lock)
    }

    /// Renames the complete entry at `path` (held by `lock`) into place,
    /// and removes older repository states of the same description that no
    /// build is using.
    fn place(&self, path: PathBuf, lock: fs::File) -> EntryInUse {
        let entry = match fs::rename(&path, &self.entry) {
            Ok(()) => EntryInUse {
                dir: self.entry.clone(),
                root: self.entry.join(ROOT),
                lock,
                remove_on_drop: false,
            },
            Err(e) => {
                tracing::debug!("root cache: {} not stored: {e}", self.entry.display());
                match self.hold_verified() {
                    // Another build stored the same entry first; ours is redundant.
                    Some(theirs) => {
                        drop(lock);
                        remove_entry(&path);
                        theirs
                    }
                    // Stored and already being replaced: ours serves this build only.
                    None => ours(path, lock),
                }
            }
        };
        for old in fs::read_dir(&self.base).into_iter().flatten().flatten() {
            let path = old.path();
            let name = old.file_name().to_string_lossy().into_owned();
            if path != self.entry && !name.starts_with('.') {
                tracing::debug!(entry = %path.display(), "root cache: removing an older repository state");
                remove_entry(&path);
            }
        }
        touch(&self.base);
        if let Some(all) = self.base.parent() {
            evict_unused(all);
        }
        entry
    }

    /// Stores a copy of `root` (no mounts below it) as this entry, and
    /// removes older repository states of the same description.
    pub fn store(&self, root: &Path) -> anyhow::Result<()> {
        let incoming = self.begin()?;
        crate::rootfs::tree::copy_tree(root, incoming.path())?;
        self.commit(incoming);
        Ok(())
    }
}

/// The name prefix of roots being prepared (or copied) for an entry.
const INCOMING: &str = crate::caches::INCOMING;

/// A root being prepared for an entry, in use from the start (named and
/// held as [`crate::caches::Owned`], so a killed build's is swept); removed
/// when dropped without [`RootCache::commit`].
#[derive(Debug)]
pub struct Incoming {
    dir: crate::caches::Owned,
    root: PathBuf,
}

impl Incoming {
    /// The directory to prepare the root in.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The entry's directory (the root's parent, where its manifest goes).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// A cache entry in use by this build: no other build removes it while
/// this lives (a shared lock on the directory; removals take an exclusive
/// one, or leave the entry).
#[derive(Debug)]
pub struct EntryInUse {
    dir: PathBuf,
    root: PathBuf,
    lock: fs::File,
    remove_on_drop: bool,
}

impl EntryInUse {
    /// The prepared root; never to be written to.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The entry's directory: the root and its manifest.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// An entry of this build's alone (not, or not yet, in place): removed
/// when dropped.
fn ours(path: PathBuf, lock: fs::File) -> EntryInUse {
    EntryInUse {
        root: path.join(ROOT),
        dir: path,
        lock,
        remove_on_drop: true,
    }
}

impl Drop for EntryInUse {
    fn drop(&mut self) {
        if self.remove_on_drop {
            let _ = self.lock.unlock();
            remove_entry(&self.dir);
        }
    }
}

/// Left out of entries, to keep them small and restores quick: package
/// files (the package cache has them), apt's binary caches (apt rebuilds
/// them when it next runs) and index translations (descriptions only).
pub(crate) fn strip_unneeded(root: &Path) {
    type IsUnneeded = fn(&str) -> bool;
    let unneeded: [(&str, IsUnneeded); 3] = [
        (crate::packages::cache::APT_ARCHIVES, |n| {
            n.ends_with(".deb")
        }),
        ("var/cache/apt", |n| n.ends_with(".bin")),
        (crate::packages::cache::APT_LISTS, |n| {
            n.contains("_i18n_Translation-")
        }),
    ];
    for (dir, matches) in unneeded {
        for entry in fs::read_dir(root.join(dir)).into_iter().flatten().flatten() {
            if matches(&entry.file_name().to_string_lossy())
                && entry.file_type().is_ok_and(|t| t.is_file())
            {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// Entries of descriptions no build used for this long are removed.
const KEEP_UNUSED: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// Marks a description's entries as used now.
fn touch(dir: &Path) {
    if let Ok(file) = fs::File::open(dir) {
        let _ = file.set_modified(std::time::SystemTime::now());
    }
}

/// Removes the entries of descriptions unused for [`KEEP_UNUSED`], and
/// copies that interrupted builds left behind.
fn evict_unused(all: &Path) {
    let now = std::time::SystemTime::now();
    let age = |path: &Path| {
        fs::symlink_metadata(path)
            .and_then(|m| m.modified())
            .map(|t| now.duration_since(t).unwrap_or_default())
            .unwrap_or_default()
    };
    for base in fs::read_dir(all).into_iter().flatten().flatten() {
        let base = base.path();
        let unused = age(&base) > KEEP_UNUSED;
        for entry in fs::read_dir(&base).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let stale = name.starts_with(REMOVING)
                || (name.starts_with(INCOMING)
                    && age(&entry.path()) > std::time::Duration::from_secs(24 * 3600));
            if unused || stale {
                remove_entry(&entry.path());
            }
        }
        if unused {
            tracing::debug!(entry = %base.display(), "root cache: removing an unused description's roots");
            // Only when nothing was left in use.
            let _ = fs::remove_dir(&base);
        }
    }
}

/// Adds one length-prefixed field to a key.
fn feed(hasher: &mut Sha256, field: &str, value: &[u8]) {
    hasher.update((field.len() as u64).to_le_bytes());
    hasher.update(field.as_bytes());
    hasher.update((value.len() as u64).to_le_bytes());
    hasher.update(value);
}

pub(crate) fn empty_dir(dir: &Path) -> anyhow::Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let meta = fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            crate::rootfs::mounts::remove_tree(&path)
        } else {
            fs::remove_file(&path)
        }
        .with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packages::AptRepository;
    use std::os::unix::fs::MetadataExt;

    fn plan() -> BuildPlan {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/debian-minimal");
        let description = crate::description::load(&dir).unwrap();
        crate::plan::plan(&description, &crate::plan::PlanRequest::default()).unwrap()
    }

    fn file_repo(dir: &Path) -> AptRepository {
        AptRepository {
            alias: "local".into(),
            uri: format!("file://{}", dir.display()),
            suite: Some("x".into()),
            components: vec!["main".into()],
            architectures: vec![],
            keys: vec![],
            for_build: true,
            in_image: false,
            snapshot_of: None,
        }
    }

    #[test]
    fn keys_follow_the_inputs_and_the_repository_state() {
        use crate::packages::{Apt, PackageManager};
        let tmp = tempfile::tempdir().unwrap();
        let mirror = tmp.path().join("mirror");
        fs::create_dir_all(mirror.join("dists/x")).unwrap();
        fs::write(mirror.join("dists/x/InRelease"), "state one").unwrap();
        fs::create_dir_all(tmp.path().join("root")).unwrap();
        let root = crate::rootfs::files::RootDir::open(&tmp.path().join("root")).unwrap();
        // What apt's backend reports: the repository and its InRelease.
        let state_of = |dir: &Path| {
            let apt = Apt::new(&root, vec![file_repo(dir)], "x86_64", None).unwrap();
            apt.repository_state().unwrap()
        };
        let cache = tmp.path().join("roots");
        let mut plan = plan();
        let lookup = |plan: &BuildPlan, state: &Option<RepositoryState>, hooks: &[String]| {
            RootCache::lookup(&cache, plan, state.as_ref(), hooks, None).unwrap()
        };

        let state = state_of(&mirror);
        let first = lookup(&plan, &state, &[]).unwrap();
        let again = lookup(&plan, &state_of(&mirror), &[]).unwrap();
        assert_eq!(first.entry, again.entry);

        fs::write(mirror.join("dists/x/InRelease"), "state two").unwrap();
        let state = state_of(&mirror);
        let newer = lookup(&plan, &state, &[]).unwrap();
        assert_eq!(newer.base, first.base);
        assert_ne!(newer.entry, first.entry);

        plan.packages.image.packages.push("vim".into());
        let other = lookup(&plan, &state, &[]).unwrap();
        assert_ne!(other.base, first.base);

        // A post-bootstrap hook (another component, options or grants) is another root.
        let hooked = lookup(&plan, &state, &["abc {} root-read".into()]).unwrap();
        assert_ne!(hooked.base, other.base);

        // Another SOURCE_DATE_EPOCH is another root, the same one the same.
        let dated = |epoch| {
            RootCache::lookup(&cache, &plan, state.as_ref(), &[], Some(epoch))
                .unwrap()
                .unwrap()
        };
        assert_ne!(dated(1_700_000_000).base, other.base);
        assert_ne!(dated(1_700_000_000).base, dated(1_700_000_001).base);
        assert_eq!(dated(1_700_000_000).entry, dated(1_700_000_000).entry);

        // A repository whose state cannot be read: nothing is cached.
        let gone = state_of(&tmp.path().join("nowhere"));
        assert!(gone.is_none());
        assert!(lookup(&plan, &gone, &[]).is_none());
    }

    #[test]
    fn store_and_restore_keep_the_tree_and_replace_older_states() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::create_dir_all(root.join(crate::packages::cache::APT_ARCHIVES)).unwrap();
        fs::write(root.join("etc/file"), "content").unwrap();
        fs::hard_link(root.join("etc/file"), root.join("etc/link")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("etc/abs")).unwrap();
        fs::write(
            root.join(crate::packages::cache::APT_ARCHIVES)
                .join("a_1_all.deb"),
            "deb",
        )
        .unwrap();
        let base = tmp.path().join("roots/base");
        let old = RootCache {
            base: base.clone(),
            entry: base.join("old"),
        };
        old.store(&root).unwrap();
        let new = RootCache {
            base: base.clone(),
            entry: base.join("new"),
        };
        assert!(!new.is_stored());
        new.store(&root).unwrap();
        assert!(new.is_stored() && !old.is_stored());

        let copy = tmp.path().join("copy");
        fs::create_dir(&copy).unwrap();
        assert!(new.restore(&copy).unwrap());
        assert_eq!(
            fs::read_to_string(copy.join("etc/file")).unwrap(),
            "content"
        );
        assert_eq!(
            fs::metadata(copy.join("etc/file")).unwrap().ino(),
            fs::metadata(copy.join("etc/link")).unwrap().ino()
        );
        assert_eq!(
            fs::read_link(copy.join("etc/abs")).unwrap(),
            Path::new("/etc/passwd")
        );
        assert!(!copy
            .join(crate::packages::cache::APT_ARCHIVES)
            .join("a_1_all.deb")
            .exists());

        // Descriptions nobody built for a month go when another is stored.
        let forgotten = tmp.path().join("roots/forgotten");
        fs::create_dir_all(forgotten.join("state")).unwrap();
        let month_ago =
            std::time::SystemTime::now() - std::time::Duration::from_secs(31 * 24 * 3600);
        fs::File::open(&forgotten)
            .unwrap()
            .set_modified(month_ago)
            .unwrap();
        new.store(&root).unwrap();
        assert!(!forgotten.exists());
        assert!(new.is_stored());

        // An entry that vanished: the root is left empty, the build goes on.
        let missing = RootCache {
            base: base.clone(),
            entry: base.join("removed-meanwhile"),
        };
        let empty = tmp.path().join("empty");
        fs::create_dir(&empty).unwrap();
        assert!(!missing.restore(&empty).unwrap());
        assert_eq!(fs::read_dir(&empty).unwrap().count(), 0);
    }

    #[test]
    fn entries_in_use_are_not_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(root.join("etc/file"), "content").unwrap();
        let base = tmp.path().join("roots/base");
        let entry = |name: &str| RootCache {
            base: base.clone(),
            entry: base.join(name),
        };
        let (first, second, third) = (entry("first"), entry("second"), entry("third"));

        // A root being prepared is private and goes when dropped.
        let incoming = first.begin().unwrap();
        let path = incoming.path().parent().unwrap().to_path_buf();
        assert!(path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(INCOMING));
        drop(incoming);
        assert!(!path.exists());

        let incoming = first.begin().unwrap();
        fs::write(incoming.path().join("marker"), "first").unwrap();
        let held = first.commit(incoming);
        assert_eq!(held.path(), first.entry.join(ROOT));
        // A newer state does not remove the entry a build is using...
        second.store(&root).unwrap();
        assert!(first.is_stored() && second.is_stored());
        assert!(first.hold().is_some(), "shared use");
        // ...and the next one does, once it is no longer used.
        drop(held);
        third.store(&root).unwrap();
        assert!(!first.is_stored() && !second.is_stored() && third.is_stored());
        let names: Vec<String> = fs::read_dir(&base)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["third"]);
    }

    /// A root of a few files, stored as `name` under `base`.
    fn stored(tmp: &Path, base: &Path, name: &str) -> RootCache {
        let root = tmp.join("source");
        if !root.exists() {
            fs::create_dir_all(root.join("etc")).unwrap();
            fs::write(root.join("etc/issue"), "Debian GNU/Linux 12\n").unwrap();
            fs::write(root.join("etc/hostname"), "golden\n").unwrap();
        }
        let cache = RootCache::at(base, name);
        cache.store(&root).unwrap();
        assert!(cache.is_stored());
        cache
    }

    #[test]
    fn an_entry_that_differs_from_its_manifest_is_refused_and_discarded() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("roots/base");
        let fresh = |name: &str| {
            let dir = tmp.path().join(name);
            fs::create_dir(&dir).unwrap();
            dir
        };

        // Stored with its manifest, restored and held as it was.
        let cache = stored(tmp.path(), &base, "good");
        let manifest = fs::read_to_string(base.join("good").join(MANIFEST)).unwrap();
        assert!(manifest.contains(" etc/issue\n"), "{manifest}");
        assert!(cache.restore(&fresh("copy")).unwrap());
        assert!(cache.hold_verified().is_some());

        // A file planted in the entry: the copy is refused, the entry gone.
        let planted = stored(tmp.path(), &base, "planted");
        fs::write(
            planted.entry.join("root/etc/cron.d-evil"),
            "* * * * * root sh",
        )
        .unwrap();
        let copy = fresh("copy-planted");
        assert!(!planted.restore(&copy).unwrap());
        assert_eq!(fs::read_dir(&copy).unwrap().count(), 0, "the copy emptied");
        assert!(!planted.is_stored() && !planted.entry.exists());

        // A file changed in the entry: not held for an overlay either.
        let changed = stored(tmp.path(), &base, "changed");
        fs::write(
            changed.entry.join("root/etc/issue"),
            "PWNED!! GNU/Linux 12\n",
        )
        .unwrap();
        assert!(changed.hold_verified().is_none());
        assert!(!changed.is_stored());

        // A file removed; and a manifest removed.
        let missing = stored(tmp.path(), &base, "missing");
        fs::remove_file(missing.entry.join("root/etc/hostname")).unwrap();
        assert!(!missing.restore(&fresh("copy-missing")).unwrap());
        assert!(!missing.is_stored());
        let unlisted = stored(tmp.path(), &base, "unlisted");
        fs::remove_file(unlisted.entry.join(MANIFEST)).unwrap();
        assert!(unlisted.hold_verified().is_none());
        assert!(!unlisted.is_stored());

        // Nothing left of the discarded entries, the good one kept.
        let names: Vec<String> = fs::read_dir(&base)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.starts_with('.')), "{names:?}");
    }

    #[test]
    fn a_discarded_entry_in_use_stays_until_released() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("roots/base");
        let cache = stored(tmp.path(), &base, "entry");
        let other_build = cache.hold_verified().unwrap();
        fs::write(cache.entry.join("root/etc/planted"), "x").unwrap();
        assert!(cache.hold_verified().is_none());
        // Out of the way of new builds at once, still there (aside) for
        // the build using it.
        assert!(!cache.is_stored());
        let aside: Vec<PathBuf> = fs::read_dir(&base)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(aside.len(), 1);
        assert!(aside[0].join("root/etc/issue").exists());
        drop(other_build);
        evict_unused(&tmp.path().join("roots"));
        assert_eq!(fs::read_dir(&base).unwrap().count(), 0);
    }
}
