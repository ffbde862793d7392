//! Key-value storage: each install's own keys, with a byte quota, and
//! nothing shared between installs.

pub(crate) mod host;
pub mod store;
mod wit;
