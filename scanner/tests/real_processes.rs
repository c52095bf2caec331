//! The scanner against real processes on this machine: a helper maps a copied library that is
//! then renamed over; a perl daemon whose script is removed or replaced; a process in its own PID
//! namespace; processes that chrooted themselves (in this mount namespace and in another one)
//! and a pivot_root'ed container, clean until a library they map is replaced. Each helper is
//! identified by its PID in the scanner's JSON report.

#[path = "../../tests/common/exe.rs"]
mod exe;

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

/// The first child of `pid` (the process `unshare --fork` started), waited for.
fn child_of(pid: u32) -> u32 {
    for _ in 0..300 {
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        if let Some(c) = children
            .split_whitespace()
            .next()
            .and_then(|c| c.parse::<u32>().ok())
        {
            return c;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{pid} started no child");
}

/// Waits until `/proc/PID/root` of `pid` reads `root` (the process has chrooted).
fn wait_root(pid: u32, root: &Path) {
    for _ in 0..300 {
        if std::fs::read_link(format!("/proc/{pid}/root"))
            .ok()
            .as_deref()
            == Some(root)
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("pid {pid} never chrooted to {}", root.display());
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
    scan_with(&[])
}

/// The scanner with extra arguments (`--maps-text`: the text maps file, not PROCMAP_QUERY).
fn scan_with(extra: &[&str]) -> Report {
    let out = Command::new(env!("CARGO_BIN_EXE_fleetrestart-scan"))
        .args(["--format", "json"])
        .args(extra)
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

/// `ppid` and `tty_nr` of a live process, from its `stat` line.
fn ppid_tty(pid: i32) -> Option<(i32, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some((f[1].parse().ok()?, f[4].parse().ok()?))
}

#[test]
fn without_systemd_a_stale_process_belongs_to_its_topmost_ancestor() {
    // the parent chain is read after the scan, for the stale processes only
    if Path::new("/run/systemd/system").exists() {
        eprintln!("skipped: this host runs systemd (its cgroups name the service)");
        return;
    }
    let dir = scratch("ancestor");
    let lib = dir.join("libchain.so.1");
    std::fs::copy(system_lib(), &lib).unwrap();
    // a daemon as sysv starts one: a shell left by its parent, running the program as a child
    // (only the program maps the library: the shell is found by the parent walk alone)
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"sh -c 'LD_PRELOAD="$0" sleep 600; :' "$1" >/dev/null 2>&1 & echo $!"#)
        .arg("sh")
        .arg(&lib)
        .output()
        .unwrap();
    let shell: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let sleeper = child_of(shell as u32) as i32;
    wait_mapped(sleeper as u32, &lib);
    rename_over(&lib);
    let report = scan();
    // the oracle: the topmost ancestor below PID 1 whose parent has no terminal
    let mut top = sleeper;
    while let Some((ppid, _)) = ppid_tty(top) {
        match ppid_tty(ppid) {
            Some((_, 0)) if ppid > 1 => top = ppid,
            _ => break,
        }
    }
    let group = report
        .unattributed
        .iter()
        .find(|u| u.processes.iter().any(|p| p.pid == sleeper));
    let _ = Command::new("kill")
        .args([sleeper.to_string(), shell.to_string()])
        .status();
    let _ = std::fs::remove_dir_all(dir);
    assert_ne!(top, sleeper, "the sleeper has a parent below PID 1");
    let group = group.expect("the stale sleeper is reported");
    assert!(
        group.reason.contains(&format!("ancestor pid {top})")),
        "{} (expected ancestor {top})",
        group.reason
    );
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
    let child = child_of(h.0.id());
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

/// A perl that chroots itself into an empty directory after loading its libraries (privilege
/// separation, as postfix, dovecot or sshd do).
const CHROOT_AND_SLEEP: &str = "chroot($ARGV[0]) or die \"chroot: $!\"; chdir('/'); sleep 600";

#[test]
fn chrooted_processes_are_clean_until_a_library_they_map_is_replaced() {
    let dir = scratch("chroot");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let lib = dir.join("libchroot.so.1");
    let kept = dir.join("libchrootkept.so.1");
    std::fs::copy(system_lib(), &lib).unwrap();
    std::fs::copy(system_lib(), &kept).unwrap();
    let perl = |preload: &Path| {
        let mut c = Command::new("/usr/bin/perl");
        c.args(["-e", CHROOT_AND_SLEEP])
            .arg(&empty)
            .env("LD_PRELOAD", preload);
        c
    };
    // in this mount namespace
    let same_ns = spawn(&mut perl(&lib));
    let same_ns_kept = spawn(&mut perl(&kept));
    // in a mount namespace of its own (paths relative to that namespace's root)
    let mut other = perl(&lib);
    let other_cmd = std::iter::once(other.get_program().to_owned())
        .chain(other.get_args().map(|a| a.to_owned()))
        .collect::<Vec<_>>();
    let other_ns = spawn(
        Command::new("unshare")
            .args([
                "--mount",
                "--propagation",
                "private",
                "--fork",
                "--kill-child",
            ])
            .arg("/usr/bin/env")
            .arg(format!("LD_PRELOAD={}", lib.display()))
            .args(&other_cmd),
    );
    let other_pid = child_of(other_ns.0.id());
    other.env_clear(); // only its argv was used
    let pids = [same_ns.0.id(), same_ns_kept.0.id(), other_pid];
    for pid in pids {
        wait_root(pid, &empty);
    }
    wait_mapped(pids[0], &lib);
    wait_mapped(pids[1], &kept);
    wait_mapped(pids[2], &lib);

    let clean = scan();
    let reported: Vec<_> = all_processes(&clean)
        .into_iter()
        .filter(|(_, p)| pids.contains(&(p.pid as u32)))
        .map(|(g, p)| (g, p.pid, p.files.clone()))
        .collect();
    assert!(
        reported.is_empty(),
        "chrooted processes on an unchanged system are not stale: {reported:?}"
    );

    rename_over(&lib);
    let r = scan();
    let mut hits: Vec<(i32, Reason)> = reported_with(&r, &lib)
        .into_iter()
        .map(|(_, pid, reason, _)| (pid, reason))
        .collect();
    hits.sort();
    // PROCMAP_QUERY (where the kernel has it) and the text maps file see the same
    let mut text_hits: Vec<(i32, Reason)> = reported_with(&scan_with(&["--maps-text"]), &lib)
        .into_iter()
        .map(|(_, pid, reason, _)| (pid, reason))
        .collect();
    text_hits.sort();
    assert_eq!(hits, text_hits, "PROCMAP_QUERY and text maps disagree");
    let mut want = vec![
        (pids[0] as i32, Reason::Deleted),
        (pids[2] as i32, Reason::Deleted),
    ];
    want.sort();
    assert_eq!(hits, want);
    for (_, p) in all_processes(&r)
        .into_iter()
        .filter(|(_, p)| pids.contains(&(p.pid as u32)))
    {
        assert!(
            p.files.iter().all(|f| f.path == lib.to_str().unwrap()),
            "only the replaced library is stale in pid {}: {:?}",
            p.pid,
            p.files
        );
    }
    assert!(
        all_processes(&r)
            .iter()
            .all(|(_, p)| p.pid != pids[1] as i32),
        "the chrooted process with an untouched library is not reported"
    );
    drop((same_ns, same_ns_kept, other_ns));
    let _ = std::fs::remove_dir_all(dir);
}

/// A minimal root with `sleep` and the libraries it loads (copied as `ldd` lists them).
fn sleep_rootfs(root: &Path) {
    let sleep = Path::new("/bin/sleep");
    let ldd = Command::new("ldd").arg(sleep).output().unwrap();
    let libs: Vec<PathBuf> = String::from_utf8_lossy(&ldd.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
        .map(PathBuf::from)
        .collect();
    assert!(
        !libs.is_empty(),
        "ldd listed no library of {}",
        sleep.display()
    );
    for f in libs.iter().map(PathBuf::as_path).chain([sleep]) {
        let dest = root.join(f.strip_prefix("/").unwrap());
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        exe::copy_executable(f, &dest);
    }
    std::fs::create_dir_all(root.join("old")).unwrap();
}

#[test]
fn pivot_rooted_container_is_clean_until_its_own_library_is_replaced() {
    let dir = scratch("pivot");
    let root = dir.join("rootfs");
    sleep_rootfs(&root);
    let h = spawn(
        Command::new("unshare")
            .args([
                "--mount",
                "--pid",
                "--fork",
                "--kill-child",
                "--propagation",
                "private",
                "/bin/sh",
                "-c",
                "mount --bind \"$1\" \"$1\" && cd \"$1\" && pivot_root . old && exec /bin/sleep 600",
                "sh",
            ])
            .arg(&root),
    );
    let child = child_of(h.0.id());
    // pivoted, exec'd and loaded: the container's sleep maps the container's libc, which the
    // kernel names as the container sees it
    let mut libc = None;
    for _ in 0..300 {
        let exe = std::fs::read_link(format!("/proc/{child}/exe")).ok();
        let maps = std::fs::read_to_string(format!("/proc/{child}/maps")).unwrap_or_default();
        libc = maps
            .lines()
            .filter_map(|l| l.split_whitespace().nth(5))
            .find(|p| p.contains("libc.so"))
            .map(String::from);
        if exe.as_deref() == Some(Path::new("/bin/sleep")) && libc.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let libc = libc.expect("sleep in the container maps libc");
    let clean = scan();
    assert!(
        all_processes(&clean)
            .iter()
            .all(|(_, p)| p.pid != child as i32),
        "an unchanged container process is not stale"
    );
    rename_over(&root.join(libc.trim_start_matches('/')));
    let r = scan();
    let hits: Vec<_> = all_processes(&r)
        .into_iter()
        .filter(|(_, p)| p.pid == child as i32)
        .map(|(g, p)| {
            (
                g,
                p.files
                    .iter()
                    .map(|f| (f.path.clone(), f.reason))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    assert_eq!(
        hits,
        vec![("container", vec![(libc.clone(), Reason::Deleted)])],
        "the container's replaced libc, under the container's own path"
    );
    drop(h);
    let _ = std::fs::remove_dir_all(dir);
}

/// Maps the file named by argv[1] readable and executable, as the loader maps code, then sleeps.
const MAP_EXEC_AND_SLEEP: &str = "import mmap, os, sys, time\nf = os.open(sys.argv[1], os.O_RDONLY)\nm = mmap.mmap(f, 0, prot=mmap.PROT_READ | mmap.PROT_EXEC)\nos.close(f)\ntime.sleep(600)\n";

#[test]
fn odd_library_names_are_reported_exactly_and_only_when_replaced() {
    let dir = scratch("odd names");
    // a space, a newline and the kernel's own marker text in file names
    let names = ["lib with space.so.1", "lib\nnewline.so.1", "lib (deleted)"];
    let libs: Vec<PathBuf> = names.iter().map(|n| dir.join(n)).collect();
    let helpers: Vec<Helper> = libs
        .iter()
        .map(|lib| {
            std::fs::copy(system_lib(), lib).unwrap();
            // mapped executable by hand: LD_PRELOAD splits names on spaces
            spawn(
                Command::new("/usr/bin/python3")
                    .args(["-c", MAP_EXEC_AND_SLEEP])
                    .arg(lib),
            )
        })
        .collect();
    for (h, lib) in helpers.iter().zip(&libs) {
        // maps escapes the newline as \012: wait on the part before it
        let shown = lib
            .to_str()
            .unwrap()
            .split('\n')
            .next()
            .unwrap()
            .to_string();
        wait_mapped(h.0.id(), Path::new(&shown));
    }
    let clean = scan();
    for (h, lib) in helpers.iter().zip(&libs) {
        assert!(
            all_processes(&clean)
                .iter()
                .all(|(_, p)| p.pid != h.0.id() as i32),
            "{lib:?} is untouched: not stale"
        );
    }
    for lib in &libs {
        rename_over(lib);
    }
    for r in [scan(), scan_with(&["--maps-text"])] {
        for (h, lib) in helpers.iter().zip(&libs) {
            let hits = reported_with(&r, lib);
            assert_eq!(
                hits.iter().map(|h| (h.1, h.2)).collect::<Vec<_>>(),
                [(h.0.id() as i32, Reason::Deleted)],
                "{lib:?}: reported under its exact name (PROCMAP_QUERY and text maps)"
            );
        }
    }
    drop(helpers);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn python_daemon_modules_found_statically_and_bounded() {
    let dir = scratch("pymods");
    // a chain of 100 modules beside the script (sys.path[0]), deeper than the scanner follows
    // (python itself stops near 300 nested imports), one importing itself, one huge
    let n = 100;
    for i in 0..n {
        let next = if i + 1 < n {
            format!("import m{}\n", i + 1)
        } else {
            "import selfref\n".into()
        };
        std::fs::write(dir.join(format!("m{i}.py")), next).unwrap();
    }
    std::fs::write(dir.join("selfref.py"), "import selfref\nimport huge\n").unwrap();
    std::fs::write(dir.join("huge.py"), "# padding\n".repeat(1 << 20)).unwrap();
    std::fs::write(dir.join("lazy.py"), "").unwrap();
    let script = dir.join("daemon.py");
    std::fs::write(
        &script,
        "import time\nimport m0\ndef later():\n    import lazy\nwhile True:\n    time.sleep(60)\n",
    )
    .unwrap();
    let mut h = spawn(Command::new("/usr/bin/python3").arg("-B").arg(&script));
    let pid = h.0.id() as i32;
    // loaded: python has read the last module of the chain (its open files are gone by now, so
    // wait for the process to settle into its sleep)
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        h.0.try_wait().unwrap().is_none(),
        "the daemon imported its modules and runs"
    );
    let clean = scan();
    assert!(
        all_processes(&clean).iter().all(|(_, p)| p.pid != pid),
        "nothing changed: not stale"
    );
    // start times are known to the clock tick: a change a moment after the scan above is seen
    std::thread::sleep(Duration::from_millis(200));
    rename_over(&dir.join("m5.py"));
    // imported only inside a function: it may or may not have been loaded (issue 27: it was
    // not reported at all; now "may have changed", which is never restarted automatically)
    rename_over(&dir.join("lazy.py"));
    let r = scan();
    let files: Vec<(String, FileKind, Reason)> = all_processes(&r)
        .into_iter()
        .filter(|(_, p)| p.pid == pid)
        .flat_map(|(_, p)| p.files.iter().map(|f| (f.path.clone(), f.kind, f.reason)))
        .collect();
    assert_eq!(
        files,
        [
            (
                dir.join("m5.py").to_str().unwrap().to_string(),
                FileKind::Module,
                Reason::Changed
            ),
            (
                dir.join("lazy.py").to_str().unwrap().to_string(),
                FileKind::LaterModule,
                Reason::MayHaveChanged
            )
        ],
        "the replaced module of the chain, and the one imported later as \"may have changed\""
    );
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("module list is incomplete")),
        "the chain is deeper than the bound, and the report says so: {:?}",
        r.warnings
    );
    drop(h);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_scan_stuck_on_its_input_ends_at_its_deadline() {
    // a proc tree whose process `maps` is a FIFO nobody writes: reading it blocks forever
    let dir = std::env::temp_dir().join(format!("fr-deadline-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("4242")).unwrap();
    std::fs::write(dir.join("stat"), "cpu 1 1 1 1\nbtime 1700000000\n").unwrap();
    std::os::unix::fs::symlink("/usr/sbin/daemon", dir.join("4242/exe")).unwrap();
    let fifo = dir.join("4242/maps");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let mut child = Command::new(env!("CARGO_BIN_EXE_fleetrestart-scan"))
        .args(["--format", "json", "--deadline", "2", "--proc"])
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if t0.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let status = status.expect("the scan outlived its deadline");
    assert_eq!(status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("past its deadline"), "{err}");
    assert!(out.stdout.is_empty(), "no half report");
}

#[test]
fn batch_mode_exits_0_as_needrestart_b_does_while_its_lines_say_what_is_needed() {
    // newcomer E11: Katello's collector calls `needrestart -b` with check_output, which fails
    // on any status but 0
    let dir = scratch("batch");
    let lib = dir.join("libbatch.so.1");
    std::fs::copy(system_lib(), &lib).unwrap();
    let stale = spawn(Command::new("sleep").arg("600").env("LD_PRELOAD", &lib));
    wait_mapped(stale.0.id(), &lib);
    rename_over(&lib);
    let run = |format: &str| {
        Command::new(env!("CARGO_BIN_EXE_fleetrestart-scan"))
            .args(["--format", format])
            .output()
            .unwrap()
    };
    let batch = run("batch");
    let json = run("json");
    drop(stale);
    let _ = std::fs::remove_dir_all(dir);
    let text = String::from_utf8_lossy(&batch.stdout);
    assert_eq!(batch.status.code(), Some(0), "{text}");
    assert!(text.starts_with("NEEDRESTART-VER:"), "{text}");
    assert_eq!(
        json.status.code(),
        Some(1),
        "the other formats say it in their status"
    );
}
