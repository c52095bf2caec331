//! The `restart` command: campaign settings → host settings → audit (or a saved one) → plan of
//! service restarts → [`super::campaign::launch`].

use super::campaign::{self, audit_reports, audited, hook_hosts, launch};
use super::{Hosts, Settings};
use crate::campaign::plan::{self, ServiceFilter};
use crate::campaign::spec::Spec;
use crate::cli::RestartArgs;
use crate::exit::{CmdError, Exit};
use crate::report::json::read_saved;

/// The campaign file with the command line's overrides.
fn spec(args: &RestartArgs) -> Result<Spec, String> {
    let mut spec = campaign::spec(&args.c)?;
    spec.daemon_reexec |= args.daemon_reexec;
    if args.no_rescan {
        spec.verify.rescan = false;
    }
    spec.validate()
        .map_err(|e| format!("campaign settings: {e}"))?;
    Ok(spec)
}

pub fn run(args: RestartArgs) -> Result<Exit, CmdError> {
    let spec = spec(&args)?;
    let s = Settings::resolve(&args.t, Hosts::Selected, hook_hosts(&spec))?;
    let saved = args.c.from_audit.as_deref().map(read_saved).transpose()?;
    s.ready(true)?;
    let reports = audit_reports(&s, &args.c, saved);
    let filter = ServiceFilter {
        include: args.services.clone(),
        exclude: args.exclude_services.clone(),
    };
    let audited = audited(&s, &reports);
    let mut found = campaign::unknown_groups(&s, &spec);
    for (term, near) in plan::unmatched_service_terms(&filter, &audited) {
        found.push(format!(
            "--services/--exclude-services {term:?} matches no service that needs a restart on the audited hosts{}",
            campaign::close(&near)
        ));
    }
    campaign::typos(found, args.c.no_strict)?;
    let plan = plan::build(&audited, &spec, &filter)?;
    launch(&s, &args.t, &args.c, &spec, &plan, "restart")
}
