//! Opening a platform from its settings, and serving it: the HTTP
//! application on a socket, beside the background jobs of a serving host
//! (sealing the access log, refreshing installs, the case deadline sweep,
//! delivering case notices, notifications and device events, schedule
//! ticks, the offline-device sweep).
//!
//! The jobs are one table, `JOBS`, each with its timing (every period, or
//! again at once while it finds work), run by one loop that logs a job's
//! errors and keeps going.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::api::app_origin::AppsDomain;
use crate::api::{self, ApiState};
use crate::error::RuntimeError;
use crate::kernel::metrics::Metrics;
use crate::kernel::store::Store;
use crate::platform::Platform;
use crate::runtime::{Runtime, RuntimeConfig};

/// Where the host keeps its state.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The data directory: the SQLite database (unless `database_url` is
    /// given), the precompiled-component cache and verified registry
    /// packages (`packages/`).
    pub data_dir: PathBuf,
    /// A `postgres://` (or `sqlite://`) URL; SQLite in `data_dir` when none.
    pub database_url: Option<String>,
}

/// An opened platform and its metrics.
pub struct Opened {
    /// The platform.
    pub platform: Platform,
    /// Its metrics.
    pub metrics: Arc<Metrics>,
}

/// Open the database, run migrations and start the runtime.
pub async fn open(
    settings: &Settings,
    config: Option<RuntimeConfig>,
) -> Result<Opened, RuntimeError> {
    let store = match &settings.database_url {
        Some(url) => Store::open(url).await?,
        None => Store::open_data_dir(&settings.data_dir).await?,
    };
    let config = config.unwrap_or_else(|| RuntimeConfig::new(settings.data_dir.join("compiled")));
    let metrics = Arc::new(Metrics::new());
    let runtime = Arc::new(Runtime::new(store.clone(), config, metrics.clone())?);
    Ok(Opened {
        platform: Platform::new(store, runtime)
            .with_package_cache(settings.data_dir.join("packages")),
        metrics,
    })
}

/// How often a serving host re-reads installs, to see changes made by other
/// host processes or the CLI.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(2);

/// How often a serving host seals new access-log entries into their
/// districts' hash chains.
pub const SEAL_INTERVAL: Duration = Duration::from_secs(1);

/// How often a serving host looks for cases whose time limit ran out.
pub const CASE_SWEEP_INTERVAL: Duration = Duration::from_secs(15);

/// How often a serving host tells apps about changes to the cases they
/// opened (and retries what failed before).
pub const CASE_NOTICE_INTERVAL: Duration = Duration::from_secs(1);

/// How often a serving host looks for schedule periods that are due.
pub const TICK_INTERVAL: Duration = Duration::from_secs(1);

/// How often a serving host delivers due notifications (and retries what
/// failed before).
pub const NOTIFY_INTERVAL: Duration = Duration::from_secs(1);

/// How often a serving host looks for devices that went silent past their
/// heartbeat interval, to report them offline.
pub const DEVICE_SWEEP_INTERVAL: Duration = Duration::from_secs(15);

/// How long a serving host waits, when no device event was due, before it
/// looks again: events such as smoke alarms should reach apps within a
/// fraction of a second.
pub const EVENT_POLL_INTERVAL: Duration = Duration::from_millis(200);

/// When a background job runs.
#[derive(Clone, Copy, Debug)]
enum Timing {
    /// Once per period, measured from one start to the next; a run that
    /// takes longer delays the next rather than piling up.
    Every(Duration),
    /// Again at once while it finds work, else after this pause.
    Poll(Duration),
}

/// Whether a job's run found work; a [`Timing::Poll`] job runs again at
/// once when it did.
type Found = bool;

/// One run of a background job.
type Run<'a> = Pin<
    Box<dyn Future<Output = Result<Found, Box<dyn std::error::Error + Send + Sync>>> + Send + 'a>,
>;

