//! Scanner delivery and run on one host, over any [`Session`].
//!
//! One command, warm or cold. The host script detects the architecture, checks the sha256 of
//! the content-addressed copy in its private cache directory (default
//! `${XDG_CACHE_HOME:-$HOME/.cache}/fleetrestart`, so a noexec /tmp does not matter) and prints
//! one line: `FLEETRESTART-RUN` (verified: it execs the scanner) or `FLEETRESTART-UPLOAD ARCH`.
//! Only on the second is the scanner sent, on the same command's standard input
//! ([`Input::Reply`]); the script writes it to a temporary file in the 0700 directory, verifies
//! its sha256, renames it into place and execs it. The rules file, when given, follows on
//! standard input. The report is parsed with a size bound and its schema version checked.

use crate::audit::scanners::ScannerSet;
use crate::shell::quote;
use crate::transport::{ExecLimits, Input, Session, TransportError};
use fleetrestart_scan::report::{Report, SCHEMA_VERSION};
use std::borrow::Cow;
use std::time::Duration;

/// Exit codes of our own delivery script (the scanner itself uses 0–3).
const EXIT_NO_SCANNER: i32 = 95;
const EXIT_UPLOAD_FAILED: i32 = 96;
const EXIT_UNKNOWN_ARCH: i32 = 97;
const EXIT_UNSAFE_DIR: i32 = 98;
const EXIT_VERIFY_FAILED: i32 = 99;

/// The delivery script's asking line: what it did or needs. Lines before it (a login shell's
/// chatter) are skipped.
const LINE_PREFIX: &str = "FLEETRESTART-";
const LINE_RUN: &str = "FLEETRESTART-RUN";
const LINE_UPLOAD: &str = "FLEETRESTART-UPLOAD ";
const LINE_ARCH: &str = "FLEETRESTART-ARCH ";
const LINE_NO_SCANNER: &str = "FLEETRESTART-NOSCANNER ";
const LINE_UNSAFE: &str = "FLEETRESTART-UNSAFE ";

/// The cache directory expression used when none is configured (expanded by the host's shell).
pub const DEFAULT_CACHE_DIR: &str = "${XDG_CACHE_HOME:-$HOME/.cache}/fleetrestart";

#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Cache directory on the host (quoted before use); `None` for [`DEFAULT_CACHE_DIR`].
    pub cache_dir: Option<String>,
    /// A scanner already installed on the host: run it, upload nothing.
    pub installed_scanner: Option<String>,
    /// Remove the uploaded scanner after the run.
    pub clean: bool,
    pub command_timeout: Duration,
    pub max_report_bytes: usize,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            cache_dir: None,
            installed_scanner: None,
            clean: false,
            command_timeout: Duration::from_secs(120),
            max_report_bytes: 32 << 20,
        }
    }
}

/// How the scanner got onto the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// The cached copy was there and verified.
    Reused,
    /// It was uploaded (bytes) this run.
    Uploaded(u64),
    /// A scanner installed on the host was used.
    Installed,
}

#[derive(Debug, Clone)]
pub struct HostScan {
    pub report: Report,
    pub delivery: Delivery,
}

/// Why a host could not be scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// No session could be opened (network, handshake, host key, authentication).
    Unreachable(String),
    Transport(TransportError),
    UnsupportedArch(String),
    NoScanner(String),
    UploadFailed(String),
    VerifyFailed,
    /// Someone else could change what is in the cache directory: nothing is run from it.
    UnsafeCacheDir(String),
    ScannerFailed {
        status: Option<i32>,
        stderr: String,
    },
    BadReport(String),
    Internal(String),
}

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostError::Unreachable(m) => f.write_str(m),
            HostError::Internal(m) => f.write_str(m),
            HostError::Transport(e) => write!(f, "{e}"),
            HostError::UnsupportedArch(a) => write!(f, "unsupported architecture {a:?} (scanners exist for x86_64 and aarch64)"),
            HostError::NoScanner(a) => write!(f, "no scanner for {a} is available to this controller (build with `cargo xtask scanners`)"),
            HostError::UploadFailed(e) => write!(f, "uploading the scanner failed: {e}"),
            HostError::UnsafeCacheDir(m) => write!(f, "refusing the scanner cache directory: {m}"),
            HostError::VerifyFailed => write!(f, "the uploaded scanner failed its sha256 check (is sha256sum installed on the host?)"),
            HostError::ScannerFailed { status: Some(c), stderr } => write!(f, "scanner exited with status {c}: {}", stderr.trim()),
            HostError::ScannerFailed { status: None, stderr } => write!(f, "scanner was killed by a signal: {}", stderr.trim()),
            HostError::BadReport(e) => write!(f, "invalid scanner report: {e}"),
        }
    }
}

