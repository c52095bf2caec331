//! What the scanner reads from a host's package databases and CPU files, which it does not
//! trust: an rpm database as sqlite (b-tree pages, overflow chains, records) or Berkeley DB
//! (hash pages, overflow chains), rpm header blobs, pacman and apk text databases, the
//! microcode files and `/proc/cpuinfo`, and `/proc/PID/stat`.
#![no_main]
use fleetrestart_scan::{microcode, pkgdb, procread};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut headers = |blob: &[u8]| {
        let _ = pkgdb::rpm::parse_header(blob);
    };
    let _ = pkgdb::rpm::sqlite_blobs(data, data.len() as u64, &mut headers);
    let _ = pkgdb::bdb::values(data, data.len() as u64, &mut headers);
    let _ = pkgdb::rpm::parse_header(data);
    let text = String::from_utf8_lossy(data);
    let _ = pkgdb::text::pacman_name(&text);
    let _ = pkgdb::text::pacman_files(&text);
    pkgdb::text::apk_packages(&text, &mut |_, _| {});
    let _ = microcode::parse_cpuinfo(&text);
    let _ = microcode::intel_revisions(data);
    let _ = microcode::amd_revisions(data, 0x0083_0f10);
    let _ = procread::parse_stat(&text);
});
