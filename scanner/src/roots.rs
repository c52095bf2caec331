//! Which filesystem view the paths of a process's `/proc/PID/maps` belong to.
//!
//! Pure. The kernel prints a mapped file's path (`d_path`) relative to the root of the process
//! that *reads* the maps file, when that root is an ancestor of the file; otherwise relative to
//! the root of the mount namespace the file's mount belongs to. So:
//!
//! - a process in the scanner's own mount namespace, chrooted or not (postfix's `smtpd`,
//!   dovecot's `chroot = empty` login processes, haproxy, `named -t`, sshd's pre-auth child), has
//!   its paths printed as the scanner sees them: they are looked up in the scanner's root
//!   ([`View::Reader`]), never under `/proc/PID/root` (the chroot, where they do not exist);
//! - a process in another mount namespace (a container, pivot_root'ed or not) has them printed
//!   relative to the root of that namespace: `/proc/PID/root` when it is not chrooted inside it,
//!   or that link followed by one `..` per component of the chroot's path when it is
//!   ([`View::Namespace`]; `..` from a magic link climbs in the target's mount tree);
//! - anything else (namespace or root unreadable, a root whose directory was deleted) is
//!   [`View::Unknown`]: no path of that process is resolved, so none of its unmarked mappings can
//!   be called stale.
//!
//! Scripts named on an interpreter's command line are relative to the root the process had when
//! it was started, which is unknown once it chrooted: [`ProcessRoot::scripts_resolvable`].

/// Where a process's map paths are to be looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    /// The scanner's own root (its `--host-root`).
    Reader,
    /// The root of the process's mount namespace: `/proc/PID/root` plus `up` times `..`.
    /// `mnt` (the namespace's inode) lets processes of one namespace share stat results.
    Namespace { mnt: Option<u64>, up: usize },
    /// Cannot tell: every path of the process is unknown.
    Unknown,
}

/// What the scanner knows of a process's root and namespace, and the view that follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessRoot {
    pub view: View,
    /// The process's root is not the root of its mount namespace (it called chroot).
    pub chrooted: bool,
}

impl ProcessRoot {
    /// Can the script path on its command line be resolved? Only when the process never
    /// chrooted: otherwise the path may be relative to the old root or to the new one.
    pub fn scripts_resolvable(&self) -> bool {
        !self.chrooted && self.view != View::Unknown
    }
}

/// Decides the view from the scanner's mount namespace, the process's, and the process's root
/// as `readlink /proc/PID/root` shows it (relative to the scanner's root in the same
/// namespace, to the namespace's root in another one).
pub fn decide(
    scanner_mnt: Option<u64>,
    process_mnt: Option<u64>,
    root: Option<&str>,
) -> ProcessRoot {
    let depth = root.and_then(root_depth);
    let chrooted = depth != Some(0);
    let view = match (scanner_mnt, process_mnt, depth) {
        (Some(a), Some(b), _) if a == b => View::Reader,
        (_, mnt, Some(up)) => View::Namespace { mnt, up },
        _ => View::Unknown,
    };
    // in the scanner's namespace a chrooted process is still fully resolvable: only its
    // scripts are not (see scripts_resolvable)
    ProcessRoot { view, chrooted }
}

/// Number of components of an absolute, canonical root path (`/` → 0); `None` for anything the
/// kernel prints for a root it cannot name (`(deleted)`, `(unreachable)`, relative text).
fn root_depth(root: &str) -> Option<usize> {
    if !root.starts_with('/') || root.ends_with(crate::maps::DELETED_SUFFIX) {
        return None;
    }
    let comps: Vec<&str> = root.split('/').filter(|c| !c.is_empty()).collect();
    if comps.iter().any(|c| *c == "." || *c == "..") {
        return None;
    }
    Some(comps.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_namespace_is_the_readers_view_chrooted_or_not() {
        let plain = decide(Some(1), Some(1), Some("/"));
        assert_eq!(plain.view, View::Reader);
        assert!(!plain.chrooted && plain.scripts_resolvable());
        let chrooted = decide(Some(1), Some(1), Some("/var/spool/postfix"));
        assert_eq!(chrooted.view, View::Reader);
        assert!(chrooted.chrooted && !chrooted.scripts_resolvable());
        // an unreadable root does not matter in the scanner's namespace
        assert_eq!(decide(Some(1), Some(1), None).view, View::Reader);
    }

    #[test]
    fn other_namespace_climbs_to_its_root() {
        let pivoted = decide(Some(1), Some(2), Some("/"));
        assert_eq!(
            pivoted.view,
            View::Namespace {
                mnt: Some(2),
                up: 0
            }
        );
        assert!(pivoted.scripts_resolvable());
        let chrooted = decide(Some(1), Some(2), Some("/srv/ct"));
        assert_eq!(
            chrooted.view,
            View::Namespace {
                mnt: Some(2),
                up: 2
            }
        );
        assert!(!chrooted.scripts_resolvable());
        // namespaces unreadable: the process's root is used as it stands
        assert_eq!(
            decide(None, None, Some("/")).view,
            View::Namespace { mnt: None, up: 0 }
        );
    }

    #[test]
    fn unknown_roots_resolve_nothing() {
        for root in [
            None,
            Some("/srv/gone (deleted)"),
            Some("(unreachable)/x"),
            Some(""),
        ] {
            let r = decide(Some(1), Some(2), root);
            assert_eq!(r.view, View::Unknown, "{root:?}");
            assert!(!r.scripts_resolvable());
        }
    }
}
