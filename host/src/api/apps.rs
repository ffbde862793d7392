//! `/d/{district}/apps/{app}/…`: requests handed to apps, each in a fresh
//! instance.
//!
//! An app's answer is untrusted. The host passes on its status, body and
//! headers, except what would act beyond the app's own response
//! ([`response_header_refused`]): connection headers, cookies (an app never
//! sets a cookie on the host's origin; apps keep state in their storage),
//! headers that act on the whole origin (`clear-site-data`,
//! `strict-transport-security`, `alt-svc`, `service-worker-allowed`, …),
//! login prompts (`www-authenticate`), `refresh`, and a `location` that
//! leads outside the app's own path. Each dropped header is named in the
//! log, so the app's developer can see why it did not arrive.
//!
//! Browsers get apps on origins of their own ([`app_origin`]): here, on
//! the console's origin, a browser's page load is sent there, and what
//! is answered here runs in a sandbox.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::{Body, Bytes, HttpBody, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

use super::app_origin;
use super::auth::MaybeAuthenticated;
use crate::accounts::Caller;
use crate::api::error::ApiError;
use crate::api::shared::{ApiState, MAX_APP_REQUEST_BODY};
use crate::runtime::AppRequest;

pub(crate) fn router() -> Router<ApiState> {
    Router::new()
        .route("/d/{district}/apps/{app}", any(serve_app))
        .route("/d/{district}/apps/{app}/", any(serve_app))
        .route("/d/{district}/apps/{app}/{*path}", any(serve_app))
}

/// How long the host waits for a request's body to arrive whole.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Headers an app never sees: credentials stay with the host.
const HIDDEN_REQUEST_HEADERS: &[&str] = &["authorization", "cookie", "proxy-authorization"];

/// Response headers an app may not set: those of the connection (the host
/// frames the response), and those that act on the host's whole origin or
/// on the person's browser beyond this one response.
const DROPPED_RESPONSE_HEADERS: &[&str] = &[
    // the connection
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    // the origin and the browser
    "set-cookie",
    "set-cookie2",
    "clear-site-data",
    "strict-transport-security",
    "public-key-pins",
    "alt-svc",
    "service-worker-allowed",
    "origin-agent-cluster",
    "www-authenticate",
    "refresh",
];

/// Most dropped header names one log line lists.
const MAX_DROPPED_NAMED: usize = 8;

/// Why a response header of the app at `mount` (`/d/{district}/apps/{app}`),
/// answering `request_path`, is not passed on; `None` passes it.
fn response_header_refused(
    name: &str,
    value: &str,
    mount: &str,
    request_path: &str,
) -> Option<&'static str> {
    if DROPPED_RESPONSE_HEADERS.contains(&name) {
        return Some("not an app's to set");
    }
    if name == "location" && !location_within(value, mount, request_path) {
        return Some("leads outside the app");
    }
    None
}

/// Whether a `location` stays within the app's own path: an absolute path
/// under `mount`, or a relative reference that resolves under it from
/// `request_path`. A URL with a scheme or a host (`https://…`, `//…`), or a
/// backslash (which browsers read as a slash), does not.
pub(crate) fn location_within(value: &str, mount: &str, request_path: &str) -> bool {
    if value.contains('\\') || value.starts_with("//") {
        return false;
    }
    let path = value.split(['?', '#']).next().unwrap_or_default();
    if path
        .split('/')
        .next()
        .is_some_and(|first| first.contains(':'))
    {
        // `https:…`, `javascript:…`: a scheme (a relative reference's first
        // segment has no colon).
        return false;
    }
    let mut segments: Vec<&str> = if path.starts_with('/') {
        Vec::new()
    } else {
        // Relative to the request's directory.
        let base = request_path.rsplit_once('/').map_or("", |(dir, _)| dir);
        base.split('/').filter(|s| !s.is_empty()).collect()
    };
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        match segment.to_ascii_lowercase().replace("%2e", ".").as_str() {
            "." => {}
            ".." => {
                segments.pop();
            }
            _ => segments.push(segment),
        }
    }
    let resolved = format!("/{}", segments.join("/"));
    resolved == mount || resolved.starts_with(&format!("{mount}/"))
}

async fn serve_app(
    State(state): State<ApiState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    request: Request,
) -> Result<Response, ApiError> {
    let Some((district, app, path)) = split_app_path(request.uri().path()) else {
        return Err(ApiError::NotFound("no such app path".into()));
    };
    if has_dot_segment(path) {
        // Refused rather than normalised: the public-route check and the app
        // must see the same path.
        return Err(ApiError::BadRequest(
            "paths may not contain `.` or `..` segments or encoded slashes".into(),
        ));
    }
    let (district, app, path) = (district.to_owned(), app.to_owned(), path.to_owned());
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    if let Some(redirect) = app_origin::redirect_to_app_origin(
        &state,
        &district,
        &app,
        request.method(),
        request.headers(),
        &path_and_query,
    )
    .await?
    {
        return Ok(redirect);
    }
    Ok(app_origin::sandboxed(
        serve(state, district, app, path, caller, request).await?,
    ))
}

/// Whether a path has a `.` or `..` segment (also percent-encoded) or an
/// encoded slash, any of which could make an app see another route than the
/// one the host checked.
pub(crate) fn has_dot_segment(path: &str) -> bool {
    // Most paths have neither a dot nor an escape: nothing to look at.
    if !path.contains(['.', '%']) {
        return false;
    }
    let lower = path.to_ascii_lowercase();
    lower.contains("%2f")
        || lower.contains("%5c")
        || lower.split('/').any(|segment| {
            let decoded = segment.replace("%2e", ".");
            decoded == "." || decoded == ".."
        })
}

