//! What the scanner reads from /proc of processes it does not trust: maps lines, cgroup files,
//! interpreter command lines (NUL-separated argv), and the import/use lines of daemons' scripts.
#![no_main]
use fleetrestart_scan::{cgroup, imports, interp, maps};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for m in maps::parse(&text) {
        let _ = m.path_without_marker();
        let _ = (m.is_file(), m.is_executable());
    }
    let _ = maps::parse_executable_files(data);
    if let Some(p) = cgroup::systemd_path(&text) {
        let _ = cgroup::classify(p);
    }
    let _ = cgroup::classify(&text);
    let argv: Vec<String> = text.split('\0').map(String::from).collect();
    if let Some(i) = argv.first().and_then(|exe| interp::detect(exe)) {
        let _ = interp::script_arg(i, &argv);
    }
    let _ = imports::python_skips_script_dir(&argv);
    let _ = imports::python_imports(&text);
    let _ = imports::perl_uses(&text);
});
