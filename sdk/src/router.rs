//! A small router from method and path to handler.

use crate::http::percent_decode;
use crate::{Error, Request, Response};

/// A request handler: a plain `fn` or a closure taking the request and the
/// path parameters its pattern captured.
pub type Handler = Box<dyn Fn(&Request, &Params) -> Result<Response, Error>>;

/// Routes requests to handlers by method and path pattern.
///
/// A pattern is a path whose segments are literals, `{name}` (one segment,
/// captured as `name`) or, as the last segment only, `{*name}` (the rest of
/// the path, at least one character, captured as `name`). Captured values are
/// percent-decoded.
///
/// Routes are tried in the order they were added; the first whose pattern and
/// method match handles the request. A path no pattern matches is answered
/// with 404; a path that matches only for other methods with 405 and an
/// `allow` header. A handler's [`Error`] becomes its JSON error response (see
/// [`Response`'s `From<Error>`](Response#impl-From<Error>-for-Response)).
///
/// ```
/// use hutong_sdk::{Request, Response, Router};
///
/// let router = Router::new()
///     .get("/greet/{name}", |_, params| {
///         Ok(Response::text(200, format!("hello {}", params.get("name").unwrap_or(""))))
///     });
/// let response = router.handle(Request::new("GET", "/greet/ana"));
/// assert_eq!(response.body(), b"hello ana");
/// ```
#[derive(Default)]
pub struct Router {
    routes: Vec<Route>,
}

struct Route {
    method: String,
    pattern: Vec<Segment>,
    handler: Handler,
}

enum Segment {
    Literal(String),
    Param(String),
    Rest(String),
}

impl Router {
    /// A router with no routes: it answers every request with 404.
    pub fn new() -> Self {
        Self::default()
    }

    /// Route `GET` requests for `pattern` to `handler`.
    pub fn get<F>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(&Request, &Params) -> Result<Response, Error> + 'static,
    {
        self.route("GET", pattern, handler)
    }

    /// Route `POST` requests for `pattern` to `handler`.
    pub fn post<F>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(&Request, &Params) -> Result<Response, Error> + 'static,
    {
        self.route("POST", pattern, handler)
    }

    /// Route `PUT` requests for `pattern` to `handler`.
    pub fn put<F>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(&Request, &Params) -> Result<Response, Error> + 'static,
    {
        self.route("PUT", pattern, handler)
    }

    /// Route `DELETE` requests for `pattern` to `handler`.
    pub fn delete<F>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(&Request, &Params) -> Result<Response, Error> + 'static,
    {
        self.route("DELETE", pattern, handler)
    }

    /// Route requests with `method` (compared case-insensitively) for
    /// `pattern` to `handler`. The method `*` matches every method.
    ///
    /// A `{*name}` segment anywhere but last is taken as a literal.
    pub fn route<F>(mut self, method: &str, pattern: &str, handler: F) -> Self
    where
        F: Fn(&Request, &Params) -> Result<Response, Error> + 'static,
    {
        let segments: Vec<&str> = split(pattern).collect();
        let last = segments.len().saturating_sub(1);
        let pattern = segments
            .iter()
            .enumerate()
            .map(|(i, segment)| {
                let braced = segment
                    .strip_prefix('{')
                    .and_then(|inner| inner.strip_suffix('}'));
                match braced.map(|inner| (inner, inner.strip_prefix('*'))) {
                    Some((_, Some(rest))) if i == last => Segment::Rest(rest.to_owned()),
                    Some((name, None)) => Segment::Param(name.to_owned()),
                    _ => Segment::Literal((*segment).to_owned()),
                }
            })
            .collect();
        self.routes.push(Route {
            method: method.to_ascii_uppercase(),
            pattern,
            handler: Box::new(handler),
        });
        self
    }

