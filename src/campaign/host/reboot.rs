//! One host of a reboot campaign: drain → record the host (boot id, kernel, enabled units that
//! are active) → `rebooting` journaled → `systemctl reboot` → wait until it answers with a new
//! boot id (`rebooted` journaled) → verify (the system is running, or degraded when allowed;
//! every recorded unit active again; a rescan finds no reboot need and nothing stale) → the
//! campaign's checks; the undrain is [`super::run`]'s, as for restarts.
//!
//! A resumed host is asked its boot id: a new one means the reboot happened (verify it); the
//! same one while the system is `stopping` means it is on its way down (wait); the same one
//! otherwise means the reboot was never sent (send it). So a host is never rebooted twice.
//! A boot id is believed only from a command that exited 0 and printed exactly one UUID
//! (stderr noise during a shutdown is not a new boot id: ansible#83018).
//!
//! The parsers ([`parse_state`], [`is_uuid`]) are pure; the rest is I/O over the host's sessions.

use super::hold::retake_lease;
use super::worker::{checks, jfail, lost, Fail, Failure, Worker};
use crate::campaign::journal::{HostProgress, Phase, RebootBefore};
use crate::campaign::schedule::Outcome;
use crate::transport::{ExecLimits, Session, TransportError};
use fleetrestart_scan::names::is_valid_unit;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The host's state in one command: boot id, kernel, system state, enabled and active units.
const STATE_SCRIPT: &str = "LC_ALL=C; export LC_ALL
b=$(cat /proc/sys/kernel/random/boot_id) || exit 3
echo \"boot_id $b\"
echo \"kernel $(uname -r)\"
echo \"state $(systemctl is-system-running 2>/dev/null)\"
systemctl list-unit-files --state=enabled --no-legend --no-pager 2>/dev/null | while read -r u _; do echo \"enabled $u\"; done
systemctl list-units --state=active --no-legend --no-pager --plain 2>/dev/null | while read -r u _; do echo \"active $u\"; done
systemctl list-units --state=failed --no-legend --no-pager --plain 2>/dev/null | while read -r u _; do echo \"failed $u\"; done
";

const BOOT_ID: &str = "cat /proc/sys/kernel/random/boot_id";

/// What [`STATE_SCRIPT`] printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootState {
    pub boot_id: String,
    pub kernel: String,
    /// `systemctl is-system-running`: running, degraded, starting, ...
    pub system: String,
    /// Enabled units that are active (the units a boot is expected to bring back).
    pub active: BTreeSet<String>,
    /// Every active unit (enabled or not: template instances, generated and socket-started
    /// units), at most [`MAX_UNITS`].
    pub running: BTreeSet<String>,
    /// Failed units.
    pub failed: BTreeSet<String>,
}

/// The most unit names kept of one answer.
const MAX_UNITS: usize = 8192;

/// Units failed after the reboot that were active before it (a template instance
/// or a generated unit, such as `postgresql@15-main`, that is not "enabled" was not compared,
/// and `--allow-degraded` let it pass). Pure.
pub fn broken_by_reboot(before: &RebootBefore, now: &BootState) -> Vec<String> {
    now.failed
        .iter()
        .filter(|u| before.was_active.contains(u))
        .cloned()
        .collect()
}

/// The kernel a host booted, against the newest one its audit found installed (
/// checked whether or not the host is rescanned). Older than that: the boot loader's default
/// entry still points to an old kernel, and the host failed (`Err`). Newer: one was installed
/// since the audit (a note). No expectation (the audit found it current, or could not tell):
/// nothing to say. Pure.
pub fn booted_kernel(now: &str, expected: Option<&str>) -> Result<Option<String>, String> {
    use fleetrestart_scan::kernel::compare_versions;
    use std::cmp::Ordering;
    let Some(want) = expected else {
        return Ok(None);
    };
    match compare_versions(now, want) {
        Ordering::Equal => Ok(None),
        Ordering::Less => Err(format!(
            "booted kernel {now}, older than the newest installed at the audit ({want}): check the boot loader's default entry"
        )),
        Ordering::Greater => Ok(Some(format!(
            "booted kernel {now}, newer than the audit's newest installed ({want}): installed since"
        ))),
    }
}

pub use fleetrestart_scan::names::is_boot_id as is_uuid;

