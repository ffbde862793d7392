//! Apps in the browser, each on an origin of its own.
//!
//! An app's pages and scripts are third-party content. Served on the
//! console's origin they could read the console with the signed-in
//! person's cookie, post its forms, and call the API and the other apps.
//! So the host serves every app to browsers on an origin of its own under
//! the deployment's apps domain ([`AppsDomain`], `apps.localhost` by
//! default): `care` of district `east` at `http://care.east.apps.localhost:8080`,
//! under the same paths as on the console's origin
//! (`/d/east/apps/care/…`), so that the links an app makes keep working.
//!
//! - The console's session cookie is host-only: the browser never sends it
//!   to an app's origin, and an app's scripts cannot read it or what the
//!   console answers (no CORS headers are ever sent).
//! - A browser loading a page of `/d/{district}/apps/{app}/…` on the
//!   console's origin (`Sec-Fetch-Mode: navigate`) is redirected to the
//!   app's origin; API clients are answered where they asked. A signed-in person goes through
//!   `/_hutong/enter` with a one-time pass
//!   ([`SignIn::pass_to_app`](crate::accounts::sign_in::SignIn::pass_to_app)),
//!   which gives the app's origin a cookie of its own (`hutong_app`,
//!   `HttpOnly`, `SameSite=Lax`). That cookie names the person to this app
//!   only, and only while the console session is open: signing out, a
//!   password change or a disabled account ends it too.
//! - The app sees the person as the same [`Caller`] a bearer token of
//!   theirs would give; it never sees a cookie or an `Authorization`.
//! - A request that changes something (any method but GET, HEAD and
//!   OPTIONS) made with the app cookie must carry the app's own origin in
//!   `Origin`: another app's page (a sibling origin, so "same-site") cannot
//!   post to this one as the person.
//! - An app's origin serves that app only: any other path there is a 404.
//! - On the console's origin, app answers (to bearer clients and to
//!   requests that are not plain page loads) carry
//!   `Content-Security-Policy: sandbox`, so that a browser never runs an
//!   app's scripts with the console's origin.
//!
//! A request carrying a cookie of the host's twice (a sibling origin can
//! set one for a parent domain) is taken as carrying none, rather than
//! letting the browser's order pick one.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, HOST, LOCATION, REFERRER_POLICY, SET_COOKIE,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::accounts::Caller;
use crate::api::apps::{has_dot_segment, location_within, serve};
use crate::api::auth;
use crate::api::error::ApiError;
use crate::api::shared::ApiState;
use crate::console::session::{self, SESSION_COOKIE};
use crate::kernel::ids::is_slug;

/// The cookie that names a person to one app, on that app's origin.
pub const APP_COOKIE: &str = "hutong_app";

/// Where on an app's origin the browser enters with its pass.
pub const ENTER_PATH: &str = "/_hutong/enter";

/// The host name under which every app gets an origin of its own:
/// `{app}.{district}.{domain}`. Its names must reach this host (a wildcard
/// DNS entry and, over https, a wildcard certificate); names under
/// `localhost` reach the machine itself in browsers without either.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppsDomain(std::sync::Arc<str>);

impl AppsDomain {
    /// The default, which works on the machine the host runs on.
    pub const LOCAL: &'static str = "apps.localhost";

    /// `domain` as an apps domain: a host name of dot-separated labels of
    /// `a-z`, `0-9` and `-` (no port, no scheme).
    pub fn parse(domain: &str) -> Result<Self, String> {
        let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        if domain.len() > 120 || !domain.split('.').all(label_ok) {
            return Err(format!(
                "`{domain}` is not a host name for apps: give dot-separated labels of a-z, 0-9 \
                 and `-`, without a scheme or a port, e.g. `apps.hutong.example.org`"
            ));
        }
        Ok(AppsDomain(domain.into()))
    }

    /// The host name (without port) of `app` of `district`.
    pub fn app_host(&self, district: &str, app: &str) -> String {
        format!("{app}.{district}.{}", self.0)
    }

    /// The (district, app) whose origin `host` (a `Host` header, port
    /// included or not) is.
    pub fn app_of(&self, host: &str) -> Option<(String, String)> {
        let name = strip_port(host).to_ascii_lowercase();
        let labels = name.strip_suffix(&*self.0)?.strip_suffix('.')?;
        let (app, district) = labels.split_once('.')?;
        (is_slug(app) && is_slug(district)).then(|| (district.to_owned(), app.to_owned()))
    }
}

impl std::fmt::Display for AppsDomain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `host` without its `:port`.
fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// The `:port` of `host`, or nothing.
fn port_of(host: &str) -> &str {
    match host.rfind(':') {
        Some(i) if host[i + 1..].bytes().all(|b| b.is_ascii_digit()) => &host[i..],
        _ => "",
    }
}

fn request_host(headers: &HeaderMap) -> Option<&str> {
    headers.get(HOST).and_then(|v| v.to_str().ok())
}

