//! The variables a host's connection is made of, as Ansible would give them for that host:
//! `{{ name }}` references to other variables (the common indirection, as in
//! `ansible_become_password: "{{ vault_become_password }}"`) are resolved; a vaulted value no
//! password opened, or any other template (filters, expressions, lookups, `{% %}`), is an error
//! naming the variable. Never a literal `{{ … }}` text, above all never as a password.
//!
//! Pure. Messages name variables and places, never values.

use super::vault;
use super::Vars;
use serde_json::Value;

/// How deep references may chain (a → b → c …) before it is called a loop.
const MAX_DEPTH: usize = 16;

/// `vars` with each of `used` resolved (those the host does not set are left out); the other
/// variables are not looked at.
pub fn resolve_used(vars: &Vars, used: &[&str]) -> Result<Vars, String> {
    let mut out = Vars::new();
    for &k in used {
        if let Some(v) = vars.get(k) {
            let r = resolve(vars, k, v, 0).map_err(|e| format!("{k}: {e}"))?;
            out.insert(k.to_string(), r);
        }
    }
    Ok(out)
}

fn resolve(vars: &Vars, name: &str, v: &Value, depth: usize) -> Result<Value, String> {
    if let Some(place) = vault::vaulted(v) {
        return Err(format!("vaulted in {place}"));
    }
    let Value::String(s) = v else {
        return Ok(v.clone());
    };
    if !(s.contains("{{") || s.contains("{%") || s.contains("{#")) {
        return Ok(v.clone());
    }
    if depth >= MAX_DEPTH {
        return Err(format!(
            "its references go deeper than {MAX_DEPTH} variables (a loop through {name}?)"
        ));
    }
    let parts = split(s)?;
    // exactly one reference: the referenced value itself, whatever its type
    if let [Part::Ref(r)] = parts.as_slice() {
        return referenced(vars, r, depth);
    }
    let mut text = String::new();
    for p in parts {
        match p {
            Part::Text(t) => text.push_str(t),
            Part::Ref(r) => match referenced(vars, r, depth)? {
                Value::String(s) => text.push_str(&s),
                v @ (Value::Number(_) | Value::Bool(_)) => {
                    text.push_str(&super::vars::as_string(Some(&v)).unwrap_or_default())
                }
                _ => return Err(format!("{{{{ {r} }}}} is not text, inside text")),
            },
        }
    }
    Ok(Value::String(text))
}

fn referenced(vars: &Vars, r: &str, depth: usize) -> Result<Value, String> {
    let v = vars
        .get(r)
        .ok_or_else(|| format!("refers to {r}, which is not defined for this host"))?;
    resolve(vars, r, v, depth + 1).map_err(|e| format!("refers to {r}: {e}"))
}

enum Part<'a> {
    Text(&'a str),
    Ref(&'a str),
}

/// Literal text and `{{ name }}` references; anything else in braces is refused.
fn split(s: &str) -> Result<Vec<Part<'_>>, String> {
    const OTHER: &str = "a template other than {{ name }} references (a filter, expression, test or lookup), which fleetrestart does not evaluate: give the value, or a variable that holds it";
    if s.contains("{%") || s.contains("{#") {
        return Err(OTHER.into());
    }
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("{{") {
        if i > 0 {
            out.push(Part::Text(&rest[..i]));
        }
        let after = &rest[i + 2..];
        let j = after.find("}}").ok_or("an unclosed {{")?;
        let name = after[..j].trim();
        let ident = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ident {
            return Err(OTHER.into());
        }
        out.push(Part::Ref(name));
        rest = &after[j + 2..];
    }
    if !rest.is_empty() {
        out.push(Part::Text(rest));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: Value) -> Vars {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn references_resolve_as_ansible_gives_them_and_nothing_else_passes() {
        let v = vars(json!({
            "ansible_become_password": "{{ vault_become_password }}",
            "vault_become_password": "{{ deeper }}",
            "deeper": "s3cret",
            "ansible_host": "{{ prefix }}-{{ n }}.example.com",
            "prefix": "web", "n": 7,
            "ansible_port": "{{ port }}", "port": 2222,
            "ansible_user": "{{ user | default('root') }}",
            "ansible_ssh_common_args": "{% if x %}-o A=b{% endif %}",
            "ansible_connection": "{{ missing }}",
            "fleetrestart_scanner": "{{ a }}", "a": "{{ b }}", "b": "{{ a }}",
            "ansible_become_user": {"__fleetrestart_vaulted": "group_vars/all.yml:3: vault-encrypted, and no vault password was given"},
            "unused": "{{ lookup('file', '/etc/shadow') }}",
        }));
        let ok = resolve_used(
            &v,
            &["ansible_become_password", "ansible_host", "ansible_port"],
        )
        .unwrap();
        assert_eq!(ok["ansible_become_password"], "s3cret");
        assert_eq!(ok["ansible_host"], "web-7.example.com");
        assert_eq!(ok["ansible_port"], 2222, "one reference keeps its type");
        // a variable the tool does not use is never looked at
        assert!(resolve_used(&v, &["ansible_host"]).is_ok());
        let err = |k: &str| resolve_used(&v, &[k]).unwrap_err();
        assert!(
            err("ansible_user").contains("does not evaluate"),
            "{}",
            err("ansible_user")
        );
        assert!(err("ansible_ssh_common_args").contains("does not evaluate"));
        assert_eq!(
            err("ansible_connection"),
            "ansible_connection: refers to missing, which is not defined for this host"
        );
        assert!(
            err("fleetrestart_scanner").contains("a loop"),
            "{}",
            err("fleetrestart_scanner")
        );
        assert!(err("ansible_become_user").contains("vaulted in group_vars/all.yml:3"));
        // values never appear in the messages
        for k in ["ansible_user", "ansible_connection", "fleetrestart_scanner"] {
            assert!(
                !err(k).contains("s3cret") && !err(k).contains("root"),
                "{}",
                err(k)
            );
        }
    }
}
