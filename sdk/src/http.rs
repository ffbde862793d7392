//! Requests and responses, as the app sees them.

use core::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::exports::hutong::platform::http_handler as wit;
use crate::bindings::hutong::platform::types as wit_types;
use crate::{Error, log};

/// One HTTP request, as the host received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    caller: Option<Caller>,
    request_id: String,
}

impl Request {
    /// A request with no query, headers, body or caller, mostly for testing an
    /// app's handlers without a host. The method is upper-cased.
    pub fn new(method: &str, path: &str) -> Self {
        Self {
            method: method.to_ascii_uppercase(),
            path: path.to_owned(),
            query: String::new(),
            headers: Vec::new(),
            body: Vec::new(),
            caller: None,
            request_id: String::new(),
        }
    }

    /// This request with the raw query string `query` (without the `?`).
    pub fn with_query(mut self, query: &str) -> Self {
        query.clone_into(&mut self.query);
        self
    }

    /// This request with one more header; the name is lower-cased, as the host
    /// does.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// This request with `body` as its body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// This request as made by `caller`.
    pub fn with_caller(mut self, caller: Caller) -> Self {
        self.caller = Some(caller);
        self
    }

    /// The method, upper-case (`GET`, `POST`, ...).
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path below the app's mount, always starting with `/`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The raw query string without the leading `?`; empty when absent.
    pub fn query(&self) -> &str {
        &self.query
    }

    /// The first query parameter called `name`, percent-decoded (`+` reads as
    /// a space). A parameter without `=` has the empty string as its value.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
            .find(|(key, _)| percent_decode(key, true) == name)
            .map(|(_, value)| percent_decode(value, true))
    }

    /// The request headers, names lower-case. Credentials (`authorization`,
    /// `cookie`) never reach an app.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The first header called `name` (compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The first field called `name` of an HTML form posted as
    /// `application/x-www-form-urlencoded`, percent-decoded (`+` reads as a
    /// space); `None` when the body has no such field or is not UTF-8. A
    /// plain HTML page's `<form method="post">` sends its fields this way.
    ///
    /// ```
    /// use hutong_sdk::Request;
    ///
    /// let req = Request::new("POST", "/visits").with_body("note=door+ok%21&x=1");
    /// assert_eq!(req.form_param("note").as_deref(), Some("door ok!"));
    /// assert_eq!(req.form_param("missing"), None);
    /// ```
    pub fn form_param(&self, name: &str) -> Option<String> {
        let body = core::str::from_utf8(&self.body).ok()?;
        body.split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
            .find(|(key, _)| percent_decode(key, true) == name)
            .map(|(_, value)| percent_decode(value, true))
    }

    /// The request body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The request body as text; [`Error::InvalidArgument`] if it is not
    /// UTF-8.
    pub fn text(&self) -> Result<&str, Error> {
        core::str::from_utf8(&self.body).map_err(|error| {
            Error::InvalidArgument(format!("the request body is not UTF-8 text: {error}"))
        })
    }

    /// The request body parsed as JSON; [`Error::InvalidArgument`] saying what
    /// is wrong with it if it does not parse as a `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|error| {
            Error::InvalidArgument(format!(
                "the request body is not the JSON expected: {error}"
            ))
        })
    }

    /// The authenticated caller, or `None` for an anonymous request.
    pub fn caller(&self) -> Option<&Caller> {
        self.caller.as_ref()
    }

    /// The host's identifier for this request, for correlating logs.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }
}

impl From<wit::Request> for Request {
    fn from(request: wit::Request) -> Self {
        Self {
            method: request.method,
            path: request.path,
            query: request.query,
            headers: request.headers,
            body: request.body,
            caller: request.caller.map(Caller::from),
            request_id: request.request_id,
        }
    }
}

/// Who made a request, as established by the host. Apps never see
/// credentials, only this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Caller {
    /// The account's stable identifier.
    pub account_id: String,
    /// What the account is.
    pub role: Role,
    /// The district the account belongs to; `None` for a platform
    /// administrator.
    pub district: Option<String>,
    /// The resident record linked to the account, for residents.
    pub resident_id: Option<String>,
}

impl From<wit_types::Caller> for Caller {
    fn from(caller: wit_types::Caller) -> Self {
        Self {
            account_id: caller.account_id,
            role: caller.role.into(),
            district: caller.district,
            resident_id: caller.resident_id,
        }
    }
}

/// The role of an authenticated account. Serializes as its kebab-case WIT
/// name ([`Role::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Runs the city's host: creates districts, sees everything.
    PlatformAdmin,
    /// Installs, configures and grants apps in one district.
    DistrictAdmin,
    /// Reads installs, grants and audit logs; changes nothing.
    Auditor,
    /// A grid worker or department staff member.
    Worker,
    /// A resident, linked to a resident record.
    Resident,
}

impl Role {
    /// The role's WIT name: `platform-admin`, `district-admin`, `auditor`,
    /// `worker` or `resident`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PlatformAdmin => "platform-admin",
            Self::DistrictAdmin => "district-admin",
            Self::Auditor => "auditor",
            Self::Worker => "worker",
            Self::Resident => "resident",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<wit_types::Role> for Role {
    fn from(role: wit_types::Role) -> Self {
        match role {
            wit_types::Role::PlatformAdmin => Self::PlatformAdmin,
            wit_types::Role::DistrictAdmin => Self::DistrictAdmin,
            wit_types::Role::Auditor => Self::Auditor,
            wit_types::Role::Worker => Self::Worker,
            wit_types::Role::Resident => Self::Resident,
        }
    }
}

/// The app's answer to a request.
///
/// The host answers 502 instead if the status is outside 100..=599 or the body
/// is larger than the install's response limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    /// A response with `status`, no headers and an empty body.
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A `text/plain` response.
    pub fn text(status: u16, text: impl Into<String>) -> Self {
        Self::new(status)
            .with_header("content-type", "text/plain; charset=utf-8")
            .with_body(text.into())
    }

