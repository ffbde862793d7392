//! The HTTP surface: the JSON API under `/api/v1`, apps under
//! `/d/{district}/apps/{app}/…`, Open311 GeoReport v2 under
//! `/d/{district}/open311/v2/…`, `/metrics` and `/healthz`.
//!
//! Each resource module exposes `router()`; [`app`] assembles them over one
//! [`ApiState`]. Tests drive the result with `tower::ServiceExt::oneshot`.

mod accounts;
mod apps;
pub mod auth;
mod cases;
mod data;
mod devices;
mod district;
mod districts;
mod error;
mod installs;
mod notifications;
mod open311;
mod registry;
mod residents;

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
                .merge(accounts::router())
                .merge(cases::router())
                .merge(data::router())
                .merge(districts::router())
                .merge(installs::router())
                .merge(notifications::router())
                .merge(registry::router())
                .merge(residents::router()),
        )
        .merge(devices::router())
        .merge(apps::router())
        .merge(open311::router())
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async {
            ApiError::NotFound("no such endpoint; the API lives under /api/v1, apps under /d/{district}/apps/{app}/ and Open311 under /d/{district}/open311/v2/".into())
        })
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// A JSON body, or a 400 that shows what was expected.
pub(crate) fn json_body<T>(
    body: Result<axum::Json<T>, axum::extract::rejection::JsonRejection>,
    example: &str,
) -> Result<T, ApiError> {
    match body {
        Ok(axum::Json(value)) => Ok(value),
        Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => Err(
            ApiError::PayloadTooLarge("the request body is too large".into()),
        ),
        Err(e) => Err(ApiError::BadRequest(format!(
            "expected a JSON object like {example}: {}",
            e.body_text()
        ))),
    }
}

/// Permission names from a request body, parsed; an unknown name is the
/// platform's refusal (which lists the permissions there are).
pub(crate) fn permissions(
    names: &[String],
) -> Result<std::collections::BTreeSet<crate::manifest::Permission>, ApiError> {
    Ok(names
        .iter()
        .map(|g| g.parse::<crate::manifest::Permission>())
        .collect::<Result<_, _>>()
        .map_err(crate::platform::PlatformError::from)?)
}

/// A JSON body that may be left out (empty means all defaults), or a 400
/// that shows what was expected.
pub(crate) fn optional_json<T: serde::de::DeserializeOwned + Default>(
    body: &[u8],
    example: &str,
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("expected a JSON object like {example}: {e}")))
}

async fn metrics(State(state): State<ApiState>) -> String {
    state.metrics.render()
}
