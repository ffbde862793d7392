//! `/d/{district}/apps/{app}/…`: requests handed to apps, each in a fresh
//! instance.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

use super::{ApiError, ApiState, MAX_APP_REQUEST_BODY};
use crate::runtime::AppRequest;

pub(super) fn router() -> Router<ApiState> {
    Router::new()
        .route("/d/{district}/apps/{app}", any(root))
        .route("/d/{district}/apps/{app}/", any(root))
        .route("/d/{district}/apps/{app}/{*path}", any(nested))
}

/// Headers an app never sees: credentials stay with the host.
const HIDDEN_REQUEST_HEADERS: &[&str] = &["authorization", "cookie", "proxy-authorization"];

/// Hop-by-hop headers an app may not set on its response.
const DROPPED_RESPONSE_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

async fn root(
    State(state): State<ApiState>,
    Path((district, app)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    serve(state, district, app, request).await
}

async fn nested(
    State(state): State<ApiState>,
    Path((district, app, _)): Path<(String, String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    serve(state, district, app, request).await
}

/// The path below the app's mount, exactly as sent (still percent-encoded):
/// the app decides how to decode it.
fn app_path(uri: &axum::http::Uri, district: &str, app: &str) -> String {
    let mount = format!("/d/{district}/apps/{app}");
    match uri.path().strip_prefix(&mount) {
        Some(rest) if rest.starts_with('/') => rest.to_owned(),
        _ => "/".to_owned(),
    }
}

fn request_id(headers: &axum::http::HeaderMap) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    if let Some(id) = headers.get("x-request-id").and_then(|v| v.to_str().ok())
        && !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
    {
        return id.to_owned();
    }
    format!(
        "{:x}-{:x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

async fn serve(
    state: ApiState,
    district: String,
    app: String,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let path = app_path(&parts.uri, &district, &app);
    let body = to_bytes(body, MAX_APP_REQUEST_BODY).await.map_err(|_| {
        ApiError::PayloadTooLarge(format!(
            "request body too large: apps accept at most {MAX_APP_REQUEST_BODY} bytes"
        ))
    })?;
    let headers = parts
        .headers
        .iter()
        .filter(|(name, _)| !HIDDEN_REQUEST_HEADERS.contains(&name.as_str()))
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let app_request = AppRequest {
        method: parts.method.as_str().to_owned(),
        path,
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers,
        body: body.to_vec(),
        caller: None,
        request_id: request_id(&parts.headers),
    };
    let response = state
        .platform
        .runtime()
        .handle_http(&district, &app, app_request)
        .await?;
    let mut out = Response::new(Body::from(response.body));
    *out.status_mut() =
        StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in response.headers {
        let lower = name.to_ascii_lowercase();
        if DROPPED_RESPONSE_HEADERS.contains(&lower.as_str()) {
            continue;
        }
        match (
            HeaderName::from_bytes(lower.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            (Ok(n), Ok(v)) => {
                out.headers_mut().append(n, v);
            }
            _ => {
                tracing::debug!(district, app, header = %name, "dropped malformed response header")
            }
        }
    }
    Ok(out.into_response())
}
