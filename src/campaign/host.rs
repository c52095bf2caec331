//! One host of a campaign, start to end: its lease ([`super::hold`]), then its turn
//! ([`super::restart_turn`] in a restart campaign, [`super::reboot`] in a reboot campaign:
//! drain, restart or reboot, read back, checks), then its undrain and `finished`, each step
//! journaled before it is taken. Also continues a host that a previous controller run left
//! half-done (from the journal's last phase).
//!
//! The undrain hook runs when the host is healthy, or when nothing was touched yet (the drain
//! itself failed, or the host could not be read): retried with backoff, and owed to `resume`
//! when it still fails. A host whose restart, reboot or checks failed stays drained ("left
//! drained") unless the campaign file says `undrain_on_failure: true`; an aborted host stays
//! drained until `resume` verified it. I/O; [`keep_drained`] is pure.

use super::checks::{self, SessionProbe};
use super::commit::Journal;
use super::hold::{release_lease, take_lease};
use super::journal::{HostProgress, Phase};
use super::plan::PlannedHost;
use super::restart::{self, UnitState};
use super::restart_turn::body;
use super::schedule::Outcome;
use super::spec::{Check, Hook, Spec};
use crate::audit::AuditContext;
use crate::delivery;
use crate::shell::quote;
use crate::targets::{Connection, Target};
use crate::transport::local::LocalSession;
use crate::transport::{ExecLimits, Session, TransportError};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a worker reports while it runs (rendered by the campaign reporter).
#[derive(Debug, Clone)]
pub enum Progress {
    Phase {
        host: String,
        phase: Phase,
    },
    /// A note about one host, or (`host: None`) about the campaign.
    Note {
        host: Option<String>,
        message: String,
    },
}

/// Everything a host worker uses, shared by all workers.
pub struct Env<'a> {
    pub audit: &'a AuditContext<'a>,
    pub spec: &'a Spec,
    /// Targets of the hosts hooks run on (`on:`).
    pub hook_targets: &'a BTreeMap<String, Target>,
    pub journal: &'a Journal,
    /// Raised by the second Ctrl-C: what is left (checks) is skipped, a running check command is
    /// stopped; undrains still run.
    pub abort: &'a Arc<AtomicBool>,
    pub emit: &'a (dyn Fn(Progress) + Sync),
    /// The campaign's id and this controller's name (`host:pid`): the host lease's holder.
    pub campaign: &'a str,
    pub controller: &'a str,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct HostEnd {
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub undrain_failed: Option<String>,
    /// Drained and not undrained on purpose (why): the host failed, or was aborted unverified.
    pub left_drained: Option<String>,
    /// What the operator must know besides the outcome: units started again after their
    /// restart left them down (with the cause), services stopped since the audit (not started).
    pub notes: Vec<String>,
    /// Services restarted by this run.
    pub restarted: Vec<String>,
    /// The journal could not be written: the campaign must stop.
    #[serde(skip)]
    pub journal_failed: bool,
}

pub fn address(t: &Target) -> String {
    match &t.connection {
        Connection::Local => "127.0.0.1".into(),
        Connection::Ssh(s) => s.hop.address.clone(),
    }
}

pub(super) struct Worker<'a> {
    pub(super) env: &'a Env<'a>,
    pub(super) target: &'a Target,
    pub(super) plan: &'a PlannedHost,
    pub(super) journal_failed: bool,
    /// When the host's turn began: every session of the turn (the host's, rescans, the drain
    /// hook's host) shares one `--host-timeout` from here (review L11). The undrain is outside
    /// it, on purpose: it must run even when the turn ran out of time. A reboot campaign starts
    /// it again once the host is back (the wait between is `reboot.timeout`'s).
    pub(super) started: Instant,
    /// Services were touched (a restart or reboot was about to be sent): from here a failure
    /// leaves the host drained.
    pub(super) touched: bool,
    /// See [`HostEnd::notes`].
    pub(super) notes: std::cell::RefCell<Vec<String>>,
    /// Services found stopped at the host's turn: not restarted, not checked.
    pub(super) skipped: std::cell::RefCell<Vec<String>>,
    /// The host's lease is ours (released at the end).
    pub(super) leased: bool,
    /// Another campaign worked on the host since its audit: what is still due is asked again.
    pub(super) look_again: Option<String>,
}

