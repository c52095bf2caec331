//! Parsing of `/proc/PID/cgroup` and classification of the systemd unit a process belongs to.
//!
//! Pure. Handles pure cgroup v2 (`0::/path`), v1 with a `name=systemd` hierarchy, and hybrid
//! (both lines; the `name=systemd` one wins, as systemd keeps it authoritative there).

/// Where systemd placed a process, read from its cgroup path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// `/init.scope`: the system manager itself (PID 1).
    Manager,
    /// `/system.slice/.../NAME.service`: a system service.
    SystemService(String),
    /// `user@UID.service/init.scope`: a user's `systemd --user`.
    UserManager { uid: u32 },
    /// A service of a user manager: `user@UID.service/.../NAME.service`.
    UserService { uid: u32, unit: String },
    /// Anything else inside `user@UID.service` (app scopes and the like).
    UserOther { uid: u32 },
    /// `user-UID.slice/session-N.scope`: a login session.
    Session { uid: u32, session: String },
    /// `/machine.slice/...`: a VM or container managed by machined.
    Machine(String),
    /// Some other scope (transient `run-*.scope`, `docker-*.scope`, ...).
    Scope(String),
    /// A cgroup path systemd does not manage, or none.
    Unknown(String),
}

/// Picks the systemd-relevant cgroup path from the file's text.
pub fn systemd_path(text: &str) -> Option<&str> {
    let mut v2 = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(ctrl), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if ctrl == "name=systemd" {
            return Some(path);
        }
        if id == "0" && ctrl.is_empty() {
            v2 = Some(path);
        }
    }
    v2
}

/// Classifies a systemd cgroup path.
///
/// systemd places a unit's cgroup directly below its slices (`*.slice`); what lies below the
/// unit is the unit's own (a unit with `Delegate=yes`, such as a container manager, may create
/// cgroups there with any name, `.service` ones included). So the unit is the first component
/// that is not a slice, never the innermost `.service`; inside `user@UID.service` the same rule
/// finds the user unit.
pub fn classify(path: &str) -> Placement {
    let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let Some(i) = first_unit(&comps, 0) else {
        return Placement::Unknown(path.to_string());
    };
    let unit = comps[i];
    if unit == "init.scope" && i == 0 {
        return Placement::Manager;
    }
    if comps.first() == Some(&"machine.slice") && i == 1 {
        return Placement::Machine(unit.to_string());
    }
    if let Some(uid) = user_at(unit) {
        return match first_unit(&comps, i + 1).map(|j| comps[j]) {
            Some("init.scope") => Placement::UserManager { uid },
            Some(u) if u.ends_with(".service") => Placement::UserService {
                uid,
                unit: u.to_string(),
            },
            _ => Placement::UserOther { uid },
        };
    }
    if let Some(sess) = unit
        .strip_prefix("session-")
        .and_then(|u| u.strip_suffix(".scope"))
    {
        let uid = comps[..i]
            .iter()
            .find_map(|c| {
                c.strip_prefix("user-")?
                    .strip_suffix(".slice")?
                    .parse()
                    .ok()
            })
            .unwrap_or(u32::MAX);
        return Placement::Session {
            uid,
            session: sess.to_string(),
        };
    }
    if unit.ends_with(".service") {
        return Placement::SystemService(unit.to_string());
    }
    if unit.ends_with(".scope") {
        return Placement::Scope(unit.to_string());
    }
    Placement::Unknown(path.to_string())
}

/// Index of the first component at or after `from` that is not a slice.
fn first_unit(comps: &[&str], from: usize) -> Option<usize> {
    (from..comps.len()).find(|&i| !comps[i].ends_with(".slice"))
}

fn user_at(comp: &str) -> Option<u32> {
    comp.strip_prefix("user@")?
        .strip_suffix(".service")?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pure_v2() {
        let text = "0::/system.slice/cron.service\n";
        assert_eq!(systemd_path(text), Some("/system.slice/cron.service"));
        assert_eq!(
            classify("/system.slice/cron.service"),
            Placement::SystemService("cron.service".into())
        );
    }

    #[test]
    fn v1_only() {
        let text = "12:pids:/system.slice/ssh.service\n4:memory:/system.slice/ssh.service\n1:name=systemd:/system.slice/ssh.service\n";
        assert_eq!(systemd_path(text), Some("/system.slice/ssh.service"));
    }

    #[test]
    fn hybrid_prefers_name_systemd() {
        let text = "5:freezer:/testbed/h1\n1:name=systemd:/system.slice/lighttpd.service\n0::/system.slice/lighttpd.service\n";
        assert_eq!(systemd_path(text), Some("/system.slice/lighttpd.service"));
        let odd = "0::/\n1:name=systemd:/system.slice/cron.service\n";
        assert_eq!(systemd_path(odd), Some("/system.slice/cron.service"));
    }

    #[test]
    fn no_systemd_line() {
        assert_eq!(systemd_path("3:cpu:/foo\n"), None);
        assert_eq!(systemd_path(""), None);
        assert_eq!(systemd_path("garbage"), None);
    }

    #[test]
    fn classification_of_systemd_paths() {
        use Placement::*;
        assert_eq!(classify("/init.scope"), Manager);
        assert_eq!(
            classify("/user.slice/user-1000.slice/user@1000.service/init.scope"),
            UserManager { uid: 1000 }
        );
        assert_eq!(
            classify("/user.slice/user-1000.slice/user@1000.service/app.slice/pipewire.service"),
            UserService {
                uid: 1000,
                unit: "pipewire.service".into()
            }
        );
        assert_eq!(
            classify("/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-x.scope"),
            UserOther { uid: 1000 }
        );
        assert_eq!(
            classify("/user.slice/user-0.slice/session-3.scope"),
            Session {
                uid: 0,
                session: "3".into()
            }
        );
        assert_eq!(
            classify("/user.slice/user-1000.slice/session-c2.scope"),
            Session {
                uid: 1000,
                session: "c2".into()
            }
        );
        assert_eq!(
            classify("/machine.slice/machine-qemu\\x2d1\\x2dvm.scope"),
            Machine("machine-qemu\\x2d1\\x2dvm.scope".into())
        );
        assert_eq!(
            classify("/system.slice/docker-abc.scope"),
            Scope("docker-abc.scope".into())
        );
        assert_eq!(
            classify("/system.slice/containerd.service/sub/x"),
            SystemService("containerd.service".into())
        );
        assert_eq!(
            classify("/system.slice/system-getty.slice/getty@tty1.service"),
            SystemService("getty@tty1.service".into())
        );
        // a delegated subtree names no unit: the unit systemd owns does
        assert_eq!(
            classify("/system.slice/docker.service/payload/evil.service"),
            SystemService("docker.service".into())
        );
        assert_eq!(
            classify("/system.slice/fr-deleg.service/sshd.service"),
            SystemService("fr-deleg.service".into())
        );
        assert_eq!(
            classify(
                "/user.slice/user-1000.slice/user@1000.service/app.slice/dbus.service/x.service"
            ),
            UserService {
                uid: 1000,
                unit: "dbus.service".into()
            }
        );
        assert_eq!(classify("/"), Unknown("/".into()));
        assert_eq!(classify("/testbed/h1"), Unknown("/testbed/h1".into()));
    }
}
