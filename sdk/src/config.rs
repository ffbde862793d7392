//! The install's configuration: the JSON object the district administrator
//! gave when installing the app (`hutong install --config settings.json`),
//! for what differs between districts: thresholds, hours, categories.
//!
//! Reading it needs no permission. Give every setting a default, so an
//! install without configuration works:
//!
//! ```no_run
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! #[serde(default)]
//! struct Settings {
//!     inactivity_hours: u32,
//! }
//!
//! impl Default for Settings {
//!     fn default() -> Self {
//!         Settings { inactivity_hours: 24 }
//!     }
//! }
//!
//! # fn main() -> Result<(), hutong_sdk::Error> {
//! let settings: Settings = hutong_sdk::config::get()?;
//! println!("alert after {} hours", settings.inactivity_hours);
//! # Ok(())
//! # }
//! ```

use serde::de::DeserializeOwned;

use crate::Error;
// In WebAssembly the host's functions; outside it (an app's `cargo test`)
// the SDK's in-memory test host, so that calls never abort.
#[cfg(target_arch = "wasm32")]
use crate::bindings::hutong::platform::config as host;
#[cfg(not(target_arch = "wasm32"))]
use crate::testing::config as host;

/// The configuration as JSON text: always an object, `{}` when the
/// administrator gave none.
pub fn raw() -> String {
    host::get()
}

/// The configuration parsed as a `T`. A configuration that does not fit is
/// [`Error::InvalidArgument`] saying what is wrong, so the app can tell the
/// caller (or log) which setting the administrator must fix.
pub fn get<T: DeserializeOwned>() -> Result<T, Error> {
    parse(&raw())
}

/// `text` parsed as a configuration of type `T` (what [`get`] does with the
/// install's configuration).
///
/// ```
/// #[derive(serde::Deserialize, Debug, PartialEq)]
/// struct Settings { hours: u32 }
///
/// let ok: Settings = hutong_sdk::config::parse(r#"{"hours": 12}"#).unwrap();
/// assert_eq!(ok, Settings { hours: 12 });
/// let bad = hutong_sdk::config::parse::<Settings>(r#"{"hours": "twelve"}"#).unwrap_err();
/// assert!(bad.to_string().contains("twelve"), "{bad}");
/// ```
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    serde_json::from_str(text).map_err(|error| {
        Error::InvalidArgument(format!(
            "the install's configuration does not fit this app: {error}"
        ))
    })
}
