//! The controller's exit codes (documented in README.md).

/// Every host was scanned and nothing needs a restart or reboot.
pub const CLEAN: i32 = 0;
/// Every host was scanned and some need a restart or a reboot.
pub const ACTION_NEEDED: i32 = 1;
/// Bad command line, inventory or rules file: nothing was run.
pub const INPUT_ERROR: i32 = 2;
/// Some hosts failed or were unreachable (takes precedence over 1).
pub const HOSTS_FAILED: i32 = 3;
/// The controller itself could not work (no scanner binaries, I/O error).
pub const INTERNAL: i32 = 4;
/// `restart`: the failure budget (or a failing canary) stopped the campaign before its end.
pub const BUDGET_SPENT: i32 = 5;
/// `restart` / `resume`: the operator paused or aborted the campaign (resume it from its journal).
pub const INTERRUPTED: i32 = 6;

/// An input error: the message on standard error, and [`INPUT_ERROR`] to exit with.
pub fn input_error(msg: impl std::fmt::Display) -> i32 {
    say!("fleetrestart: {msg}");
    INPUT_ERROR
}
