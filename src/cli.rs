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
    Audit(Box<AuditArgs>),
    /// Restart what an audit found, host by host in a rolling campaign (see --plan first).
    Restart(Box<RestartArgs>),
    /// Reboot the hosts whose audit says a reboot is needed, in a rolling campaign, verifying each (boot id, kernel, units, rescan).
    Reboot(Box<RebootArgs>),
    /// Continue a campaign from its journal after a crash, Ctrl-C or kill.
    Resume(ResumeArgs),
    /// Write shell completions and man pages into DIR (`cargo xtask dist` calls it).
    #[command(hide = true)]
    GenerateDocs {
        /// Where completions/ and man/ are written.
        dir: PathBuf,
    },
}

/// How hosts are chosen and reached (shared by audit and restart; stored in a campaign's
/// journal so that `resume` reaches the same hosts the same way).
#[derive(Args, Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TargetArgs {
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
    /// Hosts audited at once (default 50, or `forks` of ansible.cfg / ANSIBLE_FORKS).
    #[arg(short = 'f', long, value_name = "N")]
    pub forks: Option<usize>,
    /// Login user when the inventory and ssh config name none (default: your user name).
    #[arg(short = 'u', long, value_name = "USER")]
    pub user: Option<String>,
    /// Private key file to try (after ansible_ssh_private_key_file).
    #[arg(long, value_name = "FILE")]
    pub private_key: Option<std::path::PathBuf>,
    /// ssh client config file (default: ~/.ssh/config when it exists).
    #[arg(long, value_name = "FILE")]
    pub ssh_config: Option<std::path::PathBuf>,
    /// known_hosts file, where accept-new records keys (default: ~/.ssh/known_hosts and
    /// known_hosts2, or UserKnownHostsFile); the global files (/etc/ssh/ssh_known_hosts and
    /// ssh_known_hosts2, or GlobalKnownHostsFile) are always consulted too.
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<std::path::PathBuf>,
    /// Host key checking: strict refuses unknown and changed keys; accept-new records unknown
    /// keys; off checks nothing (default: strict, or StrictHostKeyChecking from ssh config).
    #[arg(long, value_enum, value_name = "POLICY")]
    pub host_key_checking: Option<crate::reach::targets::HostKeyPolicy>,
    /// Run the scanner through sudo (like ansible_become).
    #[arg(short = 'b', long = "become")]
    pub become_: bool,
    /// User to become (default root).
    #[arg(long, value_name = "USER")]
    pub become_user: Option<String>,
    /// Ask the sudo password on the terminal (it is sent on the command's standard input, never in argv).
    #[arg(short = 'K', long)]
    #[serde(skip)]
    pub ask_become_pass: bool,
    /// Read the sudo password from the first line of this file.
    #[arg(long, value_name = "FILE")]
    pub become_password_file: Option<std::path::PathBuf>,
    /// A vault password file, as Ansible's (repeatable): its first line is the password; an
    /// executable file is run and its first output line is.
    #[arg(
        long = "vault-password-file",
        alias = "vault-pass-file",
        value_name = "FILE"
    )]
    #[serde(default)]
    pub vault_password_file: Vec<std::path::PathBuf>,
    /// Ask the vault password on the terminal.
    #[arg(long = "ask-vault-pass", alias = "ask-vault-password")]
    #[serde(skip)]
    pub ask_vault_pass: bool,
    /// A vault id, as Ansible's (repeatable): `LABEL@FILE`, `LABEL@prompt`, `FILE` or `prompt`.
    #[arg(long = "vault-id", value_name = "ID")]
    #[serde(default)]
    pub vault_id: Vec<String>,
    /// Seconds to connect, handshake and authenticate, per hop chain (default 10, or `timeout`
    /// of ansible.cfg / ANSIBLE_TIMEOUT).
    #[arg(long, value_name = "SECS")]
    pub connect_timeout: Option<u64>,
    /// Seconds one command on a host may take.
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub command_timeout: u64,
    /// Seconds a whole host may take (connect and all commands).
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub host_timeout: u64,
    /// Rules file (YAML) merged over the scanner's built-in rules.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Directory holding fleetrestart-scan-<arch> binaries (default: embedded, or beside this program).
    #[arg(long, value_name = "DIR")]
    pub scanner_dir: Option<PathBuf>,
    /// Cache directory for the scanner on each host (default: ${XDG_CACHE_HOME:-$HOME/.cache}/fleetrestart of the user the scanner runs as). It must be the scanning user's, mode 0700, below directories nobody else may write to (sticky ones like /tmp aside); otherwise the host fails and nothing runs from it.
    #[arg(long, value_name = "DIR", value_parser = cache_dir_value)]
    pub cache_dir: Option<String>,
    /// Run this scanner already installed on the hosts instead of uploading one (inventory variable: fleetrestart_scanner).
    #[arg(long, value_name = "PATH")]
    pub installed_scanner: Option<String>,
    /// Largest scanner report accepted from a host, in bytes (a bigger one fails that host).
    #[arg(long, default_value_t = 32 << 20, value_name = "BYTES")]
    pub max_report_size: usize,
}

