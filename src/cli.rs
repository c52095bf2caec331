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
    /// Host pattern, as Ansible reads it (default: all; without an inventory: this machine).
    #[arg(value_name = "PATTERN")]
    pub pattern: Option<String>,
    /// Inventory: YAML, INI, ansible-inventory JSON, an executable script, a directory, or
    /// `host1,host2,`. May be given several times; sources merge.
    #[arg(short = 'i', long = "inventory", value_name = "SOURCE")]
    pub inventory: Vec<String>,
    /// Further restrict the hosts (Ansible pattern; `@FILE` reads hosts from a file).
    #[arg(short = 'l', long = "limit", value_name = "PATTERN")]
    pub limit: Vec<String>,
    /// Print the selected hosts and exit.
    #[arg(long)]
    pub list_hosts: bool,
    /// Hosts audited at once.
    #[arg(short = 'f', long, default_value_t = 50, value_name = "N")]
    pub forks: usize,
    /// Login user when the inventory and ssh config name none (default: your user name).
    #[arg(short = 'u', long, value_name = "USER")]
    pub user: Option<String>,
    /// Private key file to try (after ansible_ssh_private_key_file).
    #[arg(long, value_name = "FILE")]
    pub private_key: Option<std::path::PathBuf>,
    /// ssh client config file (default: ~/.ssh/config when it exists).
    #[arg(long, value_name = "FILE")]
    pub ssh_config: Option<std::path::PathBuf>,
    /// known_hosts file (default: ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts).
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<std::path::PathBuf>,
    /// Host key checking: strict refuses unknown and changed keys; accept-new records unknown
    /// keys; off checks nothing (default: strict, or StrictHostKeyChecking from ssh config).
    #[arg(long, value_enum, value_name = "POLICY")]
    pub host_key_checking: Option<crate::targets::HostKeyPolicy>,
    /// Run the scanner through sudo (like ansible_become).
    #[arg(short = 'b', long = "become")]
    pub become_: bool,
    /// User to become (default root).
    #[arg(long, value_name = "USER")]
    pub become_user: Option<String>,
    /// Ask the sudo password on the terminal (it is sent on the command's standard input, never in argv).
    #[arg(short = 'K', long)]
    pub ask_become_pass: bool,
    /// Read the sudo password from the first line of this file.
    #[arg(long, value_name = "FILE")]
    pub become_password_file: Option<std::path::PathBuf>,
    /// Seconds to connect, handshake and authenticate (per hop chain).
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub connect_timeout: u64,
    /// Seconds one command on a host may take.
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub command_timeout: u64,
    /// Seconds a whole host may take (connect and all commands).
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub host_timeout: u64,
    /// Rules file (YAML) merged over the scanner's built-in rules.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Print one JSON document (per-host reports, services across the fleet, summary).
    #[arg(long, conflicts_with = "ndjson")]
    pub json: bool,
    /// Print events as they happen, one JSON object per line, then the summary.
    #[arg(long)]
    pub ndjson: bool,
    /// Write one HOST.json per host into this directory.
    #[arg(long, value_name = "DIR")]
    pub tree: Option<PathBuf>,
    /// Write host-list files clean, stale, failed and unreachable into this directory (for --limit @FILE).
    #[arg(long, value_name = "DIR")]
    pub host_lists: Option<PathBuf>,
    /// No progress bar even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
    /// Directory holding fleetrestart-scan-<arch> binaries (default: embedded, or beside this program).
    #[arg(long, value_name = "DIR")]
    pub scanner_dir: Option<PathBuf>,
    /// Cache directory for the scanner on each host (default: ${XDG_CACHE_HOME:-$HOME/.cache}/fleetrestart of the user the scanner runs as).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<String>,
    /// Run this scanner already installed on the hosts instead of uploading one (inventory variable: fleetrestart_scanner).
    #[arg(long, value_name = "PATH")]
    pub installed_scanner: Option<String>,
    /// Largest scanner report accepted from a host, in bytes (a bigger one fails that host).
    #[arg(long, default_value_t = 32 << 20, value_name = "BYTES")]
    pub max_report_size: usize,
    /// Remove the uploaded scanner from each host after the run.
    #[arg(long)]
    pub clean: bool,
    /// Benchmark floor: connect, authenticate and run `true` on every host, nothing else.
    #[arg(long, hide = true)]
    pub floor: bool,
}
