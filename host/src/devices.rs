//! Devices and their events: registration with device tokens, ingest of
//! events checked against the [`events`](crate::kernel::events) catalogue,
//! and their delivery to the apps that subscribed, through the outbox.

pub mod api;
pub mod cli;
pub mod delivery;
pub(crate) mod host;
pub mod ops;
pub mod store;
mod wit;
