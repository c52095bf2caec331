//! Pure: OpenSSH known_hosts files, parsed and matched as OpenSSH does (see sshd(8)
//! "SSH_KNOWN_HOSTS FILE FORMAT").
//!
//! - A host is looked up under exactly one name: `host` on port 22, `[host]:port` otherwise
//!   (never the plain name for another port).
//! - Host fields are comma-separated patterns with `*`/`?` and `!` negation (a negated match
//!   excludes the line), case-insensitive, or hashed `|1|salt|hmac-sha1` names.
//! - `@revoked` lines: the key is refused for every host (stricter than OpenSSH, which applies
//!   them to the hosts they name). `@cert-authority` lines are understood but certificates are
//!   not validated: a host covered only by one is refused with a clear message.
//! - Only entries of the offered key's type are compared; entries of other types tell which
//!   host-key algorithms to prefer (as OpenSSH does), and a host with keys of other types only
//!   is refused, never recorded as new.
//! - A line that cannot be parsed is skipped with a warning naming it; the rest of the file
//!   still counts.
//! - Lookups go through [`Known`], built once per parse: lines that name hosts literally are
//!   found through a map, the others (patterns, negations, hashed names, with each salt's HMAC
//!   state keyed once) are scanned. A fleet's known_hosts has a line per host, so a scan of
//!   every line per connection cost each host time in proportion to the fleet.

use crate::base64;
use std::collections::HashMap;

/// The first field of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    None,
    Revoked,
    CertAuthority,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Hosts {
    /// `(negated, lower-cased pattern)`.
    Patterns(Vec<(bool, String)>),
    Hashed {
        salt: Vec<u8>,
        mac: Vec<u8>,
    },
}

/// One parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub marker: Marker,
    hosts: Hosts,
    /// The key's algorithm as its blob names it (`ssh-ed25519`, `ssh-rsa`, ...).
    pub key_type: String,
    pub key: Vec<u8>,
    /// Where it came from: `file:line`.
    pub origin: String,
}

/// The name a host's keys are recorded under.
pub fn lookup_name(host: &str, port: u16) -> String {
    let h = host.to_ascii_lowercase();
    if port == 22 {
        h
    } else {
        format!("[{h}]:{port}")
    }
}

/// A `uint32` from the front of `r` (SSH wire format, RFC 4251), which moves past it.
pub(crate) fn wire_u32(r: &mut &[u8]) -> Option<u32> {
    let n = u32::from_be_bytes(r.get(..4)?.try_into().ok()?);
    *r = &r[4..];
    Some(n)
}

/// A `string` (length-prefixed bytes) from the front of `r`, which moves past it.
pub(crate) fn wire_string<'a>(r: &mut &'a [u8]) -> Option<&'a [u8]> {
    let mut rest = *r;
    let n = wire_u32(&mut rest)? as usize;
    let s = rest.get(..n)?;
    *r = &rest[n..];
    Some(s)
}

/// The algorithm name at the start of an SSH public key blob.
pub fn blob_type(mut blob: &[u8]) -> Option<&str> {
    let t = wire_string(&mut blob)?;
    std::str::from_utf8(t)
        .ok()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic()))
}

/// Parses a known_hosts text. `file` names it in origins and warnings.
pub fn parse(text: &str, file: &str) -> (Vec<Entry>, Vec<String>) {
    let (mut out, mut warnings) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate() {
        let origin = format!("{file}:{}", i + 1);
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        match parse_line(l, &origin) {
            Ok(e) => out.push(e),
            Err(why) => warnings.push(format!("{origin}: skipped: {why}")),
        }
    }
    (out, warnings)
}

fn parse_line(l: &str, origin: &str) -> Result<Entry, String> {
    let mut words = l.split_whitespace();
    let mut first = words.next().ok_or("empty line")?;
    let marker = match first {
        "@revoked" => Marker::Revoked,
        "@cert-authority" => Marker::CertAuthority,
        m if m.starts_with('@') => return Err(format!("unknown marker {m:?}")),
        _ => Marker::None,
    };
    if marker != Marker::None {
        first = words.next().ok_or("a marker without host names")?;
    }
    let hosts = parse_hosts(first)?;
    let field_type = words.next().ok_or("no key type")?;
    let b64 = words.next().ok_or("no key")?;
    let key = base64::decode(b64).ok_or("the key is not base64")?;
    let key_type = blob_type(&key)
        .ok_or("the key is not an SSH public key blob")?
        .to_string();
    if key_type != field_type {
        return Err(format!(
            "the key type field says {field_type:?} but the key is {key_type:?}"
        ));
    }
    Ok(Entry {
        marker,
        hosts,
        key_type,
        key,
        origin: origin.to_string(),
    })
}

