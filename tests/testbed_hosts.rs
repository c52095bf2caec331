//! The testbed itself: real systemd hosts over SSH, their services and the faults a fleet tool
//! meets. These need root and build a Debian image the first time, so they are `#[ignore]`d in a
//! plain `cargo test`; `cargo xtask test` runs them with `--ignored`.

mod common;

use fleetrestart_scan::report::Report;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{testbed as tb, testbed_ok as tb_ok};

/// What a client sees connecting to host `i`: `ok`, or OpenSSH's error text.
fn ssh_probe(i: u32, timeout_s: u32) -> (String, Duration) {
    let key = tb_ok(&["key"]);
    let known = tb_ok(&["known-hosts"]);
    let ip = tb_ok(&["ip", &i.to_string()]);
    let t0 = Instant::now();
    let out = Command::new("ssh")
        .args([
            "-i",
            key.trim(),
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
        ])
        .arg(format!("-oUserKnownHostsFile={}", known.trim()))
        .arg(format!("-oConnectTimeout={timeout_s}"))
        .args([
            "-o",
            "ServerAliveInterval=1",
            "-o",
            "ServerAliveCountMax=2",
            "-o",
            "ConnectionAttempts=1",
        ])
        .arg(format!("root@{}", ip.trim()))
        .arg("echo ok")
        .output()
        .unwrap();
    let text = if out.status.success() {
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    } else {
        String::from_utf8_lossy(&out.stderr).trim().to_string()
    };
    (text, t0.elapsed())
}

