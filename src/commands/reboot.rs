//! The `reboot` command: campaign settings (with the `reboot:` section and its flags) → host
//! settings → audit (or a saved one) → plan of reboots (hosts whose audit says a reboot is
//! needed; never a host whose need is unknown) → [`super::campaign::launch`].

use super::campaign::{self, audit_reports, audited, hook_hosts, launch};
use super::{Hosts, Settings};
use crate::campaign::plan;
use crate::campaign::spec::Spec;
use crate::cli::RebootArgs;
use crate::exit::{CmdError, Exit};
use crate::reach::targets::Connection;
use crate::report::json::read_saved;
use std::collections::BTreeMap;

/// The campaign file with the command line's overrides.
fn spec(args: &RebootArgs) -> Result<Spec, String> {
    let mut spec = campaign::spec(&args.c)?;
    let r = &mut spec.reboot;
    r.all |= args.all;
    r.allow_degraded |= args.allow_degraded;
    if let Some(t) = args.reboot_timeout {
        r.timeout = t;
    }
    if !args.reboot_windows.is_empty() {
        r.windows = args.reboot_windows.clone();
    }
    if let Some(z) = &args.timezone {
        r.timezone = z.clone();
    }
    r.timezone = crate::campaign::clock::resolve_local(&r.timezone)?;
    spec.validate()
        .map_err(|e| format!("campaign settings: {e}"))?;
    Ok(spec)
}

/// Hosts of the campaign that others depend on while they reboot, with why: jump hosts of
/// other selected hosts or of the hosts hooks run on, and the hook hosts themselves. They are
/// rebooted last. A hop is recognised by its address and port, by the host's inventory name,
/// or by an address both resolve to (`ansible_host: 10.0.0.5` against
/// `ProxyJump bastion.example.com` failed open).
fn infrastructure(s: &Settings, spec: &Spec) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut resolved = Resolved::default();
    let others: Vec<&crate::reach::targets::Target> =
        s.hosts.iter().chain(s.hooks.values()).collect();
    for t in &s.hosts {
        let Connection::Ssh(me) = &t.connection else {
            continue;
        };
        let behind = others
            .iter()
            .filter(|o| o.name != t.name)
            .filter(|o| match &o.connection {
                Connection::Ssh(o) => o.jumps.iter().any(|j| {
                    j.port == me.hop.port
                        && (j.address == me.hop.address
                            || j.address == t.name
                            || resolved.same(&j.address, &me.hop.address))
                }),
                Connection::Local => false,
            })
            .count();
        if behind > 0 {
            out.insert(
                t.name.clone(),
                format!("jump host of {behind} other host(s)"),
            );
        }
    }
    for (h, what) in [(&spec.drain, "drain"), (&spec.undrain, "undrain")] {
        if let Some(on) = h.as_ref().and_then(|h| h.on.as_ref()) {
            if s.hosts.iter().any(|t| &t.name == on) {
                out.entry(on.clone())
                    .or_insert_with(|| format!("the {what} hook runs on it"));
            }
        }
    }
    out
}

/// Names resolved once each through the system's resolver (a name that does not resolve
/// matches nothing by address).
#[derive(Default)]
struct Resolved(BTreeMap<String, Vec<std::net::IpAddr>>);

impl Resolved {
    fn of(&mut self, name: &str) -> &[std::net::IpAddr] {
        self.0.entry(name.to_string()).or_insert_with(|| {
            use std::net::ToSocketAddrs;
            (name, 22)
                .to_socket_addrs()
                .map(|a| a.map(|a| a.ip()).collect())
                .unwrap_or_default()
        })
    }

    fn same(&mut self, a: &str, b: &str) -> bool {
        let x = self.of(a).to_vec();
        !x.is_empty() && self.of(b).iter().any(|ip| x.contains(ip))
    }
}

pub fn run(args: RebootArgs) -> Result<Exit, CmdError> {
    let spec = spec(&args)?;
    let s = Settings::resolve(&args.t, Hosts::Selected, hook_hosts(&spec))?;
    // the controller cannot wait for its own machine to come back
    if let Some(t) = s
        .hosts
        .iter()
        .find(|t| matches!(t.connection, Connection::Local))
    {
        return Err(CmdError::Input(format!(
            "{} is this machine (local connection): a reboot campaign cannot reboot the machine it runs on; run it from another one",
            t.name
        )));
    }
    let saved = args.c.from_audit.as_deref().map(read_saved).transpose()?;
    s.ready(true)?;
    let reports = audit_reports(&s, &args.c, saved);
    campaign::typos(campaign::unknown_groups(&s, &spec), args.c.no_strict)?;
    let plan = plan::build_reboot(&audited(&s, &reports), &spec, &infrastructure(&s, &spec))?;
    // the windows are wall-clock times: a clock change inside one is said before anything runs
    if let Some((windows, zone)) = spec.reboot.windows_in_zone() {
        for m in zone.changes_in(&windows, jiff::Timestamp::now(), 14) {
            say!("fleetrestart: note: {m}");
        }
    }
    launch(&s, &args.t, &args.c, &spec, &plan, "reboot")
}
