//! Classification: which service, session or container each stale process belongs to, and what
//! may be done about it.
//!
//! Pure: works on what `scan` read. On a systemd host the cgroup decides (system service, PID 1,
//! user manager, user service, login session, machine); elsewhere a process with a terminal is a
//! session and the rest collapse into their topmost ancestor below PID 1, whose package's init
//! script is the service (cron's children → cron). A process in another PID namespace is a
//! container and is never restarted. Rules (see `rules`) refine the service, method and policy.

use crate::cgroup::{self, Placement};
use crate::detect::Finding;
use crate::owners::{OwnRoot, Owners};
use crate::report::{
    self, Container, FileKind, Reason, Service, ServiceKind, Session, SessionKind, StaleFile,
    Unattributed,
};
use crate::rules::{Facts, Method, Policy, Rules};
use std::collections::{BTreeMap, HashMap};

/// A stale process or one of its ancestors (for the parent walk of a host without systemd).
#[derive(Debug, Clone)]
pub struct Node {
    pub ppid: i32,
    pub tty_nr: i32,
    pub exe: Option<String>,
}

/// A process with at least one stale file.
#[derive(Debug, Clone)]
pub struct StaleProc {
    pub pid: i32,
    pub ppid: i32,
    pub uid: u32,
    pub user: String,
    pub comm: String,
    pub exe: String,
    pub cmdline: Vec<String>,
    pub started_at: i64,
    /// Unix nanoseconds, to the clock tick.
    pub started_ns: i64,
    pub tty_nr: i32,
    pub pidns: Option<u64>,
    pub cgroup_path: Option<String>,
    pub script: Option<String>,
    pub findings: Vec<Finding>,
    /// The root its paths are relative to when it is not the host's view (another mount
    /// namespace): its files' owners come from that root's package database.
    pub own_root: Option<OwnRoot>,
}

pub struct Context<'a> {
    pub systemd: bool,
    pub root_pidns: Option<u64>,
    pub rules: &'a Rules<'a>,
    pub tree: &'a HashMap<i32, Node>,
    pub packages: &'a Owners,
    pub user_name: &'a dyn Fn(u32) -> String,
}

#[derive(Debug, Default, PartialEq)]
pub struct Groups {
    pub services: Vec<Service>,
    pub never_restart: Vec<Service>,
    pub sessions: Vec<Session>,
    pub containers: Vec<Container>,
    pub unattributed: Vec<Unattributed>,
    pub reboot_reasons: Vec<String>,
}

/// Where one process goes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Service {
        name: String,
        kind: ServiceKind,
    },
    Session {
        kind: SessionKind,
        uid: u32,
        id: String,
    },
    Container {
        kind: String,
        id: String,
    },
    Unattributed {
        reason: String,
    },
    Ignored,
}

struct ServiceAcc {
    method: Method,
    policy: Policy,
    rule: Option<String>,
    procs: Vec<report::Process>,
    /// Some process of it is certainly stale (not only "may have changed").
    certain: bool,
}

/// The rule name a service gets when nothing on the host tells whether its files changed: it
/// is restarted only when the operator names it (policy manual), never automatically.
pub const MAY_BE_STALE: &str = "may be stale: a file's status changed after the start and nothing on the host tells whether its content did";

/// Decodes a `tty_nr` into a name (`pts/3`, `tty1`, or `tty 4:64`).
pub fn tty_name(tty_nr: i32) -> String {
    let tty = tty_nr as u32;
    let major = (tty >> 8) & 0xfff;
    let minor = (tty & 0xff) | ((tty >> 12) & 0xfff00);
    match major {
        136..=143 => format!("pts/{}", (major - 136) * 256 + minor),
        4 if minor < 64 => format!("tty{minor}"),
        4 => format!("ttyS{}", minor - 64),
        _ => format!("tty {major}:{minor}"),
    }
}

