//! `fleetrestart`: the controller's entry point. Everything else is the `fleetrestart` library
//! (src/lib.rs); see ARCHITECTURE.md for the map of the code.

use clap::Parser;
use fleetrestart::cli::{Cli, Command};
use fleetrestart::{audit_cmd, exit, restart_cmd};

fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::INPUT_ERROR
            } else {
                exit::CLEAN
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let code = match cli.command {
        Command::Audit(a) => audit_cmd::run_audit(*a),
        Command::Restart(a) => restart_cmd::restart(*a),
        Command::Resume(a) => restart_cmd::resume(a),
    };
    std::process::exit(code);
}
