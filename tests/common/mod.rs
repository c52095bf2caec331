//! Shared by the controller's integration tests: where the static scanners are, scratch dirs.
#![allow(dead_code)]

mod exe;
#[allow(unused_imports)]
pub use exe::{copy_executable, write_executable};

use std::path::PathBuf;
use std::process::{Command, Output};

/// The directory with fleetrestart-scan-<arch> (built by `cargo xtask scanners`).
pub fn scanner_dir() -> PathBuf {
    let dir = std::env::var_os("FLEETRESTART_SCANNER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/scanners"));
    assert!(
        dir.join("fleetrestart-scan-x86_64").is_file()
            && dir.join("fleetrestart-scan-aarch64").is_file(),
        "static scanners missing in {}: run `cargo xtask scanners` (or `cargo xtask test`)",
        dir.display()
    );
    dir
}

/// A scratch directory outside the paths the scanner ignores (/tmp, /var/tmp, /home, /run), so
/// that stale files made there are reported wherever the checkout lives.
pub fn scratch(name: &str) -> PathBuf {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let ignored = ["/tmp/", "/var/", "/home/", "/run/", "/dev/"];
    let base = if ignored.iter().any(|p| base.starts_with(p)) {
        PathBuf::from("/srv/fleetrestart-tests")
    } else {
        base
    };
    let d = base.join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The root filesystem of testbed host `i` as this machine sees it (under `TB_BASE`, as
/// testbed.sh places it).
pub fn host_root(i: &str) -> PathBuf {
    let base = std::env::var_os("TB_BASE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/fleetrestart-testbed"));
    base.join(format!("hosts/h{i}/merged"))
}

/// Runs `tests/testbed/testbed.sh ARGS` (root; see its header for the commands).
pub fn testbed(args: &[&str]) -> Output {
    Command::new("bash")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/testbed/testbed.sh"))
        .args(args)
        .output()
        .expect("run testbed.sh")
}

/// [`testbed`], which must succeed; its standard output.
pub fn testbed_ok(args: &[&str]) -> String {
    let out = testbed(args);
    assert!(
        out.status.success(),
        "testbed.sh {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Boots testbed hosts 1..=n fresh, makes hosts `stale` run replaced libpcre2 code (a real
/// `dpkg -i`), and writes their inventory into `dir`; its path.
pub fn fleet(dir: &std::path::Path, n: u32, stale: impl Iterator<Item = u32>) -> PathBuf {
    testbed_ok(&["stopall"]);
    testbed_ok(&["start", &n.to_string()]);
    for i in stale {
        testbed_ok(&["upgrade", &i.to_string(), "libpcre2-8-0"]);
    }
    let inv = dir.join("inventory.yml");
    testbed_ok(&["inventory", inv.to_str().unwrap()]);
    inv
}

/// `fleetrestart SUB` run in `dir` with the testbed's `known_hosts` file and the static
/// scanners (`resume` takes them from its journal), without the caller's ssh-agent.
pub fn controller(dir: &std::path::Path, sub: &str, known_hosts: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fleetrestart"));
    c.arg(sub);
    if sub != "resume" {
        c.args(["--known-hosts", known_hosts.trim()])
            .arg("--scanner-dir")
            .arg(scanner_dir());
    }
    c.args(args).current_dir(dir).env_remove("SSH_AUTH_SOCK");
    c
}

/// `fleetrestart audit ARGS` run in `dir` against the testbed (its known_hosts, the static
/// scanners, no ssh-agent), to its end.
pub fn audit(dir: &std::path::Path, args: &[&str]) -> Output {
    let known = testbed_ok(&["known-hosts"]);
    controller(dir, "audit", &known, args).output().unwrap()
}

/// A command's exit status and both outputs, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// An ssh-agent of our own (killed when dropped).
pub struct Agent {
    pub sock: String,
    pid: String,
}

impl Agent {
    pub fn start() -> Agent {
        let out = Command::new("ssh-agent").arg("-s").output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let var = |name: &str| {
            text.split(';')
                .find_map(|p| {
                    p.trim()
                        .strip_prefix(&format!("{name}="))
                        .map(str::to_string)
                })
                .unwrap_or_else(|| panic!("ssh-agent -s printed no {name}: {text}"))
        };
        Agent {
            sock: var("SSH_AUTH_SOCK"),
            pid: var("SSH_AGENT_PID"),
        }
    }

    /// Loads a private key file.
    pub fn add(&self, key: &std::path::Path) {
        let o = Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", &self.sock)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "ssh-add {}: {}",
            key.display(),
            text(&o)
        );
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(&self.pid).status();
    }
}

/// The records of a campaign journal that parse (a torn last line is skipped).
pub fn journal(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Polls `f` every 50 ms until it holds; fails the test after `limit`.
pub fn wait_for(what: &str, limit: std::time::Duration, mut f: impl FnMut() -> bool) {
    let t0 = std::time::Instant::now();
    while !f() {
        assert!(t0.elapsed() < limit, "waited {limit:?} for {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
