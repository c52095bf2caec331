//! The map of ARCHITECTURE.md as a check (rust-analyzer's tidy tests are the model): the
//! controller's wings import only downward in the documented order, and no two files of one
//! folder import each other, directly or round a loop.
//!
//! Reads `src/`; the analysis is pure (text in, violations out), on `crate::` and `super::`
//! paths, grouped imports included.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The controller's wings, bottom-up (the order the data flows). A wing may import from the
/// ranks below its own, never from its own rank's other wings nor from above. Keep in step
/// with ARCHITECTURE.md.
pub const ORDER: &[&[&str]] = &[
    &["shell", "glob", "base64", "secret", "exit"],
    &["transport"],
    &["inventory"],
    &["reach"],
    &["audit"],
    &["report", "campaign"],
    &["cli"],
    &["commands"],
];

fn rank(wing: &str) -> Option<usize> {
    ORDER.iter().position(|r| r.contains(&wing))
}

/// One source file: its path below `src/` (`campaign/host.rs`) and its text.
pub struct Source {
    pub path: String,
    pub text: String,
}

/// Every `.rs` file below `src` (`lib.rs` and `main.rs` declare, they are not a wing).
pub fn read_sources(src: &Path) -> Vec<Source> {
    let mut out = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(src).unwrap().to_string_lossy().into_owned();
                if rel != "lib.rs" && rel != "main.rs" {
                    let text = std::fs::read_to_string(&p).unwrap_or_default();
                    out.push(Source { path: rel, text });
                }
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// The first segments of every path that starts with `prefix` (`crate::` or `super::`) in the
/// code (comments skipped), each with its 1-based line; `prefix::{a, b::c}` gives `a` and `b`.
/// A file's unit tests (from its `#[cfg(test)]` on) are not part of the map.
fn heads(text: &str, prefix: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim() == "#[cfg(test)]" {
            break;
        }
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find(prefix) {
            let before = rest[..i].chars().next_back();
            rest = &rest[i + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                let mut depth = 0;
                let mut item = String::new();
                let mut at_start = true;
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            if !item.is_empty() {
                                out.push((std::mem::take(&mut item), n + 1));
                            }
                            at_start = true;
                            continue;
                        }
                        _ => {}
                    }
                    if depth == 0 && at_start {
                        if c.is_alphanumeric() || c == '_' {
                            item.push(c);
                        } else if !item.is_empty() {
                            out.push((std::mem::take(&mut item), n + 1));
                            at_start = false;
                        }
                    }
                }
                if !item.is_empty() {
                    out.push((item, n + 1));
                }
            } else {
                let head: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !head.is_empty() {
                    out.push((head, n + 1));
                }
            }
        }
    }
    out
}

/// The wing of a file: its folder, or its own name at the top.
fn wing_of(path: &str) -> &str {
    match path.split_once('/') {
        Some((dir, _)) => dir,
        None => path.trim_end_matches(".rs"),
    }
}

/// Imports against [`ORDER`], one line each: `file:line: wing imports other (rank …)`.
pub fn layer_violations(sources: &[Source]) -> Vec<String> {
    let mut out = Vec::new();
    for s in sources {
        let wing = wing_of(&s.path);
        let Some(own) = rank(wing) else {
            out.push(format!(
                "src/{}: wing `{wing}` is not in the layer order (xtask/src/tidy.rs ORDER, ARCHITECTURE.md)",
                s.path
            ));
            continue;
        };
        for (head, line) in heads(&s.text, "crate::") {
            if head == wing {
                continue;
            }
            match rank(&head) {
                Some(r) if r < own => {}
                Some(_) => out.push(format!(
                    "src/{}:{line}: `{wing}` imports `{head}`, which is not below it in the layer order",
                    s.path
                )),
                None => {}
            }
        }
    }
    out
}

