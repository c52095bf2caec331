//! Interpreted daemons: recognise the interpreter and find the script named in the command line.
//!
//! Pure. The main script is found by parsing the interpreter's own options (those that take
//! a value skip it; `-e`, `-c` and the like mean "no script file"). The modules a Perl or Python
//! script loads are followed statically by `imports` (never by running the interpreter to learn
//! its include path, which is how needrestart got four local-root CVEs).

/// A known interpreter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpreter {
    Perl,
    Python,
    Ruby,
    Php,
    Lua,
    Node,
    Shell,
    Tcl,
}

impl Interpreter {
    pub fn name(self) -> &'static str {
        match self {
            Interpreter::Perl => "perl",
            Interpreter::Python => "python",
            Interpreter::Ruby => "ruby",
            Interpreter::Php => "php",
            Interpreter::Lua => "lua",
            Interpreter::Node => "node",
            Interpreter::Shell => "shell",
            Interpreter::Tcl => "tcl",
        }
    }

    /// Options that take a value (as the next argument when not attached).
    fn value_options(self) -> &'static [&'static str] {
        match self {
            Interpreter::Perl => &[
                "-I", "-M", "-m", "-D", "-l", "-0", "-F", "-C", "-x", "-i", "-V",
            ],
            Interpreter::Python => &["-W", "-X", "-Q"],
            Interpreter::Ruby => &[
                "-C", "-E", "-F", "-I", "-K", "-T", "-W", "-i", "-r", "-x", "-0",
            ],
            Interpreter::Php => &["-c", "-d", "-z", "-t"],
            Interpreter::Lua => &["-l"],
            Interpreter::Node => &[
                "-r",
                "--require",
                "--import",
                "--loader",
                "--experimental-loader",
                "-C",
                "--conditions",
                "--title",
                "--env-file",
                "--inspect-port",
                "--max-old-space-size",
            ],
            Interpreter::Shell => &["-o", "-O", "+o", "+O", "--rcfile", "--init-file"],
            Interpreter::Tcl => &["-encoding"],
        }
    }

    /// Options after which there is no script file (inline program, module, stdin server).
    fn inline_options(self) -> &'static [&'static str] {
        match self {
            Interpreter::Perl => &["-e", "-E"],
            Interpreter::Python => &["-c", "-m"],
            Interpreter::Ruby => &["-e"],
            Interpreter::Php => &["-r", "-R", "-B", "-E", "-S", "-a"],
            Interpreter::Lua => &["-e"],
            Interpreter::Node => &["-e", "--eval", "-p", "--print", "-i", "--interactive"],
            Interpreter::Shell => &["-c", "-s"],
            Interpreter::Tcl => &[],
        }
    }
}

/// Recognises an interpreter from the executable's path (without ` (deleted)`).
pub fn detect(exe: &str) -> Option<Interpreter> {
    let base = exe.rsplit('/').next().unwrap_or(exe);
    let (stem, version) = split_version(base);
    if !version.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    Some(match stem {
        "perl" => Interpreter::Perl,
        "python" => Interpreter::Python,
        "ruby" => Interpreter::Ruby,
        "php" => Interpreter::Php,
        "lua" | "luajit" => Interpreter::Lua,
        "node" | "nodejs" => Interpreter::Node,
        "sh" | "bash" | "dash" | "ash" | "ksh" | "mksh" | "zsh" => Interpreter::Shell,
        "tclsh" => Interpreter::Tcl,
        _ => return None,
    })
}

/// `python3.11` → (`python`, `3.11`).
fn split_version(base: &str) -> (&str, &str) {
    let idx = base
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(base.len());
    base.split_at(idx)
}

