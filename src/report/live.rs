//! Reporters: render the audit's [`Event`]s as they arrive — an NDJSON stream on standard
//! output, or an indicatif progress bar on a terminal (nothing when standard error is not one).

use crate::audit::events::Event;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

pub struct Reporter {
    ndjson: bool,
    bar: Option<ProgressBar>,
    t0: Instant,
    out: Mutex<()>,
    done: AtomicUsize,
    stale: AtomicUsize,
    failed: AtomicUsize,
    unreachable: AtomicUsize,
}

impl Reporter {
    pub fn new(hosts: usize, ndjson: bool, progress: bool) -> Self {
        let bar = progress.then(|| {
            let b = ProgressBar::with_draw_target(Some(hosts as u64), ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} [{elapsed}, ETA {eta}]")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b
        });
        Reporter {
            ndjson,
            bar,
            t0: Instant::now(),
            out: Mutex::new(()),
            done: AtomicUsize::new(0),
            stale: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            unreachable: AtomicUsize::new(0),
        }
    }

    pub fn event(&self, e: Event) {
        let finished = match &e {
            Event::HostScanned { needs_action, .. } => {
                if *needs_action {
                    self.stale.fetch_add(1, Ordering::Relaxed);
                }
                true
            }
            Event::HostFailed { .. } => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                true
            }
            Event::HostUnreachable { .. } => {
                self.unreachable.fetch_add(1, Ordering::Relaxed);
                true
            }
            _ => false,
        };
        if finished {
            self.done.fetch_add(1, Ordering::Relaxed);
        }
        if self.ndjson {
            let mut v = serde_json::to_value(&e).unwrap_or_default();
            v["t_ms"] = serde_json::json!(self.t0.elapsed().as_millis() as u64);
            let _g = self.out.lock().unwrap_or_else(|p| p.into_inner());
            let mut so = std::io::stdout().lock();
            let _ = writeln!(so, "{v}");
            let _ = so.flush();
        }
        if let (Some(b), true) = (&self.bar, finished) {
            b.set_message(format!(
                "stale {} failed {} unreachable {}",
                self.stale.load(Ordering::Relaxed),
                self.failed.load(Ordering::Relaxed),
                self.unreachable.load(Ordering::Relaxed)
            ));
            b.inc(1);
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
