//! The commands: each resolves its [`Settings`] once from its arguments, runs, and ends with an
//! [`Exit`] or a [`CmdError`]; [`run`] turns either into the process's exit code (the one exit
//! mapping). Glue only: the logic lives in the modules the commands call.

mod ansible_cfg;
mod audit;
mod campaign;
mod docs;
mod reboot;
mod restart;
mod resume;
mod settings;

pub use settings::{Hosts, Settings};

use crate::cli::Command;
use crate::exit::{CmdError, Exit};

/// Runs a parsed command line; the process's exit code.
pub fn run(command: Command) -> i32 {
    let result: Result<Exit, CmdError> = match command {
        Command::Audit(a) => audit::run(*a),
        Command::Restart(a) => restart::run(*a),
        Command::Reboot(a) => reboot::run(*a),
        Command::Resume(a) => resume::run(a),
        Command::GenerateDocs { dir } => docs::run(&dir),
    };
    match result {
        Ok(exit) => exit.code(),
        Err(e) => {
            say!("fleetrestart: {}", e.message());
            e.code()
        }
    }
}
