//! The rpm database without rpm: which backend a host has (sqlite `rpmdb.sqlite`, Berkeley DB
//! `Packages`; ndb `Packages.db` is recognised and reported, not read), and each package's
//! header blob → its name and file paths. The header parser is pure (rpm's
//! `docs/manual/format_header.md`: in the database the blob starts at the index count, without
//! the 8-byte magic); every count and offset is checked against the blob.

use super::sqlite;

const NAME: u32 = 1000;
const OLDFILENAMES: u32 = 1027;
const DIRINDEXES: u32 = 1116;
const BASENAMES: u32 = 1117;
const DIRNAMES: u32 = 1118;

const STRING: u32 = 6;
const INT32: u32 = 4;
const STRING_ARRAY: u32 = 8;
const I18NSTRING: u32 = 9;

/// A package header's name and files.
#[derive(Debug, Default, PartialEq)]
pub struct Header {
    pub name: String,
    pub files: Vec<String>,
}

fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?))
}

/// The longest path kept (Linux's `PATH_MAX`); a header with a longer one is refused.
pub const MAX_PATH: usize = 4096;

/// A header's paths may spell out at most this many times its blob's bytes, plus 64 KiB (review
/// R13: 4096 empty basenames under one 64 KiB dirname made 256 MiB of paths from 86 KB; real
/// headers, whose directories are shared, spell out a few times their size).
pub const MAX_EXPANSION: usize = 16;

/// Parses a header blob as stored in the rpm database.
pub fn parse_header(blob: &[u8]) -> Option<Header> {
    let il = u32_at(blob, 0)? as usize;
    let dl = u32_at(blob, 4)? as usize;
    if il > 0xffff || dl > 256 << 20 {
        return None;
    }
    let data_at = 8 + il * 16;
    let data = blob.get(data_at..data_at.checked_add(dl)?)?;
    // (type, offset, count) of a tag
    let find = |tag: u32| -> Option<(u32, usize, usize)> {
        (0..il).find_map(|e| {
            let at = 8 + e * 16;
            (u32_at(blob, at)? == tag).then_some(())?;
            Some((
                u32_at(blob, at + 4)?,
                u32_at(blob, at + 8)? as usize,
                u32_at(blob, at + 12)? as usize,
            ))
        })
    };
    let strings = |tag: u32| -> Option<Vec<&[u8]>> {
        let (ty, off, count) = find(tag)?;
        if !matches!(ty, STRING | STRING_ARRAY | I18NSTRING) || count > dl {
            return None;
        }
        // never reserve what the file claims
        let mut out = Vec::with_capacity(count.min(4096));
        let mut rest = data.get(off..)?;
        for _ in 0..count {
            let end = memchr::memchr(0, rest)?;
            out.push(&rest[..end]);
            rest = &rest[end + 1..];
        }
        Some(out)
    };
    let name = strings(NAME)?
        .first()
        .map(|n| String::from_utf8_lossy(n).into_owned())?;
    let mut files = Vec::new();
    if let (Some(dirs), Some(bases), Some((INT32, off, count))) =
        (strings(DIRNAMES), strings(BASENAMES), find(DIRINDEXES))
    {
        if count != bases.len() || count > dl / 4 {
            return None;
        }
        let mut budget = MAX_EXPANSION * blob.len() + (64 << 10);
        for (i, base) in bases.iter().enumerate() {
            let d = u32_at(data, off + 4 * i)? as usize;
            let dir = dirs.get(d)?;
            let len = dir.len() + base.len();
            if len > MAX_PATH || len > budget {
                return None;
            }
            budget -= len;
            let mut p = dir.to_vec();
            p.extend_from_slice(base);
            files.push(String::from_utf8(p).ok()?);
        }
    } else if let Some(old) = strings(OLDFILENAMES) {
        files = old
            .iter()
            .filter_map(|p| std::str::from_utf8(p).ok().map(String::from))
            .collect();
    }
    Some(Header { name, files })
}

/// An rpm database found on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Bdb,
    Ndb,
}

/// Where the rpm database is, newest location first (`/var/lib/rpm` is often a link to it).
pub fn find(root: &std::path::Path) -> Option<(Backend, std::path::PathBuf)> {
    for dir in ["usr/lib/sysimage/rpm", "var/lib/rpm"] {
        for (file, b) in [
            ("rpmdb.sqlite", Backend::Sqlite),
            ("Packages", Backend::Bdb),
            ("Packages.db", Backend::Ndb),
        ] {
            let p = root.join(dir).join(file);
            if p.is_file() {
                return Some((b, p));
            }
        }
    }
    None
}

