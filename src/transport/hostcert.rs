//! Host certificates: a host that only an `@cert-authority` line of known_hosts covers is
//! trusted when it holds a certificate, signed by one of those authorities, for the very key
//! it presented in this session, naming the host among its principals and valid now; as
//! OpenSSH checks them.
//!
//! libssh2 negotiates plain host keys only, so the certificate is fetched beside the session
//! (`ssh-keyscan -c`, OpenSSH's, on the controller). A forged answer cannot pass: it must be
//! signed by a trusted authority and certify the key the session's key exchange proved.
//! [`judge`] is pure; [`fetch`] runs ssh-keyscan.

use ssh_key::certificate::CertType;
use ssh_key::{Certificate, PublicKey};
use std::path::Path;

const KEYSCAN: &str = "/usr/bin/ssh-keyscan";

/// Why no certificate vouches for the host, in words.
pub fn judge(
    answer: &str,
    presented: &[u8],
    host: &str,
    authorities: &[Vec<u8>],
    revoked: &[Vec<u8>],
    now: u64,
) -> Result<(), String> {
    let presented_key = PublicKey::from_bytes(presented)
        .map_err(|e| format!("the host's key cannot be read: {e}"))?;
    let mut why = Vec::new();
    for line in answer.lines() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        // `TYPE BASE64` (as ssh-keyscan -c prints it), or `host TYPE BASE64`
        let f: Vec<&str> = l.split_whitespace().collect();
        let Some(at) = f.iter().position(|w| w.ends_with("-cert-v01@openssh.com")) else {
            continue;
        };
        let (Some(kind), Some(b64)) = (f.get(at), f.get(at + 1)) else {
            continue;
        };
        let Ok(cert) = Certificate::from_openssh(&format!("{kind} {b64}")) else {
            continue;
        };
        match one(&cert, &presented_key, host, authorities, revoked, now) {
            Ok(()) => return Ok(()),
            Err(e) => why.push(e),
        }
    }
    if why.is_empty() {
        Err("the host offers no certificate (sshd_config HostCertificate)".into())
    } else {
        why.dedup();
        Err(why.join("; "))
    }
}

fn one(
    cert: &Certificate,
    presented: &PublicKey,
    host: &str,
    authorities: &[Vec<u8>],
    revoked: &[Vec<u8>],
    now: u64,
) -> Result<(), String> {
    if cert.cert_type() != CertType::Host {
        return Err("a user certificate, not a host certificate".into());
    }
    let certified = PublicKey::from(cert.public_key().clone());
    if certified.key_data() != presented.key_data() {
        return Err(format!(
            "its certificate is for another key ({}) than the one the host presented ({})",
            certified.algorithm(),
            presented.algorithm()
        ));
    }
    let ca = PublicKey::from(cert.signature_key().clone());
    let ca_blob = ca.to_bytes().map_err(|e| e.to_string())?;
    if revoked.contains(&ca_blob) || revoked.contains(&certified.to_bytes().unwrap_or_default()) {
        return Err("its certificate or authority is @revoked".into());
    }
    if !authorities.contains(&ca_blob) {
        return Err(format!(
            "its certificate is signed by {}, not by an @cert-authority for this host",
            ca.fingerprint(Default::default())
        ));
    }
    let fp = ca.fingerprint(Default::default());
    cert.validate_at(now, [&fp]).map_err(|e| match e {
        ssh_key::Error::CertificateValidation => {
            "its certificate is not valid now (expired, not yet valid, or its signature fails)"
                .to_string()
        }
        e => format!("its certificate does not verify: {e}"),
    })?;
    let principals = cert.valid_principals();
    if principals.is_empty() {
        return Err("its certificate names no principal".into());
    }
    if !principals.iter().any(|p| p.eq_ignore_ascii_case(host)) {
        return Err(format!(
            "its certificate is for {}, not for {host}",
            principals.join(", ")
        ));
    }
    Ok(())
}