impl Worker<'_> {
    pub(super) fn record(&mut self, phase: Phase) -> Result<(), String> {
        (self.env.emit)(Progress::Phase {
            host: self.plan.host.clone(),
            phase: phase.clone(),
        });
        let r = self.env.journal.host(&self.plan.host, phase);
        if r.is_err() {
            self.journal_failed = true;
        }
        r
    }

    /// A note kept for the host's result and journal, and shown now.
    pub(super) fn keep_note(&self, message: String) {
        (self.env.emit)(Progress::Note {
            host: Some(self.plan.host.clone()),
            message: message.clone(),
        });
        self.notes.borrow_mut().push(message);
    }

    pub(super) fn open(&self) -> Result<Box<dyn Session + Send>, String> {
        self.env.audit.connector.open(self.target, self.started)
    }

    /// Services the scanner still finds stale, over a new session.
    pub(super) fn rescan(&self) -> Result<Vec<String>, String> {
        let report = self.rescan_report()?;
        Ok(report.services.into_iter().map(|s| s.name).collect())
    }

    /// The scanner's report, over a new session.
    pub(super) fn rescan_report(&self) -> Result<fleetrestart_scan::report::Report, String> {
        let mut s = self.open()?;
        let mut cfg = self.env.audit.delivery.clone();
        if self.target.installed_scanner.is_some() {
            cfg.installed_scanner = self.target.installed_scanner.clone();
        }
        let scan = delivery::scan_host(
            s.as_mut(),
            self.env.audit.scanners,
            &cfg,
            self.env.audit.rules.as_deref(),
        )
        .map_err(|e| format!("rescan: {e}"))?;
        Ok(scan.report)
    }

    /// Runs a drain (`within_turn`: under the host's deadline) or undrain (its own) hook.
    pub(super) fn hook(&self, hook: &Hook, within_turn: bool) -> Result<(), String> {
        let cmd = hook
            .command
            .replace("{host}", &quote(&self.plan.host))
            .replace("{address}", &quote(&address(self.target)));
        let limits = ExecLimits {
            timeout: Duration::from_secs_f64(hook.timeout),
            ..Default::default()
        };
        let out = match &hook.on {
            None => LocalSession::default().exec(&cmd, b"", limits),
            Some(h) => {
                let t = self
                    .env
                    .hook_targets
                    .get(h)
                    .ok_or_else(|| format!("hook host {h} is not in the inventory"))?;
                let t0 = if within_turn {
                    self.started
                } else {
                    Instant::now()
                };
                let mut s = self
                    .env
                    .audit
                    .connector
                    .open(t, t0)
                    .map_err(|e| format!("hook host {h}: {e}"))?;
                s.exec(&cmd, b"", limits)
            }
        }
        .map_err(|e| e.to_string())?;
        if out.status == Some(0) {
            Ok(())
        } else {
            Err(format!(
                "exit status {:?}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

/// A step's failure: the host broke (failed) or the connection did.
pub(super) enum Fail {
    Failed(String),
    Transport(TransportError),
}

impl From<TransportError> for Fail {
    fn from(e: TransportError) -> Self {
        Fail::Transport(e)
    }
}

/// Where a host's turn begins, from its progress in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Entry {
    /// Not drained yet (a new host, or one interrupted in its drain): the whole turn.
    Fresh,
    /// Interrupted after `restarting` was journaled: the restart may or may not have been sent.
    RestartSent,
    /// Restarted; its checks are what is left (interrupted in them, or aborted before them).
    Checks,
    /// Only the undrain was left: the result before it is in the journal.
    Undrain,
}

impl Entry {
    pub(super) fn of(resume: Option<&HostProgress>) -> Entry {
        match resume.map(|p| &p.last) {
            // aborted before its restart was journaled (waiting for another campaign's lease)
            Some(Phase::Finished { .. }) if resume.is_some_and(|p| p.before.is_none()) => {
                Entry::Fresh
            }
            None | Some(Phase::Started) | Some(Phase::Draining) => Entry::Fresh,
            Some(Phase::Restarting { .. }) => Entry::RestartSent,
            // reboot phases are super::reboot's (a restart plan never records them)
            Some(Phase::Rebooting { .. } | Phase::Rebooted { .. }) => Entry::Checks,
            Some(Phase::Checking) | Some(Phase::Finished { .. }) => Entry::Checks,
            Some(Phase::Undraining { .. }) => Entry::Undrain,
        }
    }

    /// An earlier run was about to touch the host's services: its restart or reboot was
    /// journaled (with the state before it).
    fn touched_before(resume: Option<&HostProgress>) -> bool {
        resume.is_some_and(|p| p.before.is_some() || p.reboot.is_some())
    }

    /// The drain hook already ran in an earlier run (or an undrain is owed).
    fn drained_before(resume: Option<&HostProgress>) -> bool {
        matches!(
            resume.map(|p| &p.last),
            Some(
                Phase::Draining
                    | Phase::Restarting { .. }
                    | Phase::Rebooting { .. }
                    | Phase::Rebooted { .. }
                    | Phase::Checking
                    | Phase::Undraining { .. }
                    | Phase::Finished {
                        outcome: Outcome::Aborted,
                        ..
                    }
                    | Phase::Finished {
                        undrain_failed: Some(_),
                        ..
                    }
            )
        )
    }
}

/// Runs one host. `resume` is its progress from the journal (none for a fresh host).
pub fn run(
    target: &Target,
    plan: &PlannedHost,
    resume: Option<&HostProgress>,
    env: &Env,
) -> HostEnd {
    let mut w = Worker {
        env,
        target,
        plan,
        journal_failed: false,
        started: Instant::now(),
        touched: Entry::touched_before(resume),
        notes: Default::default(),
        skipped: Default::default(),
        leased: false,
        look_again: None,
    };
    let mut end = HostEnd {
        outcome: Outcome::Ok,
        reason: None,
        undrain_failed: None,
        left_drained: None,
        notes: Vec::new(),
        restarted: Vec::new(),
        journal_failed: false,
    };
    let mut drained = Entry::drained_before(resume);
    let result = match take_lease(&mut w) {
        Err(f) => Err(f),
        Ok(()) => turn(&mut w, resume, &mut drained, &mut end.restarted),
    };
    if let Err((outcome, reason)) = result {
        end.outcome = outcome;
        end.reason = Some(reason);
    }
    if drained {
        match keep_drained(w.touched, end.outcome, env.spec.undrain_on_failure) {
            Some(why) => {
                w.keep_note(format!("left drained: {why}"));
                end.left_drained = Some(why);
            }
            None => undrain(&mut w, &mut end),
        }
    }
    release_lease(&mut w);
    end.notes = w.notes.take();
    if !w.journal_failed {
        let _ = w.record(Phase::Finished {
            outcome: end.outcome,
            reason: end.reason.clone(),
            undrain_failed: end.undrain_failed.clone(),
            left_drained: end.left_drained.clone(),
            notes: end.notes.clone(),
        });
    }
    end.journal_failed = w.journal_failed;
    if end.journal_failed && end.reason.is_none() {
        end.outcome = Outcome::Failed;
        end.reason = Some("the journal could not be written".into());
    }
    end
}

/// The host's turn between its lease and its undrain.
fn turn(
    w: &mut Worker,
    resume: Option<&HostProgress>,
    drained: &mut bool,
    restarted: &mut Vec<String>,
) -> Result<(), Failure> {
    match resume.map(|p| &p.last) {
        Some(Phase::Undraining { outcome, reason })
        | Some(Phase::Finished {
            outcome,
            reason,
            undrain_failed: Some(_),
            ..
        }) => match reason {
            Some(r) => Err((*outcome, r.clone())),
            None => Ok(()),
        },
        _ if w.plan.reboot.is_some() => super::reboot::body(w, resume, drained),
        _ => body(w, resume, drained, restarted),
    }
}

/// Why a drained host is not undrained, if it is not: it failed after its services were
/// touched (unless the campaign file says `undrain_on_failure`), or it was aborted before its
/// services were verified (`resume` verifies and undrains it). Nothing touched (the drain
/// itself failed, the host could not be read, everything was stopped since the audit): the
/// host is as healthy as before, and is undrained.
/// Pure.
fn keep_drained(touched: bool, outcome: Outcome, undrain_on_failure: bool) -> Option<String> {
    if !touched || outcome == Outcome::Ok {
        return None;
    }
    match outcome {
        Outcome::Aborted => Some(
            "aborted before its services were verified: `resume` verifies and undrains it".into(),
        ),
        _ if undrain_on_failure => None,
        _ => Some(format!(
            "the host {}: fix it, then undrain it by hand (or set `undrain_on_failure: true`)",
            if outcome == Outcome::Unreachable {
                "became unreachable after its services were touched"
            } else {
                "failed after its services were touched"
            }
        )),
    }
}

/// Pauses between undrain attempts: four tries over about 20 s (a cached jump-host failure
/// lasts 5 s; sshd's MaxStartups drops and network blips pass).
const UNDRAIN_BACKOFF: [u64; 3] = [2, 6, 12];

/// The undrain of a drained host, retried with backoff. It runs even when the journal cannot
/// record it: a host left out of rotation because a disk filled up is worse than a step missing
/// from the record (`resume` then drains it again, which hooks must allow anyway). One that
/// still fails is owed: its `finished` record carries `undrain_failed` and `resume` tries again.
fn undrain(w: &mut Worker, end: &mut HostEnd) {
    let Some(h) = &w.env.spec.undrain else {
        return;
    };
    if !w.journal_failed {
        let _ = w.record(Phase::Undraining {
            outcome: end.outcome,
            reason: end.reason.clone(),
        });
    }
    let mut tries = 0;
    let last = loop {
        tries += 1;
        match w.hook(h, false) {
            Ok(()) => return,
            Err(e) => match UNDRAIN_BACKOFF.get(tries - 1) {
                Some(secs) => {
                    (w.env.emit)(Progress::Note {
                        host: Some(w.plan.host.clone()),
                        message: format!("undrain failed ({e}): trying again in {secs} s"),
                    });
                    std::thread::sleep(Duration::from_secs(*secs));
                }
                None => break e,
            },
        }
    };
    end.undrain_failed = Some(format!(
        "undrain failed {tries} times (`resume` tries again): {last}"
    ));
    if end.outcome == Outcome::Ok {
        end.outcome = Outcome::Failed;
    }
}

pub(super) type Failure = (Outcome, String);

/// A broken step: a host we can no longer reach is unreachable, else failed.
pub(super) fn lost(w: &Worker, f: Fail) -> Failure {
    match f {
        Fail::Failed(m) => (Outcome::Failed, m),
        Fail::Transport(e) => match w.open() {
            Ok(_) => (Outcome::Failed, e.to_string()),
            Err(c) => (Outcome::Unreachable, format!("{e}; then: {c}")),
        },
    }
}

pub(super) fn jfail(e: String) -> Failure {
    (Outcome::Failed, e)
}

/// The health checks of a restarted host (systemd states against `before`, the campaign's
/// checks, the rescan), unless the operator aborted.
pub(super) fn checks(
    w: &mut Worker,
    mut session: Box<dyn Session + Send>,
    before: BTreeMap<String, UnitState>,
) -> Result<(), Failure> {
    let env = w.env;
    let failed = |m: String| (Outcome::Failed, m);
    if env.abort.load(Ordering::SeqCst) {
        return Err((
            Outcome::Aborted,
            "aborted by the operator before the health checks".into(),
        ));
    }
    w.record(Phase::Checking).map_err(jfail)?;
    // what was restarted: not what was stopped since the audit (down before the restart)
    let skipped = w.skipped.borrow().clone();
    let units: BTreeMap<String, UnitState> = before
        .into_iter()
        .filter(|(u, st)| restart::is_up(st) && !skipped.contains(u))
        .collect();
    let services: Vec<String> = w
        .plan
        .actions
        .iter()
        .map(|a| a.service.clone())
        .filter(|s| !skipped.contains(s))
        .collect();
    let mut list: Vec<Check> = Vec::new();
    if env.spec.verify.systemd && !units.is_empty() {
        list.push(Check::systemd());
    }
    list.extend(
        env.spec
            .checks_for(services.iter().map(String::as_str))
            .into_iter()
            .cloned(),
    );
    // a reboot's rescan is part of its verification (super::reboot)
    if env.spec.verify.rescan && w.plan.reboot.is_none() {
        list.push(Check::rescan());
    }
    let address = address(w.target);
    let worker: &Worker = w;
    // an abort stops a check command mid-run (the host's restart itself is never cut short)
    session.set_cancel(Some(env.abort.clone()));
    let mut rescan = || worker.rescan();
    let from_host = matches!(&w.target.connection, Connection::Ssh(s) if !s.jumps.is_empty());
    let mut probe = SessionProbe {
        session: session.as_mut(),
        address,
        from_host,
        rescan: &mut rescan,
    };
    let mut result = Ok(());
    for c in &list {
        if let Err(e) = checks::run(c, &mut probe, &units, &services, env.abort) {
            // an operator's abort is not the host's failure; a host that vanished during its
            // checks is unreachable, not merely unhealthy
            result = Err(if env.abort.load(Ordering::SeqCst) {
                (Outcome::Aborted, format!("aborted by the operator: {e}"))
            } else if worker.open().is_err() {
                (
                    Outcome::Unreachable,
                    format!("{e}; the host no longer answers"),
                )
            } else {
                failed(e)
            });
            break;
        }
    }
    session.set_cancel(None);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_that_failed_after_its_services_were_touched_stays_drained() {
        // nothing touched (drain failed, host unreadable, all stopped since the audit): undrain
        for o in [Outcome::Ok, Outcome::Failed, Outcome::Unreachable] {
            assert_eq!(keep_drained(false, o, false), None);
        }
        assert_eq!(keep_drained(true, Outcome::Ok, false), None);
        let f = keep_drained(true, Outcome::Failed, false).unwrap();
        assert!(f.contains("failed after its services were touched"), "{f}");
        let u = keep_drained(true, Outcome::Unreachable, false).unwrap();
        assert!(u.contains("unreachable"), "{u}");
        // the campaign file's choice restores undrain-on-failure, but never for an aborted host
        assert_eq!(keep_drained(true, Outcome::Failed, true), None);
        let a = keep_drained(true, Outcome::Aborted, true).unwrap();
        assert!(a.contains("resume"), "{a}");
    }
}