fn parse_hosts(field: &str) -> Result<Hosts, String> {
    if let Some(rest) = field.strip_prefix("|1|") {
        let (salt, mac) = rest
            .split_once('|')
            .ok_or("a hashed name without its hash")?;
        let salt = base64::decode(salt).ok_or("a hashed name's salt is not base64")?;
        let mac = base64::decode(mac).ok_or("a hashed name's hash is not base64")?;
        if mac.len() != 20 {
            return Err("a hashed name's hash is not 20 bytes".into());
        }
        return Ok(Hosts::Hashed { salt, mac });
    }
    if field.starts_with('|') {
        return Err("an unknown hashed-name format".into());
    }
    let mut pats = Vec::new();
    for p in field.split(',').filter(|p| !p.is_empty()) {
        match p.strip_prefix('!') {
            Some(n) => pats.push((true, n.to_ascii_lowercase())),
            None => pats.push((false, p.to_ascii_lowercase())),
        }
    }
    if pats.iter().all(|(neg, _)| *neg) {
        return Err("no host name".into());
    }
    Ok(Hosts::Patterns(pats))
}

type HmacSha1 = hmac::Hmac<sha1::Sha1>;

#[cfg(test)]
fn hmac_sha1(key: &[u8], msg: &[u8]) -> Vec<u8> {
    use hmac::Mac;
    let mut m = HmacSha1::new_from_slice(key).expect("HMAC takes any key");
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

/// Parsed entries (every file's, together, in order) with their lookup by name.
pub struct Known {
    entries: Vec<Entry>,
    /// Lines whose names are all literal and none negated, by lower-cased name.
    by_name: HashMap<String, Vec<usize>>,
    /// Every other line, in order, with a hashed line's keyed HMAC state.
    scanned: Vec<(usize, Option<HmacSha1>)>,
    /// `@revoked` lines.
    revoked: Vec<usize>,
    /// The scanned lines that name a name, per name looked up (a connection looks its host
    /// up twice, a campaign connects to a host several times; a hashed line costs an HMAC).
    memo: std::sync::Mutex<HashMap<String, std::sync::Arc<[usize]>>>,
}

impl Known {
    /// The keys `@revoked` lines name.
    pub fn revoked_keys(&self) -> Vec<Vec<u8>> {
        self.revoked
            .iter()
            .map(|i| self.entries[*i].key.clone())
            .collect()
    }

    pub fn new(entries: Vec<Entry>) -> Known {
        use hmac::Mac;
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        let (mut scanned, mut revoked) = (Vec::new(), Vec::new());
        for (i, e) in entries.iter().enumerate() {
            if e.marker == Marker::Revoked {
                revoked.push(i);
            }
            match &e.hosts {
                Hosts::Patterns(pats)
                    if pats.iter().all(|(neg, p)| !neg && !p.contains(['*', '?'])) =>
                {
                    for (_, p) in pats {
                        let v = by_name.entry(p.clone()).or_default();
                        if v.last() != Some(&i) {
                            v.push(i);
                        }
                    }
                }
                Hosts::Patterns(_) => scanned.push((i, None)),
                Hosts::Hashed { salt, .. } => scanned.push((
                    i,
                    Some(HmacSha1::new_from_slice(salt).expect("HMAC takes any key")),
                )),
            }
        }
        Known {
            entries,
            by_name,
            scanned,
            revoked,
            memo: Default::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The lines (any marker) that name `name`, in file order.
    fn naming(&self, name: &str) -> Vec<&Entry> {
        let mut idx: Vec<usize> = self.by_name.get(name).cloned().unwrap_or_default();
        if !self.scanned.is_empty() {
            let memo = self
                .memo
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(name)
                .cloned();
            let found = memo.unwrap_or_else(|| {
                let found: std::sync::Arc<[usize]> = self
                    .scanned
                    .iter()
                    .filter(|(i, k)| self.entries[*i].names(name, k.as_ref()))
                    .map(|(i, _)| *i)
                    .collect();
                self.memo
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(name.to_string(), found.clone());
                found
            });
            idx.extend(found.iter());
        }
        idx.sort_unstable();
        idx.into_iter().map(|i| &self.entries[i]).collect()
    }
}

impl Entry {
    /// Does this line name `name` (a [`lookup_name`])? `keyed`: the HMAC state of a hashed
    /// line's salt, when it was prepared.
    fn names(&self, name: &str, keyed: Option<&HmacSha1>) -> bool {
        match &self.hosts {
            Hosts::Hashed { salt, mac } => {
                use hmac::Mac;
                let mut m = match keyed {
                    Some(k) => k.clone(),
                    None => HmacSha1::new_from_slice(salt).expect("HMAC takes any key"),
                };
                m.update(name.as_bytes());
                m.finalize().into_bytes().as_slice() == mac.as_slice()
            }
            Hosts::Patterns(pats) => {
                let mut positive = false;
                for (neg, p) in pats {
                    if crate::glob::wildcard(p, name) {
                        if *neg {
                            return false;
                        }
                        positive = true;
                    }
                }
                positive
            }
        }
    }
}

/// What the files say about a key offered by a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A line for this host holds this key.
    Known,
    /// An `@revoked` line lists this key.
    Revoked { origin: String },
    /// Lines for this host hold other keys of the same type.
    Changed { origin: String },
    /// Only keys of other types are recorded for this host.
    OtherTypes { types: Vec<String>, origin: String },
    /// Only `@cert-authority` lines cover this host: their authorities' keys (blobs).
    CertAuthorityOnly {
        origin: String,
        authorities: Vec<Vec<u8>>,
    },
    /// Nothing is recorded for this host.
    Unknown,
}

/// Looks `key` (an SSH public key blob) up for `name` in `known` (every file's, together).
pub fn verdict(known: &Known, name: &str, key: &[u8]) -> Verdict {
    if let Some(e) = known
        .revoked
        .iter()
        .map(|i| &known.entries[*i])
        .find(|e| e.key == key)
    {
        return Verdict::Revoked {
            origin: e.origin.clone(),
        };
    }
    let ktype = blob_type(key).unwrap_or("");
    let naming = known.naming(name);
    let plain: Vec<&Entry> = naming
        .iter()
        .copied()
        .filter(|e| e.marker == Marker::None)
        .collect();
    if plain.iter().any(|e| e.key == key) {
        return Verdict::Known;
    }
    if let Some(e) = plain.iter().find(|e| e.key_type == ktype) {
        return Verdict::Changed {
            origin: e.origin.clone(),
        };
    }
    if let Some(e) = plain.first() {
        let mut types: Vec<String> = plain.iter().map(|e| e.key_type.clone()).collect();
        types.dedup();
        return Verdict::OtherTypes {
            types,
            origin: e.origin.clone(),
        };
    }
    if let Some(e) = naming.iter().find(|e| e.marker == Marker::CertAuthority) {
        return Verdict::CertAuthorityOnly {
            origin: e.origin.clone(),
            authorities: naming
                .iter()
                .filter(|e| e.marker == Marker::CertAuthority)
                .map(|e| e.key.clone())
                .collect(),
        };
    }
    Verdict::Unknown
}

/// Host-key algorithms libssh2 may negotiate, plain keys only (certificates are never
/// offered: they would not be validated), in the default order.
const PLAIN_ALGORITHMS: [&str; 7] = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
    "ssh-rsa",
];

fn algorithms_of(key_type: &str) -> &'static [&'static str] {
    match key_type {
        "ssh-ed25519" => &PLAIN_ALGORITHMS[0..1],
        "ecdsa-sha2-nistp256" => &PLAIN_ALGORITHMS[1..2],
        "ecdsa-sha2-nistp384" => &PLAIN_ALGORITHMS[2..3],
        "ecdsa-sha2-nistp521" => &PLAIN_ALGORITHMS[3..4],
        "ssh-rsa" => &PLAIN_ALGORITHMS[4..7],
        _ => &[],
    }
}

