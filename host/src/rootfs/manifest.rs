//! The manifest of a root: every path below it with its type, mode, owner,
//! size, the SHA-256 of a regular file's bytes, a symlink's target and a
//! device's number. A prepared-root cache entry keeps one, written when the
//! entry is stored and checked when it is used: a file planted in the entry,
//! changed, removed or given another mode or owner is found, and the first
//! difference named. Every build writes one beside its artifacts
//! (`<image>.<arch>-<version>.files`), which `builder diff` compares. Files
//! are hashed on as many threads as the machine has (a 300 MB Debian root:
//! about a second).

use std::fs;
use std::io::{self, BufRead, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::Context;
use sha2::{Digest, Sha256};

/// The first line of a manifest file.
const HEADER: &str = "builder-root-manifest-1";

/// One path below the root.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    /// Relative to the root, escaped (see [`escape`]).
    path: String,
    /// `f`, `d`, `l`, `c`, `b`, `p` or `s`.
    kind: char,
    /// Permission bits with setuid, setgid and sticky.
    mode: u32,
    uid: u32,
    gid: u32,
    /// Regular files and symlinks; 0 for the rest.
    size: u64,
    /// A file's SHA-256 (hex), a symlink's target (escaped), a device's
    /// number; `-` for the rest.
    detail: String,
}

impl Record {
    fn line(&self) -> String {
        format!(
            "{} {:o} {} {} {} {} {}",
            self.kind, self.mode, self.uid, self.gid, self.size, self.detail, self.path
        )
    }

    fn parse(line: &str) -> Option<Record> {
        let mut fields = line.splitn(7, ' ');
        let kind = fields.next()?.chars().next()?;
        Some(Record {
            kind,
            mode: u32::from_str_radix(fields.next()?, 8).ok()?,
            uid: fields.next()?.parse().ok()?,
            gid: fields.next()?.parse().ok()?,
            size: fields.next()?.parse().ok()?,
            detail: fields.next()?.to_string(),
            path: fields.next()?.to_string(),
        })
    }
}

/// What a root held when its manifest was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Sorted by path.
    records: Vec<Record>,
}

/// The first way a root differs from its manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("/{path}: {what}")]
pub struct Difference {
    /// The path, relative to the root (escaped as in the manifest).
    pub path: String,
    /// How it differs.
    pub what: String,
}

impl Manifest {
    /// The manifest of the tree at `root`, files hashed in parallel.
    pub fn of(root: &Path) -> anyhow::Result<Manifest> {
        let (mut records, files) = walk(root)?;
        let digests = hash_all(&files, None)?;
        for ((index, _), digest) in files.iter().zip(digests) {
            records[*index].detail = digest.unwrap_or_default();
        }
        Ok(Manifest { records })
    }

    /// Its text: the header line, then one line per path.
    pub fn to_text(&self) -> String {
        let mut text = format!("{HEADER}\n");
        for record in &self.records {
            text.push_str(&record.line());
            text.push('\n');
        }
        text
    }