impl From<TransportError> for HostError {
    fn from(e: TransportError) -> Self {
        HostError::Transport(e)
    }
}

fn dir_expr(cfg: &DeliveryConfig) -> String {
    match &cfg.cache_dir {
        Some(d) => quote(d),
        None => format!("\"{DEFAULT_CACHE_DIR}\""),
    }
}

/// The host script: run the verified cached scanner, or ask for it, verify it and run it.
/// Every path is quoted; the architecture comes from `/proc/sys/kernel/arch` (a read, no
/// process) or `uname -m` on kernels without it.
///
/// The cache directory is trusted only when nobody else can change what is in it:
/// resolved to its physical path, it must be a directory of the running user with mode
/// `drwx------`, and every directory above it must belong to root or that user and be writable
/// by nobody else (unless sticky, like /tmp). One `ls -ldni` of the chain checks it, read in
/// the script's own shell (a here-document: no subshell per line; splitting it in memory with
/// `IFS` and `set --` instead measured no faster); the user id comes from
/// `/proc/self/status` (no process). Every check reads that one listing: not `test -O`, which
/// stats the path again and follows a symbolic link that another user's entry in a sticky
/// parent (`/tmp/x`) may have become since `ls` listed it. Then the file hashed is the file
/// run: nobody else can rewrite it between the hash and the exec. An upload is written with
/// noclobber.
///
/// Warm runs skip the hash when `<file>.ok` holds it with a stamp of the file equal to the
/// file's now: with GNU ls, the same `ls` lists the cached copy too, with its inode, size and
/// change time in nanoseconds (`--time-style=+%s.%N -c`: no second process); with BusyBox, a
/// `stat` of device, inode, size, modification and change times (seconds). Any write through
/// the filesystem changes the change time, so the file is hashed again (then run only when it
/// matches). Without either, every run hashes. The upload writes the stamp of the copy it
/// verified, so the first warm run after it does not hash either.
///
/// With `rules_len` > 0 the rules follow the scanner on standard input. On the cold path one
/// `head` reads both into the temporary file (BusyBox `head -c` reads past its count, so a
/// second reader of the same input would miss what it swallowed); the rules are
/// then split off into their own file, which becomes the scanner's standard input.
pub fn run_script(set: &ScannerSet, cfg: &DeliveryConfig, rules_len: usize) -> String {
    let args = format!(
        "--format json{}",
        if rules_len > 0 { " --rules -" } else { "" }
    );
    if let Some(path) = &cfg.installed_scanner {
        // an installed scanner may be older than `--deadline`: its default deadline holds
        return format!("exec {} {args}", quote(path));
    }
    // the delivered scanner ends itself soon after this controller stops waiting for it
    let deadline = 2 * cfg.command_timeout.as_secs().max(1) + 10;
    let mut s = format!(
        "d={}\ndeadline={deadline}\nrules={rules_len}\nscanner() {{\n  case $1 in\n",
        dir_expr(cfg)
    );
    for sc in &set.scanners {
        s.push_str(&format!(
            "    {}) b={}; h={}; n={} ;;\n",
            sc.arch,
            sc.cache_name(),
            sc.sha256,
            sc.bytes.len()
        ));
    }
    s.push_str("    *) return 1 ;;\n  esac\n}\n");
    s.push_str(DELIVER_SH);
    s
}

/// The host side of the delivery, after the preamble [`run_script`] writes (shellchecked by
/// `cargo xtask test`).
const DELIVER_SH: &str = include_str!("deliver.sh");

/// Removes every cached scanner version and the directory if empty.
pub fn clean_script(cfg: &DeliveryConfig) -> String {
    format!("d={}\n[ -h \"$d\" ] || {{ rm -f \"$d\"/fleetrestart-scan-* \"$d\"/.upload.*; rmdir \"$d\" 2>/dev/null; }}\nexit 0\n", dir_expr(cfg))
}