/// Every header blob of an sqlite rpm database: `f(blob)`.
pub fn sqlite_blobs<S: sqlite::PageSource + ?Sized>(
    src: &S,
    len: u64,
    f: &mut dyn FnMut(&[u8]),
) -> Result<(), String> {
    let db = sqlite::Db::open(src, len)?;
    let root = db.table_root("Packages")?;
    db.rows(root, &mut |_, cols| {
        if let Some(sqlite::Value::Blob(b)) = cols.get(1) {
            f(b);
        }
        Ok(())
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A header blob with these string/string-array/int32 entries (tests and fuzzing).
    pub(crate) fn blob(entries: &[(u32, u32, Vec<u8>, u32)]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        for (tag, ty, bytes, count) in entries {
            while *ty == INT32 && data.len() % 4 != 0 {
                data.push(0);
            }
            for v in [*tag, *ty, data.len() as u32, *count] {
                index.extend_from_slice(&v.to_be_bytes());
            }
            data.extend_from_slice(bytes);
        }
        let mut b = Vec::new();
        b.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        b.extend_from_slice(&(data.len() as u32).to_be_bytes());
        b.extend(index);
        b.extend(data);
        b
    }

    #[test]
    fn files_from_dirnames_basenames_dirindexes() {
        let idx: Vec<u8> = [0u32, 1, 1].iter().flat_map(|v| v.to_be_bytes()).collect();
        let b = blob(&[
            (NAME, STRING, b"cronie\0".to_vec(), 1),
            (DIRINDEXES, INT32, idx, 3),
            (
                BASENAMES,
                STRING_ARRAY,
                b"crond\0libx.so.1\0libx.so.1.2\0".to_vec(),
                3,
            ),
            (
                DIRNAMES,
                STRING_ARRAY,
                b"/usr/sbin/\0/usr/lib64/\0".to_vec(),
                2,
            ),
        ]);
        let h = parse_header(&b).unwrap();
        assert_eq!(h.name, "cronie");
        assert_eq!(
            h.files,
            [
                "/usr/sbin/crond",
                "/usr/lib64/libx.so.1",
                "/usr/lib64/libx.so.1.2"
            ]
        );
        // a directory index past the directories, a count past the data: refused
        let bad: Vec<u8> = [5u32].iter().flat_map(|v| v.to_be_bytes()).collect();
        let b = blob(&[
            (NAME, STRING, b"x\0".to_vec(), 1),
            (DIRINDEXES, INT32, bad, 1),
            (BASENAMES, STRING_ARRAY, b"a\0".to_vec(), 1),
            (DIRNAMES, STRING_ARRAY, b"/\0".to_vec(), 1),
        ]);
        assert_eq!(parse_header(&b), None);
        let b = blob(&[(NAME, STRING, b"x\0".to_vec(), 1000)]);
        assert_eq!(parse_header(&b), None); // a count past the data
        let b = blob(&[(NAME, STRING_ARRAY, b"x".to_vec(), 1)]);
        assert_eq!(parse_header(&b), None); // no terminating NUL
        assert_eq!(parse_header(&[0, 0]), None);
        // a package without files (a meta package)
        let h = parse_header(&blob(&[(NAME, STRING, b"meta\0".to_vec(), 1)])).unwrap();
        assert!(h.files.is_empty());
    }

    #[test]
    fn paths_are_bounded_against_the_blob() {
        // one 64 KiB dirname, 4096 empty basenames, every index 0: 256 MiB of
        // paths from an 86 KB blob. Refused now (a path over PATH_MAX, and the expansion).
        let dir = vec![b'd'; 64 << 10];
        let tags = [
            (NAME, STRING, b"p\0".to_vec(), 1u32),
            (DIRNAMES, STRING_ARRAY, [&dir[..], b"\0"].concat(), 1),
            (BASENAMES, STRING_ARRAY, vec![0u8; 4096], 4096),
            (DIRINDEXES, INT32, vec![0u8; 4 * 4096], 4096),
        ];
        let blob = blob_of(&tags);
        assert!(parse_header(&blob).is_none());
        // a sound header still parses
        let ok = blob_of(&[
            (NAME, STRING, b"cron\0".to_vec(), 1),
            (DIRNAMES, STRING_ARRAY, b"/usr/sbin/\0".to_vec(), 1),
            (BASENAMES, STRING_ARRAY, b"cron\0".to_vec(), 1),
            (DIRINDEXES, INT32, vec![0u8; 4], 1),
        ]);
        let h = parse_header(&ok).unwrap();
        assert_eq!(h.files, ["/usr/sbin/cron"]);
    }

    /// A header blob (index count, data length, entries, data) of (tag, type, data, count).
    fn blob_of(tags: &[(u32, u32, Vec<u8>, u32)]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        for (tag, ty, d, count) in tags {
            for v in [*tag, *ty, data.len() as u32, *count] {
                index.extend_from_slice(&v.to_be_bytes());
            }
            data.extend_from_slice(d);
        }
        let mut b = Vec::new();
        b.extend_from_slice(&(tags.len() as u32).to_be_bytes());
        b.extend_from_slice(&(data.len() as u32).to_be_bytes());
        b.extend_from_slice(&index);
        b.extend_from_slice(&data);
        b
    }
}
