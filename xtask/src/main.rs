//! Developer tasks: `cargo xtask <task>`.
//!
//! - `deps`      install what builds and tests need (rustup targets, apt packages); idempotent
//! - `scanners`  build the static scanners (x86_64 and aarch64 musl) into target/scanners/ and
//!   check that each is statically linked and at most 1 MiB
//! - `dist`      scanners + a release controller that embeds them: target/dist/fleetrestart,
//!   with shell completions (target/dist/completions) and man pages (target/dist/man)
//! - `audit`     dist, then `fleetrestart audit ARGS...` on this machine (README's first command)
//! - `test`      deps, scanners, fmt check, clippy, every test, and a short run of every fuzz
//!   target (README's second command)
//! - `collection` scanners + the `fleetrestart.fleet` Ansible collection tarball
//!   (target/collection/fleetrestart-fleet-VERSION.tar.gz), built with ansible-galaxy
//! - `fuzz SECONDS [--jobs N] [TARGET...]`  build the fuzz targets (fuzz/) and run each for
//!   SECONDS (FUZZING.md)
//! - `bench-scan-host [--perl] [N...]`  the same inside a testbed host (systemd, real services);
//!   `--perl`: the helpers are Perl daemons whose script is replaced
//! - `bench-audit [N...]`  fleet audit of N testbed hosts against the ssh floor, parallel-ssh, ansible
//! - `bench-scale [--forks F] [--runs R] [--no-campaign | --campaign-only] [N...]`  audit of N light endpoints
//!   (controller wall, CPU, peak RSS) against the floor and parallel-ssh; 300 behind a bastion;
//!   a campaign over the largest N, its journal replay, SIGKILL and resume
//! - `bench-testbed N [--corpus]`  boot N testbed hosts (and start the real-daemon corpus on each):
//!   boot time and memory per host (BENCHMARKS.md)
//! - `bench-scan [--perl] [N...]`  the scanner against needrestart and checkrestart on N extra processes,
//!   with two CPUs and pinned to one (installs the peers; results are printed as Markdown tables
//!   for BENCHMARKS.md)

mod ansible;
mod bench;
mod fuzz;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::{exit, Command};

const TARGETS: &[(&str, &str)] = &[
    ("x86_64", "x86_64-unknown-linux-musl"),
    ("aarch64", "aarch64-unknown-linux-musl"),
];
const MAX_SCANNER_BYTES: u64 = 1 << 20;
/// Debian packages the tests use.
const APT_PACKAGES: &[&str] = &[
    "qemu-user",
    "file",
    "util-linux",
    "debootstrap",
    "systemd-container",
    "iproute2",
    "openssh-client",
    "netcat-openbsd",
    // widens the journald restart race in the restart campaign tests (a delay after connect())
    "strace",
    "python3-jsonschema",
    // the host-side delivery script is shellchecked (src/audit/deliver.sh)
    "shellcheck",
    // promtool (Prometheus's linter, the textfile collector's parser) checks the metrics outputs
    "prometheus",
    // a BusyBox userland for the delivery script's tests (Alpine-like hosts)
    "busybox-static",
    // real package databases for the scanner's owner tests (scanner/tests/pkgdb/make-dbs.sh)
    "rpm",
    "pacman-package-manager",
    "db5.3-util",
    "sqlite3",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn run(cmd: &mut Command) {
    eprintln!("xtask: running {cmd:?}");
    match cmd.status() {
        Ok(s) if s.success() => {}
        Ok(s) => {
            eprintln!("xtask: {cmd:?} failed: {s}");
            exit(s.code().unwrap_or(1));
        }
        Err(e) => {
            eprintln!("xtask: cannot run {cmd:?}: {e}");
            exit(1);
        }
    }
}

fn output(cmd: &mut Command) -> String {
    cmd.output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

/// What building the scanners needs: the musl targets.
fn build_deps() {
    let installed = output(Command::new("rustup").args(["target", "list", "--installed"]));
    let missing: Vec<&str> = TARGETS
        .iter()
        .map(|t| t.1)
        .filter(|t| !installed.lines().any(|l| l.trim() == *t))
        .collect();
    if !missing.is_empty() {
        run(Command::new("rustup")
            .arg("target")
            .arg("add")
            .args(&missing));
    }
}

/// Installs the Debian packages of `packages` that are not installed yet (idempotent).
fn apt_install(packages: &[&str]) {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            !output(Command::new("dpkg-query").args(["-W", "-f", "${Status}", p]))
                .contains("install ok installed")
        })
        .collect();
    if missing.is_empty() {
        return;
    }
    let root_user = output(Command::new("id").arg("-u")).trim() == "0";
    let apt = |args: &[&str]| {
        let mut c = if root_user {
            Command::new("apt-get")
        } else {
            Command::new("sudo")
        };
        if !root_user {
            c.arg("apt-get");
        }
        // NEEDRESTART_SUSPEND: an installed needrestart must not act during our installs
        c.args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("NEEDRESTART_SUSPEND", "1");
        c
    };
    run(&mut apt(&["update", "-qq"]));
    run(apt(&["install", "-y", "-qq", "--no-install-recommends"]).args(&missing));
}

/// What the tests need too: the apt packages.
fn deps() {
    build_deps();
    apt_install(APT_PACKAGES);
    ansible::venv();
}

