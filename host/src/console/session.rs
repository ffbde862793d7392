//! The browser side of signing in: the session cookie, the signed-in
//! person of a request, and the two checks every state-changing form
//! passes (its CSRF token, and an `Origin` of the host's own).
//!
//! The session cookie is `HttpOnly` (no script reads it), `SameSite=Lax`
//! (no other site's form or script sends it), and `Secure` whenever the
//! browser reached the host over https (its `Origin` says so, also behind
//! a TLS-terminating proxy). Before sign-in, the sign-in form is bound to
//! the browser by a random `hutong_form` cookie that the form repeats.

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::header::{COOKIE, HOST, ORIGIN, REFERER};
use axum::http::request::Parts;

use crate::accounts::sign_in::Session;
use crate::api::shared::ApiState;

/// The cookie holding the session's secret.
pub const SESSION_COOKIE: &str = "hutong_session";
/// The cookie binding the sign-in form to the browser that loaded it.
pub const FORM_COOKIE: &str = "hutong_form";

/// The value of cookie `name`, if the request carries it once. A request
/// carrying it twice carries none: another origin of the same site can set
/// a cookie of that name for a parent domain, and the browser's order
/// must not decide which one is the person's.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let mut found = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(n, _)| *n == name)
        .map(|(_, value)| value);
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

/// Whether the browser reached the host over https, by the `Origin` (or
/// `Referer`) it sent.
pub fn over_https(headers: &HeaderMap) -> bool {
    source(headers).is_some_and(|s| s.starts_with("https://"))
}

fn source(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(ORIGIN)
        .or_else(|| headers.get(REFERER))
        .and_then(|v| v.to_str().ok())
}

/// Whether a state-changing request came from the host's own pages: its
/// `Origin` (or, without one, its `Referer`) names the host the request
/// was sent to. A request with neither is refused.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(source) = source(headers) else {
        return false;
    };
    let Some(rest) = source
        .strip_prefix("https://")
        .or_else(|| source.strip_prefix("http://"))
    else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let hosts = [headers.get("x-forwarded-host"), headers.get(HOST)];
    hosts
        .into_iter()
        .flatten()
        .filter_map(|v| v.to_str().ok())
        .any(|host| !authority.is_empty() && host.eq_ignore_ascii_case(authority))
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Lax`, the whole site, and
/// `Secure` over https. `max_age` none: removes the cookie.
pub fn set_cookie(name: &str, value: &str, max_age: Option<u64>, secure: bool) -> String {
    let age = max_age.unwrap_or(0);
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={age}{secure}")
}

/// Equal byte strings, compared in time that does not depend on where they
/// differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The address failed sign-ins are counted against: the peer's, or, when
/// the peer is a proxy on this machine, the last address it forwarded for.
pub fn client_address(parts: &Parts) -> String {
    let peer = parts
        .extensions
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let forwarded = parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .map(|v| v.trim().to_owned())
        .filter(|v| v.parse::<std::net::IpAddr>().is_ok());
    match (peer, forwarded) {
        (Some(peer), Some(forwarded)) if peer.is_loopback() => forwarded,
        (Some(peer), _) => peer.to_string(),
        (None, _) => "unknown".to_owned(),
    }
}

/// The signed-in person of a request, if its session cookie names an open
/// session; a request without one is a visitor.
pub struct Visitor {
    /// The session, if signed in.
    pub session: Option<Session>,
    /// The cookie's secret, to end the session with.
    pub secret: Option<String>,
}

impl FromRequestParts<ApiState> for Visitor {
    type Rejection = crate::console::PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Ok(Visitor {
                session: None,
                secret: None,
            });
        };
        let session = state
            .platform
            .sign_in()
            .session(secret)
            .await
            .map_err(|err| {
                tracing::error!(error = %err, "could not read a session");
                crate::console::PageError::Failed
            })?;
        Ok(Visitor {
            session,
            secret: Some(secret.to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::console::test_headers as headers;

    #[test]
    fn only_the_hosts_own_origin_passes() {
        let ours = headers(&[
            ("host", "hutong.example"),
            ("origin", "https://hutong.example"),
        ]);
        assert!(same_origin(&ours));
        assert!(over_https(&ours));
        let theirs = headers(&[
            ("host", "hutong.example"),
            ("origin", "https://evil.example"),
        ]);
        assert!(!same_origin(&theirs));
        let sandboxed = headers(&[("host", "hutong.example"), ("origin", "null")]);
        assert!(!same_origin(&sandboxed));
        let none = headers(&[("host", "hutong.example")]);
        assert!(!same_origin(&none));
        let referer = headers(&[
            ("host", "127.0.0.1:8080"),
            ("referer", "http://127.0.0.1:8080/sign-in"),
        ]);
        assert!(same_origin(&referer));
        assert!(!over_https(&referer));
        let lookalike = headers(&[
            ("host", "hutong.example"),
            ("origin", "https://hutong.example.evil.example"),
        ]);
        assert!(!same_origin(&lookalike));
    }

    #[test]
    fn cookies_are_http_only_lax_and_secure_over_https() {
        let c = set_cookie(SESSION_COOKIE, "hss_x", Some(60), true);
        assert_eq!(
            c,
            "hutong_session=hss_x; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
        assert!(!set_cookie(SESSION_COOKIE, "", None, false).contains("Secure"));
        let h = headers(&[("cookie", "a=1; hutong_session=hss_y")]);
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("hss_y"));
        let tossed = headers(&[(
            "cookie",
            "hutong_session=hss_mine; hutong_session=hss_theirs",
        )]);
        assert_eq!(cookie(&tossed, SESSION_COOKIE), None);
        assert!(same_token("abc", "abc") && !same_token("abc", "abd") && !same_token("ab", "abc"));
    }
}
