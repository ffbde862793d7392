//! Host bindings for the `hutong:platform/app` world, generated once from
//! `wit/`, with what every conversion shares: [`same_variants!`] for enums
//! that match variant for variant, the time format, and the app's error.
//! Kept private to the crate: the rest of the host speaks its own types.
//! Each capability's conversions live in its folder's `wit.rs`, beside its
//! host impl.
//!
//! Conversions are `From` impls where they are total; the few that take a
//! decision as well (which fields of a resident the install may see, which
//! ids go with an event) are functions that take that decision as an
//! argument, made by the capability's check.

wasmtime::component::bindgen!({
    world: "app",
    path: "../wit",
    imports: { default: async },
    exports: { default: async },
});

pub(crate) use exports::hutong::platform::http_handler;
pub(crate) use hutong::platform::case_types;
pub(crate) use hutong::platform::types::Error as WitError;

/// Longest error message kept from an app's export: the message is
/// guest-controlled and stored with the notice or the event's record.
pub(crate) const MAX_APP_ERROR: usize = 1000;

/// Milliseconds since the epoch as WIT carries them; times before the epoch
/// do not occur on the host's clock, so they clamp to 0.
pub(crate) fn ms(at: i64) -> u64 {
    u64::try_from(at).unwrap_or(0)
}

/// `From` between a host enum and its WIT twin, variant for variant:
/// `A => B` one way, `both A, B` both ways. A variant added on one side and
/// not the other fails to compile.
macro_rules! same_variants {
    (both $a:ty, $b:ty { $($variant:ident),+ $(,)? }) => {
        same_variants!($a => $b { $($variant),+ });
        same_variants!($b => $a { $($variant),+ });
    };
    ($from:ty => $to:ty { $($variant:ident),+ $(,)? }) => {
        impl From<$from> for $to {
            fn from(value: $from) -> Self {
                type Source = $from;
                match value {
                    $(Source::$variant => Self::$variant,)+
                }
            }
        }
    };
}
pub(crate) use same_variants;

// ---- errors ----

impl WitError {
    /// An app's error result, for the record and the log; capped, as the app
    /// wrote it.
    pub(crate) fn describe(&self) -> String {
        let text = match self {
            WitError::Denied(permission) => format!("denied: {permission}"),
            WitError::NotFound => "not-found".to_owned(),
            WitError::InvalidArgument(m) => format!("invalid-argument: {m}"),
            WitError::LimitExceeded(m) => format!("limit-exceeded: {m}"),
            WitError::Unavailable(m) => format!("unavailable: {m}"),
        };
        if text.len() <= MAX_APP_ERROR {
            return text;
        }
        let mut end = MAX_APP_ERROR;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &text[..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_error_is_kept_short() {
        let long = WitError::Unavailable("é".repeat(5_000));
        let text = long.describe();
        assert!(text.starts_with("unavailable: é"));
        assert!(text.len() <= MAX_APP_ERROR + '…'.len_utf8());
    }
}
