//! The campaign engine: drives the [`Scheduler`] with real time, runs each started host on its
//! own worker thread ([`host::run`]), feeds host ends back, and handles the operator's Ctrl-C
//! (first: pause after in-flight hosts; second: abort, undrains still run).
//!
//! On resume it first replays the journal into the scheduler (finished hosts, budget) and
//! continues the hosts a previous run left half-done before starting new ones.

use super::host::{self, Env, HostEnd};
use super::journal::{CampaignEvent, Phase, Replayed};
use super::plan::Plan;
use super::schedule::{Next, Outcome, Scheduler};
use super::stop::{Stop, StopReason};
use crate::reach::targets::Target;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Ctrl-C presses (set by the signal handler).
pub static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTS.fetch_add(1, Ordering::SeqCst);
}

/// SIGINT and SIGTERM count as Ctrl-C from now on. SIGXFSZ is ignored: a journal that grows
/// past the file size limit fails its write (the campaign stops, [`StopReason::JournalFailed`])
/// instead of killing the controller between a host's drain and its undrain.
pub fn catch_interrupts() {
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        libc::signal(
            libc::SIGINT,
            on_interrupt as *const () as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGTERM,
            on_interrupt as *const () as libc::sighandler_t,
        );
    }
}

/// How a host of the plan ended in this run (its [`Outcome`], or not started).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostStatus {
    Ok,
    Failed,
    Unreachable,
    Aborted,
    NotStarted,
}

impl From<Outcome> for HostStatus {
    fn from(o: Outcome) -> HostStatus {
        match o {
            Outcome::Ok => HostStatus::Ok,
            Outcome::Failed => HostStatus::Failed,
            Outcome::Unreachable => HostStatus::Unreachable,
            Outcome::Aborted => HostStatus::Aborted,
        }
    }
}

