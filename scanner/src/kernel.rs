//! Kernel check: the running kernel against the newest installed image in `/boot`.
//!
//! The version of an image comes from the x86 boot setup header (the `kernel_version` pointer at
//! offset 0x20E, a NUL-terminated string at 0x200 + pointer), else from its file name. Versions are
//! compared like dpkg does. Parsing and comparing are pure; [`check`] reads the directory.

use crate::report::{Kernel, KernelState};
use std::cmp::Ordering;
use std::io::Read;
use std::path::Path;

const MIN_IMAGE_BYTES: u64 = 1_000_000;
const HEADER_BYTES: u64 = 64 * 1024;

/// The version string from an x86 bzImage header, if the bytes are one.
pub fn header_version(head: &[u8]) -> Option<String> {
    if head.get(0x202..0x206)? != b"HdrS" {
        return None;
    }
    let ptr = u16::from_le_bytes([*head.get(0x20E)?, *head.get(0x20F)?]) as usize;
    let start = 0x200 + ptr;
    let tail = head.get(start..)?;
    let end = tail.iter().take(256).position(|&b| b == 0)?;
    let s = std::str::from_utf8(&tail[..end]).ok()?;
    s.starts_with(|c: char| c.is_ascii_digit())
        .then(|| s.to_string())
}

/// An installed image: its release (`6.1.0-26-amd64`) and the full header string, if read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub release: String,
    pub header: Option<String>,
}

impl Image {
    pub fn from_header(header: String) -> Image {
        let release = header.split_whitespace().next().unwrap_or("").to_string();
        Image {
            release,
            header: Some(header),
        }
    }

    pub fn from_file_name(name: &str) -> Option<Image> {
        let release = ["vmlinuz-", "vmlinux-", "kernel-"]
            .iter()
            .find_map(|p| name.strip_prefix(p))?;
        (!release.is_empty()).then(|| Image {
            release: release.to_string(),
            header: None,
        })
    }
}

/// dpkg's version ordering (`~` sorts before everything, digits numerically).
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn order(c: Option<u8>) -> i32 {
        match c {
            None => 0,
            Some(b'~') => -1,
            Some(c) if c.is_ascii_alphabetic() => c as i32,
            Some(c) => c as i32 + 256,
        }
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        // non-digit run
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ca = (i < a.len() && !a[i].is_ascii_digit()).then(|| a[i]);
            let cb = (j < b.len() && !b[j].is_ascii_digit()).then(|| b[j]);
            let (oa, ob) = (order(ca), order(cb));
            if oa != ob {
                return oa.cmp(&ob);
            }
            if ca.is_some() {
                i += 1;
            }
            if cb.is_some() {
                j += 1;
            }
        }
        // digit run
        let si = i;
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        let sj = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let na = std::str::from_utf8(&a[si..i])
            .unwrap_or("0")
            .trim_start_matches('0');
        let nb = std::str::from_utf8(&b[sj..j])
            .unwrap_or("0")
            .trim_start_matches('0');
        let c = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
        if c != Ordering::Equal {
            return c;
        }
    }
    Ordering::Equal
}

/// Decides the kernel state from the running kernel and the installed images.
pub fn evaluate(
    running: &str,
    running_build: &str,
    images: &[Image],
    in_container: bool,
) -> Kernel {
    let mut k = Kernel {
        status: KernelState::Unknown,
        running: running.to_string(),
        running_build: running_build.to_string(),
        expected: None,
    };
    if in_container {
        k.status = KernelState::NotApplicable;
        return k;
    }
    let Some(newest) = images
        .iter()
        .max_by(|a, b| compare_versions(&a.release, &b.release))
    else {
        return k;
    };
    k.expected = Some(newest.release.clone());
    k.status = if newest.release != running {
        KernelState::VersionUpgrade
    } else {
        match images
            .iter()
            .find(|i| i.release == running)
            .and_then(|i| i.header.as_deref())
        {
            // same release, but the image on disk is another build of it
            Some(h) if !running_build.is_empty() && !h.contains(running_build) => {
                KernelState::AbiUpgrade
            }
            _ => KernelState::Current,
        }
    };
    k
}

