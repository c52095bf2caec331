//! The `resume` command: the journal (locked, then read) → the campaign's own settings and plan
//! → the budget (as journaled, or as given now) → the rest of the campaign
//! ([`super::campaign::run_campaign`]).

use super::campaign::{hook_hosts, run_campaign, Campaign};
use super::{Hosts, Settings};
use crate::campaign::journal;
use crate::cli::{ResumeArgs, TargetArgs};
use crate::exit::{CmdError, Exit};

pub fn run(args: ResumeArgs) -> Result<Exit, CmdError> {
    // locked before it is read: no other controller appends between the read and the repair
    let (locked, text) = journal::Locked::open(&args.journal)?;
    let replayed = journal::replay(&args.journal.display().to_string(), &text)
        .map_err(|e| format!("{e}; nothing was restarted"))?;
    for w in &replayed.warnings {
        say!("[WARNING]: {w}");
    }
    let journal_path = std::fs::canonicalize(&args.journal).unwrap_or(args.journal.clone());
    let h = &replayed.header;
    let mut t: TargetArgs = serde_json::from_value(h.args.clone()).map_err(|e| {
        format!(
            "journal {}: unreadable connection settings: {e}",
            args.journal.display()
        )
    })?;
    t.ask_become_pass = args.ask_become_pass;
    t.ask_vault_pass = args.ask_vault_pass;
    if args.become_password_file.is_some() {
        t.become_password_file = args.become_password_file.clone();
    }
    std::env::set_current_dir(&h.cwd)
        .map_err(|e| format!("the campaign ran in {}, which is gone: {e}", h.cwd))?;
    // the plan's hosts, whatever the pattern selects today
    let plan_hosts: Vec<String> = h.plan.hosts.iter().map(|p| p.host.clone()).collect();
    let s = Settings::resolve(&t, Hosts::Named(plan_hosts), hook_hosts(&h.spec))?;
    s.ready(true)?;
    // the budget: the header's, or the last resume's, or the one given now (journaled)
    let mut spec = h.spec.clone();
    if let Some(b) = &replayed.budget {
        spec.budget = b.clone();
    }
    let new_budget = spec
        .budget
        .override_with(
            args.max_failures,
            args.max_failure_percent,
            args.max_unreachable,
        )
        .then(|| spec.budget.clone());
    spec.validate().map_err(|e| format!("resume: {e}"))?;
    let writer = locked.resume(&replayed, new_budget)?;
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
    let campaign = Campaign {
        id: &h.campaign,
        plan: &h.plan,
        spec: &spec,
        journal_path: &journal_path,
        replayed: Some(&replayed),
        json: args.json,
        quiet: args.quiet,
    };
    Ok(run_campaign(&campaign, &s, writer))
}
