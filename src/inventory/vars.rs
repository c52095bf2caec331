//! A host's variables with Ansible's inventory precedence, and Ansible's reading of booleans.
//!
//! Pure. Low to high: `all`, then groups by depth (a parent before its child), groups of the same
//! depth by `ansible_group_priority` then name, then the host's own variables.

use super::{Inventory, Vars};
use serde_json::Value;

/// The variables that apply to `host`.
pub fn host_vars(inv: &Inventory, host: &str) -> Vars {
    let depths = inv.depths();
    let mut groups: Vec<(usize, i64, String)> = inv
        .groups_of(host)
        .into_iter()
        .map(|g| {
            let prio = inv.groups[&g]
                .vars
                .get("ansible_group_priority")
                .and_then(|v| match v {
                    Value::Number(n) => n.as_i64(),
                    Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                })
                .unwrap_or(1);
            (depths.get(&g).copied().unwrap_or(1), prio, g)
        })
        .collect();
    groups.sort();
    let mut out = Vars::new();
    for (_, _, g) in groups {
        for (k, v) in &inv.groups[&g].vars {
            out.insert(k.clone(), v.clone());
        }
    }
    if let Some(hv) = inv.host_vars.get(host) {
        for (k, v) in hv {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// Ansible's boolean conversion: yes/no, on/off, true/false, y/n, t/f, 1/0 (any case), and
/// YAML booleans and numbers. Anything else is an error naming the value.
pub fn as_bool(v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_f64() == Some(1.0) => Ok(true),
        Value::Number(n) if n.as_f64() == Some(0.0) => Ok(false),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" | "on" | "1" | "true" | "t" | "1.0" => Ok(true),
            "n" | "no" | "off" | "0" | "false" | "f" | "0.0" | "" => Ok(false),
            _ => Err(format!(
                "{s:?} is not a boolean (use yes/no, true/false, on/off)"
            )),
        },
        Value::Null => Ok(false),
        other => Err(format!("{other} is not a boolean")),
    }
}

/// A variable as a string (numbers are written out), or `None` when absent or null.
pub fn as_string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "True".into() } else { "False".into() }),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: Value) -> Vars {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn precedence_all_parent_child_host() {
        let mut inv = Inventory::new();
        inv.add_host("atlanta", "h1", vars(json!({"x": "host"})));
        inv.add_host("atlanta", "h2", Vars::new());
        inv.add_child("southeast", "atlanta");
        inv.merge_group_vars("all", vars(json!({"x": "all", "y": "all", "z": "all"})));
        inv.merge_group_vars("southeast", vars(json!({"x": "parent", "y": "parent"})));
        inv.merge_group_vars("atlanta", vars(json!({"y": "child"})));
        inv.finish().unwrap();
        let h1 = host_vars(&inv, "h1");
        assert_eq!(
            (h1["x"].clone(), h1["y"].clone(), h1["z"].clone()),
            (json!("host"), json!("child"), json!("all"))
        );
        let h2 = host_vars(&inv, "h2");
        assert_eq!(h2["x"], json!("parent"));
    }

    #[test]
    fn same_depth_groups_merge_by_priority_then_name() {
        let mut inv = Inventory::new();
        inv.add_host("a_group", "h", Vars::new());
        inv.add_host("b_group", "h", Vars::new());
        inv.merge_group_vars("a_group", vars(json!({"v": "a"})));
        inv.merge_group_vars("b_group", vars(json!({"v": "b"})));
        inv.finish().unwrap();
        assert_eq!(host_vars(&inv, "h")["v"], json!("b"));
        inv.merge_group_vars("a_group", vars(json!({"ansible_group_priority": 10})));
        assert_eq!(host_vars(&inv, "h")["v"], json!("a"));
    }

    #[test]
    fn booleans_as_ansible_reads_them() {
        for t in [
            json!(true),
            json!("yes"),
            json!("True"),
            json!("on"),
            json!(1),
            json!("Y"),
        ] {
            assert_eq!(as_bool(&t), Ok(true), "{t}");
        }
        for f in [
            json!(false),
            json!("no"),
            json!("False"),
            json!("off"),
            json!(0),
            json!("n"),
        ] {
            assert_eq!(as_bool(&f), Ok(false), "{f}");
        }
        assert!(as_bool(&json!("maybe"))
            .unwrap_err()
            .contains("not a boolean"));
    }
}
