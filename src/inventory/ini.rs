//! Ansible's INI inventory format.
//!
//! Pure. Like Ansible: lines before any section are ungrouped hosts; `[g]` lists hosts with
//! inline `k=v` variables (read as Python literals: numbers, True/False, else strings), `host:port`
//! is a shorthand for `ansible_port`; `[g:vars]` values are always strings; `[g:children]` lists
//! groups. `#` and `;` start comment lines. Errors name the file and line.

use super::{is_valid_group_name, is_valid_host_name, range, Inventory, InventoryError, Vars};
use serde_json::Value;

enum Section {
    Hosts(String),
    Vars(String),
    Children(String),
}

/// An inline host variable's value, read like Python's `ast.literal_eval` with a string fallback.
fn literal(v: &str) -> Value {
    match v {
        "True" => return Value::Bool(true),
        "False" => return Value::Bool(false),
        "None" => return Value::Null,
        _ => {}
    }
    if let Ok(i) = v.parse::<i64>() {
        return Value::from(i);
    }
    if v.contains(['.', 'e', 'E']) && !v.starts_with('.') && !v.ends_with('.') {
        if let Ok(f) = v.parse::<f64>() {
            if f.is_finite() {
                return Value::from(f);
            }
        }
    }
    if v.starts_with('[') || v.starts_with('{') {
        if let Ok(j) = serde_json::from_str::<Value>(&v.replace('\'', "\"")) {
            return j;
        }
    }
    Value::String(v.to_string())
}

/// `host`, `host:port` (one colon, digits after it), or `[v6]:port`.
fn split_port(s: &str) -> (String, Option<u16>) {
    if let Some(rest) = s.strip_prefix('[') {
        if let Some((h, p)) = rest.split_once("]:") {
            if let Ok(p) = p.parse() {
                return (h.to_string(), Some(p));
            }
        }
    }
    if s.matches(':').count() == 1 && !s.contains('[') {
        let (h, p) = s.split_once(':').expect("one colon");
        if let Ok(p) = p.parse() {
            return (h.to_string(), Some(p));
        }
    }
    if let Some(close) = s.rfind(']') {
        // a range, then maybe :port after it: web[01:03]:2222
        if let Some(p) = s[close + 1..].strip_prefix(':') {
            if let Ok(p) = p.parse() {
                return (s[..close + 1].to_string(), Some(p));
            }
        }
    }
    (s.to_string(), None)
}