/// The host-key algorithm preference for `name`: the types recorded for it first (so the
/// server picks a key the files can confirm, as OpenSSH does), then the other plain ones.
pub fn algorithm_preference(known: &Known, name: &str) -> String {
    let mut order: Vec<&str> = Vec::new();
    for e in known
        .naming(name)
        .into_iter()
        .filter(|e| e.marker == Marker::None)
    {
        for a in algorithms_of(&e.key_type) {
            if !order.contains(a) {
                order.push(a);
            }
        }
    }
    for a in PLAIN_ALGORITHMS {
        if !order.contains(&a) {
            order.push(a);
        }
    }
    order.join(",")
}

/// A public key blob of type `t` with `body` as its one field (tests only).
#[cfg(test)]
pub fn test_blob(t: &str, body: &[u8]) -> Vec<u8> {
    let mut b = (t.len() as u32).to_be_bytes().to_vec();
    b.extend_from_slice(t.as_bytes());
    b.extend_from_slice(&(body.len() as u32).to_be_bytes());
    b.extend_from_slice(body);
    b
}

#[cfg(test)]
mod tests {
    use super::test_blob as blob;
    use super::*;
    fn line(hosts: &str, k: &[u8]) -> String {
        format!("{hosts} {} {}", blob_type(k).unwrap(), base64::encode(k))
    }
    fn ents(lines: &[String]) -> Known {
        let (e, w) = parse(&lines.join("\n"), "kh");
        assert!(w.is_empty(), "{w:?}");
        Known::new(e)
    }

