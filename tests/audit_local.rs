//! `fleetrestart audit` without an inventory: this machine through the local transport, with the
//! same delivery as a remote host (upload once into a private cache, sha256 check, reuse).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn home(name: &str) -> PathBuf {
    common::scratch(&format!("home-{name}"))
}

fn audit(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fleetrestart"))
        .arg("audit")
        .args(args)
        .env("HOME", home)
        .env_remove("XDG_CACHE_HOME")
        .env("FLEETRESTART_SCANNER_DIR", common::scanner_dir())
        .output()
        .unwrap()
}

/// A `sleep` preloading a copy of libz at `lib`, which is then renamed over (as dpkg replaces
/// files): a real stale process. `shown` is a part of the name as maps prints it.
fn stale_helper(lib: &Path, shown: &str) -> std::process::Child {
    std::fs::create_dir_all(lib.parent().unwrap()).unwrap();
    let src = [
        "/usr/lib/x86_64-linux-gnu/libz.so.1",
        "/lib/x86_64-linux-gnu/libz.so.1",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .unwrap();
    std::fs::copy(src, lib).unwrap();
    let helper = Command::new("sleep")
        .arg("600")
        .env("LD_PRELOAD", lib)
        .spawn()
        .unwrap();
    let maps = format!("/proc/{}/maps", helper.id());
    while !std::fs::read_to_string(&maps)
        .unwrap_or_default()
        .contains(shown)
    {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::fs::copy(lib, lib.with_extension("new")).unwrap();
    std::fs::rename(lib.with_extension("new"), lib).unwrap();
    helper
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON document")
}

#[test]
fn uploads_once_then_reuses_and_reuploads_a_tampered_copy() {
    let h = home("cache");
    let first = json(&audit(&h, &["--json"]));
    assert_eq!(first["hosts"][0]["status"], "ok");
    assert_eq!(first["hosts"][0]["delivery"], "uploaded");
    assert_eq!(first["summary"]["failed"], 0);
    let cache = h.join(".cache/fleetrestart");
    assert_eq!(
        std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    // the copy, and the stamp of what the upload verified (so the next run does not hash)
    assert_eq!(files.len(), 2, "{files:?}");
    let cached = &files[0];
    assert_eq!(
        files[1].display().to_string(),
        format!("{}.ok", cached.display())
    );
    let uploaded_stamp = std::fs::read_to_string(&files[1]).unwrap();
    assert!(cached
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("fleetrestart-scan-x86_64-"));
    assert_eq!(
        std::fs::read(cached).unwrap(),
        std::fs::read(common::scanner_dir().join("fleetrestart-scan-x86_64")).unwrap()
    );

    let second = json(&audit(&h, &["--json"]));
    assert_eq!(second["hosts"][0]["delivery"], "reused");
    let report = &second["hosts"][0]["report"];
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["scanner"]["name"], "fleetrestart-scan");

    // warm runs trust the stamp written when the copy was last hashed; a rewrite of the same
    // size changes the stamp, so the copy is hashed again, found wrong and uploaded again
    let stamp = std::fs::read_to_string(format!("{}.ok", cached.display())).unwrap();
    assert_eq!(stamp, uploaded_stamp, "the warm run did not hash again");
    let (hash, st) = stamp.trim_end().split_once(' ').expect("hash and stamp");
    assert!(
        hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        "{stamp}"
    );
    // GNU ls on this machine: inode, size, change time in nanoseconds
    let parts: Vec<&str> = st.split(':').collect();
    assert_eq!(parts.len(), 3, "{stamp}");
    assert_eq!(
        parts[1],
        std::fs::metadata(cached).unwrap().len().to_string(),
        "{stamp}"
    );
    assert!(
        parts[2]
            .split_once('.')
            .is_some_and(|(_, ns)| ns.len() == 9),
        "{stamp}"
    );
    let mut same_size = std::fs::read(cached).unwrap();
    let last = same_size.len() - 1;
    same_size[last] ^= 0xff;
    std::fs::write(cached, &same_size).unwrap();
    let rewritten = json(&audit(&h, &["--json"]));
    assert_eq!(rewritten["hosts"][0]["delivery"], "uploaded");
    assert_eq!(
        std::fs::read(cached).unwrap(),
        std::fs::read(common::scanner_dir().join("fleetrestart-scan-x86_64")).unwrap()
    );

    // a cached copy that no longer matches its hash is never run: it is uploaded again
    std::fs::write(cached, b"#!/bin/sh\necho tampered\n").unwrap();
    let third = json(&audit(&h, &["--json"]));
    assert_eq!(third["hosts"][0]["delivery"], "uploaded");
    assert_ne!(
        std::fs::read(cached).unwrap(),
        b"#!/bin/sh\necho tampered\n"
    );

    let clean = json(&audit(&h, &["--json", "--clean"]));
    assert_eq!(clean["hosts"][0]["status"], "ok");
    assert!(!cache.exists(), "--clean removes the cached scanner");
    let _ = std::fs::remove_dir_all(h);
}

#[test]
fn human_table_is_the_default() {
    let h = home("human");
    let out = audit(&h, &[]);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("scanned") && text.contains("processes in") && text.contains("kernel:"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(h);
}

#[test]
fn bad_rules_file_stops_before_any_host() {
    let h = home("rules");
    let rules = h.join("rules.yaml");
    std::fs::write(
        &rules,
        "version: 1\nrules:\n  - name: a\n    match: { exe: '[' }\n",
    )
    .unwrap();
    let out = audit(&h, &["--rules", rules.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:4:", rules.display())) && err.contains("invalid regex"),
        "{err}"
    );
    assert!(!h.join(".cache").exists(), "nothing was delivered");
    let _ = std::fs::remove_dir_all(h);
}

#[test]
fn user_rules_reach_the_scanner() {
    // a helper with a replaced library is reported, unless a user rule ignores its path
    let h = home("userrules");
    let lib = h.join("lib").join("libuser.so.1");
    let mut helper = stale_helper(&lib, "libuser.so.1");
    let path = lib.to_str().unwrap();

    let plain = json(&audit(&h, &["--json"]));
    assert!(
        plain["hosts"][0]["report"].to_string().contains(path),
        "reported without rules"
    );
    let rules = h.join("rules.yaml");
    std::fs::write(
        &rules,
        format!(
            "version: 1\nignore_paths: ['^{}/']\n",
            lib.parent().unwrap().display()
        ),
    )
    .unwrap();
    let ruled = json(&audit(&h, &["--json", "--rules", rules.to_str().unwrap()]));
    assert!(
        !ruled["hosts"][0]["report"].to_string().contains(path),
        "the user's ignore rule reached the scanner"
    );
    let _ = helper.kill();
    let _ = helper.wait();
    let _ = std::fs::remove_dir_all(h);
}

#[test]
fn control_characters_from_a_host_never_reach_the_terminal() {
    // review M7: any user of a host chooses the names of the files its processes map
    let h = home("escapes");
    let lib = h
        .join("lib")
        .join("libesc\u{1b}[2J\u{1b}]0;owned\u{7}.so.1");
    let mut helper = stale_helper(&lib, "libesc");
    let o = audit(&h, &[]);
    let _ = helper.kill();
    let _ = helper.wait();
    assert!(matches!(o.status.code(), Some(1)), "{}", common::text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("libesc"), "the stale library is listed: {out}");
    assert!(
        !out.contains('\u{1b}') && !out.contains('\u{7}'),
        "raw control characters in the human view: {out:?}"
    );
    assert!(out.contains("\\u{1b}[2J"), "shown escaped: {out}");
    let _ = std::fs::remove_dir_all(h);
}

#[test]
fn monitoring_formats_on_a_real_stale_process() {
    let h = home("monitoring");
    let lib = h.join("lib").join("libmon.so.1");
    let mut helper = stale_helper(&lib, "libmon.so.1");

    // nagios: one line with perfdata, and the exit code is the state the line names
    let o = audit(&h, &["--format", "nagios"]);
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let first = text.lines().next().unwrap_or("");
    let code = o.status.code().unwrap();
    let label = ["OK", "WARNING", "CRITICAL", "UNKNOWN"][code as usize];
    assert!(
        first.starts_with(&format!("FLEETRESTART {label} - 1 host(s)")),
        "exit {code}: {text}"
    );
    assert!(first.contains("| hosts=1 scanned=1"), "{first}");
    assert_ne!(code, 0, "a stale process is not OK: {text}");

    // openmetrics: well-formed samples for this host, ending with # EOF
    let o = audit(&h, &["--format", "openmetrics"]);
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(
        text.contains("fleetrestart_host_scanned{host=\"localhost\"} 1\n"),
        "{text}"
    );
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let (name, value) = l.rsplit_once(' ').unwrap();
        assert!(
            name.starts_with("fleetrestart_") && value.parse::<u64>().is_ok(),
            "{l}"
        );
    }
    // and the consumers load it: Prometheus's own linter (the textfile collector's parser),
    // for the fleet's metrics and for the scanner's own on this host (newcomer E9)
    let scanner =
        common::scanner_dir().join(format!("fleetrestart-scan-{}", std::env::consts::ARCH));
    let own = Command::new(&scanner)
        .args(["--format", "openmetrics"])
        .output()
        .unwrap()
        .stdout;
    for (what, metrics) in [("fleet", text.as_bytes().to_vec()), ("scanner", own)] {
        assert!(
            std::path::Path::new("/usr/bin/promtool").is_file(),
            "promtool missing: cargo xtask deps installs Debian's prometheus"
        );
        let lint = Command::new("/usr/bin/promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(&metrics)?;
                c.wait_with_output()
            })
            .unwrap();
        assert!(
            lint.status.success(),
            "{what}: promtool check metrics: {}{}",
            String::from_utf8_lossy(&lint.stdout),
            String::from_utf8_lossy(&lint.stderr)
        );
    }

    // traces: JSON with this host's list
    let o = audit(&h, &["--format", "traces"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["hosts"]["localhost"]["traces"].is_object(), "{v}");

    // and the formats exclude --json
    let o = audit(&h, &["--format", "nagios", "--json"]);
    assert_eq!(o.status.code(), Some(2));
    let _ = helper.kill();
    let _ = helper.wait();
    let _ = std::fs::remove_dir_all(h);
}
