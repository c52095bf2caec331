//! CPU microcode pending a reboot: the revision the CPU runs (`/proc/cpuinfo` `microcode`)
//! against the newest one installed for it (Intel `lib/firmware/intel-ucode/FF-MM-SS`, AMD
//! `lib/firmware/amd-ucode/microcode_amd_fam*h.bin`), where readable. The parsers are pure;
//! [`pending`] reads the files.
//!
//! Fail-safe: a reboot is asked for only when *every* update in the file for this CPU is newer
//! than the running revision (an Intel file may hold updates for several platform ids, which
//! `/proc/cpuinfo` does not show: the lowest must be newer). A virtual machine (`hypervisor`
//! flag) never asks: its microcode is the host's business and a reboot of the guest does not
//! load it. Anything unreadable or unknown asks nothing.

use std::path::Path;

/// The first CPU of `/proc/cpuinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cpu {
    pub vendor: String,
    pub family: u32,
    pub model: u32,
    pub stepping: u32,
    pub revision: u32,
    pub hypervisor: bool,
}

fn num(v: &str) -> Option<u32> {
    match v.strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    }
}

/// Parses the first processor block of `/proc/cpuinfo`.
pub fn parse_cpuinfo(text: &str) -> Option<Cpu> {
    let block = text.split("\n\n").next()?;
    let field = |name: &str| {
        block.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim())
        })
    };
    Some(Cpu {
        vendor: field("vendor_id")?.to_string(),
        family: num(field("cpu family")?)?,
        model: num(field("model")?)?,
        stepping: num(field("stepping")?)?,
        revision: num(field("microcode")?)?,
        hypervisor: field("flags").is_some_and(|f| f.split_whitespace().any(|x| x == "hypervisor")),
    })
}

fn le32(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?))
}

/// The revisions of the updates in an Intel microcode file (48-byte headers; total size 0
/// means 2048), at most 64.
pub fn intel_revisions(file: &[u8]) -> Vec<u32> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at + 48 <= file.len() && out.len() < 64 {
        let (Some(1), Some(rev), Some(total)) =
            (le32(file, at), le32(file, at + 4), le32(file, at + 32))
        else {
            break;
        };
        out.push(rev);
        let total = if total == 0 { 2048 } else { total as usize };
        if total < 48 {
            break;
        }
        at += total;
    }
    out
}

/// The revisions of the AMD container's patches for the CPU whose CPUID signature is `sig`
/// (the equivalence table maps it to the patches' processor id).
pub fn amd_revisions(file: &[u8], sig: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if le32(file, 0) != Some(0x0041_4d44) || le32(file, 4) != Some(0) {
        return out;
    }
    let Some(table_len) = le32(file, 8).map(|l| l as usize) else {
        return out;
    };
    let table = file.get(12..12 + table_len).unwrap_or(&[]);
    let equiv = table
        .chunks_exact(16)
        .find(|e| le32(e, 0) == Some(sig))
        .map(|e| u16::from_le_bytes([e[12], e[13]]));
    let Some(equiv) = equiv.filter(|&e| e != 0) else {
        return out;
    };
    let mut at = 12 + table_len;
    while at + 8 <= file.len() && out.len() < 64 {
        let (Some(1), Some(len)) = (le32(file, at), le32(file, at + 4)) else {
            break;
        };
        let patch = file.get(at + 8..at + 8 + len as usize).unwrap_or(&[]);
        if patch.len() >= 26 && u16::from_le_bytes([patch[24], patch[25]]) == equiv {
            if let Some(id) = le32(patch, 4) {
                out.push(id);
            }
        }
        at += 8 + len as usize;
    }
    out
}

/// The CPUID leaf 1 signature from family, model and stepping (as the kernel prints them).
fn signature(c: &Cpu) -> u32 {
    let (base_family, ext_family) = if c.family >= 0xf {
        (0xf, c.family - 0xf)
    } else {
        (c.family, 0)
    };
    (ext_family << 20)
        | ((c.model >> 4) << 16)
        | (base_family << 8)
        | ((c.model & 0xf) << 4)
        | c.stepping
}