    #[test]
    fn a_port_entry_never_falls_back_to_the_plain_name() {
        // libssh2's check_port matched "bastion" for [bastion]:2201
        let a = blob("ssh-ed25519", b"A");
        let b = blob("ssh-ed25519", b"B");
        let e = ents(&[line("bastion", &a), line("[bastion]:2201", &b)]);
        let name = lookup_name("bastion", 2201);
        assert_eq!(name, "[bastion]:2201");
        assert!(matches!(verdict(&e, &name, &a), Verdict::Changed { .. }));
        assert_eq!(verdict(&e, &name, &b), Verdict::Known);
        // only the plain entry recorded: another port is unknown, not known
        let e = ents(&[line("bastion", &a)]);
        assert_eq!(verdict(&e, &name, &a), Verdict::Unknown);
        assert_eq!(verdict(&e, &lookup_name("bastion", 22), &a), Verdict::Known);
    }

    #[test]
    fn revoked_keys_are_refused_even_where_another_line_lists_them() {
        // "@revoked" was read as a host named "@revoked"
        let k = blob("ssh-ed25519", b"K");
        let e = ents(&[format!("@revoked {}", line("h", &k)), line("h", &k)]);
        assert_eq!(
            verdict(&e, "h", &k),
            Verdict::Revoked {
                origin: "kh:1".into()
            }
        );
        // revoked for any host pattern: refused for every host
        let e = ents(&[format!("@revoked {}", line("other", &k))]);
        assert!(matches!(verdict(&e, "h", &k), Verdict::Revoked { .. }));
    }

    #[test]
    fn cert_authority_lines_are_not_host_names() {
        let ca = blob("ssh-ed25519", b"CA");
        let k = blob("ssh-ed25519", b"K");
        let e = ents(&[format!("@cert-authority {}", line("*.example.org", &ca))]);
        assert!(matches!(
            verdict(&e, "web1.example.org", &k),
            Verdict::CertAuthorityOnly { .. }
        ));
        assert_eq!(verdict(&e, "@cert-authority", &k), Verdict::Unknown);
        assert_eq!(verdict(&e, "other", &k), Verdict::Unknown);
    }

    #[test]
    fn only_keys_of_the_offered_type_are_compared() {
        // an rsa-only entry made an ed25519 key "CHANGED"
        let rsa = blob("ssh-rsa", b"R");
        let ed = blob("ssh-ed25519", b"E");
        let e = ents(&[line("h", &rsa)]);
        assert!(matches!(
            verdict(&e, "h", &ed),
            Verdict::OtherTypes { ref types, .. } if types == &["ssh-rsa".to_string()]
        ));
        assert_eq!(verdict(&e, "h", &rsa), Verdict::Known);
        assert!(algorithm_preference(&e, "h")
            .starts_with("rsa-sha2-512,rsa-sha2-256,ssh-rsa,ssh-ed25519"));
        assert!(!algorithm_preference(&e, "h").contains("cert"));
        let ec = blob("ecdsa-sha2-nistp256", b"C");
        let e = ents(&[line("h", &ec), line("h", &rsa)]);
        assert!(algorithm_preference(&e, "h").starts_with("ecdsa-sha2-nistp256,rsa-sha2-512"));
        assert!(algorithm_preference(&Known::new(Vec::new()), "h").starts_with("ssh-ed25519,"));
    }