    /// Reads a manifest's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> anyhow::Result<Manifest> {
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            anyhow::bail!("{origin} is not a root manifest (no `{HEADER}` line)");
        }
        let records = lines
            .enumerate()
            .map(|(number, line)| {
                Record::parse(line)
                    .with_context(|| format!("{origin} line {}: not a manifest line", number + 2))
            })
            .collect::<anyhow::Result<Vec<Record>>>()?;
        Ok(Manifest { records })
    }

    /// The bytes of its regular files, together.
    pub fn file_bytes(&self) -> u64 {
        self.records
            .iter()
            .filter(|r| r.kind == 'f')
            .map(|r| r.size)
            .sum()
    }

    /// What changed from this manifest to `newer`, in path order.
    pub fn changes(&self, newer: &Manifest) -> Vec<PathChange> {
        let mut changes = Vec::new();
        let (mut old, mut new) = (
            self.records.iter().peekable(),
            newer.records.iter().peekable(),
        );
        loop {
            let change = match (old.peek(), new.peek()) {
                (None, None) => break,
                (Some(was), Some(now)) if was.path == now.path => {
                    let (was, now) = (old.next().unwrap(), new.next().unwrap());
                    let what = record_changes(was, now);
                    if what.is_empty() {
                        continue;
                    }
                    PathChange {
                        path: now.path.clone(),
                        change: Change::Changed(what),
                        old_size: Some(was.size),
                        new_size: Some(now.size),
                    }
                }
                (Some(was), Some(now)) if was.path > now.path => added(new.next().unwrap()),
                (None, Some(_)) => added(new.next().unwrap()),
                (Some(_), _) => {
                    let was = old.next().unwrap();
                    PathChange {
                        path: was.path.clone(),
                        change: Change::Removed,
                        old_size: Some(was.size),
                        new_size: None,
                    }
                }
            };
            changes.push(change);
        }
        changes
    }

    /// Writes it to `path`.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let mut out = io::BufWriter::new(
            fs::File::create(path)
                .with_context(|| format!("root cache: writing the manifest {}", path.display()))?,
        );
        writeln!(out, "{HEADER}")?;
        for record in &self.records {
            writeln!(out, "{}", record.line())?;
        }
        out.into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .with_context(|| format!("root cache: writing the manifest {}", path.display()))
    }

    /// Reads the manifest at `path`.
    pub fn read(path: &Path) -> anyhow::Result<Manifest> {
        let file = fs::File::open(path)
            .with_context(|| format!("root cache: reading the manifest {}", path.display()))?;
        let mut lines = io::BufReader::new(file).lines();
        let header = lines.next().transpose()?;
        if header.as_deref() != Some(HEADER) {
            anyhow::bail!(
                "root cache: {} is not a manifest (no `{HEADER}` line)",
                path.display()
            );
        }
        let mut records = Vec::new();
        for (number, line) in lines.enumerate() {
            let line = line
                .with_context(|| format!("root cache: reading the manifest {}", path.display()))?;
            let record = Record::parse(&line).with_context(|| {
                format!(
                    "root cache: {} line {}: not a manifest line",
                    path.display(),
                    number + 2
                )
            })?;
            records.push(record);
        }
        Ok(Manifest { records })
    }

    /// How many paths it lists.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether it lists nothing.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Checks the tree at `root` against the manifest: `Ok(Err(..))` with
    /// the first difference (in path order, metadata before content);
    /// `Err` when the tree cannot be read.
    pub fn check(&self, root: &Path) -> anyhow::Result<Result<(), Difference>> {
        let (records, files) = walk(root)?;
        let (mut mine, mut theirs) = (self.records.iter().peekable(), records.iter().peekable());
        loop {
            let differs = |path: &str, what: String| {
                Ok(Err(Difference {
                    path: path.to_string(),
                    what,
                }))
            };
            match (mine.peek(), theirs.peek()) {
                (None, None) => break,
                (Some(want), None) => return differs(&want.path, "missing".into()),
                (None, Some(have)) => {
                    return differs(&have.path, "not in the manifest (planted)".into())
                }
                (Some(want), Some(have)) if want.path < have.path => {
                    return differs(&want.path, "missing".into())
                }
                (Some(want), Some(have)) if want.path > have.path => {
                    return differs(&have.path, "not in the manifest (planted)".into())
                }
                (Some(want), Some(have)) => {
                    if let Some(what) = metadata_difference(want, have) {
                        return differs(&want.path, what);
                    }
                    mine.next();
                    theirs.next();
                }
            }
        }
        // Same paths and metadata: the contents, in parallel, stopping at
        // the first file that differs.
        let expected: Vec<&str> = files
            .iter()
            .map(|(index, _)| self.records[*index].detail.as_str())
            .collect();
        let digests = hash_all(&files, Some(&expected))?;
        for (((index, _), digest), want) in files.iter().zip(digests).zip(expected) {
            if digest.is_some_and(|d| d != want) {
                return Ok(Err(Difference {
                    path: records[*index].path.clone(),
                    what: "its content differs from what was stored".into(),
                }));
            }
        }
        Ok(Ok(()))
    }
}