/// Reads an INI inventory into `inv`.
pub fn parse(inv: &mut Inventory, file: &str, text: &str) -> Result<(), InventoryError> {
    let mut section = Section::Hosts("ungrouped".into());
    for (i, raw) in text.lines().enumerate() {
        let lineno = i + 1;
        let err = |m: String| InventoryError::new(file, Some(lineno), None, m);
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            let Some(inner) = line.strip_prefix('[').and_then(|l| {
                let end = l.find(']')?;
                let after = l[end + 1..].trim();
                (after.is_empty() || after.starts_with('#') || after.starts_with(';'))
                    .then(|| &l[..end])
            }) else {
                return Err(err(format!("expected a section header like [group], [group:vars] or [group:children], found {line:?}")));
            };
            let (name, kind) = match inner.split_once(':') {
                Some((n, k)) => (n, Some(k)),
                None => (inner, None),
            };
            if !is_valid_group_name(name) {
                return Err(err(format!(
                    "invalid group name {name:?} (expected letters, digits and '_')"
                )));
            }
            section = match kind {
                None => Section::Hosts(name.into()),
                Some("vars") => Section::Vars(name.into()),
                Some("children") => Section::Children(name.into()),
                Some(k) => {
                    return Err(err(format!(
                        "unknown section type {k:?} (expected vars or children)"
                    )))
                }
            };
            inv.ensure_group(name);
            continue;
        }
        match &section {
            Section::Hosts(group) => {
                let words = crate::shell::shlex_split(line).map_err(&err)?;
                let Some((first, rest)) = words.split_first() else {
                    continue;
                };
                let (pat, port) = split_port(first);
                let names = range::expand(&pat).map_err(&err)?;
                let mut vars = Vars::new();
                if let Some(p) = port {
                    vars.insert("ansible_port".into(), Value::from(p));
                }
                for w in rest {
                    let Some((k, v)) = w.split_once('=') else {
                        return Err(err(format!(
                            "expected key=value after the host name, found {w:?}"
                        )));
                    };
                    vars.insert(k.to_string(), literal(v));
                }
                for n in names {
                    if !is_valid_host_name(&n) {
                        return Err(err(format!(
                            "invalid host name {n:?} (expected letters, digits, '.', '-', '_', ':')"
                        )));
                    }
                    inv.add_host(group, &n, vars.clone());
                }
            }
            Section::Vars(group) => {
                let Some((k, v)) = line.split_once('=') else {
                    return Err(err(format!(
                        "expected key=value in [{group}:vars], found {line:?}"
                    )));
                };
                let mut vars = Vars::new();
                // :vars values are strings (quotes removed as Ansible does)
                let v = v.trim();
                let v = crate::shell::shlex_split(v)
                    .ok()
                    .filter(|w| w.len() == 1)
                    .map(|mut w| w.remove(0))
                    .unwrap_or_else(|| v.to_string());
                vars.insert(k.trim().to_string(), Value::String(v));
                inv.merge_group_vars(group, vars);
            }
            Section::Children(group) => {
                let child = line.split_whitespace().next().unwrap_or_default();
                if !is_valid_group_name(child) {
                    return Err(err(format!(
                        "invalid group name {child:?} in [{group}:children]"
                    )));
                }
                inv.add_child(group, child);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn load(text: &str) -> Inventory {
        let mut inv = Inventory::new();
        parse(&mut inv, "hosts", text).unwrap();
        inv.finish().unwrap();
        inv
    }

    /// Examples from Ansible's inventory guide.
    #[test]
    fn ansible_guide_examples() {
        let inv = load(
            "mail.example.com\nbadwolf.example.com:5309\n\n[webservers]\nwww[01:50].example.com\n\n[atlanta]\nhost1 http_port=80 maxRequestsPerChild=808\nhost2 http_port=303 maxRequestsPerChild=909\n\n[atlanta:vars]\nntp_server=ntp.atlanta.example.com\nproxy=proxy.atlanta.example.com\n\n[southeast:children]\natlanta\nraleigh\n\n[raleigh]\nhost3\njumper ansible_port=5555 ansible_host=192.0.2.50\n",
        );
        assert_eq!(inv.group_hosts("webservers").len(), 50);
        assert_eq!(inv.group_hosts("webservers")[0], "www01.example.com");
        assert_eq!(
            inv.group_hosts("ungrouped"),
            ["mail.example.com", "badwolf.example.com"]
        );
        assert_eq!(
            inv.host_vars["badwolf.example.com"]["ansible_port"],
            json!(5309)
        );
        assert_eq!(inv.host_vars["host1"]["http_port"], json!(80));
        assert_eq!(inv.host_vars["jumper"]["ansible_host"], json!("192.0.2.50"));
        assert_eq!(
            inv.groups["atlanta"].vars["ntp_server"],
            json!("ntp.atlanta.example.com")
        );
        assert_eq!(
            inv.group_hosts("southeast"),
            ["host1", "host2", "host3", "jumper"]
        );
    }

    #[test]
    fn value_typing_follows_location() {
        let inv = load(
            "[g]\nh a=FALSE b=True c=1.5 d='x y' e=yes\n[g:vars]\nf=FALSE\ng=\"quoted value\"\n",
        );
        let hv = &inv.host_vars["h"];
        assert_eq!(
            (hv["a"].clone(), hv["b"].clone(), hv["c"].clone()),
            (json!("FALSE"), json!(true), json!(1.5))
        );
        assert_eq!(
            (hv["d"].clone(), hv["e"].clone()),
            (json!("x y"), json!("yes"))
        );
        assert_eq!(inv.groups["g"].vars["f"], json!("FALSE"));
        assert_eq!(inv.groups["g"].vars["g"], json!("quoted value"));
    }

    #[test]
    fn comments_ports_and_ranges() {
        let inv = load("; comment\n# comment\n[db]\ndb[1:2]:2200 # trailing comment\nfe80::1\n");
        assert_eq!(inv.group_hosts("db"), ["db1", "db2", "fe80::1"]);
        assert_eq!(inv.host_vars["db2"]["ansible_port"], json!(2200));
        assert!(!inv.host_vars["fe80::1"].contains_key("ansible_port"));
    }

    #[test]
    fn errors_name_the_line() {
        for (text, line, what) in [
            ("[web\nh1\n", 1, "section header"),
            ("[web]\nh1 port\n", 2, "key=value"),
            ("[web]\n\nh;rm\n", 3, "invalid host name"),
            ("[web:vars]\nnovalue\n", 2, "key=value"),
            ("[web:kids]\n", 1, "unknown section type"),
            ("[web]\nw[5:1]\n", 2, "backwards"),
            ("[web]\nh a='open\n", 2, "unterminated"),
        ] {
            let mut inv = Inventory::new();
            let e = parse(&mut inv, "hosts", text).unwrap_err();
            assert_eq!(e.line, Some(line), "{text:?}: {e}");
            assert!(e.to_string().contains(what), "{text:?}: {e}");
            assert!(e.to_string().starts_with(&format!("hosts:{line}: ")), "{e}");
        }
    }
}
