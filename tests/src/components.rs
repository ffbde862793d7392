//! The guest components the integration tests install, built from source by
//! `build.rs` for `wasm32-wasip2` (release) into `target/guests`.
//!
//! Each constant is an absolute path, fixed at compile time: a component's
//! `.wasm` file, or the `hutong.toml` manifest it is installed with.

/// The test app (`tests/components/test-app`): one route per host behaviour
/// the tests exercise (echo, kv, data, cases, limits, sandbox, logging), and
/// a case watcher that records what it hears in kv. Imports `kv`, `data`,
/// `cases` and `log`.
pub const TEST_APP: &str = env!("HUTONG_TEST_APP");

/// Where guests are built (`target/guests`, or `HUTONG_GUEST_TARGET_DIR`).
pub const GUESTS_DIR: &str = env!("HUTONG_GUESTS_DIR");

/// The cargo that built the guests, for tests that build an app themselves.
pub const CARGO: &str = env!("HUTONG_CARGO");

/// The test app's manifest: named `test-app`, declares every permission.
pub const TEST_APP_MANIFEST: &str = env!("HUTONG_TEST_APP_MANIFEST");

/// A `wasi:cli/command` component (`tests/components/cli-command`), not a
/// Hutong app: the host must refuse it. It has no manifest.
pub const CLI_COMMAND: &str = env!("HUTONG_CLI_COMMAND");

/// An app written without the SDK (`tests/components/raw-app`): answers every
/// `GET` with `raw app at {path}`. Imports neither `kv` nor `log`.
pub const RAW_APP: &str = env!("HUTONG_RAW_APP");

/// The raw app's manifest: named `raw-app`, declares no permissions.
pub const RAW_APP_MANIFEST: &str = env!("HUTONG_RAW_APP_MANIFEST");

/// An app that also imports `acme:widgets/gadgets@1.0.0`, which no Hutong host
/// provides (`tests/components/foreign-import`): the host must refuse it.
pub const FOREIGN_IMPORT: &str = env!("HUTONG_FOREIGN_IMPORT");

/// The foreign-import app's manifest: named `foreign-import`, declares no
/// permissions.
pub const FOREIGN_IMPORT_MANIFEST: &str = env!("HUTONG_FOREIGN_IMPORT_MANIFEST");

/// An app built from its own world (`tests/components/handlers-only`):
/// imports `kv` and `cases`, exports only `http-handler`. `GET /count`
/// counts in kv, `POST /open` with the body `CATEGORY GRID` opens a case
/// and answers its id,
/// `GET /case/{id}` answers its state.
pub const HANDLERS_ONLY: &str = env!("HUTONG_HANDLERS_ONLY");

/// Its manifest: named `handlers-only`; declares `kv`, `open-cases` and
/// `read-own-cases`.
pub const HANDLERS_ONLY_MANIFEST: &str = env!("HUTONG_HANDLERS_ONLY_MANIFEST");

/// A `wasi:http/proxy` component (`tests/components/ping-proxy`) that
/// answers every request with `pong`, as the hello app's `GET /ping` does:
/// what the request-path benchmark serves with `wasmtime serve`.
pub const PING_PROXY: &str = env!("HUTONG_PING_PROXY");

/// The Python example (`examples/hello-python`), built with componentize-py
/// from its own world: imports `kv` and `log`, exports only `http-handler`.
/// `GET /greet/{name}` counts visits in kv.
pub const HELLO_PYTHON: &str = env!("HUTONG_HELLO_PYTHON");

/// Its manifest: named `hello-python`, declares `kv` only.
pub const HELLO_PYTHON_MANIFEST: &str = env!("HUTONG_HELLO_PYTHON_MANIFEST");

/// The JavaScript example (`examples/hello-js`), built with componentize-js
/// from its own world, like the Python one.
pub const HELLO_JS: &str = env!("HUTONG_HELLO_JS");

/// Its manifest: named `hello-js`, declares `kv` only.
pub const HELLO_JS_MANIFEST: &str = env!("HUTONG_HELLO_JS_MANIFEST");

/// The example app (`examples/hello`), exactly as a third party builds it.
/// Imports `kv` and `log`.
pub const HELLO: &str = env!("HUTONG_HELLO");

/// The example app's manifest: named `hello`, declares the `kv` permission.
pub const HELLO_MANIFEST: &str = env!("HUTONG_HELLO_MANIFEST");

/// The community voting app (`plugins/e-voting`), as a district installs it.
pub const E_VOTING: &str = env!("HUTONG_E_VOTING");

/// The voting app's manifest: named `e-voting`.
pub const E_VOTING_MANIFEST: &str = env!("HUTONG_E_VOTING_MANIFEST");
/// The smart-care district app (`plugins/smart-care`), exactly as a third
/// party builds it.
pub const SMART_CARE: &str = env!("HUTONG_SMART_CARE");

/// The smart-care app's manifest: named `smart-care`.
pub const SMART_CARE_MANIFEST: &str = env!("HUTONG_SMART_CARE_MANIFEST");

/// The party-building app (`plugins/party-building`), built as a district
/// installs it. Imports `kv`, `data`, `notify`, `config` and `log`.
pub const PARTY_BUILDING: &str = env!("HUTONG_PARTY_BUILDING");

/// The party-building app's manifest: named `party-building`.
pub const PARTY_BUILDING_MANIFEST: &str = env!("HUTONG_PARTY_BUILDING_MANIFEST");