/// The host's certificates, as `ssh-keyscan -c` prints them (a connection of its own, with a
/// deadline). An error when OpenSSH's ssh-keyscan is not on this machine.
pub fn fetch(host: &str, port: u16) -> Result<String, String> {
    if !Path::new(KEYSCAN).is_file() {
        return Err(format!(
            "checking a host certificate needs OpenSSH's ssh-keyscan ({KEYSCAN}) on this machine"
        ));
    }
    let mut cmd = std::process::Command::new(KEYSCAN);
    cmd.args(["-c", "-T", "10", "-p", &port.to_string(), "--", host]);
    let limits = super::ExecLimits {
        timeout: std::time::Duration::from_secs(30),
        max_stdout: 1 << 20,
        max_stderr: 64 << 10,
    };
    let out = super::local::run(cmd, super::Input::Now(b""), limits, None)
        .map_err(|e| format!("ssh-keyscan -c {host}: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `TYPE BASE64 COMMENT` → the key blob.
    fn blob(line: &str) -> Vec<u8> {
        PublicKey::from_openssh(line.trim())
            .unwrap()
            .to_bytes()
            .unwrap()
    }

    macro_rules! fixture {
        ($f:literal) => {
            include_str!(concat!("../../tests/fixtures/hostcert/", $f))
        };
    }

    /// As ssh-keyscan -c prints a certificate (after its `#` banner lines).
    fn answer(cert: &str) -> String {
        let c: Vec<&str> = cert.split_whitespace().take(2).collect();
        format!("# web1:22 SSH-2.0-OpenSSH_9.2p1\n{}\n", c.join(" "))
    }

    #[test]
    fn a_certificate_vouches_only_for_its_key_its_principals_its_time_and_its_authority() {
        // made by ssh-keygen -s (fixtures/hostcert): a CA, another CA, the host's key, certs
        let ca = vec![blob(fixture!("ca.pub"))];
        let host = blob(fixture!("host.pub"));
        let now = 1_796_460_000; // 2026-12-05
        let judge1 =
            |cert: &str, name: &str, key: &[u8]| judge(&answer(cert), key, name, &ca, &[], now);
        assert_eq!(judge1(fixture!("good-cert.pub"), "web1", &host), Ok(()));
        assert_eq!(judge1(fixture!("good-cert.pub"), "10.0.0.1", &host), Ok(()));
        let no = |r: Result<(), String>, want: &str| {
            let e = r.unwrap_err();
            assert!(e.contains(want), "{e} (wanted {want})");
        };
        no(
            judge1(fixture!("good-cert.pub"), "web2", &host),
            "is for web1, 10.0.0.1, not for web2",
        );
        no(
            judge1(fixture!("otherprincipal-cert.pub"), "web1", &host),
            "is for db1",
        );
        no(
            judge1(fixture!("otherca-cert.pub"), "web1", &host),
            "not by an @cert-authority",
        );
        no(
            judge1(fixture!("expired-cert.pub"), "web1", &host),
            "not valid now",
        );
        no(
            judge1(fixture!("noprincipal-cert.pub"), "web1", &host),
            "names no principal",
        );
        no(
            judge1(fixture!("usercert-cert.pub"), "web1", &host),
            "a user certificate",
        );
        // the certificate must be for the key this session's host presented
        no(
            judge1(
                fixture!("good-cert.pub"),
                "web1",
                &blob(fixture!("host2.pub")),
            ),
            "for another key",
        );
        // a revoked authority vouches for nothing
        no(
            judge(
                &answer(fixture!("good-cert.pub")),
                &host,
                "web1",
                &ca,
                &ca,
                now,
            ),
            "@revoked",
        );
        no(
            judge("", &host, "web1", &ca, &[], now),
            "offers no certificate",
        );
        // a certificate signed without -V never expires (OpenSSH's u64::MAX; ssh-key 0.6
        // could not read it)
        let forever = vec![blob(fixture!("forever_ca.pub"))];
        let a = answer(fixture!("forever-cert.pub"));
        assert_eq!(judge(&a, &host, "web1", &forever, &[], now), Ok(()));
    }
}