/// One path that differs between two manifests.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PathChange {
    /// Relative to the root, escaped as in the manifest.
    pub path: String,
    /// Added, removed, or what changed.
    pub change: Change,
    /// Its size before (regular files and symlinks), when it was there.
    pub old_size: Option<u64>,
    /// Its size after, when it is there.
    pub new_size: Option<u64>,
}

/// How a path changed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// Only in the newer root.
    Added,
    /// Only in the older root.
    Removed,
    /// In both, differing in these aspects: `type`, `mode`, `owner`,
    /// `content`, `target` (a symlink's) or `device`.
    Changed(Vec<&'static str>),
}

fn added(now: &Record) -> PathChange {
    PathChange {
        path: now.path.clone(),
        change: Change::Added,
        old_size: None,
        new_size: Some(now.size),
    }
}

/// The aspects in which one path's two records differ.
fn record_changes(was: &Record, now: &Record) -> Vec<&'static str> {
    if was.kind != now.kind {
        return vec!["type"];
    }
    let mut what = Vec::new();
    if was.mode != now.mode {
        what.push("mode");
    }
    if (was.uid, was.gid) != (now.uid, now.gid) {
        what.push("owner");
    }
    if was.size != now.size || was.detail != now.detail {
        what.push(match was.kind {
            'f' => "content",
            'l' => "target",
            _ => "device",
        });
    }
    what
}

/// How `have` differs from `want` (same path), but for a file's content.
fn metadata_difference(want: &Record, have: &Record) -> Option<String> {
    if want.kind != have.kind {
        return Some(format!(
            "a {} where the manifest has a {}",
            kind_name(have.kind),
            kind_name(want.kind)
        ));
    }
    if want.mode != have.mode {
        return Some(format!(
            "mode {:04o} where the manifest has {:04o}",
            have.mode, want.mode
        ));
    }
    if (want.uid, want.gid) != (have.uid, have.gid) {
        return Some(format!(
            "owner {}:{} where the manifest has {}:{}",
            have.uid, have.gid, want.uid, want.gid
        ));
    }
    if want.size != have.size {
        return Some(format!(
            "{} bytes where the manifest has {}",
            have.size, want.size
        ));
    }
    // A file's digest is compared afterwards; everything else here.
    if want.kind != 'f' && want.detail != have.detail {
        return Some(format!(
            "`{}` where the manifest has `{}`",
            have.detail, want.detail
        ));
    }
    None
}

fn kind_name(kind: char) -> &'static str {
    match kind {
        'f' => "regular file",
        'd' => "directory",
        'l' => "symlink",
        'c' => "character device",
        'b' => "block device",
        'p' => "fifo",
        _ => "socket",
    }
}

/// Every path below `root` (not `root` itself), sorted, without file
/// digests; and the regular files to hash (index into the records, path).
type Walked = (Vec<Record>, Vec<(usize, PathBuf)>);

fn walk(root: &Path) -> anyhow::Result<Walked> {
    let device = fs::symlink_metadata(root)
        .with_context(|| format!("root cache: reading {}", root.display()))?
        .dev();
    let mut records = Vec::new();
    let mut paths = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries =
            fs::read_dir(&dir).with_context(|| format!("root cache: reading {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("root cache: reading {}", dir.display()))?;
            let path = entry.path();
            let meta = fs::symlink_metadata(&path)
                .with_context(|| format!("root cache: reading {}", path.display()))?;
            let kind = meta.file_type();
            let rel = path.strip_prefix(root).expect("below the root");
            let (letter, size, detail) = if kind.is_file() {
                ('f', meta.size(), String::new())
            } else if kind.is_dir() {
                if meta.dev() != device {
                    anyhow::bail!(
                        "root cache: {} is another filesystem (mounted); an entry has none",
                        path.display()
                    );
                }
                stack.push(path.clone());
                ('d', 0, "-".to_string())
            } else if kind.is_symlink() {
                let target = fs::read_link(&path)
                    .with_context(|| format!("root cache: reading {}", path.display()))?;
                ('l', meta.size(), escape(target.as_os_str().as_bytes()))
            } else if kind.is_char_device() {
                ('c', 0, meta.rdev().to_string())
            } else if kind.is_block_device() {
                ('b', 0, meta.rdev().to_string())
            } else if kind.is_fifo() {
                ('p', 0, "-".to_string())
            } else {
                ('s', 0, "-".to_string())
            };
            records.push(Record {
                path: escape(rel.as_os_str().as_bytes()),
                kind: letter,
                mode: meta.mode() & 0o7777,
                uid: meta.uid(),
                gid: meta.gid(),
                size,
                detail,
            });
            paths.push(path);
        }
    }
    let mut order: Vec<usize> = (0..records.len()).collect();
    order.sort_by(|a, b| records[*a].path.cmp(&records[*b].path));
    let mut sorted = Vec::with_capacity(records.len());
    let mut files = Vec::new();
    for old in order {
        if records[old].kind == 'f' {
            files.push((sorted.len(), std::mem::take(&mut paths[old])));
        }
        sorted.push(records[old].clone());
    }
    Ok((sorted, files))
}