    /// A `text/html` response: a page the app renders itself. Escape what
    /// it did not write (names, notes) with [`html_escape`](crate::html_escape).
    pub fn html(status: u16, html: impl Into<String>) -> Self {
        Self::new(status)
            .with_header("content-type", "text/html; charset=utf-8")
            .with_body(html.into())
    }

    /// An `application/json` response with `value` serialized as its body.
    ///
    /// If `value` cannot be serialized (a map with non-string keys, a failing
    /// `Serialize` impl) the answer is a 500 error response instead, and the
    /// failure is logged.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self::new(status)
                .with_header("content-type", "application/json")
                .with_body(body),
            Err(error) => Self::from(Error::Internal(format!(
                "could not serialize the response body as JSON: {error}"
            ))),
        }
    }

    /// 404 with the JSON error body a [`Router`](crate::Router) uses.
    pub fn not_found() -> Self {
        Self::from(Error::NotFound)
    }

    /// This response with one more header; the name is lower-cased.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// This response with `body` as its body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The headers, names lower-case.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The first header called `name` (compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// An error response with `code` and `message` in the SDK's JSON shape,
    /// `{"error":{"code":"...","message":"..."}}`, for refusals of the app's
    /// own that no [`Error`] names (a caller of the wrong role, say).
    ///
    /// ```
    /// let r = hutong_sdk::Response::error(403, "forbidden", "only grid workers may acknowledge alerts");
    /// assert_eq!(r.status(), 403);
    /// assert!(String::from_utf8_lossy(r.body()).contains("\"forbidden\""));
    /// ```
    pub fn error(status: u16, code: &str, message: &str) -> Self {
        let body = serde_json::json!({ "error": { "code": code, "message": message } });
        Self::new(status)
            .with_header("content-type", "application/json")
            .with_body(body.to_string())
    }
}

/// The error's [status](Error::status) with the body
/// `{"error":{"code":"...","message":"..."}}`.
///
/// The message of an [`Error::Internal`] is logged, not sent: the caller gets
/// a generic message, since it cannot act on the app's internals.
impl From<Error> for Response {
    fn from(error: Error) -> Self {
        let message = match &error {
            Error::Internal(message) => {
                log::error("request failed inside the app", &[("error", message)]);
                "the app failed to handle the request".to_owned()
            }
            other => other.to_string(),
        };
        Self::error(error.status(), error.code(), &message)
    }
}

impl From<Response> for wit::Response {
    fn from(response: Response) -> Self {
        Self {
            status: response.status,
            headers: response.headers,
            body: response.body,
        }
    }
}

/// Decode `%XX` escapes (and `+` as a space when `plus_as_space`); a `%` not
/// followed by two hex digits is kept as it is, and bytes that do not form
/// UTF-8 become U+FFFD.
/// `text` with `&`, `<`, `>`, `"` and `'` replaced by their HTML entities,
/// safe to put in an element or a quoted attribute of a page.
///
/// ```
/// assert_eq!(hutong_sdk::html_escape("<b>\"Tom\" & 'Jo'</b>"),
///            "&lt;b&gt;&quot;Tom&quot; &amp; &#39;Jo&#39;&lt;/b&gt;");
/// ```
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn percent_decode(input: &str, plus_as_space: bool) -> String {
    let bytes = input.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let escaped = bytes
                    .get(i + 1..i + 3)
                    .and_then(|hex| core::str::from_utf8(hex).ok())
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok());
                if let Some(byte) = escaped {
                    decoded.push(byte);
                    i += 3;
                    continue;
                }
                decoded.push(b'%');
            }
            b'+' if plus_as_space => decoded.push(b' '),
            byte => decoded.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_param_is_percent_decoded() {
        let req = Request::new("get", "/").with_query("a=1&name=ana%20b+c&flag&x=%zz%4");
        assert_eq!(req.method(), "GET");
        assert_eq!(req.query_param("name").as_deref(), Some("ana b c"));
        assert_eq!(req.query_param("a").as_deref(), Some("1"));
        assert_eq!(req.query_param("flag").as_deref(), Some(""));
        assert_eq!(req.query_param("x").as_deref(), Some("%zz%4"));
        assert_eq!(req.query_param("missing"), None);
    }

    #[test]
    fn percent_decode_replaces_invalid_utf8() {
        assert_eq!(percent_decode("%E4%BD%A0%ff", false), "你\u{fffd}");
        assert_eq!(percent_decode("a+b", false), "a+b");
    }

    #[test]
    fn header_lookup_ignores_case() {
        let req = Request::new("GET", "/").with_header("X-Thing", "1");
        assert_eq!(req.header("x-thing"), Some("1"));
        assert_eq!(req.header("X-THING"), Some("1"));
    }

    #[test]
    fn bad_json_body_is_an_invalid_argument() {
        let req = Request::new("POST", "/").with_body("{nope");
        let error = req.json::<serde_json::Value>().unwrap_err();
        assert!(matches!(error, Error::InvalidArgument(message) if message.contains("JSON")));
    }

    #[test]
    fn error_response_has_code_and_message() {
        let response = Response::from(Error::LimitExceeded("too many keys".into()));
        assert_eq!(response.status(), 429);
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["error"]["code"], "limit_exceeded");
        assert_eq!(body["error"]["message"], "too many keys");
    }
}
