//! The `restart` and `resume` commands: command line → audit (or a saved one) → plan → journal
//! → campaign engine → summary and exit code. Glue only; the logic lives in [`crate::campaign`].

use crate::campaign::engine::{self, CampaignResult};
use crate::campaign::host::{Env, Progress};
use crate::campaign::journal::{self, Header, Phase, Replayed, Writer};
use crate::campaign::plan::{self, Audited, Plan, ServiceFilter};
use crate::campaign::schedule::Stop;
use crate::campaign::spec::{Budget, BudgetScope, Canary, Ramp, Spec, UnreachablePolicy};
use crate::cli::{RestartArgs, ResumeArgs, TargetArgs};
use crate::targets::Target;
use crate::{audit, exit, reporter, scanners, secret, select};
use fleetrestart_scan::render::terminal_safe;
use fleetrestart_scan::report::{Report, SCHEMA_VERSION};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The campaign file with the command line's overrides.
fn spec(args: &RestartArgs) -> Result<Spec, String> {
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
    override_budget(
        &mut spec.budget,
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
    spec.daemon_reexec |= args.daemon_reexec;
    if args.no_rescan {
        spec.verify.rescan = false;
    }
    spec.validate()
        .map_err(|e| format!("campaign settings: {e}"))?;
    Ok(spec)
}

/// Targets for `hosts`, and for the hosts hooks run on, built in one go (so that a become
/// password is asked once).
fn targets_and_hooks(
    t: &TargetArgs,
    inv: &crate::inventory::Inventory,
    mut names: Vec<String>,
    spec: &Spec,
) -> Result<(Vec<Target>, BTreeMap<String, Target>), String> {
    let n = names.len();
    names.extend(hook_hosts(spec));
    let mut targets = select::build_targets(t, inv, &names)?;
    let hooks = targets.split_off(n);
    Ok((
        targets,
        hooks.into_iter().map(|t| (t.name.clone(), t)).collect(),
    ))
}

fn hook_hosts(spec: &Spec) -> Vec<String> {
    let mut v: Vec<String> = [&spec.drain, &spec.undrain]
        .into_iter()
        .flatten()
        .filter_map(|h| h.on.clone())
        .collect();
    v.dedup();
    v
}

/// Reports from a saved `audit --json` document, by host.
fn saved_audit(path: &Path) -> Result<BTreeMap<String, Result<Report, String>>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    let hosts = doc["hosts"].as_array().ok_or_else(|| {
        format!(
            "{}: not an `audit --json` document (no hosts list)",
            path.display()
        )
    })?;
    let mut out = BTreeMap::new();
    for (i, h) in hosts.iter().enumerate() {
        let name = h["host"]
            .as_str()
            .ok_or_else(|| format!("{}: hosts[{i}] has no host name", path.display()))?;
        let r = if h["status"] == "ok" {
            if h["report"]["schema_version"].as_u64() != Some(u64::from(SCHEMA_VERSION)) {
                return Err(format!(
                    "{}: hosts[{i}] ({name}): report schema version is not {SCHEMA_VERSION}",
                    path.display()
                ));
            }
            Ok(serde_json::from_value::<Report>(h["report"].clone())
                .map_err(|e| format!("{}: hosts[{i}] ({name}): {e}", path.display()))?)
        } else {
            Err(format!(
                "audit {}: {}",
                h["status"].as_str().unwrap_or("failed"),
                h["error"].as_str().unwrap_or("")
            ))
        };
        out.insert(name.to_string(), r);
    }
    Ok(out)
}

