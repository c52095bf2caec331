//! Campaign output, one home for all of it: the `--plan` text, the live lines (with a progress
//! bar on a terminal, like the audit's), the end-of-campaign summary and JSON document, and the
//! exit code a campaign's end maps to. Rendering only; the engine emits [`Progress`] and returns a
//! [`CampaignResult`].

use super::engine::{CampaignResult, HostStatus};
use super::host::Progress;
use super::journal::Phase;
use super::plan::{Action, Plan, PlannedHost};
use super::scripts;
use super::spec::Spec;
use super::stop::StopReason;
use crate::exit::Exit;
use fleetrestart_scan::render::terminal_safe;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// The human `--plan` text: the settings, each batch with the commands each host will run,
/// then what the campaign leaves.
pub fn plan_text(plan: &Plan, spec: &Spec) -> String {
    let mut o = String::new();
    plan_settings(&mut o, plan, spec);
    plan_batches(&mut o, plan, spec);
    plan_left(&mut o, plan);
    o
}

/// The campaign's settings: strategy, window, budget, reboot settings, hooks.
fn plan_settings(o: &mut String, plan: &Plan, spec: &Spec) {
    use std::fmt::Write;
    let reboot = plan.hosts.iter().any(|h| h.reboot.is_some());
    let _ = writeln!(
        o,
        "Campaign plan: {} host(s) to {} in {} batch(es); strategy {}, window {}, max down {}",
        plan.hosts.len(),
        if reboot { "reboot" } else { "restart" },
        plan.batch_sizes.len(),
        spec.strategy.as_str(),
        spec.window
            .map(|w| w.to_string())
            .unwrap_or_else(|| "= batch size".into()),
        spec.max_down
            .map(|w| w.to_string())
            .unwrap_or_else(|| "unlimited".into()),
    );
    let b = &spec.budget;
    let _ = writeln!(
        o,
        "Failure budget ({}): max failures {}, max failure % {}, unreachable {}{}",
        b.per.as_str(),
        b.max_failures
            .map(|v| v.to_string())
            .unwrap_or_else(|| "none".into()),
        b.max_failure_percent
            .map(|v| v.to_string())
            .unwrap_or_else(|| "none".into()),
        b.unreachable.as_str(),
        b.max_unreachable
            .map(|v| format!(" (max {v})"))
            .unwrap_or_default(),
    );
    if reboot {
        let r = &spec.reboot;
        let _ = writeln!(
            o,
            "Reboot: timeout {}s, degraded {}, windows {} ({})",
            r.timeout,
            if r.allow_degraded { "allowed" } else { "fails" },
            if r.windows.is_empty() {
                "any time".to_string()
            } else {
                r.windows.join(", ")
            },
            r.timezone
        );
    }
    for (h, what) in [(&spec.drain, "drain"), (&spec.undrain, "undrain")] {
        if let Some(h) = h {
            let _ = writeln!(
                o,
                "{what}: {} on {}",
                h.command,
                h.on.as_deref().unwrap_or("this machine")
            );
        }
    }
}

/// Each batch, and on each host the commands it will run and the checks after them.
fn plan_batches(o: &mut String, plan: &Plan, spec: &Spec) {
    use std::fmt::Write;
    for (b, size) in plan.batch_sizes.iter().enumerate() {
        let hosts: Vec<&PlannedHost> = plan.hosts.iter().filter(|h| h.batch == b).collect();
        let canary = hosts.first().is_some_and(|h| h.canary);
        let _ = writeln!(
            o,
            "\nbatch {} ({size} host(s){})",
            b + 1,
            if canary {
                format!(", canary, then soak {}s", spec.soak)
            } else {
                String::new()
            }
        );
        for h in hosts {
            let _ = writeln!(o, "  {}", h.host);
            if let Some(reasons) = &h.reboot {
                let _ = writeln!(o, "    run  systemctl reboot  ({})", reasons.join("; "));
            }
            let actions: Vec<&Action> = h.actions.iter().collect();
            match scripts::steps(&actions) {
                Ok(steps) => steps.iter().for_each(|s| {
                    let _ = writeln!(o, "    run  {}", s.script);
                }),
                Err(e) => {
                    let _ = writeln!(o, "    REFUSED {e}");
                }
            }
            if h.reboot.is_some() {
                let _ = writeln!(o, "    then the boot id changes, the system is running again, the enabled units active before are active again");
                if spec.verify.rescan {
                    let _ = writeln!(o, "    then rescan: no reboot needed, nothing stale");
                }
            }
            for c in &h.checks {
                let only = c
                    .service
                    .as_ref()
                    .map(|s| format!(" [{s}]"))
                    .unwrap_or_default();
                let _ = writeln!(o, "    then {}{only}", c.check.describe());
            }
        }
    }
}

