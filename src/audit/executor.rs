//! The executor: runs one job per host on a bounded rayon pool (`--forks` workers).
//!
//! Jobs are blocking (SSH I/O with its own timeouts); they start in input order (FIFO) and every
//! job yields a result, in input order: a job that panics becomes an error result, never a lost
//! host.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

/// Runs `job` on every item with at most `forks` in flight; `on_panic` turns a panic into a result.
pub fn run<T, R, F, P>(items: &[T], forks: usize, job: F, on_panic: P) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
    P: Fn(&T, String) -> R + Sync,
{
    if items.is_empty() {
        return Vec::new();
    }
    let threads = forks.clamp(1, items.len());
    let pool = match rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("fleet-{i}"))
        .build()
    {
        Ok(p) => p,
        Err(e) => {
            return items
                .iter()
                .map(|t| on_panic(t, format!("cannot start worker threads: {e}")))
                .collect()
        }
    };
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    pool.scope_fifo(|s| {
        for (i, item) in items.iter().enumerate() {
            let (slots, job, on_panic) = (&slots, &job, &on_panic);
            s.spawn_fifo(move |_| {
                let r = caught(|| job(item))
                    .unwrap_or_else(|msg| on_panic(item, format!("internal error: {msg}")));
                *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
            });
        }
    });
    slots
        .into_iter()
        .zip(items)
        .map(|(m, t)| {
            m.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .unwrap_or_else(|| on_panic(t, "internal error: job did not run".into()))
        })
        .collect()
}

/// Raises the soft open-file limit to the hard limit (one socket per host in flight, plus a
/// socketpair per jump tunnel).
pub fn raise_fd_limit() {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

/// Runs `f`; a panic in it becomes its message (the audit's hosts and the campaign's workers
/// turn it into a failed host, never a lost one).
pub fn caught<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn bounded_ordered_and_panics_become_results() {
        let in_flight = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let items: Vec<u32> = (0..40).collect();
        let out = run(
            &items,
            4,
            |&i| {
                let n = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(n, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
                in_flight.fetch_sub(1, Ordering::SeqCst);
                if i == 7 {
                    panic!("boom");
                }
                Ok(i * 2)
            },
            |&i, m| Err(format!("{i}: {m}")),
        );
        assert_eq!(out.len(), 40);
        assert_eq!(out[3], Ok(6));
        assert_eq!(out[7], Err("7: internal error: boom".to_string()));
        assert!(peak.load(Ordering::SeqCst) <= 4);
        assert!(peak.load(Ordering::SeqCst) >= 2, "ran in parallel");
    }
}
