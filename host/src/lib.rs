//! The Hutong host: a city runs one, each district installs sandboxed
//! WebAssembly apps into it, and the host serves them over HTTP.
//!
//! The design decision to know: **every call gets a fresh instance**. An
//! install is compiled once (cached on disk by content digest) and
//! pre-instantiated once; each request then instantiates it anew from a
//! pooling allocator with copy-on-write memory, calls it under a memory cap
//! and a deadline, and throws the instance away. Nothing leaks between
//! requests, apps or districts, and a failing app fails only its own call.
//!
//! Capabilities are denied by default: a host interface works for an app only
//! if its manifest declares the permission (with a reason) and the district
//! granted it. Each capability lives in its own module under [`capability`],
//! with its grant check beside its implementation.
//!
//! Layout: [`store`] (SQLite or PostgreSQL through one code path),
//! [`runtime`] (engine, cache, limits, calls), [`platform`] (districts and
//! the install lifecycle), [`api`] (the HTTP API and app routing) and the
//! `hutong` binary's CLI.

pub mod api;
mod bindings;
mod capability;
pub mod cases;
pub mod cli;
pub mod community;
pub mod events;
pub mod grant;
pub mod identity;
pub mod ids;
#[cfg(test)]
mod layering;
pub mod limits;
pub mod manifest;
pub mod metrics;
mod outbox;
pub mod platform;
pub mod runtime;
pub mod server;
pub mod store;

pub use platform::{AccountRequest, InstallRequest, Platform, PlatformError};
pub use runtime::{AppRequest, AppResponse, CallError, Runtime, RuntimeConfig};
pub use store::Store;
