//! One host of a campaign, start to end (the frame): its lease ([`hold`]), then its turn
//! ([`restart`] in a restart campaign, [`reboot`] in a reboot campaign:
//! drain, restart or reboot, read back, checks), then its undrain and `finished`, each step
//! journaled before it is taken. Also continues a host that a previous controller run left
//! half-done (from the journal's last phase).
//!
//! The undrain hook runs when the host is healthy, or when nothing was touched yet (the drain
//! itself failed, or the host could not be read): retried with backoff, and owed to `resume`
//! when it still fails. A host whose restart, reboot or checks failed stays drained ("left
//! drained") unless the campaign file says `undrain_on_failure: true`; an aborted host stays
//! drained until `resume` verified it. I/O; [`keep_drained`] is pure.

mod hold;
mod reboot;
mod restart;
mod worker;

pub use worker::{address, Env, HostEnd, Progress};

use crate::campaign::journal::{HostProgress, Phase};
use crate::campaign::plan::PlannedHost;
use crate::campaign::schedule::Outcome;
use crate::reach::targets::Target;
use hold::{release_lease, take_lease};
use std::time::{Duration, Instant};
use worker::{Entry, Failure, Worker};

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
        _ if w.plan.reboot.is_some() => reboot::body(w, resume, drained),
        _ => restart::body(w, resume, drained, restarted),
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