/// `audit --format`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MonitorFormat {
    Nagios,
    Openmetrics,
    Traces,
}

#[derive(Args, Debug)]
pub struct AuditArgs {
    #[command(flatten)]
    pub t: TargetArgs,
    /// Print the selected hosts and exit (with -v: how each is reached).
    #[arg(long)]
    pub list_hosts: bool,
    /// With --list-hosts: each host's connection as resolved (address, port, user, keys, jump
    /// hosts, become; never a password).
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Print one JSON document (per-host reports, services across the fleet, summary).
    #[arg(long, conflicts_with = "ndjson")]
    pub json: bool,
    /// Print events as they happen, one JSON object per line, then the summary.
    #[arg(long)]
    pub ndjson: bool,
    /// Monitoring output instead of the table: `nagios` (one check for the fleet; its exit code
    /// is the check's state), `openmetrics` (per-host series), `traces` (Katello-style JSON).
    #[arg(long, value_enum, value_name = "FMT", conflicts_with_all = ["json", "ndjson"])]
    pub format: Option<MonitorFormat>,
    /// Write one HOST.json per host into this directory.
    #[arg(long, value_name = "DIR")]
    pub tree: Option<PathBuf>,
    /// Write host-list files clean, stale, failed and unreachable into this directory (for --limit @FILE).
    #[arg(long, value_name = "DIR")]
    pub host_lists: Option<PathBuf>,
    /// Write the results as an Ansible inventory file (JSON, `ansible -i FILE` reads it): groups
    /// needs_restart, needs_restart_SERVICE, needs_reboot, clean, audit_failed, unreachable.
    #[arg(long, value_name = "FILE")]
    pub ansible_inventory: Option<PathBuf>,
    /// The same inventory as an executable inventory script (`--list` prints the
    /// `ansible-inventory --list` document; for AWX script sources).
    #[arg(long, value_name = "FILE")]
    pub ansible_inventory_script: Option<PathBuf>,
    /// No progress bar even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
    /// Remove the uploaded scanner from each host after the run.
    #[arg(long)]
    pub clean: bool,
    /// Benchmark floor: connect, authenticate and run `true` on every host, nothing else.
    #[arg(long, hide = true)]
    pub floor: bool,
}

/// What restart and reboot campaigns share: where the audit comes from, the campaign file and
/// its overrides (batches, window, canaries, budget), and what to print.
#[derive(Args, Debug)]
pub struct CampaignArgs {
    /// A `--services`/`--exclude-services` term or a `group_order`/`group_caps` group that
    /// matches nothing is a warning, not an error.
    #[arg(long)]
    pub no_strict: bool,
    /// Plan from this saved `audit --json` document instead of auditing now.
    #[arg(long, value_name = "FILE")]
    pub from_audit: Option<PathBuf>,
    /// Campaign file (YAML): batching, budget, checks, hooks, per-service policy.
    #[arg(long, value_name = "FILE")]
    pub campaign: Option<PathBuf>,
    /// Batch size: a count (5), a percentage floored with a minimum of 1 (25%), or a ramp whose last entry repeats (1,5,20%).
    #[arg(long, value_name = "SIZE")]
    pub batch: Option<String>,
    /// window: the next host starts as soon as a slot frees; discrete: a batch starts when the previous one is done.
    #[arg(long, value_enum)]
    pub strategy: Option<crate::campaign::spec::Strategy>,
    /// At most N hosts in flight (default: the current batch's size).
    #[arg(long, value_name = "N")]
    pub window: Option<usize>,
    /// At most N hosts down at once, counting failed hosts.
    #[arg(long, value_name = "N")]
    pub max_down: Option<usize>,
    /// The first N hosts are canaries: they go alone, then --soak; a failing canary stops the campaign.
    #[arg(long, value_name = "N")]
    pub canary: Option<usize>,
    /// Seconds to wait after the canaries.
    #[arg(long, value_name = "SECS")]
    pub soak: Option<f64>,
    /// Seconds to wait between batches.
    #[arg(long, value_name = "SECS")]
    pub pause: Option<f64>,
    /// Failed hosts tolerated before the campaign stops starting hosts (default 0).
    #[arg(long, value_name = "N")]
    pub max_failures: Option<usize>,
    /// Failed hosts tolerated, as a percentage of the hosts (strictly more stops).
    #[arg(long, value_name = "PCT")]
    pub max_failure_percent: Option<f64>,
    /// Count the budget per batch instead of campaign-wide.
    #[arg(long)]
    pub budget_per_batch: bool,
    /// Unreachable hosts tolerated (counted apart from failures).
    #[arg(long, value_name = "N")]
    pub max_unreachable: Option<usize>,
    /// Count unreachable hosts as failures.
    #[arg(long)]
    pub unreachable_as_failure: bool,
    /// Print the plan (batches, hosts, what is done to each, checks, hooks) and change nothing.
    #[arg(long)]
    pub plan: bool,
    /// The campaign journal (default: fleetrestart-campaign-ID.journal in the current directory).
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Print one JSON document at the end (per-host outcome and counts); with --plan, the plan as JSON.
    #[arg(long)]
    pub json: bool,
    /// No progress lines.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct RestartArgs {
    #[command(flatten)]
    pub t: TargetArgs,
    #[command(flatten)]
    pub c: CampaignArgs,
    /// Only these services (globs; `ssh` matches ssh.service). Naming a manual-policy service here selects it.
    #[arg(long, value_name = "GLOB", value_delimiter = ',')]
    pub services: Vec<String>,
    /// Never these services (globs).
    #[arg(long, value_name = "GLOB", value_delimiter = ',')]
    pub exclude_services: Vec<String>,
    /// Allow `systemctl daemon-reexec` where PID 1 runs stale code.
    #[arg(long)]
    pub daemon_reexec: bool,
    /// Do not rescan hosts after their restart.
    #[arg(long)]
    pub no_rescan: bool,
}