pub fn parse_report(stdout: &[u8]) -> Result<Report, HostError> {
    // the version first, skipping everything else without building it (a
    // serde_json::Value of a 32 MiB report took ~40x its size), then straight into Report
    #[derive(serde::Deserialize)]
    struct Version {
        schema_version: Option<u64>,
    }
    let v: Version = serde_json::from_slice(stdout)
        .map_err(|e| HostError::BadReport(format!("not JSON: {e}")))?;
    match v.schema_version {
        Some(n) if n == u64::from(SCHEMA_VERSION) => {}
        Some(n) => {
            return Err(HostError::BadReport(format!(
                "unknown schema version {n} (this controller reads {SCHEMA_VERSION})"
            )))
        }
        None => return Err(HostError::BadReport("no schema_version field".into())),
    }
    let report: Report =
        serde_json::from_slice(stdout).map_err(|e| HostError::BadReport(e.to_string()))?;
    report.check_bounds().map_err(HostError::BadReport)?;
    Ok(report)
}

/// The script's asking line and the output after it (the report).
fn split_at_asking_line(stdout: &[u8]) -> (&str, &[u8]) {
    let mut rest = stdout;
    while !rest.is_empty() {
        let i = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let line = &rest[..i];
        let after = &rest[(i + 1).min(rest.len())..];
        if line.starts_with(LINE_PREFIX.as_bytes()) {
            return (std::str::from_utf8(line).unwrap_or(""), after);
        }
        rest = after;
    }
    ("", stdout)
}

