//! The modules a Python or Perl daemon loaded from source files, found statically.
//!
//! Pure, over the small [`Sources`] trait (read a file, bounded). needrestart learns an
//! interpreter's search path by running it and follows imports with regexes or by evaluating
//! code, which gave it local-root CVEs; this module never runs or evaluates anything and never
//! looks at the process's environment (`PYTHONPATH`, `PERL5LIB`):
//!
//! - the search path comes from the interpreter's version (from its executable's name, or the
//!   versioned directories of the host for perl) and Debian's layout ([`search_path`]);
//! - imports are read from the text: Python `import a.b` / `from a.b import c` at the start of a
//!   line only (an indented import runs later, if ever: the process may load the new file, so it
//!   is not evidence), Perl `use Foo::Bar` (compile time, at any indentation), `use parent` /
//!   `use base` lists, and `require Foo::Bar` at the start of a line;
//! - the walk is bounded ([`Limits`]: files, bytes per file, total bytes, depth) and visits each
//!   file once, so a huge, deep or self-referencing program costs at most the bounds.
//!
//! What it finds is a list of module files; `detect` decides which changed after the process
//! started.

use crate::interp::Interpreter;
use std::collections::{HashSet, VecDeque};

/// Read access to the files as the process sees them.
pub trait Sources {
    /// At most `max` bytes of the regular file at `path`; `None` when there is none.
    fn read(&self, path: &str, max: usize) -> Option<String>;
    /// Is there a regular file at `path`?
    fn exists(&self, path: &str) -> bool {
        self.read(path, 1).is_some()
    }
}

/// Bounds on the work for one program.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_files: usize,
    pub max_bytes_per_file: usize,
    pub max_total_bytes: usize,
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_files: 400,
            max_bytes_per_file: 256 << 10,
            max_total_bytes: 8 << 20,
            max_depth: 24,
        }
    }
}

/// The module files `script` loads (transitively), the script itself excluded, and whether a
/// bound stopped the walk (then the list is incomplete).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Modules {
    pub files: Vec<String>,
    /// Files only imports that run later (inside a function) lead to: loaded at first use, if
    /// ever.
    pub later: Vec<String>,
    pub truncated: bool,
}

/// The directories searched for modules, in order. `exe` is the interpreter's executable,
/// `script` the main script, `arch_triplet` Debian's multiarch triplet
/// (`x86_64-linux-gnu`), `perl_versions` the `5.N` versions whose library directories exist
/// on the host (perl's executable name carries no version on Debian).
pub fn search_path(
    interp: Interpreter,
    exe: &str,
    script: &str,
    arch_triplet: &str,
    perl_versions: &[String],
) -> Vec<String> {
    let script_dir = script
        .rsplit_once('/')
        .map(|(d, _)| d)
        .filter(|d| !d.is_empty());
    match interp {
        Interpreter::Python => {
            let name = exe.rsplit('/').next().unwrap_or(exe);
            let Some(v) = name
                .strip_prefix("python")
                .filter(|v| v.starts_with("3.") && v[2..].bytes().all(|b| b.is_ascii_digit()))
            else {
                return vec![];
            };
            // sys.path[0] is the script's directory; then the standard library and Debian's
            // dist-packages (site-packages of a virtualenv is not guessed)
            let mut p: Vec<String> = script_dir.map(String::from).into_iter().collect();
            p.extend([
                format!("/usr/lib/python{v}"),
                format!("/usr/local/lib/python{v}/dist-packages"),
                "/usr/lib/python3/dist-packages".into(),
                format!("/usr/lib/python{v}/dist-packages"),
            ]);
            p
        }
        Interpreter::Perl => {
            // Debian's @INC (perl -V), without "." (removed from @INC in perl 5.26)
            let t = arch_triplet;
            let mut p = vec!["/etc/perl".to_string()];
            for v in perl_versions {
                p.push(format!("/usr/local/lib/{t}/perl/{v}"));
                p.push(format!("/usr/local/share/perl/{v}"));
            }
            for v in perl_versions {
                let short = v.splitn(3, '.').take(2).collect::<Vec<_>>().join(".");
                p.push(format!("/usr/lib/{t}/perl5/{short}"));
            }
            p.push("/usr/share/perl5".into());
            p.push(format!("/usr/lib/{t}/perl-base"));
            for v in perl_versions {
                let short = v.splitn(3, '.').take(2).collect::<Vec<_>>().join(".");
                p.push(format!("/usr/lib/{t}/perl/{short}"));
                p.push(format!("/usr/share/perl/{short}"));
            }
            p.push("/usr/local/lib/site_perl".into());
            p
        }
        _ => vec![],
    }
}

