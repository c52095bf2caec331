//! The JSON of `ansible-inventory --list` and of dynamic inventory scripts.
//!
//! Pure. Shape: `{"_meta": {"hostvars": {host: vars}}, group: {"hosts": [...], "vars": {...},
//! "children": [...]}, group2: [host, ...]}`. When `_meta` is missing, Ansible asks the script
//! `--host NAME` for each host; [`parse`] says so and the loader does it.

use super::{is_valid_group_name, is_valid_host_name, Inventory, InventoryError, Vars};
use serde_json::Value;

/// True when the document is the `--list` JSON shape rather than a YAML-style inventory
/// written as JSON (both are accepted with a `.json` extension).
pub fn looks_like_list_output(v: &Value) -> bool {
    let Some(o) = v.as_object() else { return false };
    o.contains_key("_meta")
        || o.values().any(|g| {
            g.is_array()
                || g.get("hosts").is_some_and(|h| h.is_array())
                || g.get("children").is_some_and(|c| c.is_array())
        })
}

/// Reads `--list` JSON into `inv`. Returns whether host variables were included (`_meta`).
pub fn parse(inv: &mut Inventory, file: &str, text: &str) -> Result<bool, InventoryError> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| InventoryError::json(file, "invalid JSON: ", &e))?;
    parse_value(inv, file, &v)
}

pub fn parse_value(inv: &mut Inventory, file: &str, v: &Value) -> Result<bool, InventoryError> {
    let err = |m: String| InventoryError::new(file, None, None, m);
    let Some(top) = v.as_object() else {
        return Err(err("expected a JSON object of groups".into()));
    };
    let check_host = |h: &str| {
        if is_valid_host_name(h) {
            Ok(())
        } else {
            Err(err(format!("invalid host name {h:?}")))
        }
    };
    let str_list = |v: &Value, what: &str, group: &str| -> Result<Vec<String>, InventoryError> {
        let arr = v
            .as_array()
            .ok_or_else(|| err(format!("group {group:?}: {what} must be a list of names")))?;
        arr.iter()
            .map(|x| {
                x.as_str().map(str::to_string).ok_or_else(|| {
                    err(format!(
                        "group {group:?}: {what} must be a list of names, found {x}"
                    ))
                })
            })
            .collect()
    };
    for (name, g) in top {
        if name == "_meta" {
            continue;
        }
        if !is_valid_group_name(name) {
            return Err(err(format!("invalid group name {name:?}")));
        }
        inv.ensure_group(name);
        match g {
            Value::Array(_) => {
                for h in str_list(g, "hosts", name)? {
                    check_host(&h)?;
                    inv.add_host(name, &h, Vars::new());
                }
            }
            Value::Object(o) => {
                for (k, val) in o {
                    match k.as_str() {
                        "hosts" => {
                            for h in str_list(val, "hosts", name)? {
                                check_host(&h)?;
                                inv.add_host(name, &h, Vars::new());
                            }
                        }
                        "children" => {
                            for c in str_list(val, "children", name)? {
                                if !is_valid_group_name(&c) {
                                    return Err(err(format!("invalid group name {c:?}")));
                                }
                                inv.add_child(name, &c);
                            }
                        }
                        "vars" => {
                            let vars = val
                                .as_object()
                                .ok_or_else(|| err(format!("group {name:?}: vars must be an object")))?;
                            inv.merge_group_vars(name, vars.clone());
                        }
                        other => inv.warnings.push(format!(
                            "{file}: skipping key {other:?} in group {name:?}: expected hosts, vars or children"
                        )),
                    }
                }
            }
            Value::Null => {}
            other => {
                return Err(err(format!(
                    "group {name:?} must be an object or a list, found {other}"
                )))
            }
        }
    }
    let Some(meta) = top.get("_meta") else {
        return Ok(false);
    };
    if let Some(hv) = meta.get("hostvars") {
        let hv = hv
            .as_object()
            .ok_or_else(|| err("_meta.hostvars must be an object".into()))?;
        for (h, vars) in hv {
            check_host(h)?;
            let vars = vars
                .as_object()
                .ok_or_else(|| err(format!("_meta.hostvars[{h:?}] must be an object")))?;
            if inv.has_host(h) {
                let e = inv.host_vars.entry(h.clone()).or_default();
                e.extend(vars.clone());
            }
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ansible_inventory_list_output() {
        let text = r#"{"_meta": {"hostvars": {"web1": {"ansible_host": "10.0.0.1"}}},
            "all": {"children": ["ungrouped", "web"]},
            "web": {"hosts": ["web1", "web2"], "vars": {"http_port": 80}},
            "db": ["db1"],
            "ungrouped": {"hosts": []}}"#;
        let mut inv = Inventory::new();
        assert!(parse(&mut inv, "inv.json", text).unwrap());
        inv.finish().unwrap();
        assert_eq!(inv.group_hosts("web"), ["web1", "web2"]);
        assert_eq!(inv.host_vars["web1"]["ansible_host"], json!("10.0.0.1"));
        assert_eq!(inv.groups["web"].vars["http_port"], json!(80));
        assert_eq!(inv.group_hosts("db"), ["db1"]);
        assert!(looks_like_list_output(&serde_json::from_str(text).unwrap()));
        assert!(!looks_like_list_output(
            &json!({"all": {"hosts": {"a": null}}})
        ));
    }

    #[test]
    fn without_meta_the_caller_must_ask_per_host() {
        let mut inv = Inventory::new();
        assert!(!parse(&mut inv, "s", r#"{"web": ["a"]}"#).unwrap());
    }

    #[test]
    fn errors() {
        let mut inv = Inventory::new();
        let e = parse(&mut inv, "s", "{\n \"web\": [1]\n}").unwrap_err();
        assert!(e.message.contains("list of names"), "{e}");
        let e = parse(&mut inv, "s", "{\n \"web\": \n").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        let e = parse(&mut inv, "s", r#"{"web": ["$(id)"]}"#).unwrap_err();
        assert!(e.message.contains("invalid host name"), "{e}");
    }
}
