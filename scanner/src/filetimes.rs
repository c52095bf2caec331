//! Times at the precision the kernel gives them (I/O): a file's identity and times in
//! nanoseconds, with its birth time where the filesystem records one that means "this file was
//! created then" (statx; not on overlayfs, whose copy-up on a mere `chmod` makes a new upper
//! file), and the realtime instant the machine booted, from the realtime and boot clocks read
//! together, so that a process's start (clock ticks since boot) becomes a Unix instant to the
//! tick instead of to the second. What these times decide is `detect::changed_after` (pure).

use crate::detect::{FileId, FileMeta};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

const NS: i64 = 1_000_000_000;
/// statfs's magic number of overlayfs.
const OVERLAYFS_MAGIC: i64 = 0x794c_7630;

/// The kernel has no statx (before 4.11): plain stat from then on, without birth times.
static NO_STATX: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Per device: whether it is an overlayfs (asked once per device).
    static OVERLAY: RefCell<HashMap<u64, bool>> = RefCell::new(HashMap::new());
}

fn ns(sec: i64, nsec: u32) -> i64 {
    sec.saturating_mul(NS).saturating_add(i64::from(nsec))
}

/// What stands at `path` (symbolic links followed), its times in nanoseconds.
pub fn stat(path: &Path) -> io::Result<FileMeta> {
    if !NO_STATX.load(Ordering::Relaxed) {
        match statx(path) {
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                NO_STATX.store(true, Ordering::Relaxed)
            }
            r => return r,
        }
    }
    let m = std::fs::metadata(path)?;
    Ok(FileMeta {
        id: FileId {
            dev: m.dev(),
            ino: m.ino(),
        },
        ctime_ns: ns(m.ctime(), m.ctime_nsec() as u32),
        mtime_ns: ns(m.mtime(), m.mtime_nsec() as u32),
        btime_ns: None,
    })
}

fn statx(path: &Path) -> io::Result<FileMeta> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: statx writes at most size_of::<statx>() bytes into `buf`
    let mut buf: libc::statx = unsafe { std::mem::zeroed() };
    let r = unsafe {
        libc::syscall(
            libc::SYS_statx,
            libc::AT_FDCWD,
            c.as_ptr(),
            0,
            libc::STATX_BASIC_STATS | libc::STATX_BTIME,
            &mut buf as *mut libc::statx,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    let dev = libc::makedev(buf.stx_dev_major, buf.stx_dev_minor);
    let birth = buf.stx_mask & libc::STATX_BTIME != 0 && !is_overlay(dev, &c);
    Ok(FileMeta {
        id: FileId {
            dev,
            ino: buf.stx_ino,
        },
        ctime_ns: ns(buf.stx_ctime.tv_sec, buf.stx_ctime.tv_nsec),
        mtime_ns: ns(buf.stx_mtime.tv_sec, buf.stx_mtime.tv_nsec),
        btime_ns: birth.then(|| ns(buf.stx_btime.tv_sec, buf.stx_btime.tv_nsec)),
    })
}

fn is_overlay(dev: u64, path: &CString) -> bool {
    OVERLAY.with(|o| {
        *o.borrow_mut().entry(dev).or_insert_with(|| {
            // SAFETY: statfs writes into `s` only
            let mut s: libc::statfs = unsafe { std::mem::zeroed() };
            let r = unsafe { libc::statfs(path.as_ptr(), &mut s) };
            // an unknown filesystem type: its birth times are not trusted either
            r != 0 || s.f_type as i64 == OVERLAYFS_MAGIC
        })
    })
}

/// The realtime instant of boot in Unix nanoseconds: the realtime clock less the boot clock,
/// read together (the closest of three pairs). `None` when the clocks cannot be read.
pub fn boot_instant_ns() -> Option<i64> {
    let read = |clock| {
        // SAFETY: clock_gettime writes into `t` only
        let mut t: libc::timespec = unsafe { std::mem::zeroed() };
        (unsafe { libc::clock_gettime(clock, &mut t) } == 0).then(|| ns(t.tv_sec, t.tv_nsec as u32))
    };
    (0..3)
        .filter_map(|_| {
            let a = read(libc::CLOCK_REALTIME)?;
            let b = read(libc::CLOCK_BOOTTIME)?;
            let c = read(libc::CLOCK_REALTIME)?;
            Some((c - a, (a + (c - a) / 2) - b))
        })
        .min_by_key(|(gap, _)| *gap)
        .map(|(_, boot)| boot)
}

/// A process's start in Unix nanoseconds from its start in clock ticks since boot.
pub fn start_ns(boot_ns: i64, start_ticks: u64, ticks_per_second: u64) -> i64 {
    let t = ticks_per_second.max(1);
    let secs = (start_ticks / t) as i64;
    let rest = ((start_ticks % t) as i64).saturating_mul(NS) / t as i64;
    boot_ns
        .saturating_add(secs.saturating_mul(NS))
        .saturating_add(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_started_after_boot_and_before_now_to_the_tick() {
        let boot = boot_instant_ns().unwrap();
        let now = ns(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64,
            0,
        ) + NS;
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let st = crate::procread::parse_stat(&stat).unwrap();
        let start = start_ns(boot, st.starttime, crate::procread::ticks_per_second());
        assert!(boot < start && start <= now, "{boot} {start} {now}");
        // /proc/stat's btime is the same instant cut to the second
        let btime = crate::procread::boot_time(Path::new("/proc")).unwrap();
        assert!((boot / NS - btime).abs() <= 1, "{boot} {btime}");
    }

    #[test]
    fn file_times_in_nanoseconds() {
        let dir = std::env::temp_dir().join(format!("fr-ft-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("a");
        std::fs::write(&f, "x").unwrap();
        let m = stat(&f).unwrap();
        let std = std::fs::metadata(&f).unwrap();
        assert_eq!(m.id.ino, std.ino());
        assert_eq!(m.id.dev, std.dev());
        assert_eq!(m.mtime_ns, ns(std.mtime(), std.mtime_nsec() as u32));
        assert!(m.ctime_ns >= m.mtime_ns);
        assert_eq!(start_ns(0, 250, 100), 2_500_000_000);
        let _ = std::fs::remove_dir_all(dir);
    }
}