/// What a serving host does in the background, beside answering requests.
struct Job {
    /// What the job does, for its log line: "could not {what}".
    what: &'static str,
    /// When it runs.
    timing: Timing,
    /// One run.
    run: for<'a> fn(&'a Platform) -> Run<'a>,
}

/// Every background job of a serving host, in the order they start.
const JOBS: &[Job] = &[
    Job {
        what: "seal the access log",
        timing: Timing::Every(SEAL_INTERVAL),
        run: |p| {
            Box::pin(async move {
                p.store().seal_access_log().await?;
                Ok(false)
            })
        },
    },
    Job {
        what: "refresh installs",
        timing: Timing::Every(REFRESH_INTERVAL),
        run: |p| {
            Box::pin(async move {
                p.runtime().refresh().await?;
                Ok(false)
            })
        },
    },
    Job {
        what: "sweep case deadlines",
        timing: Timing::Every(CASE_SWEEP_INTERVAL),
        run: |p| {
            Box::pin(async move {
                p.cases().sweep_case_deadlines().await?;
                Ok(false)
            })
        },
    },
    Job {
        what: "deliver case notices",
        timing: Timing::Every(CASE_NOTICE_INTERVAL),
        run: |p| {
            Box::pin(async move {
                p.deliver_case_notices().await?;
                Ok(false)
            })
        },
    },
    Job {
        what: "run due schedule ticks",
        timing: Timing::Every(TICK_INTERVAL),
        run: |p| {
            Box::pin(async move {
                p.run_due_ticks().await?;
                Ok(false)
            })
        },
    },
    Job {
        what: "deliver notifications",
        timing: Timing::Every(NOTIFY_INTERVAL),
        run: |p| {
            Box::pin(async move {
                p.deliver_notifications().await?;
                Ok(false)
            })
        },
    },
    Job {
        what: "report offline devices",
        timing: Timing::Every(DEVICE_SWEEP_INTERVAL),
        run: |p| {
            Box::pin(async move {
                p.sweep_offline_devices().await?;
                Ok(false)
            })
        },
    },
    Job {
        what: "deliver device events",
        // Events such as smoke alarms should reach apps within a fraction
        // of a second, and a busy district's should not wait for the next
        // poll.
        timing: Timing::Poll(EVENT_POLL_INTERVAL),
        run: |p| {
            Box::pin(async move {
                let report = p.deliver_events().await?;
                Ok(report.delivered + report.dropped + report.retrying + report.dead > 0)
            })
        },
    },
];

/// Run `job` until the task is aborted, logging (and surviving) its errors.
async fn run_job(platform: Platform, job: &'static Job) {
    let warn = |err: Box<dyn std::error::Error + Send + Sync>| {
        tracing::warn!(error = %err, "could not {}", job.what);
    };
    match job.timing {
        Timing::Every(period) => {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(err) = (job.run)(&platform).await {
                    warn(err);
                }
            }
        }
        Timing::Poll(pause) => loop {
            match (job.run)(&platform).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(err) => warn(err),
            }
            tokio::time::sleep(pause).await;
        },
    }
}

/// Serve the API and apps on `listener` until `shutdown` resolves; requests
/// in flight then finish before this returns.
pub async fn serve(
    opened: &Opened,
    listener: TcpListener,
    apps_domain: Option<AppsDomain>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let jobs: Vec<_> = JOBS
        .iter()
        .map(|job| tokio::spawn(run_job(opened.platform.clone(), job)))
        .collect();
    let app = api::app(
        ApiState::new(opened.platform.clone(), opened.metrics.clone())
            .with_apps_domain(apps_domain),
    );
    // The peer's address counts failed sign-ins (`console::session`).
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    for job in jobs {
        job.abort();
    }
    // Seal what the last requests logged before going away.
    if let Err(err) = opened.platform.store().seal_access_log().await {
        tracing::warn!(error = %err, "could not seal the access log at shutdown");
    }
    result
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
