//! The audit's reports: its per-host results folded into the fleet view ([`fleet`]), and every
//! way that view leaves the controller: the human and JSON outputs and the output files
//! ([`output`]), monitoring formats ([`monitoring`]), an Ansible inventory of what to restart
//! ([`ansible_inventory`]), and the live progress while hosts answer ([`live`]).

pub mod ansible_inventory;
pub mod fleet;
pub mod live;
pub mod monitoring;
pub mod output;
