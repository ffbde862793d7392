//! Write Hutong district apps in Rust.
//!
//! A Hutong app is a WebAssembly component for the `hutong:platform/app@0.1.0`
//! world, whose WIT travels with this crate (`wit/`). This crate generates the
//! bindings for that world once and puts an ordinary Rust API over them:
//! [`Request`] and [`Response`], a small [`Router`], the typed [`Error`] every
//! host call returns, the [`kv`] store, the community [`data`], [`cases`]
//! (work orders), [`notify`] (messages to residents and workers), the
//! install's [`config`], the [`log`] and local dates and times ([`time`]).
//!
//! # A complete app
//!
//! ```no_run
//! use hutong_sdk::{App, Error, Params, Request, Response, Router, kv};
//!
//! struct Hello;
//!
//! impl App for Hello {
//!     fn handle(req: Request) -> Response {
//!         Router::new()
//!             .get("/greet/{name}", greet)
//!             .get("/ping", |_, _| Ok(Response::text(200, "pong")))
//!             .handle(req)
//!     }
//! }
//!
//! fn greet(_req: &Request, params: &Params) -> Result<Response, Error> {
//!     let name = params.get("name").unwrap_or("stranger");
//!     let key = format!("visits/{name}");
//!     let visits = kv::get_json::<u64>(&key)?.unwrap_or(0) + 1;
//!     kv::set_json(&key, &visits)?;
//!     Ok(Response::json(
//!         200,
//!         &serde_json::json!({ "greeting": format!("Hello, {name}!"), "visits": visits }),
//!     ))
//! }
//!
//! hutong_sdk::export_app!(Hello);
//! ```
//!
//! Build it as a `cdylib` for `wasm32-wasip2`
//! (`cargo build --release --target wasm32-wasip2`); the `.wasm` file cargo
//! writes is the component to install.
//!
//! # Device events
//!
//! An app that subscribes to device events declares `receive-events` and the
//! event types in its manifest, and implements [`App::on_event`]. The host
//! hands it each event of those types from a device of its district, in order
//! per device and at least once; an error is retried later, up to 8 times.
//!
//! ```toml
//! [permissions]
//! receive-events = "Alerts the grid worker when an elderly resident's door stays shut."
//! kv = "Remembers when each door last opened."
//!
//! [events]
//! types = ["door.open", "door.close"]
//! ```
//!
//! ```no_run
//! use hutong_sdk::{App, DeviceEvent, Error, Request, Response, kv};
//!
//! struct DoorWatch;
//!
//! impl App for DoorWatch {
//!     fn handle(_req: Request) -> Response {
//!         Response::text(404, "not found")
//!     }
//!
//!     fn on_event(event: DeviceEvent) -> Result<(), Error> {
//!         // Only with `read-households` (and the household in the install's
//!         // communities) does the host say whose door it is.
//!         let Some(household) = event.household_id else {
//!             return Ok(());
//!         };
//!         kv::set_json(&format!("last-open/{household}"), &event.occurred_at_ms)
//!     }
//! }
//!
//! hutong_sdk::export_app!(DoorWatch);
//! ```
//!
//! Besides what devices post, the host reports `device.offline` when a device
//! has been silent for longer than its heartbeat interval (once per silence)
//! and `device.online` when it posts again; subscribe to them to tell a
//! device fault from news about the people the device watches, without
//! watching heartbeats.
//!
//! # Each request runs in a fresh instance
//!
//! The host instantiates the component anew for every request, event, tick and
//! case change, and throws the instance away afterwards. Nothing kept in
//! memory (statics, caches, a `Router` built once) survives from one call to
//! the next: state that must outlive a request belongs in [`kv`]. The upside is
//! that a panic, a trap or a leak only ever costs one request.
//!
//! Every call also runs under the install's limits (memory, deadline, response
//! size); exceeding one ends the call, and the host answers for the app.
//!
//! # Testing an app
//!
//! `cargo test` runs an app's tests natively, not in WebAssembly. There the
//! SDK's calls go to [`testing`], an in-memory host for each test thread: kv,
//! notifications (recorded), configuration and log lines behave as the real
//! host's; community data comes from the residents, households and buildings
//! a test adds; the cases the app opens are kept, and
//! [`testing::change_case`] and [`testing::deliver_event`] call the app as
//! the host would; [`time::now_ms`] reads a clock a test can set; and
//! [`testing::deny`] refuses an interface as a missing permission would. A
//! test calls the app's handler directly, as any caller
//! ([`Request::with_caller`]):
//!
//! ```
//! # use hutong_sdk::{App, Request, Response, Router, kv};
//! # struct MyApp;
//! # impl App for MyApp {
//! #     fn handle(req: Request) -> Response {
//! #         Router::new()
//! #             .get("/greet/{name}", |_, params| {
//! #                 let key = format!("visits/{}", params.get("name").unwrap_or("?"));
//! #                 kv::set(&key, b"1")?;
//! #                 Ok(Response::text(200, "你好"))
//! #             })
//! #             .handle(req)
//! #     }
//! # }
//! let answer = MyApp::handle(Request::new("GET", "/greet/zhang"));
//! assert_eq!(answer.status(), 200);
//! assert_eq!(hutong_sdk::testing::kv_value("visits/zhang").as_deref(), Some(&b"1"[..]));
//! ```
//!
//! # Permissions and the manifest
//!
//! Apps have no ambient authority: no files, no environment variables, no
//! arguments and no sockets. Every capability beyond logging needs a
//! permission, which the app declares in its `hutong.toml` manifest, with the
//! reason the district administrator is shown, and which the administrator
//! grants when installing (`hutong install ... --grant kv`):
//!
//! ```toml
//! name = "hello"             # [a-z][a-z0-9-]{0,62}
//! version = "0.1.0"          # semver
//! description = "Greets visitors and counts their visits."
//! host-api = "^0.1"          # semver requirement on hutong:platform
//!
//! [permissions]              # each permission the app uses, with its reason
//! kv = "Counts how many times each visitor was greeted."
//!
//! [limits]                   # optional, each within the platform's maxima
//! memory-mib = 16
//! deadline-ms = 500
//! response-bytes = 65536
//! ```
//!
//! A call to a capability the install was not granted does not trap: it
//! returns [`Error::Denied`] naming the missing permission, which a [`Router`]
//! answers with 403.
//!
//! The component imports only the host interfaces the app's code actually
//! calls: an app that never touches [`kv`] does not import
//! `hutong:platform/kv` at all, so it needs no `kv` permission.

