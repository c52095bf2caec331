//! Inventory: Ansible-compatible host sources, merged into one [`Inventory`] of groups, hosts and
//! variables.
//!
//! Loading (I/O) lives in [`load`]; the formats are parsed by [`yaml`], [`ini`] and [`json`]
//! (pure: text in, additions to an [`Inventory`] out); [`vars`] resolves a host's variables with
//! Ansible's precedence; [`pattern`] selects hosts; [`range`] expands `web[01:50]`.
//!
//! Invariants: every host is in `all`; a host in no group but `all` is in `ungrouped`; group
//! children form no cycle; host and group names are validated when they enter.

pub mod ini;
pub mod json;
pub mod load;
pub mod pattern;
pub mod range;
pub mod template;
pub mod vars;
pub mod vault;
pub mod yaml;

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Variables: names to JSON-like values (YAML scalars, lists and maps fit).
pub type Vars = Map<String, Value>;

/// An inventory error, located in its source when the place is known.
pub type InventoryError = fleetrestart_scan::located::Located;

#[derive(Debug, Clone, Default)]
pub struct Group {
    /// Hosts listed directly in this group, in order of appearance (changed only through
    /// [`Group::add`] and [`Group::keep`], which keep `members` in step).
    pub hosts: Vec<String>,
    /// Child groups, in order of appearance.
    pub children: Vec<String>,
    pub vars: Vars,
    /// The same hosts as a set: adding a host is O(1), not a scan of the group (a fuzzed
    /// inventory of 32 000 hosts in one group took over 10 s).
    members: HashSet<String>,
}

impl Group {
    /// Adds `host` unless listed already.
    pub fn add(&mut self, host: &str) {
        if self.members.insert(host.to_string()) {
            self.hosts.push(host.to_string());
        }
    }

    pub fn has(&self, host: &str) -> bool {
        self.members.contains(host)
    }

    /// Keeps the hosts `keep` says yes to.
    fn keep(&mut self, keep: impl Fn(&String) -> bool) {
        self.hosts.retain(|h| keep(h));
        self.members.retain(|h| keep(h));
    }
}

/// Hosts, groups and their variables from every source.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// Every host, in order of first appearance.
    pub hosts: Vec<String>,
    host_index: HashMap<String, usize>,
    pub groups: BTreeMap<String, Group>,
    /// Variables given on the host itself (inline, host entry, `host_vars/`).
    pub host_vars: HashMap<String, Vars>,
    /// Things Ansible would warn about (an unexpected key, a pattern that matched nothing).
    pub warnings: Vec<String>,
}

/// Host names: what a DNS name, an IPv4/IPv6 address or an Ansible alias can hold; nothing a
/// shell or ssh option parser would read as syntax.
pub fn is_valid_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-:%".contains(&b))
}

/// Group names: Ansible's rule (letters, digits, underscores; `-` is accepted with a warning by
/// Ansible, so we accept it too).
pub fn is_valid_group_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

impl Inventory {
    pub fn new() -> Self {
        let mut inv = Inventory::default();
        inv.ensure_group("all");
        inv.ensure_group("ungrouped");
        inv
    }

    pub fn ensure_group(&mut self, name: &str) -> &mut Group {
        self.groups.entry(name.to_string()).or_default()
    }

    pub fn has_host(&self, host: &str) -> bool {
        self.host_index.contains_key(host)
    }

    /// Adds `host` (if new) to `group` (created if needed), merging `vars` into its host vars.
    pub fn add_host(&mut self, group: &str, host: &str, vars: Vars) {
        if !self.host_index.contains_key(host) {
            self.host_index.insert(host.to_string(), self.hosts.len());
            self.hosts.push(host.to_string());
        }
        self.ensure_group(group).add(host);
        let hv = self.host_vars.entry(host.to_string()).or_default();
        for (k, v) in vars {
            hv.insert(k, v);
        }
    }

