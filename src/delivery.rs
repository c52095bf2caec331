//! Scanner delivery and run on one host, over any [`Session`].
//!
//! Warm path, one command: detect the architecture, check that the content-addressed copy in the
//! host's private cache directory has the right sha256, and exec it. Cold path: upload it through
//! standard input into a 0700 directory (default `${XDG_CACHE_HOME:-$HOME/.cache}/fleetrestart`,
//! so a noexec /tmp does not matter), then the same command again. The report is parsed with a
//! size bound and its schema version checked.

use crate::scanners::{normalize_arch, ScannerSet};
use crate::shell::quote;
use crate::transport::{ExecLimits, Session, TransportError};
use fleetrestart_scan::report::{Report, SCHEMA_VERSION};
use std::time::Duration;

/// Exit codes of our own delivery scripts (the scanner itself uses 0–3).
const EXIT_UNKNOWN_ARCH: i32 = 97;
const EXIT_NEED_UPLOAD: i32 = 98;
const EXIT_UPLOAD_FAILED: i32 = 96;

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

/// The warm-path script: verify the cached scanner for this host's architecture and exec it.
pub fn run_script(set: &ScannerSet, cfg: &DeliveryConfig, with_rules: bool) -> String {
    let scanner_args = format!(
        "--format json{}",
        if with_rules { " --rules -" } else { "" }
    );
    if let Some(path) = &cfg.installed_scanner {
        return format!("exec {} {scanner_args}", quote(path));
    }
    let mut s = format!("d={}\ncase \"$(uname -m </dev/null)\" in\n", dir_expr(cfg));
    s.push_str("  x86_64|amd64) a=x86_64 ;;\n  aarch64|arm64|armv8l) a=aarch64 ;;\n");
    s.push_str(&format!("  *) printf 'FLEETRESTART-ARCH %s\\n' \"$(uname -m </dev/null)\"; exit {EXIT_UNKNOWN_ARCH} ;;\nesac\n"));
    s.push_str("f=; h=\ncase $a in\n");
    for sc in &set.scanners {
        s.push_str(&format!(
            "  {}) f=\"$d/{}\"; h={} ;;\n",
            sc.arch,
            sc.cache_name(),
            sc.sha256
        ));
    }
    s.push_str("esac\n");
    s.push_str("if [ -n \"$f\" ] && [ -f \"$f\" ] && [ \"$(sha256sum \"$f\" </dev/null 2>/dev/null | cut -c1-64)\" = \"$h\" ]; then\n");
    s.push_str(&format!("  exec \"$f\" {scanner_args}\nfi\n"));
    s.push_str(&format!(
        "printf 'FLEETRESTART-UPLOAD %s\\n' \"$a\"\nexit {EXIT_NEED_UPLOAD}\n"
    ));
    s
}

/// The upload script: scanner bytes on standard input → `$d/NAME`, atomically, mode 0700.
pub fn upload_script(cfg: &DeliveryConfig, name: &str) -> String {
    format!(
        "umask 077\nd={d}\nmkdir -p \"$d\" && chmod 700 \"$d\" || exit {e}\nt=\"$d/.upload.$$\"\n\
         if cat > \"$t\" && chmod 700 \"$t\" && mv -f \"$t\" \"$d/{n}\"; then exit 0; fi\nrm -f \"$t\"\nexit {e}\n",
        d = dir_expr(cfg),
        n = name,
        e = EXIT_UPLOAD_FAILED
    )
}

/// Removes every cached scanner version and the directory if empty.
pub fn clean_script(cfg: &DeliveryConfig) -> String {
    format!("d={}\nrm -f \"$d\"/fleetrestart-scan-* \"$d\"/.upload.*\nrmdir \"$d\" 2>/dev/null\nexit 0\n", dir_expr(cfg))
}

fn parse_report(stdout: &[u8]) -> Result<Report, HostError> {
    let v: serde_json::Value = serde_json::from_slice(stdout)
        .map_err(|e| HostError::BadReport(format!("not JSON: {e}")))?;
    match v.get("schema_version").and_then(|x| x.as_u64()) {
        Some(n) if n == u64::from(SCHEMA_VERSION) => {}
        Some(n) => {
            return Err(HostError::BadReport(format!(
                "unknown schema version {n} (this controller reads {SCHEMA_VERSION})"
            )))
        }
        None => return Err(HostError::BadReport("no schema_version field".into())),
    }
    serde_json::from_value(v).map_err(|e| HostError::BadReport(e.to_string()))
}

/// Delivers (if needed) and runs the scanner on the session's host.
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
    let stdin = rules.unwrap_or("").as_bytes();
    let script = run_script(set, cfg, rules.is_some());
    let mut delivery = if cfg.installed_scanner.is_some() {
        Delivery::Installed
    } else {
        Delivery::Reused
    };
    let mut out = session.exec(&script, stdin, limits)?;
    if out.status == Some(EXIT_NEED_UPLOAD) && cfg.installed_scanner.is_none() {
        let arch_line = String::from_utf8_lossy(&out.stdout);
        let arch = arch_line
            .trim()
            .strip_prefix("FLEETRESTART-UPLOAD ")
            .unwrap_or("")
            .trim()
            .to_string();
        let scanner = normalize_arch(&arch)
            .and_then(|a| set.for_arch(a))
            .ok_or(HostError::NoScanner(arch.clone()))?;
        let up = session.exec(
            &upload_script(cfg, &scanner.cache_name()),
            &scanner.bytes,
            limits,
        )?;
        if up.status != Some(0) {
            return Err(HostError::UploadFailed(
                String::from_utf8_lossy(&up.stderr).trim().to_string(),
            ));
        }
        delivery = Delivery::Uploaded(scanner.bytes.len() as u64);
        out = session.exec(&script, stdin, limits)?;
        if out.status == Some(EXIT_NEED_UPLOAD) {
            return Err(HostError::VerifyFailed);
        }
    }
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if cfg.clean && cfg.installed_scanner.is_none() {
        session.exec(&clean_script(cfg), b"", limits)?;
    }
    match out.status {
        Some(EXIT_UNKNOWN_ARCH) => {
            let a = String::from_utf8_lossy(&out.stdout);
            Err(HostError::UnsupportedArch(
                a.trim()
                    .trim_start_matches("FLEETRESTART-ARCH ")
                    .to_string(),
            ))
        }
        Some(0) | Some(1) => {
            if out.truncated {
                return Err(HostError::BadReport(format!(
                    "report larger than {} bytes",
                    cfg.max_report_bytes
                )));
            }
            Ok(HostScan {
                report: parse_report(&out.stdout)?,
                delivery,
            })
        }
        status => Err(HostError::ScannerFailed { status, stderr }),
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

    #[test]
    fn scripts_quote_configured_paths() {
        let cfg = DeliveryConfig {
            cache_dir: Some("/var/cache/it's here".into()),
            ..Default::default()
        };
        assert!(upload_script(&cfg, "x").contains("d='/var/cache/it'\\''s here'"));
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