/// What the campaign leaves: untouched services, reboots it does not do, hosts it cannot take.
fn plan_left(o: &mut String, plan: &Plan) {
    use std::fmt::Write;
    if !plan.untouched.is_empty() {
        let _ = writeln!(o, "\nNot touched:");
        for u in &plan.untouched {
            let _ = writeln!(o, "  {}: {}: {}", u.host, u.what, u.reason);
        }
    }
    if !plan.reboot_needed.is_empty() {
        let _ = writeln!(
            o,
            "\nReboot needed (not done by this campaign): {}",
            plan.reboot_needed.join(" ")
        );
    }
    if !plan.not_audited.is_empty() {
        let _ = writeln!(o, "\nNot in the campaign (audit failed):");
        for u in &plan.not_audited {
            let _ = writeln!(o, "  {}: {}", u.host, u.reason);
        }
    }
    if !plan.clean.is_empty() {
        let _ = writeln!(o, "\nNothing to restart: {}", plan.clean.join(" "));
    }
}

/// The live lines of a running campaign on standard error, one per host phase and note, and on
/// a terminal a bar of finished hosts under them.
pub struct Live {
    quiet: bool,
    t0: Instant,
    bar: Option<ProgressBar>,
}

impl Live {
    /// `hosts` in the plan, `finished` of them already (resume); `bar`: standard error is a
    /// terminal.
    pub fn new(hosts: usize, finished: usize, quiet: bool, bar: bool) -> Live {
        let bar = (bar && !quiet).then(|| {
            let b = ProgressBar::with_draw_target(Some(hosts as u64), ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} hosts finished [{elapsed}]")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b.set_position(finished as u64);
            b
        });
        Live {
            quiet,
            t0: Instant::now(),
            bar,
        }
    }

    pub fn event(&self, p: Progress) {
        if self.quiet {
            return;
        }
        let t = self.t0.elapsed().as_secs_f64();
        let line = match p {
            Progress::Phase { host, phase } => {
                let extra = match &phase {
                    Phase::Finished {
                        outcome,
                        reason,
                        undrain_failed,
                        left_drained,
                        ..
                    } => {
                        if let Some(b) = &self.bar {
                            b.inc(1);
                        }
                        format!(
                            " {}{}{}",
                            HostStatus::from(*outcome).name(),
                            reason
                                .as_ref()
                                .map(|r| format!(": {r}"))
                                .unwrap_or_default(),
                            undrain_failed
                                .as_ref()
                                .map(|r| format!(" [{r}]"))
                                .unwrap_or_default()
                        ) + if left_drained.is_some() {
                            " [LEFT DRAINED]"
                        } else {
                            ""
                        }
                    }
                    _ => String::new(),
                };
                format!("[{t:7.1}s] {host}: {}{extra}", phase.name())
            }
            Progress::Note {
                host: None,
                message,
            } => format!("[{t:7.1}s] {message}"),
            Progress::Note {
                host: Some(host),
                message,
            } => format!("[{t:7.1}s] {host}: {message}"),
        };
        match &self.bar {
            // above the bar; control characters from hosts shown escaped
            Some(b) => b.println(terminal_safe(&line)),
            None => say!("{line}"),
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// The end of a campaign on standard output: the JSON document, or the summary text. An output
/// that went away (EPIPE) loses the summary, not the result.
pub fn print_end(result: &CampaignResult, plan: &Plan, journal: &Path, json: bool) {
    let mut out = std::io::stdout().lock();
    if json {
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "campaign": result.campaign,
                "journal": journal.display().to_string(),
                "hosts": result.hosts,
                "summary": result.counts,
                "stopped": result.stopped.as_ref().map(|s| s.describe()),
                "stop_reason": result.stopped.as_ref().map(|s| s.reason),
                "untouched": plan.untouched,
                "reboot_needed": plan.reboot_needed,
                "elapsed_ms": result.elapsed_ms,
                "timing": result.timing,
            }))
            .unwrap_or_default()
        );
    } else {
        let _ = write!(out, "{}", terminal_safe(&summary_text(result, journal)));
        // (a reboot campaign's own hosts are the ones it rebooted)
        if !plan.reboot_needed.is_empty() && !plan.hosts.iter().any(|h| h.reboot.is_some()) {
            let _ = writeln!(
                out,
                "Reboot needed (not done by this campaign): {}",
                plan.reboot_needed.join(" ")
            );
        }
    }
    let _ = out.flush();
}