    pub fn add_child(&mut self, parent: &str, child: &str) {
        self.ensure_group(child);
        let g = self.ensure_group(parent);
        if !g.children.iter().any(|c| c == child) {
            g.children.push(child.to_string());
        }
    }

    pub fn merge_group_vars(&mut self, group: &str, vars: Vars) {
        let g = self.ensure_group(group);
        for (k, v) in vars {
            g.vars.insert(k, v);
        }
    }

    /// Completes the structure after all sources are read: top-level groups become children
    /// of `all`, hosts in no group go to `ungrouped`, and cycles are refused.
    pub fn finish(&mut self) -> Result<(), String> {
        let mut has_parent: BTreeSet<String> = BTreeSet::new();
        for g in self.groups.values() {
            has_parent.extend(g.children.iter().cloned());
        }
        let tops: Vec<String> = self
            .groups
            .keys()
            .filter(|n| *n != "all" && !has_parent.contains(*n))
            .cloned()
            .collect();
        for t in tops {
            self.add_child("all", &t);
        }
        if let Some(cycle) = self.find_cycle() {
            return Err(format!("groups form a cycle: {}", cycle.join(" -> ")));
        }
        let grouped: BTreeSet<String> = self
            .groups
            .iter()
            .filter(|(n, _)| *n != "all" && *n != "ungrouped")
            .flat_map(|(_, g)| g.hosts.iter().cloned())
            .collect();
        let lonely: Vec<String> = self
            .hosts
            .iter()
            .filter(|h| !grouped.contains(*h))
            .cloned()
            .collect();
        // hosts written directly under all belong in ungrouped too (Ansible's reconciliation)
        self.groups.get_mut("all").expect("exists").keep(|_| false);
        let ug = self.ensure_group("ungrouped");
        for h in lonely {
            ug.add(&h);
        }
        // a host listed in a real group is not ungrouped (Ansible removes it)
        let ug = self.groups.get_mut("ungrouped").expect("exists");
        ug.keep(|h| !grouped.contains(h));
        Ok(())
    }

    fn find_cycle(&self) -> Option<Vec<String>> {
        // iterative DFS with colours: 0 new, 1 on stack, 2 done
        let mut colour: HashMap<&str, u8> = HashMap::new();
        for start in self.groups.keys() {
            if colour.get(start.as_str()).copied().unwrap_or(0) != 0 {
                continue;
            }
            let mut stack: Vec<(&str, usize)> = vec![(start.as_str(), 0)];
            colour.insert(start, 1);
            while let Some((node, i)) = stack.pop() {
                let children = &self.groups[node].children;
                if i < children.len() {
                    stack.push((node, i + 1));
                    let c = children[i].as_str();
                    match colour.get(c).copied().unwrap_or(0) {
                        0 => {
                            colour.insert(c, 1);
                            stack.push((c, 0));
                        }
                        1 => {
                            let mut path: Vec<String> =
                                stack.iter().map(|(n, _)| n.to_string()).collect();
                            let from = path.iter().position(|n| n == c).unwrap_or(0);
                            path.drain(..from);
                            path.push(c.to_string());
                            return Some(path);
                        }
                        _ => {}
                    }
                } else {
                    colour.insert(node, 2);
                }
            }
        }
        None
    }

    /// The hosts of a group and of its descendants in Ansible's order (the group's own hosts,
    /// then its children's level by level), without duplicates; `all` is every host in order
    /// of first appearance.
    pub fn group_hosts(&self, group: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut seen_h: BTreeSet<&str> = BTreeSet::new();
        let mut seen_g: BTreeSet<&str> = BTreeSet::new();
        if group == "all" {
            return self.hosts.clone();
        }
        let mut queue: std::collections::VecDeque<&str> = std::collections::VecDeque::new();
        queue.push_back(group);
        while let Some(name) = queue.pop_front() {
            if !seen_g.insert(name) {
                continue;
            }
            let Some(g) = self.groups.get(name) else {
                continue;
            };
            for h in &g.hosts {
                if seen_h.insert(h) {
                    out.push(h.clone());
                }
            }
            queue.extend(g.children.iter().map(String::as_str));
        }
        out
    }

