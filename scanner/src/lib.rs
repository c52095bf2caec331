//! fleetrestart-scan: finds, on one host, the processes that still run deleted or replaced code,
//! and says what restarts them.
//!
//! Map of the crate (data flows top to bottom):
//! - [`procread`]: reads one process from a `/proc` tree (with [`procmap`], the `PROCMAP_QUERY`
//!   ioctl, the only modules touching `/proc`);
//! - [`maps`], [`cgroup`], [`interp`]: pure parsers of what was read;
//! - [`roots`]: which filesystem view a process's map paths belong to (chroots, containers);
//! - [`imports`]: the modules a Python or Perl daemon loaded, found statically (bounded);
//! - [`detect`]: which files of a process are stale (deleted, replaced, changed script);
//! - [`filters`]: false-positive filters (memfd, SYSV, /dev, tmp dirs, user regexes);
//! - [`packages`]: owning packages and init scripts from dpkg's database, in one pass;
//! - [`rules`]: the rules file (built-in defaults + user file) → service, method, policy;
//! - [`classify`]: stale processes → services, sessions, containers, unattributed;
//! - [`kernel`]: running vs installed kernel;
//! - [`scan`]: one scan, producing a [`report::Report`];
//! - [`render`]: JSON, human, batch, Nagios and OpenMetrics text;
//! - [`names`]: validation of unit and service names (shared with the controller).
//!
//! Invariants: the scanner never executes or loads anything it finds, never reads its own
//! environment, and never fails a scan because a process vanished or could not be read.

pub mod ansible;
pub mod cgroup;
pub mod classify;
pub mod detect;
pub mod filetimes;
pub mod filters;
pub mod imports;
pub mod interp;
pub mod kernel;
pub mod located;
pub mod maps;
pub mod microcode;
pub mod names;
pub mod ownercache;
pub mod owners;
pub mod packages;
pub mod pkgdb;
pub mod procmap;
pub mod procread;
pub mod programs;
pub mod render;
pub mod report;
pub mod restart;
pub mod roots;
pub mod rules;
pub mod scan;
pub mod unitexec;
pub mod units;

/// Exit codes of `fleetrestart-scan` (outside `--format nagios`, which uses the plugin codes).
pub mod exit {
    /// The scan ran; nothing needs a restart or a reboot.
    pub const CLEAN: i32 = 0;
    /// The scan ran; something needs a restart or a reboot.
    pub const ACTION_NEEDED: i32 = 1;
    /// Bad command line or rules file; nothing was scanned.
    pub const USAGE: i32 = 2;
    /// The scan could not run (e.g. /proc not mounted).
    pub const FAILED: i32 = 3;
}