fn to_report_process(p: &StaleProc, packages: &Owners) -> report::Process {
    let mut cmdline = p.cmdline.join(" ");
    if cmdline.len() > report::MAX_CMDLINE_BYTES {
        let mut cut = report::MAX_CMDLINE_BYTES;
        while !cmdline.is_char_boundary(cut) {
            cut -= 1;
        }
        cmdline.truncate(cut);
    }
    let files: Vec<StaleFile> = p
        .findings
        .iter()
        .take(report::MAX_FILES_PER_PROCESS)
        .map(|f| StaleFile {
            path: f.path.clone(),
            kind: f.kind,
            reason: f.reason,
            package: packages.of(p, &f.path).map(String::from),
        })
        .collect();
    report::Process {
        pid: p.pid,
        ppid: p.ppid,
        uid: p.uid,
        user: p.user.clone(),
        comm: p.comm.clone(),
        exe: p.exe.clone(),
        cmdline,
        started_at: p.started_at.max(0) as u64,
        cgroup: p.cgroup_path.clone(),
        files,
        files_omitted: p
            .findings
            .len()
            .saturating_sub(report::MAX_FILES_PER_PROCESS) as u32,
    }
}

/// The topmost ancestor below PID 1 that is not in a terminal session (stops at 64 steps).
fn top_ancestor(pid: i32, tree: &HashMap<i32, Node>) -> i32 {
    let mut cur = pid;
    for _ in 0..64 {
        let Some(n) = tree.get(&cur) else { return cur };
        match tree.get(&n.ppid) {
            Some(parent) if n.ppid > 1 && parent.tty_nr == 0 => cur = n.ppid,
            _ => return cur,
        }
    }
    cur
}

/// The init script for a package's daemon: the one named like the executable or the package,
/// else the only one.
fn pick_init_script<'a>(scripts: &'a [String], exe: &str, package: &str) -> Option<&'a String> {
    let base = exe.rsplit('/').next().unwrap_or(exe);
    scripts
        .iter()
        .find(|s| s.as_str() == base || s.as_str() == package)
        .or_else(|| (scripts.len() == 1).then(|| &scripts[0]))
}

/// The default target before rules, for a systemd host.
fn systemd_target(p: &StaleProc) -> Target {
    let path = p.cgroup_path.as_deref().unwrap_or("");
    match cgroup::classify(path) {
        Placement::Manager => Target::Service {
            name: "systemd-manager".into(),
            kind: ServiceKind::Manager,
        },
        Placement::SystemService(u) => Target::Service {
            name: u,
            kind: ServiceKind::Systemd,
        },
        Placement::UserManager { uid } => Target::Session {
            kind: SessionKind::UserManager,
            uid,
            id: format!("user@{uid}.service"),
        },
        Placement::UserOther { uid } => Target::Session {
            kind: SessionKind::UserManager,
            uid,
            id: format!("user@{uid}.service"),
        },
        Placement::UserService { uid, unit } => Target::Session {
            kind: SessionKind::UserService,
            uid,
            id: unit,
        },
        Placement::Session { uid, session } => Target::Session {
            kind: SessionKind::Login,
            uid,
            id: session,
        },
        Placement::Machine(name) => Target::Container {
            kind: "machine".into(),
            id: name,
        },
        Placement::Scope(s) => Target::Unattributed {
            reason: format!("runs in {s}, not in a service"),
        },
        Placement::Unknown(c) if c.is_empty() => Target::Unattributed {
            reason: "no systemd cgroup".into(),
        },
        Placement::Unknown(c) => Target::Unattributed {
            reason: format!("runs in cgroup {c}, not in a service"),
        },
    }
}

/// The default target before rules, for a host without systemd.
fn sysv_target(p: &StaleProc, ctx: &Context) -> Target {
    if p.tty_nr != 0 {
        return Target::Session {
            kind: SessionKind::Tty,
            uid: p.uid,
            id: tty_name(p.tty_nr),
        };
    }
    let top = top_ancestor(p.pid, ctx.tree);
    let exe = if top == p.pid {
        Some(p.exe.clone())
    } else {
        ctx.tree.get(&top).and_then(|n| n.exe.clone())
    };
    let Some(exe) = exe else {
        return Target::Unattributed {
            reason: format!("ancestor {top} could not be read"),
        };
    };
    match ctx.packages.host.owner(&exe) {
        Some(pkg) => match pick_init_script(ctx.packages.host.init_scripts(pkg), &exe, pkg) {
            Some(script) => Target::Service {
                name: script.clone(),
                kind: ServiceKind::Sysv,
            },
            None => Target::Unattributed {
                reason: format!("no init script for {exe} (package {pkg}, ancestor pid {top})"),
            },
        },
        None => Target::Unattributed {
            reason: format!("no init script for {exe} (no package, ancestor pid {top})"),
        },
    }
}

