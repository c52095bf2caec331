//! I/O: host key checking against OpenSSH known_hosts files (strict, accept-new, off), with
//! the pure parser and matcher of [`super::hostfile`].
//!
//! Every file given is consulted (user files and the global ones together, as OpenSSH does);
//! before the handshake the host-key algorithms are steered to the types recorded for the host
//! and certificates are never offered. A changed or revoked key is always refused; an unknown
//! key is refused when strict and recorded when accept-new (appended to the first file under a
//! process-wide lock, `[host]:port` for ports other than 22). A host with keys of another type
//! only, or covered only by `@cert-authority`, is refused under every policy but off.

use super::hostfile::{self, Entry, Known, Verdict};
use crate::base64::encode as base64;
use crate::transport::target::HostKeyPolicy;
use ssh2::Session;
use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

static APPEND_LOCK: Mutex<()> = Mutex::new(());
/// Files whose skipped lines were already reported this run.
static WARNED: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);
/// A known_hosts file larger than this is refused (OpenSSH's are KiB to a few MiB).
const MAX_FILE: u64 = 64 << 20;

/// Why a host key was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProblem {
    Changed {
        fingerprint: String,
        file: String,
    },
    Revoked {
        fingerprint: String,
        file: String,
    },
    Unknown {
        fingerprint: String,
    },
    OtherTypes {
        fingerprint: String,
        types: String,
        file: String,
    },
    /// Only `@cert-authority` lines cover the host, and no valid certificate vouches for it.
    CertAuthorityOnly {
        file: String,
        why: String,
    },
    Other(String),
}

impl std::fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyProblem::Changed { fingerprint, file } => write!(
                f,
                "HOST KEY CHANGED: the host offered {fingerprint}, which differs from the key recorded in {file}; refusing to connect (if the change is expected, remove the old entry with ssh-keygen -R)"
            ),
            KeyProblem::Revoked { fingerprint, file } => write!(
                f,
                "the host offered {fingerprint}, which is REVOKED in {file}; refusing to connect"
            ),
            KeyProblem::Unknown { fingerprint } => write!(
                f,
                "host key {fingerprint} is not in known_hosts (strict checking; add it, or use --host-key-checking accept-new)"
            ),
            KeyProblem::OtherTypes { fingerprint, types, file } => write!(
                f,
                "the host offered {fingerprint}, but only keys of type {types} are recorded for it ({file}) and it offers none of them; refusing (not recorded as new: add the key by hand if the host really changed its keys)"
            ),
            KeyProblem::CertAuthorityOnly { file, why } => write!(
                f,
                "only a @cert-authority line covers this host ({file}), and no certificate vouches for the key it presented: {why}; refusing to connect"
            ),
            KeyProblem::Other(m) => f.write_str(m),
        }
    }
}

fn fingerprint(key: &[u8]) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(key);
    let b = base64(&h);
    format!(
        "{} SHA256:{}",
        hostfile::blob_type(key).unwrap_or("unknown"),
        b.trim_end_matches('=')
    )
}

/// Reads and parses every file that exists (bounded); bad lines are reported once per file.
pub fn load(files: &[PathBuf]) -> Result<Vec<Entry>, KeyProblem> {
    let mut entries = Vec::new();
    for f in files {
        let file = match std::fs::File::open(f) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(KeyProblem::Other(format!(
                    "cannot read known_hosts {}: {e}",
                    f.display()
                )))
            }
        };
        if !file.metadata().map(|m| m.is_file()).unwrap_or(false) {
            continue;
        }
        let mut bytes = Vec::new();
        file.take(MAX_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| {
                KeyProblem::Other(format!("cannot read known_hosts {}: {e}", f.display()))
            })?;
        if bytes.len() as u64 > MAX_FILE {
            return Err(KeyProblem::Other(format!(
                "known_hosts {} is larger than {} MiB",
                f.display(),
                MAX_FILE >> 20
            )));
        }
        let text = String::from_utf8_lossy(&bytes);
        let (mut e, warnings) = hostfile::parse(&text, &f.display().to_string());
        if !warnings.is_empty() {
            let mut w = WARNED.lock().unwrap_or_else(|e| e.into_inner());
            if w.get_or_insert_with(HashSet::new).insert(f.clone()) {
                for line in warnings {
                    say!("[WARNING]: known_hosts {line}");
                }
            }
        }
        entries.append(&mut e);
    }
    Ok(entries)
}

/// The parsed files of a run, shared by every connection (parsing them per connection costs
/// each host time and memory in proportion to the fleet: O(hosts²) at 1000 hosts). An entry
/// is used while every file's size, modification time and inode are what they were when it
/// was parsed; a key recorded by accept-new changes them, so the next connection re-reads.
#[derive(Default)]
pub struct Cache {
    parsed: Mutex<Vec<Parsed>>,
}

struct Parsed {
    files: Vec<PathBuf>,
    stamps: Vec<Option<super::FileStamp>>,
    known: std::sync::Arc<Known>,
}

impl Cache {
    /// [`load`] of `files`, parsed and indexed once while they do not change.
    pub fn load(&self, files: &[PathBuf]) -> Result<std::sync::Arc<Known>, KeyProblem> {
        let stamps: Vec<_> = files
            .iter()
            .map(|f| std::fs::metadata(f).ok().map(|m| super::file_stamp(&m)))
            .collect();
        let mut parsed = self.parsed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = parsed
            .iter()
            .find(|p| p.files == files && p.stamps == stamps)
        {
            return Ok(p.known.clone());
        }
        // parsed under the lock: the connections waiting here would each parse it again
        let known = std::sync::Arc::new(Known::new(load(files)?));
        parsed.retain(|p| p.files != files);
        parsed.push(Parsed {
            files: files.to_vec(),
            stamps,
            known: known.clone(),
        });
        Ok(known)
    }
}