impl HostStatus {
    pub fn name(self) -> &'static str {
        match self {
            HostStatus::Ok => "ok",
            HostStatus::Failed => "failed",
            HostStatus::Unreachable => "unreachable",
            HostStatus::Aborted => "aborted",
            HostStatus::NotStarted => "not_started",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CampaignHost {
    pub host: String,
    pub status: HostStatus,
    pub reason: Option<String>,
    pub undrain_failed: Option<String>,
    /// Drained and not undrained on purpose: why ([`HostEnd::left_drained`]).
    pub left_drained: Option<String>,
    pub notes: Vec<String>,
    pub restarted: Vec<String>,
    pub elapsed_ms: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CampaignCounts {
    pub hosts: usize,
    pub ok: usize,
    pub failed: usize,
    pub unreachable: usize,
    /// Aborted by the operator after their restart: `resume` runs their checks.
    pub aborted: usize,
    pub not_started: usize,
    pub undrain_failed: usize,
    pub left_drained: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct CampaignResult {
    pub campaign: String,
    pub hosts: Vec<CampaignHost>,
    pub counts: CampaignCounts,
    pub stopped: Option<Stop>,
    pub elapsed_ms: u64,
    pub timing: Timing,
}

/// Where the controller's own time went (benchmarks): the engine's loop outside its waits, and
/// the journal's writes and fsyncs (every host's records included).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timing {
    pub batches: usize,
    pub engine_busy_us: u64,
    pub journal_us: u64,
    pub journal_writes: usize,
    /// fsyncs of the journal (records written while one runs share the next).
    pub journal_syncs: usize,
}

/// Runs the plan (the rest of it, after `replayed`) to its end or its stop.
pub fn run(
    plan: &Plan,
    targets: &BTreeMap<String, Target>,
    env: &Env,
    campaign: &str,
    replayed: Option<&Replayed>,
) -> CampaignResult {
    let t0 = Instant::now();
    let now = || t0.elapsed().as_millis() as u64;
    let mut sched = Scheduler::new(plan, env.spec);
    let (mut results, resume_first) = match replayed {
        Some(r) => replay(plan, r, &mut sched),
        None => (vec![None; plan.hosts.len()], Vec::new()),
    };
    let (tx, rx) = mpsc::channel::<(usize, HostEnd, u64)>();
    let mut announced = 0;
    let mut busy = Duration::ZERO;
    std::thread::scope(|scope| {
        let spawn = |i: usize, tx: mpsc::Sender<(usize, HostEnd, u64)>| {
            let h = &plan.hosts[i];
            let target = &targets[&h.host];
            let progress = replayed
                .and_then(|r| r.hosts.get(&h.host))
                .filter(|p| p.resumable());
            scope.spawn(move || {
                let start = Instant::now();
                let end = work(target, h, progress, env);
                let _ = tx.send((i, end, start.elapsed().as_millis() as u64));
            });
        };
        let windows = reboot_windows(plan, env);
        let (mut held, now_first) = held_for_windows(plan, &resume_first, replayed, &windows, env);
        for i in now_first {
            spawn(i, tx.clone());
        }
        let mut closed_noted = false;
        loop {
            let turn = Instant::now();
            interrupts(&mut sched, env, &mut announced);
            if let Some((w, zone)) = &windows {
                let minutes = w.minutes_until_open(zone.now()).unwrap_or(0);
                if minutes == 0 && sched.stopped().is_none() {
                    for i in held.drain(..) {
                        spawn(i, tx.clone());
                    }
                }
                window_closed(&mut sched, minutes, &mut closed_noted, env, now());
            }
            // a stopped campaign (paused, aborted) does not start held hosts: they stay as the
            // journal has them, for the next resume
            if sched.stopped().is_some() {
                for i in held.drain(..) {
                    sched.finished(i, Outcome::Aborted, now());
                    results[i] = Some(held_result(plan, i));
                }
            }
            let wait = match sched.next(now()) {
                Next::Start(v) => {
                    for i in v {
                        if start(plan, i, &mut sched, env, now()) {
                            spawn(i, tx.clone());
                        }
                    }
                    busy += turn.elapsed();
                    continue;
                }
                Next::Done => break,
                Next::WaitUntil(t) => Duration::from_millis(t.saturating_sub(now()).clamp(1, 100)),
                Next::WaitForHosts => Duration::from_millis(100),
            };
            busy += turn.elapsed();
            match rx.recv_timeout(wait) {
                Ok((i, end, ms)) => {
                    let turn = Instant::now();
                    results[i] = Some(ended(plan, i, end, ms, &mut sched, env, now()));
                    busy += turn.elapsed();
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
    });
    let stopped = sched.stopped().cloned();
    let _ = env.journal.event(match &stopped {
        Some(s) => CampaignEvent::Stopped {
            reason: s.describe(),
        },
        None => CampaignEvent::Ended,
    });
    let cost = env.journal.cost();
    let timing = Timing {
        batches: plan.batch_sizes.len(),
        engine_busy_us: busy.as_micros() as u64,
        journal_us: cost.spent.as_micros() as u64,
        journal_writes: cost.writes,
        journal_syncs: cost.syncs,
    };
    let hosts = host_results(plan, results);
    CampaignResult {
        campaign: campaign.into(),
        counts: CampaignCounts::of(&hosts),
        hosts,
        stopped,
        elapsed_ms: t0.elapsed().as_millis() as u64,
        timing,
    }
}

/// Resumed hosts to start at once, and those held until a reboot window opens: a resumed
/// host whose reboot may not have been sent waits for a window like a new start.
fn held_for_windows(
    plan: &Plan,
    resume_first: &[usize],
    replayed: Option<&Replayed>,
    windows: &Option<(super::window::Windows, super::clock::Zone)>,
    env: &Env,
) -> (Vec<usize>, Vec<usize>) {
    let (held, now_first): (Vec<usize>, Vec<usize>) = resume_first.iter().partition(|&&i| {
        windows.is_some()
            && replayed
                .and_then(|r| r.hosts.get(&plan.hosts[i].host))
                .is_some_and(reboot_unsent)
    });
    if !held.is_empty() {
        let names: Vec<&str> = held.iter().map(|&i| plan.hosts[i].host.as_str()).collect();
        (env.emit)(host::Progress::Note {
            host: None,
            message: format!(
                "held until a reboot window opens (their reboot may not have been sent): {}",
                names.join(" ")
            ),
        });
    }
    (held, now_first)
}

/// One host's run on its worker thread; a panic ends it as a failed host, maybe left drained.
fn work(
    target: &Target,
    h: &super::plan::PlannedHost,
    progress: Option<&super::journal::HostProgress>,
    env: &Env,
) -> HostEnd {
    crate::audit::executor::caught(|| host::run(target, h, progress, env)).unwrap_or_else(|msg| {
        HostEnd {
            outcome: Outcome::Failed,
            reason: Some(format!("internal error: the host's worker panicked: {msg}")),
            undrain_failed: None,
            left_drained: env
                .spec
                .drain
                .as_ref()
                .map(|_| "may be left drained (the worker panicked): check it by hand".into()),
            notes: Vec::new(),
            restarted: Vec::new(),
            journal_failed: false,
        }
    })
}

/// Outside the reboot windows (`minutes` until one opens, 0 when one is open): no host starts
/// until then, re-checked every turn (a window opens within a minute of its time); said once
/// per closing.
fn window_closed(sched: &mut Scheduler, minutes: u32, noted: &mut bool, env: &Env, now: u64) {
    sched.hold_until((minutes > 0).then(|| now + 1000));
    if minutes > 0 && !*noted {
        (env.emit)(host::Progress::Note {
            host: None,
            message: format!(
                "outside the reboot windows: no host starts for {minutes} minute(s) (hosts in flight finish)"
            ),
        });
    }
    *noted = minutes > 0;
}

/// A held host the campaign stopped before a window opened (its journal is unchanged).
fn held_result(plan: &Plan, i: usize) -> CampaignHost {
    CampaignHost {
        host: plan.hosts[i].host.clone(),
        status: HostStatus::Aborted,
        reason: Some(
            "held for a reboot window when the campaign stopped: `resume` continues it".into(),
        ),
        undrain_failed: None,
        left_drained: None,
        notes: Vec::new(),
        restarted: Vec::new(),
        elapsed_ms: 0,
    }
}

/// A resumed reboot host whose reboot may not have been sent yet (before `rebooted`, and not
/// aborted after it was sent).
fn reboot_unsent(p: &super::journal::HostProgress) -> bool {
    match &p.last {
        Phase::Started | Phase::Draining | Phase::Rebooting { .. } => true,
        Phase::Finished {
            outcome: Outcome::Aborted,
            ..
        } => p.reboot.is_none(),
        _ => false,
    }
    // (a restart plan never journals a reboot: its hosts are never held, see `reboot_windows`)
}

/// A reboot campaign's windows and their zone (none: no windows, or not a reboot campaign).
fn reboot_windows(plan: &Plan, env: &Env) -> Option<(super::window::Windows, super::clock::Zone)> {
    if !plan.hosts.iter().any(|h| h.reboot.is_some()) {
        return None;
    }
    env.spec.reboot.windows_in_zone()
}

/// The journal's hosts into the scheduler: finished ones are done (and in the results), the
/// others (interrupted mid-way, or aborted) are running and returned, to be continued first.
fn replay(
    plan: &Plan,
    r: &Replayed,
    sched: &mut Scheduler,
) -> (Vec<Option<CampaignHost>>, Vec<usize>) {
    let mut results = vec![None; plan.hosts.len()];
    let mut resume_first = Vec::new();
    for (i, h) in plan.hosts.iter().enumerate() {
        let Some(p) = r.hosts.get(&h.host) else {
            continue;
        };
        sched.mark_running(i);
        match &p.last {
            Phase::Finished {
                outcome,
                reason,
                undrain_failed,
                left_drained,
                notes,
            } if !p.resumable() => {
                sched.finished(i, *outcome, 0);
                results[i] = Some(CampaignHost {
                    host: h.host.clone(),
                    status: (*outcome).into(),
                    reason: reason.clone(),
                    undrain_failed: undrain_failed.clone(),
                    left_drained: left_drained.clone(),
                    notes: notes.clone(),
                    restarted: Vec::new(),
                    elapsed_ms: 0,
                });
            }
            _ => resume_first.push(i),
        }
    }
    (results, resume_first)
}

/// New Ctrl-C presses since the last turn: the first pauses, the second aborts.
fn interrupts(sched: &mut Scheduler, env: &Env, announced: &mut usize) {
    let presses = INTERRUPTS.load(Ordering::SeqCst);
    if presses <= *announced {
        return;
    }
    *announced = presses;
    let note = |message: &str| {
        (env.emit)(host::Progress::Note {
            host: None,
            message: message.into(),
        })
    };
    if presses == 1 {
        sched.stop(Stop::new(
            StopReason::Paused,
            "paused by the operator (Ctrl-C): resume with `fleetrestart resume JOURNAL`",
        ));
        note("pausing: no new host starts; in-flight hosts finish (Ctrl-C again aborts them, undrains still run)");
    } else {
        env.abort.store(true, Ordering::SeqCst);
        sched.stop(Stop::new(
            StopReason::Aborted,
            "aborted by the operator (second Ctrl-C)",
        ));
        note("aborting in-flight hosts (undrains still run)");
    }
}

/// Journals host `i`'s start; false (and the campaign stops) when the journal cannot say so:
/// a host never starts unrecorded.
fn start(plan: &Plan, i: usize, sched: &mut Scheduler, env: &Env, now: u64) -> bool {
    let host = &plan.hosts[i].host;
    (env.emit)(host::Progress::Phase {
        host: host.clone(),
        phase: Phase::Started,
    });
    let r = env.journal.host(host, Phase::Started);
    match r {
        Ok(()) => true,
        Err(e) => {
            sched.finished(i, Outcome::Failed, now);
            sched.stop(Stop::new(
                StopReason::JournalFailed,
                format!("the journal could not be written: {e}"),
            ));
            false
        }
    }
}

/// Host `i` ended: into the scheduler (budget, canary), the campaign stops when its journal
/// failed, and a new stop is announced.
fn ended(
    plan: &Plan,
    i: usize,
    end: HostEnd,
    ms: u64,
    sched: &mut Scheduler,
    env: &Env,
    now: u64,
) -> CampaignHost {
    let stop_before = sched.stopped().map(|s| s.reason);
    sched.finished(i, end.outcome, now);
    if end.journal_failed {
        sched.stop(Stop::new(
            StopReason::JournalFailed,
            "the journal could not be written: stopping",
        ));
    }
    if let Some(s) = sched.stopped().filter(|s| Some(s.reason) != stop_before) {
        (env.emit)(host::Progress::Note {
            host: None,
            message: format!("campaign stopping: {}", s.describe()),
        });
    }
    CampaignHost {
        host: plan.hosts[i].host.clone(),
        status: end.outcome.into(),
        reason: end.reason,
        undrain_failed: end.undrain_failed,
        left_drained: end.left_drained,
        notes: end.notes,
        restarted: end.restarted,
        elapsed_ms: ms,
    }
}

/// Every host of the plan, in plan order; hosts without a result were not started.
fn host_results(plan: &Plan, results: Vec<Option<CampaignHost>>) -> Vec<CampaignHost> {
    results
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            r.unwrap_or_else(|| CampaignHost {
                host: plan.hosts[i].host.clone(),
                status: HostStatus::NotStarted,
                reason: None,
                undrain_failed: None,
                left_drained: None,
                notes: Vec::new(),
                restarted: Vec::new(),
                elapsed_ms: 0,
            })
        })
        .collect()
}

impl CampaignCounts {
    fn of(hosts: &[CampaignHost]) -> CampaignCounts {
        let count = |s: HostStatus| hosts.iter().filter(|h| h.status == s).count();
        CampaignCounts {
            hosts: hosts.len(),
            ok: count(HostStatus::Ok),
            failed: count(HostStatus::Failed),
            unreachable: count(HostStatus::Unreachable),
            aborted: count(HostStatus::Aborted),
            not_started: count(HostStatus::NotStarted),
            undrain_failed: hosts.iter().filter(|h| h.undrain_failed.is_some()).count(),
            left_drained: hosts.iter().filter(|h| h.left_drained.is_some()).count(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::journal::{HostProgress, RebootBefore};

    #[test]
    fn a_resumed_host_whose_reboot_may_not_have_been_sent_waits_for_a_window() {
        // every interrupted host was continued at once, before the windows were read
        let p = |last: Phase, reboot: bool| HostProgress {
            last,
            before: None,
            reboot: reboot.then(|| RebootBefore {
                boot_id: "28bb4ab7-8cbb-4713-b854-2428ddf1eefe".into(),
                kernel: "6.1".into(),
                active: vec![],
                was_active: vec![],
            }),
            run: 0,
            t: 0,
        };
        let aborted = Phase::Finished {
            outcome: Outcome::Aborted,
            reason: None,
            undrain_failed: None,
            left_drained: None,
            notes: vec![],
        };
        assert!(reboot_unsent(&p(Phase::Started, false)));
        assert!(reboot_unsent(&p(Phase::Draining, false)));
        // `rebooting` journaled: sent or not, the host says at its turn, inside a window
        assert!(reboot_unsent(&p(
            Phase::Rebooting {
                before: p(Phase::Started, true).reboot.unwrap()
            },
            true
        )));
        // aborted before its reboot was sent: held; aborted while it rebooted: verified at once
        assert!(reboot_unsent(&p(aborted.clone(), false)));
        assert!(!reboot_unsent(&p(aborted, true)));
        assert!(!reboot_unsent(&p(
            Phase::Rebooted {
                boot_id: "x".into()
            },
            true
        )));
        assert!(!reboot_unsent(&p(Phase::Checking, true)));
    }
}
