//! The static scanner binaries the controller delivers: where they come from and their hashes.
//!
//! Sources, first match wins per architecture: `--scanner-dir DIR`, the `FLEETRESTART_SCANNER_DIR`
//! environment variable, the copies embedded at build time (`cargo xtask dist`), and files named
//! `fleetrestart-scan-<arch>` beside the controller's own executable.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_scanners.rs"));
}

/// Architectures a scanner is built for, as `uname -m` names them.
pub const ARCHES: &[&str] = &["x86_64", "aarch64"];

#[derive(Clone)]
pub struct Scanner {
    pub arch: &'static str,
    pub bytes: std::sync::Arc<Vec<u8>>,
    /// Lower-case hex sha256 of `bytes`.
    pub sha256: String,
    /// Where it was found, for messages.
    pub origin: String,
}

impl std::fmt::Debug for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Scanner({} {} from {}, {} bytes)",
            self.arch,
            &self.sha256[..12],
            self.origin,
            self.bytes.len()
        )
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

impl Scanner {
    pub(crate) fn new(arch: &'static str, bytes: Vec<u8>, origin: String) -> Scanner {
        let sha256 = sha256_hex(&bytes);
        Scanner {
            arch,
            bytes: std::sync::Arc::new(bytes),
            sha256,
            origin,
        }
    }

    /// The file name of this version in a host's cache directory.
    pub fn cache_name(&self) -> String {
        format!("fleetrestart-scan-{}-{}", self.arch, &self.sha256[..16])
    }
}

/// The scanners available to this controller, one per architecture at most.
#[derive(Debug, Clone, Default)]
pub struct ScannerSet {
    pub scanners: Vec<Scanner>,
}

impl ScannerSet {
    pub fn find(explicit_dir: Option<&Path>) -> ScannerSet {
        let mut dirs: Vec<(PathBuf, String)> = Vec::new();
        if let Some(d) = explicit_dir {
            dirs.push((d.to_path_buf(), "--scanner-dir".into()));
        }
        if let Some(d) = std::env::var_os("FLEETRESTART_SCANNER_DIR") {
            dirs.push((PathBuf::from(d), "FLEETRESTART_SCANNER_DIR".into()));
        }
        let mut set = ScannerSet::default();
        for arch in ARCHES {
            let from_dir = dirs.iter().find_map(|(d, why)| {
                let f = d.join(format!("fleetrestart-scan-{arch}"));
                std::fs::read(&f)
                    .ok()
                    .map(|b| Scanner::new(arch, b, format!("{} ({why})", f.display())))
            });
            let found = from_dir
                .or_else(|| {
                    embedded::EMBEDDED
                        .iter()
                        .find(|(a, _)| a == arch)
                        .map(|(_, b)| Scanner::new(arch, b.to_vec(), "embedded".into()))
                })
                .or_else(|| {
                    let exe = std::env::current_exe().ok()?;
                    let f = exe.parent()?.join(format!("fleetrestart-scan-{arch}"));
                    std::fs::read(&f)
                        .ok()
                        .map(|b| Scanner::new(arch, b, f.display().to_string()))
                });
            if let Some(s) = found {
                set.scanners.push(s);
            }
        }
        set
    }

    pub fn for_arch(&self, arch: &str) -> Option<&Scanner> {
        self.scanners.iter().find(|s| s.arch == arch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arches_and_hashes() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let s = Scanner::new("x86_64", b"abc".to_vec(), "t".into());
        assert_eq!(s.cache_name(), "fleetrestart-scan-x86_64-ba7816bf8f01cfea");
    }

    #[test]
    fn finds_scanners_in_an_explicit_dir() {
        let d = std::env::temp_dir().join(format!("fr-scanners-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("fleetrestart-scan-aarch64"), b"arm").unwrap();
        let set = ScannerSet::find(Some(&d));
        std::fs::remove_dir_all(&d).unwrap();
        let arm = set.for_arch("aarch64").expect("found");
        assert_eq!(arm.bytes.as_slice(), b"arm");
        assert!(arm.origin.contains("--scanner-dir"));
    }
}