/// The sibling modules each file of a folder imports: `folder/file` → {`folder/other`}.
fn sibling_edges(sources: &[Source]) -> BTreeMap<String, BTreeSet<String>> {
    let modules: BTreeSet<String> = sources
        .iter()
        .map(|s| {
            let p = s.path.trim_end_matches(".rs");
            p.strip_suffix("/mod").unwrap_or(p).to_string()
        })
        .collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in sources {
        if s.path.ends_with("/mod.rs") {
            continue; // a folder's root: its children's parent, not their sibling
        }
        let me = s.path.trim_end_matches(".rs").to_string();
        let Some((folder, _)) = me.rsplit_once('/') else {
            continue;
        };
        let mut targets: Vec<String> = heads(&s.text, "super::")
            .into_iter()
            .map(|(h, _)| format!("{folder}/{h}"))
            .collect();
        // `crate::folder::sibling` names a sibling too
        let crate_path = format!("crate::{}::", folder.replace('/', "::"));
        targets.extend(
            heads(&s.text, &crate_path)
                .into_iter()
                .map(|(h, _)| format!("{folder}/{h}")),
        );
        for t in targets {
            if t != me && modules.contains(&t) {
                edges.entry(me.clone()).or_default().insert(t);
            }
        }
    }
    edges
}

/// Loops among the files of one folder, each as `a → b → a`.
pub fn cycles(sources: &[Source]) -> Vec<String> {
    let edges = sibling_edges(sources);
    let mut found = BTreeSet::new();
    for start in edges.keys() {
        // depth-first from `start`, looking for a way back to it
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            for next in edges.get(&node).into_iter().flatten() {
                if next == start {
                    let mut ring = path.clone();
                    // one spelling per loop: start at its smallest member
                    let min = ring.iter().enumerate().min_by_key(|(_, m)| *m).unwrap().0;
                    ring.rotate_left(min);
                    let first = ring[0].clone();
                    ring.push(first);
                    found.insert(ring.join(" → "));
                } else if seen.insert(next.clone()) {
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((next.clone(), p));
                }
            }
        }
    }
    found
        .into_iter()
        .map(|c| format!("module cycle: {c}"))
        .collect()
}

/// The check `cargo xtask test` runs: every violation, or none.
pub fn check(src: &Path) -> Vec<String> {
    let sources = read_sources(src);
    let mut v = layer_violations(&sources);
    v.extend(cycles(&sources));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(path: &str, text: &str) -> Source {
        Source {
            path: path.into(),
            text: text.into(),
        }
    }

    #[test]
    fn an_import_against_the_order_is_found_with_its_line() {
        let files = [
            src("transport/ssh.rs", "use crate::secret::Secret;\n"),
            src(
                "audit/delivery.rs",
                "use crate::transport::Session;\n// crate::commands in a comment\nfn f() { crate::report::fleet::fleet(&[]); }\n",
            ),
            src("report/fleet.rs", "use crate::{audit, campaign::plan};\n"),
            src("campaign/plan.rs", "use crate::audit::HostResult;\n"),
            src("newwing/x.rs", ""),
        ];
        let v = layer_violations(&files);
        assert_eq!(v.len(), 3, "{v:#?}");
        assert!(v[0].starts_with("src/audit/delivery.rs:3: `audit` imports `report`"));
        assert!(v[1].starts_with("src/report/fleet.rs:1: `report` imports `campaign`"));
        assert!(v[2].contains("`newwing` is not in the layer order"));
    }

    #[test]
    fn a_loop_between_files_of_a_folder_is_found_once() {
        let files = [
            src("campaign/mod.rs", "mod host;\nfn f() { host::run(); }\n"),
            src("campaign/host.rs", "use super::{reboot, Thing};\n"),
            src("campaign/reboot.rs", "use super::hold;\n"),
            src("campaign/hold.rs", "use crate::campaign::host::Worker;\n"),
            src("campaign/plan.rs", "use super::spec::Spec;\n"),
            src("campaign/spec.rs", "use super::Thing;\n"),
        ];
        assert_eq!(
            cycles(&files),
            ["module cycle: campaign/hold → campaign/host → campaign/reboot → campaign/hold"]
        );
    }

    #[test]
    fn the_tree_as_it_is_keeps_the_map() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../src");
        let v = check(&src);
        assert!(v.is_empty(), "{}", v.join("\n"));
    }
}
