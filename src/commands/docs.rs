//! `fleetrestart generate-docs DIR` (hidden; `cargo xtask dist` runs it): shell completions
//! (bash, zsh, fish) into DIR/completions and man pages (`fleetrestart.1` and one per
//! command) into DIR/man, all generated from the clap definitions, so they never drift.

use crate::cli::Cli;
use crate::exit::{CmdError, Exit};
use clap::CommandFactory;
use std::path::Path;

pub fn run(dir: &Path) -> Result<Exit, CmdError> {
    let fail = |what: &str, e: std::io::Error| {
        CmdError::Internal(format!("cannot write {what} under {}: {e}", dir.display()))
    };
    let completions = dir.join("completions");
    let man = dir.join("man");
    std::fs::create_dir_all(&completions).map_err(|e| fail("completions", e))?;
    std::fs::create_dir_all(&man).map_err(|e| fail("man pages", e))?;
    let mut cmd = Cli::command();
    for shell in [
        clap_complete::Shell::Bash,
        clap_complete::Shell::Zsh,
        clap_complete::Shell::Fish,
    ] {
        clap_complete::generate_to(shell, &mut cmd, "fleetrestart", &completions)
            .map_err(|e| fail("completions", e))?;
    }
    let cmd = Cli::command();
    page(&cmd, &man.join("fleetrestart.1")).map_err(|e| fail("man pages", e))?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        // a page per command, named as man(1) expects; the name lives for this short run
        let name: &'static str =
            Box::leak(format!("fleetrestart-{}", sub.get_name()).into_boxed_str());
        let sub = sub.clone().name(name);
        page(&sub, &man.join(format!("{name}.1"))).map_err(|e| fail("man pages", e))?;
    }
    Ok(Exit::Clean)
}

fn page(cmd: &clap::Command, path: &Path) -> std::io::Result<()> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut out)?;
    std::fs::write(path, out)
}