/// The script named in `argv` (argv[0] is the interpreter), if there is one.
pub fn script_arg(interp: Interpreter, argv: &[String]) -> Option<String> {
    let values = interp.value_options();
    let inline = interp.inline_options();
    let mut args = argv.iter().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--" {
            return args.next().filter(|a| a.as_str() != "-").cloned();
        }
        if interp == Interpreter::Php && arg == "-f" {
            return args.next().cloned();
        }
        if arg == "-" {
            return None;
        }
        if !(arg.starts_with('-') || (interp == Interpreter::Shell && arg.starts_with('+'))) {
            return Some(arg.clone());
        }
        if inline.contains(&arg.as_str()) {
            return None;
        }
        if let Some(opt) = values.iter().find(|o| arg.starts_with(*o)) {
            if arg.len() == opt.len() {
                args.next(); // the value is the next argument
            }
            continue;
        }
        // short option clusters like `-wT` may end in an inline option (`-we`)
        if !arg.starts_with("--")
            && inline
                .iter()
                .any(|o| o.len() == 2 && arg.len() > 2 && arg.ends_with(&o[1..]))
        {
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    #[test]
    fn detects_interpreters_with_versions() {
        assert_eq!(detect("/usr/bin/perl"), Some(Interpreter::Perl));
        assert_eq!(detect("/usr/bin/perl5.36.0"), Some(Interpreter::Perl));
        assert_eq!(detect("/usr/bin/python3.11"), Some(Interpreter::Python));
        assert_eq!(detect("/usr/bin/lua5.1"), Some(Interpreter::Lua));
        assert_eq!(detect("/usr/bin/dash"), Some(Interpreter::Shell));
        assert_eq!(detect("/usr/bin/node"), Some(Interpreter::Node));
        assert_eq!(detect("/usr/bin/php8.2"), Some(Interpreter::Php));
        assert_eq!(detect("/usr/sbin/php-fpm8.2"), None);
        assert_eq!(detect("/usr/bin/python3-config"), None);
        assert_eq!(detect("/usr/sbin/sshd"), None);
        assert_eq!(detect("/usr/bin/perldoc"), None);
    }

    #[test]
    fn finds_script_after_options() {
        use Interpreter::*;
        assert_eq!(
            script_arg(
                Perl,
                &argv("/usr/bin/perl -T -I /opt/lib /usr/sbin/munin-node --foreground")
            )
            .as_deref(),
            Some("/usr/sbin/munin-node")
        );
        assert_eq!(
            script_arg(Perl, &argv("perl -I/opt/lib -wT d.pl")).as_deref(),
            Some("d.pl")
        );
        assert_eq!(script_arg(Perl, &argv("perl -e print")), None);
        assert_eq!(script_arg(Perl, &argv("perl -we print")), None);
        assert_eq!(
            script_arg(
                Python,
                &argv("/usr/bin/python3 -u -W ignore /usr/bin/fail2ban-server -xf start")
            )
            .as_deref(),
            Some("/usr/bin/fail2ban-server")
        );
        assert_eq!(script_arg(Python, &argv("python3 -m http.server")), None);
        assert_eq!(script_arg(Python, &argv("python3 -c pass")), None);
        assert_eq!(
            script_arg(Shell, &argv("/bin/sh -e /etc/init.d/x start")).as_deref(),
            Some("/etc/init.d/x")
        );
        assert_eq!(script_arg(Shell, &argv("/bin/sh -c sleep")), None);
        assert_eq!(
            script_arg(Shell, &argv("bash -o pipefail run.sh")).as_deref(),
            Some("run.sh")
        );
        assert_eq!(
            script_arg(Php, &argv("php -d x=1 -f /srv/a.php")).as_deref(),
            Some("/srv/a.php")
        );
        assert_eq!(
            script_arg(Node, &argv("node --require ts /srv/app.js")).as_deref(),
            Some("/srv/app.js")
        );
        assert_eq!(
            script_arg(Node, &argv("node --max-old-space-size=512 /srv/app.js")).as_deref(),
            Some("/srv/app.js")
        );
        assert_eq!(
            script_arg(Ruby, &argv("ruby -- app.rb")).as_deref(),
            Some("app.rb")
        );
        assert_eq!(
            script_arg(Lua, &argv("lua5.1 -l prosody /usr/bin/prosody")).as_deref(),
            Some("/usr/bin/prosody")
        );
        assert_eq!(script_arg(Shell, &argv("bash")), None);
        assert_eq!(script_arg(Shell, &argv("bash -")), None);
    }
}
