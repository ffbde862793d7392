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

use exports::hutong::platform::{case_watcher, event_handler, tick_handler};
use wasmtime::component::{Instance, InstancePre};

use crate::kernel::app_state::AppState;

/// A component ready to instantiate, with the handlers it exports.
///
/// `http-handler` every app has; the other three are optional, so a
/// component built from its own world (as Python and JavaScript
/// toolchains build) exports only the handlers it implements. The install
/// checks that each permission calling into the app comes with its export
/// (`receive-events` with `event-handler`, `schedules` with
/// `tick-handler`); an app without a `case-watcher` is simply not told of
/// its cases' changes.
#[derive(Clone)]
pub(crate) struct Prepared {
    pre: InstancePre<AppState>,
    http: http_handler::GuestIndices,
    events: Option<event_handler::GuestIndices>,
    ticks: Option<tick_handler::GuestIndices>,
    watcher: Option<case_watcher::GuestIndices>,
}

impl Prepared {
    /// Look up the handlers of a pre-instantiated component; an error if
    /// it has no `http-handler` or a handler has the wrong type.
    pub(crate) fn new(pre: InstancePre<AppState>) -> wasmtime::Result<Self> {
        let component = pre.component();
        let has = |interface: &str| {
            let name = format!(
                "hutong:platform/{interface}@{}",
                crate::kernel::manifest::HOST_API_VERSION
            );
            component.get_export_index(None, &name).is_some()
        };
        let (events, ticks, watcher) = (
            has("event-handler"),
            has("tick-handler"),
            has("case-watcher"),
        );
        Ok(Prepared {
            http: http_handler::GuestIndices::new(&pre)?,
            events: events
                .then(|| event_handler::GuestIndices::new(&pre))
                .transpose()?,
            ticks: ticks
                .then(|| tick_handler::GuestIndices::new(&pre))
                .transpose()?,
            watcher: watcher
                .then(|| case_watcher::GuestIndices::new(&pre))
                .transpose()?,
            pre,
        })
    }

    /// A fresh instance in `store`.
    pub(crate) async fn instantiate(
        &self,
        store: &mut wasmtime::Store<AppState>,
    ) -> wasmtime::Result<Instance> {
        self.pre.instantiate_async(store).await
    }

    /// The instance's `http-handler`.
    pub(crate) fn http(
        &self,
        store: &mut wasmtime::Store<AppState>,
        instance: &Instance,
    ) -> wasmtime::Result<http_handler::Guest> {
        self.http.load(store, instance)
    }

    /// The instance's `event-handler`, if the component exports one.
    pub(crate) fn events(
        &self,
        store: &mut wasmtime::Store<AppState>,
        instance: &Instance,
    ) -> wasmtime::Result<event_handler::Guest> {
        missing(self.events.as_ref(), "event-handler")?.load(store, instance)
    }

    /// The instance's `tick-handler`, if the component exports one.
    pub(crate) fn ticks(
        &self,
        store: &mut wasmtime::Store<AppState>,
        instance: &Instance,
    ) -> wasmtime::Result<tick_handler::Guest> {
        missing(self.ticks.as_ref(), "tick-handler")?.load(store, instance)
    }

    /// Whether the component exports a `case-watcher`.
    pub(crate) fn watches_cases(&self) -> bool {
        self.watcher.is_some()
    }

    /// The instance's `case-watcher`, if the component exports one.
    pub(crate) fn watcher(
        &self,
        store: &mut wasmtime::Store<AppState>,
        instance: &Instance,
    ) -> wasmtime::Result<case_watcher::Guest> {
        missing(self.watcher.as_ref(), "case-watcher")?.load(store, instance)
    }
}

fn missing<'a, T>(indices: Option<&'a T>, interface: &str) -> wasmtime::Result<&'a T> {
    indices.ok_or_else(|| wasmtime::format_err!("the component does not export {interface}"))
}

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
