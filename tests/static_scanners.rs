//! The static scanners themselves: statically linked, within the size budget, and the aarch64
//! build gives a valid report when run under qemu-user.

mod common;

use fleetrestart_scan::report::{Report, SCHEMA_VERSION};
use std::process::Command;

#[test]
fn both_scanners_are_static_and_small() {
    let dir = common::scanner_dir();
    for (arch, machine) in [("x86_64", "x86-64"), ("aarch64", "ARM aarch64")] {
        let f = dir.join(format!("fleetrestart-scan-{arch}"));
        let size = std::fs::metadata(&f).unwrap().len();
        assert!(size <= 1 << 20, "{} is {size} bytes", f.display());
        let out = Command::new("file")
            .arg("-b")
            .arg(&f)
            .output()
            .expect("file(1) installed");
        let desc = String::from_utf8_lossy(&out.stdout);
        assert!(desc.contains(machine), "{desc}");
        assert!(
            desc.contains("statically linked") || desc.contains("static-pie linked"),
            "{desc}"
        );
    }
}

#[test]
fn aarch64_scanner_runs_under_qemu_and_reports() {
    let f = common::scanner_dir().join("fleetrestart-scan-aarch64");
    let out = Command::new("qemu-aarch64")
        .arg(&f)
        .args(["--format", "json", "--no-packages"])
        .output()
        .expect("qemu-aarch64 (apt qemu-user)");
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "status {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Report = serde_json::from_slice(&out.stdout).expect("valid report");
    assert_eq!(r.schema_version, SCHEMA_VERSION);
    assert_eq!(r.host.arch, "aarch64");
    assert!(r.processes_scanned > 0);
    let v = Command::new("qemu-aarch64")
        .arg(&f)
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&v.stdout).trim(),
        format!("fleetrestart-scan {}", env!("CARGO_PKG_VERSION"))
    );
}
