//! Reading inventory sources (the I/O edge of the inventory): files, directories, executable
//! scripts, `host1,host2,` lists, and the `group_vars/` and `host_vars/` beside them.
//!
//! Formats: `.yml`/`.yaml` YAML; `.json` either `ansible-inventory --list` JSON or YAML-style;
//! an executable file is run with `--list` (and `--host H` when it gives no `_meta`); anything
//! else is INI. In a directory, every file is read in name order except Ansible's ignored
//! extensions (`~ .orig .bak .ini .cfg .retry .pyc .pyo`).

use super::vault::{self, VaultError, VaultPassword};
use super::{ini, json, yaml, Inventory, InventoryError, Vars};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const IGNORED_EXTS: &[&str] = &[
    "~", ".orig", ".bak", ".ini", ".cfg", ".retry", ".pyc", ".pyo",
];
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);
const SCRIPT_MAX_OUTPUT: u64 = 64 << 20;
const MAX_INVENTORY_FILE: u64 = 64 << 20;

/// Reads every source (in order, merging) and completes the inventory; vaulted files and
/// values are opened with `vault` (see [`yaml::from_yaml`] for those none opens).
pub fn load(sources: &[String], vault: &[VaultPassword]) -> Result<Inventory, InventoryError> {
    let mut inv = Inventory::new();
    let mut var_dirs: Vec<PathBuf> = Vec::new();
    for src in sources {
        let path = Path::new(src);
        if !path.exists() && src.contains(',') {
            host_list(&mut inv, src)?;
            continue;
        }
        let meta = std::fs::metadata(path).map_err(|e| {
            InventoryError::new(src, None, None, format!("cannot read inventory: {e}"))
        })?;
        if meta.is_dir() {
            let entries = files_in(path, |n| !IGNORED_EXTS.iter().any(|x| n.ends_with(x)))
                .map_err(|e| InventoryError::new(src, None, None, e.to_string()))?;
            for e in entries {
                load_file(&mut inv, &e, vault)?;
            }
            var_dirs.push(path.to_path_buf());
        } else {
            load_file(&mut inv, path, vault)?;
            var_dirs.push(
                path.parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."))
                    .to_path_buf(),
            );
        }
    }
    inv.finish()
        .map_err(|m| InventoryError::new(&sources.join(","), None, None, m))?;
    // JSON sources (ansible-inventory --list output, scripts) carry vaulted values as
    // {"__ansible_vault": ...}
    let origin = format!("an inventory of {}", sources.join(", "));
    for g in inv.groups.values_mut() {
        for v in g.vars.values_mut() {
            vault::open_json(v, vault, &origin);
        }
    }
    for vars in inv.host_vars.values_mut() {
        for v in vars.values_mut() {
            vault::open_json(v, vault, &origin);
        }
    }
    var_dirs.dedup();
    for d in var_dirs {
        load_vars_dirs(&mut inv, &d, vault)?;
    }
    Ok(inv)
}

/// `-i 'web1,web2,'`: a comma-separated host list (ungrouped).
fn host_list(inv: &mut Inventory, src: &str) -> Result<(), InventoryError> {
    for h in src.split(',').map(str::trim).filter(|h| !h.is_empty()) {
        if !super::is_valid_host_name(h) {
            return Err(InventoryError::new(
                src,
                None,
                None,
                format!("invalid host name {h:?} in host list"),
            ));
        }
        inv.add_host("ungrouped", h, Vars::new());
    }
    Ok(())
}

fn read_text(path: &Path) -> Result<String, InventoryError> {
    let name = path.display().to_string();
    let f = std::fs::File::open(path)
        .map_err(|e| InventoryError::new(&name, None, None, format!("cannot read: {e}")))?;
    let mut text = String::new();
    f.take(MAX_INVENTORY_FILE)
        .read_to_string(&mut text)
        .map_err(|e| InventoryError::new(&name, None, None, format!("cannot read: {e}")))?;
    Ok(text)
}

