//! The audit's reports: its per-host results folded into the fleet view ([`fleet`]), and every
//! way that view leaves the controller: the human view ([`human`]), the JSON document and its
//! reader ([`json`]), the output files ([`files`]), monitoring formats ([`monitoring`]), an Ansible inventory of what to restart
//! ([`ansible_inventory`]), and the live progress while hosts answer ([`live`]).

pub mod ansible_inventory;
pub mod files;
pub mod fleet;
pub mod human;
pub mod json;
pub mod live;
pub mod monitoring;