#![warn(missing_docs)]

pub mod cases;
pub mod config;
pub mod data;
mod error;
mod http;
pub mod kv;
pub mod log;
pub mod notify;
mod router;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod time;

pub use error::{Error, Result};
pub use http::{Caller, Request, Response, Role, html_escape};
pub use router::{Handler, Params, Router};

/// Now, in milliseconds since the Unix epoch, by the host's clock.
///
/// The host gives every call its own clock as the wall clock, so this agrees
/// with the times it hands the app ([`DeviceEvent::occurred_at_ms`],
/// [`Tick::scheduled_at_ms`], case times) and with a test that stops or moves
/// the host's clock. `std::time::SystemTime::now()` reads the same clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The bindings `wit_bindgen` generates for the `hutong:platform/app` world.
///
/// They are public so that [`export_app!`] can reach them from the app's
/// crate, and so that tests can call the host without the SDK's wrappers; an
/// app should not need them.
#[doc(hidden)]
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "app",
        path: "wit",
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "hutong_sdk::bindings",
    });
}

/// One event reported by a device in the install's district.
pub use bindings::exports::hutong::platform::event_handler::DeviceEvent;

/// One scheduled tick, for a schedule the app declares in its manifest.
pub use bindings::exports::hutong::platform::tick_handler::Tick;

/// One transition of a case (work order) the app opened; see [`cases`].
pub use bindings::hutong::platform::case_types::CaseChange;

/// A state in the case lifecycle.
pub use bindings::hutong::platform::case_types::CaseState;

/// A Hutong app: what the host calls.
///
/// Only [`App::handle`] is required. The other entry points default to
/// accepting (and ignoring) what they are given, so an app that only serves
/// HTTP writes no stubs. Export an implementation with [`export_app!`].
///
/// The functions take no `self`: each call runs in a fresh instance, so there
/// is no app value to keep between calls.
pub trait App {
    /// Answer one HTTP request. The path is relative to the app's mount: a
    /// request for `/d/east/apps/hello/greet/ana` arrives as `/greet/ana`.
    fn handle(req: Request) -> Response;