/// Reads the installed images of `boot_dir` (bounded: only the header of each file).
pub fn read_images(boot_dir: &Path) -> Vec<Image> {
    let Ok(dir) = std::fs::read_dir(boot_dir) else {
        return vec![];
    };
    let mut out = Vec::new();
    for e in dir.flatten().take(1000) {
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("vmlinu") || name.starts_with("kernel-")) {
            continue;
        }
        let Ok(md) = std::fs::metadata(e.path()) else {
            continue;
        };
        if !md.is_file() || md.len() < MIN_IMAGE_BYTES {
            continue;
        }
        let mut head = Vec::new();
        let from_header = std::fs::File::open(e.path())
            .and_then(|f| f.take(HEADER_BYTES).read_to_end(&mut head))
            .ok()
            .and_then(|_| header_version(&head));
        if let Some(img) = from_header
            .map(Image::from_header)
            .or_else(|| Image::from_file_name(&name))
        {
            out.push(img);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn fake_bzimage(version: &str) -> Vec<u8> {
        let mut v = vec![0u8; 0x4000];
        v[0x202..0x206].copy_from_slice(b"HdrS");
        let ptr: u16 = 0x3000 - 0x200;
        v[0x20E..0x210].copy_from_slice(&ptr.to_le_bytes());
        v[0x3000..0x3000 + version.len()].copy_from_slice(version.as_bytes());
        v
    }

    #[test]
    fn header_parsing() {
        let h = "6.1.0-26-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.112-1 (2024-09-30)";
        assert_eq!(header_version(&fake_bzimage(h)).as_deref(), Some(h));
        assert_eq!(header_version(b"not a kernel"), None);
        let mut bad = fake_bzimage("x-not-a-version");
        assert_eq!(header_version(&bad), None);
        bad[0x20E] = 0xff;
        bad[0x20F] = 0xff;
        assert_eq!(header_version(&bad), None, "pointer out of range");
    }

    #[test]
    fn dpkg_ordering() {
        use Ordering::*;
        assert_eq!(compare_versions("6.1.0-26-amd64", "6.1.0-9-amd64"), Greater);
        assert_eq!(compare_versions("6.1.0-26-amd64", "6.1.0-26-amd64"), Equal);
        assert_eq!(compare_versions("5.10.0-28-amd64", "6.1.0-1-amd64"), Less);
        assert_eq!(compare_versions("6.1~rc1", "6.1"), Less);
        assert_eq!(compare_versions("1.0a", "1.0"), Greater);
        assert_eq!(compare_versions("1.007", "1.7"), Equal);
    }

    #[test]
    fn states() {
        let build = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.112-1 (2024-09-30)";
        let img = |r: &str, b: &str| {
            Image::from_header(format!("{r} (debian-kernel@lists.debian.org) {b}"))
        };
        let cur = evaluate(
            "6.1.0-26-amd64",
            build,
            &[img("6.1.0-26-amd64", build), img("6.1.0-9-amd64", "#1 old")],
            false,
        );
        assert_eq!(cur.status, KernelState::Current);
        assert_eq!(cur.expected.as_deref(), Some("6.1.0-26-amd64"));
        let up = evaluate(
            "6.1.0-9-amd64",
            "#1 old",
            &[img("6.1.0-26-amd64", build), img("6.1.0-9-amd64", "#1 old")],
            false,
        );
        assert_eq!(up.status, KernelState::VersionUpgrade);
        let abi = evaluate(
            "6.1.0-26-amd64",
            "#1 SMP PREEMPT_DYNAMIC Debian 6.1.106-3 (2024-08-26)",
            &[img("6.1.0-26-amd64", build)],
            false,
        );
        assert_eq!(abi.status, KernelState::AbiUpgrade);
        let by_name = evaluate(
            "6.1.0-26-amd64",
            build,
            &[Image::from_file_name("vmlinuz-6.1.0-26-amd64").unwrap()],
            false,
        );
        assert_eq!(
            by_name.status,
            KernelState::Current,
            "no header: ABI cannot be told"
        );
        assert_eq!(
            evaluate("6.18.0", "#1", &[], false).status,
            KernelState::Unknown
        );
        assert_eq!(
            evaluate("6.18.0", "#1", &[img("7.0", "#2")], true).status,
            KernelState::NotApplicable
        );
    }

    #[test]
    fn reads_a_boot_directory() {
        let dir = std::env::temp_dir().join(format!("fr-kernel-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut big = fake_bzimage("6.1.0-30-amd64 (x) #1 SMP Debian 6.1.124-1");
        big.resize(1_100_000, 0);
        std::fs::write(dir.join("vmlinuz-6.1.0-30-amd64"), &big).unwrap();
        let mut named = vec![0u8; 1_100_000];
        named[0] = 1;
        std::fs::write(dir.join("vmlinuz-6.1.0-9-amd64"), &named).unwrap();
        std::fs::write(dir.join("vmlinuz-tiny"), b"small").unwrap();
        std::fs::write(dir.join("initrd.img-6.1.0-30-amd64"), &named).unwrap();
        let mut imgs = read_images(&dir);
        imgs.sort_by(|a, b| a.release.cmp(&b.release));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(imgs.len(), 2, "{imgs:?}");
        assert_eq!(imgs[0].release, "6.1.0-30-amd64");
        assert!(imgs[0].header.is_some());
        assert_eq!(
            imgs[1],
            Image {
                release: "6.1.0-9-amd64".into(),
                header: None
            }
        );
    }
}