/// The SHA-256 (hex) of each file, on one thread per core. With `expected`
/// digests, stops at the first file that differs (the files not hashed
/// then are `None`).
fn hash_all(
    files: &[(usize, PathBuf)],
    expected: Option<&[&str]>,
) -> anyhow::Result<Vec<Option<String>>> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(files.len().max(1));
    let next = AtomicUsize::new(0);
    let differs = AtomicBool::new(false);
    let results: Vec<std::sync::Mutex<Option<String>>> =
        files.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let failed = std::sync::Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut buffer = vec![0u8; 256 << 10];
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= files.len() || differs.load(Ordering::Relaxed) {
                        return;
                    }
                    match sha256_file(&files[i].1, &mut buffer) {
                        Ok(digest) => {
                            if expected.is_some_and(|e| e[i] != digest) {
                                differs.store(true, Ordering::Relaxed);
                            }
                            *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(digest);
                        }
                        Err(e) => {
                            let e = anyhow::Error::from(e)
                                .context(format!("root cache: hashing {}", files[i].1.display()));
                            failed
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .get_or_insert(e);
                            differs.store(true, Ordering::Relaxed);
                            return;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    Ok(results
        .into_iter()
        .map(|r| r.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect())
}

fn sha256_file(path: &Path, buffer: &mut [u8]) -> io::Result<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)?;
    let mut hasher = Sha256::new();
    loop {
        match file.read(buffer) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buffer[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Bytes as one manifest field: printable ASCII but for space and `\` as
/// they are, everything else `\xHH`.
fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_graphic() && b != b'\\' {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn tree(dir: &Path) {
        fs::create_dir_all(dir.join("etc/sub dir")).unwrap();
        fs::write(dir.join("etc/issue"), "Debian GNU/Linux 12\n").unwrap();
        fs::write(dir.join("etc/sub dir/odd\nname"), "x").unwrap();
        fs::hard_link(dir.join("etc/issue"), dir.join("etc/issue.net")).unwrap();
        std::os::unix::fs::symlink("../usr/lib/os-release", dir.join("etc/os-release")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            dir.join("etc/fifo"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        for i in 0..50 {
            fs::write(dir.join(format!("etc/f{i}")), vec![i as u8; 1000 * i]).unwrap();
        }
    }

    #[test]
    fn two_manifests_name_what_was_added_removed_and_changed() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        tree(&root);
        let before = Manifest::of(&root).unwrap();
        fs::write(root.join("etc/issue"), "Debian GNU/Linux 13\n").unwrap();
        fs::set_permissions(root.join("etc/f3"), fs::Permissions::from_mode(0o600)).unwrap();
        fs::remove_file(root.join("etc/f9")).unwrap();
        fs::write(root.join("etc/new"), "12345").unwrap();
        fs::remove_file(root.join("etc/os-release")).unwrap();
        std::os::unix::fs::symlink("../elsewhere", root.join("etc/os-release")).unwrap();
        fs::remove_file(root.join("etc/f1")).unwrap();
        fs::create_dir(root.join("etc/f1")).unwrap();
        let after = Manifest::parse(&Manifest::of(&root).unwrap().to_text(), "after").unwrap();
        let summary: Vec<String> = before
            .changes(&after)
            .iter()
            .map(|c| {
                format!(
                    "{} {:?} {:?}->{:?}",
                    c.path, c.change, c.old_size, c.new_size
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                "etc/f1 Changed([\"type\"]) Some(1000)->Some(0)",
                "etc/f3 Changed([\"mode\"]) Some(3000)->Some(3000)",
                "etc/f9 Removed Some(9000)->None",
                "etc/issue Changed([\"content\"]) Some(20)->Some(20)",
                // A hard link to it.
                "etc/issue.net Changed([\"content\"]) Some(20)->Some(20)",
                "etc/new Added None->Some(5)",
                "etc/os-release Changed([\"target\"]) Some(21)->Some(12)",
            ]
        );
        assert_eq!(after.changes(&after), []);
        assert_eq!(before.file_bytes() - 1000 - 9000 + 5, after.file_bytes());
        let broken = Manifest::parse("builder-root-manifest-1\nf 644 0 0 x\n", "old.files");
        assert_eq!(
            format!("{:#}", broken.unwrap_err()),
            "old.files line 2: not a manifest line"
        );
    }

    fn differs(manifest: &Manifest, root: &Path) -> String {
        manifest.check(root).unwrap().unwrap_err().to_string()
    }

    #[test]
    fn a_root_matches_its_manifest_until_it_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        tree(&root);
        let manifest = Manifest::of(&root).unwrap();
        assert_eq!(manifest.len(), 57);
        let file = tmp.path().join("manifest");
        manifest.write(&file).unwrap();
        let read = Manifest::read(&file).unwrap();
        assert_eq!(read, manifest);
        assert_eq!(read.check(&root).unwrap(), Ok(()));

        fs::write(root.join("etc/planted"), "PWNED!!").unwrap();
        assert_eq!(
            differs(&read, &root),
            "/etc/planted: not in the manifest (planted)"
        );
        fs::remove_file(root.join("etc/planted")).unwrap();

        // Same size, other bytes.
        fs::write(root.join("etc/issue"), "PWNED! GNU/Linux 12\n").unwrap();
        assert_eq!(
            differs(&read, &root),
            "/etc/issue: its content differs from what was stored"
        );
        fs::write(root.join("etc/issue"), "Debian GNU/Linux 12\n").unwrap();
        assert_eq!(read.check(&root).unwrap(), Ok(()));

        fs::remove_file(root.join("etc/f7")).unwrap();
        assert_eq!(differs(&read, &root), "/etc/f7: missing");
        fs::write(root.join("etc/f7"), vec![7u8; 7000]).unwrap();

        fs::set_permissions(root.join("etc/f8"), fs::Permissions::from_mode(0o4755)).unwrap();
        assert_eq!(
            differs(&read, &root),
            "/etc/f8: mode 4755 where the manifest has 0644"
        );
        fs::set_permissions(root.join("etc/f8"), fs::Permissions::from_mode(0o644)).unwrap();

        std::os::unix::fs::chown(root.join("etc/f9"), Some(1000), None).unwrap();
        assert_eq!(
            differs(&read, &root),
            "/etc/f9: owner 1000:0 where the manifest has 0:0"
        );
        std::os::unix::fs::chown(root.join("etc/f9"), Some(0), None).unwrap();

        fs::remove_file(root.join("etc/os-release")).unwrap();
        std::os::unix::fs::symlink("/etc/shadow", root.join("etc/os-release")).unwrap();
        assert!(differs(&read, &root).starts_with("/etc/os-release: "));
        fs::remove_file(root.join("etc/os-release")).unwrap();
        std::os::unix::fs::symlink("../usr/lib/os-release", root.join("etc/os-release")).unwrap();

        assert_eq!(read.check(&root).unwrap(), Ok(()));
        // A name with a newline stays one line.
        assert!(fs::read_to_string(&file)
            .unwrap()
            .contains("etc/sub\\x20dir/odd\\x0aname"));
    }

    #[test]
    fn a_damaged_manifest_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("manifest");
        fs::write(&file, "something else\n").unwrap();
        assert!(Manifest::read(&file).is_err());
        fs::write(&file, format!("{HEADER}\nf 644 0 0\n")).unwrap();
        let e = Manifest::read(&file).unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
    }
}
