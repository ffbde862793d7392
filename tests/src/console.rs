//! The console as the tests and benchmarks reach it: a signed-in person's
//! session, and the server's time for a page.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};

use crate::{Backend, TestHost};

/// The password every signed-in test person gets.
pub const PASSWORD: &str = "courtyard gate keys";

/// A signed-in person: the session cookie's value and its form token.
#[derive(Clone, Debug)]
pub struct Session {
    /// The `hutong_session` cookie's value.
    pub secret: String,
    /// The token the session's forms carry.
    pub csrf: String,
}

impl Session {
    /// The `Cookie` header that carries the session.
    pub fn cookie(&self) -> String {
        format!("hutong_session={}", self.secret)
    }
}

impl TestHost {
    /// Give the existing account `id` the password [`PASSWORD`] and sign
    /// in as them.
    pub async fn console_session(&self, id: &str) -> Session {
        let sign_in = self.opened.platform.sign_in();
        let code = sign_in.issue_code(id, "test").await.expect("code").code;
        sign_in
            .redeem_code(&code, PASSWORD)
            .await
            .expect("password");
        let begun = sign_in
            .sign_in(id, PASSWORD, "127.0.0.1")
            .await
            .expect("sign in");
        Session {
            secret: begun.secret,
            csrf: begun.csrf,
        }
    }
}

/// Whether a benchmark runs its quick version (`HUTONG_BENCH_QUICK=1`).
pub fn quick() -> bool {
    std::env::var("HUTONG_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// Whether a benchmark runs on `backend` (`HUTONG_BENCH_ONLY`, when set,
/// names the one).
pub fn only(backend: &str) -> bool {
    std::env::var("HUTONG_BENCH_ONLY").map_or(true, |b| b == backend)
}

/// A query of the numbers 1 to `n` as the column `i`, in the back end's
/// words, to fill a table in one statement.
pub fn series(backend: Backend, n: u64) -> String {
    match backend {
        Backend::Postgres => format!("SELECT i FROM generate_series(1, {n}) AS s(i)"),
        Backend::Sqlite => format!(
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) SELECT i FROM s"
        ),
    }
}

/// The server's time for `rounds` requests of the page `uri` with the
/// session `cookie` (the whole application in process, session lookup
/// included), sorted; and the page's size. Every answer must be 200.
pub async fn page_times(
    app: &axum::Router,
    cookie: &str,
    uri: &str,
    rounds: usize,
) -> (Vec<Duration>, usize) {
    let mut times = Vec::with_capacity(rounds);
    let mut bytes = 0;
    for _ in 0..rounds {
        let request = Request::get(uri)
            .header("host", "hutong.bench")
            .header("cookie", cookie)
            .body(Body::empty())
            .expect("request");
        let started = Instant::now();
        let response = tower::ServiceExt::oneshot(app.clone(), request)
            .await
            .expect("response");
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        times.push(started.elapsed());
        assert_eq!(
            status,
            StatusCode::OK,
            "{uri}: {}",
            String::from_utf8_lossy(&body)
        );
        bytes = body.len();
    }
    times.sort();
    (times, bytes)
}

/// Print one table row of a page's figures: p50 and the slowest.
pub fn print_page_row(what: &str, times: &[Duration], bytes: usize) {
    println!(
        "  | {what} | {:.1} ms | {:.1} ms | {bytes} |",
        times[times.len() / 2].as_secs_f64() * 1000.0,
        times[times.len() - 1].as_secs_f64() * 1000.0,
    );
}
