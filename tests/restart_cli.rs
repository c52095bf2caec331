//! `fleetrestart restart` / `resume` input errors (no host is touched) and `--plan` on this
//! machine with a real stale process that no campaign may restart.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn fr(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fleetrestart"))
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env_remove("XDG_CACHE_HOME")
        .env("FLEETRESTART_SCANNER_DIR", common::scanner_dir())
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn campaign_file_errors_are_located_and_stop_everything() {
    let d = common::scratch("restart-cli-spec");
    std::fs::write(d.join("c.yml"), "batch: 2\nwindw: 3\n").unwrap();
    let o = fr(&d, &["restart", "--campaign", "c.yml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("c.yml:2:1: unknown field `windw`"),
        "{}",
        stderr(&o)
    );
    std::fs::write(d.join("c.yml"), "checks:\n  - type: http\n    path: /x\n").unwrap();
    let o = fr(&d, &["restart", "--campaign", "c.yml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("c.yml:2:") && stderr(&o).contains("needs `port`"),
        "{}",
        stderr(&o)
    );
    let o = fr(&d, &["restart", "--batch", "0%"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--batch"), "{}", stderr(&o));
    let o = fr(&d, &["restart", "--window", "0", "--plan"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn bad_journals_are_refused_before_anything_runs() {
    let d = common::scratch("restart-cli-journal");
    let o = fr(&d, &["resume", "missing.journal"]);
    assert_eq!(o.status.code(), Some(2));
    std::fs::write(d.join("x.journal"), "hello\n").unwrap();
    let o = fr(&d, &["resume", "x.journal"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("x.journal:1: not a fleetrestart journal"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("nothing was restarted"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn plan_lists_what_it_will_not_touch_and_changes_nothing() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to see every process");
        return;
    }
    let d = common::scratch("restart-cli-plan");
    // a real process running a deleted copy of sleep: stale, but no service restarts it
    let exe = d.join("fr-stale-sleep");
    common::copy_executable(std::path::Path::new("/bin/sleep"), &exe);
    let mut child = Command::new(&exe).arg("60").spawn().unwrap();
    std::fs::remove_file(&exe).unwrap();
    let o = fr(&d, &["restart", "--plan"]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("Not touched:"), "{out}");
    assert!(out.contains("unattributed process(es)"), "{out}");
    let journals = std::fs::read_dir(&d)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".journal")
        })
        .count();
    assert_eq!(journals, 0, "--plan writes no journal");
}

#[test]
fn reboot_refuses_this_machine_and_bad_windows_before_anything_runs() {
    let d = common::scratch("reboot-cli");
    // no inventory: this machine, which a reboot campaign must never reboot
    let o = fr(&d, &["reboot", "--plan"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot reboot the machine it runs on"),
        "{}",
        stderr(&o)
    );
    let o = fr(&d, &["reboot", "-i", "h1,", "--reboot-window", "Mon 02:00"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("Mon 02:00"), "{}", stderr(&o));
    let o = fr(&d, &["reboot", "-i", "h1,", "--timezone", "Nowhere/Land"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("Nowhere/Land"), "{}", stderr(&o));
    std::fs::write(d.join("c.yml"), "reboot:\n  timeout: -1\n").unwrap();
    let o = fr(&d, &["reboot", "-i", "h1,", "--campaign", "c.yml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("c.yml:2"), "{}", stderr(&o));
}

#[test]
fn a_service_or_group_that_matches_nothing_is_an_error_naming_what_is_close() {
    let d = common::scratch("restart-cli-typos");
    std::fs::write(
        d.join("inv.ini"),
        "[db]\nlocalhost ansible_connection=local\n",
    )
    .unwrap();
    // nothing on this machine is a service to restart: any --services term is a typo here
    let o = fr(
        &d,
        &["restart", "-i", "inv.ini", "--plan", "--services", "cronn"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "--services/--exclude-services \"cronn\" matches no service that needs a restart"
        ),
        "{}",
        stderr(&o)
    );
    let o = fr(
        &d,
        &[
            "restart",
            "-i",
            "inv.ini",
            "--plan",
            "--services",
            "cronn",
            "--no-strict",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("[WARNING]: --services"),
        "{}",
        stderr(&o)
    );
    // a group_order group the inventory does not have, with the one it may mean
    std::fs::write(d.join("c.yml"), "group_order: [dbb]\n").unwrap();
    let o = fr(
        &d,
        &["restart", "-i", "inv.ini", "--plan", "--campaign", "c.yml"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "group_order/group_caps: \"dbb\" is not a group of the inventory (close: db)"
        ),
        "{}",
        stderr(&o)
    );
}
