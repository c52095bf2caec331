//! Host patterns and `--limit` (operator input) against a small fixed inventory: unions,
//! intersections, exclusions, globs, `~regex`, subscripts.
#![no_main]
use fleetrestart::inventory::{ini, pattern, Inventory};
use libfuzzer_sys::fuzz_target;

const INV: &str = "[web]\nweb[01:12].example.org\n[db]\ndb1 ansible_port=2222\ndb2\n\
                   [prod:children]\nweb\ndb\n[lb]\nlb1\n";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut inv = Inventory::new();
    ini::parse(&mut inv, "fixed.ini", INV).expect("the fixed inventory parses");
    let (pat, limit) = text.split_once('\n').unwrap_or((text, ""));
    let limit: Vec<String> = pattern::limit_file_terms(limit);
    let limit = (!limit.is_empty()).then_some(limit.as_slice());
    let _ = pattern::select(&inv, &[pat.to_string()], limit);
});
