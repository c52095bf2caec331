//! `fleetrestart generate-docs DIR` (what `cargo xtask dist` ships): completions that a shell
//! loads and that complete the commands, and man pages that name every documented option.

mod common;

use std::process::Command;

#[test]
fn completions_complete_and_man_pages_document_the_options() {
    let dir = common::scratch("docs");
    let o = Command::new(env!("CARGO_BIN_EXE_fleetrestart"))
        .arg("generate-docs")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", common::text(&o));
    for f in [
        "completions/fleetrestart.bash",
        "completions/_fleetrestart",
        "completions/fleetrestart.fish",
        "man/fleetrestart.1",
        "man/fleetrestart-audit.1",
        "man/fleetrestart-restart.1",
        "man/fleetrestart-resume.1",
    ] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    assert!(
        !dir.join("man/fleetrestart-generate-docs.1").exists(),
        "hidden stays hidden"
    );
    // bash: the completion function, asked for `fleetrestart au`, offers `audit`
    let script = format!(
        "source {}; COMP_WORDS=(fleetrestart au); COMP_CWORD=1; COMP_LINE='fleetrestart au'; COMP_POINT=${{#COMP_LINE}}; _fleetrestart fleetrestart au fleetrestart; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        dir.join("completions/fleetrestart.bash").display()
    );
    let o = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    let offered = String::from_utf8_lossy(&o.stdout);
    assert!(
        offered.lines().any(|l| l == "audit"),
        "{}",
        common::text(&o)
    );
    // the audit page documents the options added last
    let page = std::fs::read_to_string(dir.join("man/fleetrestart-audit.1")).unwrap();
    for opt in ["ansible\\-inventory", "format", "host\\-lists"] {
        assert!(page.contains(opt), "{opt} in the audit man page");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
