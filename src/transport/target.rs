//! Where a session goes, as the transport needs it: the host and its jump hosts ([`Hop`]s), the
//! known_hosts files and the host key policy. Pure data; `reach::targets` builds it from the
//! inventory and ssh config.

use std::path::PathBuf;

/// Host key checking, like OpenSSH's StrictHostKeyChecking.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyPolicy {
    /// Unknown and changed keys are refused (default).
    Strict,
    /// Unknown keys are recorded in known_hosts; changed keys are refused.
    AcceptNew,
    /// No checking at all (warned about loudly).
    Off,
}

/// One SSH endpoint: the host itself or a jump host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// Address to connect to (ansible_host, ssh config HostName, or the inventory name).
    pub address: String,
    pub port: u16,
    pub user: String,
    /// Key files to try, in order: before the agent's keys when they were named (inventory,
    /// command line, ssh config), after them when they are the defaults (`~/.ssh/id_*`).
    pub identity_files: Vec<PathBuf>,
    /// The key files were named: they go first, so that an agent holding many keys does not
    /// spend sshd's MaxAuthTries before the named key is offered.
    pub keys_named: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    pub hop: Hop,
    /// Jump hosts, outermost first.
    pub jumps: Vec<Hop>,
    pub known_hosts: Vec<PathBuf>,
    pub host_key_policy: HostKeyPolicy,
}
