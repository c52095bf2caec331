//! The owner of every file in the host's dpkg database, kept between scans in the scanner's
//! private cache ([`DIR`], root only), so that naming the packages of a scan's stale files costs
//! one read of about 12 bytes a file instead of every file list (7 MB, 12-15 ms on a desktop-
//! sized host). Like `dlocate`'s index, but never trusted when the database may have changed:
//! it is used only while dpkg's info directory and status file are the very ones it was built
//! from (device, inode, size, modification and change times: dpkg renames a new file list and
//! a new status file into place at every install, upgrade and removal), and it is written
//! only from lists that were read whole while neither moved, and at least a second after they
//! last changed (a change within the same clock tick could not be told apart).
//!
//! Pure: [`Table`] (built from the lists, encoded, decoded, asked). I/O: [`Cache`] (the stamps,
//! the file and its trust: a root-owned directory nobody else may write, a regular file
//! opened without following links, bounded in size).

use crate::packages::{self, Index};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Where the scanner keeps its cache of the host's owners (root only, mode 0700).
pub const DIR: &str = "/var/cache/fleetrestart-scan";
const FILE: &str = "owners";
const MAGIC: &[u8; 8] = b"FRSOWN1\n";
const MAX_BYTES: u64 = 64 << 20;
const STAMP_WORDS: usize = 9;

/// FNV-1a, 64 bits: the same on every run and every host. Two paths of one database that
/// collide (about one chance in 10^14 for 100,000 files) would share an owner.
fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// What says the database is the one a table was built from: the info directory's device,
/// inode, modification and change times, and the status file's device, inode, size,
/// modification and change times (nanoseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamps([i64; STAMP_WORDS]);

impl Stamps {
    /// The stamps of the dpkg database under `host`; `None` without one.
    pub fn read(host: &Path) -> Option<Stamps> {
        let info = std::fs::metadata(host.join("var/lib/dpkg/info")).ok()?;
        let status = std::fs::metadata(host.join("var/lib/dpkg/status")).ok()?;
        let ns = |s: i64, n: i64| s.saturating_mul(1_000_000_000).saturating_add(n);
        Some(Stamps([
            info.dev() as i64,
            info.ino() as i64,
            ns(info.mtime(), info.mtime_nsec()),
            ns(info.ctime(), info.ctime_nsec()),
            status.dev() as i64,
            status.ino() as i64,
            status.size() as i64,
            ns(status.mtime(), status.mtime_nsec()),
            ns(status.ctime(), status.ctime_nsec()),
        ]))
    }

    /// Did the database last change at least a second before `now_ns`?
    fn settled(&self, now_ns: i64) -> bool {
        [2, 3, 7, 8]
            .iter()
            .all(|&i| self.0[i] < now_ns.saturating_sub(1_000_000_000))
    }
}

/// Every file's owner: hashes of the canonical paths and of the sonames (`packages`), each
/// with the first package that lists it, as `Index::add_list` keeps the first; and every
/// package's init scripts.
#[derive(Debug, Default)]
pub struct Table {
    packages: Vec<String>,
    paths: Vec<(u64, u32)>,
    sonames: Vec<(u64, u32)>,
    init_scripts: Vec<(u32, String)>,
}

impl Table {
    /// Adds one package's file list (the bytes of `info/PKG[:ARCH].list`), in the order the
    /// lists are fed to the index.
    pub fn add_list(&mut self, package: &str, text: &[u8]) {
        let id = self.packages.len() as u32;
        self.packages.push(package.to_string());
        for line in text.split(|&b| b == b'\n') {
            let Ok(line) = std::str::from_utf8(line) else {
                continue;
            };
            if let Some(name) = packages::init_script(line) {
                self.init_scripts.push((id, name.to_string()));
            }
            if line.is_empty() {
                continue;
            }
            self.paths.push((hash(packages::canonical(line)), id));
            if let Some(k) = packages::soname_key(line) {
                self.sonames.push((hash(&k), id));
            }
        }
    }