/// Names with the testbed's prefix that are still present on this machine.
fn leftovers() -> Vec<String> {
    let mut v = Vec::new();
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    v.extend(
        mounts
            .lines()
            .filter(|l| l.starts_with("frtb-h"))
            .map(String::from),
    );
    let ns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    v.extend(
        String::from_utf8_lossy(&ns.stdout)
            .lines()
            .filter(|l| l.starts_with("frtb-"))
            .map(String::from),
    );
    let links = Command::new("ip").args(["-o", "link"]).output().unwrap();
    v.extend(
        String::from_utf8_lossy(&links.stdout)
            .lines()
            .filter(|l| l.contains(" frtb"))
            .map(String::from),
    );
    for cg in ["systemd", "unified", "freezer"] {
        if std::path::Path::new(&format!("/sys/fs/cgroup/{cg}/frtb/h1")).exists() {
            v.push(format!("cgroup {cg}/frtb/h1"));
        }
    }
    v
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn five_hosts_services_faults_and_clean_stop() {
    tb_ok(&["stopall"]);
    tb_ok(&["start", "5"]);
    for i in 1..=5 {
        let (text, _) = ssh_probe(i, 5);
        assert_eq!(text, "ok", "h{i} over ssh with strict host keys");
        let state = tb_ok(&["ssh", &i.to_string(), "systemctl is-system-running"]);
        assert_eq!(state.trim(), "running", "h{i}");
        let name = tb_ok(&["ssh", &i.to_string(), "hostname"]);
        assert_eq!(name.trim(), format!("h{i}"));
    }
    // a restart gives a new MainPID
    let pid = |i: &str| {
        tb_ok(&["ssh", i, "systemctl show -p MainPID --value lighttpd"])
            .trim()
            .to_string()
    };
    let before = pid("2");
    tb_ok(&["ssh", "2", "systemctl restart lighttpd"]);
    let after = pid("2");
    assert!(
        before != "0" && after != "0" && before != after,
        "MainPID {before} → {after}"
    );

    // faults, and what a client sees
    tb_ok(&["down", "1"]);
    let (text, _) = ssh_probe(1, 3);
    assert!(
        text.contains("No route to host") || text.contains("timed out"),
        "power off: {text}"
    );
    tb_ok(&["hang", "3"]);
    let (text, took) = ssh_probe(3, 3);
    assert!(
        text.contains("timed out") || text.contains("Connection closed") || text.contains("banner"),
        "frozen: {text}"
    );
    assert!(
        took < Duration::from_secs(20),
        "a frozen host does not hold the client past its timeouts"
    );
    tb_ok(&["thaw", "3"]);
    assert_eq!(ssh_probe(3, 5).0, "ok", "thawed");
    tb_ok(&["netcut", "4"]);
    let (text, _) = ssh_probe(4, 3);
    assert!(
        text.contains("No route to host") || text.contains("timed out"),
        "link cut: {text}"
    );
    tb_ok(&["netfix", "4"]);
    tb_ok(&["partition", "5"]);
    let (text, _) = ssh_probe(5, 3);
    assert!(text.contains("timed out"), "partition: {text}");
    tb_ok(&["heal", "5"]);
    assert_eq!(ssh_probe(5, 5).0, "ok", "healed");
    tb_ok(&["up", "1"]);
    assert_eq!(ssh_probe(1, 5).0, "ok", "powered on again");

    tb_ok(&["stopall"]);
    assert_eq!(
        leftovers(),
        Vec::<String>::new(),
        "stopall leaves nothing behind"
    );
    // and is safe to run again
    tb_ok(&["stopall"]);
}

/// Runs the static scanner inside host `i` (copied in through the host's root) and parses it.
fn scan_host(i: u32) -> Report {
    let merged = common::host_root(&i.to_string()).join("root/fleetrestart-scan");
    common::copy_executable(
        &common::scanner_dir().join("fleetrestart-scan-x86_64"),
        &merged,
    );
    let out = tb(&[
        "ssh",
        &i.to_string(),
        "/root/fleetrestart-scan --format json",
    ]);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "scan h{i}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("report")
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn real_dpkg_upgrade_makes_exactly_that_host_stale() {
    tb_ok(&["stopall"]);
    tb_ok(&["start", "3"]);
    for i in 1..=3 {
        let r = scan_host(i);
        assert!(
            r.services.is_empty() && r.never_restart.is_empty(),
            "h{i} is clean before: {:?}",
            r.services
        );
        assert_eq!(r.host.init, fleetrestart_scan::report::Init::Systemd);
    }
    tb_ok(&["upgrade", "2", "libpcre2-8-0"]);
    for i in [1, 3] {
        let r = scan_host(i);
        assert!(
            r.services.is_empty() && r.never_restart.is_empty(),
            "h{i} untouched: {:?}",
            r.services
        );
    }
    let r = scan_host(2);
    let names: Vec<&str> = r.services.iter().map(|s| s.name.as_str()).collect();
    for want in [
        "cron.service",
        "ssh.service",
        "lighttpd.service",
        "systemd-manager",
    ] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    assert!(
        r.never_restart.iter().any(|s| s.name == "dbus.service"),
        "dbus is reboot-class"
    );
    let cron = r
        .services
        .iter()
        .find(|s| s.name == "cron.service")
        .unwrap();
    let f = &cron.processes[0].files[0];
    assert!(f.path.contains("libpcre2-8.so.0"), "{f:?}");
    assert_eq!(f.package.as_deref(), Some("libpcre2-8-0"));
    assert_eq!(f.reason, fleetrestart_scan::report::Reason::Deleted);
    // a daemon's script replaced the same way shows up as a changed script of its service
    std::thread::sleep(std::time::Duration::from_secs(3)); // past the scanner's 2 s tolerance after boot
    tb_ok(&["replace-file", "3", "/usr/local/bin/fr-perl-daemon"]);
    let r3 = scan_host(3);
    let perl = r3
        .services
        .iter()
        .find(|s| s.name == "fr-perl-daemon.service")
        .expect("perl daemon reported");
    assert_eq!(
        perl.processes[0].files[0].kind,
        fleetrestart_scan::report::FileKind::Script
    );
    assert_eq!(
        perl.processes[0].files[0].path,
        "/usr/local/bin/fr-perl-daemon"
    );
    // revert: the host comes back pristine
    tb_ok(&["revert", "2"]);
    let r = scan_host(2);
    assert!(r.services.is_empty(), "reverted: {:?}", r.services);
    tb_ok(&["stopall"]);
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn owners_from_rpm_pacman_and_apk_databases_inside_a_host() {
    // real databases (scanner/tests/pkgdb/make-dbs.sh: rpmbuild + rpm, db5.3_load, pacman)
    // where fr-cron owns /usr/sbin/cron; the host's dpkg database is moved away, so the scanner
    // must find the owner of the running cron's replaced binary in the other database
    let dbs = common::scratch("pkgdbs");
    let make = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scanner/tests/pkgdb/make-dbs.sh");
    let out = std::process::Command::new("bash")
        .arg(make)
        .arg(&dbs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    tb_ok(&["stopall"]);
    tb_ok(&["start", "1"]);
    for db in ["rpm-sqlite", "rpm-bdb", "pacman", "apk"] {
        tb_ok(&["revert", "1"]);
        tb_ok(&[
            "exec",
            "1",
            "sh",
            "-c",
            "mv /var/lib/dpkg/info /var/lib/dpkg/info.fr-off",
        ]);
        // tar keeps the host's directory links (/lib → usr/lib on a merged-/usr host)
        let cp = std::process::Command::new("sh")
            .arg("-c")
            .arg("tar -C \"$1\" -cf - . | tar -C \"$2\" -xf - --keep-directory-symlink")
            .arg("sh")
            .arg(dbs.join(db))
            .arg(common::host_root("1"))
            .output()
            .unwrap();
        assert!(
            cp.status.success(),
            "{db}: {}",
            String::from_utf8_lossy(&cp.stderr)
        );
        std::thread::sleep(std::time::Duration::from_secs(3)); // past the scanner's tolerance after boot
        tb_ok(&["replace-file", "1", "/usr/sbin/cron"]);
        let r = scan_host(1);
        let cron = r
            .services
            .iter()
            .find(|s| s.name == "cron.service")
            .unwrap_or_else(|| panic!("{db}: cron stale: {:?}", r.services));
        let f = &cron.processes[0].files[0];
        assert_eq!(f.path, "/usr/sbin/cron", "{db}");
        assert_eq!(f.package.as_deref(), Some("fr-cron"), "{db}");
        assert!(
            !r.limitations.iter().any(|l| l.contains("package")),
            "{db}: {:?}",
            r.limitations
        );
    }
    tb_ok(&["stopall"]);
    std::fs::remove_dir_all(&dbs).unwrap();
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn private_host_is_reachable_only_through_the_bastion() {
    tb_ok(&["stopall"]);
    tb_ok(&["start", "1"]);
    tb_ok(&["bastion", "1"]);
    tb_ok(&["start-private", "3"]);
    let key = tb_ok(&["key"]);
    let known = tb_ok(&["known-hosts"]);
    let bastion = tb_ok(&["ip", "1"]);
    let private = tb_ok(&["ip", "3"]);
    let cfg = common::scratch("sshcfg").join("config");
    std::fs::write(
        &cfg,
        format!("Host *\n  User root\n  IdentityFile {}\n  UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n  BatchMode yes\n  ConnectTimeout 5\n", key.trim(), known.trim()),
    )
    .unwrap();
    let ssh = |extra: &[&str]| {
        Command::new("ssh")
            .arg("-F")
            .arg(&cfg)
            .args(extra)
            .output()
            .unwrap()
    };
    let direct = ssh(&[private.trim(), "hostname"]);
    assert!(!direct.status.success());
    let err = String::from_utf8_lossy(&direct.stderr);
    assert!(
        err.contains("No route to host") || err.contains("Network is unreachable"),
        "direct: {err}"
    );
    let jumped = ssh(&["-J", bastion.trim(), private.trim(), "hostname"]);
    assert!(
        jumped.status.success(),
        "{}",
        String::from_utf8_lossy(&jumped.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&jumped.stdout).trim(), "h3");
    // the generated inventory says how to get there, as Ansible reads it
    let inv = common::scratch("inv").join("inventory.yml");
    tb_ok(&["inventory", inv.to_str().unwrap()]);
    let text = std::fs::read_to_string(&inv).unwrap();
    assert!(
        text.contains(&format!(
            "ansible_ssh_common_args: '-o ProxyJump=root@{}'",
            bastion.trim()
        )),
        "{text}"
    );
    tb_ok(&["stopall"]);
    let routes = Command::new("ip").args(["route"]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&routes.stdout)
            .contains(private.trim().rsplit_once('.').unwrap().0),
        "private route removed"
    );
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn thirty_hosts_boot_and_answer_over_ssh() {
    tb_ok(&["stopall"]);
    let started = tb_ok(&["start", "30"]);
    let running = started.lines().filter(|l| l.ends_with(" running")).count();
    assert_eq!(running, 30, "{started}");
    for i in [1, 10, 20, 30] {
        assert_eq!(ssh_probe(i, 5).0, "ok", "h{i}");
    }
    tb_ok(&["stopall"]);
    assert_eq!(leftovers(), Vec::<String>::new());
}