/// The exit code of a campaign's end: its stop reason, else whether every host ended well.
pub fn exit_of(result: &CampaignResult) -> Exit {
    let c = &result.counts;
    match result.stopped.as_ref().map(|s| s.reason) {
        Some(StopReason::Paused | StopReason::Aborted) => Exit::Interrupted,
        Some(StopReason::Budget | StopReason::Canary) => Exit::BudgetSpent,
        Some(StopReason::JournalFailed) => Exit::JournalFailed,
        None if c.failed + c.unreachable + c.undrain_failed > 0 => Exit::HostsFailed,
        // a host that ended aborted without a stop (its reboot window closed during its drain)
        // has work left for `resume`
        None if c.aborted > 0 => Exit::Interrupted,
        None => Exit::Clean,
    }
}

/// The end-of-campaign text.
pub fn summary_text(r: &CampaignResult, journal: &std::path::Path) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    for h in &r.hosts {
        if h.status == HostStatus::Ok && h.undrain_failed.is_none() && h.notes.is_empty() {
            continue;
        }
        let _ = writeln!(
            o,
            "  {:<12} {}{}{}",
            h.status.name(),
            h.host,
            h.reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default(),
            h.undrain_failed
                .as_ref()
                .map(|r| format!(" [{r}]"))
                .unwrap_or_default()
        );
        if let Some(why) = &h.left_drained {
            let _ = writeln!(o, "  {:<12} left drained: {why}", "");
        }
        for n in &h.notes {
            let _ = writeln!(o, "  {:<12} {n}", "");
        }
    }
    let c = &r.counts;
    let _ = writeln!(
        o,
        "Campaign {}: {} host(s): {} ok, {} failed, {} unreachable, {}{} not started{}",
        r.campaign,
        c.hosts,
        c.ok,
        c.failed,
        c.unreachable,
        if c.aborted > 0 {
            format!("{} aborted (resume runs their checks), ", c.aborted)
        } else {
            String::new()
        },
        c.not_started,
        if c.undrain_failed > 0 {
            format!(
                ", {} UNDRAIN FAILED (still out of rotation?)",
                c.undrain_failed
            )
        } else {
            String::new()
        } + &if c.left_drained > 0 {
            format!(", {} LEFT DRAINED", c.left_drained)
        } else {
            String::new()
        }
    );
    if let Some(s) = &r.stopped {
        let _ = writeln!(o, "Stopped: {}", s.describe());
    }
    if c.not_started > 0 || c.aborted > 0 || r.stopped.is_some() {
        let _ = writeln!(
            o,
            "Journal: {} (continue with `fleetrestart resume {}`)",
            journal.display(),
            journal.display()
        );
    } else {
        let _ = writeln!(o, "Journal: {}", journal.display());
    }
    o
}