    #[test]
    fn patterns_negation_case_and_hashes() {
        let k = blob("ssh-ed25519", b"K");
        let e = ents(&[line("*.prod,!db*.prod,10.0.0.?", &k)]);
        assert_eq!(verdict(&e, "web1.prod", &k), Verdict::Known);
        assert_eq!(verdict(&e, "db1.prod", &k), Verdict::Unknown);
        assert_eq!(verdict(&e, "10.0.0.7", &k), Verdict::Known);
        assert_eq!(verdict(&e, "10.0.0.17", &k), Verdict::Unknown);
        let e = ents(&[line("WEB1,[Web2]:2222", &k)]);
        assert_eq!(verdict(&e, &lookup_name("web1", 22), &k), Verdict::Known);
        assert_eq!(verdict(&e, &lookup_name("WEB2", 2222), &k), Verdict::Known);
        // hashed as ssh-keygen -H writes them
        let salt = b"0123456789abcdefghij";
        let name = "[web3]:2200";
        let mac = hmac_sha1(salt, name.as_bytes());
        let hashed = format!("|1|{}|{}", base64::encode(salt), base64::encode(&mac));
        let e = ents(&[line(&hashed, &k)]);
        assert_eq!(verdict(&e, name, &k), Verdict::Known);
        assert_eq!(verdict(&e, "web3", &k), Verdict::Unknown);
    }

    #[test]
    fn hmac_sha1_matches_rfc_2202() {
        let mac = hmac_sha1(b"key", b"The quick brown fox jumps over the lazy dog");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9");
    }

