//! What each fresh store holds: the WASI context (with no ambient
//! authority), the memory limiter, the captured stdout and stderr, who is
//! calling (their [`Grant`]) with the request id, and the database. Every
//! capability's `Host` impl is on [`AppState`].
//!
//! It lives with the capabilities rather than in the runtime, which builds
//! one per call: a host call reaches only what is here (the store and the
//! grant), never the runtime or the install lifecycle above it, so a
//! capability can be called and tested without an engine.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::kernel::clock::Clock;
use crate::kernel::grant::Grant;
use crate::kernel::store::Store;
use crate::kernel::wit::hutong::platform::types;

/// Most bytes of stdout and stderr kept per call; the rest is dropped (and
/// the app keeps running: a chatty app must not fail for it).
pub(crate) const MAX_CAPTURED_OUTPUT: usize = 64 << 10;

/// A guest stdout/stderr that keeps the first bytes written, for the log.
#[derive(Clone, Default)]
pub(crate) struct CapturedOutput(Arc<Mutex<Vec<u8>>>);

impl CapturedOutput {
    pub(crate) fn take(&self) -> Vec<u8> {
        self.0
            .lock()
            .map(|mut b| std::mem::take(&mut *b))
            .unwrap_or_default()
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for CapturedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Ok(mut kept) = self.0.lock() {
            let room = MAX_CAPTURED_OUTPUT.saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..buf.len().min(room)]);
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Caps one instance's linear memory, and remembers a refusal so a trap
/// that follows can be reported as the memory limit it was.
pub(crate) struct MemoryLimiter {
    pub(crate) max_bytes: usize,
    pub(crate) refused: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.refused = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// Most table elements an instance may grow to.
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// The data of one store: one call of one install.
pub(crate) struct AppState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    /// The install the call runs for, and what it may do.
    pub(crate) grant: Arc<Grant>,
    pub(crate) request_id: String,
    pub(crate) store: Store,
    pub(crate) log_lines: u32,
    pub(crate) stdout: CapturedOutput,
    pub(crate) stderr: CapturedOutput,
    /// The district's share of the database: at most this many of its
    /// calls' operations at once. `None`: no share (tests without a
    /// runtime).
    pub(crate) database: Option<Arc<Semaphore>>,
}

/// A call's turn at the database within its district's share; the turn
/// ends when this is dropped.
pub(crate) type DatabaseTurn = OwnedSemaphorePermit;

impl AppState {
    pub(crate) fn new(
        grant: Arc<Grant>,
        request_id: String,
        store: Store,
        memory_bytes: u64,
    ) -> Self {
        let stdout = CapturedOutput::default();
        let stderr = CapturedOutput::default();
        // No preopened directories, no environment, no arguments, no
        // sockets: an app has no ambient authority. Clocks and randomness
        // stay, as apps need them and they grant no access to anything. The
        // wall clock is the host's, so an app's "now" agrees with the
        // deadlines, events and ticks the host hands it (and tests that stop
        // the host's clock stop the app's too).
        let wall_clock = HostClock(store.clock().clone());
        let wasi = WasiCtxBuilder::new()
            .wall_clock(wall_clock)
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .build();
        AppState {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                max_bytes: usize::try_from(memory_bytes).unwrap_or(usize::MAX),
                refused: false,
            },
            grant,
            request_id,
            store,
            log_lines: 0,
            stdout,
            stderr,
            database: None,
        }
    }

    /// Wait for a turn at the database within the district's share. A
    /// capability that lets an app write in bulk takes one per operation.
    pub(crate) fn database_turn(
        &self,
    ) -> impl Future<Output = Option<DatabaseTurn>> + Send + 'static {
        let share = self.database.clone();
        async move { share?.acquire_owned().await.ok() }
    }
}

impl WasiView for AppState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The host's [`Clock`] as an app's `wasi:clocks/wall-clock`.
struct HostClock(Clock);

impl HostWallClock for HostClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }

    fn now(&self) -> Duration {
        // Times before the epoch do not occur on a host's clock; clamp them.
        Duration::from_millis(u64::try_from(self.0.now_ms()).unwrap_or(0))
    }
}

/// An app's text as it goes into the host's log: every control character
/// (a line break, a carriage return, an escape sequence) written as an
/// escape, so that what an app logs stays inside its own log line and cannot
/// pass for a line of the host's.
pub(crate) struct Escaped<'a>(pub &'a str);

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(char::is_control) {
            f.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            match c {
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                other => write!(f, "\\u{{{:x}}}", other as u32)?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        f.write_str(rest)?;
        Ok(())
    }
}

// `types` and `case-types` hold only type definitions; they have nothing to
// check.
impl types::Host for AppState {}
impl crate::kernel::wit::case_types::Host for AppState {}
