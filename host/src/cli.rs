//! Subcommands of the `hutong` binary that have grown their own module.

pub mod cases;
pub mod devices;
pub mod notify;
pub mod registry;