/// `/d/{district}/apps/{app}/rest` → (district, app, `/rest`). The rest is
/// kept exactly as sent (still percent-encoded): the app decides how to
/// decode it.
fn split_app_path(path: &str) -> Option<(&str, &str, &str)> {
    let rest = path.strip_prefix("/d/")?;
    let (district, rest) = rest.split_once('/')?;
    let rest = rest.strip_prefix("apps/")?;
    let (app, below) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    Some((district, app, below))
}

fn request_id(headers: &axum::http::HeaderMap) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    // Read once: asking the kernel for it costs a system call each time.
    static PROCESS: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
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
        PROCESS.get_or_init(std::process::id),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub(crate) async fn serve(
    state: ApiState,
    district: String,
    app: String,
    path: String,
    caller: Option<Caller>,
    request: Request,
) -> Result<Response, ApiError> {
    // Only for an app that exists is the body worth reading, and only
    // for so long: a stalled upload must not hold the host's memory.
    state.platform.runtime().knows(&district, &app).await?;
    let (parts, body) = request.into_parts();
    // A request without a body (most are) arms no timer.
    let read = async {
        if body.is_end_stream() {
            return Ok(Ok(Bytes::new()));
        }
        tokio::time::timeout(BODY_TIMEOUT, to_bytes(body, MAX_APP_REQUEST_BODY)).await
    };
    let body = match read.await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => {
            return Err(ApiError::PayloadTooLarge(format!(
                "request body too large: apps accept at most {MAX_APP_REQUEST_BODY} bytes"
            )));
        }
        Err(_) => {
            return Err(ApiError::RequestTimeout(format!(
                "the request body did not arrive within {} s; send it whole and at once",
                BODY_TIMEOUT.as_secs()
            )));
        }
    };
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
    let mount = format!("/d/{district}/apps/{app}");
    let request_path = format!("{mount}{path}");
    let app_request = AppRequest {
        method: parts.method.as_str().to_owned(),
        path,
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers,
        body: body.to_vec(),
        caller,
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
    let mut dropped = Vec::new();
    for (name, value) in response.headers {
        let lower = name.to_ascii_lowercase();
        if let Some(why) = response_header_refused(&lower, &value, &mount, &request_path) {
            if dropped.len() < MAX_DROPPED_NAMED {
                dropped.push(format!("{lower} ({why})"));
            }
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
    if !dropped.is_empty() {
        tracing::warn!(
            district,
            app,
            dropped = %dropped.join(", "),
            "response headers the app may not set were dropped"
        );
    }
    Ok(out.into_response())
}

#[cfg(test)]
mod tests {
    use super::{location_within, response_header_refused, split_app_path};

    #[test]
    fn a_location_must_stay_within_the_app() {
        let mount = "/d/east/apps/care";
        let at = "/d/east/apps/care/visits/new";
        for inside in [
            "/d/east/apps/care",
            "/d/east/apps/care/",
            "/d/east/apps/care/visits/7?tab=1#top",
            "7",
            "./7",
            "../done",
            "?page=2",
        ] {
            assert!(location_within(inside, mount, at), "{inside}");
        }
        for outside in [
            "/d/east/apps/carex",
            "/d/east/apps/other/",
            "/api/v1/districts/east/installs",
            "../../../../api/v1/accounts",
            "%2e%2e/%2e%2e/%2e%2e/other",
            "https://evil.example/",
            "//evil.example/",
            "javascript:alert(1)",
            "/\\evil.example",
            "\\\\evil.example",
        ] {
            assert!(!location_within(outside, mount, at), "{outside}");
        }
    }

    #[test]
    fn cookies_and_origin_wide_headers_are_refused() {
        let (mount, at) = ("/d/east/apps/care", "/d/east/apps/care/");
        for name in [
            "set-cookie",
            "clear-site-data",
            "strict-transport-security",
            "alt-svc",
        ] {
            assert!(
                response_header_refused(name, "x", mount, at).is_some(),
                "{name}"
            );
        }
        for name in ["content-type", "cache-control", "x-app-version", "etag"] {
            assert!(
                response_header_refused(name, "x", mount, at).is_none(),
                "{name}"
            );
        }
    }

    #[test]
    fn splits_mount_and_keeps_the_rest_encoded() {
        assert_eq!(
            split_app_path("/d/east/apps/hello/greet/a%20b"),
            Some(("east", "hello", "/greet/a%20b"))
        );
        assert_eq!(
            split_app_path("/d/east/apps/hello"),
            Some(("east", "hello", "/"))
        );
        assert_eq!(
            split_app_path("/d/east/apps/hello/"),
            Some(("east", "hello", "/"))
        );
        assert_eq!(split_app_path("/d/east/other/hello"), None);
    }

    #[test]
    fn dot_segments_and_encoded_slashes_are_spotted() {
        use super::has_dot_segment;
        for bad in [
            "/greet/../whoami",
            "/./x",
            "/a/%2e%2e/b",
            "/a%2Fb",
            "/a/%2E/b",
        ] {
            assert!(has_dot_segment(bad), "{bad}");
        }
        for ok in ["/greet/ana", "/file.txt", "/a..b", "/"] {
            assert!(!has_dot_segment(ok), "{ok}");
        }
    }
}
