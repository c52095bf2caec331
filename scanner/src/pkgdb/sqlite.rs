//! A read-only walk of one table of an SQLite 3 database file (the rpm database on RHEL ≥ 9 and
//! Fedora: `rpmdb.sqlite`), without the SQLite library: the file header, table b-tree pages,
//! overflow chains and the record format (sqlite.org/fileformat2.html). Pure over a
//! [`PageSource`] (a file in the scanner, bytes in tests); every page number, size, count and
//! depth is bounded, and a loop in the page graph ends the walk with an error.
//!
//! Only what rpm needs: find a table's root page in `sqlite_schema`, then visit every row's
//! column values. A write-ahead log (`-wal`) is not read: the caller reports it.

/// Reads page-sized pieces of the database.
pub trait PageSource {
    /// Fills `buf` from byte `offset` (false: past the end or unreadable).
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> bool;
}

impl PageSource for [u8] {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> bool {
        let Ok(o) = usize::try_from(offset) else {
            return false;
        };
        match self.get(o..o.saturating_add(buf.len())) {
            Some(s) => {
                buf.copy_from_slice(s);
                true
            }
            None => false,
        }
    }
}

impl PageSource for std::fs::File {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> bool {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset).is_ok()
    }
}

/// One column value of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Null,
    Int(i64),
    Text(&'a [u8]),
    Blob(&'a [u8]),
    Other,
}

/// What [`Db::rows`] calls for each row: its rowid and columns; an error stops the walk.
pub type RowFn<'f> = dyn FnMut(i64, &[Value]) -> Result<(), String> + 'f;

pub struct Db<'s, S: PageSource + ?Sized> {
    src: &'s S,
    page_size: usize,
    usable: usize,
    pages: u32,
    /// Pages visited so far (bounds the whole walk, loops included).
    visits: std::cell::Cell<u64>,
}

const MAX_DEPTH: usize = 32;

fn be(b: &[u8]) -> u64 {
    b.iter().fold(0, |a, &x| (a << 8) | u64::from(x))
}

/// A varint at `b[i..]`: its value and length.
fn varint(b: &[u8], i: usize) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for k in 0..9 {
        let x = *b.get(i + k)?;
        if k == 8 {
            return Some(((v << 8) | u64::from(x), 9));
        }
        v = (v << 7) | u64::from(x & 0x7f);
        if x & 0x80 == 0 {
            return Some((v, k + 1));
        }
    }
    None
}

impl<'s, S: PageSource + ?Sized> Db<'s, S> {
    /// Opens a database of `file_len` bytes (the header is checked).
    pub fn open(src: &'s S, file_len: u64) -> Result<Self, String> {
        let mut h = [0u8; 100];
        if !src.read_at(0, &mut h) || &h[..16] != b"SQLite format 3\0" {
            return Err("not an SQLite 3 database".into());
        }
        let page_size = match be(&h[16..18]) {
            1 => 65536,
            n if n >= 512 && n.is_power_of_two() && n <= 32768 => n as usize,
            n => return Err(format!("bad page size {n}")),
        };
        let usable = page_size - usize::from(h[20]);
        if usable < 480 {
            return Err("bad reserved space".into());
        }
        if be(&h[56..60]) > 1 {
            return Err("text encoding is not UTF-8".into());
        }
        Ok(Db {
            src,
            page_size,
            usable,
            pages: u32::try_from(file_len / page_size as u64).unwrap_or(u32::MAX),
            visits: std::cell::Cell::new(0),
        })
    }

    fn page(&self, n: u32) -> Result<Vec<u8>, String> {
        if n == 0 || n > self.pages {
            return Err(format!("page {n} out of range"));
        }
        let v = self.visits.get() + 1;
        if v > 4 * u64::from(self.pages) + 16 {
            return Err("the page graph loops".into());
        }
        self.visits.set(v);
        let mut buf = vec![0u8; self.page_size];
        if !self
            .src
            .read_at(u64::from(n - 1) * self.page_size as u64, &mut buf)
        {
            return Err(format!("page {n} unreadable"));
        }
        Ok(buf)
    }

    /// Visits every row of the table b-tree rooted at `root`: `f(rowid, columns)`.
    pub fn rows(&self, root: u32, f: &mut RowFn) -> Result<(), String> {
        self.walk(root, 0, f)
    }