/// Parses [`STATE_SCRIPT`]'s output (bounded by the session; unit names validated).
pub fn parse_state(out: &str) -> Result<BootState, String> {
    let mut boot_id = None;
    let mut kernel = String::new();
    let mut system = String::new();
    let mut enabled = BTreeSet::new();
    let mut active = BTreeSet::new();
    let mut failed = BTreeSet::new();
    for line in out.lines() {
        let (k, v) = line.split_once(' ').unwrap_or((line, ""));
        match k {
            "boot_id" if is_uuid(v) => boot_id = Some(v.to_string()),
            "boot_id" => return Err(format!("the boot id {v:?} is not a UUID")),
            "kernel" => kernel = v.chars().filter(|c| !c.is_control()).take(200).collect(),
            "state" => {
                system = v
                    .chars()
                    .filter(char::is_ascii_lowercase)
                    .take(20)
                    .collect()
            }
            "enabled" if is_valid_unit(v) => {
                enabled.insert(v.to_string());
            }
            "active" if is_valid_unit(v) && active.len() < MAX_UNITS => {
                active.insert(v.to_string());
            }
            "failed" if is_valid_unit(v) && failed.len() < MAX_UNITS => {
                failed.insert(v.to_string());
            }
            _ => {}
        }
    }
    Ok(BootState {
        boot_id: boot_id.ok_or("no boot id in the host's answer")?,
        kernel,
        system,
        active: active.intersection(&enabled).cloned().collect(),
        running: active,
        failed,
    })
}