/// Does a Python command line leave the script's directory out of `sys.path` (`-I`, `-P`)?
pub fn python_skips_script_dir(argv: &[String]) -> bool {
    argv.iter()
        .skip(1)
        .take_while(|a| a.starts_with('-') && a.as_str() != "-" && a.as_str() != "--")
        .filter(|a| !a.starts_with("--") && !a.starts_with("-W") && !a.starts_with("-X"))
        .any(|a| a.contains('I') || a.contains('P'))
}

/// Module names a Python source imports when it is loaded (top-level statements only).
pub fn python_imports(text: &str) -> Vec<String> {
    python_import_lines(text, false)
}

/// Module names a Python source imports later, if ever (indented: inside a function, a
/// condition, a `try`): the process may have loaded them before a change, or not at all.
pub fn python_later_imports(text: &str) -> Vec<String> {
    python_import_lines(text, true)
}

fn python_import_lines(text: &str, indented: bool) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let trimmed = line.trim_start();
        if indented == (trimmed.len() == line.len()) {
            continue;
        }
        let line = trimmed;
        if let Some(rest) = line.strip_prefix("import ") {
            for part in rest.split(',') {
                let name = part.split_whitespace().next().unwrap_or("");
                if is_dotted(name) {
                    out.push(name.to_string());
                }
            }
        } else if let Some(rest) = line.strip_prefix("from ") {
            let mut words = rest.split_whitespace();
            let (Some(module), Some("import")) = (words.next(), words.next()) else {
                continue;
            };
            if !is_dotted(module) {
                continue; // relative imports (from . import x) are not followed
            }
            out.push(module.to_string());
            // `from a import b`: b may be a submodule
            let names = words.collect::<Vec<_>>().join(" ");
            for n in names
                .trim_matches(|c| c == '(' || c == ')' || c == '\\')
                .split(',')
            {
                let n = n.split_whitespace().next().unwrap_or("");
                if !n.is_empty() && n != "*" && n.bytes().all(is_ident_byte) {
                    out.push(format!("{module}.{n}"));
                }
            }
        }
    }
    out
}

/// Module names a Perl source loads at compile time (`use`) or at its top level (`require`).
pub fn perl_uses(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for raw in text.lines() {
        if raw.starts_with("__END__") || raw.starts_with("__DATA__") {
            break;
        }
        let line = raw.trim_start();
        let (is_use, rest) = if let Some(r) = line.strip_prefix("use ") {
            (true, r)
        } else if let Some(r) = raw.strip_prefix("require ") {
            (false, r)
        } else {
            continue;
        };
        let rest = rest.trim_start();
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        if is_use && (name == "parent" || name == "base") {
            // use parent -norequire, 'A', 'B'; use base qw(A B);
            let args = &rest[name.len()..];
            if !args.contains("-norequire") {
                out.extend(
                    args.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                        .filter(|w| is_perl_module(w) && *w != "qw")
                        .map(String::from),
                );
            }
            continue;
        }
        if is_perl_module(&name) {
            out.push(name);
        }
    }
    out
}

/// Module names a Perl source requires later, if ever: `require Foo::Bar` anywhere but at the
/// start of a line (inside a sub, after a condition).
pub fn perl_later_requires(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for raw in text.lines() {
        if raw.starts_with("__END__") || raw.starts_with("__DATA__") {
            break;
        }
        let code = raw.split('#').next().unwrap_or("");
        let mut from = if raw.starts_with("require ") { 8 } else { 0 };
        while let Some(i) = code.get(from..).and_then(|c| c.find("require ")) {
            let at = from + i;
            from = at + 8;
            if at > 0 && code.as_bytes()[at - 1].is_ascii_alphanumeric() {
                continue;
            }
            let name: String = code[at + 8..]
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            if is_perl_module(&name) {
                out.push(name);
            }
        }
    }
    out
}