fn severity(p: Policy) -> u8 {
    match p {
        Policy::Ignore => 0,
        Policy::Auto => 1,
        Policy::Manual => 2,
        Policy::Session => 3,
        Policy::Never => 4,
        Policy::Reboot => 5,
    }
}

/// Groups stale processes into services, sessions, containers and the unattributed.
pub fn classify(procs: &[StaleProc], ctx: &Context) -> Groups {
    let mut acc = Accumulated::default();
    let mut sorted: Vec<&StaleProc> = procs.iter().collect();
    sorted.sort_by_key(|p| p.pid);
    for p in sorted {
        let target = default_target(p, ctx);
        let (target, ruled) = apply_rules(p, target, ctx);
        acc.add(target, ruled, to_report_process(p, ctx.packages));
    }
    acc.into_groups(ctx)
}

/// Where a process belongs before the rules: a container when it runs in another PID
/// namespace, else its systemd unit or session, else (no systemd) its init script.
fn default_target(p: &StaleProc, ctx: &Context) -> Target {
    let in_other_ns = matches!((ctx.root_pidns, p.pidns), (Some(root), Some(ns)) if root != ns);
    if in_other_ns {
        let id = p
            .cgroup_path
            .as_deref()
            .and_then(|c| c.rsplit('/').find(|s| !s.is_empty()))
            .map(String::from)
            .unwrap_or_else(|| format!("pidns:{}", p.pidns.unwrap_or(0)));
        Target::Container {
            kind: "pid_namespace".into(),
            id,
        }
    } else if ctx.systemd {
        systemd_target(p)
    } else {
        sysv_target(p, ctx)
    }
}

/// What the first matching rule said of a process.
#[derive(Default)]
struct Ruled {
    method: Option<Method>,
    policy: Option<Policy>,
    rule: Option<String>,
}

/// The first rule matching the process (never for containers): its method and policy, and the
/// target it names when the default one is unattributed (or an init script, without systemd);
/// `ignore` and `session` policies move the process.
fn apply_rules(p: &StaleProc, mut target: Target, ctx: &Context) -> (Target, Ruled) {
    let mut ruled = Ruled::default();
    if matches!(target, Target::Container { .. }) {
        return (target, ruled);
    }
    let unit = match &target {
        Target::Service {
            name,
            kind: ServiceKind::Systemd,
        } => Some(name.as_str()),
        _ => None,
    };
    let cmdline = p.cmdline.join(" ");
    let script = p
        .findings
        .iter()
        .find(|f| f.kind == FileKind::Script)
        .map(|f| f.path.as_str())
        .or(p.script.as_deref());
    let facts = Facts {
        unit,
        exe: &p.exe,
        script,
        user: &p.user,
        cmdline: &cmdline,
    };
    let Some(rule) = ctx.rules.get().find(&facts) else {
        return (target, ruled);
    };
    ruled = Ruled {
        method: rule.method,
        policy: rule.policy,
        rule: Some(rule.name.clone()),
    };
    let overridable = matches!(target, Target::Unattributed { .. })
        || (!ctx.systemd && matches!(target, Target::Service { .. }));
    if let (Some(svc), true) = (&rule.service, overridable) {
        let kind = if ctx.systemd {
            ServiceKind::Systemd
        } else {
            ServiceKind::Sysv
        };
        let name = if ctx.systemd && !svc.contains('.') {
            format!("{svc}.service")
        } else {
            svc.clone()
        };
        target = Target::Service { name, kind };
    }
    match rule.policy {
        Some(Policy::Ignore) => target = Target::Ignored,
        Some(Policy::Session) if !matches!(target, Target::Session { .. }) => {
            target = Target::Session {
                kind: SessionKind::Tty,
                uid: p.uid,
                id: tty_name(p.tty_nr),
            };
        }
        _ => {}
    }
    (target, ruled)
}

