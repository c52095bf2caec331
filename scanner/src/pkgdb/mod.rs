//! Package owners on hosts without dpkg, read from the package manager's own database files,
//! never by running it: rpm (sqlite or Berkeley DB), pacman, apk. Each database becomes
//! `(package, file list)` pairs fed to the same [`Index`] as dpkg's lists. I/O edge: [`read`];
//! the formats are pure ([`sqlite`], [`bdb`], [`rpm`], [`text`]), bounded and refuse garbage.

pub mod bdb;
pub mod rpm;
pub mod sqlite;
pub mod text;

use crate::packages::Index;
use std::path::Path;

/// Bounds on what is read.
const MAX_FILE_BYTES: u64 = 64 << 20;
const MAX_PACKAGES: usize = 20_000;

/// The database that was read, and what went wrong with it (owners may be missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub db: &'static str,
    pub problem: Option<String>,
}

/// Opens a regular file only (a FIFO in dpkg's `info/` or pacman's `local/` blocked
/// the scan forever in `open`). Opened without blocking, then checked by `fstat` on the open
/// file (no race with a swap between a check and the open); anything else is refused.
pub(crate) fn open_regular(p: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(p)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    Ok(f)
}

fn small_file(p: &Path) -> Option<String> {
    use std::io::Read as _;
    let f = open_regular(p).ok()?;
    let mut s = String::new();
    f.take(MAX_FILE_BYTES).read_to_string(&mut s).ok()?;
    Some(s)
}

/// Reads the first package database found under `root` into `ix` (none: no database known).
pub fn read(root: &Path, ix: &mut Index) -> Option<Read> {
    if let Some((backend, path)) = rpm::find(root) {
        return Some(read_rpm(backend, &path, ix));
    }
    let pacman = root.join("var/lib/pacman/local");
    if pacman.is_dir() {
        return Some(read_pacman(&pacman, ix));
    }
    let apk = root.join("lib/apk/db/installed");
    if apk.is_file() {
        let problem = match small_file(&apk) {
            Some(db) => {
                text::apk_packages(&db, &mut |name, files| ix.add_list(name, files.as_bytes()));
                None
            }
            None => Some("cannot read lib/apk/db/installed".into()),
        };
        return Some(Read { db: "apk", problem });
    }
    None
}

fn read_rpm(backend: rpm::Backend, path: &Path, ix: &mut Index) -> Read {
    let mut feed = |blob: &[u8]| {
        if let Some(h) = rpm::parse_header(blob) {
            let mut list = String::new();
            for f in &h.files {
                list.push_str(f);
                list.push('\n');
            }
            ix.add_list(&h.name, list.as_bytes());
        }
    };
    let opened = open_regular(path).and_then(|f| Ok((f.metadata()?.len(), f)));
    let (db, result) = match (backend, opened) {
        (rpm::Backend::Ndb, _) => (
            "rpm-ndb",
            Err("the ndb rpm database (SUSE) is not read".to_string()),
        ),
        (_, Err(e)) => ("rpm", Err(format!("cannot open {}: {e}", path.display()))),
        (rpm::Backend::Sqlite, Ok((len, f))) => {
            let mut r = rpm::sqlite_blobs(&f, len, &mut feed);
            let wal = path.with_file_name("rpmdb.sqlite-wal");
            if r.is_ok() && std::fs::metadata(wal).is_ok_and(|m| m.len() > 0) {
                r = Err("its write-ahead log is not empty (an rpm transaction is running or was interrupted): the newest changes are not read".into());
            }
            ("rpm-sqlite", r)
        }
        (rpm::Backend::Bdb, Ok((len, f))) => ("rpm-bdb", bdb::values(&f, len, &mut feed)),
    };
    Read {
        db,
        problem: result
            .err()
            .map(|e| format!("rpm database {}: {e}", path.display())),
    }
}

fn read_pacman(local: &Path, ix: &mut Index) -> Read {
    let Ok(dir) = std::fs::read_dir(local) else {
        return Read {
            db: "pacman",
            problem: Some("cannot list the pacman database".into()),
        };
    };
    let mut skipped = 0;
    for (n, e) in dir.flatten().enumerate() {
        if n >= MAX_PACKAGES {
            skipped += 1;
            continue;
        }
        let p = e.path();
        let (Some(desc), Some(files)) = (small_file(&p.join("desc")), small_file(&p.join("files")))
        else {
            continue;
        };
        if let Some(name) = text::pacman_name(&desc) {
            ix.add_list(name, text::pacman_files(&files).as_bytes());
        }
    }
    Read {
        db: "pacman",
        problem: (skipped > 0)
            .then(|| format!("{skipped} pacman packages past the bound were not read")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_at_once() {
        // opening a FIFO with no writer blocked the scan forever
        let d = std::env::temp_dir().join(format!("fr-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let fifo = d.join("cron.list");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let (tx, rx) = std::sync::mpsc::channel();
        let p = fifo.clone();
        std::thread::spawn(move || {
            let _ = tx.send((open_regular(&p).is_err(), small_file(&p).is_none()));
        });
        let got = rx.recv_timeout(std::time::Duration::from_secs(10));
        // (a blocked open is unblocked for the test's own cleanup)
        if got.is_err() {
            let _ = std::fs::OpenOptions::new().write(true).open(&fifo);
        }
        assert_eq!(got, Ok((true, true)), "the FIFO blocked or was read");
        std::fs::write(d.join("a.list"), "/usr/sbin/cron\n").unwrap();
        assert!(open_regular(&d.join("a.list")).is_ok());
        let _ = std::fs::remove_dir_all(&d);
    }
}
