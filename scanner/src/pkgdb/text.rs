//! The text package databases (pure parsers): Arch's pacman (`local/<pkg>/desc` `%NAME%`,
//! `local/<pkg>/files` `%FILES%`, paths relative to `/`) and Alpine's apk
//! (`lib/apk/db/installed`: stanzas of `X:value` lines, `P:` name, `F:` a directory relative to
//! `/`, each `R:` a file in the last `F:`). Each turns into `(package, "/path\n" lines)` for
//! [`crate::packages::Index::add_list`].

/// `%NAME%` of a pacman `desc` file.
pub fn pacman_name(desc: &str) -> Option<&str> {
    let mut lines = desc.lines();
    lines.find(|l| l.trim() == "%NAME%")?;
    lines.next().map(str::trim).filter(|n| !n.is_empty())
}

/// The `%FILES%` of a pacman `files` file as `/path` lines (directories, ending in `/`, left out).
pub fn pacman_files(files: &str) -> String {
    let mut out = String::new();
    let mut on = false;
    for l in files.lines() {
        if l.starts_with('%') {
            on = l == "%FILES%";
        } else if on && !l.is_empty() && !l.ends_with('/') {
            out.push('/');
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// Every package of an apk `installed` database: `f(name, "/path" lines)`. A path longer than
/// `PATH_MAX` is skipped, and a package's paths spell out at most 16 times its own lines
/// (one 64 KiB `F:` and 4096 `R:` lines made 256 MiB from 82 KB).
pub fn apk_packages(db: &str, f: &mut dyn FnMut(&str, &str)) {
    let (mut name, mut dir, mut files) = (String::new(), String::new(), String::new());
    let mut read = 0usize;
    let mut flush = |name: &mut String, files: &mut String| {
        if !name.is_empty() {
            f(name, files);
        }
        name.clear();
        files.clear();
    };
    for l in db.lines() {
        if l.is_empty() {
            flush(&mut name, &mut files);
            dir.clear();
            read = 0;
            continue;
        }
        read += l.len() + 1;
        match l.split_at_checked(2) {
            Some(("P:", v)) => name = v.to_string(),
            Some(("F:", v)) => dir = v.trim_matches('/').to_string(),
            Some(("R:", v))
                if !v.is_empty()
                    && !v.contains('/')
                    && dir.len() + v.len() + 2 <= super::rpm::MAX_PATH
                    && files.len() + dir.len() + v.len() + 3 <= 16 * read + (64 << 10) =>
            {
                files.push('/');
                if !dir.is_empty() {
                    files.push_str(&dir);
                    files.push('/');
                }
                files.push_str(v);
                files.push('\n');
            }
            _ => {}
        }
    }
    flush(&mut name, &mut files);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacman_desc_and_files() {
        let desc = "%NAME%\ncronie\n\n%VERSION%\n1.7.0-1\n\n%INSTALLDATE%\n1700000000\n";
        assert_eq!(pacman_name(desc), Some("cronie"));
        assert_eq!(pacman_name("%VERSION%\n1\n"), None);
        let files = "%FILES%\nusr/\nusr/bin/\nusr/bin/crond\nusr/lib/libx.so.1\n\n%BACKUP%\netc/cron.deny\tabc\n";
        assert_eq!(pacman_files(files), "/usr/bin/crond\n/usr/lib/libx.so.1\n");
    }

    #[test]
    fn apk_stanzas() {
        let db = "C:Q1x=\nP:musl\nV:1.2.4-r2\nF:lib\nR:ld-musl-x86_64.so.1\na:0:0:755\nZ:Q1y=\nR:libc.musl-x86_64.so.1\n\n\
                  P:busybox\nV:1.36\nF:bin\nR:busybox\nF:etc\nR:securetty\nR:../evil\n\nP:meta\n";
        let mut got = Vec::new();
        apk_packages(db, &mut |n, f| got.push((n.to_string(), f.to_string())));
        assert_eq!(
            got,
            [
                (
                    "musl".into(),
                    "/lib/ld-musl-x86_64.so.1\n/lib/libc.musl-x86_64.so.1\n".into()
                ),
                ("busybox".into(), "/bin/busybox\n/etc/securetty\n".into()),
                ("meta".into(), String::new()),
            ]
        );
    }

    #[test]
    fn apk_paths_are_bounded() {
        let dir = "d".repeat(64 << 10);
        let mut db = format!("P:x\nF:{dir}\n");
        for _ in 0..4096 {
            db.push_str("R:y\n");
        }
        let mut total = 0;
        apk_packages(&db, &mut |_, files| total += files.len());
        assert_eq!(total, 0, "paths over PATH_MAX are skipped");
        let dir = "d".repeat(4000);
        let mut db = format!("P:x\nF:{dir}\n");
        for _ in 0..4096 {
            db.push_str("R:y\n");
        }
        let mut total = 0;
        apk_packages(&db, &mut |_, files| total += files.len());
        assert!(
            total <= 16 * db.len() + (64 << 10),
            "{total} from {}",
            db.len()
        );
        let mut got = String::new();
        apk_packages("P:cron\nF:usr/sbin\nR:crond\n", &mut |_, f| {
            got = f.to_string()
        });
        assert_eq!(got, "/usr/sbin/crond\n");
    }
}
