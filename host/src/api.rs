//! The HTTP surface: the JSON API under `/api/v1`, apps under
//! `/d/{district}/apps/{app}/…`, Open311 GeoReport v2 under
//! `/d/{district}/open311/v2/…`, the console for people in a browser at
//! `/` (see [`console`](crate::console)), `/metrics` and `/healthz`.
//! Browsers get each app on an origin of its own ([`app_origin`]): the
//! first layer hands a request for such an origin to its app.
//!
//! Each resource module exposes `router()`; [`app`] assembles them over one
//! [`ApiState`]. Tests drive the result with `tower::ServiceExt::oneshot`.

pub mod app_origin;
pub(crate) mod apps;
pub mod auth;
pub(crate) mod district;
pub(crate) mod districts;
pub(crate) mod error;
pub(crate) mod shared;

use axum::Router;
use axum::extract::State;
use axum::routing::get;

pub use error::ApiError;
pub use shared::{ApiState, MAX_APP_REQUEST_BODY, MAX_INSTALL_BODY};

/// The whole HTTP application.
pub fn app(state: ApiState) -> Router {
    Router::new()
        .nest(
            "/api/v1",
            Router::new()
                .merge(crate::accounts::api::router())
                .merge(crate::cases::api::router())
                .merge(crate::community::api::router())
                .merge(districts::router())
                .merge(crate::installs::api::router())
                .merge(crate::notify::api::router())
                .merge(crate::installs::registry_api::router())
                .merge(crate::community::residents_api::router()),
        )
        .merge(crate::devices::api::router())
        .merge(apps::router())
        .merge(crate::cases::open311::router())
        .merge(crate::console::router())
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async {
            ApiError::NotFound("no such endpoint; the API lives under /api/v1, apps under /d/{district}/apps/{app}/ and Open311 under /d/{district}/open311/v2/".into())
        })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            app_origin::by_host,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

async fn metrics(State(state): State<ApiState>) -> String {
    state.metrics.render()
}