/// Whether the browser reached the host over https: a TLS-terminating
/// proxy says so in `X-Forwarded-Proto`, a form in its `Origin`.
fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
        || session::over_https(headers)
}

/// The first layer of the HTTP application: a request to an app's origin is
/// that app's, whatever its path; every other request goes on to the
/// console, the API and the rest.
pub(crate) async fn by_host(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Response {
    let app_of = state
        .apps_domain
        .as_ref()
        .zip(request_host(request.headers()))
        .and_then(|(domain, host)| domain.app_of(host));
    match app_of {
        Some((district, app)) => match on_app_origin(state, district, app, request).await {
            Ok(response) => response,
            Err(err) => err.into_response(),
        },
        None => next.run(request).await,
    }
}

/// A request on the origin of `app` of `district`.
async fn on_app_origin(
    state: ApiState,
    district: String,
    app: String,
    request: Request,
) -> Result<Response, ApiError> {
    let path = request.uri().path().to_owned();
    if path == ENTER_PATH {
        let query = request.uri().query().unwrap_or_default().to_owned();
        let https = over_https(request.headers());
        return enter(&state, &district, &app, &query, https).await;
    }
    let mount = format!("/d/{district}/apps/{app}");
    let Some(("", rest)) = path
        .strip_prefix(&mount)
        .map(|rest| ("", if rest.is_empty() { "/" } else { rest }))
        .filter(|(_, rest)| rest.starts_with('/'))
    else {
        return Err(ApiError::NotFound(format!(
            "this origin serves app `{app}` of district `{district}` only, under {mount}/"
        )));
    };
    if has_dot_segment(rest) {
        return Err(ApiError::BadRequest(
            "paths may not contain `.` or `..` segments or encoded slashes".into(),
        ));
    }
    check_origin(request.headers(), request.method())?;
    let caller = app_caller(&state, &district, &app, request.headers()).await?;
    let rest = rest.to_owned();
    let mut response = serve(state, district, app, rest, caller, request).await?;
    // Nobody else's page may frame the app (clickjacking); the app's own
    // policy, if it sent one, applies as well.
    response.headers_mut().append(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'self'"),
    );
    Ok(response)
}

/// Who calls the app on its origin: the holder of a bearer token, or the
/// person its app cookie names.
async fn app_caller(
    state: &ApiState,
    district: &str,
    app: &str,
    headers: &HeaderMap,
) -> Result<Option<Caller>, ApiError> {
    if let Some(token) = auth::bearer(headers)? {
        return Ok(Some(auth::verify(state, token).await?));
    }
    let Some(secret) = session::cookie(headers, APP_COOKIE) else {
        return Ok(None);
    };
    let person = state
        .platform
        .sign_in()
        .app_session(secret, district, app)
        .await
        .map_err(|err| ApiError::Platform(err.into()))?;
    Ok(person.map(|s| s.caller))
}

/// Whether a request with this method changes nothing.
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// `GET /_hutong/enter?pass=…&to=…` on an app's origin: set the app cookie
/// from the pass and go on to `to` (a path of the app's own); a pass that
/// does not work leads there anonymously.
async fn enter(
    state: &ApiState,
    district: &str,
    app: &str,
    query: &str,
    https: bool,
) -> Result<Response, ApiError> {
    let mount = format!("/d/{district}/apps/{app}");
    let mut pass = None;
    let mut to = None;
    for (name, value) in form_urlencoded(query) {
        match name.as_str() {
            "pass" => pass = Some(value),
            "to" => to = Some(value),
            _ => {}
        }
    }
    let to = to
        .filter(|to| to.starts_with(&mount) && location_within(to, &mount, &format!("{mount}/")))
        .unwrap_or_else(|| format!("{mount}/"));
    let secret = match pass {
        Some(pass) => state
            .platform
            .sign_in()
            .enter_app(&pass, district, app)
            .await
            .map_err(|err| ApiError::Platform(err.into()))?,
        None => None,
    };
    let mut response = (StatusCode::SEE_OTHER, [(LOCATION, to)]).into_response();
    let headers = response.headers_mut();
    // The pass is in this page's address: it goes nowhere else.
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    match secret {
        Some(secret) => {
            let max_age = state.platform.sign_in().policy().session_max.as_secs();
            let cookie = session::set_cookie(APP_COOKIE, &secret, Some(max_age), https);
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                headers.append(SET_COOKIE, value);
            }
        }
        None => tracing::info!(
            district,
            app,
            "a pass to an app's origin did not work; going on anonymously"
        ),
    }
    Ok(response)
}

