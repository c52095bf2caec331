//! Host key checking against OpenSSH known_hosts files (strict, accept-new, off).
//!
//! A changed key is always refused; an unknown key is refused when strict and recorded when
//! accept-new (appended under a process-wide lock, `[host]:port` for ports other than 22).

use crate::base64::encode as base64;
use crate::targets::HostKeyPolicy;
use ssh2::{CheckResult, HostKeyType, KnownHostFileKind, Session};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

static APPEND_LOCK: Mutex<()> = Mutex::new(());

pub fn key_type_name(t: HostKeyType) -> &'static str {
    match t {
        HostKeyType::Rsa => "ssh-rsa",
        HostKeyType::Dss => "ssh-dss",
        HostKeyType::Ecdsa256 => "ecdsa-sha2-nistp256",
        HostKeyType::Ecdsa384 => "ecdsa-sha2-nistp384",
        HostKeyType::Ecdsa521 => "ecdsa-sha2-nistp521",
        HostKeyType::Ed25519 => "ssh-ed25519",
        HostKeyType::Unknown => "unknown",
    }
}

/// Why a host key was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProblem {
    Changed { fingerprint: String, file: String },
    Unknown { fingerprint: String },
    Other(String),
}

impl std::fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyProblem::Changed { fingerprint, file } => write!(
                f,
                "HOST KEY CHANGED: the host offered {fingerprint}, which differs from the key recorded in {file}; refusing to connect (if the change is expected, remove the old entry with ssh-keygen -R)"
            ),
            KeyProblem::Unknown { fingerprint } => write!(
                f,
                "host key {fingerprint} is not in known_hosts (strict checking; add it, or use --host-key-checking accept-new)"
            ),
            KeyProblem::Other(m) => f.write_str(m),
        }
    }
}

fn fingerprint(sess: &Session) -> String {
    use sha2::Digest;
    let Some((key, t)) = sess.host_key() else {
        return "?".into();
    };
    let h = sha2::Sha256::digest(key);
    let b = base64(&h);
    format!("{} SHA256:{}", key_type_name(t), b.trim_end_matches('='))
}

/// Checks the session's host key for `host:port` against `files`.
pub fn check(
    sess: &Session,
    host: &str,
    port: u16,
    files: &[PathBuf],
    policy: HostKeyPolicy,
) -> Result<(), KeyProblem> {
    if policy == HostKeyPolicy::Off {
        return Ok(());
    }
    let (key, ktype) = sess
        .host_key()
        .ok_or_else(|| KeyProblem::Other("the host sent no host key".into()))?;
    for f in files.iter().filter(|f| f.is_file()) {
        let mut kh = sess
            .known_hosts()
            .map_err(|e| KeyProblem::Other(e.to_string()))?;
        kh.read_file(f, KnownHostFileKind::OpenSSH).map_err(|e| {
            KeyProblem::Other(format!("cannot read known_hosts {}: {e}", f.display()))
        })?;
        match kh.check_port(host, port, key) {
            CheckResult::Match => return Ok(()),
            CheckResult::Mismatch => {
                return Err(KeyProblem::Changed {
                    fingerprint: fingerprint(sess),
                    file: f.display().to_string(),
                })
            }
            CheckResult::NotFound => {}
            CheckResult::Failure => {
                return Err(KeyProblem::Other(format!(
                    "checking {} failed",
                    f.display()
                )))
            }
        }
    }
    match policy {
        HostKeyPolicy::AcceptNew => {
            let file = files.first().ok_or_else(|| {
                KeyProblem::Other("no known_hosts file to record the key in".into())
            })?;
            append(file, host, port, key_type_name(ktype), key).map_err(|e| {
                KeyProblem::Other(format!(
                    "cannot record the host key in {}: {e}",
                    file.display()
                ))
            })
        }
        _ => Err(KeyProblem::Unknown {
            fingerprint: fingerprint(sess),
        }),
    }
}

fn append(file: &Path, host: &str, port: u16, ktype: &str, key: &[u8]) -> std::io::Result<()> {
    let _g = APPEND_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(dir) = file.parent() {
        if !dir.exists() {
            std::fs::create_dir_all(dir)?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    let name = if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?;
    writeln!(f, "{name} {ktype} {}", base64(key))
}
