//! What every step of a host's turn works with: the [`Worker`] (the host, its plan, the
//! journal, the campaign's settings), its sessions, hooks and rescans, the drain, how a broken
//! step becomes the host's outcome ([`lost`]), and the health checks after a restart or reboot.
//! The frame ([`super::run`]) and the two turns (`restart`, `reboot`) stand on it.
//!
//! I/O over the host's sessions.

use crate::audit::delivery;
use crate::audit::AuditContext;
use crate::campaign::checks::{self, SessionProbe};
use crate::campaign::commit::Journal;
use crate::campaign::journal::{HostProgress, Phase};
use crate::campaign::plan::PlannedHost;
use crate::campaign::schedule::Outcome;
use crate::campaign::scripts::{self, UnitState};
use crate::campaign::spec::{Check, CheckType, Hook, Spec};
use crate::reach::targets::{Connection, Target};
use crate::shell::quote;
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
    pub audit: &'a AuditContext,
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
    /// hook's host) shares one `--host-timeout` from here. The undrain is outside
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
        let cfg = self.env.audit.delivery_for(self.target);
        let scan = delivery::scan_host(
            s.as_mut(),
            &self.env.audit.scanners,
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
    pub(super) fn touched_before(resume: Option<&HostProgress>) -> bool {
        resume.is_some_and(|p| p.before.is_some() || p.reboot.is_some())
    }

    /// The drain hook already ran in an earlier run (or an undrain is owed).
    pub(super) fn drained_before(resume: Option<&HostProgress>) -> bool {
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
        .filter(|(u, st)| scripts::is_up(st) && !skipped.contains(u))
        .collect();
    let services: Vec<String> = w
        .plan
        .actions
        .iter()
        .map(|a| a.service.clone())
        .filter(|s| !skipped.contains(s))
        .collect();
    // the plan's checks, as `--plan` showed them; systemd's only when a unit that was up was
    // restarted, a service's own only when the service was
    let list: Vec<&Check> = w
        .plan
        .checks
        .iter()
        .filter(|c| c.check.kind != CheckType::Systemd || !units.is_empty())
        .filter(|c| c.service.as_ref().is_none_or(|s| !skipped.contains(s)))
        .map(|c| &c.check)
        .collect();
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
    for c in list {
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

impl Worker<'_> {
    /// The campaign's drain hook, journaled before it runs; `drained` is set from then on (a
    /// drain that failed half-way is undrained all the same).
    pub(super) fn drain(&mut self, drained: &mut bool) -> Result<(), Failure> {
        let Some(h) = &self.env.spec.drain else {
            return Ok(());
        };
        self.record(Phase::Draining).map_err(jfail)?;
        *drained = true;
        self.hook(h, true)
            .map_err(|e| (Outcome::Failed, format!("drain failed: {e}")))
    }
}
