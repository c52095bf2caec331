//! `fleetrestart`, the controller, as a library: every module of the `fleetrestart` binary (which
//! is only `main`), and what the fuzz targets (`fuzz/`) call. See ARCHITECTURE.md for the map.

/// `eprintln!` that never panics: a standard error that went away (EPIPE: the operator's pipe
/// or SSH session closed) loses the line, not the command. Campaign workers print through it
/// between a host's drain and its undrain. Control characters in the line
/// (strings from hosts: paths, stderr, reasons) are shown escaped, never sent to the terminal
///.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let line = format!($($arg)*);
        let _ = writeln!(
            std::io::stderr().lock(),
            "{}",
            fleetrestart_scan::render::terminal_safe(&line)
        );
    }};
}

pub mod audit;
pub mod base64;
pub mod campaign;
pub mod cli;
pub mod commands;
pub mod exit;
pub mod glob;
pub mod inventory;
pub mod reach;
pub mod report;
pub mod secret;
pub mod shell;
pub mod transport;
