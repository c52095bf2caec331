//! The benchmark commands of `cargo xtask` (results go to BENCHMARKS.md with the command that
//! produced them). I/O: installs what each needs, builds, runs the bench/ scripts.

use crate::{ansible, apt_install, cargo, deps, root, run, scanners};
use std::path::PathBuf;
use std::process::{exit, Command};

type Args = std::iter::Skip<std::env::Args>;

/// `bench-scan [N...]`: the scanner against the floor and its peers, on two CPUs and on one.
pub fn scan(args: Args) {
    deps();
    apt_install(&["needrestart", "debian-goodies", "time"]);
    let dir = scanners();
    let bench = root().join("bench/scan_vs_peers.py");
    let scanner = dir.join("fleetrestart-scan-x86_64");
    let args: Vec<String> = args.collect();
    run(Command::new("python3")
        .arg(&bench)
        .arg(&scanner)
        .args(&args));
    // again on one CPU: a busy host has no spare core for the lists' read-ahead
    eprintln!("xtask: the same, pinned to one CPU (taskset -c 0)");
    run(Command::new("taskset")
        .args(["-c", "0", "python3"])
        .arg(&bench)
        .arg(&scanner)
        .args(&args));
}

/// `bench-scan-host [--perl] [N...]`: the same inside testbed host h1 (systemd, real services).
pub fn scan_host(args: Args) {
    // the same benchmark inside a testbed host: systemd, real services, needrestart in place
    deps();
    let dir = scanners();
    let tb = root().join("tests/testbed/testbed.sh");
    run(Command::new("bash").arg(&tb).args(["start", "1"]));
    let base = std::env::var("TB_BASE").unwrap_or_else(|_| "/var/lib/fleetrestart-testbed".into());
    let host_root = PathBuf::from(base).join("hosts/h1/merged/root");
    let host_root = host_root.as_path();
    std::fs::copy(
        dir.join("fleetrestart-scan-x86_64"),
        host_root.join("fleetrestart-scan"),
    )
    .unwrap();
    std::fs::copy(
        root().join("bench/scan_vs_peers.py"),
        host_root.join("scan_vs_peers.py"),
    )
    .unwrap();
    let sizes: Vec<String> = args.collect();
    // pasted into a remote shell command: numbers and --perl only
    if let Some(bad) = sizes
        .iter()
        .find(|a| *a != "--perl" && !a.bytes().all(|b| b.is_ascii_digit()))
    {
        eprintln!("xtask: bench-scan-host takes [--perl] N...; not {bad:?}");
        exit(2);
    }
    let cmd = format!(
        "python3 /root/scan_vs_peers.py /root/fleetrestart-scan {}",
        sizes.join(" ")
    );
    run(Command::new("bash").arg(&tb).args(["ssh", "1", &cmd]));
}

/// `bench-testbed N`: booting N testbed hosts.
pub fn testbed(args: Args) {
    deps();
    run(Command::new("bash")
        .arg(root().join("bench/testbed_boot.sh"))
        .args(args));
}

/// `bench-audit [N...]`: the fleet audit against the ssh floor, parallel-ssh and ansible-core.
pub fn audit(args: Args) {
    // the fleet audit against the ssh floor, parallel-ssh and ansible-core (PyPI, venv)
    deps();
    apt_install(&["pssh", "python3-venv"]);
    let dir = scanners();
    run(cargo().args(["build", "--release", "--bin", "fleetrestart"]));
    let venv = ansible::venv();
    // the collection, installed for the module series
    let tarball = ansible::collection(&dir);
    let colls = root().join("target/bench/collections");
    let _ = std::fs::remove_dir_all(&colls);
    run(Command::new(venv.join("bin/ansible-galaxy"))
        .args(["collection", "install", "--force", "-p"])
        .arg(&colls)
        .arg(&tarball));
    run(Command::new("python3")
        .env("FR_COLLECTIONS", &colls)
        .arg(root().join("bench/audit_vs_peers.py"))
        .arg(root().join("target/release/fleetrestart"))
        .arg(&dir)
        .arg(&venv)
        .args(args));
}

/// `bench-scale [N...]`: the controller at 10 to 1000 light endpoints.
pub fn scale(args: Args) {
    // the controller at 10 to 1000 light endpoints, against the floor and parallel-ssh
    deps();
    apt_install(&["pssh"]);
    let dir = scanners();
    run(cargo().args(["build", "--release", "--bin", "fleetrestart"]));
    run(Command::new("python3")
        .arg(root().join("bench/scale.py"))
        .arg(root().join("target/release/fleetrestart"))
        .arg(&dir)
        .args(args));
}

/// `bench-campaign [N...]`: controller time per batch of a restart campaign.
pub fn campaign(args: Args) {
    // controller time per batch of a restart campaign on the testbed
    deps();
    let dir = scanners();
    run(cargo().args(["build", "--release", "--bin", "fleetrestart"]));
    run(Command::new("python3")
        .arg(root().join("bench/campaign_overhead.py"))
        .arg(root().join("target/release/fleetrestart"))
        .arg(&dir)
        .args(args));
}
