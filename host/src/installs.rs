//! Installs: districts install apps, grant their permissions, suspend,
//! resume and uninstall them, and upgrade or roll back the ones that came
//! from a registry. Also here are the two host interfaces every app has
//! without a permission: its configuration (`config.rs`) and its log
//! (`log.rs`).

pub mod api;
pub mod cli;
pub(crate) mod config;
pub(crate) mod log;
pub mod ops;
pub mod registry;
pub mod registry_api;
pub mod registry_cli;
pub mod registry_store;
pub mod store;
