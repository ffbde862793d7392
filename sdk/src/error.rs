//! The one error type of the SDK, mirroring the WIT `error` variant.

use crate::bindings::hutong::platform::types::Error as WitError;

/// `Result` with the SDK's [`enum@Error`] as its default error.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// What went wrong in a host call or in the app itself.
///
/// The first five variants mirror the WIT `error` every host call returns; a
/// host call never traps on a refusal, it returns one of these.
/// [`Error::Internal`] is for failures of the app's own.
///
/// A [`Router`](crate::Router) answers each with a status and a JSON body; see
/// [`Error::status`] and [`Error::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The install may not use this capability: the manifest must declare
    /// `permission` and the district administrator must grant it.
    #[error("the `{permission}` permission is not granted to this app")]
    Denied {
        /// The missing permission, for example `kv`.
        permission: String,
    },
    /// The thing asked for does not exist.
    #[error("not found")]
    NotFound,
    /// An argument was malformed or out of range; the message says what was
    /// wrong and what is allowed.
    #[error("{0}")]
    InvalidArgument(String),
    /// A platform or install limit was reached; the message names the limit.
    #[error("{0}")]
    LimitExceeded(String),
    /// The host could not serve the call right now; retrying later may
    /// succeed.
    #[error("{0}")]
    Unavailable(String),
    /// The app itself failed. A [`Router`](crate::Router) logs the message
    /// and answers with a generic one, so it never reaches the caller.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// The machine-readable code a [`Router`](crate::Router) puts in an error
    /// body: `denied`, `not_found`, `invalid_argument`, `limit_exceeded`,
    /// `unavailable` or `internal`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Denied { .. } => "denied",
            Self::NotFound => "not_found",
            Self::InvalidArgument(_) => "invalid_argument",
            Self::LimitExceeded(_) => "limit_exceeded",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// The HTTP status a [`Router`](crate::Router) answers this error with.
    pub fn status(&self) -> u16 {
        match self {
            Self::Denied { .. } => 403,
            Self::NotFound => 404,
            Self::InvalidArgument(_) => 400,
            Self::LimitExceeded(_) => 429,
            Self::Unavailable(_) => 503,
            Self::Internal(_) => 500,
        }
    }
}

impl From<WitError> for Error {
    fn from(error: WitError) -> Self {
        match error {
            WitError::Denied(permission) => Self::Denied { permission },
            WitError::NotFound => Self::NotFound,
            WitError::InvalidArgument(message) => Self::InvalidArgument(message),
            WitError::LimitExceeded(message) => Self::LimitExceeded(message),
            WitError::Unavailable(message) => Self::Unavailable(message),
        }
    }
}

/// The WIT error has no case for the app's own failures: an
/// [`Error::Internal`] leaves the component as `unavailable`, which makes the
/// host retry an event or tick later, as it would after a trap.
impl From<Error> for WitError {
    fn from(error: Error) -> Self {
        match error {
            Error::Denied { permission } => Self::Denied(permission),
            Error::NotFound => Self::NotFound,
            Error::InvalidArgument(message) => Self::InvalidArgument(message),
            Error::LimitExceeded(message) => Self::LimitExceeded(message),
            Error::Unavailable(message) | Error::Internal(message) => Self::Unavailable(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denied_message_names_the_permission() {
        let error = Error::from(WitError::Denied("kv".into()));
        assert_eq!(
            error,
            Error::Denied {
                permission: "kv".into()
            }
        );
        assert!(error.to_string().contains("`kv`"));
        assert_eq!((error.status(), error.code()), (403, "denied"));
    }

    #[test]
    fn internal_leaves_the_component_as_unavailable() {
        let error = WitError::from(Error::Internal("boom".into()));
        assert!(matches!(error, WitError::Unavailable(message) if message == "boom"));
    }
}
