//! [`Settings`]: what every command that works on hosts resolves from its arguments, once and in
//! one order (ripgrep's low args → high args): the rules file (validated), the inventory, the
//! targets of the selected hosts and of the hosts hooks run on, the scanner binaries, whether
//! standard error is a terminal. [`Settings::ready`] is the last step before any host is
//! contacted (scanners present, file descriptor limit raised). I/O: reads files, may ask the
//! become password.

use crate::audit::AuditContext;
use crate::cli::TargetArgs;
use crate::exit::CmdError;
use crate::inventory::Inventory;
use crate::scanners::ScannerSet;
use crate::select;
use crate::targets::Target;
use std::collections::BTreeMap;
use std::io::IsTerminal;

/// Which hosts a command works on.
pub enum Hosts {
    /// The command line's pattern and `--limit`.
    Selected,
    /// These, in this order (a campaign's plan, on resume).
    Named(Vec<String>),
}

pub struct Settings {
    pub args: TargetArgs,
    /// The rules file's text, validated.
    pub rules: Option<String>,
    pub inventory: Inventory,
    pub hosts: Vec<Target>,
    /// Targets of the hosts hooks run on (`on:`), by name.
    pub hooks: BTreeMap<String, Target>,
    pub scanners: ScannerSet,
    /// Standard error is a terminal (progress bars, host key prompts).
    pub interactive: bool,
}

impl Settings {
    /// Resolves `args` for `hosts`, and `hook_hosts` beside them (built in one go, so that a
    /// become password is asked once).
    pub fn resolve(
        args: &TargetArgs,
        hosts: Hosts,
        hook_hosts: Vec<String>,
    ) -> Result<Settings, CmdError> {
        if args.forks == 0 {
            return Err("--forks must be at least 1".into());
        }
        let rules = select::read_rules(args)?;
        let inventory = select::inventory_of(args)?;
        let mut names = match hosts {
            Hosts::Selected => select::selected(args, &inventory)?,
            Hosts::Named(n) => n,
        };
        let n = names.len();
        names.extend(hook_hosts);
        let mut targets = select::build_targets(args, &inventory, &names)?;
        let hooks = targets
            .split_off(n)
            .into_iter()
            .map(|t| (t.name.clone(), t))
            .collect();
        Ok(Settings {
            args: args.clone(),
            rules,
            inventory,
            hosts: targets,
            hooks,
            scanners: ScannerSet::find(args.scanner_dir.as_deref()),
            interactive: std::io::stderr().is_terminal(),
        })
    }

    /// Before the first host is contacted: a scanner for every host that needs an upload (not
    /// when `scanners_needed` is false: `audit --floor`), and the file descriptor limit raised
    /// for the fan-out (every command: `resume` used to skip it).
    pub fn ready(&self, scanners_needed: bool) -> Result<(), CmdError> {
        if scanners_needed {
            select::check_scanners(&self.scanners, &self.hosts, &self.args)
                .map_err(CmdError::Internal)?;
        }
        crate::executor::raise_fd_limit();
        Ok(())
    }

    /// The audit's settings (sessions, delivery, fan-out) for these hosts.
    pub fn audit_context(&self, clean: bool) -> AuditContext<'_> {
        select::audit_context(
            &self.args,
            &self.scanners,
            self.rules.clone(),
            clean,
            self.interactive,
        )
    }
}
