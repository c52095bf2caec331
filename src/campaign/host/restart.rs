//! A restart campaign's host steps, inside the host's turn ([`super::run`]) (between its lease and drain
//! and its checks and undrain): what is still due (a unit or sysv service stopped since the
//! audit is not started; after another campaign, only what a rescan still finds stale), the
//! units' state before, `restarting` journaled, the restart step by step, each step read back
//! until it holds (a unit left down is started once and named with its cause), and a resumed
//! host restarting only what was not restarted yet. I/O over the host's session; the decisions
//! are [`crate::campaign::scripts`]'s and `fleetrestart_scan::units`' (pure).

use super::worker::{checks, jfail, lost, Entry, Fail, Failure, Progress, Worker};
use crate::campaign::journal::{HostProgress, Phase};
use crate::campaign::plan::Action;
use crate::campaign::schedule::Outcome;
use crate::campaign::scripts::{self, UnitState};
use crate::shell::quote;
use crate::transport::{ExecLimits, Session};
use fleetrestart_scan::report::ServiceKind;
use std::collections::BTreeMap;
use std::time::Duration;

impl Worker<'_> {
    pub(super) fn units(&self) -> Vec<&str> {
        self.plan
            .actions
            .iter()
            .filter(|a| a.kind == ServiceKind::Systemd)
            .map(|a| a.service.as_str())
            .collect()
    }

    pub(super) fn show(&self, s: &mut dyn Session) -> Result<BTreeMap<String, UnitState>, Fail> {
        self.show_units(s, &self.units())
    }

    pub(super) fn show_units(
        &self,
        s: &mut dyn Session,
        units: &[&str],
    ) -> Result<BTreeMap<String, UnitState>, Fail> {
        if units.is_empty() {
            return Ok(BTreeMap::new());
        }
        let limits = ExecLimits {
            timeout: Duration::from_secs(60),
            ..Default::default()
        };
        let out = s.exec(
            &scripts::show_script(units).map_err(Fail::Failed)?,
            b"",
            limits,
        )?;
        if out.status != Some(0) {
            return Err(Fail::Failed(format!(
                "systemctl show failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(scripts::parse_show(&String::from_utf8_lossy(&out.stdout)))
    }

    /// Restarts `actions` step by step (journald first and alone: [`scripts::steps`]); after
    /// each step, what it restarted is read back until it holds ([`Self::settle`],
    /// [`Self::sysv_after`]), whatever the step's exit status; returns the services restarted.
    pub(super) fn restart(
        &self,
        s: &mut dyn Session,
        actions: &[&Action],
        before: &BTreeMap<String, UnitState>,
    ) -> Result<Vec<String>, Fail> {
        let limits = ExecLimits {
            timeout: Duration::from_secs_f64(self.env.spec.restart_timeout),
            ..Default::default()
        };
        let mut done = Vec::new();
        for step in scripts::steps(actions).map_err(Fail::Failed)? {
            let out = s.exec(&step.script, b"", limits)?;
            let of_step = |k: ServiceKind| -> Vec<&Action> {
                actions
                    .iter()
                    .copied()
                    .filter(|a| a.kind == k && step.services.contains(&a.service))
                    .collect()
            };
            let units: Vec<&str> = of_step(ServiceKind::Systemd)
                .iter()
                .map(|a| a.service.as_str())
                .collect();
            let held = self.settle(s, &units, before);
            let held = held.and_then(|()| {
                of_step(ServiceKind::Sysv)
                    .into_iter()
                    .try_for_each(|a| self.sysv_after(s, a))
            });
            if out.status != Some(0) {
                let also = match held {
                    Err(Fail::Failed(m)) => format!("; then: {m}"),
                    _ => String::new(),
                };
                return Err(Fail::Failed(format!(
                    "`{}` exited with {:?}: {}{also}",
                    step.script,
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            held?;
            done.extend(step.services);
        }
        Ok(done)
    }

    /// Reads `units` back after their restart until each holds (the same invocation active at
    /// two looks 1 s apart); one that is down is started once and named with its cause.
    pub(super) fn settle(
        &self,
        s: &mut dyn Session,
        units: &[&str],
        before: &BTreeMap<String, UnitState>,
    ) -> Result<(), Fail> {
        const LOOKS: usize = 8;
        if units.is_empty() {
            return Ok(());
        }
        let mut started = std::collections::BTreeSet::new();
        let mut prev: Option<BTreeMap<String, UnitState>> = None;
        for look in 0..LOOKS {
            if look > 0 {
                std::thread::sleep(Duration::from_secs(1));
            }
            let now = self.show_units(s, units)?;
            match scripts::judge(before, units, prev.as_ref(), &now, &started) {
                scripts::Verdict::Stable => return Ok(()),
                scripts::Verdict::Again => {}
                scripts::Verdict::Fail(m) => return Err(Fail::Failed(m)),
                scripts::Verdict::Start(list) => {
                    for (u, why) in list {
                        self.keep_note(format!("{u}: {why}: started again"));
                        let cmd = format!("systemctl start -- {}", quote(&u));
                        let out = s.exec(&cmd, b"", ExecLimits::default())?;
                        if out.status != Some(0) {
                            return Err(Fail::Failed(format!(
                                "{u}: {why}; `{cmd}` exited with {:?}: {}",
                                out.status,
                                String::from_utf8_lossy(&out.stderr).trim()
                            )));
                        }
                        started.insert(u);
                    }
                }
            }
            prev = Some(now);
        }
        let states: Vec<String> = prev
            .iter()
            .flat_map(|p| p.iter())
            .map(|(u, st)| format!("{u} {}/{}", st.active, st.sub))
            .collect();
        Err(Fail::Failed(format!(
            "not settled {LOOKS} s after the restart: {}",
            states.join(", ")
        )))
    }

    /// Whether sysv service `a` runs ([`scripts::sysv_status_script`]).
    pub(super) fn sysv_state(
        &self,
        s: &mut dyn Session,
        a: &Action,
    ) -> Result<scripts::SysvState, Fail> {
        let script = scripts::sysv_status_script(a).map_err(Fail::Failed)?;
        let limits = ExecLimits {
            timeout: Duration::from_secs(60),
            max_stdout: 4096,
            max_stderr: 4096,
        };
        let out = s.exec(&script, b"", limits)?;
        Ok(scripts::parse_sysv_status(&String::from_utf8_lossy(
            &out.stdout,
        )))
    }

    /// A sysv service after its restart: running at two looks 1 s apart; down, it is started
    /// once (through its init script, uncut) and must then run.
    pub(super) fn sysv_after(&self, s: &mut dyn Session, a: &Action) -> Result<(), Fail> {
        use scripts::SysvState;
        let mut started = false;
        let mut good = 0;
        for _ in 0..6 {
            match self.sysv_state(s, a)? {
                SysvState::Running => good += 1,
                SysvState::Unknown(why) => {
                    self.keep_note(format!(
                        "{}: cannot tell whether it runs after its restart ({why})",
                        a.service
                    ));
                    return Ok(());
                }
                SysvState::Stopped(why) if started => {
                    return Err(Fail::Failed(format!(
                        "{}: not running after its restart ({why}); started again once: still not running",
                        a.service
                    )))
                }
                SysvState::Stopped(why) => {
                    self.keep_note(format!(
                        "{}: not running after its restart ({why}): started again",
                        a.service
                    ));
                    let script = scripts::sysv_start_script(a).map_err(Fail::Failed)?;
                    let limits = ExecLimits {
                        timeout: Duration::from_secs_f64(self.env.spec.restart_timeout),
                        ..Default::default()
                    };
                    s.exec(&script, b"", limits)?;
                    started = true;
                    good = 0;
                }
            }
            if good >= 2 {
                return Ok(());
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        Err(Fail::Failed(format!(
            "{}: did not run steadily after its restart",
            a.service
        )))
    }

    /// The plan's actions that are still due at the host's turn: a systemd unit that is down
    /// now (`before`), or a sysv service whose daemon does not run, was stopped since the audit
    /// (by an operator, or it died): it is not started by the campaign, and is named.
    pub(super) fn due(
        &self,
        s: &mut dyn Session,
        before: &BTreeMap<String, UnitState>,
    ) -> Result<Vec<Action>, Fail> {
        // another campaign worked on the host since its audit: only what is still stale
        let stale: Option<Vec<String>> = match &self.look_again {
            Some(other) => {
                let stale = self.rescan().map_err(Fail::Failed)?;
                self.keep_note(format!(
                    "campaign {other} worked on this host since its audit: looked again, still stale: {}",
                    if stale.is_empty() { "nothing".to_string() } else { stale.join(" ") }
                ));
                Some(stale)
            }
            None => None,
        };
        let mut due = Vec::new();
        for a in &self.plan.actions {
            if stale.as_ref().is_some_and(|st| !st.contains(&a.service)) {
                self.keep_note(format!(
                    "{}: no longer stale (restarted since the audit): not restarted",
                    a.service
                ));
                self.skipped.borrow_mut().push(a.service.clone());
                continue;
            }
            let stopped = match a.kind {
                ServiceKind::Systemd => before
                    .get(&a.service)
                    .filter(|st| scripts::is_down(st))
                    .map(|st| st.active.clone()),
                ServiceKind::Sysv => match self.sysv_state(s, a)? {
                    scripts::SysvState::Stopped(why) => Some(why),
                    _ => None,
                },
                ServiceKind::Manager => None,
            };
            match stopped {
                Some(why) => self.skip(a, &why),
                None => due.push(a.clone()),
            }
        }
        Ok(due)
    }

    pub(super) fn skip(&self, a: &Action, why: &str) {
        self.keep_note(format!(
            "{}: stopped since the audit ({why}): not started",
            a.service
        ));
        self.skipped.borrow_mut().push(a.service.clone());
    }
}

pub(super) fn body(
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
    w.drain(drained)?;
    let before = w.show(session).map_err(|f| lost(w, f))?;
    let due = w.due(session, &before).map_err(|f| lost(w, f))?;
    w.record(Phase::Restarting {
        before: before.clone(),
    })
    .map_err(jfail)?;
    w.touched = true;
    let actions: Vec<&Action> = due.iter().collect();
    *restarted = w
        .restart(session, &actions, &before)
        .map_err(|f| lost(w, f))?;
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
            // restarted and down since: the restart left it down, it is started; not restarted
            // and down: stopped since the audit, it is not (R7)
            ServiceKind::Systemd => match (before.get(&a.service), now.get(&a.service)) {
                (Some(b), Some(n)) if scripts::restarted(b, n) => scripts::is_down(n),
                (Some(b), Some(n)) if scripts::is_down(n) || scripts::is_down(b) => {
                    w.skip(a, &n.active);
                    false
                }
                _ => true,
            },
            _ => stale.contains(&a.service),
        })
        .collect();
    let skipped: Vec<&str> = w
        .plan
        .actions
        .iter()
        .filter(|a| !todo.contains(a) && !w.skipped.borrow().contains(&a.service))
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
    let done = w.restart(session, &todo, before).map_err(|f| lost(w, f))?;
    // what the interrupted run restarted is read back too: the interruption may have come
    // before its read-back
    let earlier: Vec<&Action> = w
        .plan
        .actions
        .iter()
        .filter(|a| skipped.contains(&a.service.as_str()))
        .collect();
    let units: Vec<&str> = earlier
        .iter()
        .filter(|a| a.kind == ServiceKind::Systemd)
        .map(|a| a.service.as_str())
        .collect();
    w.settle(session, &units, before).map_err(|f| lost(w, f))?;
    for a in earlier.iter().filter(|a| a.kind == ServiceKind::Sysv) {
        w.sysv_after(session, a).map_err(|f| lost(w, f))?;
    }
    Ok(done)
}
