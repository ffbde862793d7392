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
//! install's grant ([`kernel::grant`]).
//!
//! Layout (`ARCHITECTURE.md` has the map): the [`kernel`] at the bottom
//! (typed ids, the clock, the manifest, the grant, the WIT bindings, the
//! store handle, the access log and the outbox engine); one folder per
//! capability, each with its model, SQL, operations, host impl, routes and
//! commands: [`accounts`], [`cases`], [`community`], [`devices`],
//! [`installs`], [`kv`], [`notify`], [`schedules`]; [`error`], the one error
//! of every operation; the [`runtime`] (engine, cache, the one call funnel);
//! [`platform`] (the store plus the runtime, for the operations that call
//! apps); and the edges [`api`], [`console`] (the pages people use in a browser),
//! [`cli`] and [`server`]. Nothing calls
//! upward, and a slice uses another only through its model, storage and
//! rules; a test holds both (`layering.rs`).

pub mod accounts;
pub mod api;
pub mod cases;
pub mod cli;
pub mod community;
pub mod console;
pub mod devices;
pub mod error;
pub mod installs;
pub mod kernel;
pub mod kv;
#[cfg(test)]
mod layering;
pub mod notify;
pub mod platform;
pub mod runtime;
pub mod schedules;
pub mod server;

pub use accounts::ops::AccountRequest;
pub use error::PlatformError;
pub use installs::ops::InstallRequest;
pub use kernel::store::Store;
pub use platform::Platform;
pub use runtime::{AppRequest, AppResponse, CallError, Runtime, RuntimeConfig};