fn load_file(
    inv: &mut Inventory,
    path: &Path,
    vault: &[VaultPassword],
) -> Result<(), InventoryError> {
    let name = path.display().to_string();
    let meta = std::fs::metadata(path)
        .map_err(|e| InventoryError::new(&name, None, None, format!("cannot read: {e}")))?;
    if meta.permissions().mode() & 0o111 != 0 {
        return run_script(inv, path);
    }
    let mut text = read_text(path)?;
    if vault::is_vaulted(&text) {
        text = vault::decrypt(&text, vault)
            .map_err(|e| InventoryError::new(&name, None, None, e.to_string()))?
            .expose()
            .to_string();
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match ext {
        "yml" | "yaml" => yaml::parse(inv, &name, &text, vault),
        "json" => {
            let v: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| InventoryError::json(&name, "invalid JSON: ", &e))?;
            if json::looks_like_list_output(&v) {
                json::parse_value(inv, &name, &v).map(|_| ())
            } else {
                yaml::parse(inv, &name, &text, vault)
            }
        }
        _ => {
            let first = text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
                .unwrap_or("");
            if first == "---" || (first.ends_with(':') && !first.starts_with('[')) {
                yaml::parse(inv, &name, &text, vault)
            } else {
                ini::parse(inv, &name, &text)
            }
        }
    }
}

/// Runs `path ARGS` with a deadline and an output bound (the local transport's runner: the
/// deadline holds even when a background process keeps the output open); returns its standard
/// output.
pub(crate) fn run_capture(path: &Path, args: &[&str]) -> Result<String, String> {
    use crate::transport::{local, ExecLimits, Input, TransportError};
    let mut cmd = Command::new(path);
    cmd.args(args);
    let limits = ExecLimits {
        timeout: SCRIPT_TIMEOUT,
        max_stdout: SCRIPT_MAX_OUTPUT as usize + 1,
        max_stderr: 64 << 10,
    };
    let out = local::run(cmd, Input::Now(b""), limits, None).map_err(|e| match e {
        TransportError::Timeout(_) => format!("timed out after {} s", SCRIPT_TIMEOUT.as_secs()),
        e => e.to_string(),
    })?;
    if out.status != Some(0) {
        return Err(format!(
            "exited with {}: {}",
            out.status
                .map_or("a signal".to_string(), |c| format!("exit status {c}")),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    if out.stdout.len() as u64 > SCRIPT_MAX_OUTPUT {
        return Err(format!("printed more than {SCRIPT_MAX_OUTPUT} bytes"));
    }
    String::from_utf8(out.stdout).map_err(|_| "printed invalid UTF-8".to_string())
}

fn run_script(inv: &mut Inventory, path: &Path) -> Result<(), InventoryError> {
    let name = path.display().to_string();
    let text = run_capture(path, &["--list"])
        .map_err(|m| InventoryError::new(&name, None, None, format!("inventory script {m}")))?;
    let label = format!("{name} --list");
    let known = inv.hosts.len();
    let has_meta = json::parse(inv, &label, &text)?;
    if !has_meta {
        let added: Vec<String> = inv.hosts[known..].to_vec();
        for h in added {
            let out = run_capture(path, &["--host", &h]).map_err(|m| {
                InventoryError::new(
                    &name,
                    None,
                    None,
                    format!("inventory script --host {h}: {m}"),
                )
            })?;
            let v: serde_json::Value = serde_json::from_str(&out).map_err(|e| {
                InventoryError::json(&format!("{name} --host {h}"), "invalid JSON: ", &e)
            })?;
            let vars = v.as_object().cloned().ok_or_else(|| {
                InventoryError::new(
                    &name,
                    None,
                    None,
                    format!("--host {h} must print a JSON object"),
                )
            })?;
            inv.host_vars.entry(h).or_default().extend(vars);
        }
    }
    Ok(())
}

/// The regular, non-hidden files of `dir` whose names `keep` accepts, in name order.
fn files_in(dir: &Path, keep: impl Fn(&str) -> bool) -> std::io::Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            p.is_file() && !n.starts_with('.') && keep(n)
        })
        .collect();
    out.sort();
    Ok(out)
}

