//! Ansible Vault: the `$ANSIBLE_VAULT;1.1;AES256` and `1.2;AES256;LABEL` envelopes, as inline
//! `!vault` values and as whole encrypted files, decrypted with the operator's vault passwords.
//!
//! Pure: text and passwords in, plaintext out (as a [`Secret`]); nothing here prints either.
//! The format, as Ansible writes it: the body is hex of `hex(salt) \n hex(hmac) \n
//! hex(ciphertext)`; 80 bytes of PBKDF2-HMAC-SHA256 (10 000 rounds) of the password and salt
//! give the AES-256 key, the HMAC-SHA256 key and the CTR counter's start; the HMAC is of the
//! ciphertext; the plaintext is PKCS#7-padded to 16 bytes.

use crate::secret::Secret;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// One vault password, with the vault id (label) it was given for, if any.
pub struct VaultPassword {
    pub label: Option<String>,
    pub password: Secret,
}

/// Why a vaulted text could not be read, in words (never with the text itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VaultError {
    /// Not the envelope of a format this reads.
    Format(String),
    /// No vault password was given.
    NoPassword,
    /// None of the passwords opens it (the label is the envelope's vault id, if any).
    WrongPassword(Option<String>),
}

impl std::fmt::Display for VaultError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VaultError::Format(m) => write!(f, "not a vault this can read: {m}"),
            VaultError::NoPassword => f.write_str(
                "vault-encrypted, and no vault password was given (--vault-password-file, --ask-vault-pass, --vault-id or ANSIBLE_VAULT_PASSWORD_FILE)",
            ),
            VaultError::WrongPassword(None) => {
                f.write_str("vault-encrypted, and no vault password given opens it")
            }
            VaultError::WrongPassword(Some(l)) => write!(
                f,
                "vault-encrypted (vault id {l:?}), and no vault password given opens it"
            ),
        }
    }
}

/// The key of the map that stands for a `!vault` value no password opened: its value says where
/// it is and why it stays closed (never the ciphertext). A variable the tool uses that holds one
/// is an error; any other is never looked at.
pub const VAULTED: &str = "__fleetrestart_vaulted";

/// Where a variable's value is vaulted and why it could not be read, when it is such a value.
pub fn vaulted(v: &serde_json::Value) -> Option<&str> {
    v.as_object()?.get(VAULTED)?.as_str()
}

/// Opens, in place, every `{"__ansible_vault": ENVELOPE}` value of `v` (how ansible-inventory
/// --list and inventory scripts write vaulted values): to its plaintext, or to a [`VAULTED`]
/// marker naming `origin` when no password opens it. Pure.
pub fn open_json(v: &mut serde_json::Value, passwords: &[VaultPassword], origin: &str) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            if let (1, Some(Value::String(text))) = (m.len(), m.get("__ansible_vault")) {
                *v = match decrypt(text, passwords) {
                    Ok(plain) => Value::String(plain.expose().to_string()),
                    Err(e) => serde_json::json!({ VAULTED: format!("{origin}: {e}") }),
                };
                return;
            }
            for val in m.values_mut() {
                open_json(val, passwords, origin);
            }
        }
        Value::Array(a) => {
            for val in a {
                open_json(val, passwords, origin);
            }
        }
        _ => {}
    }
}

/// Whether `text` is a vault envelope (its first line says so).
pub fn is_vaulted(text: &str) -> bool {
    text.trim_start().starts_with("$ANSIBLE_VAULT;")
}

/// The vault id an envelope names (format 1.2), if any.
pub fn label(text: &str) -> Option<String> {
    let header = text.trim_start().lines().next()?;
    let mut f = header.trim().split(';');
    (f.nth(1)? == "1.2")
        .then(|| f.nth(1).map(String::from))
        .flatten()
}

/// The largest envelope read (a vars file of 16 MiB of ciphertext is not one an inventory has).
const MAX_VAULT: usize = 32 << 20;

/// The plaintext of a vault envelope, with the first password that opens it: those given for
/// its vault id first, then the others (as Ansible tries them).
pub fn decrypt(text: &str, passwords: &[VaultPassword]) -> Result<Secret, VaultError> {
    let (label, salt, mac, ciphertext) = parse(text)?;
    if passwords.is_empty() {
        return Err(VaultError::NoPassword);
    }
    let ordered = passwords
        .iter()
        .filter(|p| label.is_some() && p.label == label)
        .chain(
            passwords
                .iter()
                .filter(|p| label.is_none() || p.label != label),
        );
    for p in ordered {
        let mut keys = [0u8; 80];
        pbkdf2::pbkdf2_hmac::<Sha256>(p.password.expose().as_bytes(), &salt, 10_000, &mut keys);
        let mut check = <Hmac<Sha256> as Mac>::new_from_slice(&keys[32..64])
            .map_err(|_| VaultError::Format("HMAC key".into()))?;
        check.update(&ciphertext);
        if check.verify_slice(&mac).is_err() {
            continue;
        }
        let mut plain = ciphertext.clone();
        use ctr::cipher::{KeyIvInit, StreamCipher};
        let mut cipher = ctr::Ctr128BE::<aes::Aes256>::new(keys[..32].into(), keys[64..].into());
        cipher.apply_keystream(&mut plain);
        let pad = usize::from(*plain.last().unwrap_or(&0));
        if pad == 0 || pad > 16 || pad > plain.len() {
            return Err(VaultError::Format("bad padding".into()));
        }
        plain.truncate(plain.len() - pad);
        let text = String::from_utf8(plain)
            .map_err(|_| VaultError::Format("the plaintext is not UTF-8".into()))?;
        return Ok(Secret::new(text));
    }
    Err(VaultError::WrongPassword(label))
}