/// Walks the imports of `script` over `search`, bounded by `limits`: first what it loads at
/// start-up ([`Modules::files`]), then what it imports only later ([`Modules::later`], and
/// everything those load), within the same bounds.
pub fn modules(
    interp: Interpreter,
    script: &str,
    search: &[String],
    src: &impl Sources,
    limits: Limits,
) -> Modules {
    let mut w = Walk {
        interp,
        search,
        src,
        seen: HashSet::from([script.to_string()]),
        budget: limits,
        total: 0,
        files: 0,
        out: Modules::default(),
        later: Vec::new(),
    };
    w.run(VecDeque::from([(script.to_string(), 0)]), false);
    // imports that run later, found on the way: walked once the start-up ones are done
    let mut queue = VecDeque::new();
    for (name, from) in std::mem::take(&mut w.later) {
        for f in resolve(interp, &name, &from, search, src) {
            if w.seen.insert(f.clone()) {
                w.out.later.push(f.clone());
                queue.push_back((f, 1));
            }
        }
    }
    w.run(queue, true);
    w.out
}

/// One program's walk: what it has seen and read, within one budget.
struct Walk<'a, S: Sources> {
    interp: Interpreter,
    search: &'a [String],
    src: &'a S,
    seen: HashSet<String>,
    budget: Limits,
    total: usize,
    files: usize,
    out: Modules,
    /// Imports that run later (name, importing file), found in start-up files.
    later: Vec<(String, String)>,
}

impl<S: Sources> Walk<'_, S> {
    /// Breadth first from `queue`: files found go to `out.files`, or `out.later` when `lazy`
    /// (then every import of theirs is followed as later too).
    fn run(&mut self, mut queue: VecDeque<(String, usize)>, lazy: bool) {
        let b = self.budget;
        while let Some((file, depth)) = queue.pop_front() {
            if self.files >= b.max_files || self.total >= b.max_total_bytes {
                self.out.truncated = true;
                break;
            }
            let Some(text) = self.src.read(&file, b.max_bytes_per_file) else {
                continue;
            };
            self.files += 1;
            self.total += text.len();
            if depth >= b.max_depth {
                self.out.truncated = true;
                continue;
            }
            let (mut names, deferred) = match self.interp {
                Interpreter::Python => (python_imports(&text), python_later_imports(&text)),
                Interpreter::Perl => (perl_uses(&text), perl_later_requires(&text)),
                _ => (vec![], vec![]),
            };
            if lazy {
                names.extend(deferred);
            } else {
                self.later
                    .extend(deferred.into_iter().map(|n| (n, file.clone())));
            }
            for name in names {
                for f in resolve(self.interp, &name, &file, self.search, self.src) {
                    if self.seen.len() > b.max_files * 4 {
                        self.out.truncated = true;
                        break;
                    }
                    if self.seen.insert(f.clone()) {
                        if lazy {
                            self.out.later.push(f.clone());
                        } else {
                            self.out.files.push(f.clone());
                        }
                        queue.push_back((f, depth + 1));
                    }
                }
            }
        }
    }
}

/// The files that loading module `name` reads: for Python each package's `__init__.py` on the
/// way and the module itself; for Perl `Foo/Bar.pm`. The first directory of `search` that has
/// it wins, as in the interpreters.
fn resolve(
    interp: Interpreter,
    name: &str,
    _from: &str,
    search: &[String],
    src: &impl Sources,
) -> Vec<String> {
    let exists = |p: &str| src.exists(p);
    match interp {
        Interpreter::Python => {
            let parts: Vec<&str> = name.split('.').collect();
            for dir in search {
                let top = format!("{dir}/{}", parts[0]);
                let (pkg, file) = (format!("{top}/__init__.py"), format!("{top}.py"));
                let mut files = Vec::new();
                let mut base = if exists(&pkg) {
                    files.push(pkg);
                    top
                } else if exists(&file) {
                    return vec![file];
                } else {
                    continue;
                };
                for part in &parts[1..] {
                    let sub = format!("{base}/{part}");
                    let (pkg, file) = (format!("{sub}/__init__.py"), format!("{sub}.py"));
                    if exists(&pkg) {
                        files.push(pkg);
                        base = sub;
                    } else {
                        if exists(&file) {
                            files.push(file);
                        }
                        break;
                    }
                }
                return files;
            }
            vec![]
        }
        Interpreter::Perl => {
            let rel = format!("{}.pm", name.replace("::", "/"));
            search
                .iter()
                .map(|d| format!("{d}/{rel}"))
                .find(|p| exists(p))
                .into_iter()
                .collect()
        }
        _ => vec![],
    }
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn is_dotted(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|p| {
            !p.is_empty() && p.bytes().all(is_ident_byte) && !p.as_bytes()[0].is_ascii_digit()
        })
}

