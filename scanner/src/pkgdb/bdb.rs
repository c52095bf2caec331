//! A read-only walk of a Berkeley DB hash database (rpm's `Packages` on RHEL 7/8 and older
//! Fedora), without libdb: the metadata page (either byte order), hash pages' key/data pairs,
//! and off-page values through their overflow chains (db-5.3 `dbinc/db_page.h`; rpm ships the
//! same kind of reader, `lib/backend/bdb_ro.cc`). Pure over a [`PageSource`]; page numbers,
//! lengths and chains are bounded. Encrypted or checksummed databases are refused.

use super::sqlite::PageSource;

const HASH_MAGIC: u32 = 0x061561;
const P_HASH_UNSORTED: u8 = 2;
const P_OVERFLOW: u8 = 7;
const P_HASH: u8 = 13;
const H_KEYDATA: u8 = 1;
const H_OFFPAGE: u8 = 3;
const PAGE_HEADER: usize = 26;

/// Every data value of the hash database of `len` bytes: `f(value)` (keys are not needed by
/// rpm's reader).
pub fn values<S: PageSource + ?Sized>(
    src: &S,
    len: u64,
    f: &mut dyn FnMut(&[u8]),
) -> Result<(), String> {
    let mut meta = [0u8; 72];
    if !src.read_at(0, &mut meta) {
        return Err("not a Berkeley DB file".into());
    }
    let raw = u32::from_le_bytes(meta[12..16].try_into().unwrap_or_default());
    let swapped = match raw {
        HASH_MAGIC => false,
        m if m.swap_bytes() == HASH_MAGIC => true,
        _ => return Err("not a Berkeley DB hash database".into()),
    };
    let u32_at = |b: &[u8], i: usize| -> u32 {
        let v = u32::from_le_bytes(b[i..i + 4].try_into().unwrap_or_default());
        if swapped {
            v.swap_bytes()
        } else {
            v
        }
    };
    let u16_at = |b: &[u8], i: usize| -> usize {
        let v = u16::from_le_bytes(b[i..i + 2].try_into().unwrap_or_default());
        usize::from(if swapped { v.swap_bytes() } else { v })
    };
    let page_size = u32_at(&meta, 20) as usize;
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(format!("bad page size {page_size}"));
    }
    if meta[24] != 0 || meta[26] & 1 != 0 {
        return Err("encrypted or checksummed Berkeley DB: not read".into());
    }
    // the metadata's last page, within the file
    let in_file = u32::try_from((len / page_size as u64).saturating_sub(1)).unwrap_or(u32::MAX);
    let last = u32_at(&meta, 32).min(in_file);
    let page = |n: u32, buf: &mut Vec<u8>| -> bool {
        buf.resize(page_size, 0);
        n <= last && src.read_at(u64::from(n) * page_size as u64, buf)
    };
    let (mut p, mut o) = (Vec::new(), Vec::new());
    let mut value = Vec::new();
    // one budget of overflow page visits for the whole walk: each overflow page
    // belongs to one value, so a sound file needs at most one visit per page; items sharing a
    // looping chain made the work pages × items × pages (a 10 MiB file: minutes as root)
    let mut visits_left = 2 * u64::from(last) + 16;
    for n in 1..=last {
        if !page(n, &mut p) || !matches!(p[25], P_HASH | P_HASH_UNSORTED) {
            continue;
        }
        let entries = u16_at(&p, 20);
        if PAGE_HEADER + 2 * entries > page_size {
            return Err(format!("page {n}: too many entries"));
        }
        // data items are the odd entries; an item ends where the previous one starts
        for i in (1..entries).step_by(2) {
            let at = u16_at(&p, PAGE_HEADER + 2 * i);
            let end = u16_at(&p, PAGE_HEADER + 2 * (i - 1));
            if at >= page_size || end > page_size || at >= end {
                return Err(format!("page {n}: bad item offset"));
            }
            match p[at] {
                H_KEYDATA => f(&p[at + 1..end]),
                H_OFFPAGE if at + 12 <= page_size => {
                    let (mut next, total) = (u32_at(&p, at + 4), u32_at(&p, at + 8) as usize);
                    if total > 256 << 20 {
                        return Err(format!("page {n}: value too large"));
                    }
                    value.clear();
                    let mut hops = 0;
                    while value.len() < total {
                        hops += 1;
                        if visits_left == 0 {
                            return Err(format!(
                                "page {n}: overflow chains visit more pages than the file has: the page graph loops"
                            ));
                        }
                        visits_left -= 1;
                        if hops > last || !page(next, &mut o) || o[25] != P_OVERFLOW {
                            return Err(format!("page {n}: broken overflow chain"));
                        }
                        let len = u16_at(&o, 22).min(page_size - PAGE_HEADER);
                        let take = len.min(total - value.len());
                        value.extend_from_slice(&o[PAGE_HEADER..PAGE_HEADER + take]);
                        next = u32_at(&o, 16);
                    }
                    f(&value);
                }
                _ => {} // duplicates: rpm does not use them
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_loops_are_errors() {
        assert!(values(&b"short"[..], 5, &mut |_| {}).is_err());
        // a meta page, one hash page whose off-page item's chain points at itself
        let ps = 512usize;
        let mut db = vec![0u8; 3 * ps];
        db[12..16].copy_from_slice(&HASH_MAGIC.to_le_bytes());
        db[20..24].copy_from_slice(&(ps as u32).to_le_bytes());
        db[32..36].copy_from_slice(&2u32.to_le_bytes());
        let p = &mut db[ps..2 * ps];
        p[25] = P_HASH;
        p[20..22].copy_from_slice(&2u16.to_le_bytes());
        p[26..28].copy_from_slice(&500u16.to_le_bytes()); // key at 500..512
        p[28..30].copy_from_slice(&480u16.to_le_bytes()); // data at 480..500
        p[500] = H_KEYDATA;
        p[480] = H_OFFPAGE;
        p[484..488].copy_from_slice(&2u32.to_le_bytes());
        p[488..492].copy_from_slice(&100_000u32.to_le_bytes());
        let o = &mut db[2 * ps..];
        o[25] = P_OVERFLOW;
        o[16..20].copy_from_slice(&2u32.to_le_bytes()); // next: itself
        o[22..24].copy_from_slice(&10u16.to_le_bytes());
        let e = values(&db[..], db.len() as u64, &mut |_| {}).unwrap_err();
        assert!(e.contains("overflow"), "{e}");
        // the same value small enough: read whole
        db[ps + 488..ps + 492].copy_from_slice(&10u32.to_le_bytes());
        let mut got = Vec::new();
        values(&db[..], db.len() as u64, &mut |v| got.push(v.len())).unwrap();
        // a last page far past the file's end is the file's end (not 4 billion empty reads)
        db[32..36].copy_from_slice(&u32::MAX.to_le_bytes());
        values(&db[..], db.len() as u64, &mut |_| {}).unwrap();
        assert_eq!(got, [10]);
    }

    #[test]
    fn items_sharing_a_looping_chain_exhaust_one_budget_for_the_whole_walk() {
        // 510 hash pages of off-page items, all pointing at one overflow page that
        // links to itself; each chain alone is within its bound (10 hops), the walk is not
        let ps = 512usize;
        let pages = 512u32;
        let mut db = vec![0u8; pages as usize * ps];
        db[12..16].copy_from_slice(&HASH_MAGIC.to_le_bytes());
        db[20..24].copy_from_slice(&(ps as u32).to_le_bytes());
        db[32..36].copy_from_slice(&(pages - 1).to_le_bytes());
        let ov = pages - 1;
        for n in 1..ov as usize {
            let p = &mut db[n * ps..(n + 1) * ps];
            p[25] = P_HASH;
            // pairs: a 2-byte key item and a 12-byte off-page item, packed from the end
            let pairs = 24usize;
            p[20..22].copy_from_slice(&((2 * pairs) as u16).to_le_bytes());
            let mut end = ps;
            for i in 0..pairs {
                let key = end - 2;
                let data = key - 12;
                p[26 + 4 * i..28 + 4 * i].copy_from_slice(&(key as u16).to_le_bytes());
                p[28 + 4 * i..30 + 4 * i].copy_from_slice(&(data as u16).to_le_bytes());
                p[key] = H_KEYDATA;
                p[data] = H_OFFPAGE;
                p[data + 4..data + 8].copy_from_slice(&ov.to_le_bytes());
                p[data + 8..data + 12]
                    .copy_from_slice(&(10 * (ps - PAGE_HEADER) as u32).to_le_bytes());
                end = data;
            }
        }
        let o = &mut db[ov as usize * ps..];
        o[25] = P_OVERFLOW;
        o[16..20].copy_from_slice(&ov.to_le_bytes());
        o[22..24].copy_from_slice(&((ps - PAGE_HEADER) as u16).to_le_bytes());
        let mut delivered = 0usize;
        let r = values(&db[..], db.len() as u64, &mut |v| delivered += v.len());
        let e = r.unwrap_err();
        assert!(e.contains("loops"), "{e}");
        // no more than about twice the file was delivered before the budget ran out
        assert!(
            delivered <= 2 * db.len(),
            "{delivered} bytes from a {} byte file",
            db.len()
        );
    }
}
