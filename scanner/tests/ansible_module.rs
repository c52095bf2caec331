//! The scanner binary as an Ansible binary module, run as ansible-core runs it
//! (`fleetrestart-scan ARGS_FILE`): always one JSON object on standard output, `failed: true`
//! naming the option for bad arguments, the facts for good ones.

use serde_json::Value;
use std::process::Command;

fn run_module(name: &str, args: &str) -> (Value, Option<i32>) {
    let dir = std::env::temp_dir().join(format!("fr-module-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("args");
    std::fs::write(&file, args).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fleetrestart-scan"))
        .arg(&file)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1, "one JSON line: {text}");
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (v, out.status.code())
}

#[test]
fn bad_arguments_are_a_failed_result_naming_the_option() {
    for (args, expect) in [
        ("{not json", "not JSON"),
        ("[]", "JSON object"),
        (r#"{"bogus": 1}"#, "\"bogus\""),
        (r#"{"all": [1]}"#, "option \"all\""),
        (r#"{"ignore": {"a": 1}}"#, "option \"ignore\""),
        (r#"{"rules": "version: 2\n"}"#, "option \"rules\""),
    ] {
        let (v, code) = run_module("bad", args);
        assert_eq!(v["failed"], true, "{args}: {v}");
        assert_eq!(v["changed"], false);
        assert_eq!(v["rc"], 1);
        assert!(v["msg"].as_str().unwrap().contains(expect), "{args}: {v}");
        assert_eq!(code, Some(1));
    }
}

#[test]
fn a_scan_returns_the_facts_and_changes_nothing() {
    let (v, code) = run_module(
        "scan",
        r#"{"_ansible_module_name": "fleetrestart_scan", "_ansible_check_mode": true,
            "_ansible_verbosity": 0, "_ansible_inject_invocation": true, "no_packages": true}"#,
    );
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["failed"], false);
    assert_eq!(v["changed"], false);
    let f = &v["ansible_facts"]["fleetrestart"];
    assert!(
        f["services"].is_array() && f["needs_restart"].is_boolean(),
        "{v}"
    );
    assert_eq!(f["report"]["schema_version"], 1);
    assert_eq!(v["invocation"]["module_args"]["no_packages"], true);
    // the restart module in check mode restarts nothing and says so
    let (v, code) = run_module(
        "restart",
        r#"{"_ansible_module_name": "fleetrestart_restart", "_ansible_check_mode": true, "no_packages": true}"#,
    );
    assert_eq!(code, Some(0), "{v}");
    assert!(v["restarted"].is_array(), "{v}");
}
