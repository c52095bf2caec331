//! Rolling campaigns: `fleetrestart restart`, `fleetrestart reboot` and `fleetrestart resume`.
//!
//! Map (pure modules first; the engine sits on top):
//! - [`spec`]: the campaign file (YAML) and its defaults;
//! - [`plan`]: audit reports → hosts, services, methods, order and batches (`--plan` prints it);
//! - [`scripts`]: every command a restart sends, quoted, and how a restart is recognised;
//! - [`stop`]: why a campaign stops, an ordered reason (the stronger one is kept and reported);
//! - [`schedule`]: window / discrete batches, caps, barriers, failure budget (pure, simulated in tests);
//! - [`journal`]: the append-only, fsynced record of every host transition, and its replay;
//! - [`checks`]: health checks (tcp, http, command, systemd, rescan);
//! - [`lease`]: one campaign at a time per host (a lease under /run on the host);
//! - [`host`]: one host, start to end (lease, drain, its turn, checks, undrain) over its
//!   sessions: the frame, with the restart and the reboot turns beside it on a shared worker;
//! - [`window`] (pure) and [`clock`]: reboot windows and their time zone;
//! - [`output`]: the `--plan` text, live lines and progress bar, summary, JSON, exit code;
//! - [`engine`]: drives the scheduler with real time and worker threads, handles Ctrl-C.

pub mod checks;
pub mod clock;
pub mod commit;
pub mod engine;
pub mod host;
pub mod journal;
pub mod lease;
pub mod output;
pub mod plan;
pub mod schedule;
pub mod scripts;
pub mod spec;
pub mod stop;
pub mod window;
