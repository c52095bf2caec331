//! The scanner against real processes on this machine: a helper maps a copied library that is
//! then renamed over; a perl daemon whose script is removed or replaced; a process in its own PID
//! namespace. Each helper is identified by its PID in the scanner's JSON report.

use fleetrestart_scan::report::{FileKind, Process, Reason, Report};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A scratch directory outside the paths the scanner ignores (/tmp, /var/tmp, /home, /run; and
/// /var for scripts, as needrestart does).
fn scratch(name: &str) -> PathBuf {
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

struct Helper(Child);
impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(cmd: &mut Command) -> Helper {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn helper");
    Helper(child)
}

/// Waits until `pid` maps `path` (the dynamic loader has run).
fn wait_mapped(pid: u32, path: &Path) {
    for _ in 0..200 {
        if std::fs::read_to_string(format!("/proc/{pid}/maps"))
            .unwrap_or_default()
            .contains(path.to_str().unwrap())
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("pid {pid} never mapped {}", path.display());
}

fn system_lib() -> PathBuf {
    for p in [
        "/usr/lib/x86_64-linux-gnu/libz.so.1",
        "/lib/x86_64-linux-gnu/libz.so.1",
        "/usr/lib/aarch64-linux-gnu/libz.so.1",
        "/usr/lib/x86_64-linux-gnu/libcrypt.so.1",
    ] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("no system library to copy");
}

/// Replaces `path` the way package managers do: write a new file, rename it over.
fn rename_over(path: &Path) {
    let tmp = path.with_extension("new");
    std::fs::copy(path, &tmp).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn scan() -> Report {
    let out = Command::new(env!("CARGO_BIN_EXE_fleetrestart-scan"))
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "scanner failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid report")
}

/// Every (group kind, process) in the report.
fn all_processes(r: &Report) -> Vec<(&'static str, &Process)> {
    let mut v = Vec::new();
    for s in r.services.iter().chain(&r.never_restart) {
        v.extend(s.processes.iter().map(|p| ("service", p)));
    }
    for s in &r.sessions {
        v.extend(s.processes.iter().map(|p| ("session", p)));
    }
    for c in &r.containers {
        v.extend(c.processes.iter().map(|p| ("container", p)));
    }
    for u in &r.unattributed {
        v.extend(u.processes.iter().map(|p| ("unattributed", p)));
    }
    v
}

fn reported_with(r: &Report, path: &Path) -> Vec<(&'static str, i32, Reason, FileKind)> {
    let path = path.to_str().unwrap();
    all_processes(r)
        .into_iter()
        .flat_map(|(g, p)| {
            p.files
                .iter()
                .filter(|f| f.path == path)
                .map(move |f| (g, p.pid, f.reason, f.kind))
        })
        .collect()
}

#[test]
fn replaced_library_reports_exactly_its_process() {
    let dir = scratch("lib");
    let stale_lib = dir.join("libstale.so.1");
    let kept_lib = dir.join("libkept.so.1");
    std::fs::copy(system_lib(), &stale_lib).unwrap();
    std::fs::copy(system_lib(), &kept_lib).unwrap();
    let stale = spawn(
        Command::new("sleep")
            .arg("600")
            .env("LD_PRELOAD", &stale_lib),
    );
    let kept = spawn(
        Command::new("sleep")
            .arg("600")
            .env("LD_PRELOAD", &kept_lib),
    );
    wait_mapped(stale.0.id(), &stale_lib);
    wait_mapped(kept.0.id(), &kept_lib);

    let before = scan();
    assert!(
        reported_with(&before, &stale_lib).is_empty(),
        "nothing is stale before the replacement"
    );
    rename_over(&stale_lib);
    let after = scan();
    let hits = reported_with(&after, &stale_lib);
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(
        (hits[0].1, hits[0].2, hits[0].3),
        (stale.0.id() as i32, Reason::Deleted, FileKind::Library)
    );
    assert!(
        reported_with(&after, &kept_lib).is_empty(),
        "the untouched copy is not reported"
    );
    assert!(
        all_processes(&after)
            .iter()
            .all(|(_, p)| p.pid != kept.0.id() as i32),
        "the untouched helper is not reported at all"
    );
    drop((stale, kept));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn interpreted_daemon_with_replaced_or_removed_script() {
    let dir = scratch("script");
    let replaced = dir.join("replaced-daemon.pl");
    let removed = dir.join("removed-daemon.pl");
    let untouched = dir.join("untouched-daemon.pl");
    for s in [&replaced, &removed, &untouched] {
        std::fs::write(s, "sleep 600;\n").unwrap();
    }
    let helpers: Vec<Helper> = [&replaced, &removed, &untouched]
        .iter()
        .map(|s| spawn(Command::new("/usr/bin/perl").arg(s)))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    assert!(reported_with(&scan(), &replaced).is_empty());
    // a change must come later than the process start plus the scanner's 2 s tolerance
    std::thread::sleep(Duration::from_millis(2600));
    rename_over(&replaced);
    std::fs::remove_file(&removed).unwrap();
    let r = scan();
    let hit = reported_with(&r, &replaced);
    assert_eq!(hit.len(), 1, "{hit:?}");
    assert_eq!(
        (hit[0].1, hit[0].2, hit[0].3),
        (helpers[0].0.id() as i32, Reason::Changed, FileKind::Script)
    );
    let hit = reported_with(&r, &removed);
    assert_eq!(hit.len(), 1, "{hit:?}");
    assert_eq!(
        (hit[0].1, hit[0].2),
        (helpers[1].0.id() as i32, Reason::Deleted)
    );
    assert!(reported_with(&r, &untouched).is_empty());
    drop(helpers);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn process_in_its_own_pid_namespace_is_a_container() {
    let dir = scratch("pidns");
    let lib = dir.join("libns.so.1");
    std::fs::copy(system_lib(), &lib).unwrap();
    let h = spawn(
        Command::new("unshare")
            .args(["--pid", "--fork", "--kill-child", "/usr/bin/env"])
            .arg(format!("LD_PRELOAD={}", lib.display()))
            .args(["sleep", "600"]),
    );
    // the sleeping child of unshare is the process in the new namespace
    let mut child_pid = None;
    for _ in 0..200 {
        let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", h.0.id()))
            .unwrap_or_default();
        if let Some(c) = children
            .split_whitespace()
            .next()
            .and_then(|c| c.parse::<u32>().ok())
        {
            child_pid = Some(c);
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let child = child_pid.expect("unshare started its child");
    wait_mapped(child, &lib);
    rename_over(&lib);
    let r = scan();
    let hits = reported_with(&r, &lib);
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(
        (hits[0].0, hits[0].1),
        ("container", child as i32),
        "in another PID namespace: a container, not a service"
    );
    let c = r
        .containers
        .iter()
        .find(|c| c.processes.iter().any(|p| p.pid == child as i32))
        .unwrap();
    assert_eq!(c.kind, "pid_namespace");
    drop(h);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_rules_file_is_a_usage_error_with_location() {
    let dir = scratch("rules");
    let f = dir.join("rules.yaml");
    std::fs::write(
        &f,
        "version: 1\nrules:\n  - name: a\n    match: { exe: '^/x' }\n    policy: maybe\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fleetrestart-scan"))
        .arg("--rules")
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:5:13: rules[0].policy: unknown variant `maybe`",
            f.display()
        )),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