    /// Sorted for lookup, the first owner of each hash kept (ids grow in the order the lists
    /// were fed).
    fn finish(&mut self) {
        for v in [&mut self.paths, &mut self.sonames] {
            v.sort_unstable();
            v.dedup_by_key(|e| e.0);
        }
    }

    /// The table and its stamps as the cache file holds them, little-endian: the header (magic,
    /// stamps, four counts), the path and soname records (hash, package id: 12 bytes each,
    /// sorted), each package name's offset, the names (length, bytes), the init scripts
    /// (package id, length, bytes).
    pub fn encode(&self, stamps: &Stamps) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        stamps.0.iter().for_each(|w| out.extend(w.to_le_bytes()));
        for n in [
            self.packages.len(),
            self.paths.len(),
            self.sonames.len(),
            self.init_scripts.len(),
        ] {
            out.extend((n as u32).to_le_bytes());
        }
        for (h, id) in self.paths.iter().chain(&self.sonames) {
            out.extend(h.to_le_bytes());
            out.extend(id.to_le_bytes());
        }
        let mut offset = 0u32;
        for p in &self.packages {
            out.extend(offset.to_le_bytes());
            offset += 4 + p.len() as u32;
        }
        let text = |out: &mut Vec<u8>, s: &str| {
            out.extend((s.len() as u32).to_le_bytes());
            out.extend(s.as_bytes());
        };
        self.packages.iter().for_each(|p| text(&mut out, p));
        for (id, name) in &self.init_scripts {
            out.extend(id.to_le_bytes());
            text(&mut out, name);
        }
        out
    }
}

const HEADER: usize = MAGIC.len() + 8 * STAMP_WORDS + 16;
const RECORD: usize = 12;

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn le64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// A length-prefixed text at `at`: the text and where the next one starts.
fn text_at(b: &[u8], at: usize) -> Option<(&str, usize)> {
    let n = le32(b, at)? as usize;
    let t = std::str::from_utf8(b.get(at + 4..at + 4 + n)?).ok()?;
    Some((t, at + 4 + n))
}

/// A cache file as read: asked in place, never decoded whole (a scan asks for a few dozen of
/// 100,000 files).
pub struct Stored {
    bytes: Vec<u8>,
    /// Packages, paths, sonames, init scripts.
    counts: [usize; 4],
    /// Where the names and the init scripts start.
    names: usize,
    init: usize,
}

impl Stored {
    /// What [`Table::encode`] wrote, with its stamps; `None` for anything else (another
    /// version, a cut or damaged file).
    pub fn parse(bytes: Vec<u8>) -> Option<(Stamps, Stored)> {
        if !bytes.starts_with(MAGIC) {
            return None;
        }
        let mut stamps = [0; STAMP_WORDS];
        for (i, w) in stamps.iter_mut().enumerate() {
            *w = le64(&bytes, MAGIC.len() + 8 * i)? as i64;
        }
        let at = MAGIC.len() + 8 * STAMP_WORDS;
        let counts = [0, 1, 2, 3].map(|i| le32(&bytes, at + 4 * i).unwrap_or(u32::MAX) as usize);
        let names = counts[1]
            .checked_add(counts[2])?
            .checked_mul(RECORD)?
            .checked_add(counts[0].checked_mul(4)?)?
            .checked_add(HEADER)?;
        let mut end = names;
        for _ in 0..counts[0] {
            end = text_at(&bytes, end)?.1;
        }
        let init = end;
        for _ in 0..counts[3] {
            le32(&bytes, end)?;
            end = text_at(&bytes, end + 4)?.1;
        }
        (end == bytes.len()).then_some((
            Stamps(stamps),
            Stored {
                bytes,
                counts,
                names,
                init,
            },
        ))
    }

