//! The audit as an Ansible inventory (`audit --ansible-inventory FILE`): the
//! `ansible-inventory --list` JSON shape with groups `needs_restart`, `needs_restart_<service>`
//! (names sanitised to Ansible's group-name rule), `needs_reboot`, `clean`, `audit_failed` and
//! `unreachable`, and `_meta.hostvars` with each host's connection (so the file is an inventory
//! on its own) and its `fleetrestart_*` results. Also the executable inventory-script form
//! (`--ansible-inventory-script FILE`, the exact `--list` document, for AWX and anything that
//! takes a script); the file form is the same inventory in an inventory file's layout, so
//! `ansible -i FILE` reads it. Pure: results in, JSON and script text out.

use crate::audit::{HostResult, HostStatus};
use crate::reach::targets::{Connection, Target};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// `nginx.service` → `nginx`, `getty@tty1.service` → `getty_tty1`: what follows
/// `needs_restart_` in a group name (letters, digits and `_` only, as Ansible wants).
pub fn group_suffix(service: &str) -> String {
    let base = service.strip_suffix(".service").unwrap_or(service);
    base.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The inventory document for `results` (in target order; `targets` give the connections).
pub fn inventory(results: &[HostResult], targets: &[Target]) -> Value {
    let by_name: BTreeMap<&str, &Target> = targets.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for g in [
        "needs_action",
        "needs_restart",
        "needs_reboot",
        "clean",
        "audit_failed",
        "unreachable",
    ] {
        groups.insert(g.into(), Vec::new());
    }
    let mut hostvars = Map::new();
    for r in results {
        let mut vars = by_name
            .get(r.host.as_str())
            .map(|t| connection_vars(t))
            .unwrap_or_default();
        let mut add = |g: String| groups.entry(g).or_default().push(r.host.clone());
        match &r.outcome {
            Ok(scan) => {
                let rep = &scan.report;
                let services: Vec<&str> = rep.services.iter().map(|s| s.name.as_str()).collect();
                if !services.is_empty() {
                    add("needs_restart".into());
                    for s in &services {
                        add(format!("needs_restart_{}", group_suffix(s)));
                    }
                }
                if rep.reboot.needed {
                    add("needs_reboot".into());
                }
                // the same split as the host lists' stale/clean: a host whose only stale
                // processes belong to no service or session is here too (newcomer E12)
                if rep.needs_action() {
                    add("needs_action".into());
                } else {
                    add("clean".into());
                }
                vars.insert("fleetrestart_status".into(), json!("ok"));
                vars.insert("fleetrestart_services".into(), json!(services));
                vars.insert(
                    "fleetrestart_never_restart".into(),
                    json!(rep
                        .never_restart
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()),
                );
                vars.insert("fleetrestart_needs_reboot".into(), json!(rep.reboot.needed));
                vars.insert("fleetrestart_sessions".into(), json!(rep.sessions.len()));
            }
            Err(e) => {
                let unreachable = r.status() == HostStatus::Unreachable;
                add(if unreachable {
                    "unreachable"
                } else {
                    "audit_failed"
                }
                .into());
                vars.insert("fleetrestart_status".into(), json!(r.status().as_str()));
                vars.insert("fleetrestart_error".into(), json!(e.to_string()));
            }
        }
        hostvars.insert(r.host.clone(), Value::Object(vars));
    }
    let mut doc = Map::new();
    let mut children: Vec<String> = groups.keys().cloned().collect();
    children.push("ungrouped".into());
    doc.insert("all".into(), json!({"children": children}));
    for (g, mut hosts) in groups {
        hosts.dedup();
        doc.insert(g, json!({"hosts": hosts}));
    }
    // every host is in a group (each result is ok, failed or unreachable): none is ungrouped
    doc.insert("ungrouped".into(), json!({"hosts": []}));
    doc.insert("_meta".into(), json!({"hostvars": hostvars}));
    Value::Object(doc)
}

/// How Ansible reaches the target, as the audit did.
fn connection_vars(t: &Target) -> Map<String, Value> {
    let mut v = Map::new();
    match &t.connection {
        Connection::Local => {
            v.insert("ansible_connection".into(), json!("local"));
        }
        Connection::Ssh(s) => {
            v.insert("ansible_host".into(), json!(s.hop.address));
            v.insert("ansible_port".into(), json!(s.hop.port));
            v.insert("ansible_user".into(), json!(s.hop.user));
            // a key the inventory, ssh config or command line named (not the ~/.ssh defaults)
            if let Some(k) = s.hop.identity_files.first().filter(|_| s.hop.keys_named) {
                v.insert(
                    "ansible_ssh_private_key_file".into(),
                    json!(k.display().to_string()),
                );
            }
            if !s.jumps.is_empty() {
                let hops: Vec<String> = s
                    .jumps
                    .iter()
                    .map(|h| format!("{}@{}:{}", h.user, h.address, h.port))
                    .collect();
                v.insert(
                    "ansible_ssh_common_args".into(),
                    json!(format!("-o ProxyJump={}", hops.join(","))),
                );
            }
        }
    }
    if let Some(b) = &t.become_ {
        v.insert("ansible_become".into(), json!(true));
        v.insert("ansible_become_user".into(), json!(b.user));
    }
    v
}

/// `doc` (the `--list` shape) in the layout of an inventory *file* (what Ansible's `yaml`
/// inventory plugin reads, JSON being YAML): `all.hosts` holds every host with its variables,
/// `all.children` the groups with their hosts. `ansible-inventory -i FILE --list` gives `doc`
/// back.
pub fn inventory_file(doc: &Value) -> Value {
    let hostvars = doc["_meta"]["hostvars"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut children = Map::new();
    if let Some(groups) = doc.as_object() {
        for (g, v) in groups {
            if matches!(g.as_str(), "all" | "_meta" | "ungrouped") {
                continue;
            }
            let hosts: Map<String, Value> = v["hosts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|h| (h.to_string(), Value::Null))
                .collect();
            children.insert(g.clone(), json!({"hosts": hosts}));
        }
    }
    json!({"all": {"hosts": hostvars, "children": children}})
}

/// An executable inventory script printing `doc` for `--list` and `{}` for `--host` (the
/// hostvars are in `_meta`). The JSON sits in a quoted here-document: nothing in it expands.
pub fn script(doc: &Value) -> String {
    let text = serde_json::to_string_pretty(doc).unwrap_or_default();
    format!(
        "#!/bin/sh\n# Ansible inventory from `fleetrestart audit` (groups needs_action, needs_restart,\n# needs_restart_<service>, needs_reboot, clean, audit_failed, unreachable). Usage: ansible -i THIS_FILE ...\ncase \"$1\" in\n--host) echo '{{}}' ;;\n*) cat <<'FLEETRESTART_INVENTORY'\n{text}\nFLEETRESTART_INVENTORY\n;;\nesac\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_with_only_unattributed_stale_processes_is_in_needs_action_not_lost() {
        use crate::audit::delivery::{Delivery, HostScan};
        let result = |host: &str, unattributed: serde_json::Value| {
            let mut v: serde_json::Value =
                serde_json::from_str(include_str!("../../tests/fixtures/report-clean.json"))
                    .unwrap();
            v["unattributed"] = unattributed;
            HostResult {
                host: host.into(),
                outcome: Ok(HostScan {
                    report: serde_json::from_value(v).unwrap(),
                    delivery: Delivery::Reused,
                }),
                elapsed: std::time::Duration::ZERO,
            }
        };
        let stale = json!([{"reason": "no systemd cgroup", "process_count": 1, "processes": [
            {"pid": 10, "ppid": 1, "uid": 0, "user": "root", "comm": "x", "exe": "/usr/bin/x",
             "cmdline": "x", "started_at": 0, "cgroup": null, "files_omitted": 0,
             "files": [{"path": "/usr/lib/libx.so", "kind": "library", "reason": "deleted", "package": null}]}]}]);
        let results = [result("odd1", stale), result("ok1", json!([]))];
        let doc = inventory(&results, &[]);
        assert_eq!(doc["needs_action"]["hosts"], json!(["odd1"]));
        assert_eq!(doc["clean"]["hosts"], json!(["ok1"]));
        // as the host lists have them: stale = needs_action, clean = clean
        let fleet = crate::report::fleet::fleet(&results);
        assert_eq!(fleet.clean, ["ok1"]);
        assert_eq!(
            fleet
                .hosts
                .iter()
                .map(|h| h.host.as_str())
                .collect::<Vec<_>>(),
            ["odd1"]
        );
    }

    #[test]
    fn group_names_are_ansible_names() {
        assert_eq!(group_suffix("nginx.service"), "nginx");
        assert_eq!(group_suffix("getty@tty1.service"), "getty_tty1");
        assert_eq!(group_suffix("exim4"), "exim4");
        assert_eq!(group_suffix("php8.2-fpm.service"), "php8_2_fpm");
        assert_eq!(group_suffix("user-1000.slice"), "user_1000_slice");
    }

    #[test]
    fn the_file_layout_holds_the_same_groups_and_vars() {
        let doc = json!({"all": {"children": ["needs_restart", "clean", "ungrouped"]},
            "needs_restart": {"hosts": ["h1"]}, "clean": {"hosts": ["h2"]}, "ungrouped": {"hosts": []},
            "_meta": {"hostvars": {"h1": {"ansible_host": "10.0.0.1"}, "h2": {}}}});
        let f = inventory_file(&doc);
        assert_eq!(f["all"]["hosts"]["h1"]["ansible_host"], "10.0.0.1");
        assert!(f["all"]["hosts"]["h2"].is_object());
        assert_eq!(
            f["all"]["children"]["needs_restart"]["hosts"],
            json!({"h1": null})
        );
        assert_eq!(f["all"]["children"]["clean"]["hosts"], json!({"h2": null}));
        assert!(f["all"]["children"].get("ungrouped").is_none());
    }

    #[test]
    fn the_script_prints_the_document_verbatim() {
        let doc = json!({"all": {"children": ["x"]}, "x": {"hosts": ["$(reboot)", "`id`"]}, "_meta": {"hostvars": {}}});
        let s = script(&doc);
        let dir = std::env::temp_dir().join(format!("fr-invscript-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("inv.sh");
        std::fs::write(&p, &s).unwrap();
        let out = std::process::Command::new("sh")
            .arg(&p)
            .arg("--list")
            .output()
            .unwrap();
        let back: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(back, doc);
        let out = std::process::Command::new("sh")
            .arg(&p)
            .args(["--host", "x"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "{}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
