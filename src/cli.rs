//! Command-line interface definitions (clap).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "fleetrestart",
    version,
    about = "Find, across a fleet, the processes that still run deleted or replaced code, and restart them safely"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Scan hosts and report what must be restarted (this machine when no inventory is given).
    Audit(AuditArgs),
}

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Rules file (YAML) merged over the scanner's built-in rules.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Print one JSON document (per-host reports and a summary) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Directory holding fleetrestart-scan-<arch> binaries (default: embedded, or beside this program).
    #[arg(long, value_name = "DIR")]
    pub scanner_dir: Option<PathBuf>,
    /// Cache directory for the scanner on each host (default: ${XDG_CACHE_HOME:-$HOME/.cache}/fleetrestart).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<String>,
    /// Run this scanner already installed on the host instead of uploading one.
    #[arg(long, value_name = "PATH")]
    pub installed_scanner: Option<String>,
    /// Remove the uploaded scanner from each host after the run.
    #[arg(long)]
    pub clean: bool,
    /// Seconds one command on a host may take.
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub command_timeout: u64,
}
