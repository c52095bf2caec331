//! `fleetrestart`: the controller's entry point. Everything else is the `fleetrestart` library
//! (src/lib.rs); see ARCHITECTURE.md for the map of the code.

use clap::Parser;
use fleetrestart::cli::Cli;
use fleetrestart::{commands, exit};

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
    std::process::exit(commands::run(cli.command));
}
