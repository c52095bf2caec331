//! The `PROCMAP_QUERY` ioctl (Linux ≥ 6.11): a process's executable, file-backed mappings
//! without having the kernel format every line of `/proc/PID/maps` (I/O).
//!
//! One ioctl per executable file mapping on an open `maps` descriptor, asking for the covering or
//! next VMA that is file-backed and executable: data, heap, stack and anonymous mappings (most
//! of a process) are skipped by the kernel. The name the kernel returns is the same `d_path` the
//! text file prints (relative to the reader's root, ` (deleted)` appended for an unlinked file),
//! unescaped. On a kernel without the ioctl the first call fails with `ENOTTY`/`EINVAL`: the
//! caller then reads the text file, and so does every later process ([`supported`]).

use crate::maps::Mapping;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU8, Ordering};

/// `struct procmap_query` of `include/uapi/linux/fs.h`.
#[repr(C)]
#[derive(Default)]
struct ProcmapQuery {
    size: u64,
    query_flags: u64,
    query_addr: u64,
    vma_start: u64,
    vma_end: u64,
    vma_flags: u64,
    vma_page_size: u64,
    vma_offset: u64,
    inode: u64,
    dev_major: u32,
    dev_minor: u32,
    vma_name_size: u32,
    build_id_size: u32,
    vma_name_addr: u64,
    build_id_addr: u64,
}

const VMA_READABLE: u64 = 0x01;
const VMA_WRITABLE: u64 = 0x02;
const VMA_EXECUTABLE: u64 = 0x04;
const VMA_SHARED: u64 = 0x08;
const COVERING_OR_NEXT_VMA: u64 = 0x10;
const FILE_BACKED_VMA: u64 = 0x20;

/// `_IOWR('f', 17, struct procmap_query)`.
const PROCMAP_QUERY: u64 =
    (3 << 30) | ((size_of::<ProcmapQuery>() as u64) << 16) | (0x66 << 8) | 17;

/// Longest name asked for (`PATH_MAX`); a longer one fails that query (`ENAMETOOLONG`).
const NAME_MAX_BYTES: usize = 4096;
/// More executable file mappings than any real process has: a bound on the loop.
const MAX_VMAS: usize = 65536;

/// 0 not tried yet, 1 works, 2 not available on this kernel.
static STATE: AtomicU8 = AtomicU8::new(0);

/// Is the ioctl known not to work here? (Then callers go straight to the text file.)
pub fn supported() -> bool {
    STATE.load(Ordering::Relaxed) != 2
}

/// The executable file mappings of the process whose `maps` file is open as `file`, or
/// `Ok(None)` when the ioctl cannot answer (no `PROCMAP_QUERY` on this kernel, or an error of
/// its own): then read the text file. The error is a process that exited mid-query.
pub fn executable_files(file: std::os::fd::BorrowedFd) -> io::Result<Option<Vec<Mapping>>> {
    let fd = file.as_raw_fd();
    let mut name = [0u8; NAME_MAX_BYTES];
    let mut out = Vec::new();
    let mut addr = 0u64;
    for _ in 0..MAX_VMAS {
        let mut q = ProcmapQuery {
            size: size_of::<ProcmapQuery>() as u64,
            query_flags: COVERING_OR_NEXT_VMA | FILE_BACKED_VMA | VMA_EXECUTABLE,
            query_addr: addr,
            vma_name_size: name.len() as u32,
            vma_name_addr: name.as_mut_ptr() as u64,
            ..Default::default()
        };
        // SAFETY: `q` is a valid procmap_query of the size it declares; the kernel writes at
        // most `vma_name_size` bytes to `name`, which is that long, and nothing else.
        let rc = unsafe { libc::ioctl(fd, PROCMAP_QUERY as _, &mut q as *mut ProcmapQuery) };
        if rc != 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                // no (more) VMA at or after addr
                Some(libc::ENOENT) => {
                    STATE.store(1, Ordering::Relaxed);
                    Ok(Some(out))
                }
                // no such ioctl on this kernel
                Some(libc::ENOTTY) | Some(libc::EINVAL) if STATE.load(Ordering::Relaxed) != 1 => {
                    STATE.store(2, Ordering::Relaxed);
                    Ok(None)
                }
                // the process exited, or its mm went away, while being queried
                Some(libc::ESRCH) => Err(io::Error::from(io::ErrorKind::NotFound)),
                // anything else (a name longer than PATH_MAX, ...): the text file decides
                _ => Ok(None),
            };
        }
        if q.vma_end <= addr {
            break; // no progress: never loop
        }
        addr = q.vma_end;
        let len = (q.vma_name_size as usize).min(name.len());
        // vma_name_size counts the terminating NUL
        let raw = &name[..len];
        let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
        let m = Mapping {
            range: format!("{:x}-{:x}", q.vma_start, q.vma_end),
            perms: perms(q.vma_flags),
            dev_major: q.dev_major,
            dev_minor: q.dev_minor,
            inode: q.inode,
            path: String::from_utf8_lossy(raw).into_owned(),
        };
        // as the text parser keeps them: files with a name (not anonymous-inode mappings)
        if m.is_file() {
            out.push(m);
        }
    }
    // bound reached without the kernel's end: let the text file decide
    Ok(None)
}

/// `r-xp` from the VMA flags, as maps prints them.
fn perms(flags: u64) -> String {
    let bit = |b: u64, c: char| if flags & b != 0 { c } else { '-' };
    [
        bit(VMA_READABLE, 'r'),
        bit(VMA_WRITABLE, 'w'),
        bit(VMA_EXECUTABLE, 'x'),
        if flags & VMA_SHARED != 0 { 's' } else { 'p' },
    ]
    .iter()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_number_and_struct_match_the_kernel_abi() {
        assert_eq!(size_of::<ProcmapQuery>(), 104);
        assert_eq!(PROCMAP_QUERY, 0xc068_6611);
        assert_eq!(perms(VMA_READABLE | VMA_EXECUTABLE), "r-xp");
        assert_eq!(perms(VMA_READABLE | VMA_WRITABLE | VMA_SHARED), "rw-s");
    }

    #[test]
    fn same_mappings_as_the_text_file_for_this_process() {
        let maps = std::path::Path::new("/proc/self/maps");
        let Some(queried) = executable_files(std::os::fd::AsFd::as_fd(
            &std::fs::File::open(maps).unwrap(),
        ))
        .unwrap() else {
            eprintln!("skipped: this kernel has no PROCMAP_QUERY");
            return;
        };
        let text = std::fs::read_to_string(maps).unwrap();
        let parsed = crate::maps::parse_executable_files(text.as_bytes());
        assert!(!queried.is_empty());
        assert_eq!(queried, parsed);
    }
}