/// Delivers (if needed) and runs the scanner on the session's host, in one command.
pub fn scan_host(
    session: &mut dyn Session,
    set: &ScannerSet,
    cfg: &DeliveryConfig,
    rules: Option<&str>,
) -> Result<HostScan, HostError> {
    let limits = ExecLimits {
        timeout: cfg.command_timeout,
        max_stdout: cfg.max_report_bytes,
        max_stderr: 64 << 10,
    };
    let rules = rules.unwrap_or("").as_bytes();
    let script = run_script(set, cfg, rules.len());
    let answer = |line: &str| -> Cow<[u8]> {
        match line.strip_prefix(LINE_UPLOAD).and_then(|a| set.for_arch(a)) {
            Some(sc) if rules.is_empty() => Cow::Borrowed(sc.bytes.as_slice()),
            Some(sc) => Cow::Owned([sc.bytes.as_slice(), rules].concat()),
            None => Cow::Borrowed(rules),
        }
    };
    let (out, mut delivery) = if cfg.installed_scanner.is_some() {
        let out = session.exec(&script, rules, limits)?;
        (out, Delivery::Installed)
    } else {
        let input = Input::Reply {
            prefix: LINE_PREFIX,
            answer: &answer,
        };
        let out = session.exec_input(&script, input, limits)?;
        (out, Delivery::Reused)
    };
    let mut report = out.stdout.as_slice();
    if cfg.installed_scanner.is_none() {
        let (line, rest) = split_at_asking_line(&out.stdout);
        report = rest;
        let arch_in = |prefix: &str| line.strip_prefix(prefix).unwrap_or("").trim().to_string();
        match out.status {
            Some(EXIT_UNKNOWN_ARCH) => return Err(HostError::UnsupportedArch(arch_in(LINE_ARCH))),
            Some(EXIT_NO_SCANNER) => return Err(HostError::NoScanner(arch_in(LINE_NO_SCANNER))),
            Some(EXIT_UPLOAD_FAILED) => {
                return Err(HostError::UploadFailed(
                    String::from_utf8_lossy(&out.stderr).trim().to_string(),
                ))
            }
            Some(EXIT_VERIFY_FAILED) => return Err(HostError::VerifyFailed),
            Some(EXIT_UNSAFE_DIR) => return Err(HostError::UnsafeCacheDir(arch_in(LINE_UNSAFE))),
            _ => {}
        }
        if let Some(sc) = line.strip_prefix(LINE_UPLOAD).and_then(|a| set.for_arch(a)) {
            delivery = Delivery::Uploaded(sc.bytes.len() as u64);
        } else if line != LINE_RUN && matches!(out.status, Some(0) | Some(1)) {
            return Err(HostError::BadReport(format!(
                "the delivery script's {LINE_RUN} line is missing; output starts with {:?}",
                String::from_utf8_lossy(&out.stdout[..out.stdout.len().min(80)])
            )));
        }
    }
    if cfg.clean && cfg.installed_scanner.is_none() {
        session.exec(&clean_script(cfg), b"", limits)?;
    }
    match out.status {
        Some(0) | Some(1) => {
            if out.truncated {
                return Err(HostError::BadReport(format!(
                    "report larger than {} bytes",
                    cfg.max_report_bytes
                )));
            }
            Ok(HostScan {
                report: parse_report(report)?,
                delivery,
            })
        }
        status => Err(HostError::ScannerFailed {
            status,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_checked() {
        assert!(
            matches!(parse_report(b"not json"), Err(HostError::BadReport(m)) if m.starts_with("not JSON"))
        );
        assert!(
            matches!(parse_report(b"{\"schema_version\": 99}"), Err(HostError::BadReport(m)) if m.contains("unknown schema version 99"))
        );
        assert!(
            matches!(parse_report(b"{}"), Err(HostError::BadReport(m)) if m.contains("no schema_version"))
        );
        assert!(matches!(
            parse_report(b"{\"schema_version\": 1}"),
            Err(HostError::BadReport(_))
        ));
    }

    fn max_rss_kib() -> i64 {
        // SAFETY: getrusage(2) fills the struct it is given.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
        u.ru_maxrss
    }

    #[test]
    fn hostile_reports_cost_little_memory_and_keep_the_scanner_bounds() {
        // the report was first built as a serde_json::Value, ~40x its size in
        // memory (a 32 MiB array of zeros: over 1 GB per host)
        let mut doc = String::from("{\"schema_version\":1,\"x\":[0");
        while doc.len() < 32 << 20 {
            doc.push_str(",0");
        }
        doc.push_str("]}");
        let before = max_rss_kib();
        let r = parse_report(doc.as_bytes());
        let grew_mib = (max_rss_kib() - before) / 1024;
        assert!(
            matches!(&r, Err(HostError::BadReport(m)) if m.contains("unknown field")),
            "{r:?}"
        );
        assert!(
            grew_mib < 200,
            "parsing grew the peak RSS by {grew_mib} MiB"
        );
        // the scanner's bounds hold for what the controller accepts
        let mut v: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/report-clean.json")).unwrap();
        let proc_ = serde_json::json!({"pid": 10, "ppid": 1, "uid": 0, "user": "root", "comm": "x", "exe": "/usr/bin/x", "cmdline": "x", "started_at": 0, "cgroup": null, "files": [], "files_omitted": 0});
        let procs: Vec<_> = (0..201).map(|_| proc_.clone()).collect();
        v["services"] = serde_json::json!([{"name": "a.service", "kind": "systemd", "method": "restart", "policy": "auto", "rule": null, "process_count": 201, "processes": procs}]);
        let r = parse_report(v.to_string().as_bytes());
        assert!(
            matches!(&r, Err(HostError::BadReport(m)) if m.contains("201 processes (at most 200)")),
            "{r:?}"
        );
        v["services"][0]["processes"] = serde_json::json!([proc_]);
        assert!(parse_report(v.to_string().as_bytes()).is_ok());
        let files: Vec<_> = (0..65).map(|i| serde_json::json!({"path": format!("/l{i}"), "kind": "library", "reason": "deleted", "package": null})).collect();
        v["services"][0]["processes"][0]["files"] = serde_json::json!(files);
        let r = parse_report(v.to_string().as_bytes());
        assert!(
            matches!(&r, Err(HostError::BadReport(m)) if m.contains("65 files (at most 64)")),
            "{r:?}"
        );
    }

    #[test]
    fn the_host_script_speaks_the_lines_and_codes_this_side_reads() {
        for line in [
            LINE_RUN,
            LINE_UPLOAD,
            LINE_ARCH,
            LINE_NO_SCANNER,
            LINE_UNSAFE,
        ] {
            assert!(DELIVER_SH.contains(&format!("printf '{line}")), "{line}");
        }
        for code in [
            EXIT_NO_SCANNER,
            EXIT_UPLOAD_FAILED,
            EXIT_UNKNOWN_ARCH,
            EXIT_UNSAFE_DIR,
            EXIT_VERIFY_FAILED,
        ] {
            assert!(DELIVER_SH.contains(&format!("exit {code}")), "exit {code}");
        }
    }

    #[test]
    fn the_host_script_passes_shellcheck_as_sent() {
        assert!(
            std::path::Path::new("/usr/bin/shellcheck").is_file(),
            "/usr/bin/shellcheck missing: cargo xtask deps installs shellcheck"
        );
        let set = ScannerSet {
            scanners: vec![crate::audit::scanners::Scanner::new(
                "x86_64",
                b"#!/bin/sh\n".to_vec(),
                "test".into(),
            )],
        };
        for rules in [0, 12] {
            let script = run_script(&set, &DeliveryConfig::default(), rules);
            let out = std::process::Command::new("/usr/bin/shellcheck")
                // deliberate, as deliver.sh's head says: SC2217 (standard input from /dev/null
                // for commands that do not read it), SC2030/SC2031 (LC_ALL set in a command
                // substitution for that command alone), SC2015 (`a && b || c`: c when a or b
                // failed)
                .args([
                    "--shell=sh",
                    "--severity=style",
                    "--exclude=SC2217,SC2030,SC2031,SC2015",
                    "-",
                ])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    use std::io::Write;
                    c.stdin.take().unwrap().write_all(script.as_bytes())?;
                    c.wait_with_output()
                })
                .unwrap();
            assert!(
                out.status.success(),
                "shellcheck:\n{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }

    #[test]
    fn scripts_quote_configured_paths() {
        let cfg = DeliveryConfig {
            cache_dir: Some("/var/cache/it's here".into()),
            ..Default::default()
        };
        assert!(run_script(&ScannerSet::default(), &cfg, 0)
            .starts_with("d='/var/cache/it'\\''s here'\n"));
        let cfg = DeliveryConfig {
            installed_scanner: Some("/opt/fr scan".into()),
            ..Default::default()
        };
        assert_eq!(
            run_script(&ScannerSet::default(), &cfg, 10),
            "exec '/opt/fr scan' --format json --rules -"
        );
    }
}

#[cfg(test)]
mod script_tests {
    //! The host script run by `sh` on this machine, with stand-in scanners (shell scripts).
    use super::*;
    use crate::audit::scanners::Scanner;
    use crate::transport::local::LocalSession;
    use crate::transport::ExecOutput;

    fn cache(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("fr-delivery-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn config(dir: &std::path::Path) -> DeliveryConfig {
        DeliveryConfig {
            cache_dir: Some(dir.to_string_lossy().into_owned()),
            ..Default::default()
        }
    }

    fn host_arch() -> &'static str {
        std::env::consts::ARCH
    }

    #[test]
    fn a_corrupted_upload_is_never_run_nor_kept() {
        let dir = cache("corrupt");
        let mut sc = Scanner::new(
            host_arch(),
            b"#!/bin/sh\necho run >&2\n".to_vec(),
            "t".into(),
        );
        sc.sha256 = "0".repeat(64); // what arrives does not hash to what was announced
        let set = ScannerSet { scanners: vec![sc] };
        let r = scan_host(&mut LocalSession::default(), &set, &config(&dir), None);
        assert!(matches!(r, Err(HostError::VerifyFailed)), "{r:?}");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
        assert!(left.is_empty(), "nothing kept: {left:?}");
    }

    #[test]
    fn no_scanner_for_the_host_arch_is_named() {
        let dir = cache("noarch");
        let other = if host_arch() == "x86_64" {
            "aarch64"
        } else {
            "x86_64"
        };
        let set = ScannerSet {
            scanners: vec![Scanner::new(other, b"x".to_vec(), "t".into())],
        };
        let r = scan_host(&mut LocalSession::default(), &set, &config(&dir), None);
        assert_eq!(r.unwrap_err(), HostError::NoScanner(host_arch().into()));
    }

    /// A stand-in scanner that records that it ran, and the rules it got, in `out`.
    fn recorder(out: &std::path::Path) -> ScannerSet {
        let body = format!(
            "#!/bin/sh\ncat > '{}'\necho '{{\"schema_version\": 1}}'\n",
            out.display()
        );
        ScannerSet {
            scanners: vec![Scanner::new(host_arch(), body.into_bytes(), "t".into())],
        }
    }

    fn unsafe_reason(r: Result<HostScan, HostError>) -> String {
        match r {
            Err(HostError::UnsafeCacheDir(m)) => m,
            r => panic!("expected a refused cache directory, got {r:?}"),
        }
    }

    #[test]
    fn a_cache_directory_others_can_change_is_refused() {
        // the script trusted any existing directory and file (owner, mode,
        // symlinks), so a pre-created cache dir let another user swap the scanner after its
        // hash was checked
        let base = cache("unsafe");
        std::fs::create_dir_all(&base).unwrap();
        let out = base.join("ran");
        let set = recorder(&out);
        let uid = unsafe { libc::geteuid() };
        let chown = |p: &std::path::Path, uid: u32| {
            let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
            assert_eq!(unsafe { libc::chown(c.as_ptr(), uid, uid) }, 0);
        };
        let mode = |p: &std::path::Path, m: u32| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
        };
        // another user's directory, with the genuine stand-in inside (its bytes are public)
        let theirs = base.join("theirs");
        // (the stand-in's report is not a whole one: a bad report means it ran)
        let ran = |r: Result<HostScan, HostError>| {
            assert!(matches!(&r, Err(HostError::BadReport(_))), "{r:?}");
            std::fs::remove_file(&out).expect("the stand-in ran");
        };
        ran(scan_host(
            &mut LocalSession::default(),
            &set,
            &config(&theirs),
            None,
        ));
        if uid == 0 {
            chown(&theirs, 65534);
            let m = unsafe_reason(scan_host(
                &mut LocalSession::default(),
                &set,
                &config(&theirs),
                None,
            ));
            assert!(m.contains("belongs to uid 65534"), "{m}");
            assert!(!out.exists(), "the scanner in it did not run");
            chown(&theirs, uid);
        }
        // our own directory, but open to others
        mode(&theirs, 0o755);
        let m = unsafe_reason(scan_host(
            &mut LocalSession::default(),
            &set,
            &config(&theirs),
            None,
        ));
        assert!(m.contains("has mode drwxr-xr-x, not drwx------"), "{m}");
        // a parent anyone may write to (not sticky): they could rename ours away
        let open = base.join("open");
        std::fs::create_dir_all(&open).unwrap();
        mode(&open, 0o777);
        let m = unsafe_reason(scan_host(
            &mut LocalSession::default(),
            &set,
            &config(&open.join("c")),
            None,
        ));
        assert!(m.contains("is writable by others (drwxrwxrwx)"), "{m}");
        // ... unless sticky, like /tmp
        mode(&open, 0o1777);
        ran(scan_host(
            &mut LocalSession::default(),
            &set,
            &config(&open.join("c")),
            None,
        ));
        // a symbolic link as the cache directory: refused, and its target left alone
        let target = base.join("target");
        std::fs::create_dir_all(&target).unwrap();
        mode(&target, 0o755);
        let link = base.join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let m = unsafe_reason(scan_host(
            &mut LocalSession::default(),
            &set,
            &config(&link),
            None,
        ));
        assert!(m.contains("symbolic link"), "{m}");
        use std::os::unix::fs::PermissionsExt;
        let m = std::fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(m & 0o777, 0o755, "not chmod'ed");
        std::fs::remove_dir_all(&base).unwrap();
    }

    /// A host whose login shell is `shell ARGS -c` with PATH `path` (BusyBox: `busybox sh`,
    /// and BusyBox's applets first on PATH; bash, the login shell of Debian's root).
    struct Shell(Vec<String>, String);

    impl Session for Shell {
        fn exec_gated(
            &mut self,
            command: &str,
            stdin: Input<'_>,
            limits: ExecLimits,
            _gate: Option<&crate::transport::gate::Handshake>,
        ) -> Result<ExecOutput, TransportError> {
            let mut cmd = std::process::Command::new(&self.0[0]);
            cmd.args(&self.0[1..])
                .args(["-c", command])
                .env("PATH", &self.1);
            crate::transport::local::run(cmd, stdin, limits, None)
        }
    }

    #[test]
    fn rules_reach_the_scanner_cold_and_warm_with_busybox_dash_and_bash() {
        // BusyBox `head -c N` reads past N, so on the cold path the rules that
        // followed the scanner's bytes on the same input were swallowed
        assert!(
            std::path::Path::new("/bin/busybox").is_file(),
            "/bin/busybox missing: cargo xtask deps installs busybox-static"
        );
        let base = cache("shells");
        let bin = base.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for a in [
            "head",
            "tail",
            "sha256sum",
            "ls",
            "mkdir",
            "mv",
            "rm",
            "chmod",
            "cat",
            "uname",
        ] {
            std::os::unix::fs::symlink("/bin/busybox", bin.join(a)).unwrap();
        }
        let out = base.join("rules-seen");
        let set = recorder(&out);
        let rules = "rules:\n  - match: {service: a.service}\n    policy: never\n".repeat(200);
        let sys = "/usr/bin:/bin".to_string();
        let shells = [
            (
                "busybox",
                Shell(
                    vec!["/bin/busybox".into(), "sh".into()],
                    bin.display().to_string(),
                ),
            ),
            ("dash", Shell(vec!["/bin/dash".into()], sys.clone())),
            ("bash", Shell(vec!["/bin/bash".into()], sys)),
        ];
        for (name, mut sh) in shells {
            // spaces in a name (two in a row too): the listing's name is what follows the date
            let dir = base.join(format!("{name} cache  dir"));
            let ok = dir.join(format!("{}.ok", set.scanners[0].cache_name()));
            let mut stamp = None;
            for want in [
                Delivery::Uploaded(set.scanners[0].bytes.len() as u64),
                Delivery::Reused,
            ] {
                let r = scan_host(&mut sh, &set, &config(&dir), Some(&rules));
                assert!(matches!(&r, Err(HostError::BadReport(_))), "{name}: {r:?}");
                let seen = std::fs::read_to_string(&out).unwrap();
                assert!(
                    seen == rules,
                    "{name} {want:?}: the scanner got {} bytes of rules",
                    seen.len()
                );
                std::fs::remove_file(&out).unwrap();
                // the upload leaves the stamp of what it verified, so the first warm run
                // does not hash the copy again (it would rewrite the stamp file)
                use std::os::unix::fs::MetadataExt;
                let m = std::fs::metadata(&ok)
                    .unwrap_or_else(|e| panic!("{name} {want:?}: no stamp file: {e}"));
                let now = (
                    std::fs::read_to_string(&ok).unwrap(),
                    m.ino(),
                    m.mtime_nsec(),
                );
                assert!(
                    now.0.starts_with(&set.scanners[0].sha256),
                    "{name}: {now:?}"
                );
                assert_eq!(
                    stamp.get_or_insert_with(|| now.clone()),
                    &now,
                    "{name}: the warm run hashed the copy again"
                );
            }
            // the cache holds the scanner and the stamp of its last hash only: no temporary or
            // rules file is left
            let mut left: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            left.sort();
            assert_eq!(left.len(), 2, "{name}: {left:?}");
            assert_eq!(format!("{}.ok", left[0]), left[1], "{name}: {left:?}");
        }
        std::fs::remove_dir_all(&base).unwrap();
    }

    /// A login shell that prints something before our script runs (a chatty `.bashrc`).
    struct Chatty;

    impl Session for Chatty {
        fn exec_gated(
            &mut self,
            command: &str,
            stdin: Input<'_>,
            limits: ExecLimits,
            gate: Option<&crate::transport::gate::Handshake>,
        ) -> Result<ExecOutput, TransportError> {
            LocalSession::default().exec_gated(
                &format!("echo welcome\n{command}"),
                stdin,
                limits,
                gate,
            )
        }
    }

    #[test]
    fn a_chatty_login_shell_is_passed_over() {
        let dir = cache("chatty");
        let report = b"#!/bin/sh\necho '{\"schema_version\": 1}'\n".to_vec();
        let set = ScannerSet {
            scanners: vec![Scanner::new(host_arch(), report, "t".into())],
        };
        // cold, then warm: the stand-in is uploaded, then run; what it prints is what is
        // parsed (here: not a whole report), never the shell's greeting
        for _ in 0..2 {
            let r = scan_host(&mut Chatty, &set, &config(&dir), None);
            assert!(
                matches!(&r, Err(HostError::BadReport(m)) if m.contains("missing field")),
                "{r:?}"
            );
        }
        // the scanner and the stamp of its hash (written by the warm run)
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2, "cached once");
        // a script whose line never comes: the host fails with what it printed
        let r = split_at_asking_line(b"welcome\n{}");
        assert_eq!(r, ("", &b"welcome\n{}"[..]));
    }
}