    #[test]
    fn bad_lines_are_skipped_with_their_place_and_the_rest_counts() {
        // libssh2 stopped at the first bad line
        let k = blob("ssh-ed25519", b"K");
        let long = format!("h {}", "A".repeat(10_000));
        let text = [
            "garbage".to_string(),
            "@bogus h ssh-ed25519 AAAA".into(),
            long,
            "h ssh-rsa !!!".into(),
            format!("h ssh-rsa {}", base64::encode(&k)),
            "# comment".into(),
            String::new(),
            line("h", &k),
        ]
        .join("\n");
        let (e, w) = parse(&text, "f");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].origin, "f:8");
        assert_eq!(w.len(), 5, "{w:?}");
        assert!(w[0].starts_with("f:1: skipped"));
        assert_eq!(verdict(&Known::new(e), "h", &k), Verdict::Known);
    }

    /// The lines naming `name`, found by scanning every line (what [`Known`] indexes).
    fn scan<'a>(entries: &'a [Entry], name: &str) -> Vec<&'a Entry> {
        entries.iter().filter(|e| e.names(name, None)).collect()
    }

    /// A fleet-like file: literal names (some several to a line, some on several lines),
    /// patterns, negations, hashed names, @revoked and @cert-authority lines, mixed.
    fn fleet_file(n: usize) -> (String, Vec<String>, Vec<Vec<u8>>) {
        let keys: Vec<Vec<u8>> = (0..4u8)
            .map(|i| {
                blob(
                    [
                        "ssh-ed25519",
                        "ssh-rsa",
                        "ecdsa-sha2-nistp256",
                        "ssh-ed25519",
                    ][i as usize],
                    &[i; 8],
                )
            })
            .collect();
        let mut lines = Vec::new();
        let mut names = Vec::new();
        for i in 0..n {
            let name = format!("h{i}.example.org");
            let k = &keys[i % 3];
            match i % 7 {
                0 => {
                    let salt = [i as u8; 20];
                    let mac = hmac_sha1(&salt, name.as_bytes());
                    let hashed = format!("|1|{}|{}", base64::encode(&salt), base64::encode(&mac));
                    lines.push(line(&hashed, k));
                }
                1 => lines.push(line(&format!("{},[{}]:2222", name.to_uppercase(), name), k)),
                2 => {
                    lines.push(line(&name, k));
                    lines.push(line(&name, &keys[3]));
                }
                3 => lines.push(format!("@revoked {}", line(&name, &keys[3]))),
                _ => lines.push(line(&format!("{name},10.0.{}.{}", i / 200, i % 200), k)),
            }
            names.push(name.clone());
            names.push(format!("[{name}]:2222"));
            names.push(format!("10.0.{}.{}", i / 200, i % 200));
        }
        lines.push(line("*.example.org,!h5*.example.org", &keys[1]));
        lines.push(format!(
            "@cert-authority {}",
            line("*.ca.example.org", &keys[2])
        ));
        names.extend([
            "x.ca.example.org".to_string(),
            "nowhere".into(),
            "h50.example.org".into(),
        ]);
        (lines.join("\n"), names, keys)
    }

    #[test]
    fn the_index_finds_what_a_scan_of_every_line_finds() {
        let (text, names, keys) = fleet_file(120);
        let (entries, w) = parse(&text, "kh");
        assert!(w.is_empty(), "{w:?}");
        let known = Known::new(entries.clone());
        assert!(known.by_name.len() > 120 && !known.scanned.is_empty());
        for name in &names {
            // twice: the second answer comes from the memo
            for _ in 0..2 {
                let got: Vec<&str> = known
                    .naming(name)
                    .iter()
                    .map(|e| e.origin.as_str())
                    .collect();
                let want: Vec<&str> = scan(&entries, name)
                    .iter()
                    .map(|e| e.origin.as_str())
                    .collect();
                assert_eq!(got, want, "{name}");
            }
            for k in &keys {
                let v = verdict(&known, name, k);
                // the verdict of a scan, as the matcher had it before the index
                let plain: Vec<&Entry> = scan(&entries, name)
                    .into_iter()
                    .filter(|e| e.marker == Marker::None)
                    .collect();
                let revoked = entries
                    .iter()
                    .any(|e| e.marker == Marker::Revoked && &e.key == k);
                match &v {
                    Verdict::Revoked { .. } => assert!(revoked),
                    Verdict::Known => assert!(!revoked && plain.iter().any(|e| &e.key == k)),
                    Verdict::Changed { origin } => assert_eq!(
                        Some(origin.as_str()),
                        plain
                            .iter()
                            .find(|e| e.key_type == blob_type(k).unwrap())
                            .map(|e| e.origin.as_str())
                    ),
                    Verdict::OtherTypes { origin, .. } => {
                        assert_eq!(
                            Some(origin.as_str()),
                            plain.first().map(|e| e.origin.as_str())
                        )
                    }
                    Verdict::CertAuthorityOnly { .. } | Verdict::Unknown => {
                        assert!(plain.is_empty())
                    }
                }
            }
        }
        // a few outcomes pinned: a host's own upper-case line, the wildcard line for another
        // key type, the same but excluded by the negation, a port line
        assert_eq!(verdict(&known, "h8.example.org", &keys[2]), Verdict::Known);
        assert_eq!(verdict(&known, "h8.example.org", &keys[1]), Verdict::Known);
        assert!(matches!(
            verdict(&known, "h50.example.org", &keys[1]),
            Verdict::OtherTypes { .. }
        ));
        assert_eq!(
            verdict(&known, "[h8.example.org]:2222", &keys[2]),
            Verdict::Known
        );
        assert_eq!(verdict(&known, "nowhere", &keys[0]), Verdict::Unknown);
        assert!(algorithm_preference(&known, "h1.example.org").starts_with("rsa-sha2-512"));
    }

    /// Benchmark, not a test of speed (its own command: `cargo test --release --lib
    /// known_hosts_lookup_cost -- --ignored --nocapture`): a host's two lookups against a
    /// 1000-line file, plain and hashed.
    #[test]
    #[ignore]
    fn known_hosts_lookup_cost() {
        let k = blob("ssh-ed25519", &[7; 32]);
        for hashed in [false, true] {
            let text: Vec<String> = (0..1000)
                .map(|i| {
                    let name = format!("10.79.{}.{}", i / 250, i % 250);
                    if hashed {
                        let salt = [i as u8; 20];
                        let mac = hmac_sha1(&salt, name.as_bytes());
                        line(
                            &format!("|1|{}|{}", base64::encode(&salt), base64::encode(&mac)),
                            &k,
                        )
                    } else {
                        line(&name, &k)
                    }
                })
                .collect();
            let (entries, _) = parse(&text.join("\n"), "kh");
            let known = Known::new(entries.clone());
            let t = std::time::Instant::now();
            for i in 0..1000 {
                let name = format!("10.79.{}.{}", i / 250, i % 250);
                let _ = algorithm_preference(&known, &name);
                assert_eq!(verdict(&known, &name, &k), Verdict::Known);
            }
            let indexed = t.elapsed() / 1000;
            let t = std::time::Instant::now();
            for i in 0..1000 {
                let name = format!("10.79.{}.{}", i / 250, i % 250);
                assert_eq!(scan(&entries, &name).len() + scan(&entries, &name).len(), 2);
            }
            let scanned = t.elapsed() / 1000;
            println!("1000 lines, hashed {hashed}: per host {indexed:?} (every line scanned twice: {scanned:?})");
        }
    }
}