    /// Answer `req` with the handler of the first matching route.
    pub fn handle(&self, req: Request) -> Response {
        let mut allowed: Vec<&str> = Vec::new();
        for route in &self.routes {
            let Some(params) = route.matches(req.path()) else {
                continue;
            };
            if route.method == "*" || route.method == req.method() {
                return (route.handler)(&req, &params).unwrap_or_else(Response::from);
            }
            if !allowed.contains(&route.method.as_str()) {
                allowed.push(&route.method);
            }
        }
        if allowed.is_empty() {
            return Response::error(
                404,
                "not_found",
                &format!("no route for {} {}", req.method(), req.path()),
            );
        }
        let allow = allowed.join(", ");
        Response::error(
            405,
            "method_not_allowed",
            &format!(
                "{} is not allowed on {}; allowed: {allow}",
                req.method(),
                req.path()
            ),
        )
        .with_header("allow", &allow)
    }
}

impl Route {
    fn matches(&self, path: &str) -> Option<Params> {
        let mut params = Params::default();
        // `rest` is the part of the path not matched yet, without its leading `/`.
        let mut rest = path.strip_prefix('/').unwrap_or(path);
        for (i, segment) in self.pattern.iter().enumerate() {
            if let Segment::Rest(name) = segment {
                if rest.is_empty() {
                    return None;
                }
                params.0.push((name.clone(), percent_decode(rest, false)));
                return Some(params);
            }
            let (head, tail) = rest.split_once('/').unwrap_or((rest, ""));
            // A path with more segments than the pattern does not match, nor
            // does one with fewer (`/a/` is not `/a/{b}`).
            let is_last = i + 1 == self.pattern.len();
            if is_last == rest.contains('/') {
                return None;
            }
            match segment {
                Segment::Literal(literal) if literal == head => {}
                Segment::Param(name) if !head.is_empty() => {
                    params.0.push((name.clone(), percent_decode(head, false)));
                }
                _ => return None,
            }
            rest = tail;
        }
        // Only the root pattern has no segments; it matches `/` alone.
        (!self.pattern.is_empty() || rest.is_empty()).then_some(params)
    }
}

/// The segments of a pattern or path, without the leading `/`; `/` alone has
/// none.
fn split(path: &str) -> impl Iterator<Item = &str> {
    let path = path.strip_prefix('/').unwrap_or(path);
    path.split('/').filter(move |_| !path.is_empty())
}

/// The path parameters a route's pattern captured, percent-decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// The value captured as `name`, if the pattern has such a parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every captured parameter, in pattern order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo_params(_: &Request, params: &Params) -> Result<Response, Error> {
        let text: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        Ok(Response::text(200, text.join(",")))
    }

    fn router() -> Router {
        Router::new()
            .get("/", echo_params)
            .get("/greet/{name}", echo_params)
            .post("/greet/{name}", echo_params)
            .route("*", "/echo", echo_params)
            .route("*", "/echo/{*rest}", echo_params)
            .get("/fail", |_, _| {
                Err(Error::Denied {
                    permission: "kv".into(),
                })
            })
    }

    fn call(method: &str, path: &str) -> (u16, String) {
        let response = router().handle(Request::new(method, path));
        let body = String::from_utf8_lossy(response.body()).into_owned();
        (response.status(), body)
    }

    #[test]
    fn matches_literals_params_and_rest() {
        assert_eq!(call("GET", "/"), (200, String::new()));
        assert_eq!(call("GET", "/greet/ana%20b"), (200, "name=ana b".into()));
        assert_eq!(call("PATCH", "/echo"), (200, String::new()));
        assert_eq!(call("GET", "/echo/a/b%2Fc"), (200, "rest=a/b/c".into()));
    }

    #[test]
    fn unknown_paths_are_404() {
        for path in [
            "/nope",
            "/greet",
            "/greet/",
            "/greet/ana/extra",
            "/echo/",
            "//",
        ] {
            let (status, body) = call("GET", path);
            assert_eq!(status, 404, "{path}");
            assert!(body.contains("\"not_found\""), "{path}: {body}");
        }
    }

    #[test]
    fn wrong_method_is_405_with_allow() {
        let response = router().handle(Request::new("DELETE", "/greet/ana"));
        assert_eq!(response.status(), 405);
        assert_eq!(response.header("allow"), Some("GET, POST"));
    }

    #[test]
    fn handler_errors_become_json_errors() {
        let (status, body) = call("GET", "/fail");
        assert_eq!(status, 403);
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["code"], "denied");
        assert!(body["error"]["message"].as_str().unwrap().contains("kv"));
    }
}