    /// Every group the host belongs to, directly or through a child group (includes `all`).
    pub fn groups_of(&self, host: &str) -> BTreeSet<String> {
        let mut direct: Vec<&str> = self
            .groups
            .iter()
            .filter(|(_, g)| g.has(host))
            .map(|(n, _)| n.as_str())
            .collect();
        let mut out: BTreeSet<String> = BTreeSet::new();
        out.insert("all".into());
        while let Some(g) = direct.pop() {
            if out.insert(g.to_string()) {
                for (pn, p) in &self.groups {
                    if p.children.iter().any(|c| c == g) && !out.contains(pn) {
                        direct.push(pn);
                    }
                }
            }
        }
        out
    }

    /// Depth of each group: the longest path from `all` (Ansible merges group vars in depth
    /// order, so a child overrides its parent).
    pub fn depths(&self) -> HashMap<String, usize> {
        let mut depth: HashMap<String, usize> = HashMap::new();
        depth.insert("all".into(), 0);
        // longest path in a DAG by repeated relaxation (groups are few)
        let mut changed = true;
        let mut rounds = 0;
        while changed && rounds <= self.groups.len() + 1 {
            changed = false;
            rounds += 1;
            for (name, g) in &self.groups {
                let Some(&d) = depth.get(name) else { continue };
                for c in &g.children {
                    let e = depth.entry(c.clone()).or_insert(0);
                    if *e < d + 1 {
                        *e = d + 1;
                        changed = true;
                    }
                }
            }
        }
        depth
    }
}

#[cfg(test)]
mod big_tests {
    use super::*;

    #[test]
    fn a_group_of_thirty_thousand_hosts_is_read_and_selected() {
        // found by fuzzing: adding a host scanned its group (and selecting scanned the
        // selection), quadratic in the group's size
        let mut inv = Inventory::new();
        let text = "[web]\nweb[00001:30000].example.org\n[db]\nweb[00001:30000].example.org\n";
        ini::parse(&mut inv, "big.ini", text).unwrap();
        inv.finish().unwrap();
        assert_eq!(inv.groups["web"].hosts.len(), 30_000);
        let (hosts, _) = pattern::select(&inv, &["web:db".to_string()], None).unwrap();
        assert_eq!(hosts.len(), 30_000);
        assert_eq!(hosts[29_999], "web30000.example.org");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_valid_host_name("web01.example.com"));
        assert!(is_valid_host_name("10.0.0.1"));
        assert!(is_valid_host_name("fe80::1%eth0"));
        assert!(!is_valid_host_name("-oProxyCommand=x"));
        assert!(!is_valid_host_name("a b"));
        assert!(!is_valid_host_name("a;b"));
        assert!(!is_valid_host_name("$(x)"));
        assert!(is_valid_group_name("web_servers"));
        assert!(!is_valid_group_name("web servers"));
    }

    #[test]
    fn structure_is_completed() {
        let mut inv = Inventory::new();
        inv.add_host("web", "w1", Vars::new());
        inv.add_host("ungrouped", "lonely", Vars::new());
        inv.add_child("prod", "web");
        inv.finish().unwrap();
        assert_eq!(inv.groups["all"].children, ["prod", "ungrouped"]);
        assert_eq!(inv.groups["ungrouped"].hosts, ["lonely"]);
        assert_eq!(inv.group_hosts("prod"), ["w1"]);
        assert_eq!(
            inv.groups_of("w1").into_iter().collect::<Vec<_>>(),
            ["all", "prod", "web"]
        );
        let d = inv.depths();
        assert_eq!((d["prod"], d["web"]), (1, 2));
    }

    #[test]
    fn cycles_are_refused() {
        let mut inv = Inventory::new();
        inv.add_child("a", "b");
        inv.add_child("b", "c");
        inv.add_child("c", "a");
        let e = inv.finish().unwrap_err();
        assert!(e.contains("cycle"), "{e}");
    }
}
