//! What restart and reboot campaigns share between the command line and the engine: the
//! campaign file with the command line's overrides, the audit (fresh or saved), `--plan`, the
//! journal's creation ([`launch`]) and [`run_campaign`] (also `resume`'s): the engine, its live
//! output and its end.

use super::Settings;
use crate::campaign::engine;
use crate::campaign::host::Env;
use crate::campaign::journal::{self, Header, Replayed, Writer};
use crate::campaign::output::{self, Live};
use crate::campaign::plan::{Audited, Plan};
use crate::campaign::spec::{BudgetScope, Canary, Ramp, Spec, UnreachablePolicy};
use crate::cli::{CampaignArgs, TargetArgs};
use crate::exit::{CmdError, Exit};
use crate::reach::targets::Target;
use crate::report::live;
use crate::{audit, secret};
use fleetrestart_scan::render::terminal_safe;
use fleetrestart_scan::report::Report;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// The campaign file with the command line's overrides shared by restart and reboot (the
/// caller applies its own, then validates).
pub(super) fn spec(args: &CampaignArgs) -> Result<Spec, String> {
    let mut spec = match &args.campaign {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read campaign file {}: {e}", p.display()))?;
            Spec::parse(&p.display().to_string(), &text).map_err(|e| e.to_string())?
        }
        None => Spec::default(),
    };
    if let Some(b) = &args.batch {
        spec.batch = Ramp::parse(b).map_err(|e| format!("--batch: {e}"))?;
    }
    if let Some(s) = args.strategy {
        spec.strategy = s;
    }
    spec.window = args.window.or(spec.window);
    spec.max_down = args.max_down.or(spec.max_down);
    if let Some(n) = args.canary {
        spec.canary = Some(Canary::Count(n));
    }
    spec.soak = args.soak.unwrap_or(spec.soak);
    spec.pause = args.pause.unwrap_or(spec.pause);
    spec.budget.override_with(
        args.max_failures,
        args.max_failure_percent,
        args.max_unreachable,
    );
    if args.budget_per_batch {
        spec.budget.per = BudgetScope::Batch;
    }
    if args.unreachable_as_failure {
        spec.budget.unreachable = UnreachablePolicy::Failure;
    }
    Ok(spec)
}

/// What the operator named that matches nothing (a typo, most often): errors, or warnings
/// with `--no-strict`. Each says where it was named and what was close.
pub(super) fn typos(found: Vec<String>, no_strict: bool) -> Result<(), String> {
    if found.is_empty() {
        return Ok(());
    }
    if no_strict {
        for f in &found {
            say!("[WARNING]: {f}");
        }
        return Ok(());
    }
    Err(format!(
        "{} (--no-strict makes this a warning)",
        found.join("; ")
    ))
}

/// The closest names, for a message: ` (close: a, b)`, or nothing.
pub(super) fn close(names: &[String]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        format!(" (close: {})", names.join(", "))
    }
}

/// `group_order`/`group_caps` groups the inventory does not have.
pub(super) fn unknown_groups(s: &Settings, spec: &Spec) -> Vec<String> {
    let groups = || s.inventory.groups.keys().map(String::as_str);
    spec.group_order
        .iter()
        .chain(spec.group_caps.keys())
        .filter(|g| !s.inventory.groups.contains_key(*g))
        .map(|g| {
            let near: Vec<String> = crate::campaign::plan::close_matches(g, groups())
                .into_iter()
                .map(String::from)
                .collect();
            format!(
                "group_order/group_caps: {g:?} is not a group of the inventory{}",
                close(&near)
            )
        })
        .collect()
}

pub(super) fn hook_hosts(spec: &Spec) -> Vec<String> {
    let mut v: Vec<String> = [&spec.drain, &spec.undrain]
        .into_iter()
        .flatten()
        .filter_map(|h| h.on.clone())
        .collect();
    v.dedup();
    v
}

/// Every selected host's audit report (or why there is none): a fresh audit, or the saved one.
pub(super) fn audit_reports(
    s: &Settings,
    args: &CampaignArgs,
    saved: Option<BTreeMap<String, Result<Report, String>>>,
) -> BTreeMap<String, Result<Report, String>> {
    let ctx = &s.audit;
    match saved {
        Some(mut saved) => s
            .hosts
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    saved
                        .remove(&t.name)
                        .unwrap_or_else(|| Err("not in the saved audit".into())),
                )
            })
            .collect(),
        None => {
            let progress = s.interactive && !args.quiet && s.hosts.len() > 1;
            let rep = live::Reporter::new(s.hosts.len(), false, progress);
            let results = audit::audit(&s.hosts, ctx, &|e| rep.event(e));
            rep.finish();
            results
                .into_iter()
                .map(|r| {
                    (
                        r.host.clone(),
                        r.outcome
                            .map(|s| s.report)
                            .map_err(|e| format!("audit: {e}")),
                    )
                })
                .collect()
        }
    }
}

