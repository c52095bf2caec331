//! I/O at the edge, parsing pure: identity (private key) files, read once per run and kept
//! while unchanged, with what authentication needs before libssh2 sees them: whether the key
//! is encrypted, and its public key.
//!
//! Why the public key: libssh2 derives a missing one by decoding the private key, then
//! decodes it again to sign, and with OpenSSL 3 every decode builds a decoder context
//! (~0.3 ms of CPU each, half of the controller's cost of a connection at 1000 hosts). The
//! OpenSSH format (`openssh-key-v1`, PROTOCOL.key) carries the public keys unencrypted ahead
//! of the private section, so it is read from there (it is the private key's own: a `FILE.pub`
//! could be stale); for an older PEM key libssh2 derives it as before.

use super::hostfile::{wire_string, wire_u32};
use super::{file_stamp, FileStamp};
use crate::base64;
use crate::secret::Secret;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A private key file larger than this is refused (keys are a few KiB).
const MAX_KEY_FILE: u64 = 256 << 10;

/// One identity file as read.
pub struct KeyFile {
    /// The file's text (wiped when dropped).
    pub private: Secret,
    /// `TYPE BASE64`, the form libssh2 reads public keys in, when known.
    pub public: Option<String>,
    pub encrypted: bool,
}

/// Identity files read in this run, each while its size, modification time and inode stay.
#[derive(Default)]
pub struct KeyFiles {
    read: Mutex<HashMap<PathBuf, (FileStamp, Arc<KeyFile>)>>,
}

impl KeyFiles {
    /// `path`, read once while it does not change.
    pub fn get(&self, path: &Path) -> std::io::Result<Arc<KeyFile>> {
        let now = file_stamp(&std::fs::metadata(path)?);
        let mut read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((s, k)) = read.get(path) {
            if *s == now {
                return Ok(k.clone());
            }
        }
        let k = Arc::new(read_key(path)?);
        read.insert(path.to_path_buf(), (now, k.clone()));
        Ok(k)
    }
}

fn read_key(path: &Path) -> std::io::Result<KeyFile> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_KEY_FILE + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_KEY_FILE {
        return Err(std::io::Error::other(format!(
            "larger than {} KiB: not a key",
            MAX_KEY_FILE >> 10
        )));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| std::io::Error::other("not a text key file (PEM or OpenSSH)"))?;
    let openssh = openssh_header(&text);
    let encrypted = match &openssh {
        Some(h) => h.cipher != "none",
        None => text.contains("ENCRYPTED"),
    };
    let public = openssh.and_then(|h| h.public).and_then(|b| public_line(&b));
    Ok(KeyFile {
        private: Secret::new(text),
        public,
        encrypted,
    })
}

/// `TYPE BASE64` of a public key blob.
fn public_line(blob: &[u8]) -> Option<String> {
    let t = super::hostfile::blob_type(blob)?;
    Some(format!("{t} {}", base64::encode(blob)))
}

/// The unencrypted head of an OpenSSH private key.
#[derive(Debug, PartialEq, Eq)]
struct OpensshHeader {
    cipher: String,
    /// The first public key's blob.
    public: Option<Vec<u8>>,
}

fn openssh_header(text: &str) -> Option<OpensshHeader> {
    let body = text
        .split("-----BEGIN OPENSSH PRIVATE KEY-----")
        .nth(1)?
        .split("-----END")
        .next()?;
    let raw = base64::decode(body)?;
    let mut r = raw.strip_prefix(b"openssh-key-v1\0".as_slice())?;
    let cipher = String::from_utf8(wire_string(&mut r)?.to_vec()).ok()?;
    let _kdf = wire_string(&mut r)?;
    let _kdf_options = wire_string(&mut r)?;
    let keys = wire_u32(&mut r)?;
    let public = if keys >= 1 {
        wire_string(&mut r).map(<[u8]>::to_vec)
    } else {
        None
    };
    Some(OpensshHeader { cipher, public })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("fr-keyfile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn keygen(d: &Path, name: &str, args: &[&str]) -> PathBuf {
        let k = d.join(name);
        let st = std::process::Command::new("ssh-keygen")
            .args(["-q", "-C", "test", "-f"])
            .arg(&k)
            .args(args)
            .status()
            .expect("ssh-keygen (openssh-client)");
        assert!(st.success());
        k
    }

    fn pub_of(k: &Path) -> String {
        let text = std::fs::read_to_string(format!("{}.pub", k.display())).unwrap();
        let f: Vec<&str> = text.split_whitespace().collect();
        format!("{} {}", f[0], f[1])
    }

    #[test]
    fn public_keys_come_from_the_openssh_head() {
        let d = dir("pub");
        // OpenSSH format, plain and encrypted: the public key read without the passphrase
        for (name, args, encrypted) in [
            ("ed", vec!["-t", "ed25519", "-N", ""], false),
            ("ed-enc", vec!["-t", "ed25519", "-N", "secret words"], true),
            ("rsa", vec!["-t", "rsa", "-b", "2048", "-N", ""], false),
            ("ec", vec!["-t", "ecdsa", "-N", ""], false),
        ] {
            let k = keygen(&d, name, &args);
            let want = pub_of(&k);
            std::fs::remove_file(format!("{}.pub", k.display())).unwrap();
            let kf = read_key(&k).unwrap();
            assert_eq!(kf.public.as_deref(), Some(want.as_str()), "{name}");
            assert_eq!(kf.encrypted, encrypted, "{name}");
        }
        // PEM: none (libssh2 derives it from the private key), even with a FILE.pub
        let k = keygen(
            &d,
            "pem",
            &["-t", "rsa", "-b", "2048", "-m", "PEM", "-N", ""],
        );
        assert!(std::fs::read_to_string(&k)
            .unwrap()
            .starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        assert_eq!(read_key(&k).unwrap().public, None);
        assert!(!read_key(&k).unwrap().encrypted);
        let k = keygen(
            &d,
            "pem-enc",
            &["-t", "rsa", "-b", "2048", "-m", "PEM", "-N", "secret words"],
        );
        assert!(read_key(&k).unwrap().encrypted);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_file_is_read_again_once_changed() {
        let d = dir("again");
        let k = keygen(&d, "a", &["-t", "ed25519", "-N", ""]);
        let files = KeyFiles::default();
        let first = files.get(&k).unwrap();
        assert!(Arc::ptr_eq(&first, &files.get(&k).unwrap()));
        let first_pub = first.public.clone();
        std::fs::remove_file(&k).unwrap();
        std::fs::remove_file(format!("{}.pub", k.display())).unwrap();
        let k = keygen(&d, "a", &["-t", "ed25519", "-N", ""]);
        let second = files.get(&k).unwrap();
        assert_ne!(second.public, first_pub);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn damaged_heads_are_not_read() {
        for text in [
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA\n-----END OPENSSH PRIVATE KEY-----\n",
            "-----BEGIN OPENSSH PRIVATE KEY-----\n!!!\n-----END OPENSSH PRIVATE KEY-----\n",
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA/////w==\n-----END OPENSSH PRIVATE KEY-----\n",
            "nothing",
        ] {
            assert_eq!(openssh_header(text), None, "{text}");
        }
    }
}
