//! `fleetrestart-scan`: the command-line front of the scanner library.
//!
//! Hand-rolled argument parsing keeps the static binary small. It reads no environment variable.

use fleetrestart_scan::exit;
use fleetrestart_scan::render::{self, Format};
use fleetrestart_scan::rules::RuleSet;
use fleetrestart_scan::scan::{self, Options};
use std::io::{Read, Write};

#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOC: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

const USAGE: &str = "\
usage: fleetrestart-scan [OPTIONS]
       fleetrestart-scan ARGS_FILE   (as an Ansible binary module: JSON in, JSON out)

Lists the processes on this host that still use deleted or replaced executables, libraries or
scripts, and what restarts them. Run as root for complete results. Reads /proc only; runs nothing.

options:
  -f, --format FMT        human (default), json, batch (needrestart -b lines), nagios, openmetrics
      --rules FILE        rules file merged over the built-in rules ('-' reads standard input)
      --ignore REGEX      do not report stale files whose path matches REGEX (repeatable)
      --all               turn off the built-in ignore lists (memfd, /tmp, /dev, ...)
      --no-packages       do not look up owning packages
      --no-owner-cache    read dpkg's file lists every time: neither read nor keep the
                          owner index in /var/cache/fleetrestart-scan (root only; rebuilt
                          whenever the package database changed)
      --check-rules FILE  validate a rules file and exit
      --print-default-rules
                          print the built-in rules
      --proc DIR          read this proc tree instead of /proc (for copies and tests)
      --host-root DIR     read /boot, /etc, /run, /var/lib/dpkg under DIR instead of /
      --maps-text         read /proc/PID/maps as text even where PROCMAP_QUERY (Linux >= 6.11)
                          would ask the kernel for executable file mappings only
      --deadline SECS     end the scan (exit 3) after SECS seconds whatever it is doing
                          (default 900: a scan never outlives the controller that ran it)
  -V, --version
  -h, --help

exit codes: 0 nothing to do, 1 restart or reboot needed, 2 bad usage or rules file,
3 the scan could not run; with --format nagios: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
";

/// The default of `--deadline`, seconds.
const DEFAULT_DEADLINE: u64 = 900;

/// Ends the process after `secs`, whatever the scan is doing (a corrupt package database or a
/// stuck filesystem never keeps a root process running after its controller gave up): SIGALRM,
/// whose handler says so on standard error and `_exit`s with 3 (no half-written report is
/// flushed). A signal, not a thread: the scanner's size budget.
fn arm_deadline(secs: u64) {
    extern "C" fn expired(_: libc::c_int) {
        const MSG: &[u8] = b"fleetrestart-scan: the scan ran past its deadline: stopped\n";
        unsafe {
            libc::write(2, MSG.as_ptr().cast(), MSG.len());
            libc::_exit(exit::FAILED)
        }
    }
    unsafe {
        libc::signal(libc::SIGALRM, expired as *const () as libc::sighandler_t);
        libc::alarm(secs.min(u64::from(u32::MAX)) as libc::c_uint);
    }
}

fn fail(code: i32, msg: &str) -> ! {
    eprintln!("fleetrestart-scan: {msg}");
    std::process::exit(code)
}

fn read_rules(path: &str) -> RuleSet {
    let (name, text) = if path == "-" {
        let mut s = String::new();
        if let Err(e) = std::io::stdin().take(1 << 20).read_to_string(&mut s) {
            fail(
                exit::USAGE,
                &format!("cannot read rules from standard input: {e}"),
            );
        }
        ("<stdin>".to_string(), s)
    } else {
        match std::fs::metadata(path).and_then(|m| {
            if m.len() > 1 << 20 {
                Err(std::io::Error::other("larger than 1 MiB"))
            } else {
                std::fs::read_to_string(path)
            }
        }) {
            Ok(t) => (path.to_string(), t),
            Err(e) => fail(exit::USAGE, &format!("cannot read rules file {path}: {e}")),
        }
    };
    RuleSet::with_user_file(&name, &text).unwrap_or_else(|e| fail(exit::USAGE, &e.to_string()))
}

