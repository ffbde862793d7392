//! `hutong:platform/config`: the install's configuration, as the district
//! administrator gave it at install time.
//!
//! Needs no permission: the configuration belongs to the install, holds no
//! one's data, and reading it reaches nothing outside the sandbox.

use crate::kernel::app_state::AppState;
use crate::kernel::wit::hutong::platform::config::Host;

impl Host for AppState {
    async fn get(&mut self) -> String {
        self.grant.config.clone()
    }
}
