//! Inventory parsers (operator input): the first byte picks YAML, INI or `ansible-inventory
//! --list` JSON; the rest is the file. Then every host is selected through `all`.
#![no_main]
use fleetrestart::inventory::{ini, json, pattern, yaml, Inventory};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let mut inv = Inventory::new();
    let ok = match kind % 3 {
        0 => yaml::parse(&mut inv, "fuzz.yml", text, &[]).is_ok(),
        1 => ini::parse(&mut inv, "fuzz.ini", text).is_ok(),
        _ => json::parse(&mut inv, "fuzz.json", text).is_ok(),
    };
    if ok {
        let _ = pattern::select(&inv, &["all".to_string()], None);
    }
});