/// The envelope's vault id, salt, HMAC and ciphertext.
type Parts = (Option<String>, Vec<u8>, Vec<u8>, Vec<u8>);

fn parse(text: &str) -> Result<Parts, VaultError> {
    if text.len() > MAX_VAULT {
        return Err(VaultError::Format(format!(
            "larger than {} MiB",
            MAX_VAULT >> 20
        )));
    }
    let fmt = |m: &str| VaultError::Format(m.into());
    let mut lines = text.trim().lines();
    let header = lines.next().unwrap_or("").trim();
    let f: Vec<&str> = header.split(';').collect();
    let label = match f.as_slice() {
        ["$ANSIBLE_VAULT", "1.1", cipher] if cipher.trim() == "AES256" => None,
        ["$ANSIBLE_VAULT", "1.2", cipher, label] if cipher.trim() == "AES256" => {
            Some(label.trim().to_string())
        }
        ["$ANSIBLE_VAULT", v, c, ..] => {
            return Err(VaultError::Format(format!("version {v}, cipher {c}")))
        }
        _ => return Err(fmt("no $ANSIBLE_VAULT header")),
    };
    let body: String = lines.map(str::trim).collect();
    let inner = hex(&body).ok_or_else(|| fmt("the body is not hex"))?;
    let inner = String::from_utf8(inner).map_err(|_| fmt("the body is not hex of text"))?;
    let mut parts = inner.split('\n');
    let mut next = |what: &str| {
        parts
            .next()
            .and_then(hex)
            .ok_or_else(|| VaultError::Format(format!("no {what}")))
    };
    let (salt, mac, ciphertext) = (next("salt")?, next("HMAC")?, next("ciphertext")?);
    if mac.len() != 32 || ciphertext.is_empty() || ciphertext.len() % 16 != 0 {
        return Err(fmt("the HMAC or ciphertext has the wrong length"));
    }
    Ok((label, salt, mac, ciphertext))
}

fn hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim().as_bytes();
    if s.len() % 2 != 0 {
        return None;
    }
    s.chunks(2)
        .map(|p| {
            let d = |c: u8| (c as char).to_digit(16).map(|v| v as u8);
            Some(d(p[0])? << 4 | d(p[1])?)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(label: Option<&str>, p: &str) -> VaultPassword {
        VaultPassword {
            label: label.map(String::from),
            password: Secret::new(p.into()),
        }
    }

    // made by ansible-vault (ansible-core, the test virtualenv) with the passwords below
    const S11: &str = include_str!("../../tests/fixtures/vault/string-1.1.txt");
    const S12: &str = include_str!("../../tests/fixtures/vault/string-1.2-prod.txt");
    const FILE: &str = include_str!("../../tests/fixtures/vault/vars-1.1.yml");

    #[test]
    fn ansible_vaults_open_with_their_password_and_only_with_it() {
        assert!(is_vaulted(S11) && is_vaulted(FILE));
        let right = [pw(None, "pass phrase")];
        assert_eq!(decrypt(S11, &right).unwrap().expose(), "s3cret pa55");
        let yaml = decrypt(FILE, &right).unwrap();
        assert!(yaml.expose().contains("db_password: hunter2"));
        assert_eq!(
            decrypt(S11, &[pw(None, "wrong")]).unwrap_err(),
            VaultError::WrongPassword(None)
        );
        assert_eq!(decrypt(S11, &[]).unwrap_err(), VaultError::NoPassword);
        // 1.2: the vault id's password first, any other after it
        assert_eq!(label(S12).as_deref(), Some("prod"));
        let ids = [pw(Some("dev"), "pass phrase"), pw(Some("prod"), "other")];
        assert_eq!(decrypt(S12, &ids).unwrap().expose(), "labelled value");
        assert_eq!(
            decrypt(S12, &[pw(None, "other")]).unwrap().expose(),
            "labelled value"
        );
        assert_eq!(
            decrypt(S12, &[pw(Some("prod"), "nope")]).unwrap_err(),
            VaultError::WrongPassword(Some("prod".into()))
        );
        // as ansible-inventory --list writes a vaulted value
        let mut v = serde_json::json!({"pw": {"__ansible_vault": S11}, "n": [1]});
        open_json(&mut v, &right, "inv.json");
        assert_eq!(v["pw"], "s3cret pa55");
        let mut v = serde_json::json!({"pw": {"__ansible_vault": S11}});
        open_json(&mut v, &[], "inv.json");
        assert!(vaulted(&v["pw"])
            .unwrap()
            .starts_with("inv.json: vault-encrypted"));
        // a damaged envelope is a format error, and its text is never in the message
        let cut = &S11[..S11.len() - 10];
        let e = decrypt(cut, &right).unwrap_err().to_string();
        assert!(e.starts_with("not a vault this can read"), "{e}");
        assert!(!e.contains("6235"), "{e}");
    }
}