pub fn restart(args: RestartArgs) -> i32 {
    let spec = match spec(&args) {
        Ok(s) => s,
        Err(e) => return exit::input_error(e),
    };
    let rules = match select::read_rules(&args.t) {
        Ok(r) => r,
        Err(e) => return exit::input_error(e),
    };
    let inv = match select::inventory_of(&args.t) {
        Ok(i) => i,
        Err(e) => return exit::input_error(e),
    };
    let (hosts, hooks) = match select::selected(&args.t, &inv)
        .and_then(|h| targets_and_hooks(&args.t, &inv, h, &spec))
    {
        Ok(x) => x,
        Err(e) => return exit::input_error(e),
    };
    let saved = match args.from_audit.as_deref().map(saved_audit).transpose() {
        Ok(s) => s,
        Err(e) => return exit::input_error(e),
    };
    let scanners = scanners::ScannerSet::find(args.t.scanner_dir.as_deref());
    if let Err(e) = select::check_scanners(&scanners, &hosts, &args.t) {
        say!("fleetrestart: {e}");
        return exit::INTERNAL;
    }
    crate::executor::raise_fd_limit();
    let interactive = std::io::stderr().is_terminal();
    let ctx = select::audit_context(&args.t, &scanners, rules, false, interactive);
    // the audit: fresh, or the saved one
    let reports: BTreeMap<String, Result<Report, String>> = match saved {
        Some(mut s) => hosts
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    s.remove(&t.name)
                        .unwrap_or_else(|| Err("not in the saved audit".into())),
                )
            })
            .collect(),
        None => {
            let progress = interactive && !args.quiet && hosts.len() > 1;
            let rep = reporter::Reporter::new(hosts.len(), false, progress);
            let results = audit::audit(&hosts, &ctx, &|e| rep.event(e));
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
    };
    let audited: Vec<Audited> = hosts
        .iter()
        .map(|t| Audited {
            host: &t.name,
            groups: inv.groups_of(&t.name).into_iter().collect(),
            report: reports[&t.name].as_ref().map_err(|e| e.clone()),
        })
        .collect();
    let filter = ServiceFilter {
        include: args.services.clone(),
        exclude: args.exclude_services.clone(),
    };
    let plan = match plan::build(&audited, &spec, &filter) {
        Ok(p) => p,
        Err(e) => return exit::input_error(e),
    };
    if args.plan {
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({"spec": spec, "plan": plan}))
                    .unwrap_or_default()
            );
        } else {
            print!("{}", terminal_safe(&plan.render(&spec)));
        }
        return exit::CLEAN;
    }
    if plan.hosts.is_empty() {
        print!("{}", terminal_safe(&plan.render(&spec)));
        println!("Nothing to restart.");
        return if plan.not_audited.is_empty() {
            exit::CLEAN
        } else {
            exit::HOSTS_FAILED
        };
    }
    let campaign = secret::random_hex()[..12].to_string();
    let journal_path = args
        .journal
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("fleetrestart-campaign-{campaign}.journal")));
    let header = Header {
        version: journal::JOURNAL_VERSION,
        campaign: campaign.clone(),
        started_unix_ms: journal::unix_ms(),
        cwd: std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
        args: serde_json::to_value(&args.t).unwrap_or_default(),
        spec: spec.clone(),
        plan: plan.clone(),
    };
    let writer = match Writer::create(&journal_path, &header) {
        Ok(w) => w,
        Err(e) => return exit::input_error(e),
    };
    if !args.quiet {
        say!(
            "Campaign {campaign}: {} host(s) in {} batch(es); journal {}",
            plan.hosts.len(),
            plan.batch_sizes.len(),
            journal_path.display()
        );
    }
    let targets: BTreeMap<String, Target> =
        hosts.into_iter().map(|t| (t.name.clone(), t)).collect();
    run_campaign(
        &plan,
        &spec,
        &targets,
        &hooks,
        &ctx,
        writer,
        &campaign,
        None,
        &journal_path,
        args.json,
        args.quiet,
    )
}

/// Command-line budget flags over a campaign's budget; whether they changed anything. Either
/// failure limit given replaces both (a count and a percentage are one budget).
fn override_budget(
    budget: &mut Budget,
    max_failures: Option<usize>,
    max_failure_percent: Option<f64>,
    max_unreachable: Option<usize>,
) -> bool {
    let before = budget.clone();
    if max_failures.is_some() || max_failure_percent.is_some() {
        budget.max_failures = max_failures;
        budget.max_failure_percent = max_failure_percent;
    }
    budget.max_unreachable = max_unreachable.or(budget.max_unreachable);
    *budget != before
}

pub fn resume(args: ResumeArgs) -> i32 {
    // locked before it is read: no other controller appends between the read and the repair
    let (locked, text) = match journal::Locked::open(&args.journal) {
        Ok(x) => x,
        Err(e) => return exit::input_error(e),
    };
    let replayed = match journal::replay(&args.journal.display().to_string(), &text) {
        Ok(r) => r,
        Err(e) => return exit::input_error(format!("{e}; nothing was restarted")),
    };
    for w in &replayed.warnings {
        say!("[WARNING]: {w}");
    }
    let journal_path = std::fs::canonicalize(&args.journal).unwrap_or(args.journal.clone());
    let h = &replayed.header;
    let mut t: TargetArgs = match serde_json::from_value(h.args.clone()) {
        Ok(t) => t,
        Err(e) => {
            return exit::input_error(format!(
                "journal {}: unreadable connection settings: {e}",
                args.journal.display()
            ))
        }
    };
    t.ask_become_pass = args.ask_become_pass;
    if args.become_password_file.is_some() {
        t.become_password_file = args.become_password_file.clone();
    }
    if let Err(e) = std::env::set_current_dir(&h.cwd) {
        return exit::input_error(format!("the campaign ran in {}, which is gone: {e}", h.cwd));
    }
    let rules = match select::read_rules(&t) {
        Ok(r) => r,
        Err(e) => return exit::input_error(e),
    };
    // the plan's hosts, whatever the pattern selects today
    let plan_hosts: Vec<String> = h.plan.hosts.iter().map(|p| p.host.clone()).collect();
    let (list, hooks) = match select::inventory_of(&t)
        .and_then(|inv| targets_and_hooks(&t, &inv, plan_hosts, &h.spec))
    {
        Ok(x) => x,
        Err(e) => return exit::input_error(e),
    };
    let scanners = scanners::ScannerSet::find(t.scanner_dir.as_deref());
    if let Err(e) = select::check_scanners(&scanners, &list, &t) {
        say!("fleetrestart: {e}");
        return exit::INTERNAL;
    }
    // the budget: the header's, or the last resume's, or the one given now (journaled)
    let mut spec = h.spec.clone();
    if let Some(b) = &replayed.budget {
        spec.budget = b.clone();
    }
    let new_budget = override_budget(
        &mut spec.budget,
        args.max_failures,
        args.max_failure_percent,
        args.max_unreachable,
    )
    .then(|| spec.budget.clone());
    if let Err(e) = spec.validate() {
        return exit::input_error(format!("resume: {e}"));
    }
    let writer = match locked.resume(&replayed, new_budget) {
        Ok(w) => w,
        Err(e) => return exit::input_error(e),
    };
    let interactive = std::io::stderr().is_terminal();
    let ctx = select::audit_context(&t, &scanners, rules, false, interactive);
    if !args.quiet {
        let done = replayed.hosts.values().filter(|p| !p.resumable()).count();
        let mid = replayed.hosts.len() - done;
        say!(
            "Resuming campaign {} (run {}{}): {done} host(s) finished, {mid} interrupted mid-way, {} not started",
            h.campaign,
            replayed.runs + 1,
            if replayed.ended { ", it had ended" } else { "" },
            h.plan.hosts.len() - replayed.hosts.len()
        );
    }
    let targets: BTreeMap<String, Target> = list.into_iter().map(|t| (t.name.clone(), t)).collect();
    run_campaign(
        &h.plan,
        &spec,
        &targets,
        &hooks,
        &ctx,
        writer,
        &h.campaign,
        Some(&replayed),
        &journal_path,
        args.json,
        args.quiet,
    )
}