/// The processes gathered by where they belong.
#[derive(Default)]
struct Accumulated {
    services: BTreeMap<(String, ServiceKind), ServiceAcc>,
    sessions: BTreeMap<(SessionKind, u32, String), Vec<report::Process>>,
    containers: BTreeMap<(String, String), Vec<report::Process>>,
    unattributed: BTreeMap<String, Vec<report::Process>>,
}

impl Accumulated {
    /// One process into its group. A service takes the first rule's method (unless a later one
    /// sets a non-default method) and the most severe policy of its processes' rules.
    fn add(&mut self, target: Target, ruled: Ruled, rp: report::Process) {
        match target {
            Target::Service { name, kind } => {
                let default_method = if kind == ServiceKind::Manager {
                    Method::DaemonReexec
                } else {
                    Method::Restart
                };
                let default_policy = if kind == ServiceKind::Manager {
                    Policy::Manual
                } else {
                    Policy::Auto
                };
                let acc = self.services.entry((name, kind)).or_insert(ServiceAcc {
                    method: default_method,
                    policy: default_policy,
                    rule: None,
                    procs: vec![],
                    certain: false,
                });
                acc.certain |= rp.files_omitted > 0
                    || rp.files.iter().any(|f| f.reason != Reason::MayHaveChanged);
                if let Some(m) = ruled.method {
                    if acc.rule.is_none() || acc.method == default_method {
                        acc.method = m;
                    }
                }
                if let Some(pol) = ruled.policy {
                    if acc.rule.is_none() || severity(pol) > severity(acc.policy) {
                        acc.policy = pol;
                    }
                }
                if acc.rule.is_none() {
                    acc.rule = ruled.rule;
                }
                acc.procs.push(rp);
            }
            Target::Session { kind, uid, id } => {
                self.sessions.entry((kind, uid, id)).or_default().push(rp)
            }
            Target::Container { kind, id } => {
                self.containers.entry((kind, id)).or_default().push(rp)
            }
            Target::Unattributed { reason } => {
                self.unattributed.entry(reason).or_default().push(rp)
            }
            Target::Ignored => {}
        }
    }