    fn walk(&self, n: u32, depth: usize, f: &mut RowFn) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err("b-tree too deep".into());
        }
        let p = self.page(n)?;
        let h = if n == 1 { 100 } else { 0 };
        let kind = *p.get(h).ok_or("short page")?;
        let cells = be(&p[h + 3..h + 5]) as usize;
        let hdr = match kind {
            0x05 => 12,
            0x0d => 8,
            k => return Err(format!("page {n}: not a table b-tree page (type {k})")),
        };
        for c in 0..cells {
            let at = h + hdr + 2 * c;
            let off = be(p.get(at..at + 2).ok_or("cell pointer out of page")?) as usize;
            if kind == 0x05 {
                let child = be(p.get(off..off + 4).ok_or("cell out of page")?) as u32;
                self.walk(child, depth + 1, f)?;
            } else {
                let (len, a) = varint(&p, off).ok_or("bad cell")?;
                let (rowid, b) = varint(&p, off + a).ok_or("bad cell")?;
                let payload = self.payload(&p, off + a + b, len)?;
                let cols = record(&payload).ok_or_else(|| format!("page {n}: bad record"))?;
                f(rowid as i64, &cols)?;
            }
        }
        if kind == 0x05 {
            self.walk(be(&p[h + 8..h + 12]) as u32, depth + 1, f)?;
        }
        Ok(())
    }

    /// A cell's payload of `len` bytes starting at `p[at..]`, with its overflow pages.
    fn payload(&self, p: &[u8], at: usize, len: u64) -> Result<Vec<u8>, String> {
        let u = self.usable;
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l <= 256 << 20)
            .ok_or("payload too large")?;
        let x = u - 35;
        let local = if len <= x {
            len
        } else {
            let m = (u - 12) * 32 / 255 - 23;
            let k = m + (len - m) % (u - 4);
            if k <= x {
                k
            } else {
                m
            }
        };
        // never reserve what the file claims
        let mut out = Vec::with_capacity(len.min(64 << 10));
        out.extend_from_slice(p.get(at..at + local).ok_or("payload out of page")?);
        if local < len {
            let mut next = be(p.get(at + local..at + local + 4).ok_or("bad overflow")?) as u32;
            while out.len() < len {
                let o = self.page(next)?;
                let take = (len - out.len()).min(u - 4);
                out.extend_from_slice(&o[4..4 + take]);
                next = be(&o[..4]) as u32;
            }
        }
        Ok(out)
    }

    /// The root page of table `name` (from `sqlite_schema`).
    pub fn table_root(&self, name: &str) -> Result<u32, String> {
        let mut root = None;
        self.rows(1, &mut |_, cols| {
            if let (Some(Value::Text(b"table")), Some(Value::Text(n)), Some(Value::Int(r))) =
                (cols.first(), cols.get(1), cols.get(3))
            {
                if *n == name.as_bytes() {
                    root = u32::try_from(*r).ok();
                }
            }
            Ok(())
        })?;
        root.ok_or_else(|| format!("no table {name}"))
    }
}

/// The most columns of a record read (the schema table has 5, rpm's tables 2); the rest are
/// not parsed (a record of 33 million NULL columns became a 767 MiB vector).
const MAX_COLUMNS: usize = 16;

/// The first [`MAX_COLUMNS`] columns of a record (sqlite.org/fileformat2.html#record_format).
fn record(b: &[u8]) -> Option<Vec<Value<'_>>> {
    let (hlen, mut i) = varint(b, 0)?;
    let hlen = usize::try_from(hlen).ok().filter(|&h| h <= b.len())?;
    let mut body = hlen;
    let mut out = Vec::new();
    while i < hlen && out.len() < MAX_COLUMNS {
        let (t, n) = varint(b, i)?;
        i += n;
        let size = match t {
            0 | 8 | 9 => 0,
            1..=4 => t as usize,
            5 => 6,
            6 | 7 => 8,
            10 | 11 => return None,
            t => ((t - 12) / 2) as usize,
        };
        let v = b.get(body..body.checked_add(size)?)?;
        body += size;
        out.push(match t {
            0 => Value::Null,
            8 => Value::Int(0),
            9 => Value::Int(1),
            1..=6 => {
                // big-endian two's complement of `size` bytes
                let shift = 64 - 8 * size as u32;
                Value::Int(((be(v) << shift) as i64) >> shift)
            }
            7 => Value::Other,
            t if t % 2 == 0 => Value::Blob(v),
            _ => Value::Text(v),
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_records() {
        assert_eq!(varint(&[0x05], 0), Some((5, 1)));
        assert_eq!(varint(&[0x81, 0x00], 0), Some((128, 2)));
        assert_eq!(varint(&[0xff; 9], 0), Some((u64::MAX, 9)));
        assert_eq!(varint(&[0x81], 0), None);
        // header: len 4, NULL, int8, text(2); body: -2, "hi"
        let rec = [4u8, 0, 1, 17, 0xfe, b'h', b'i'];
        assert_eq!(
            record(&rec).unwrap(),
            [Value::Null, Value::Int(-2), Value::Text(b"hi")]
        );
        // a value running past the record is refused
        assert_eq!(record(&[3u8, 1, 19, 7]), None);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Db::open(&b"not a database"[..], 14).is_err());
        let mut page = vec![0u8; 1024];
        page[..16].copy_from_slice(b"SQLite format 3\0");
        page[16..18].copy_from_slice(&1024u16.to_be_bytes());
        page[100] = 0x05; // interior page whose right child is itself: a loop
        page[108..112].copy_from_slice(&1u32.to_be_bytes());
        let db = Db::open(&page[..], 1024).unwrap();
        assert!(db.table_root("Packages").is_err());
        page[100] = 0x0d;
        page[103..105].copy_from_slice(&60000u16.to_be_bytes()); // cells past the page
        let db = Db::open(&page[..], 1024).unwrap();
        assert!(db.table_root("Packages").is_err());
    }

    #[test]
    fn a_record_of_millions_of_columns_is_cut() {
        // a header of type-0 (NULL) columns as long as the payload
        let n = 1 << 20;
        let mut b = Vec::new();
        // header length as a 3-byte varint (n + 3 < 2^21)
        let h = (n + 3) as u32;
        b.extend_from_slice(&[
            0x80 | (h >> 14) as u8,
            0x80 | ((h >> 7) & 0x7f) as u8,
            (h & 0x7f) as u8,
        ]);
        b.extend(std::iter::repeat_n(0u8, n));
        let cols = record(&b).unwrap();
        assert_eq!(cols.len(), MAX_COLUMNS);
    }
}