fn main() {
    // an Ansible binary module: `fleetrestart-scan ARGS_FILE` (one argument, not an option)
    let argv: Vec<String> = std::env::args().collect();
    if argv.len() == 2 && !argv[1].starts_with('-') {
        let result = fleetrestart_scan::ansible::run(std::path::Path::new(&argv[1]), &argv[0]);
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{result}");
        let _ = out.flush();
        // ansible reads `failed` and `rc` from the JSON; the status says the same
        // (the first two fields, in ModuleResult's order)
        let failed = result.starts_with(r#"{"changed":false,"failed":true"#)
            || result.starts_with(r#"{"changed":true,"failed":true"#);
        std::process::exit(i32::from(failed));
    }
    let mut args = std::env::args().skip(1);
    let mut opts = Options::default();
    let mut format = Format::Human;
    let mut deadline = DEFAULT_DEADLINE;
    let value = |args: &mut dyn Iterator<Item = String>, flag: &str| -> String {
        args.next()
            .unwrap_or_else(|| fail(exit::USAGE, &format!("{flag} needs a value\n\n{USAGE}")))
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "-h" | "--help" => {
                print!("{USAGE}");
                return;
            }
            "-V" | "--version" => {
                println!("fleetrestart-scan {}", env!("CARGO_PKG_VERSION"));
                return;
            }
            "-f" | "--format" => {
                let v = value(&mut args, &a);
                format = Format::parse(&v).unwrap_or_else(|| fail(exit::USAGE, &format!("unknown format {v:?}; expected human, json, batch, nagios or openmetrics")));
            }
            "--rules" => opts.rules = Some(read_rules(&value(&mut args, &a))),
            "--ignore" => {
                let v = value(&mut args, &a);
                let re = regex_lite::Regex::new(&v).unwrap_or_else(|e| {
                    fail(exit::USAGE, &format!("--ignore {v:?}: invalid regex: {e}"))
                });
                opts.ignore.push(re);
            }
            "--all" => opts.builtin_filters = false,
            "--no-packages" => opts.packages = false,
            "--no-owner-cache" => opts.owner_cache = None,
            "--maps-text" => opts.maps_query = false,
            "--check-rules" => {
                let set = read_rules(&value(&mut args, &a));
                println!(
                    "ok: {} rules ({} ignore patterns)",
                    set.rules.len(),
                    set.ignore_paths.len()
                );
                return;
            }
            "--print-default-rules" => {
                print!("{}", fleetrestart_scan::rules::DEFAULT_RULES);
                return;
            }
            "--deadline" => {
                let v = value(&mut args, &a);
                deadline = v.parse::<u64>().ok().filter(|&s| s > 0).unwrap_or_else(|| {
                    fail(
                        exit::USAGE,
                        &format!("--deadline {v:?}: expected a number of seconds above 0"),
                    )
                });
            }
            "--proc" => opts.proc_root = value(&mut args, &a).into(),
            "--host-root" => opts.host_root = value(&mut args, &a).into(),
            other => fail(
                exit::USAGE,
                &format!("unknown argument {other:?}\n\n{USAGE}"),
            ),
        }
    }
    arm_deadline(deadline);
    let report = match scan::scan(&opts) {
        Ok(r) => r,
        Err(e) => fail(exit::FAILED, &e.to_string()),
    };
    for w in &report.warnings {
        eprintln!("fleetrestart-scan: warning: {w}");
    }
    let text = render::render(&report, format);
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .is_err()
    {
        std::process::exit(exit::FAILED);
    }
    let code = match format {
        Format::Nagios => render::nagios(&report).0 as i32,
        // as `needrestart -b`: the lines say what is needed, the status only that it worked
        // (collectors such as Katello's call it with check_output)
        Format::Batch => exit::CLEAN,
        _ if report.needs_action() => exit::ACTION_NEEDED,
        _ => exit::CLEAN,
    };
    std::process::exit(code);
}
