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

use crate::scanners::ScannerSet;
use crate::shell::quote;
use crate::transport::{ExecLimits, Input, Session, TransportError};
use fleetrestart_scan::report::{Report, SCHEMA_VERSION};
use std::borrow::Cow;
use std::time::Duration;

/// Exit codes of our own delivery script (the scanner itself uses 0–3).
const EXIT_NO_SCANNER: i32 = 95;
const EXIT_UPLOAD_FAILED: i32 = 96;
const EXIT_UNKNOWN_ARCH: i32 = 97;
const EXIT_VERIFY_FAILED: i32 = 99;

/// The delivery script's asking line: what it did or needs. Lines before it (a login shell's
/// chatter) are skipped.
const LINE_PREFIX: &str = "FLEETRESTART-";
const LINE_RUN: &str = "FLEETRESTART-RUN";
const LINE_UPLOAD: &str = "FLEETRESTART-UPLOAD ";
const LINE_ARCH: &str = "FLEETRESTART-ARCH ";
const LINE_NO_SCANNER: &str = "FLEETRESTART-NOSCANNER ";

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
pub fn run_script(set: &ScannerSet, cfg: &DeliveryConfig, with_rules: bool) -> String {
    let args = format!(
        "--format json{}",
        if with_rules { " --rules -" } else { "" }
    );
    if let Some(path) = &cfg.installed_scanner {
        return format!("exec {} {args}", quote(path));
    }
    let mut s = format!(
        "d={}\na=\nread -r a 2>/dev/null </proc/sys/kernel/arch || a=$(uname -m </dev/null)\n",
        dir_expr(cfg)
    );
    s.push_str("case $a in\n  x86_64|amd64) a=x86_64 ;;\n  aarch64|arm64|armv8l) a=aarch64 ;;\n");
    s.push_str(&format!(
        "  *) printf '{LINE_ARCH}%s\\n' \"$a\"; exit {EXIT_UNKNOWN_ARCH} ;;\nesac\ncase $a in\n"
    ));
    for sc in &set.scanners {
        s.push_str(&format!(
            "  {}) f=\"$d/{}\"; h={}; n={} ;;\n",
            sc.arch,
            sc.cache_name(),
            sc.sha256,
            sc.bytes.len()
        ));
    }
    s.push_str(&format!(
        "  *) printf '{LINE_NO_SCANNER}%s\\n' \"$a\"; exit {EXIT_NO_SCANNER} ;;\nesac\n"
    ));
    s.push_str(&format!(
        "if [ -f \"$f\" ]; then\n  s=$(sha256sum \"$f\" </dev/null 2>/dev/null)\n  \
         if [ \"${{s%% *}}\" = \"$h\" ]; then printf '{LINE_RUN}\\n'; exec \"$f\" {args}; fi\nfi\n"
    ));
    s.push_str(&format!(
        "printf '{LINE_UPLOAD}%s\\n' \"$a\"\numask 077\nt=\"$d/.upload.$$\"\n\
         mkdir -p \"$d\" && chmod 700 \"$d\" && head -c \"$n\" >\"$t\" || {{ rm -f \"$t\"; exit {EXIT_UPLOAD_FAILED}; }}\n\
         s=$(sha256sum \"$t\" </dev/null 2>/dev/null)\n\
         [ \"${{s%% *}}\" = \"$h\" ] || {{ rm -f \"$t\"; exit {EXIT_VERIFY_FAILED}; }}\n\
         chmod 700 \"$t\" && mv -f \"$t\" \"$f\" || {{ rm -f \"$t\"; exit {EXIT_UPLOAD_FAILED}; }}\n\
         exec \"$f\" {args}\n"
    ));
    s
}

/// Removes every cached scanner version and the directory if empty.
pub fn clean_script(cfg: &DeliveryConfig) -> String {
    format!("d={}\nrm -f \"$d\"/fleetrestart-scan-* \"$d\"/.upload.*\nrmdir \"$d\" 2>/dev/null\nexit 0\n", dir_expr(cfg))
}

fn parse_report(stdout: &[u8]) -> Result<Report, HostError> {
    // the version first, skipping everything else without building it (review M6: a
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
    let script = run_script(set, cfg, !rules.is_empty());
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
        // review M6: the report was first built as a serde_json::Value, ~40x its size in
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
            serde_json::from_str(include_str!("../tests/fixtures/report-clean.json")).unwrap();
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
    fn scripts_quote_configured_paths() {
        let cfg = DeliveryConfig {
            cache_dir: Some("/var/cache/it's here".into()),
            ..Default::default()
        };
        assert!(run_script(&ScannerSet::default(), &cfg, false)
            .starts_with("d='/var/cache/it'\\''s here'\n"));
        let cfg = DeliveryConfig {
            installed_scanner: Some("/opt/fr scan".into()),
            ..Default::default()
        };
        assert_eq!(
            run_script(&ScannerSet::default(), &cfg, true),
            "exec '/opt/fr scan' --format json --rules -"
        );
    }
}

#[cfg(test)]
mod script_tests {
    //! The host script run by `sh` on this machine, with stand-in scanners (shell scripts).
    use super::*;
    use crate::scanners::Scanner;
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
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "cached once");
        // a script whose line never comes: the host fails with what it printed
        let r = split_at_asking_line(b"welcome\n{}");
        assert_eq!(r, ("", &b"welcome\n{}"[..]));
    }
}
