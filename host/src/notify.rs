//! Notifications: the inbox, SMS, voice and webhook channels, sends by
//! apps and staff to workers and residents, and the delivery loop that
//! hands them to gateways through the outbox.

pub mod api;
pub mod cli;
pub mod delivery;
pub(crate) mod host;
pub mod ops;
pub mod store;
mod wit;