    /// Record `i` of the paths (`section` 0) or the sonames (1): hash, package id.
    fn record(&self, section: usize, i: usize) -> Option<(u64, u32)> {
        let at = HEADER + RECORD * (i + section * self.counts[1]);
        Some((le64(&self.bytes, at)?, le32(&self.bytes, at + 8)?))
    }

    fn package(&self, id: u32) -> Option<&str> {
        let id = id as usize;
        if id >= self.counts[0] {
            return None;
        }
        let off = le32(&self.bytes, self.names - 4 * (self.counts[0] - id))? as usize;
        text_at(&self.bytes, self.names + off).map(|t| t.0)
    }

    /// The owner of `key` (a canonical path, or a soname key) by binary search.
    fn find(&self, section: usize, key: &str) -> Option<&str> {
        let h = hash(key);
        let (mut lo, mut hi) = (0, self.counts[1 + section]);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (k, id) = self.record(section, mid)?;
            match k.cmp(&h) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return self.package(id),
            }
        }
        None
    }

    /// Records in `ix` the owners of the files it wants and every init script.
    pub fn fill(&self, ix: &mut Index) {
        let paths: Vec<String> = ix.wanted().map(String::from).collect();
        for p in paths {
            if let Some(o) = self.find(0, &p) {
                ix.set_owner(p, o);
            }
        }
        let sonames: Vec<String> = ix.wanted_sonames().map(String::from).collect();
        for k in sonames {
            if let Some(o) = self.find(1, &k) {
                ix.set_soname_owner(k, o);
            }
        }
        let mut at = self.init;
        for _ in 0..self.counts[3] {
            let Some((id, (name, next))) =
                le32(&self.bytes, at).and_then(|id| Some((id, text_at(&self.bytes, at + 4)?)))
            else {
                return;
            };
            if let Some(p) = self.package(id) {
                ix.add_init_script(p, name);
            }
            at = next;
        }
    }
}

/// The cache of one host's owners: its directory and the stamps of the database now.
pub struct Cache {
    dir: PathBuf,
    host: PathBuf,
    stamps: Stamps,
}

/// Is `meta` root's (the scanner's) and writable by nobody else? (Sticky directories, like
/// `/tmp`, may be writable by all: nobody else may rename what root owns in them.)
fn root_only(meta: &std::fs::Metadata, sticky_ok: bool) -> bool {
    let mode = meta.permissions().mode();
    meta.uid() == 0 && (mode & 0o022 == 0 || (sticky_ok && mode & 0o1000 != 0))
}

impl Cache {
    /// The cache in `dir` for the database under `host`, when the scanner is root and `dir`
    /// (created mode 0700 if missing) and every directory above it are root's and writable by
    /// nobody else; `None` otherwise, or when `host` has no dpkg database.
    pub fn open(dir: &Path, host: &Path) -> Option<Cache> {
        // SAFETY: geteuid has no preconditions
        if unsafe { libc::geteuid() } != 0 {
            return None;
        }
        let stamps = Stamps::read(host)?;
        let _ = std::fs::DirBuilder::new().mode(0o700).create(dir);
        let own = std::fs::symlink_metadata(dir).ok()?;
        if !own.is_dir() || !root_only(&own, false) || own.permissions().mode() & 0o077 != 0 {
            return None;
        }
        let above = dir.ancestors().skip(1);
        above
            .map(std::fs::symlink_metadata)
            .all(|m| m.is_ok_and(|m| m.is_dir() && root_only(&m, true)))
            .then(|| Cache {
                dir: dir.to_path_buf(),
                host: host.to_path_buf(),
                stamps,
            })
    }

    /// Does the file hold the database as it is now? (Its stamps only: a scan that finds
    /// nothing stale reads no more of it.)
    pub fn fresh(&self) -> bool {
        let mut head = [0; MAGIC.len() + 8 * STAMP_WORDS];
        self.open_trusted()
            .and_then(|(mut f, _)| f.read_exact(&mut head).ok())
            .and_then(|_| head.strip_prefix(MAGIC))
            .is_some_and(|w| {
                w.chunks(8)
                    .zip(self.stamps.0)
                    .all(|(c, s)| c == s.to_le_bytes())
            })
    }

