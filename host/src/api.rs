//! The HTTP surface: the JSON API under `/api/v1`, apps under
//! `/d/{district}/apps/{app}/…`, `/metrics` and `/healthz`.
//!
//! Each resource module exposes `router()`; [`app`] assembles them over one
//! [`ApiState`]. Tests drive the result with `tower::ServiceExt::oneshot`.

mod apps;
mod districts;
mod error;
mod installs;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::get;

pub use error::ApiError;

use crate::metrics::Metrics;
use crate::platform::Platform;

/// Largest install upload (component plus manifest, base64 included).
pub const MAX_INSTALL_BODY: usize = 64 << 20;
/// Largest request body passed to an app.
pub const MAX_APP_REQUEST_BODY: usize = 1 << 20;

/// What every handler shares.
#[derive(Clone)]
pub struct ApiState {
    /// The platform operations.
    pub platform: Platform,
    /// The metrics registry served at `/metrics`.
    pub metrics: Arc<Metrics>,
}

/// The whole HTTP application.
pub fn app(state: ApiState) -> Router {
    Router::new()
        .nest(
            "/api/v1",
            Router::new()
                .merge(districts::router())
                .merge(installs::router()),
        )
        .merge(apps::router())
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async {
            ApiError::NotFound("no such endpoint; the API lives under /api/v1 and apps under /d/{district}/apps/{app}/".into())
        })
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

async fn metrics(State(state): State<ApiState>) -> String {
    state.metrics.render()
}
