//! Ansible's YAML inventory format: top-level groups with `hosts`, `vars` and `children`.
//!
//! Pure: text in, additions to an [`Inventory`] out. Errors carry the line and column of the
//! offending node (serde_norway marks them); unexpected keys in a group are warnings, as in
//! Ansible's yaml plugin.

use super::vault::{self, VaultPassword};
use super::{is_valid_group_name, is_valid_host_name, range, Inventory, InventoryError, Vars};
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::fmt;

/// One group as written: its hosts (ranges expanded), vars and child groups.
#[derive(Debug, Default)]
struct YGroup {
    hosts: Vec<(String, Vars)>,
    vars: Vars,
    children: Vec<(String, YGroup)>,
    unexpected: Vec<String>,
}

/// `host: null` or `host: {vars}` entries, in order; names validated and ranges expanded.
struct YHosts(Vec<(String, Vars)>);

/// Variables, where `null` means none.
struct YVars(Vars);

/// `group: null` or `group: {hosts, vars, children}`, in order.
struct YGroups(Vec<(String, YGroup)>);

impl<'de> Deserialize<'de> for YVars {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v: Option<Vars> = Option::deserialize(d)?;
        Ok(YVars(v.unwrap_or_default()))
    }
}

impl<'de> Deserialize<'de> for YHosts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = YHosts;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of host names (each with null or a mapping of variables)")
            }
            fn visit_unit<E: de::Error>(self) -> Result<YHosts, E> {
                Ok(YHosts(Vec::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<YHosts, A::Error> {
                let mut out = Vec::new();
                while let Some(HostKey(names)) = m.next_key::<HostKey>()? {
                    let vars = m.next_value::<YVars>()?.0;
                    out.extend(names.into_iter().map(|n| (n, vars.clone())));
                }
                Ok(YHosts(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A host key: a string, or a number written bare (`10:` is host "10" for Ansible too); ranges
/// expanded and names checked here, so that errors point at the key.
struct HostKey(Vec<String>);

impl<'de> Deserialize<'de> for HostKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        let name = match v {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            other => {
                return Err(de::Error::custom(format!(
                    "expected a host name, found {other}"
                )))
            }
        };
        let names = range::expand(&name).map_err(de::Error::custom)?;
        for n in &names {
            if !is_valid_host_name(n) {
                return Err(de::Error::custom(format!(
                    "invalid host name {n:?} (expected letters, digits, '.', '-', '_', ':')"
                )));
            }
        }
        Ok(HostKey(names))
    }
}

/// A group name, checked while the key is read (so errors point at it).
struct GroupKey(String);

impl<'de> Deserialize<'de> for GroupKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        if !is_valid_group_name(&name) {
            return Err(de::Error::custom(format!(
                "invalid group name {name:?} (expected letters, digits and '_')"
            )));
        }
        Ok(GroupKey(name))
    }
}

impl<'de> Deserialize<'de> for YGroups {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = YGroups;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of group names")
            }
            fn visit_unit<E: de::Error>(self) -> Result<YGroups, E> {
                Ok(YGroups(Vec::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<YGroups, A::Error> {
                let mut out = Vec::new();
                while let Some(GroupKey(name)) = m.next_key::<GroupKey>()? {
                    let g = m.next_value::<YGroup>()?;
                    out.push((name, g));
                }
                Ok(YGroups(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for YGroup {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = YGroup;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a group: null or a mapping with hosts, vars and children")
            }
            fn visit_unit<E: de::Error>(self) -> Result<YGroup, E> {
                Ok(YGroup::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<YGroup, A::Error> {
                let mut g = YGroup::default();
                while let Some(key) = m.next_key::<String>()? {
                    match key.as_str() {
                        "hosts" => g.hosts.extend(m.next_value::<YHosts>()?.0),
                        "vars" => g.vars.extend(m.next_value::<YVars>()?.0),
                        "children" => g.children.extend(m.next_value::<YGroups>()?.0),
                        _ => {
                            m.next_value::<IgnoredAny>()?;
                            g.unexpected.push(key);
                        }
                    }
                }
                Ok(g)
            }
        }
        d.deserialize_any(V)
    }
}

fn apply(inv: &mut Inventory, file: &str, name: &str, g: YGroup) {
    inv.ensure_group(name);
    for k in g.unexpected {
        inv.warnings.push(format!(
            "{file}: skipping key {k:?} in group {name:?}: expected hosts, vars or children"
        ));
    }
    for (h, vars) in g.hosts {
        inv.add_host(name, &h, vars);
    }
    inv.merge_group_vars(name, g.vars);
    for (child, cg) in g.children {
        inv.add_child(name, &child);
        apply(inv, file, &child, cg);
    }
}

/// A serde_norway error as an [`InventoryError`] at its line and column, after `context`.
pub(super) fn located(file: &str, context: &str, e: serde_norway::Error) -> InventoryError {
    InventoryError::yaml(file, context, &e)
}

/// serde_norway places errors raised while reading a key at the start of the enclosing
/// mapping; for a bad host or group name, point at the line that holds the name instead.
fn refine(mut e: InventoryError, text: &str) -> InventoryError {
    let (Some(line), Some(q1)) = (e.line, e.message.find('"')) else {
        return e;
    };
    let Some(len) = e.message[q1 + 1..].find('"') else {
        return e;
    };
    let name = &e.message[q1 + 1..q1 + 1 + len];
    if name.is_empty() || !e.message.contains("invalid") {
        return e;
    }
    if let Some((i, l)) = text
        .lines()
        .enumerate()
        .skip(line - 1)
        .find(|(_, l)| l.contains(name))
    {
        e.line = Some(i + 1);
        e.column = l.find(name).map(|c| c + 1);
    }
    e
}

/// Reads a YAML inventory into `inv`, its `!vault` values opened with `vault`.
pub fn parse(
    inv: &mut Inventory,
    file: &str,
    text: &str,
    vault: &[VaultPassword],
) -> Result<(), InventoryError> {
    let top: YGroups = from_yaml(file, "", text, vault)?;
    for (name, g) in top.0 {
        apply(inv, file, &name, g);
    }
    Ok(())
}

/// `text` as a `T`, its `!vault` values decrypted with `vault`, or, when none of the passwords
/// opens one (or none was given), replaced by a [`vault::VAULTED`] map saying where it is.
/// Without a `!vault` tag the text is read directly (errors keep their line and column).
pub(super) fn from_yaml<T: serde::de::DeserializeOwned>(
    file: &str,
    context: &str,
    text: &str,
    vault: &[VaultPassword],
) -> Result<T, InventoryError> {
    if !text.contains("!vault") {
        return serde_norway::from_str(text).map_err(|e| refine(located(file, context, e), text));
    }
    let mut v: serde_norway::Value =
        serde_norway::from_str(text).map_err(|e| refine(located(file, context, e), text))?;
    let mut places = Places {
        file,
        text,
        seen: Default::default(),
    };
    unvault(&mut v, "", vault, &mut places, 0);
    serde_norway::from_value(v)
        .map_err(|e| InventoryError::new(file, None, None, format!("{context}{e}")))
}

/// Finds the line of the n-th `KEY: !vault` of a file.
struct Places<'a> {
    file: &'a str,
    text: &'a str,
    seen: std::collections::HashMap<String, usize>,
}

impl Places<'_> {
    fn of(&mut self, key: &str) -> String {
        let n = self.seen.entry(key.to_string()).or_default();
        let line = self
            .text
            .lines()
            .enumerate()
            .filter(|(_, l)| {
                let l = l.trim_start().trim_start_matches("- ");
                l.strip_prefix(key)
                    .and_then(|r| r.trim_start().strip_prefix(':'))
                    .is_some_and(|r| r.trim_start().starts_with("!vault"))
            })
            .nth(*n)
            .map(|(i, _)| i + 1);
        *n += 1;
        match line {
            Some(l) => format!("{}:{l}", self.file),
            None => self.file.to_string(),
        }
    }
}

fn unvault(
    v: &mut serde_norway::Value,
    key: &str,
    vault: &[VaultPassword],
    places: &mut Places,
    depth: usize,
) {
    use serde_norway::Value;
    if depth > 64 {
        return;
    }
    match v {
        Value::Tagged(t) if t.tag.to_string().trim_start_matches('!') == "vault" => {
            let text = t.value.as_str().unwrap_or("");
            *v = match vault::decrypt(text, vault) {
                Ok(plain) => Value::String(plain.expose().to_string()),
                Err(e) => {
                    let mut m = serde_norway::Mapping::new();
                    let why = format!("{}: {e}", places.of(key));
                    m.insert(Value::String(vault::VAULTED.into()), Value::String(why));
                    Value::Mapping(m)
                }
            };
        }
        Value::Mapping(m) => {
            for (k, val) in m.iter_mut() {
                let k = k.as_str().unwrap_or("").to_string();
                unvault(val, &k, vault, places, depth + 1);
            }
        }
        Value::Sequence(s) => {
            for val in s.iter_mut() {
                unvault(val, key, vault, places, depth + 1);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn load(text: &str) -> Inventory {
        let mut inv = Inventory::new();
        parse(&mut inv, "inv.yml", text, &[]).unwrap();
        inv.finish().unwrap();
        inv
    }

    /// The example from Ansible's inventory guide.
    #[test]
    fn ansible_guide_example() {
        let inv = load(
            "all:\n  hosts:\n    mail.example.com:\n  children:\n    webservers:\n      hosts:\n        foo.example.com:\n        bar.example.com:\n    dbservers:\n      hosts:\n        one.example.com:\n        two.example.com:\n        three.example.com:\n    east:\n      hosts:\n        foo.example.com:\n        one.example.com:\n        two.example.com:\n    west:\n      hosts:\n        bar.example.com:\n        three.example.com:\n    prod:\n      children:\n        east:\n    test:\n      children:\n        west:\n",
        );
        assert_eq!(inv.hosts.len(), 6);
        assert_eq!(
            inv.group_hosts("prod"),
            ["foo.example.com", "one.example.com", "two.example.com"]
        );
        assert_eq!(inv.group_hosts("ungrouped"), ["mail.example.com"]);
        assert!(inv.groups_of("three.example.com").contains("test"));
    }

    #[test]
    fn ranges_vars_and_top_level_groups_without_all() {
        let inv = load(
            "webservers:\n  hosts:\n    www[01:03].example.com:\n      http_port: 80\n  vars:\n    ntp: ntp.example.com\nungrouped:\n  hosts:\n    db-[a:b]:\n",
        );
        assert_eq!(
            inv.group_hosts("webservers"),
            [
                "www01.example.com",
                "www02.example.com",
                "www03.example.com"
            ]
        );
        assert_eq!(inv.host_vars["www02.example.com"]["http_port"], json!(80));
        assert_eq!(
            inv.groups["webservers"].vars["ntp"],
            json!("ntp.example.com")
        );
        assert_eq!(inv.group_hosts("ungrouped"), ["db-a", "db-b"]);
    }

    #[test]
    fn errors_name_line_and_column() {
        let mut inv = Inventory::new();
        let e = parse(
            &mut inv,
            "inv.yml",
            "all:\n  hosts:\n    - a\n    - b\n",
            &[],
        )
        .unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("inv.yml", Some(3)));
        assert!(e.message.contains("mapping of host names"), "{e}");
        let e = parse(
            &mut inv,
            "inv.yml",
            "all:\n  hosts:\n    ok:\n    \"bad;name\":\n",
            &[],
        )
        .unwrap_err();
        assert_eq!(e.line, Some(4), "{e}");
        assert!(e.message.contains("invalid host name"), "{e}");
        let e = parse(&mut inv, "inv.yml", "all:\n  hosts:\n    w[3:1]:\n", &[]).unwrap_err();
        assert!(e.message.contains("backwards"), "{e}");
        let e = parse(&mut inv, "inv.yml", "all:\n  hosts: [\n", &[]).unwrap_err();
        assert!(e.line.is_some(), "{e}");
    }

    #[test]
    fn unexpected_keys_warn() {
        let inv = load("all:\n  host:\n    a:\n  hosts:\n    b:\n");
        assert_eq!(inv.hosts, ["b"]);
        assert!(
            inv.warnings[0].contains("skipping key \"host\""),
            "{:?}",
            inv.warnings
        );
    }
}