fn state(s: &mut dyn Session) -> Result<BootState, Fail> {
    let out = s.exec(
        STATE_SCRIPT,
        b"",
        ExecLimits {
            timeout: Duration::from_secs(60),
            max_stdout: 4 << 20,
            ..Default::default()
        },
    )?;
    if out.status != Some(0) {
        return Err(Fail::Failed(format!(
            "reading the host's state: exit {:?}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    parse_state(&String::from_utf8_lossy(&out.stdout)).map_err(Fail::Failed)
}

/// The boot id over a new session: `Err` while the host does not answer (or not believably).
fn probe_boot_id(w: &Worker) -> Result<String, String> {
    let mut s = w.env.audit.connector.open(w.target, Instant::now())?;
    let out = s
        .exec(
            BOOT_ID,
            b"",
            ExecLimits {
                timeout: Duration::from_secs(10),
                max_stdout: 4096,
                max_stderr: 4096,
            },
        )
        .map_err(|e| e.to_string())?;
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status == Some(0) && is_uuid(&id) {
        Ok(id)
    } else {
        Err(format!("no boot id (exit {:?})", out.status))
    }
}

fn reboot_timeout(w: &Worker) -> Duration {
    Duration::from_secs_f64(w.env.spec.reboot.timeout)
}

/// Sends the reboot over a session of its own, with a deadline of its own (not what the drain
/// left of the turn's). The connection may drop before the command's status comes
/// back: that is the reboot going through; a command that answers with a failure is the host's
/// failure, and one that never started (no channel) did not reboot it: the host is as it was.
fn send_reboot(w: &mut Worker) -> Result<(), Failure> {
    let mut s = w
        .env
        .audit
        .connector
        .open(w.target, Instant::now())
        .map_err(|e| {
            w.touched = false;
            (
                Outcome::Unreachable,
                format!("no session to send the reboot: {e}: not rebooted"),
            )
        })?;
    let r = s.exec(
        "systemctl reboot",
        b"",
        ExecLimits {
            timeout: Duration::from_secs(30),
            max_stdout: 64 << 10,
            max_stderr: 64 << 10,
        },
    );
    match r {
        Ok(out) if out.status.is_some_and(|c| c != 0) => Err((
            Outcome::Failed,
            format!(
                "`systemctl reboot` exited with {:?}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        )),
        Ok(_) => Ok(()),
        Err(TransportError::NotStarted(e)) => {
            w.touched = false;
            Err((
                Outcome::Failed,
                format!("`systemctl reboot` was never started ({e}): not rebooted"),
            ))
        }
        Err(e) => {
            note(w, &format!("connection closed by the reboot ({e})"));
            Ok(())
        }
    }
}

fn note(w: &Worker, message: &str) {
    (w.env.emit)(super::worker::Progress::Note {
        host: Some(w.plan.host.clone()),
        message: message.into(),
    });
}

/// Waits (from `since`, the reboot's send, for the reboot timeout) until the host answers with
/// a boot id other than `old`; the new one.
fn wait_back(w: &mut Worker, old: &str, since: Instant) -> Result<String, Failure> {
    let timeout = reboot_timeout(w);
    let deadline = since + timeout;
    let mut pause = Duration::from_millis(500);
    let mut down_seen = false;
    let mut last = String::from("it still answered with the old boot id");
    loop {
        if w.env.abort.load(Ordering::SeqCst) {
            return Err((
                Outcome::Aborted,
                "aborted by the operator while the host rebooted".into(),
            ));
        }
        match probe_boot_id(w) {
            Ok(id) if id != old => {
                if !down_seen {
                    note(
                        w,
                        "back with a new boot id (it went down between two probes)",
                    );
                }
                return Ok(id);
            }
            Ok(_) => pause = Duration::from_millis(500), // not down yet
            Err(e) => {
                down_seen = true;
                last = e;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
        let now = Instant::now();
        if now >= deadline {
            let t = timeout.as_secs_f64();
            let pending = pending(w);
            // the same boot id and nothing pending: the reboot never happened, the host's
            // services were not touched, it may go back into rotation
            if pending == Some(false) {
                w.touched = false;
            }
            return Err(match pending {
                // a slow shutdown is not a reboot that never happened
                Some(true) => (
                    Outcome::Failed,
                    format!("still going down after the reboot timeout of {t}s (a reboot is pending): it may reboot at any time"),
                ),
                Some(false) => (
                    Outcome::Failed,
                    format!("the reboot did not happen within {t}s (the same boot id, no reboot pending)"),
                ),
                None => (
                    Outcome::Failed,
                    format!("did not come back within the reboot timeout of {t}s (last: {last})"),
                ),
            });
        }
        std::thread::sleep(pause.min(deadline - now));
    }
}

/// Whether a reboot is pending on a host that still answers with its old boot id: a job for
/// `reboot.target` queued, or the system `stopping` (none when it cannot be asked).
fn pending(w: &Worker) -> Option<bool> {
    let mut s = w.env.audit.connector.open(w.target, Instant::now()).ok()?;
    let out = s
        .exec(
            "LC_ALL=C systemctl list-jobs --no-legend --no-pager 2>/dev/null; systemctl is-system-running 2>/dev/null; true",
            b"",
            ExecLimits {
                timeout: Duration::from_secs(10),
                max_stdout: 64 << 10,
                max_stderr: 4096,
            },
        )
        .ok()?;
    Some(reboot_pending(&String::from_utf8_lossy(&out.stdout)))
}

/// Pure: [`pending`]'s answer says a reboot is on its way.
pub fn reboot_pending(out: &str) -> bool {
    out.lines().any(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        w.get(1)
            .is_some_and(|u| matches!(*u, "reboot.target" | "systemd-reboot.service"))
            || w.as_slice() == ["stopping"]
    })
}

/// After the new boot: waits (until the reboot timeout from `since`) for the system to finish
/// starting, then checks it is running (degraded only when allowed), the recorded units are
/// active again, and a rescan is clean.
fn verify(w: &Worker, before: &RebootBefore, since: Instant) -> Result<(), Failure> {
    let failed = |m: String| (Outcome::Failed, m);
    let deadline = since + reboot_timeout(w);
    let mut s = w.open().map_err(failed)?;
    let now = loop {
        let st = state(s.as_mut()).map_err(|f| lost(w, f))?;
        match st.system.as_str() {
            "starting" | "initializing" if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_secs(1))
            }
            "running" => break st,
            "degraded" if w.env.spec.reboot.allow_degraded => {
                note(w, "degraded after the reboot (allowed)");
                break st;
            }
            other => {
                let failed_units = failed_units(s.as_mut());
                return Err(failed(format!(
                    "the system is {:?} after the reboot, not running{failed_units}",
                    other
                )));
            }
        }
    };
    if w.env.spec.reboot.settle > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(w.env.spec.reboot.settle));
    }
    // allowed to come back degraded, but not by a unit that ran before the reboot
    let broken = broken_by_reboot(before, &now);
    if !broken.is_empty() {
        return Err(failed(format!(
            "failed after the reboot, active before it: {}",
            broken.join(" ")
        )));
    }
    let mut missing: Vec<&str> = before
        .active
        .iter()
        .filter(|u| !now.active.contains(*u))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        // a unit may still be on its way up: one more look after a pause
        std::thread::sleep(Duration::from_secs(2));
        let again = state(s.as_mut()).map_err(|f| lost(w, f))?;
        missing.retain(|u| !again.active.contains(*u));
    }
    if !missing.is_empty() {
        return Err(failed(format!(
            "not active again after the reboot: {}",
            missing.join(" ")
        )));
    }
    if now.kernel != before.kernel {
        note(w, &format!("kernel {} → {}", before.kernel, now.kernel));
    }
    if let Some(m) =
        booted_kernel(&now.kernel, w.plan.kernel_expected.as_deref()).map_err(failed)?
    {
        note(w, &m);
    }
    if w.env.spec.verify.rescan {
        let report = w.rescan_report().map_err(failed)?;
        use fleetrestart_scan::report::KernelState;
        if matches!(
            report.kernel.status,
            KernelState::VersionUpgrade | KernelState::AbiUpgrade
        ) {
            return Err(failed(format!(
                "booted kernel {}, not the newest installed ({}): check the boot loader's default entry",
                report.kernel.running,
                report.kernel.expected.as_deref().unwrap_or("?")
            )));
        }
        if report.reboot.needed {
            return Err(failed(format!(
                "still needs a reboot after it: {}",
                report.reboot.reasons.join("; ")
            )));
        }
        let stale: Vec<&str> = report.services.iter().map(|s| s.name.as_str()).collect();
        if !stale.is_empty() {
            return Err(failed(format!(
                "stale after the reboot: {}",
                stale.join(" ")
            )));
        }
    }
    Ok(())
}

/// `: failed units a b` (empty when none or unreadable).
fn failed_units(s: &mut dyn Session) -> String {
    let out = s.exec(
        "systemctl list-units --state=failed --no-legend --no-pager --plain",
        b"",
        ExecLimits {
            timeout: Duration::from_secs(30),
            max_stdout: 64 << 10,
            ..Default::default()
        },
    );
    let units: Vec<String> = out
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|u| is_valid_unit(u))
        .map(String::from)
        .collect();
    if units.is_empty() {
        String::new()
    } else {
        format!("; failed units: {}", units.join(" "))
    }
}

/// What cut a reboot short before its new boot was seen.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Interrupted {
    /// The controller died after journaling `rebooting`: the reboot may not have been sent.
    Journal,
    /// The operator aborted while the host rebooted: the reboot was sent.
    Abort,
}

/// A host whose reboot was interrupted: the boot id says where it stands. A new one: it
/// rebooted. The old one while the system is `stopping`: it is going down (wait). The old one
/// otherwise: after a controller crash the reboot was never sent (send it); after an abort it
/// did not happen (fail: it is not sent twice). No answer: it is down (wait). The new boot id.
fn interrupted(
    w: &mut Worker,
    before: &RebootBefore,
    since: Instant,
    why: Interrupted,
) -> Result<String, Failure> {
    match probe_boot_id(w) {
        Ok(id) if id != before.boot_id => {
            note(w, "rebooted before the interruption: verifying it");
            return Ok(id);
        }
        Ok(_) => {
            let mut s = w.open().map_err(|e| (Outcome::Unreachable, e))?;
            let st = state(s.as_mut()).map_err(|f| lost(w, f))?;
            if st.system == "stopping" {
                note(w, "going down (the reboot sent before the interruption)");
            } else if why == Interrupted::Abort {
                w.touched = false;
                return Err((
                    Outcome::Failed,
                    "the reboot sent before the abort did not happen (same boot id): not sent again; reboot it by hand or in a new campaign".into(),
                ));
            } else {
                note(
                    w,
                    "the reboot was not sent before the interruption: sending it",
                );
                drop(s);
                send_reboot(w)?;
            }
        }
        Err(_) => note(w, "down (the reboot sent before the interruption): waiting"),
    }
    wait_back(w, &before.boot_id, since)
}

/// Whether the host booted since its audit and then no longer needs a reboot: it
/// is audited again; true when it is skipped (named in its notes). With `reboot.all`, any boot
/// since the audit is the reboot asked for.
fn booted_since_audit(w: &Worker, st: &BootState) -> Result<bool, Failure> {
    let Some(audit) = &w.plan.audit_boot_id else {
        return Ok(false);
    };
    if st.boot_id == *audit {
        return Ok(false);
    }
    if w.env.spec.reboot.all {
        w.keep_note("booted since the audit (its boot id changed): not rebooted again".into());
        return Ok(true);
    }
    let report = w
        .rescan_report()
        .map_err(|m| (Outcome::Failed, format!("booted since the audit: {m}")))?;
    if report.reboot.needed {
        w.keep_note(format!(
            "booted since the audit (its boot id changed) and still needs a reboot: {}",
            report.reboot.reasons.join("; ")
        ));
        return Ok(false);
    }
    w.keep_note(
        "booted since the audit (its boot id changed) and no longer needs a reboot: not rebooted"
            .into(),
    );
    Ok(true)
}

/// Whether the reboot windows are closed now (none: always open).
fn window_closed(w: &Worker) -> bool {
    w.env
        .spec
        .reboot
        .windows_in_zone()
        .is_some_and(|(win, z)| win.minutes_until_open(z.now()).unwrap_or(0) > 0)
}

/// A fresh turn up to the reboot: the host booted since its audit (skipped when it no longer
/// needs one), drain, its state, and at the last moment the operator's abort and the windows
/// (reviews R5, R17: the drain can take minutes; nothing is rebooted after an abort or outside
/// the windows: the host ends aborted, untouched, and is undrained), then `rebooting`
/// journaled. None: skipped.
fn fresh(w: &mut Worker, drained: &mut bool) -> Result<Option<RebootBefore>, Failure> {
    let mut s = w.open().map_err(|e| (Outcome::Unreachable, e))?;
    let st = state(s.as_mut()).map_err(|f| lost(w, f))?;
    if booted_since_audit(w, &st)? {
        return Ok(None);
    }
    w.drain(drained)?;
    let first = st.boot_id;
    let st = state(s.as_mut()).map_err(|f| lost(w, f))?;
    // it booted during its drain
    if st.boot_id != first && booted_since_audit(w, &st)? {
        return Ok(None);
    }
    if w.env.abort.load(Ordering::SeqCst) {
        return Err((
            Outcome::Aborted,
            "aborted by the operator before its reboot was sent: not rebooted".into(),
        ));
    }
    if window_closed(w) {
        return Err((
            Outcome::Aborted,
            "the reboot window closed before its reboot was sent: not rebooted (`resume` reboots it in a window)".into(),
        ));
    }
    let before = RebootBefore {
        boot_id: st.boot_id,
        kernel: st.kernel,
        active: st.active.into_iter().collect(),
        was_active: st.running.into_iter().collect(),
    };
    w.record(Phase::Rebooting {
        before: before.clone(),
    })
    .map_err(jfail)?;
    w.touched = true;
    Ok(Some(before))
}

/// One host's reboot, from where the journal left it (`resume`).
pub(super) fn body(
    w: &mut Worker,
    resume: Option<&HostProgress>,
    drained: &mut bool,
) -> Result<(), Failure> {
    let since;
    let before = match resume.map(|p| (&p.last, p.reboot.as_ref())) {
        // a new host, one interrupted before its reboot was journaled, or one aborted before
        // its reboot was sent
        None
        | Some((Phase::Started | Phase::Draining, _))
        | Some((Phase::Finished { .. }, None)) => {
            let Some(before) = fresh(w, drained)? else {
                return Ok(());
            };
            since = Instant::now();
            send_reboot(w)?;
            let id = wait_back(w, &before.boot_id, since)?;
            w.record(Phase::Rebooted { boot_id: id }).map_err(jfail)?;
            before
        }
        Some((Phase::Rebooting { before }, _)) => {
            since = Instant::now();
            let id = interrupted(w, before, since, Interrupted::Journal)?;
            w.record(Phase::Rebooted { boot_id: id }).map_err(jfail)?;
            before.clone()
        }
        // aborted by the operator (second Ctrl-C) while it rebooted or before its verification:
        // the reboot was sent (only `checking` may follow an aborted host in the journal, so
        // nothing is recorded before it)
        Some((Phase::Finished { .. }, Some(before))) => {
            since = Instant::now();
            interrupted(w, before, since, Interrupted::Abort)?;
            before.clone()
        }
        // `rebooted` or `checking`: the new boot was seen; verify (again)
        Some((_, Some(before))) => {
            since = Instant::now();
            before.clone()
        }
        Some((_, None)) => {
            return Err((
                Outcome::Failed,
                "the journal has no record of this host before its reboot".into(),
            ))
        }
    };
    // the host is back: what is left of its turn (verification, checks, rescans) gets a whole
    // `--host-timeout` of its own; the reboot's wait had `--reboot-timeout`
    w.started = Instant::now();
    retake_lease(w);
    if w.env.abort.load(Ordering::SeqCst) {
        return Err((
            Outcome::Aborted,
            "aborted by the operator before the verification".into(),
        ));
    }
    // verified before `checking` is journaled: a resume from `rebooted` verifies again
    verify(w, &before, since)?;
    let session = w.open().map_err(|e| (Outcome::Unreachable, e))?;
    checks(w, session, Default::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_that_booted_an_older_kernel_than_its_audit_expected_fails_without_a_rescan() {
        // the kernel was checked only in the rescan; with `verify: {rescan:
        // false}` a host that booted its old kernel passed with a note
        let e = booted_kernel("6.1.0-17-amd64", Some("6.1.0-18-amd64")).unwrap_err();
        assert!(e.contains("older than the newest installed"), "{e}");
        assert_eq!(
            booted_kernel("6.1.0-18-amd64", Some("6.1.0-18-amd64")),
            Ok(None)
        );
        // dpkg's order, not the strings': 10 is after 9
        assert!(booted_kernel("6.1.0-9-amd64", Some("6.1.0-10-amd64")).is_err());
        let n = booted_kernel("6.1.0-19-amd64", Some("6.1.0-18-amd64")).unwrap();
        assert!(n.unwrap().contains("installed since"));
        assert_eq!(booted_kernel("6.1.0-17-amd64", None), Ok(None));
    }

    #[test]
    fn boot_ids_are_uuids_only() {
        assert!(is_uuid("28bb4ab7-8cbb-4713-b854-2428ddf1eefe"));
        for bad in [
            "",
            "28bb4ab7-8cbb-4713-b854-2428ddf1eefeX",
            "28BB4AB7-8cbb-4713-b854-2428ddf1eefe",
            "Could not chdir to home directory /x",
            "28bb4ab7x8cbb-4713-b854-2428ddf1eefe",
        ] {
            assert!(!is_uuid(bad), "{bad}");
        }
    }

    #[test]
    fn state_keeps_enabled_active_units_only() {
        let out = "boot_id 28bb4ab7-8cbb-4713-b854-2428ddf1eefe\nkernel 6.1.0-28-amd64\nstate running\n\
            enabled ssh.service\nenabled cron.service\nenabled fstrim.timer\nenabled bad;unit.service\n\
            active ssh.service\nactive cron.service\nactive dbus.service\nactive user@0.service\n\
            active bad;unit.service\nactive -.mount\n";
        let st = parse_state(out).unwrap();
        assert_eq!(st.boot_id, "28bb4ab7-8cbb-4713-b854-2428ddf1eefe");
        assert_eq!(st.kernel, "6.1.0-28-amd64");
        assert_eq!(st.system, "running");
        assert_eq!(
            st.active.into_iter().collect::<Vec<_>>(),
            ["cron.service", "ssh.service"]
        );
        assert!(st.running.contains("dbus.service") && st.running.contains("user@0.service"));
        // noise instead of a boot id (ansible#83018) is an error, never a new boot
        let e = parse_state("boot_id Could not chdir\nstate running\n").unwrap_err();
        assert!(e.contains("not a UUID"), "{e}");
        assert!(parse_state("state running\n").is_err());
    }

    #[test]
    fn a_pending_reboot_is_told_from_one_that_never_happened() {
        assert!(reboot_pending(
            "1234 reboot.target start waiting\n1240 systemd-reboot.service start waiting\nrunning\n"
        ));
        assert!(reboot_pending("stopping\n"));
        assert!(!reboot_pending("running\n"));
        assert!(!reboot_pending(
            "17 apt-daily.service start running\ndegraded\n"
        ));
        assert!(!reboot_pending(""));
    }

    #[test]
    fn a_unit_that_ran_before_the_reboot_and_failed_after_fails_the_host() {
        // an instance enabled through its template is not in `enabled`
        let before_out =
            "boot_id 28bb4ab7-8cbb-4713-b854-2428ddf1eefe\nkernel 6.1\nstate running\n\
            enabled ssh.service\nactive ssh.service\nactive postgresql@15-main.service\n\
            failed apt-daily.service\n";
        let st = parse_state(before_out).unwrap();
        let before = RebootBefore {
            boot_id: st.boot_id.clone(),
            kernel: st.kernel.clone(),
            active: st.active.iter().cloned().collect(),
            was_active: st.running.iter().cloned().collect(),
        };
        assert_eq!(before.active, ["ssh.service"]);
        let after = parse_state(
            "boot_id 38bb4ab7-8cbb-4713-b854-2428ddf1eefe\nkernel 6.1\nstate degraded\n\
             enabled ssh.service\nactive ssh.service\nfailed postgresql@15-main.service\n\
             failed apt-daily.service\nfailed fstrim.service\n",
        )
        .unwrap();
        // failed before, or not running before: not the reboot's doing
        assert_eq!(
            broken_by_reboot(&before, &after),
            ["postgresql@15-main.service"]
        );
    }
}
