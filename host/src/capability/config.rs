//! `hutong:platform/config`: the install's own configuration.
//!
//! Needs no permission. The configuration is the JSON object the district
//! administrator gave the install (validated as an object when installing),
//! serialized once when the install is loaded; an app reads its own and no
//! other.

use crate::bindings::hutong::platform::config::Host;
use crate::runtime::AppState;

impl Host for AppState {
    async fn get(&mut self) -> String {
        self.call.config.clone()
    }
}
