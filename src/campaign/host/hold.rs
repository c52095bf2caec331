//! A host's lease during its turn (I/O over its sessions): taken before the drain (waiting
//! while another campaign holds it), taken again after a reboot emptied `/run`, released after
//! the undrain. The scripts and their answers are [`crate::campaign::lease`]'s (pure).

use super::worker::{jfail, lost, Failure, Progress, Worker};
use crate::campaign::schedule::Outcome;
use crate::transport::ExecLimits;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How often a host whose lease another campaign holds looks again.
const LEASE_POLL: Duration = Duration::from_secs(5);

/// Takes the host's lease ([`crate::campaign::lease`]), waiting up to `lease_wait` while another
/// campaign holds it. A host that waited, or whose lease another campaign released since its
/// audit, is looked at again before anything is done to it.
pub(super) fn take_lease(w: &mut Worker) -> Result<(), Failure> {
    let env = w.env;
    let script = crate::campaign::lease::take_script(
        env.campaign,
        env.controller,
        env.spec.lease_ttl(w.plan.reboot.is_some()),
    )
    .map_err(jfail)?;
    let t0 = Instant::now();
    let mut waited: Option<String> = None;
    loop {
        w.started = Instant::now();
        let mut s = w.open().map_err(|e| (Outcome::Unreachable, e))?;
        let limits = ExecLimits {
            timeout: Duration::from_secs(30),
            max_stdout: 4096,
            max_stderr: 4096,
        };
        let out = s
            .exec(&script, b"", limits)
            .map_err(|e| lost(w, e.into()))?;
        if out.status != Some(0) {
            return Err((
                Outcome::Failed,
                format!(
                    "taking the host's lease under {}: exit status {:?}: {}",
                    crate::campaign::lease::DIR,
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            ));
        }
        match crate::campaign::lease::parse_take(&String::from_utf8_lossy(&out.stdout))
            .map_err(jfail)?
        {
            crate::campaign::lease::Taken::Raced => std::thread::sleep(Duration::from_secs(1)),
            taken @ crate::campaign::lease::Taken::Ours { .. } => {
                w.leased = true;
                let other = match &taken {
                    crate::campaign::lease::Taken::Ours {
                        released: Some((c, _)),
                    } => c.clone(),
                    _ => String::new(),
                };
                if crate::campaign::lease::touched_since(&taken, env.campaign, w.plan.audited_at) {
                    waited.get_or_insert(other);
                }
                w.look_again = waited;
                w.started = Instant::now();
                return Ok(());
            }
            crate::campaign::lease::Taken::Held {
                campaign,
                controller,
                until,
            } => {
                let why = format!(
                    "campaign {campaign} of controller {controller} holds this host's lease (it expires at {until}, host clock)"
                );
                if waited.is_none() {
                    (env.emit)(Progress::Note {
                        host: Some(w.plan.host.clone()),
                        message: format!("{why}: waiting up to {} s", env.spec.lease_wait),
                    });
                }
                waited = Some(campaign);
                if env.abort.load(Ordering::SeqCst) {
                    return Err((
                        Outcome::Aborted,
                        format!("aborted while {why}: not touched"),
                    ));
                }
                if t0.elapsed().as_secs_f64() >= env.spec.lease_wait {
                    return Err((Outcome::Failed, format!("{why}: not touched")));
                }
                std::thread::sleep(LEASE_POLL);
            }
        }
    }
}

/// After a reboot, which emptied `/run`: the lease again, without waiting (best effort);
/// another campaign that took it meanwhile is named.
pub(super) fn retake_lease(w: &mut Worker) {
    if !w.leased {
        return;
    }
    let env = w.env;
    let Ok(script) =
        crate::campaign::lease::take_script(env.campaign, env.controller, env.spec.lease_ttl(true))
    else {
        return;
    };
    let out = w.open().and_then(|mut s| {
        s.exec(&script, b"", ExecLimits::default())
            .map_err(|e| e.to_string())
    });
    let taken =
        out.map(|o| crate::campaign::lease::parse_take(&String::from_utf8_lossy(&o.stdout)));
    if let Ok(Ok(crate::campaign::lease::Taken::Held { campaign, .. })) = taken {
        w.keep_note(format!(
            "campaign {campaign} took this host's lease while it rebooted"
        ));
    }
}

/// Releases the host's lease (best effort: an unreleased lease expires).
pub(super) fn release_lease(w: &mut Worker) {
    if !w.leased {
        return;
    }
    let Ok(script) = crate::campaign::lease::release_script(w.env.campaign) else {
        return;
    };
    let r = w
        .env
        .audit
        .connector
        .open(w.target, Instant::now())
        .and_then(|mut s| {
            s.exec(&script, b"", ExecLimits::default())
                .map_err(|e| e.to_string())
        });
    if let Err(e) = r {
        w.keep_note(format!(
            "could not release the host's lease ({e}): it expires by itself"
        ));
    }
}