    /// The cache file, when it is root's alone, regular and bounded; with its size.
    fn open_trusted(&self) -> Option<(std::fs::File, u64)> {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(self.dir.join(FILE))
            .ok()?;
        let meta = f.metadata().ok()?;
        (meta.is_file() && root_only(&meta, false) && meta.len() <= MAX_BYTES)
            .then_some((f, meta.len()))
    }

    /// The table, when the file is trusted and was built from the database as it is now.
    pub fn load(&self) -> Option<Stored> {
        let (f, len) = self.open_trusted()?;
        let mut bytes = Vec::with_capacity(len as usize);
        f.take(MAX_BYTES).read_to_end(&mut bytes).ok()?;
        let (stamps, stored) = Stored::parse(bytes)?;
        (stamps == self.stamps).then_some(stored)
    }

    /// Keeps `table`, built from every list while the database had the stamps of
    /// [`Cache::open`], if they still hold and last moved more than a second ago. Written
    /// whole under a new name and renamed into place; a failure (read-only disk) keeps nothing.
    pub fn store(&self, mut table: Table) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64);
        if Stamps::read(&self.host) != Some(self.stamps) || !self.stamps.settled(now) {
            return;
        }
        table.finish();
        let tmp = self.dir.join(format!("{FILE}.{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .and_then(|mut f| f.write_all(&table.encode(&self.stamps)));
        if written
            .and_then(|_| std::fs::rename(&tmp, self.dir.join(FILE)))
            .is_err()
        {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        let mut t = Table::default();
        t.add_list(
            "libpcre2-8-0",
            b"/.\n/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0.11.2\n/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0\n",
        );
        t.add_list("cron", b"/.\n/etc/init.d/cron\n/usr/sbin/cron\n/opt/\xff\n");
        t.add_list("other", b"/usr/sbin/cron\n");
        t.finish();
        t
    }

    #[test]
    fn the_table_answers_as_the_lists_do_and_survives_its_encoding() {
        let t = table();
        let wanted = [
            "/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0.10.4",
            "/sbin/cron",
            "/opt/nobody",
        ];
        let mut from_lists = Index::new(wanted);
        from_lists.add_list("libpcre2-8-0", b"/.\n/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0.11.2\n/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0\n");
        from_lists.add_list("cron", b"/.\n/etc/init.d/cron\n/usr/sbin/cron\n/opt/\xff\n");
        from_lists.add_list("other", b"/usr/sbin/cron\n");
        let stamps = Stamps([1, 2, 3, 4, 5, 6, 7, 8, 9]);
        let (back_stamps, back) = Stored::parse(t.encode(&stamps)).unwrap();
        assert_eq!(back_stamps, stamps);
        let mut from_table = Index::new(wanted);
        back.fill(&mut from_table);
        for w in wanted {
            assert_eq!(from_table.owner(w), from_lists.owner(w), "{w}");
        }
        assert_eq!(from_table.owner("/sbin/cron"), Some("cron"));
        assert_eq!(from_table.init_scripts("cron"), ["cron".to_string()]);
        // a cut, damaged or foreign file is not a table
        let bytes = t.encode(&stamps);
        assert!(Stored::parse(bytes[..bytes.len() - 1].to_vec()).is_none());
        assert!(Stored::parse(b"FRSOWN0\n".to_vec()).is_none());
        let mut bad = bytes.clone();
        bad[8 + 8 * STAMP_WORDS] = 200; // more packages than the file holds
        assert!(Stored::parse(bad).is_none());
    }

    /// A dpkg database under `host` with one list; a cache beside it.
    fn host(name: &str) -> (PathBuf, PathBuf) {
        let base =
            std::env::temp_dir().join(format!("fr-ownercache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let info = base.join("host/var/lib/dpkg/info");
        std::fs::create_dir_all(&info).unwrap();
        std::fs::write(info.join("libfoo1:amd64.list"), "/usr/lib/libfoo.so.1\n").unwrap();
        std::fs::write(base.join("host/var/lib/dpkg/status"), "Package: libfoo1\n").unwrap();
        (base.join("host"), base.join("cache"))
    }

    /// The owner of `/usr/lib/libfoo.so.1` through the cache as the scan uses it: the cached
    /// table when it loads, else the lists (and the table kept).
    fn owner(host: &Path, cache: &Path) -> (Option<String>, bool) {
        let c = Cache::open(cache, host).unwrap();
        let mut ix = Index::new(["/usr/lib/libfoo.so.1"]);
        if let Some(t) = c.load() {
            t.fill(&mut ix);
            return (ix.owner("/usr/lib/libfoo.so.1").map(String::from), true);
        }
        let mut t = Table::default();
        packages::read_dpkg_into(&host.join("var/lib/dpkg/info"), &mut ix, Some(&mut t));
        c.store(t);
        (ix.owner("/usr/lib/libfoo.so.1").map(String::from), false)
    }

    #[test]
    fn the_cache_is_never_trusted_once_the_database_changed() {
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: the cache is root's");
            return;
        }
        let (h, c) = host("changed");
        let (h2, c2) = host("status");
        let (h3, c3) = host("mode");
        // the cache is kept only from a database that last changed more than a second ago
        assert_eq!(owner(&h, &c), (Some("libfoo1".into()), false));
        assert_eq!(owner(&h, &c), (Some("libfoo1".into()), false));
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let info = h.join("var/lib/dpkg/info");
        let list = info.join("libfoo1:amd64.list");
        assert_eq!(owner(&h, &c), (Some("libfoo1".into()), false));
        // the next scan reads the cache: a list rewritten in place, which dpkg never does,
        // goes unseen (this shows the cache is what answers)
        std::fs::write(&list, "/usr/lib/libbar.so.1\n").unwrap();
        assert_eq!(owner(&h, &c), (Some("libfoo1".into()), true));
        // dpkg installs a list under a new name and renames it into place: the info
        // directory changed, the cache is not used (and not rewritten within the second)
        std::fs::write(
            info.join("libfoo2:amd64.list-new"),
            "/usr/lib/libfoo.so.1\n",
        )
        .unwrap();
        std::fs::rename(
            info.join("libfoo2:amd64.list-new"),
            info.join("libfoo2:amd64.list"),
        )
        .unwrap();
        std::fs::remove_file(&list).unwrap();
        assert_eq!(owner(&h, &c), (Some("libfoo2".into()), false));
        assert_eq!(owner(&h, &c), (Some("libfoo2".into()), false));
        // a status file renamed into place alone changes the stamps too
        let (h, c) = (h2, c2);
        assert!(!owner(&h, &c).1);
        assert!(owner(&h, &c).1);
        let status = h.join("var/lib/dpkg/status");
        std::fs::write(status.with_extension("new"), "Package: libfoo1\n").unwrap();
        std::fs::rename(status.with_extension("new"), &status).unwrap();
        assert!(!owner(&h, &c).1);
        // a cache file anyone may write is not trusted
        let (h, c) = (h3, c3);
        owner(&h, &c);
        std::fs::set_permissions(c.join(FILE), std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(!owner(&h, &c).1);
        std::fs::set_permissions(&c, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(Cache::open(&c, &h).is_none());
        for h in ["changed", "status", "mode"] {
            let base =
                std::env::temp_dir().join(format!("fr-ownercache-{h}-{}", std::process::id()));
            std::fs::remove_dir_all(base).unwrap();
        }
    }
}
