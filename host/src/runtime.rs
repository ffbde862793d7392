//! The sandboxed runtime: one wasmtime [`Engine`] per process, one
//! pre-instantiated component per installed digest, and a fresh store and
//! instance for every call.
//!
//! Every export goes through one funnel (`Runtime::call`, in `call.rs`):
//! [`Runtime::handle_http`], [`Runtime::tell_case_change`],
//! [`Runtime::tell_event`] and [`Runtime::tick`] differ only in what they
//! admit, call and check, and are held to the same limits, deadlines and
//! failure accounting.
//!
//! Instances come from a pooling allocator with copy-on-write memory images,
//! so a fresh instance costs microseconds. Each call runs under the install's
//! memory cap (a [`ResourceLimiter`](wasmtime::ResourceLimiter)) and deadline
//! (one instant, held by the epoch, driven by one ticker thread per engine,
//! while guest code runs, and by a timer around the whole call while it
//! waits in a host function or for its turn). A failure ends that call
//! only.
//!
//! The runtime sits above the capabilities: a call's store holds an
//! `AppState` (from the capability layer) with the database and the
//! install's grant and nothing more, so a host call never reaches back into
//! the runtime or the install lifecycle above it.

mod cache;
mod call;
pub mod health;
pub mod shares;
mod ticks;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use wasmtime::component::{Component, Instance, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

pub use cache::CacheStats;
pub use health::FailurePolicy;
pub use shares::Shares;
pub use ticks::TickOutcome;

use crate::accounts::Caller;
use crate::cases::store::HistoryEntry;
use crate::devices::store::StoredEvent;
use crate::error::RuntimeError;
use crate::installs::store::{Install, InstallStatus};
use crate::kernel::app_state::AppState;
use crate::kernel::grant::Grant;
use crate::kernel::limits::PlatformLimits;
use crate::kernel::manifest::Permission;
use crate::kernel::metrics::Metrics;
use crate::kernel::store::{Store, StoreError};
use crate::kernel::wit::exports::hutong::platform::event_handler::DeviceEvent;
use crate::kernel::wit::{App, Prepared, WitError, http_handler};
use call::{Export, Subject};
use health::Health;

/// How often the epoch advances. Guest code overruns its call's deadline
/// by at most about this much, and a running app yields to other tasks
/// this often. (A call waiting in a host function or for its turn is ended
/// by a timer, which tokio may fire later while every thread is busy.)
const EPOCH_TICK: Duration = Duration::from_millis(1);

/// How the runtime is set up.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Where precompiled components are kept.
    pub cache_dir: PathBuf,
    /// Default and maximum per-call limits.
    pub limits: PlatformLimits,
    /// Most instances alive at once (pool size); calls beyond it wait in
    /// line, then get 503.
    pub max_instances: u32,
    /// How the pool and the CPU are shared between districts and installs.
    pub shares: Shares,
    /// When repeated failures suspend an install.
    pub failure_policy: FailurePolicy,
}

impl RuntimeConfig {
    /// Defaults, keeping precompiled components under `cache_dir`.
    pub fn new(cache_dir: PathBuf) -> Self {
        RuntimeConfig {
            cache_dir,
            limits: PlatformLimits::default(),
            max_instances: 256,
            shares: Shares::for_pool(256),
            failure_policy: FailurePolicy::default(),
        }
    }
}

/// A request for an app, as the host hands it over.
#[derive(Clone, Debug, Default)]
pub struct AppRequest {
    /// Upper-case method.
    pub method: String,
    /// Path below the app's mount, starting with `/`.
    pub path: String,
    /// Raw query string without `?`.
    pub query: String,
    /// Headers, lower-case names, credentials removed.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
    /// The authenticated caller, if any.
    pub caller: Option<Caller>,
    /// The host's request id.
    pub request_id: String,
}

impl AppRequest {
    /// A `GET` for `path` (below the app's mount) with no caller.
    pub fn get(path: &str) -> Self {
        AppRequest {
            method: "GET".to_owned(),
            path: path.to_owned(),
            ..Default::default()
        }
    }
}

