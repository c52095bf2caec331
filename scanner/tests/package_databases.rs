//! Package owners from real databases made by the real tools (`tests/pkgdb/make-dbs.sh`: rpm
//! with rpmbuild'd packages into an sqlite rpmdb, the same headers into a Berkeley DB hash
//! written by db5.3_load, pacman --dbonly, and apk's format): the scanner's readers name the
//! owner of every file, including those of a header spread over overflow pages.

use fleetrestart_scan::packages::Index;
use fleetrestart_scan::pkgdb;
use std::path::PathBuf;

fn dbs() -> PathBuf {
    let out =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("pkgdbs-{}", std::process::id()));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/pkgdb/make-dbs.sh");
    let r = std::process::Command::new("bash")
        .arg(script)
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        r.status.success(),
        "make-dbs.sh (needs rpm, pacman-package-manager, db5.3-util, sqlite3: cargo xtask deps): {}{}",
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&r.stderr)
    );
    out
}

const BIG: &str = "/usr/lib/frbig/file-with-a-rather-long-name-number-377";

#[test]
fn every_database_names_the_owners() {
    let out = dbs();
    for (dir, db) in [
        ("rpm-sqlite", "rpm-sqlite"),
        ("rpm-bdb", "rpm-bdb"),
        ("pacman", "pacman"),
        ("apk", "apk"),
    ] {
        let mut ix = Index::new([
            "/usr/sbin/cron",
            BIG,
            // the library as a process maps it after an upgrade renamed it: by soname
            "/usr/lib/x86_64-linux-gnu/libfrtest.so.1.2.2",
            "/usr/bin/nobody-owns-this",
        ]);
        let read = pkgdb::read(&out.join(dir), &mut ix);
        assert_eq!(read, Some(pkgdb::Read { db, problem: None }), "{dir}");
        assert_eq!(ix.owner("/usr/sbin/cron"), Some("fr-cron"), "{dir}");
        assert_eq!(ix.owner(BIG), Some("fr-cron"), "{dir}");
        assert_eq!(
            ix.owner("/usr/lib/x86_64-linux-gnu/libfrtest.so.1.2.2"),
            Some("fr-lib"),
            "{dir}"
        );
        assert_eq!(ix.owner("/usr/bin/nobody-owns-this"), None, "{dir}");
    }
    // a non-empty write-ahead log: read, and said to be possibly out of date
    let wal = out.join("rpm-sqlite/var/lib/rpm/rpmdb.sqlite-wal");
    std::fs::write(&wal, b"frames").unwrap();
    let mut ix = Index::new(["/usr/sbin/cron"]);
    let r = pkgdb::read(&out.join("rpm-sqlite"), &mut ix).unwrap();
    assert!(r.problem.unwrap().contains("write-ahead log"));
    assert_eq!(ix.owner("/usr/sbin/cron"), Some("fr-cron"));
    // a damaged database: an error, no panic, nothing invented
    let pk = out.join("rpm-bdb/var/lib/rpm/Packages");
    let mut bytes = std::fs::read(&pk).unwrap();
    for b in bytes.iter_mut().skip(4096).step_by(7) {
        *b ^= 0x5a;
    }
    std::fs::write(&pk, &bytes).unwrap();
    let mut ix = Index::new(["/usr/sbin/cron"]);
    let r = pkgdb::read(&out.join("rpm-bdb"), &mut ix).unwrap();
    assert!(r.problem.is_some() || ix.owner("/usr/sbin/cron").is_none());
    assert_eq!(pkgdb::read(&out.join("nothing-here"), &mut ix), None);
    std::fs::remove_dir_all(&out).unwrap();
}
