//! Opening a platform from its settings and serving it over HTTP.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::api::{self, ApiState};
use crate::metrics::Metrics;
use crate::platform::Platform;
use crate::runtime::{Runtime, RuntimeConfig, RuntimeError};
use crate::store::Store;

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

/// Serve the API and apps on `listener` until `shutdown` resolves; requests
/// in flight then finish before this returns.
pub async fn serve(
    opened: &Opened,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let store = opened.platform.store().clone();
    let sealer = tokio::spawn(async move {
        let mut tick = tokio::time::interval(SEAL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(err) = store.seal_access_log().await {
                tracing::warn!(error = %err, "could not seal the access log");
            }
        }
    });
    let runtime = opened.platform.runtime().clone();
    let refresher = tokio::spawn(async move {
        let mut tick = tokio::time::interval(REFRESH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(err) = runtime.refresh().await {
                tracing::warn!(error = %err, "could not refresh installs");
            }
        }
    });
    let platform = opened.platform.clone();
    let sweeper = tokio::spawn(async move {
        let mut tick = tokio::time::interval(CASE_SWEEP_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(err) = platform.sweep_case_deadlines().await {
                tracing::warn!(error = %err, "could not sweep case deadlines");
            }
        }
    });
    let platform = opened.platform.clone();
    let notifier = tokio::spawn(async move {
        let mut tick = tokio::time::interval(CASE_NOTICE_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(err) = platform.deliver_case_notices().await {
                tracing::warn!(error = %err, "could not deliver case notices");
            }
        }
    });
    let platform = opened.platform.clone();
    let ticker = tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(err) = platform.run_due_ticks().await {
                tracing::warn!(error = %err, "could not run due schedule ticks");
            }
        }
    });
    let platform = opened.platform.clone();
    let deliverer = tokio::spawn(async move {
        let mut tick = tokio::time::interval(NOTIFY_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(err) = platform.deliver_notifications().await {
                tracing::warn!(error = %err, "could not deliver notifications");
            }
        }
    });
    let platform = opened.platform.clone();
    let device_sweeper = tokio::spawn(async move {
        let mut tick = tokio::time::interval(DEVICE_SWEEP_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(err) = platform.sweep_offline_devices().await {
                tracing::warn!(error = %err, "could not report offline devices");
            }
        }
    });
    let platform = opened.platform.clone();
    let event_courier = tokio::spawn(async move {
        loop {
            match platform.deliver_events().await {
                // More may be due at once: a busy district's events should
                // not wait for the next poll.
                Ok(report)
                    if report.delivered + report.dropped + report.retrying + report.dead > 0 =>
                {
                    continue;
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "could not deliver device events"),
            }
            tokio::time::sleep(EVENT_POLL_INTERVAL).await;
        }
    });
    let app = api::app(ApiState {
        platform: opened.platform.clone(),
        metrics: opened.metrics.clone(),
    });
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    refresher.abort();
    sealer.abort();
    sweeper.abort();
    ticker.abort();
    notifier.abort();
    deliverer.abort();
    event_courier.abort();
    device_sweeper.abort();
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