/// An app's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppResponse {
    /// Status code (100..=599).
    pub status: u16,
    /// Headers as the app set them.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// Why a call failed. Each ends that call only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The app trapped (including an abort).
    Trap(String),
    /// The app panicked.
    Panic(String),
    /// The call ran past its deadline.
    Deadline {
        /// The deadline, in ms.
        limit_ms: u64,
    },
    /// The app tried to grow its memory past its cap.
    Memory {
        /// The cap, in bytes.
        limit_bytes: u64,
    },
    /// The response body was larger than allowed.
    ResponseTooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: u64,
    },
    /// The response had a status outside 100..=599.
    InvalidStatus(u16),
}

impl Failure {
    /// Whether the failure counts towards suspending the app. An answer
    /// grown past the response limit may be the callers' doing (what they
    /// stored), so it fails the call but does not count.
    pub(crate) fn counts_against_app(&self) -> bool {
        !matches!(self, Failure::ResponseTooLarge { .. })
    }

    /// A short label for metrics and JSON error bodies.
    pub fn cause(&self) -> &'static str {
        match self {
            Failure::Trap(_) => "trap",
            Failure::Panic(_) => "panic",
            Failure::Deadline { .. } => "deadline",
            Failure::Memory { .. } => "memory",
            Failure::ResponseTooLarge { .. } => "response-too-large",
            Failure::InvalidStatus(_) => "invalid-response",
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Trap(_) => write!(f, "the app trapped"),
            Failure::Panic(_) => write!(f, "the app panicked"),
            Failure::Deadline { limit_ms } => {
                write!(
                    f,
                    "the app did not answer within its {limit_ms} ms deadline"
                )
            }
            Failure::Memory { limit_bytes } => write!(
                f,
                "the app tried to use more than its {} MiB memory limit",
                limit_bytes >> 20
            ),
            Failure::ResponseTooLarge { size, limit } => write!(
                f,
                "the app's response of {size} bytes (body and headers) exceeds its limit of {limit} bytes"
            ),
            Failure::InvalidStatus(s) => write!(
                f,
                "the app answered with invalid status {s}; a response's status must be 200 to 599"
            ),
        }
    }
}

/// What an app answered when told about a case change or handed a device
/// event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchOutcome {
    /// The app handled the change (or event).
    Handled,
    /// The app answered with an error (the message says which), asking to be
    /// told again later.
    Refused(String),
    /// The install does not hold this permission (or, for an event, no
    /// longer subscribes to its type), so it was not told.
    NotGranted(Permission),
    /// The component exports no `case-watcher`, so it is not told of its
    /// cases' changes (it may still read them).
    NotWatched,
}

/// Why a call could not be answered by the app.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No such install.
    #[error("no app `{app}` is installed in district `{district}`")]
    NotInstalled {
        /// District asked for.
        district: String,
        /// App asked for.
        app: String,
    },
    /// The install is suspended.
    #[error("app `{app}` in district `{district}` is suspended: {reason}")]
    Suspended {
        /// District.
        district: String,
        /// App.
        app: String,
        /// Why.
        reason: String,
    },
    /// An anonymous request for a route the app's manifest does not mark
    /// public.
    #[error(
        "app `{app}` in district `{district}` needs a signed-in caller for this route; send an `Authorization: Bearer` token"
    )]
    AuthenticationRequired {
        /// District.
        district: String,
        /// App.
        app: String,
    },
    /// A caller of another district, on a route that is not public.
    #[error("your account belongs to {theirs}; app `{app}` serves district `{district}`")]
    OtherDistrict {
        /// The app's district.
        district: String,
        /// The app.
        app: String,
        /// The caller's district, described.
        theirs: String,
    },
    /// No slot came free in time within the install's share, its
    /// district's share or the pool (see [`shares`]).
    #[error(
        "the app has no free instance within its own and its district's share of the host; try again shortly"
    )]
    Busy,
    /// The app failed.
    #[error("app `{app}` in district `{district}` failed: {failure}")]
    Failed {
        /// District.
        district: String,
        /// App.
        app: String,
        /// What happened.
        failure: Failure,
    },
    /// The host failed.
    #[error("internal error: {0}")]
    Internal(String),
}

