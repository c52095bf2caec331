//! Inventory: Ansible-compatible host sources and patterns (in progress: ranges so far).

pub mod range;