/// The pairs of a query string, decoded.
fn form_urlencoded(query: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://query.invalid/?{query}"))
        .map(|url| url.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

/// On the console's origin, a browser's page load of
/// `/d/{district}/apps/{app}/…` (GET, no bearer token): where that page lives on the app's
/// origin, through `/_hutong/enter` for a signed-in person. `None` when the
/// host should answer here (an API client, or no apps domain).
pub(crate) async fn redirect_to_app_origin(
    state: &ApiState,
    district: &str,
    app: &str,
    method: &Method,
    headers: &HeaderMap,
    path_and_query: &str,
) -> Result<Option<Response>, ApiError> {
    let Some(domain) = &state.apps_domain else {
        return Ok(None);
    };
    // A page load (`Sec-Fetch-Mode: navigate`, which browsers send and API
    // clients do not); a browser too old to say so gets the sandboxed answer.
    let navigates = headers
        .get("sec-fetch-mode")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"navigate"));
    if *method != Method::GET
        || !navigates
        || headers.contains_key(axum::http::header::AUTHORIZATION)
    {
        return Ok(None);
    }
    let Some(host) = request_host(headers) else {
        return Ok(None);
    };
    // A missing app stays a 404 here rather than a redirect to nowhere
    // (the other requests look the app up as they are served).
    state.platform.runtime().knows(district, app).await?;
    let scheme = if over_https(headers) { "https" } else { "http" };
    let origin = format!(
        "{scheme}://{}{}",
        domain.app_host(district, app),
        port_of(host)
    );
    let pass = match session::cookie(headers, SESSION_COOKIE) {
        Some(secret) => state
            .platform
            .sign_in()
            .pass_to_app(secret, district, app)
            .await
            .map_err(|err| ApiError::Platform(err.into()))?,
        None => None,
    };
    let to = match pass {
        Some(pass) => reqwest::Url::parse_with_params(
            &format!("{origin}{ENTER_PATH}"),
            [("pass", pass.as_str()), ("to", path_and_query)],
        )
        .map_err(|err| {
            tracing::error!(error = %err, origin, "could not make the address of an app's origin");
            ApiError::Platform(crate::error::PlatformError::Invalid(
                "the app's address could not be made from the apps domain".into(),
            ))
        })?
        .to_string(),
        None => format!("{origin}{path_and_query}"),
    };
    let mut response = (StatusCode::SEE_OTHER, [(LOCATION, to)]).into_response();
    response
        .headers_mut()
        .insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(Some(response))
}

/// On the console's origin, an app's answer runs in a sandbox: no script
/// of it runs with the console's origin.
pub(crate) fn sandboxed(mut response: Response<Body>) -> Response<Body> {
    response
        .headers_mut()
        .append(CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox"));
    response
}

/// Refuse a request that changes something, made with the app cookie from
/// a page that is not the app's own.
pub(crate) fn check_origin(headers: &HeaderMap, method: &Method) -> Result<(), ApiError> {
    if is_safe(method)
        || session::cookie(headers, APP_COOKIE).is_none()
        || session::same_origin(headers)
    {
        return Ok(());
    }
    Err(ApiError::Forbidden(
        "a request that changes something must come from the app's own pages: its `Origin` \
         header must name this app's origin"
            .into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_apps_domain_names_one_origin_per_app() {
        let domain = AppsDomain::parse("Apps.Localhost.").expect("domain");
        assert_eq!(domain.app_host("east", "care"), "care.east.apps.localhost");
        assert_eq!(
            domain.app_of("care.east.apps.localhost:8080"),
            Some(("east".into(), "care".into()))
        );
        assert_eq!(
            domain.app_of("CARE.east.apps.localhost"),
            Some(("east".into(), "care".into()))
        );
        for other in [
            "apps.localhost",
            "east.apps.localhost",
            "x.care.east.apps.localhost",
            "care.east.apps.localhost.evil.example",
            "care.eastapps.localhost",
            "127.0.0.1:8080",
            "care_.east.apps.localhost",
        ] {
            assert_eq!(domain.app_of(other), None, "{other}");
        }
        for bad in [
            "http://apps.example",
            "apps.example:8080",
            "",
            "a..b",
            "-a.b",
        ] {
            assert!(AppsDomain::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ports_are_kept_apart_from_names() {
        assert_eq!(port_of("care.east.apps.localhost:8080"), ":8080");
        assert_eq!(port_of("care.east.apps.localhost"), "");
        assert_eq!(strip_port("a.b:1"), "a.b");
    }

    #[test]
    fn a_change_with_the_app_cookie_must_come_from_the_app() {
        use crate::console::test_headers as headers;
        let cookie = ("cookie", "hutong_app=has_x");
        let host = ("host", "care.east.apps.localhost:8080");
        let own = headers(&[
            cookie,
            host,
            ("origin", "http://care.east.apps.localhost:8080"),
        ]);
        assert!(check_origin(&own, &Method::POST).is_ok());
        let sibling = headers(&[
            cookie,
            host,
            ("origin", "http://evil.east.apps.localhost:8080"),
        ]);
        assert!(check_origin(&sibling, &Method::POST).is_err());
        assert!(check_origin(&sibling, &Method::GET).is_ok());
        let none = headers(&[cookie, host]);
        assert!(check_origin(&none, &Method::PUT).is_err());
        let no_cookie = headers(&[host, ("origin", "http://evil.east.apps.localhost:8080")]);
        assert!(check_origin(&no_cookie, &Method::POST).is_ok());
    }
}