    /// The report's groups, each listing at most [`report::MAX_PROCESSES_PER_GROUP`] processes
    /// (with the full count); `never` and `reboot` services apart.
    fn into_groups(self, ctx: &Context) -> Groups {
        let cut = |mut v: Vec<report::Process>| -> (u32, Vec<report::Process>) {
            let n = v.len() as u32;
            v.truncate(report::MAX_PROCESSES_PER_GROUP);
            (n, v)
        };
        let mut g = Groups::default();
        for ((name, kind), acc) in self.services {
            let (process_count, processes) = cut(acc.procs);
            let unsure = !acc.certain && acc.policy == Policy::Auto;
            let s = Service {
                name,
                kind,
                method: acc.method,
                policy: if unsure { Policy::Manual } else { acc.policy },
                rule: if unsure {
                    Some(MAY_BE_STALE.to_string())
                } else {
                    acc.rule
                },
                process_count,
                processes,
            };
            match s.policy {
                Policy::Never => g.never_restart.push(s),
                Policy::Reboot => {
                    g.reboot_reasons.push(format!(
                        "{} uses stale files and is only safely refreshed by a reboot",
                        s.name
                    ));
                    g.never_restart.push(s);
                }
                _ => g.services.push(s),
            }
        }
        for ((kind, uid, id), procs) in self.sessions {
            let (process_count, processes) = cut(procs);
            g.sessions.push(Session {
                kind,
                uid,
                user: (ctx.user_name)(uid),
                id,
                process_count,
                processes,
            });
        }
        for ((kind, id), procs) in self.containers {
            let (process_count, processes) = cut(procs);
            g.containers.push(Container {
                kind,
                id,
                process_count,
                processes,
            });
        }
        for (reason, procs) in self.unattributed {
            let (process_count, processes) = cut(procs);
            g.unattributed.push(Unattributed {
                reason,
                process_count,
                processes,
            });
        }
        g
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packages::Index;
    use crate::report::Reason;

    fn proc(pid: i32, ppid: i32, exe: &str, cgroup: &str) -> StaleProc {
        StaleProc {
            pid,
            ppid,
            uid: 0,
            user: "root".into(),
            comm: exe.rsplit('/').next().unwrap().into(),
            exe: exe.into(),
            cmdline: vec![exe.into()],
            started_at: 100,
            started_ns: 100_000_000_000,
            tty_nr: 0,
            pidns: Some(1),
            cgroup_path: Some(cgroup.into()),
            script: None,
            findings: vec![Finding {
                path: "/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0.10.4".into(),
                kind: FileKind::Library,
                reason: Reason::Deleted,
                unsure: false,
            }],
            own_root: None,
        }
    }

    fn run(
        procs: &[StaleProc],
        systemd: bool,
        tree: &HashMap<i32, Node>,
        packages: Index,
    ) -> Groups {
        let packages = &Owners::of_host(packages);
        let rules = Rules::new(None);
        let name = |uid: u32| {
            if uid == 0 {
                "root".to_string()
            } else {
                format!("u{uid}")
            }
        };
        let ctx = Context {
            systemd,
            root_pidns: Some(1),
            rules: &rules,
            tree,
            packages,
            user_name: &name,
        };
        classify(procs, &ctx)
    }

    #[test]
    fn systemd_host() {
        let mut dbus = proc(30, 1, "/usr/bin/dbus-daemon", "/system.slice/dbus.service");
        dbus.uid = 100;
        let mut sess = proc(
            50,
            40,
            "/usr/bin/bash",
            "/user.slice/user-1000.slice/session-3.scope",
        );
        sess.uid = 1000;
        let mut cont = proc(
            60,
            1,
            "/usr/sbin/nginx",
            "/machine.slice/machine-web.scope/payload",
        );
        cont.pidns = Some(2);
        let procs = vec![
            proc(1, 0, "/usr/lib/systemd/systemd", "/init.scope"),
            proc(20, 1, "/usr/sbin/cron", "/system.slice/cron.service"),
            proc(21, 20, "/usr/bin/python3.11", "/system.slice/cron.service"),
            dbus,
            proc(
                35,
                1,
                "/sbin/agetty",
                "/system.slice/system-getty.slice/getty@tty1.service",
            ),
            sess,
            cont,
            proc(70, 1, "/usr/bin/sleep", "/system.slice/run-r1.scope"),
            proc(
                80,
                1,
                "/usr/lib/systemd/systemd",
                "/user.slice/user-1000.slice/user@1000.service/init.scope",
            ),
        ];
        let g = run(&procs, true, &HashMap::new(), Index::default());
        let names: Vec<(&str, ServiceKind, Method, Policy, u32)> = g
            .services
            .iter()
            .map(|s| (s.name.as_str(), s.kind, s.method, s.policy, s.process_count))
            .collect();
        assert_eq!(
            names,
            vec![
                (
                    "cron.service",
                    ServiceKind::Systemd,
                    Method::Restart,
                    Policy::Auto,
                    2
                ),
                (
                    "systemd-manager",
                    ServiceKind::Manager,
                    Method::DaemonReexec,
                    Policy::Manual,
                    1
                ),
            ]
        );
        let never: Vec<(&str, Policy)> = g
            .never_restart
            .iter()
            .map(|s| (s.name.as_str(), s.policy))
            .collect();
        assert_eq!(
            never,
            vec![
                ("dbus.service", Policy::Reboot),
                ("getty@tty1.service", Policy::Never)
            ]
        );
        assert_eq!(g.reboot_reasons.len(), 1);
        let sess: Vec<(SessionKind, u32, &str, &str)> = g
            .sessions
            .iter()
            .map(|s| (s.kind, s.uid, s.user.as_str(), s.id.as_str()))
            .collect();
        assert_eq!(
            sess,
            vec![
                (SessionKind::Login, 1000, "u1000", "3"),
                (SessionKind::UserManager, 1000, "u1000", "user@1000.service")
            ]
        );
        assert_eq!(g.containers.len(), 1);
        assert_eq!(
            (g.containers[0].kind.as_str(), g.containers[0].id.as_str()),
            ("pid_namespace", "payload")
        );
        assert_eq!(g.unattributed.len(), 1);
        assert!(g.unattributed[0].reason.contains("run-r1.scope"));
    }

    #[test]
    fn a_service_that_only_may_be_stale_is_never_restarted_automatically() {
        let mut maybe = proc(60, 1, "/usr/bin/python3.11", "/system.slice/app.service");
        maybe.findings[0].reason = Reason::MayHaveChanged;
        maybe.findings[0].kind = FileKind::LaterModule;
        let g = run(&[maybe.clone()], true, &HashMap::new(), Index::default());
        assert_eq!(g.services[0].policy, Policy::Manual);
        assert_eq!(g.services[0].rule.as_deref(), Some(MAY_BE_STALE));
        // one process of it certainly stale: the service is restarted as usual
        let mut sure = proc(61, 1, "/usr/bin/python3.11", "/system.slice/app.service");
        sure.findings[0].reason = Reason::Changed;
        let g = run(&[maybe, sure], true, &HashMap::new(), Index::default());
        assert_eq!(g.services[0].policy, Policy::Auto);
    }

    #[test]
    fn rules_name_the_service_of_unattributed_processes() {
        let mut p = proc(90, 1, "/usr/bin/lua5.1", "/system.slice/run-x.scope");
        p.user = "prosody".into();
        let g = run(&[p], true, &HashMap::new(), Index::default());
        assert_eq!(g.services[0].name, "prosody.service");
        assert_eq!(g.services[0].rule.as_deref(), Some("prosody"));
    }

    #[test]
    fn sysv_host_collapses_children_and_finds_init_scripts() {
        let node = |ppid, tty, exe: &str| Node {
            ppid,
            tty_nr: tty,
            exe: Some(exe.into()),
        };
        let tree: HashMap<i32, Node> = [
            (1, node(0, 0, "/sbin/init")),
            (10, node(1, 0, "/usr/sbin/cron")),
            (11, node(10, 0, "/bin/sh")),
            (12, node(11, 0, "/usr/bin/python3.11")),
            (20, node(1, 0, "/usr/sbin/sshd")),
            (21, node(20, 34816, "/bin/bash")),
            (22, node(21, 34816, "/usr/bin/vim")),
            (30, node(1, 0, "/opt/app/run")),
            (40, node(1, 0, "/usr/lib/dovecot/dovecot")),
            (41, node(40, 0, "/usr/lib/dovecot/imap")),
        ]
        .into_iter()
        .collect();
        let mut ix = Index::new([
            "/usr/sbin/cron",
            "/opt/app/run",
            "/usr/lib/dovecot/imap",
            "/usr/lib/dovecot/dovecot",
        ]);
        ix.add_list("cron", b"/usr/sbin/cron\n/etc/init.d/cron\n");
        ix.add_list(
            "dovecot-core",
            b"/usr/lib/dovecot/dovecot\n/usr/lib/dovecot/imap\n/etc/init.d/dovecot\n",
        );
        let mut p12 = proc(12, 11, "/usr/bin/python3.11", "");
        p12.cgroup_path = None;
        let mut p22 = proc(22, 21, "/usr/bin/vim", "");
        p22.tty_nr = 34816;
        let p30 = proc(30, 1, "/opt/app/run", "");
        let p41 = proc(41, 40, "/usr/lib/dovecot/imap", "");
        let g = run(&[p12, p22, p30, p41], false, &tree, ix);
        let names: Vec<(&str, ServiceKind, Method)> = g
            .services
            .iter()
            .map(|s| (s.name.as_str(), s.kind, s.method))
            .collect();
        assert_eq!(
            names,
            vec![
                ("cron", ServiceKind::Sysv, Method::Restart),
                ("dovecot", ServiceKind::Sysv, Method::StopKillStart)
            ]
        );
        assert_eq!(g.services[0].processes[0].pid, 12);
        assert_eq!(g.sessions.len(), 1);
        assert_eq!(
            (g.sessions[0].kind, g.sessions[0].id.as_str()),
            (SessionKind::Tty, "pts/0")
        );
        assert_eq!(g.unattributed.len(), 1);
        assert!(
            g.unattributed[0].reason.contains("/opt/app/run"),
            "{}",
            g.unattributed[0].reason
        );
    }

    #[test]
    fn tty_names() {
        assert_eq!(tty_name(34816), "pts/0");
        assert_eq!(tty_name(34817 + 2), "pts/3");
        assert_eq!(tty_name(1025), "tty1");
    }
}
