//! Reaching a host: from the inventory's variables, `~/.ssh/config` and the command line to
//! how each selected host is reached ([`targets`]), and the connector that opens its session
//! ([`connect`]) over the transport.

pub mod connect;
pub mod ssh_config;
pub mod targets;