/// An install ready to serve: its record, its pre-instantiated component and
/// its failure history.
pub(crate) struct Loaded {
    pub(crate) install: Install,
    meters: Meters,
    identity: Arc<Grant>,
    pre: Prepared,
    /// The install's queue for slots (see [`shares`]).
    queue: Arc<tokio::sync::Semaphore>,
    health: Health,
    /// When its calls last ran long (see [`shares`]).
    long_history: Arc<shares::LongHistory>,
    status: Mutex<Status>,
    /// The `updated_at` of the row this process last applied, status
    /// changes included, so `refresh` rereads a row only when it changed.
    stamp: std::sync::atomic::AtomicI64,
}

/// An install's status as this process applies it.
#[derive(Clone, Debug)]
pub(crate) struct Status {
    pub(crate) state: InstallStatus,
    pub(crate) reason: Option<String>,
    /// When a suspension after failures lets a trial call through (ms).
    pub(crate) retry_at: Option<i64>,
}

impl Status {
    fn of(install: &Install) -> Self {
        Status {
            state: install.status,
            reason: install.status_reason.clone(),
            retry_at: install.retry_at,
        }
    }
}

type InstallKey = (String, String);

/// Loaded installs by district, then app: looked up on every request with
/// borrowed names, so the lookup allocates nothing.
#[derive(Default)]
struct Installs(HashMap<String, HashMap<String, Arc<Loaded>>>);

impl Installs {
    fn get(&self, district: &str, app: &str) -> Option<&Arc<Loaded>> {
        self.0.get(district)?.get(app)
    }

    fn insert(&mut self, loaded: Arc<Loaded>) {
        self.0
            .entry(loaded.install.district.clone())
            .or_default()
            .insert(loaded.install.app.clone(), loaded);
    }

    fn remove(&mut self, district: &str, app: &str) -> Option<Arc<Loaded>> {
        let apps = self.0.get_mut(district)?;
        let removed = apps.remove(app);
        if apps.is_empty() {
            self.0.remove(district);
        }
        removed
    }

    fn all(&self) -> impl Iterator<Item = &Arc<Loaded>> {
        self.0.values().flat_map(HashMap::values)
    }
}

