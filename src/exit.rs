//! The controller's exit codes (documented in README.md), in one place: commands end with an
//! [`Exit`] or a [`CmdError`], and `commands::run` turns either into the process's exit code.

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
/// `restart` / `resume`: the journal could not be written, so the campaign stopped starting
/// hosts (in-flight hosts finished); free the disk, then resume from the journal.
pub const JOURNAL_FAILED: i32 = 7;

/// How a command that ran ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Clean,
    ActionNeeded,
    HostsFailed,
    BudgetSpent,
    Interrupted,
    JournalFailed,
    /// `audit --format nagios`: the check's state (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
    Nagios(i32),
}

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Exit::Clean => CLEAN,
            Exit::ActionNeeded => ACTION_NEEDED,
            Exit::HostsFailed => HOSTS_FAILED,
            Exit::BudgetSpent => BUDGET_SPENT,
            Exit::Interrupted => INTERRUPTED,
            Exit::JournalFailed => JOURNAL_FAILED,
            Exit::Nagios(state) => state,
        }
    }
}

/// Why a command could not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdError {
    /// Bad command line, inventory, rules, campaign file or journal: nothing was run.
    Input(String),
    /// The controller itself could not work.
    Internal(String),
}

impl CmdError {
    pub fn code(&self) -> i32 {
        match self {
            CmdError::Input(_) => INPUT_ERROR,
            CmdError::Internal(_) => INTERNAL,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            CmdError::Input(m) | CmdError::Internal(m) => m,
        }
    }
}

/// Most errors are about the input (the modules return their messages as strings).
impl From<String> for CmdError {
    fn from(m: String) -> CmdError {
        CmdError::Input(m)
    }
}

impl From<&str> for CmdError {
    fn from(m: &str) -> CmdError {
        CmdError::Input(m.to_string())
    }
}
