//! One host of a campaign, start to end: connect, drain, record the units' state, restart
//! (or, in a reboot campaign, [`super::reboot`]'s steps), check, undrain, each step journaled before it is taken. Also continues a host that a previous
//! controller run left half-done (from the journal's last phase), restarting only the units that
//! were not restarted yet.
//!
//! The undrain hook runs whenever a drain was attempted: after failures and aborts too.

use super::checks::{self, SessionProbe};
use super::commit::Journal;
use super::journal::{HostProgress, Phase};
use super::plan::{Action, PlannedHost};
use super::restart::{self, UnitState};
use super::schedule::Outcome;
use super::spec::{Check, Hook, Spec};
use crate::audit::AuditContext;
use crate::delivery;
use crate::shell::quote;
use crate::targets::{Connection, Target};
use crate::transport::local::LocalSession;
use crate::transport::{ExecLimits, Session, TransportError};
use fleetrestart_scan::report::ServiceKind;
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
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct HostEnd {
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub undrain_failed: Option<String>,
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
    journal_failed: bool,
    /// When the host's turn began: every session of the turn (the host's, rescans, the drain
    /// hook's host) shares one `--host-timeout` from here (review L11). The undrain is outside
    /// it, on purpose: it must run even when the turn ran out of time. A reboot campaign starts
    /// it again once the host is back (the wait between is `reboot.timeout`'s).
    pub(super) started: Instant,
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

    pub(super) fn open(&self) -> Result<Box<dyn Session + Send>, String> {
        self.env.audit.connector.open(self.target, self.started)
    }

    /// Services the scanner still finds stale, over a new session.
    fn rescan(&self) -> Result<Vec<String>, String> {
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

    fn units(&self) -> Vec<&str> {
        self.plan
            .actions
            .iter()
            .filter(|a| a.kind == ServiceKind::Systemd)
            .map(|a| a.service.as_str())
            .collect()
    }

    fn show(&self, s: &mut dyn Session) -> Result<BTreeMap<String, UnitState>, Fail> {
        let units = self.units();
        if units.is_empty() {
            return Ok(BTreeMap::new());
        }
        let limits = ExecLimits {
            timeout: Duration::from_secs(60),
            ..Default::default()
        };
        let out = s.exec(
            &restart::show_script(&units).map_err(Fail::Failed)?,
            b"",
            limits,
        )?;
        if out.status != Some(0) {
            return Err(Fail::Failed(format!(
                "systemctl show failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(restart::parse_show(&String::from_utf8_lossy(&out.stdout)))
    }

    /// Restarts `actions`; returns the services restarted.
    fn restart(&self, s: &mut dyn Session, actions: &[&Action]) -> Result<Vec<String>, Fail> {
        let limits = ExecLimits {
            timeout: Duration::from_secs_f64(self.env.spec.restart_timeout),
            ..Default::default()
        };
        let mut done = Vec::new();
        for step in restart::steps(actions).map_err(Fail::Failed)? {
            let out = s.exec(&step.script, b"", limits)?;
            if out.status != Some(0) {
                return Err(Fail::Failed(format!(
                    "`{}` exited with {:?}: {}",
                    step.script,
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            done.extend(step.services);
        }
        Ok(done)
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
enum Entry {
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
    fn of(resume: Option<&HostProgress>) -> Entry {
        match resume.map(|p| &p.last) {
            None | Some(Phase::Started) | Some(Phase::Draining) => Entry::Fresh,
            Some(Phase::Restarting { .. }) => Entry::RestartSent,
            // reboot phases are super::reboot's (a restart plan never records them)
            Some(Phase::Rebooting { .. } | Phase::Rebooted { .. }) => Entry::Checks,
            Some(Phase::Checking) | Some(Phase::Finished { .. }) => Entry::Checks,
            Some(Phase::Undraining { .. }) => Entry::Undrain,
        }
    }

    /// The drain hook already ran in an earlier run.
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
    };
    let mut end = HostEnd {
        outcome: Outcome::Ok,
        reason: None,
        undrain_failed: None,
        restarted: Vec::new(),
        journal_failed: false,
    };
    let mut drained = Entry::drained_before(resume);
    let result = match resume.map(|p| &p.last) {
        Some(Phase::Undraining { outcome, reason }) => match reason {
            Some(r) => Err((*outcome, r.clone())),
            None => Ok(()),
        },
        _ if plan.reboot.is_some() => super::reboot::body(&mut w, resume, &mut drained),
        _ => body(&mut w, resume, &mut drained, &mut end.restarted),
    };
    if let Err((outcome, reason)) = result {
        end.outcome = outcome;
        end.reason = Some(reason);
    }
    if drained {
        undrain(&mut w, &mut end);
    }
    if !w.journal_failed {
        let _ = w.record(Phase::Finished {
            outcome: end.outcome,
            reason: end.reason.clone(),
            undrain_failed: end.undrain_failed.clone(),
        });
    }
    end.journal_failed = w.journal_failed;
    if end.journal_failed && end.reason.is_none() {
        end.outcome = Outcome::Failed;
        end.reason = Some("the journal could not be written".into());
    }
    end
}

/// The undrain of a drained host. It runs even when the journal cannot record it: a host left
/// out of rotation because a disk filled up is worse than a step missing from the record
/// (`resume` then drains it again, which hooks must allow anyway).
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
    if let Err(e) = w.hook(h, false) {
        end.undrain_failed = Some(format!("undrain failed: {e}"));
        if end.outcome == Outcome::Ok {
            end.outcome = Outcome::Failed;
        }
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

fn body(
    w: &mut Worker,
    resume: Option<&HostProgress>,
    drained: &mut bool,
    restarted: &mut Vec<String>,
) -> Result<(), Failure> {
    // a new host's `started` was journaled by the engine, in plan order
    let mut session = match w.open() {
        Ok(s) => s,
        Err(e) => return Err((Outcome::Unreachable, e)),
    };
    let before = match Entry::of(resume) {
        Entry::Fresh => first_restart(w, session.as_mut(), drained, restarted)?,
        entry => {
            let before = resume.and_then(|p| p.before.clone()).unwrap_or_default();
            if entry == Entry::RestartSent {
                *restarted = restart_again(w, session.as_mut(), &before)?;
            }
            before
        }
    };
    checks(w, session, before)
}

/// A fresh host: drain, the units' state before, `restarting` journaled, the restart. The
/// units' state before the restart is returned (the checks compare with it).
fn first_restart(
    w: &mut Worker,
    session: &mut (dyn Session + Send),
    drained: &mut bool,
    restarted: &mut Vec<String>,
) -> Result<BTreeMap<String, UnitState>, Failure> {
    let env = w.env;
    if let Some(h) = &env.spec.drain {
        w.record(Phase::Draining).map_err(jfail)?;
        *drained = true;
        w.hook(h, true)
            .map_err(|e| (Outcome::Failed, format!("drain failed: {e}")))?;
    }
    let before = w.show(session).map_err(|f| lost(w, f))?;
    w.record(Phase::Restarting {
        before: before.clone(),
    })
    .map_err(jfail)?;
    let actions: Vec<&Action> = w.plan.actions.iter().collect();
    *restarted = w.restart(session, &actions).map_err(|f| lost(w, f))?;
    Ok(before)
}

/// A host interrupted after `restarting` was journaled: the previous run may or may not have
/// sent the restart, so the host is asked, and only what was not restarted is.
fn restart_again(
    w: &mut Worker,
    session: &mut (dyn Session + Send),
    before: &BTreeMap<String, UnitState>,
) -> Result<Vec<String>, Failure> {
    let now = w.show(session).map_err(|f| lost(w, f))?;
    let stale = if w
        .plan
        .actions
        .iter()
        .any(|a| a.kind != ServiceKind::Systemd)
    {
        w.rescan().map_err(|m| (Outcome::Failed, m))?
    } else {
        Vec::new()
    };
    let todo: Vec<&Action> = w
        .plan
        .actions
        .iter()
        .filter(|a| match a.kind {
            ServiceKind::Systemd => match (before.get(&a.service), now.get(&a.service)) {
                (Some(b), Some(n)) => !restart::restarted(b, n),
                _ => true,
            },
            _ => stale.contains(&a.service),
        })
        .collect();
    let skipped: Vec<&str> = w
        .plan
        .actions
        .iter()
        .filter(|a| !todo.contains(a))
        .map(|a| a.service.as_str())
        .collect();
    if !skipped.is_empty() {
        (w.env.emit)(Progress::Note {
            host: Some(w.plan.host.clone()),
            message: format!(
                "already restarted before the interruption: {}",
                skipped.join(" ")
            ),
        });
    }
    w.record(Phase::Restarting {
        before: before.clone(),
    })
    .map_err(jfail)?;
    w.restart(session, &todo).map_err(|f| lost(w, f))
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
    let services: Vec<String> = w.plan.actions.iter().map(|a| a.service.clone()).collect();
    let units: BTreeMap<String, UnitState> = before;
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