/// The files holding variables for `name` in `dir`: `name`, `name.yml|yaml|json`, or every
/// file of the directory `name/` in lexical order.
fn var_files(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for cand in [
        name.to_string(),
        format!("{name}.yml"),
        format!("{name}.yaml"),
        format!("{name}.json"),
    ] {
        let p = dir.join(&cand);
        if p.is_file() {
            out.push(p);
        } else if p.is_dir() && cand == name {
            let inner = files_in(&p, |n| {
                n.ends_with(".yml")
                    || n.ends_with(".yaml")
                    || n.ends_with(".json")
                    || !n.contains('.')
            })
            .unwrap_or_default();
            out.extend(inner);
        }
    }
    out
}

/// A `group_vars`/`host_vars` file. A whole file in a vault no password was given for is
/// left unread with a warning (its variables are unknown, so whether the tool needs one cannot
/// be told: a variable that refers to one then fails by name); one the passwords do not open
/// is an error.
fn read_vars_file(
    inv: &mut Inventory,
    path: &Path,
    vault: &[VaultPassword],
) -> Result<Vars, InventoryError> {
    let name = path.display().to_string();
    let mut text = read_text(path)?;
    if vault::is_vaulted(&text) {
        text = match vault::decrypt(&text, vault) {
            Ok(plain) => plain.expose().to_string(),
            Err(VaultError::NoPassword) => {
                inv.warnings.push(format!(
                    "{name}: vault-encrypted and no vault password was given: its variables are not read"
                ));
                return Ok(Vars::new());
            }
            Err(e) => return Err(InventoryError::new(&name, None, None, e.to_string())),
        };
    }
    let v: Option<Vars> =
        yaml::from_yaml(&name, "expected a mapping of variables: ", &text, vault)?;
    Ok(v.unwrap_or_default())
}

fn load_vars_dirs(
    inv: &mut Inventory,
    dir: &Path,
    vault: &[VaultPassword],
) -> Result<(), InventoryError> {
    let gdir = dir.join("group_vars");
    if gdir.is_dir() {
        let groups: Vec<String> = inv.groups.keys().cloned().collect();
        for g in groups {
            for f in var_files(&gdir, &g) {
                let vars = read_vars_file(inv, &f, vault)?;
                inv.merge_group_vars(&g, vars);
            }
        }
    }
    let hdir = dir.join("host_vars");
    if hdir.is_dir() {
        let hosts = inv.hosts.clone();
        for h in hosts {
            for f in var_files(&hdir, &h) {
                let vars = read_vars_file(inv, &f, vault)?;
                inv.host_vars.entry(h.clone()).or_default().extend(vars);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::vars::host_vars;
    use serde_json::json;

    #[test]
    fn group_vars_and_host_vars_files_and_directories() {
        let d = std::env::temp_dir().join(format!("fr-inv-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("group_vars/web")).unwrap();
        std::fs::create_dir_all(d.join("host_vars")).unwrap();
        std::fs::write(d.join("hosts.ini"), "[web]\nw1\nw2\n[prod:children]\nweb\n").unwrap();
        std::fs::write(d.join("group_vars/all.yml"), "a: all\nb: all\nc: all\n").unwrap();
        std::fs::write(d.join("group_vars/prod"), "a: prod\nb: prod\n").unwrap();
        std::fs::write(d.join("group_vars/web/10-first.yml"), "b: web-10\n").unwrap();
        std::fs::write(d.join("group_vars/web/20-second.yaml"), "b: web-20\n").unwrap();
        std::fs::write(d.join("host_vars/w1.json"), "{\"a\": \"host\"}").unwrap();
        let inv = load(&[d.join("hosts.ini").display().to_string()], &[]).unwrap();
        let w1 = host_vars(&inv, "w1");
        assert_eq!(
            (w1["a"].clone(), w1["b"].clone(), w1["c"].clone()),
            (json!("host"), json!("web-20"), json!("all"))
        );
        assert_eq!(host_vars(&inv, "w2")["a"], json!("prod"));
        std::fs::write(d.join("host_vars/w2.yml"), "a: [unclosed\n").unwrap();
        let e = load(&[d.join("hosts.ini").display().to_string()], &[]).unwrap_err();
        assert!(
            e.file.ends_with("host_vars/w2.yml") && e.line.is_some(),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&d);
    }
}