/// Before the handshake: offer only plain host-key algorithms, the types recorded for
/// `host:port` first.
pub fn steer(sess: &Session, known: &Known, host: &str, port: u16) -> Result<(), String> {
    let prefs = hostfile::algorithm_preference(known, &hostfile::lookup_name(host, port));
    sess.method_pref(ssh2::MethodType::HostKey, &prefs)
        .map_err(|e| format!("setting host-key algorithms {prefs}: {}", e.message()))
}

/// Checks the key blob a host offered (`None`: it offered none) for `host:port` against
/// `known` (from [`load`] of `files`, the first of which records new keys).
pub fn check(
    key: Option<&[u8]>,
    host: &str,
    port: u16,
    known: &Known,
    files: &[PathBuf],
    policy: HostKeyPolicy,
) -> Result<(), KeyProblem> {
    if policy == HostKeyPolicy::Off {
        return Ok(());
    }
    let key = key.ok_or_else(|| KeyProblem::Other("the host sent no host key".into()))?;
    let fp = || fingerprint(key);
    match hostfile::verdict(known, &hostfile::lookup_name(host, port), key) {
        Verdict::Known => Ok(()),
        Verdict::Revoked { origin } => Err(KeyProblem::Revoked {
            fingerprint: fp(),
            file: origin,
        }),
        Verdict::Changed { origin } => Err(KeyProblem::Changed {
            fingerprint: fp(),
            file: origin,
        }),
        Verdict::OtherTypes { types, origin } => Err(KeyProblem::OtherTypes {
            fingerprint: fp(),
            types: types.join(", "),
            file: origin,
        }),
        Verdict::CertAuthorityOnly {
            origin,
            authorities,
        } => {
            let revoked = known.revoked_keys();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            super::hostcert::fetch(host, port)
                .and_then(|answer| {
                    super::hostcert::judge(&answer, key, host, &authorities, &revoked, now)
                })
                .map_err(|why| KeyProblem::CertAuthorityOnly { file: origin, why })
        }
        Verdict::Unknown if policy == HostKeyPolicy::AcceptNew => {
            let file = files.first().ok_or_else(|| {
                KeyProblem::Other("no known_hosts file to record the key in".into())
            })?;
            append(file, host, port, key).map_err(|e| {
                KeyProblem::Other(format!(
                    "cannot record the host key in {}: {e}",
                    file.display()
                ))
            })
        }
        Verdict::Unknown => Err(KeyProblem::Unknown { fingerprint: fp() }),
    }
}

fn append(file: &Path, host: &str, port: u16, key: &[u8]) -> std::io::Result<()> {
    let ktype = hostfile::blob_type(key).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, "not an SSH public key")
    })?;
    let _g = APPEND_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::create_dir_all(dir)?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?;
    writeln!(
        f,
        "{} {ktype} {}",
        hostfile::lookup_name(host, port),
        base64(key)
    )
}

#[cfg(test)]
mod tests {
    use super::hostfile::test_blob as blob;
    use super::*;

    #[test]
    fn accept_new_records_plain_type_and_port_form_and_refuses_revoked() {
        let dir = std::env::temp_dir().join(format!("fr-kh-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let user = dir.join("user");
        let global = dir.join("global");
        let k = blob("ssh-ed25519", b"K");
        let other = blob("ssh-ed25519", b"O");
        std::fs::write(
            &global,
            format!("@revoked * ssh-ed25519 {}\n", base64(&other)),
        )
        .unwrap();
        let files = vec![user.clone(), global.clone()];
        let e = Known::new(load(&files).unwrap());
        check(Some(&k), "h", 2200, &e, &files, HostKeyPolicy::AcceptNew).unwrap();
        let text = std::fs::read_to_string(&user).unwrap();
        assert_eq!(text, format!("[h]:2200 ssh-ed25519 {}\n", base64(&k)));
        // now known on that port, unknown on 22 under strict
        let e = Known::new(load(&files).unwrap());
        check(Some(&k), "h", 2200, &e, &files, HostKeyPolicy::Strict).unwrap();
        assert!(matches!(
            check(Some(&k), "h", 22, &e, &files, HostKeyPolicy::Strict),
            Err(KeyProblem::Unknown { .. })
        ));
        // a revoked key is never recorded, whatever the policy but off
        let r = check(
            Some(&other),
            "new",
            22,
            &e,
            &files,
            HostKeyPolicy::AcceptNew,
        );
        assert!(matches!(r, Err(KeyProblem::Revoked { .. })), "{r:?}");
        assert!(r.unwrap_err().to_string().contains("REVOKED"));
        assert!(!std::fs::read_to_string(&user).unwrap().contains(" new "));
        check(Some(&other), "new", 22, &e, &files, HostKeyPolicy::Off).unwrap();
        // keys of another type only: refused, not recorded
        let ec = blob("ecdsa-sha2-nistp256", b"C");
        let r = check(Some(&ec), "h", 2200, &e, &files, HostKeyPolicy::AcceptNew);
        assert!(matches!(r, Err(KeyProblem::OtherTypes { .. })), "{r:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
