//! Structured logging into the host's log.
//!
//! Lines are tagged by the host with the district, app, version and request,
//! and need no permission. Each function takes a message and key-value
//! fields:
//!
//! ```no_run
//! hutong_sdk::log::info("greeted", &[("name", "ana"), ("visits", "3")]);
//! ```
//!
//! Logging never fails an app: a line the host refuses (over its size or
//! count limits) is dropped silently. Anything written to stdout or stderr
//! reaches the same log.

use crate::bindings::hutong::platform::log as wit;
// In WebAssembly the host's functions; outside it (an app's `cargo test`)
// the SDK's in-memory test host, so that calls never abort.
#[cfg(target_arch = "wasm32")]
use crate::bindings::hutong::platform::log as host;
#[cfg(not(target_arch = "wasm32"))]
use crate::testing::log as host;

/// The severity of a log line.
pub use wit::Level;

/// Write one line at `level`; a refused line is dropped.
pub fn write(level: Level, message: &str, fields: &[(&str, &str)]) {
    let fields: Vec<(String, String)> = fields
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    // The host refuses only lines beyond its limits; losing such a line is
    // better than failing the request that wrote it.
    let _ = host::write(level, message, &fields);
}

/// Write one line at trace level.
pub fn trace(message: &str, fields: &[(&str, &str)]) {
    write(Level::Trace, message, fields);
}

/// Write one line at debug level.
pub fn debug(message: &str, fields: &[(&str, &str)]) {
    write(Level::Debug, message, fields);
}

/// Write one line at info level.
pub fn info(message: &str, fields: &[(&str, &str)]) {
    write(Level::Info, message, fields);
}

/// Write one line at warn level.
pub fn warn(message: &str, fields: &[(&str, &str)]) {
    write(Level::Warn, message, fields);
}

/// Write one line at error level.
pub fn error(message: &str, fields: &[(&str, &str)]) {
    write(Level::Error, message, fields);
}