/// `Foo::Bar`, not a pragma (`strict`, `lib`: lower case) nor a version (`5.010`).
fn is_perl_module(name: &str) -> bool {
    name.as_bytes()
        .first()
        .is_some_and(|b| b.is_ascii_uppercase())
        && name
            .split("::")
            .all(|p| !p.is_empty() && p.bytes().all(is_ident_byte))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Files(HashMap<String, String>);
    impl Sources for Files {
        fn read(&self, path: &str, max: usize) -> Option<String> {
            self.0.get(path).map(|t| t.chars().take(max).collect())
        }
    }
    fn files(list: &[(&str, &str)]) -> Files {
        Files(
            list.iter()
                .map(|(p, t)| (p.to_string(), t.to_string()))
                .collect(),
        )
    }

    #[test]
    fn python_top_level_imports_only() {
        let src = "import os, sys as system\nfrom fail2ban.server import server, jails as j\nfrom . import local\nfrom .x import y\n    import lazy\nif x:\n  from later import z\nimport a.b.c  # comment\nfrom typing import (List,\n";
        assert_eq!(
            python_imports(src),
            [
                "os",
                "sys",
                "fail2ban.server",
                "fail2ban.server.server",
                "fail2ban.server.jails",
                "a.b.c",
                "typing",
                "typing.List"
            ]
        );
    }

    #[test]
    fn imports_that_run_later_are_told_apart() {
        let py = "import os\ndef f():\n    import lazy.mod\n    from other import x  # c\nif y:\n  import cond\n";
        assert_eq!(
            python_later_imports(py),
            ["lazy.mod", "other", "other.x", "cond"]
        );
        assert_eq!(python_imports(py), ["os"]);
        let pl = "require Top::Level;\nsub f { require Lazy::One; }\n    require Indented;\nmy $x = 1; # require Not::Code\nrequire_ok Foo;\n";
        assert_eq!(perl_later_requires(pl), ["Lazy::One", "Indented"]);
        // a module only a function imports is `later`, with what it loads; one imported both
        // ways is loaded at start-up
        let files = files(&[
            (
                "/srv/d.py",
                "import eager\ndef f():\n    import lazy\n    import eager\n",
            ),
            ("/lib/eager.py", ""),
            ("/lib/lazy.py", "import deep\n"),
            ("/lib/deep.py", ""),
        ]);
        let m = modules(
            Interpreter::Python,
            "/srv/d.py",
            &["/lib".to_string()],
            &files,
            Limits::default(),
        );
        assert_eq!(m.files, ["/lib/eager.py"]);
        assert_eq!(m.later, ["/lib/lazy.py", "/lib/deep.py"]);
    }

    #[test]
    fn perl_uses_without_pragmas() {
        let src = "use strict;\nuse warnings;\nuse 5.010;\nuse Net::Server::Fork;\n  use Munin::Node::Config qw(x);\nuse parent -norequire, 'Skipped';\nuse base qw(Munin::Node::Base Other);\nrequire Top::Level;\nsub f { require Lazy::One; }\n    require Indented;\n__END__\nuse After::End;\n";
        assert_eq!(
            perl_uses(src),
            [
                "Net::Server::Fork",
                "Munin::Node::Config",
                "Munin::Node::Base",
                "Other",
                "Top::Level"
            ]
        );
    }

    #[test]
    fn isolated_python_has_no_script_dir() {
        let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(python_skips_script_dir(&argv(&[
            "python3",
            "-I",
            "/srv/d.py"
        ])));
        assert!(python_skips_script_dir(&argv(&[
            "python3",
            "-sP",
            "/srv/d.py"
        ])));
        assert!(!python_skips_script_dir(&argv(&[
            "python3",
            "-B",
            "/srv/d.py"
        ])));
        assert!(!python_skips_script_dir(&argv(&[
            "python3",
            "-Wignore",
            "/srv/I.py"
        ])));
        assert!(!python_skips_script_dir(&argv(&["python3", "/srv/-IP.py"])));
    }

    #[test]
    fn search_paths_from_version_and_layout() {
        let py = search_path(
            Interpreter::Python,
            "/usr/bin/python3.11",
            "/usr/bin/fail2ban-server",
            "x86_64-linux-gnu",
            &[],
        );
        assert_eq!(py[0], "/usr/bin");
        assert!(py.contains(&"/usr/lib/python3.11".to_string()));
        assert!(py.contains(&"/usr/lib/python3/dist-packages".to_string()));
        assert!(
            search_path(Interpreter::Python, "/usr/bin/python-evil", "/x", "t", &[]).is_empty()
        );
        let pl = search_path(
            Interpreter::Perl,
            "/usr/bin/perl",
            "/usr/sbin/munin-node",
            "x86_64-linux-gnu",
            &["5.36.0".into()],
        );
        assert!(pl.contains(&"/usr/share/perl5".to_string()));
        assert!(pl.contains(&"/usr/lib/x86_64-linux-gnu/perl/5.36".to_string()));
        assert!(pl.contains(&"/usr/local/share/perl/5.36.0".to_string()));
        assert!(!pl.iter().any(|d| d == "."));
    }

    #[test]
    fn resolves_packages_and_modules_transitively() {
        let f = files(&[
            ("/usr/bin/d", "import pkg.sub\nfrom lone import thing\n"),
            ("/lib/pkg/__init__.py", "import helper\n"),
            ("/lib/pkg/sub.py", ""),
            ("/lib/helper.py", "import pkg.sub\n"), // a cycle back
            ("/lib/lone.py", ""),
        ]);
        let m = modules(
            Interpreter::Python,
            "/usr/bin/d",
            &["/lib".into()],
            &f,
            Limits::default(),
        );
        assert_eq!(
            m.files,
            [
                "/lib/pkg/__init__.py",
                "/lib/pkg/sub.py",
                "/lib/lone.py",
                "/lib/helper.py"
            ]
        );
        assert!(!m.truncated);
        let perl = files(&[
            ("/usr/sbin/munin-node", "use Munin::Node::Server;\n"),
            (
                "/usr/share/perl5/Munin/Node/Server.pm",
                "use Net::Server;\n",
            ),
            (
                "/usr/share/perl5/Net/Server.pm",
                "use Munin::Node::Server;\n",
            ),
        ]);
        let m = modules(
            Interpreter::Perl,
            "/usr/sbin/munin-node",
            &["/usr/share/perl5".into()],
            &perl,
            Limits::default(),
        );
        assert_eq!(
            m.files,
            [
                "/usr/share/perl5/Munin/Node/Server.pm",
                "/usr/share/perl5/Net/Server.pm"
            ]
        );
    }

    #[test]
    fn hostile_programs_stay_bounded() {
        // a chain of 10,000 modules, each importing the next, and a huge file
        let mut list: Vec<(String, String)> = (0..10_000)
            .map(|i| (format!("/lib/m{i}.py"), format!("import m{}\n", i + 1)))
            .collect();
        list.push(("/s".into(), "import m0\n".into()));
        list.push(("/lib/huge.py".into(), "import os\n".repeat(1 << 20)));
        let f = Files(list.into_iter().collect());
        let limits = Limits {
            max_files: 50,
            ..Limits::default()
        };
        let m = modules(Interpreter::Python, "/s", &["/lib".into()], &f, limits);
        assert!(m.truncated);
        assert!(m.files.len() <= 51, "{}", m.files.len());
        let m = modules(
            Interpreter::Python,
            "/lib/huge.py",
            &["/lib".into()],
            &f,
            Limits::default(),
        );
        assert!(m.files.is_empty() && !m.truncated);
    }
}