/// The planner's view of the audit, in inventory order.
pub(super) fn audited<'a>(
    s: &'a Settings,
    reports: &'a BTreeMap<String, Result<Report, String>>,
) -> Vec<Audited<'a>> {
    s.hosts
        .iter()
        .map(|t| Audited {
            host: &t.name,
            groups: s.inventory.groups_of(&t.name).into_iter().collect(),
            report: reports[&t.name].as_ref().map_err(|e| e.clone()),
        })
        .collect()
}

/// `--plan` (print, change nothing), an empty plan, or a new journal and the campaign run.
/// `what` names the work in messages ("restart", "reboot").
pub(super) fn launch(
    s: &Settings,
    t: &TargetArgs,
    args: &CampaignArgs,
    spec: &Spec,
    plan: &Plan,
    what: &str,
) -> Result<Exit, CmdError> {
    if args.plan {
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({"spec": spec, "plan": plan}))
                    .unwrap_or_default()
            );
        } else {
            print!("{}", terminal_safe(&output::plan_text(plan, spec)));
        }
        return Ok(Exit::Clean);
    }
    if plan.hosts.is_empty() {
        print!("{}", terminal_safe(&output::plan_text(plan, spec)));
        println!("Nothing to {what}.");
        return Ok(if plan.not_audited.is_empty() {
            Exit::Clean
        } else {
            Exit::HostsFailed
        });
    }
    let id = secret::random_hex()[..12].to_string();
    let journal_path = args
        .journal
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("fleetrestart-campaign-{id}.journal")));
    let header = Header {
        version: journal::JOURNAL_VERSION,
        campaign: id.clone(),
        started_unix_ms: journal::unix_ms(),
        cwd: std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
        args: serde_json::to_value(t).unwrap_or_default(),
        spec: spec.clone(),
        plan: plan.clone(),
    };
    let writer = Writer::create(&journal_path, &header)?;
    if !args.quiet {
        say!(
            "Campaign {id}: {} host(s) to {what} in {} batch(es); journal {}",
            plan.hosts.len(),
            plan.batch_sizes.len(),
            journal_path.display()
        );
    }
    let campaign = Campaign {
        id: &id,
        plan,
        spec,
        journal_path: &journal_path,
        replayed: None,
        json: args.json,
        quiet: args.quiet,
    };
    Ok(run_campaign(&campaign, s, writer))
}

/// A campaign ready to run: what `restart` built, or what `resume` read back from the journal.
pub(super) struct Campaign<'a> {
    pub id: &'a str,
    pub plan: &'a Plan,
    pub spec: &'a Spec,
    pub journal_path: &'a Path,
    pub replayed: Option<&'a Replayed>,
    /// `--json`: the end as a JSON document on standard output.
    pub json: bool,
    /// `--quiet`: no live lines.
    pub quiet: bool,
}

/// This controller as a host lease names it: `hostname:pid` (characters a lease accepts).
fn controller_name() -> String {
    let host: String = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
        .take(64)
        .collect();
    let host = if host.is_empty() {
        "controller".into()
    } else {
        host
    };
    format!("{host}:{}", std::process::id())
}

/// Runs a campaign to its end (or its stop) and prints that end; its exit.
pub(super) fn run_campaign(c: &Campaign, s: &Settings, writer: Writer) -> Exit {
    engine::catch_interrupts();
    let journal = match crate::campaign::commit::Journal::new(writer) {
        Ok(j) => j,
        Err(e) => {
            say!("fleetrestart: {e}");
            return Exit::JournalFailed;
        }
    };
    let abort = Arc::new(AtomicBool::new(false));
    let finished = c
        .replayed
        .map(|r| r.hosts.values().filter(|p| !p.resumable()).count())
        .unwrap_or(0);
    let live = Live::new(c.plan.hosts.len(), finished, c.quiet, s.interactive);
    let emit = |p| live.event(p);
    let ctx = &s.audit;
    let controller = controller_name();
    let env = Env {
        campaign: c.id,
        controller: &controller,
        audit: ctx,
        spec: c.spec,
        hook_targets: &s.hooks,
        journal: &journal,
        abort: &abort,
        emit: &emit,
    };
    let targets: BTreeMap<String, Target> = s
        .hosts
        .iter()
        .map(|t| (t.name.clone(), t.clone()))
        .collect();
    let result = engine::run(c.plan, &targets, &env, c.id, c.replayed);
    live.finish();
    output::print_end(&result, c.plan, c.journal_path, c.json);
    output::exit_of(&result)
}