    /// Handle one device event, for the event types the install subscribes
    /// to (while it holds `receive-events`). A device's events arrive in the
    /// order the host received them, at least once, so treat
    /// [`DeviceEvent::event_id`] as an idempotency key; an error makes the
    /// host retry the event later (1 s, 2 s, 4 s, …), and after 8 attempts it
    /// is set aside as a dead letter and the device's next event goes ahead.
    /// `household_id` and `resident_id` are set only as the install's
    /// `read-households` and `read-residents` grants and its communities
    /// allow. See the [crate docs](crate#device-events) for an example.
    fn on_event(event: DeviceEvent) -> Result<(), Error> {
        let _ = event;
        Ok(())
    }

    /// Handle one tick of a schedule declared in the manifest's
    /// `[[schedules]]` (with the `schedules` permission). Each period ticks
    /// once across every host process; [`Tick::schedule`] names the
    /// schedule and [`Tick::scheduled_at_ms`] when the period was due. A
    /// failed tick is not retried: the next period is the next chance.
    ///
    /// ```toml
    /// [permissions]
    /// schedules = "Checks every morning for residents nobody has seen."
    ///
    /// [[schedules]]
    /// name = "morning-check"
    /// cron = "0 8 * * *"
    /// utc-offset = "+08:00"
    /// ```
    fn on_tick(tick: Tick) -> Result<(), Error> {
        let _ = tick;
        Ok(())
    }

    /// Handle one transition of a case the app opened (see [`cases`]); the
    /// host calls it only while the install holds `read-own-cases`. Changes
    /// of a case arrive in order and at least once; an error makes the host
    /// tell the app again later, up to 8 times.
    fn on_case_changed(change: CaseChange) -> Result<(), Error> {
        let _ = change;
        Ok(())
    }
}

/// Export an [`App`] implementation as the component's entry points.
///
/// Invoke it once, at the top level of the app's crate:
///
/// ```no_run
/// use hutong_sdk::{App, Request, Response};
///
/// struct MyApp;
///
/// impl App for MyApp {
///     fn handle(_req: Request) -> Response {
///         Response::text(200, "hello")
///     }
/// }
///
/// hutong_sdk::export_app!(MyApp);
/// ```
#[macro_export]
macro_rules! export_app {
    ($app:ty) => {
        const _: () = {
            struct HutongExports;

            impl $crate::bindings::exports::hutong::platform::http_handler::Guest for HutongExports {
                fn handle(
                    request: $crate::bindings::exports::hutong::platform::http_handler::Request,
                ) -> $crate::bindings::exports::hutong::platform::http_handler::Response {
                    $crate::__private::handle::<$app>(request)
                }
            }

            impl $crate::bindings::exports::hutong::platform::event_handler::Guest for HutongExports {
                fn on_event(
                    event: $crate::DeviceEvent,
                ) -> ::core::result::Result<(), $crate::__private::WitError> {
                    $crate::__private::on_event::<$app>(event)
                }
            }

            impl $crate::bindings::exports::hutong::platform::tick_handler::Guest for HutongExports {
                fn on_tick(
                    tick: $crate::Tick,
                ) -> ::core::result::Result<(), $crate::__private::WitError> {
                    $crate::__private::on_tick::<$app>(tick)
                }
            }

            impl $crate::bindings::exports::hutong::platform::case_watcher::Guest for HutongExports {
                fn on_case_changed(
                    change: $crate::CaseChange,
                ) -> ::core::result::Result<(), $crate::__private::WitError> {
                    $crate::__private::on_case_changed::<$app>(change)
                }
            }

            $crate::bindings::export!(HutongExports with_types_in $crate::bindings);
        };
    };
}

/// The glue [`export_app!`] expands to. Not part of the API.
///
/// It must never call into [`kv`], [`data`], [`cases`], [`notify`] or
/// [`config`]: the linker keeps a host import only if something reaches it,
/// and an app that does not use one must not import it (nor need its
/// permission).
#[doc(hidden)]
pub mod __private {
    use crate::bindings::exports::hutong::platform::http_handler as wit;
    use crate::{App, CaseChange, DeviceEvent, Request, Tick};

    pub use crate::bindings::hutong::platform::types::Error as WitError;

    pub fn handle<A: App>(request: wit::Request) -> wit::Response {
        A::handle(Request::from(request)).into()
    }

    pub fn on_event<A: App>(event: DeviceEvent) -> Result<(), WitError> {
        A::on_event(event).map_err(WitError::from)
    }

    pub fn on_tick<A: App>(tick: Tick) -> Result<(), WitError> {
        A::on_tick(tick).map_err(WitError::from)
    }

    pub fn on_case_changed<A: App>(change: CaseChange) -> Result<(), WitError> {
        A::on_case_changed(change).map_err(WitError::from)
    }
}
