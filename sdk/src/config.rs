//! The install's configuration: the JSON object the district administrator
//! gave when installing the app (`hutong install --config FILE`), `{}` when
//! none was given. Reading it needs no permission.
//!
//! Parse it into the app's own settings type, with serde defaults for what an
//! administrator may leave out:
//!
//! ```no_run
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! #[serde(default)]
//! struct Settings {
//!     alert_after_hours: u32,
//! }
//!
//! impl Default for Settings {
//!     fn default() -> Self {
//!         Settings { alert_after_hours: 48 }
//!     }
//! }
//!
//! # fn main() -> Result<(), hutong_sdk::Error> {
//! let settings: Settings = hutong_sdk::config::get()?;
//! println!("alert after {} hours", settings.alert_after_hours);
//! # Ok(())
//! # }
//! ```

use serde::de::DeserializeOwned;

use crate::Error;
use crate::bindings::hutong::platform::config as wit;

/// The install's configuration as JSON text (always a JSON object).
pub fn raw() -> String {
    wit::get()
}

/// The install's configuration parsed as a `T`.
///
/// A configuration that does not fit `T` is [`Error::InvalidArgument`] naming
/// what is wrong: the administrator chose it, so the message is for them
/// (for example in an answer to a request the configuration spoils).
pub fn get<T: DeserializeOwned>() -> Result<T, Error> {
    parse(&raw())
}

/// `text` parsed as the configuration type `T`; what [`get`] does with the
/// host's configuration.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    serde_json::from_str(text).map_err(|error| {
        Error::InvalidArgument(format!(
            "the install's configuration does not fit this app: {error}; ask the district administrator to install it again with a corrected configuration"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Settings {
        hours: u32,
    }

    impl Default for Settings {
        fn default() -> Self {
            Settings { hours: 48 }
        }
    }

    #[test]
    fn an_empty_configuration_takes_the_defaults() {
        assert_eq!(parse::<Settings>("{}"), Ok(Settings { hours: 48 }));
        assert_eq!(
            parse::<Settings>(r#"{"hours":2}"#),
            Ok(Settings { hours: 2 })
        );
    }

    #[test]
    fn a_configuration_that_does_not_fit_says_what_is_wrong() {
        let error = parse::<Settings>(r#"{"hours":"two"}"#).unwrap_err();
        assert!(
            matches!(&error, Error::InvalidArgument(m) if m.contains("configuration") && m.contains("invalid type")),
            "{error:?}"
        );
    }
}