/// A reboot reason when newer microcode for this CPU is installed than the CPU runs.
pub fn pending(proc_root: &Path, host: &Path) -> Option<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(proc_root.join("cpuinfo"))
        .ok()?
        .take(256 << 10)
        .read_to_string(&mut text)
        .ok()?;
    let cpu = parse_cpuinfo(&text)?;
    if cpu.hypervisor {
        return None;
    }
    let read = |p: &Path| -> Option<Vec<u8>> {
        let mut b = Vec::new();
        std::fs::File::open(p)
            .ok()?
            .take(16 << 20)
            .read_to_end(&mut b)
            .ok()?;
        Some(b)
    };
    let (path, revisions) = match cpu.vendor.as_str() {
        "GenuineIntel" => {
            let p = host.join(format!(
                "lib/firmware/intel-ucode/{:02x}-{:02x}-{:02x}",
                cpu.family, cpu.model, cpu.stepping
            ));
            let r = intel_revisions(&read(&p)?);
            (p, r)
        }
        "AuthenticAMD" if cpu.family >= 0x15 => {
            let p = host.join(format!(
                "lib/firmware/amd-ucode/microcode_amd_fam{:x}h.bin",
                cpu.family
            ));
            let r = amd_revisions(&read(&p)?, signature(&cpu));
            (p, r)
        }
        _ => return None,
    };
    let lowest = *revisions.iter().min()?;
    (lowest > cpu.revision).then(|| {
        format!(
            "CPU microcode {:#x} is running, {:#x} is installed ({}): a reboot loads it",
            cpu.revision,
            revisions.iter().max().copied().unwrap_or(lowest),
            path.strip_prefix(host)
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTEL: &str = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\nmodel name\t: Intel(R) Xeon(R)\nstepping\t: 4\nmicrocode\t: 0x2006e05\nflags\t\t: fpu vme de\n\nprocessor\t: 1\n";

    fn intel_update(rev: u32, total: u32) -> Vec<u8> {
        let mut b = vec![0u8; total as usize];
        b[0..4].copy_from_slice(&1u32.to_le_bytes());
        b[4..8].copy_from_slice(&rev.to_le_bytes());
        b[32..36].copy_from_slice(&total.to_le_bytes());
        b
    }

    fn fixture(
        cpuinfo: &str,
        file: &str,
        bytes: &[u8],
    ) -> (std::path::PathBuf, std::path::PathBuf) {
        let d = std::env::temp_dir().join(format!(
            "fr-ucode-{}-{}",
            std::process::id(),
            file.replace('/', "_")
        ));
        let _ = std::fs::remove_dir_all(&d);
        let (proc_root, host) = (d.join("proc"), d.join("host"));
        std::fs::create_dir_all(&proc_root).unwrap();
        std::fs::write(proc_root.join("cpuinfo"), cpuinfo).unwrap();
        let f = host.join(file);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, bytes).unwrap();
        (proc_root, host)
    }

    #[test]
    fn intel_pending_only_when_every_update_is_newer() {
        let cpu = parse_cpuinfo(INTEL).unwrap();
        assert_eq!(
            (cpu.family, cpu.model, cpu.stepping, cpu.revision),
            (6, 85, 4, 0x2006e05)
        );
        assert!(!cpu.hypervisor);
        let file = "lib/firmware/intel-ucode/06-55-04";
        let newer = [intel_update(0x2007006, 1024), intel_update(0x2007108, 2048)].concat();
        let (p, h) = fixture(INTEL, file, &newer);
        let r = pending(&p, &h).unwrap();
        assert!(
            r.contains("0x2006e05") && r.contains("0x2007108") && r.contains(file),
            "{r}"
        );
        // one update (another platform's, maybe) not newer: nothing asked
        let mixed = [intel_update(0x2006e05, 1024), intel_update(0x2007108, 1024)].concat();
        let (p, h) = fixture(INTEL, file, &mixed);
        assert_eq!(pending(&p, &h), None);
        // a virtual machine never asks
        let vm = INTEL.replace("fpu vme de", "fpu hypervisor");
        let (p, h) = fixture(&vm, file, &newer);
        assert_eq!(pending(&p, &h), None);
        // garbage: nothing
        assert!(intel_revisions(b"garbage").is_empty());
        let (p, h) = fixture(INTEL, file, b"\x01\0\0\0garbage");
        assert_eq!(pending(&p, &h), None);
    }

    #[test]
    fn amd_container_by_equivalence_id() {
        let info = "vendor_id\t: AuthenticAMD\ncpu family\t: 23\nmodel\t\t: 49\nstepping\t: 0\nmicrocode\t: 0x830104d\nflags\t\t: fpu\n";
        let cpu = parse_cpuinfo(info).unwrap();
        assert_eq!(signature(&cpu), 0x0083_0f10);
        let mut f = Vec::new();
        f.extend_from_slice(&0x0041_4d44u32.to_le_bytes());
        f.extend_from_slice(&0u32.to_le_bytes());
        f.extend_from_slice(&32u32.to_le_bytes());
        for (sig, eq) in [(0x0083_0f10u32, 0x8310u16), (0x0080_0f12, 0x8012)] {
            f.extend_from_slice(&sig.to_le_bytes());
            f.extend_from_slice(&[0; 8]);
            f.extend_from_slice(&eq.to_le_bytes());
            f.extend_from_slice(&[0; 2]);
        }
        for (id, eq) in [(0x0830_107au32, 0x8310u16), (0x0800_126e, 0x8012)] {
            let mut patch = vec![0u8; 64];
            patch[4..8].copy_from_slice(&id.to_le_bytes());
            patch[24..26].copy_from_slice(&eq.to_le_bytes());
            f.extend_from_slice(&1u32.to_le_bytes());
            f.extend_from_slice(&64u32.to_le_bytes());
            f.extend(patch);
        }
        assert_eq!(amd_revisions(&f, 0x0083_0f10), [0x0830_107a]);
        let (p, h) = fixture(info, "lib/firmware/amd-ucode/microcode_amd_fam17h.bin", &f);
        assert!(pending(&p, &h).unwrap().contains("0x830107a"));
        assert!(amd_revisions(&f[..20], 0x0083_0f10).is_empty());
    }
}