/// The runtime. Cheap to share behind an `Arc`.
pub struct Runtime {
    engine: Engine,
    linker: Linker<AppState>,
    cache: cache::ComponentCache,
    store: Store,
    config: RuntimeConfig,
    installs: RwLock<Installs>,
    pres: Mutex<HashMap<String, Prepared>>,
    metrics: Arc<Metrics>,
    ticker_stop: Arc<AtomicBool>,
    gates: Arc<shares::Gates>,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

fn engine_config(config: &RuntimeConfig) -> Config {
    let mut pool = PoolingAllocationConfig::new();
    let n = config.max_instances;
    pool.total_component_instances(n)
        .total_core_instances(n * 4)
        .total_memories(n * 2)
        .total_tables(n * 4)
        .total_stacks(n)
        .max_memories_per_component(2)
        .max_tables_per_component(8)
        .max_core_instances_per_component(16)
        .max_memory_size(config.limits.max.memory_bytes as usize)
        // Reset used slots with memset rather than madvise where possible:
        // madvise unmaps pages, which costs a TLB shootdown on every core
        // and page faults on the next use. PAGEMAP_SCAN (Linux 6.7+) finds
        // the pages a call actually dirtied, so only those are reset.
        // Up to 1 MiB of each memory stays resident for the next instance
        // (a typical call dirties less): 4 MiB kept about 110 MiB after a
        // burst of memory-hungry calls across the pool's slots, 1 MiB about
        // 45 MiB, at no measured cost to a fresh instance; none at all
        // made every call unmap its pages (fresh instances 24 → 41 µs).
        .pagemap_scan(Enabled::Auto)
        .linear_memory_keep_resident(1 << 20)
        .table_keep_resident(64 << 10)
        .async_stack_keep_resident(256 << 10);
    let mut cfg = Config::new();
    cfg.wasm_component_model(true)
        .epoch_interruption(true)
        .memory_init_cow(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    cfg
}

impl Runtime {
    /// Start a runtime over `store`. Installs are loaded lazily on first
    /// call, or all at once with [`Runtime::load_all`].
    pub fn new(
        store: Store,
        config: RuntimeConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Self, RuntimeError> {
        let engine = Engine::new(&engine_config(&config))
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        App::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let cache = cache::ComponentCache::new(&config.cache_dir, &engine).map_err(|source| {
            RuntimeError::Cache {
                path: config.cache_dir.display().to_string(),
                source,
            }
        })?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        {
            let engine = engine.clone();
            let stop = ticker_stop.clone();
            std::thread::Builder::new()
                .name("hutong-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| RuntimeError::Engine(format!("epoch ticker: {e}")))?;
        }
        let gates = Arc::new(shares::Gates::new(config.shares, config.max_instances));
        Ok(Runtime {
            engine,
            linker,
            cache,
            store,
            config,
            installs: RwLock::new(Installs::default()),
            pres: Mutex::new(HashMap::new()),
            metrics,
            ticker_stop,
            gates,
        })
    }

    /// The size of the instance pool.
    pub(crate) fn max_instances(&self) -> u32 {
        self.config.max_instances
    }

    /// The platform limits in force.
    pub fn limits(&self) -> &PlatformLimits {
        &self.config.limits
    }

    /// Compile and cache statistics.
    pub fn cache_stats(&self) -> &CacheStats {
        &self.cache.stats
    }

    /// Load every install from the database, compiling each distinct
    /// component at most once (or loading it precompiled). Returns how many
    /// installs are ready. An install that cannot be loaded is logged and
    /// skipped: one broken app must not keep the host from starting.
    pub async fn load_all(&self) -> Result<usize, RuntimeError> {
        let installs = self.store.list_installs(None).await?;
        let mut ready = 0;
        for install in installs {
            let (district, app) = (install.district.clone(), install.app.clone());
            match self.load(install).await {
                Ok(_) => ready += 1,
                Err(err) => {
                    tracing::error!(%district, %app, error = %err, "could not load install; it will answer 500 until fixed")
                }
            }
        }
        Ok(ready)
    }

    /// Make `install` ready to serve, replacing any earlier version of it.
    pub(crate) async fn load(&self, install: Install) -> Result<Arc<Loaded>, RuntimeError> {
        let pre = self.pre_for(&install.digest, None).await?;
        let loaded = Arc::new(Loaded {
            identity: Arc::new(Grant {
                district: install.district.clone(),
                app: install.app.clone(),
                version: install.version.clone(),
                granted: install.granted.clone(),
                scope: install.scope.clone(),
                config: install.config.to_string(),
                kv_quota: self.config.limits.kv_quota(&install.limits),
            }),
            health: Health::default(),
            long_history: Arc::default(),
            queue: self.gates.install_queue(),
            status: Mutex::new(Status::of(&install)),
            stamp: std::sync::atomic::AtomicI64::new(install.updated_at),
            meters: Meters::new(&self.metrics, &install.district, &install.app),
            install,
            pre,
        });
        let replaced = match self.installs.write() {
            Ok(mut map) => {
                let before = map
                    .get(&loaded.install.district, &loaded.install.app)
                    .map(|l| l.install.digest.clone());
                map.insert(loaded.clone());
                before
            }
            Err(_) => None,
        };
        // After an upgrade or rollback the old component may be unused.
        if let Some(old) = replaced.filter(|d| *d != loaded.install.digest)
            && self.installs_of(&old) == 0
        {
            self.forget_component(&old);
        }
        Ok(loaded)
    }

    /// Forget an install (after uninstall).
    pub(crate) fn unload(&self, district: &str, app: &str) {
        let Ok(mut map) = self.installs.write() else {
            return;
        };
        let Some(removed) = map.remove(district, app) else {
            return;
        };
        let digest = &removed.install.digest;
        if !map.all().any(|l| &l.install.digest == digest) {
            self.forget_component(digest);
        }
    }

    /// How many loaded installs run `digest`.
    pub(crate) fn installs_of(&self, digest: &str) -> usize {
        self.installs
            .read()
            .map(|m| m.all().filter(|l| l.install.digest == digest).count())
            .unwrap_or(0)
    }

    /// Forget `digest` altogether, its precompiled artifact on disk
    /// included, unless an install (here, or recorded by any process) uses
    /// it: for a component that was refused or never recorded.
    pub(crate) async fn discard_unused(&self, digest: &str) {
        if self.installs_of(digest) > 0 {
            return;
        }
        if let Ok(used) = self.store.component_in_use(digest).await
            && !used
        {
            self.forget_component(digest);
            self.cache.discard(digest);
        }
    }

    /// Drop the pre-instantiated component for `digest` (no install uses
    /// it any more). Its precompiled artifact stays on disk.
    pub(crate) fn forget_component(&self, digest: &str) {
        if let Ok(mut pres) = self.pres.lock() {
            pres.remove(digest);
        }
    }

    /// Record a status change made elsewhere (suspend, resume, or the
    /// breaker of another process), as `install`'s row now has it.
    pub(crate) fn set_status(&self, install: &Install) {
        if let Some(loaded) = self.loaded(&install.district, &install.app) {
            if let Ok(mut s) = loaded.status.lock() {
                *s = Status::of(install);
            }
            if install.status == InstallStatus::Active {
                loaded.health.reset();
            }
        }
    }

    fn loaded(&self, district: &str, app: &str) -> Option<Arc<Loaded>> {
        let map = self.installs.read().ok()?;
        map.get(district, app).cloned()
    }

    /// Give `district` a share of `calls` alive at once (none: the host's
    /// default), for calls from now on.
    pub(crate) fn set_district_calls(&self, district: &str, calls: Option<i64>) {
        let calls = calls.map(|c| u32::try_from(c.max(1)).unwrap_or(u32::MAX));
        self.gates.set_district_calls(district, calls);
    }

    /// Bring the in-memory installs in line with the database: pick up
    /// installs, upgrades, removals and status changes made by another host
    /// process or the CLI, and the districts' shares.
    pub async fn refresh(&self) -> Result<(), RuntimeError> {
        for district in self.store.list_districts().await? {
            self.set_district_calls(&district.id, district.max_calls);
        }
        // Every install's change stamp is cheap to read; only the installs
        // that changed are read (and their manifests parsed) in full.
        let stamps = self.store.install_stamps().await?;
        let mut seen = std::collections::HashSet::new();
        for (district, app, updated_at) in stamps {
            let key = (district, app);
            let loaded = self.loaded(&key.0, &key.1);
            seen.insert(key.clone());
            if loaded
                .as_ref()
                .is_some_and(|l| l.stamp.load(Ordering::Relaxed) == updated_at)
            {
                continue;
            }
            let install = match self.store.get_install(&key.0, &key.1).await {
                Ok(install) => install,
                // Uninstalled since the stamps were read.
                Err(StoreError::NotFound(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            match loaded {
                // Only suspended or resumed: keep the instance and history.
                Some(loaded) if same_but_status(&loaded.install, &install) => {
                    loaded.stamp.store(install.updated_at, Ordering::Relaxed);
                    self.set_status(&install);
                }
                _ => {
                    // One broken install must not keep the others stale.
                    if let Err(err) = self.load(install).await {
                        tracing::error!(district = %key.0, app = %key.1, error = %err, "could not load install");
                    }
                }
            }
        }
        let gone: Vec<InstallKey> = self
            .installs
            .read()
            .map(|m| {
                m.all()
                    .map(|l| (l.install.district.clone(), l.install.app.clone()))
                    .filter(|k| !seen.contains(k))
                    .collect()
            })
            .unwrap_or_default();
        for (district, app) in gone {
            self.unload(&district, &app);
        }
        Ok(())
    }

    /// The pre-instantiated component for `digest`: from memory, else from
    /// the precompiled cache, else compiled from `bytes` (or the database).
    pub(crate) async fn pre_for(
        &self,
        digest: &str,
        component: Option<&Component>,
    ) -> Result<Prepared, RuntimeError> {
        if let Some(pre) = self.pres.lock().ok().and_then(|m| m.get(digest).cloned()) {
            return Ok(pre);
        }
        let load_err = |detail: String| RuntimeError::Load {
            digest: digest.to_owned(),
            detail,
        };
        let component = match component {
            Some(c) => c.clone(),
            None => match self.cache.load(&self.engine, digest) {
                Some(c) => {
                    self.metrics.cache_loaded.inc();
                    c
                }
                None => {
                    let bytes = self.store.get_component(digest).await?;
                    let c = self
                        .cache
                        .compile(&self.engine, digest, &bytes)
                        .map_err(|e| load_err(format!("{e:#}")))?;
                    self.metrics.compiled.inc();
                    c
                }
            },
        };
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| load_err(format!("{e:#}")))?;
        let pre = Prepared::new(pre).map_err(|e| load_err(format!("{e:#}")))?;
        if let Ok(mut m) = self.pres.lock() {
            m.insert(digest.to_owned(), pre.clone());
        }
        Ok(pre)
    }

    /// Compile a component being installed and keep its artifact.
    pub(crate) fn compile(&self, digest: &str, bytes: &[u8]) -> wasmtime::Result<Component> {
        if let Some(component) = self.cache.load(&self.engine, digest) {
            self.metrics.cache_loaded.inc();
            return Ok(component);
        }
        let component = self.cache.compile(&self.engine, digest, bytes)?;
        self.metrics.compiled.inc();
        Ok(component)
    }

    /// Whether `district` has `app` installed (loading it if another process
    /// installed it): the API asks before it reads a request's body, so a
    /// request for an app that does not exist costs no memory.
    pub async fn knows(&self, district: &str, app: &str) -> Result<(), CallError> {
        self.find(district, app).await.map(|_| ())
    }

    async fn find(&self, district: &str, app: &str) -> Result<Arc<Loaded>, CallError> {
        if let Some(loaded) = self.loaded(district, app) {
            return Ok(loaded);
        }
        // Perhaps installed by another host process or the CLI since.
        match self.store.get_install(district, app).await {
            Ok(install) => self.load(install).await.map_err(|e| {
                tracing::error!(district, app, error = %e, "could not load install");
                CallError::Internal(e.to_string())
            }),
            Err(StoreError::NotFound(_)) => Err(CallError::NotInstalled {
                district: district.to_owned(),
                app: app.to_owned(),
            }),
            Err(e) => Err(CallError::Internal(e.to_string())),
        }
    }

    /// Serve one HTTP request with a fresh instance of the install.
    pub async fn handle_http(
        self: &Arc<Self>,
        district: &str,
        app: &str,
        request: AppRequest,
    ) -> Result<AppResponse, CallError> {
        let request_id = request.request_id.clone();
        // An install whose calls ran long lately runs on the long calls'
        // own threads, away from the threads that serve everyone else.
        if let Some(loaded) = self.loaded(district, app)
            && loaded.long_history.recent()
        {
            let (runtime, district, app) = (self.clone(), district.to_owned(), app.to_owned());
            let call = async move {
                runtime
                    .call(&district, &app, request_id, Subject::Request, Http(request))
                    .await
            };
            return match shares::long_threads()
                .spawn(tracing::Instrument::in_current_span(call))
                .await
            {
                Ok(answer) => answer,
                Err(failed) => Err(CallError::Internal(failed.to_string())),
            };
        }
        self.call(district, app, request_id, Subject::Request, Http(request))
            .await
    }

    /// Tell an install about a transition of a case it opened, by calling its
    /// `case-watcher` export in a fresh instance, under the same limits,
    /// deadline and failure accounting as an HTTP request.
    ///
    /// An install that does not hold the permission the watcher needs is not
    /// called ([`WatchOutcome::NotGranted`]); a missing or suspended install
    /// is an error, like a trap or a missed deadline, so that the caller
    /// tries again later.
    pub async fn tell_case_change(
        &self,
        district: &str,
        app: &str,
        change: &HistoryEntry,
        request_id: String,
    ) -> Result<WatchOutcome, CallError> {
        let subject = Subject::Case(change.case_id);
        self.call(district, app, request_id, subject, CaseWatcher(change))
            .await
    }

    /// Hand a device event to an install's `event-handler` export, in a
    /// fresh instance, under the same limits, deadline and failure
    /// accounting as an HTTP request.
    ///
    /// An install that no longer holds `receive-events` or no longer
    /// subscribes to the event's type is not called
    /// ([`WatchOutcome::NotGranted`]); a missing or suspended install is an
    /// error, so that the caller decides what becomes of the event.
    pub async fn tell_event(
        &self,
        district: &str,
        app: &str,
        event: &StoredEvent,
        request_id: String,
    ) -> Result<WatchOutcome, CallError> {
        let subject = Subject::Event {
            device: &event.device_id,
            event: event.id,
        };
        self.call(district, app, request_id, subject, EventHandler(event))
            .await
    }
}

/// An HTTP request, for the app's `http-handler`.
struct Http(AppRequest);

impl Export for Http {
    type Returned = http_handler::Response;
    type Admitted = ();
    type Output = AppResponse;

    /// An app only ever sees callers of its own district (or platform
    /// administrators); anyone else reaches public routes only, as an
    /// anonymous caller.
    fn gate(&mut self, loaded: &Loaded) -> Result<(), CallError> {
        let (district, app) = (&loaded.install.district, &loaded.install.app);
        let request = &mut self.0;
        let public = loaded.install.manifest.http.is_public(&request.path);
        match &request.caller {
            Some(caller) if !caller.in_district(district) => {
                if !public {
                    return Err(CallError::OtherDistrict {
                        district: district.clone(),
                        app: app.clone(),
                        theirs: caller
                            .district
                            .as_deref()
                            .map_or("no district".to_owned(), |d| format!("district `{d}`")),
                    });
                }
                request.caller = None;
            }
            None if !public => {
                return Err(CallError::AuthenticationRequired {
                    district: district.clone(),
                    app: app.clone(),
                });
            }
            _ => {}
        }
        Ok(())
    }

    async fn admit(
        &mut self,
        _store: &Store,
        _loaded: &Loaded,
        _request_id: &str,
    ) -> Result<Result<(), AppResponse>, CallError> {
        Ok(Ok(()))
    }

    async fn invoke(
        self,
        (): (),
        (pre, instance): (&Prepared, Instance),
        store: &mut wasmtime::Store<AppState>,
    ) -> wasmtime::Result<http_handler::Response> {
        let request = to_wit_request(self.0);
        pre.http(store, &instance)?
            .call_handle(store, &request)
            .await
    }

    fn check(response: http_handler::Response, loaded: &Loaded) -> Result<AppResponse, Failure> {
        check_response(response, loaded.install.limits.response_bytes)
    }

    fn status(response: &AppResponse) -> Option<u16> {
        Some(response.status)
    }

    const HOLD_REFUSALS: bool = true;
}

/// A case change, for the `case-watcher` of the app that opened the case.
struct CaseWatcher<'a>(&'a HistoryEntry);

impl Export for CaseWatcher<'_> {
    type Returned = Result<(), WitError>;
    type Admitted = ();
    type Output = WatchOutcome;

    async fn admit(
        &mut self,
        store: &Store,
        loaded: &Loaded,
        request_id: &str,
    ) -> Result<Result<(), WatchOutcome>, CallError> {
        if !loaded.pre.watches_cases() {
            return Ok(Err(WatchOutcome::NotWatched));
        }
        // Recorded in the access log before anything reaches the app.
        watch_admission(
            crate::cases::host::admit_watcher(store, &loaded.identity, request_id, self.0.case_id)
                .await,
        )
    }

    async fn invoke(
        self,
        (): (),
        (pre, instance): (&Prepared, Instance),
        store: &mut wasmtime::Store<AppState>,
    ) -> wasmtime::Result<Result<(), WitError>> {
        let change = crate::kernel::wit::case_types::CaseChange::from(self.0);
        pre.watcher(store, &instance)?
            .call_on_case_changed(store, &change)
            .await
    }

    fn check(answer: Result<(), WitError>, _loaded: &Loaded) -> Result<WatchOutcome, Failure> {
        Ok(watch_outcome(answer))
    }
}

/// A watcher's admission as the call sees it: a permission the app lacks
/// is its outcome (the export is not called); a failure to check or record
/// is the host's.
fn watch_admission<T>(
    checked: Result<Result<T, Permission>, StoreError>,
) -> Result<Result<T, WatchOutcome>, CallError> {
    match checked {
        Ok(Ok(admitted)) => Ok(Ok(admitted)),
        Ok(Err(permission)) => Ok(Err(WatchOutcome::NotGranted(permission))),
        Err(err) => Err(CallError::Internal(err.to_string())),
    }
}

/// A device event, for the `event-handler` of an app subscribed to it.
struct EventHandler<'a>(&'a StoredEvent);

impl Export for EventHandler<'_> {
    type Returned = Result<(), WitError>;
    type Admitted = DeviceEvent;
    type Output = WatchOutcome;

    async fn admit(
        &mut self,
        store: &Store,
        loaded: &Loaded,
        request_id: &str,
    ) -> Result<Result<DeviceEvent, WatchOutcome>, CallError> {
        // Recorded in the access log before anything reaches the app.
        watch_admission(
            crate::devices::host::admit_event(
                store,
                &loaded.identity,
                &loaded.install.manifest.events.types,
                request_id,
                self.0,
            )
            .await,
        )
    }

    async fn invoke(
        self,
        event: DeviceEvent,
        (pre, instance): (&Prepared, Instance),
        store: &mut wasmtime::Store<AppState>,
    ) -> wasmtime::Result<Result<(), WitError>> {
        pre.events(store, &instance)?
            .call_on_event(store, &event)
            .await
    }

    fn check(answer: Result<(), WitError>, _loaded: &Loaded) -> Result<WatchOutcome, Failure> {
        Ok(watch_outcome(answer))
    }
}

/// A watcher's or handler's answer: an error result asks to be told again.
fn watch_outcome(answer: Result<(), WitError>) -> WatchOutcome {
    match answer {
        Ok(()) => WatchOutcome::Handled,
        Err(error) => WatchOutcome::Refused(error.describe()),
    }
}

/// One install's metric series, resolved once at load rather than by label
/// lookup on every call.
struct Meters {
    calls: prometheus::IntCounter,
    duration: prometheus::Histogram,
}

impl Meters {
    fn new(metrics: &Metrics, district: &str, app: &str) -> Self {
        Meters {
            calls: metrics.calls.with_label_values(&[district, app]),
            duration: metrics.duration.with_label_values(&[district, app]),
        }
    }
}

/// Whether two records of one install differ only in status.
fn same_but_status(a: &Install, b: &Install) -> bool {
    a.digest == b.digest
        && a.version == b.version
        && a.granted == b.granted
        && a.limits == b.limits
        && a.config == b.config
        && a.scope == b.scope
        && a.installed_at == b.installed_at
}

fn to_wit_request(r: AppRequest) -> http_handler::Request {
    http_handler::Request {
        method: r.method,
        path: r.path,
        query: r.query,
        headers: r.headers,
        body: r.body,
        caller: r.caller.map(Caller::into_wit),
        request_id: r.request_id,
    }
}

/// An app's answer as the host will pass it on: a final status (an
/// informational 1xx, `101 Switching Protocols` included, would hand the
/// connection to the app), and a body plus headers within the install's
/// response limit (each header counted as `name: value` and its line end).
fn check_response(r: http_handler::Response, limit: u64) -> Result<AppResponse, Failure> {
    if !(200..=599).contains(&r.status) {
        return Err(Failure::InvalidStatus(r.status));
    }
    let size = r.body.len()
        + r.headers
            .iter()
            .map(|(name, value)| name.len() + value.len() + 4)
            .sum::<usize>();
    if size as u64 > limit {
        return Err(Failure::ResponseTooLarge { size, limit });
    }
    Ok(AppResponse {
        status: r.status,
        headers: r.headers,
        body: r.body,
    })
}