#[derive(Args, Debug)]
pub struct RebootArgs {
    #[command(flatten)]
    pub t: TargetArgs,
    #[command(flatten)]
    pub c: CampaignArgs,
    /// Also reboot audited hosts whose audit says no reboot is needed (never hosts that could not be audited).
    #[arg(long)]
    pub all: bool,
    /// Seconds a host may take to go down and come back running after its reboot (default 600).
    #[arg(long, value_name = "SECS")]
    pub reboot_timeout: Option<f64>,
    /// Accept a host that comes back `degraded` (some unit failed); by default it fails.
    #[arg(long)]
    pub allow_degraded: bool,
    /// Reboot only inside these windows, e.g. `Mon-Fri 02:00-05:00` or `Sat,Sun 00:00-24:00` (repeatable; a host starts only inside one; a window may wrap past midnight).
    #[arg(long = "reboot-window", value_name = "DAYS HH:MM-HH:MM")]
    pub reboot_windows: Vec<String>,
    /// Time zone of the reboot windows: UTC (default), `local`, or an offset like +02:00.
    #[arg(long, value_name = "ZONE")]
    pub timezone: Option<String>,
}

#[derive(Args, Debug)]
pub struct ResumeArgs {
    /// The campaign journal.
    #[arg(value_name = "JOURNAL")]
    pub journal: PathBuf,
    /// Ask the sudo password on the terminal.
    #[arg(short = 'K', long)]
    pub ask_become_pass: bool,
    /// Read the sudo password from the first line of this file.
    #[arg(long, value_name = "FILE")]
    pub become_password_file: Option<PathBuf>,
    /// Ask the vault password on the terminal (the campaign's vault files and ids are kept in
    /// its journal; a password asked for is not).
    #[arg(long = "ask-vault-pass", alias = "ask-vault-password")]
    pub ask_vault_pass: bool,
    /// A new failure budget for this and later runs: failed hosts tolerated (strictly more
    /// stops). Hosts that failed before count against it.
    #[arg(long, value_name = "N")]
    pub max_failures: Option<usize>,
    /// A new failure budget, as a percentage of the hosts.
    #[arg(long, value_name = "PCT")]
    pub max_failure_percent: Option<f64>,
    /// A new limit of unreachable hosts.
    #[arg(long, value_name = "N")]
    pub max_unreachable: Option<usize>,
    /// Print one JSON document at the end.
    #[arg(long)]
    pub json: bool,
    /// No progress lines.
    #[arg(long)]
    pub quiet: bool,
}

/// A cache directory path: absolute, no control characters (it is checked on the host by
/// parsing `ls` lines).
fn cache_dir_value(s: &str) -> Result<String, String> {
    if !s.starts_with('/') {
        return Err("an absolute path is expected".into());
    }
    if s.chars().any(char::is_control) {
        return Err("control characters are not allowed".into());
    }
    Ok(s.to_string())
}
