//! `hutong:platform/config`: the install's configuration, as the district
//! administrator gave it at install time.
//!
//! Needs no permission: the configuration belongs to the install, holds no
//! one's data, and reading it reaches nothing outside the sandbox.

use crate::bindings::hutong::platform::config::Host;
use crate::capability::AppState;

impl Host for AppState {
    async fn get(&mut self) -> String {
        self.grant.config.clone()
    }
}
