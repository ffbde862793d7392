//! Host bindings for the `hutong:platform/app` world, generated once from
//! `wit/`. Kept private to the crate: the rest of the host speaks its own
//! types and converts at the edge.

wasmtime::component::bindgen!({
    world: "app",
    path: "../wit",
    imports: { default: async },
    exports: { default: async },
});

pub(crate) use exports::hutong::platform::http_handler;
pub(crate) use hutong::platform::case_types;
pub(crate) use hutong::platform::types::Error as WitError;
