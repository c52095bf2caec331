//! One host of a campaign, start to end: connect, drain, record the units' state, restart,
//! check, undrain, each step journaled before it is taken. Also continues a host that a previous
//! controller run left half-done (from the journal's last phase), restarting only the units that
//! were not restarted yet.
//!
//! The undrain hook runs whenever a drain was attempted: after failures and aborts too.

use super::checks::{self, SessionProbe};
use super::journal::{HostProgress, Phase, Writer};
use super::plan::{Action, PlannedHost};
use super::restart::{self, UnitState};
use super::schedule::Outcome;
use super::spec::{Check, Hook, Spec};
use crate::audit::{self, AuditContext};
use crate::delivery;
use crate::shell::quote;
use crate::targets::{Connection, Target};
use crate::transport::local::LocalSession;
use crate::transport::{ExecLimits, Session, TransportError};
use fleetrestart_scan::report::ServiceKind;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a worker reports while it runs (rendered by the campaign reporter).
#[derive(Debug, Clone)]
pub enum Progress {
    Phase { host: String, phase: Phase },
    Note { host: String, message: String },
}

/// Everything a host worker uses, shared by all workers.
pub struct Env<'a> {
    pub audit: &'a AuditContext<'a>,
    pub spec: &'a Spec,
    /// Targets of the hosts hooks run on (`on:`).
    pub hook_targets: &'a BTreeMap<String, Target>,
    pub journal: &'a Mutex<Writer>,
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

struct Worker<'a> {
    env: &'a Env<'a>,
    target: &'a Target,
    plan: &'a PlannedHost,
    journal_failed: bool,
    /// When the host's turn began: every session of the turn (the host's, rescans, the drain
    /// hook's host) shares one `--host-timeout` from here (review L11). The undrain is outside
    /// it, on purpose: it must run even when the turn ran out of time.
    started: Instant,
}

impl Worker<'_> {
    fn record(&mut self, phase: Phase) -> Result<(), String> {
        (self.env.emit)(Progress::Phase {
            host: self.plan.host.clone(),
            phase: phase.clone(),
        });
        let r = self
            .env
            .journal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .host(&self.plan.host, phase);
        if r.is_err() {
            self.journal_failed = true;
        }
        r
    }

    fn open(&self) -> Result<Box<dyn Session + Send>, String> {
        audit::open(self.target, self.env.audit, self.started).map_err(|e| e.to_string())
    }

    /// Services the scanner still finds stale, over a new session.
    fn rescan(&self) -> Result<Vec<String>, String> {
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
        Ok(scan.report.services.into_iter().map(|s| s.name).collect())
    }

    /// Runs a drain (`within_turn`: under the host's deadline) or undrain (its own) hook.
    fn hook(&self, hook: &Hook, within_turn: bool) -> Result<(), String> {
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
                let mut s = audit::open(t, self.env.audit, t0)
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
enum Fail {
    Failed(String),
    Transport(TransportError),
}

impl From<TransportError> for Fail {
    fn from(e: TransportError) -> Self {
        Fail::Transport(e)
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
    let phase = resume.map(|p| p.last.name()).unwrap_or("started");
    let drained_before = matches!(phase, "draining" | "restarting" | "checking" | "undraining");
    let mut drained = drained_before;
    let result = match resume.map(|p| &p.last) {
        // only the undrain was left; the result before it is in the journal
        Some(Phase::Undraining { outcome, reason }) => match reason {
            Some(r) => Err((*outcome, r.clone())),
            None => Ok(()),
        },
        _ => body(&mut w, resume, &mut drained, &mut end.restarted),
    };
    if let Err((outcome, reason)) = result {
        end.outcome = outcome;
        end.reason = Some(reason);
    }
    if drained && !w.journal_failed {
        if let Some(h) = &env.spec.undrain {
            let so_far = Phase::Undraining {
                outcome: end.outcome,
                reason: end.reason.clone(),
            };
            if w.record(so_far).is_ok() {
                if let Err(e) = w.hook(h, false) {
                    end.undrain_failed = Some(format!("undrain failed: {e}"));
                    if end.outcome == Outcome::Ok {
                        end.outcome = Outcome::Failed;
                    }
                }
            }
        }
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

type Failure = (Outcome, String);

fn body(
    w: &mut Worker,
    resume: Option<&HostProgress>,
    drained: &mut bool,
    restarted: &mut Vec<String>,
) -> Result<(), Failure> {
    let env = w.env;
    let failed = |m: String| (Outcome::Failed, m);
    let jfail = |e: String| (Outcome::Failed, e);
    // a new host's `started` was journaled by the engine, in plan order
    let phase = resume.map(|p| p.last.name()).unwrap_or("started");
    let mut session = match w.open() {
        Ok(s) => s,
        Err(e) => return Err((Outcome::Unreachable, e)),
    };
    // classify a broken step: a host we can no longer reach is unreachable, else failed
    let lost = |w: &Worker, f: Fail| -> Failure {
        match f {
            Fail::Failed(m) => failed(m),
            Fail::Transport(e) => match w.open() {
                Ok(_) => failed(e.to_string()),
                Err(c) => (Outcome::Unreachable, format!("{e}; then: {c}")),
            },
        }
    };
    let before: BTreeMap<String, UnitState>;
    if matches!(phase, "started" | "draining") {
        if let Some(h) = &env.spec.drain {
            w.record(Phase::Draining).map_err(jfail)?;
            *drained = true;
            w.hook(h, true)
                .map_err(|e| failed(format!("drain failed: {e}")))?;
        }
        before = w.show(session.as_mut()).map_err(|f| lost(w, f))?;
        w.record(Phase::Restarting {
            before: before.clone(),
        })
        .map_err(jfail)?;
        let actions: Vec<&Action> = w.plan.actions.iter().collect();
        *restarted = w
            .restart(session.as_mut(), &actions)
            .map_err(|f| lost(w, f))?;
    } else {
        before = resume.and_then(|p| p.before.clone()).unwrap_or_default();
        if phase == "restarting" {
            // the previous run may or may not have sent the restart: ask the host
            let now = w.show(session.as_mut()).map_err(|f| lost(w, f))?;
            let stale = if w
                .plan
                .actions
                .iter()
                .any(|a| a.kind != ServiceKind::Systemd)
            {
                w.rescan().map_err(failed)?
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
                (env.emit)(Progress::Note {
                    host: w.plan.host.clone(),
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
            *restarted = w.restart(session.as_mut(), &todo).map_err(|f| lost(w, f))?;
        }
    }
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
    if env.spec.verify.rescan {
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