fn scanners() -> PathBuf {
    let out = root().join("target/scanners");
    std::fs::create_dir_all(&out).unwrap();
    for (arch, triple) in TARGETS {
        run(cargo().args([
            "build",
            "--quiet",
            "-p",
            "fleetrestart-scan",
            "--profile",
            "scanner",
            "--target",
            triple,
        ]));
        let built = root()
            .join("target")
            .join(triple)
            .join("scanner/fleetrestart-scan");
        let dest = out.join(format!("fleetrestart-scan-{arch}"));
        std::fs::copy(&built, &dest).unwrap_or_else(|e| panic!("copy {}: {e}", built.display()));
        let size = std::fs::metadata(&dest).unwrap().len();
        let file = output(Command::new("file").arg("-b").arg(&dest));
        eprintln!("xtask: {} {size} bytes: {}", dest.display(), file.trim());
        if size > MAX_SCANNER_BYTES {
            eprintln!(
                "xtask: {} is {size} bytes, over the 1 MiB budget",
                dest.display()
            );
            exit(1);
        }
        if !file.contains("statically linked") && !file.contains("static-pie linked") {
            eprintln!("xtask: {} is not statically linked: {file}", dest.display());
            exit(1);
        }
    }
    out
}

fn dist() -> PathBuf {
    let dir = scanners();
    run(cargo()
        .args(["build", "--quiet", "--release", "-p", "fleetrestart"])
        .env("FLEETRESTART_EMBED_SCANNERS", &dir));
    let dist = root().join("target/dist");
    std::fs::create_dir_all(&dist).unwrap();
    let dest = dist.join("fleetrestart");
    std::fs::copy(root().join("target/release/fleetrestart"), &dest).unwrap();
    eprintln!("xtask: {} (scanners embedded)", dest.display());
    // shell completions and man pages, from the same clap definitions
    run(Command::new(&dest).arg("generate-docs").arg(&dist));
    eprintln!(
        "xtask: {0}/completions (bash, zsh, fish), {0}/man (fleetrestart.1 and one per command)",
        dist.display()
    );
    dest
}

/// The map of ARCHITECTURE.md, checked: imports follow the layer order, no module cycles.
fn tidy() {
    let violations = tidy::check(&root().join("src"));
    if !violations.is_empty() {
        for v in &violations {
            eprintln!("xtask tidy: {v}");
        }
        eprintln!(
            "xtask tidy: {} import(s) against the map (ARCHITECTURE.md; the order is xtask/src/tidy.rs ORDER)",
            violations.len()
        );
        exit(1);
    }
    eprintln!("xtask tidy: imports follow the layer order, no module cycles");
}

fn test() {
    deps();
    let dir = scanners();
    tidy();
    run(cargo().args(["fmt", "--all", "--check"]));
    run(cargo().args([
        "clippy",
        "--quiet",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]));
    // production functions stay short (tests may be long tables)
    run(cargo().args([
        "clippy",
        "--quiet",
        "--workspace",
        "--lib",
        "--bins",
        "--",
        "-D",
        "clippy::too_many_lines",
    ]));
    run(cargo()
        .args(["test", "--workspace"])
        .env("FLEETRESTART_SCANNER_DIR", &dir));
    // the testbed tests need root and boot real hosts: one at a time
    run(cargo()
        .args([
            "test",
            "--test",
            "testbed_hosts",
            "--test",
            "fleet_audit",
            "--test",
            "host_keys",
            "--test",
            "key_files",
            "--test",
            "restart_campaign",
            "--test",
            "reboot_campaign",
            "--test",
            "detection_corpus",
            "--test",
            "ansible_playbooks",
            "--test",
            "fleet_scale",
            "--",
            "--ignored",
            "--test-threads=1",
        ])
        .env("FLEETRESTART_SCANNER_DIR", &dir));
    // a short run of every fuzz target: they build, their seeds pass, and nothing is found
    fuzz::fuzz(&root(), 15, 2, &[]);
}

fn main() {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("deps") => deps(),
        Some("scanners") => {
            build_deps();
            scanners();
        }
        Some("dist") => {
            build_deps();
            dist();
        }
        Some("audit") => {
            build_deps();
            let bin = dist();
            let st = Command::new(bin)
                .arg("audit")
                .args(args)
                .status()
                .expect("run fleetrestart");
            exit(st.code().unwrap_or(1));
        }
        Some("test") => test(),
        Some("tidy") => tidy(),
        Some("collection") => {
            build_deps();
            let dir = scanners();
            ansible::collection(&dir);
        }
        Some("bench-scan-host") => bench::scan_host(args),
        Some("bench-testbed") => bench::testbed(args),
        Some("bench-scan") => bench::scan(args),
        Some("bench-audit") => bench::audit(args),
        Some("bench-scale") => bench::scale(args),
        Some("bench-campaign") => bench::campaign(args),
        Some("fuzz") => {
            let mut secs = None;
            let (mut jobs, mut only) = (1usize, Vec::new());
            while let Some(a) = args.next() {
                match a.as_str() {
                    "--jobs" => jobs = args.next().and_then(|j| j.parse().ok()).unwrap_or(1),
                    _ if secs.is_none() => secs = a.parse::<u64>().ok(),
                    _ => only.push(a),
                }
            }
            let Some(secs) = secs else {
                eprintln!("usage: cargo xtask fuzz SECONDS [--jobs N] [TARGET...]");
                exit(2);
            };
            fuzz::fuzz(&root(), secs, jobs, &only);
        }
        _ => {
            eprintln!("usage: cargo xtask deps | scanners | dist | audit [ARGS...] | test | tidy | fuzz SECONDS [--jobs N] [TARGET...] | bench-scan [N...] | bench-scan-host [N...] | bench-testbed N | bench-audit [N...] | bench-campaign [N...] | bench-scale [N...]");
            exit(2);
        }
    }
}