#[allow(clippy::too_many_arguments)]
fn run_campaign(
    plan: &Plan,
    spec: &Spec,
    targets: &BTreeMap<String, Target>,
    hooks: &BTreeMap<String, Target>,
    ctx: &audit::AuditContext,
    writer: Writer,
    campaign: &str,
    replayed: Option<&Replayed>,
    journal_path: &Path,
    json: bool,
    quiet: bool,
) -> i32 {
    engine::catch_interrupts();
    let journal = Mutex::new(writer);
    let abort = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let emit = move |p: Progress| {
        if quiet {
            return;
        }
        let t = t0.elapsed().as_secs_f64();
        match p {
            Progress::Phase { host, phase } => {
                let extra = match &phase {
                    Phase::Finished {
                        outcome,
                        reason,
                        undrain_failed,
                    } => format!(
                        " {}{}{}",
                        engine::status(*outcome),
                        reason
                            .as_ref()
                            .map(|r| format!(": {r}"))
                            .unwrap_or_default(),
                        undrain_failed
                            .as_ref()
                            .map(|r| format!(" [{r}]"))
                            .unwrap_or_default()
                    ),
                    _ => String::new(),
                };
                progress_line(format_args!("[{t:7.1}s] {host}: {}{extra}", phase.name()));
            }
            Progress::Note { host, message } if host.is_empty() => {
                progress_line(format_args!("[{t:7.1}s] {message}"))
            }
            Progress::Note { host, message } => {
                progress_line(format_args!("[{t:7.1}s] {host}: {message}"))
            }
        }
    };
    let env = Env {
        audit: ctx,
        spec,
        hook_targets: hooks,
        journal: &journal,
        abort: &abort,
        emit: &emit,
    };
    let result: CampaignResult = engine::run(plan, targets, &env, campaign, replayed);
    // the campaign has run: an output that went away (EPIPE) loses the summary, not the result
    let mut out = std::io::stdout().lock();
    if json {
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "campaign": result.campaign,
                "journal": journal_path.display().to_string(),
                "hosts": result.hosts,
                "summary": result.counts,
                "stopped": result.stopped.as_ref().map(engine::describe),
                "untouched": plan.untouched,
                "reboot_needed": plan.reboot_needed,
                "elapsed_ms": result.elapsed_ms,
                "timing": result.timing,
            }))
            .unwrap_or_default()
        );
    } else {
        let _ = write!(
            out,
            "{}",
            terminal_safe(&engine::summary(&result, journal_path))
        );
        if !plan.reboot_needed.is_empty() {
            let _ = writeln!(
                out,
                "Reboot needed (not done by this campaign): {}",
                plan.reboot_needed.join(" ")
            );
        }
    }
    let _ = out.flush();
    drop(out);
    let c = &result.counts;
    match &result.stopped {
        Some(Stop::Operator(_)) => exit::INTERRUPTED,
        Some(Stop::Budget(_)) | Some(Stop::Canary(_)) => exit::BUDGET_SPENT,
        None if c.failed + c.unreachable + c.undrain_failed > 0 => exit::HOSTS_FAILED,
        None => exit::CLEAN,
    }
}

/// One live progress line on stderr (from the hosts' worker threads, see `say!`).
fn progress_line(line: std::fmt::Arguments) {
    say!("{line}");
}
