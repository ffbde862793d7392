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
//! granted it. Each capability's guest-facing part is one module, with its
//! allow-check beside its implementation, and every check goes through the
//! install's grant ([`grant`]).
//!
//! Layout, bottom to top (`ARCHITECTURE.md` has the map): [`ids`],
//! [`grant`], the WIT bindings and [`store`] (SQLite or PostgreSQL through one
//! code path, with the access log and the outbox tables), beside the
//! vocabulary they speak ([`manifest`], [`limits`], [`cases`], [`community`],
//! [`events`], [`identity`], [`metrics`]); the capabilities' host impls, which
//! take only the store and the grant; the [`runtime`] (engine, cache, the one
//! call funnel); the [`platform`] (the install lifecycle, and the dispatchers
//! that call apps); and on top [`api`], [`cli`] and [`server`]. Nothing calls
//! upward: a guest's host call never reaches the runtime or the install
//! lifecycle.

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
