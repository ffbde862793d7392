//! Apps on origins of their own, driven over HTTP as a browser sends it
//! (`Host`, `Origin`, `Sec-Fetch-Mode`, cookies per origin): the hand-over
//! from the console with a one-time pass, the app cookie that names the
//! person to one app only and ends with the console session, the origin
//! check on changes, and the sandbox on the console's origin. What a
//! hostile page does with these in a real browser is in `browser.rs`.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use hutong_host::accounts::Role;
use hutong_tests::{TestHost, TestResponse, on_both_backends};

const CONSOLE: &str = "hutong.test:8080";
const VICTIM: &str = "victim.east.apps.localhost:8080";
const EVIL: &str = "evil.east.apps.localhost:8080";
const PASSWORD: &str = "courtyard gate keys";

/// A person with a password, signed in: the console session's secret.
async fn signed_in(host: &TestHost, id: &str) -> String {
    host.account(id, Role::DistrictAdmin, Some("east")).await;
    let sign_in = host.opened.platform.sign_in();
    let code = sign_in.issue_code(id, "admin").await.expect("code").code;
    sign_in
        .redeem_code(&code, PASSWORD)
        .await
        .expect("password set");
    sign_in
        .sign_in(id, PASSWORD, "127.0.0.1")
        .await
        .expect("signed in")
        .secret
}

async fn two_apps(host: &TestHost) {
    host.district("east").await;
    host.install_test_app("east", "victim", true, "").await;
    host.install_test_app("east", "evil", true, "").await;
}

/// Send a request to `authority` as a browser would.
async fn send(
    host: &TestHost,
    method: Method,
    authority: &str,
    uri: &str,
    headers: &[(&str, &str)],
) -> TestResponse {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", authority);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    host.send(request.body(Body::empty()).expect("request"))
        .await
}

fn location(response: &TestResponse) -> String {
    response
        .headers
        .get("location")
        .unwrap_or_else(|| panic!("no location: {} {}", response.status, response.text()))
        .to_str()
        .expect("location")
        .to_owned()
}

/// The value of the cookie `name` that a response sets.
fn set_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

fn app_secret(cookie: &str) -> String {
    cookie
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .expect("name=value")
        .1
        .to_owned()
}

/// Open `path` of the victim from the console as the signed-in `session`
/// and follow the hand-over: the app cookie's secret.
async fn enter_victim(host: &TestHost, session: &str) -> String {
    let cookie = format!("hutong_session={session}");
    let to_origin = send(
        host,
        Method::GET,
        CONSOLE,
        "/d/east/apps/victim/echo",
        &[("sec-fetch-mode", "navigate"), ("cookie", &cookie)],
    )
    .await;
    let enter = location(&to_origin);
    let path = enter
        .strip_prefix(&format!("http://{VICTIM}"))
        .expect("the victim's origin");
    let entered = send(host, Method::GET, VICTIM, path, &[]).await;
    app_secret(&set_cookie(&entered.headers, "hutong_app").expect("the app cookie"))
}

on_both_backends!(
    a_page_load_is_handed_to_the_apps_origin_with_a_pass_used_once,
    the_app_cookie_names_the_person_to_that_app_only,
    changes_with_the_app_cookie_must_come_from_the_apps_own_pages,
    app_sessions_end_with_the_console_session,
    an_apps_origin_serves_that_app_only,
);

async fn a_page_load_is_handed_to_the_apps_origin_with_a_pass_used_once(host: TestHost) {
    two_apps(&host).await;
    let session = signed_in(&host, "li-na").await;
    let cookie = format!("hutong_session={session}");

    let to_origin = send(
        &host,
        Method::GET,
        CONSOLE,
        "/d/east/apps/victim/echo?x=1",
        &[("sec-fetch-mode", "navigate"), ("cookie", &cookie)],
    )
    .await;
    assert_eq!(to_origin.status, StatusCode::SEE_OTHER);
    let enter = location(&to_origin);
    assert!(
        enter.starts_with(&format!("http://{VICTIM}/_hutong/enter?pass=hap_")),
        "{enter}"
    );
    assert!(
        enter.ends_with("&to=%2Fd%2Feast%2Fapps%2Fvictim%2Fecho%3Fx%3D1"),
        "{enter}"
    );
    assert_eq!(to_origin.headers["referrer-policy"], "no-referrer");

    let path = enter
        .strip_prefix(&format!("http://{VICTIM}"))
        .expect("path");
    let entered = send(&host, Method::GET, VICTIM, path, &[]).await;
    assert_eq!(entered.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&entered), "/d/east/apps/victim/echo?x=1");
    let app_cookie = set_cookie(&entered.headers, "hutong_app").expect("app cookie");
    assert!(app_cookie.starts_with("hutong_app=has_"), "{app_cookie}");
    assert!(
        app_cookie.contains("HttpOnly") && app_cookie.contains("SameSite=Lax"),
        "{app_cookie}"
    );
    assert!(
        !app_cookie.contains(&session),
        "the app's origin never holds the console's secret"
    );

    // The pass works once, and for its own app only.
    let again = send(&host, Method::GET, VICTIM, path, &[]).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert_eq!(set_cookie(&again.headers, "hutong_app"), None);
    let fresh = location(
        &send(
            &host,
            Method::GET,
            CONSOLE,
            "/d/east/apps/victim/",
            &[("sec-fetch-mode", "navigate"), ("cookie", &cookie)],
        )
        .await,
    );
    let stolen = fresh
        .strip_prefix(&format!("http://{VICTIM}"))
        .expect("path");
    let elsewhere = send(&host, Method::GET, EVIL, stolen, &[]).await;
    assert_eq!(set_cookie(&elsewhere.headers, "hutong_app"), None);
    assert_eq!(location(&elsewhere), "/d/east/apps/evil/", "to its own app");

    // Signed out, a page load goes to the app's origin directly.
    let anonymous = send(
        &host,
        Method::GET,
        CONSOLE,
        "/d/east/apps/victim/ping",
        &[("sec-fetch-mode", "navigate")],
    )
    .await;
    assert_eq!(
        location(&anonymous),
        format!("http://{VICTIM}/d/east/apps/victim/ping")
    );

    // API clients are answered where they ask, and the answer is sandboxed
    // so that no browser runs it with the console's origin.
    for headers in [
        vec![],
        vec![("authorization", format!("Bearer {}", host.admin_token))],
    ] {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let here = send(
            &host,
            Method::GET,
            CONSOLE,
            "/d/east/apps/victim/ping",
            &headers,
        )
        .await;
        assert_eq!(here.status, StatusCode::OK, "{}", here.text());
        assert_eq!(here.text(), "pong");
        assert_eq!(here.headers["content-security-policy"], "sandbox");
    }
}

async fn the_app_cookie_names_the_person_to_that_app_only(host: TestHost) {
    two_apps(&host).await;
    let session = signed_in(&host, "li-na").await;
    let secret = enter_victim(&host, &session).await;
    let cookie = format!("hutong_app={secret}; other=1");

    let echo = send(
        &host,
        Method::GET,
        VICTIM,
        "/d/east/apps/victim/echo",
        &[("cookie", &cookie)],
    )
    .await;
    assert_eq!(echo.status, StatusCode::OK, "{}", echo.text());
    let seen = echo.json();
    assert_eq!(seen["caller"]["account_id"], "li-na", "{seen}");
    assert_eq!(seen["caller"]["role"], "district-admin", "{seen}");
    let headers = seen["headers"].to_string();
    assert!(
        !headers.contains("cookie") && !headers.contains(&secret),
        "{headers}"
    );
    assert!(
        echo.headers["content-security-policy"]
            .to_str()
            .expect("csp")
            .contains("frame-ancestors 'self'")
    );

    // Another app's origin, or the console, does not know the person by it.
    let evil = send(
        &host,
        Method::GET,
        EVIL,
        "/d/east/apps/evil/echo",
        &[("cookie", &cookie)],
    )
    .await;
    assert_eq!(evil.status, StatusCode::UNAUTHORIZED, "{}", evil.text());
    let console = send(&host, Method::GET, CONSOLE, "/", &[("cookie", &cookie)]).await;
    assert_eq!(location(&console), "/sign-in");

    // A second cookie of the same name (set for a parent domain by a
    // sibling origin) leaves the request anonymous.
    let tossed = format!("hutong_app={secret}; hutong_app=has_planted");
    let both = send(
        &host,
        Method::GET,
        VICTIM,
        "/d/east/apps/victim/echo",
        &[("cookie", &tossed)],
    )
    .await;
    assert_eq!(both.status, StatusCode::UNAUTHORIZED, "{}", both.text());
}

async fn changes_with_the_app_cookie_must_come_from_the_apps_own_pages(host: TestHost) {
    two_apps(&host).await;
    let session = signed_in(&host, "li-na").await;
    let secret = enter_victim(&host, &session).await;
    let cookie = format!("hutong_app={secret}");
    let uri = "/d/east/apps/victim/kv/insert?key=note";
    let evil_origin = format!("http://{EVIL}");
    let own_origin = format!("http://{VICTIM}");

    for (origin, refused) in [(Some(evil_origin.as_str()), true), (None, true)] {
        let mut headers = vec![("cookie", cookie.as_str())];
        headers.extend(origin.map(|o| ("origin", o)));
        let post = send(&host, Method::POST, VICTIM, uri, &headers).await;
        assert_eq!(
            post.status,
            StatusCode::FORBIDDEN,
            "{origin:?}: {}",
            post.text()
        );
        assert!(refused && post.error_message().contains("the app's own pages"));
    }
    let stored = host.get("/d/east/apps/victim/kv/get?key=note").await;
    assert_eq!(stored.status, StatusCode::NOT_FOUND, "nothing was written");

    let own = send(
        &host,
        Method::POST,
        VICTIM,
        uri,
        &[("cookie", &cookie), ("origin", &own_origin)],
    )
    .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text());
    assert_eq!(own.json()["inserted"], true);
    assert_eq!(
        host.get("/d/east/apps/victim/kv/get?key=note").await.status,
        StatusCode::OK
    );
}

/// The victim's public echo with `cookie`: who it saw.
async fn public_echo(host: &TestHost, cookie: &str) -> TestResponse {
    send(
        host,
        Method::GET,
        VICTIM,
        "/d/east/apps/victim/echo/public/x",
        &[("cookie", cookie)],
    )
    .await
}

async fn app_sessions_end_with_the_console_session(host: TestHost) {
    two_apps(&host).await;
    let session = signed_in(&host, "li-na").await;
    let secret = enter_victim(&host, &session).await;
    let cookie = format!("hutong_app={secret}");
    let caller = |r: TestResponse| r.json()["caller"]["account_id"].clone();
    assert_eq!(caller(public_echo(&host, &cookie).await), "li-na");

    host.opened
        .platform
        .sign_in()
        .sign_out(&session)
        .await
        .expect("sign out");
    assert_eq!(
        caller(public_echo(&host, &cookie).await),
        serde_json::Value::Null,
        "signed out"
    );

    // A disabled account's app sessions end with its console sessions.
    let again = host
        .opened
        .platform
        .sign_in()
        .sign_in("li-na", PASSWORD, "127.0.0.1")
        .await
        .expect("signed in")
        .secret;
    let secret = enter_victim(&host, &again).await;
    let cookie = format!("hutong_app={secret}");
    assert_eq!(caller(public_echo(&host, &cookie).await), "li-na");
    host.opened
        .platform
        .disable_account("li-na")
        .await
        .expect("disable");
    assert_eq!(
        caller(public_echo(&host, &cookie).await),
        serde_json::Value::Null,
        "disabled"
    );
}

async fn an_apps_origin_serves_that_app_only(host: TestHost) {
    two_apps(&host).await;
    for path in [
        "/",
        "/sign-in",
        "/apps",
        "/api/v1/districts",
        "/d/east/apps/evil/ping",
        "/d/east/apps/victimx/ping",
        "/metrics",
    ] {
        let answer = send(&host, Method::GET, VICTIM, path, &[]).await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            answer.text()
        );
        assert!(
            answer
                .error_message()
                .contains("serves app `victim` of district `east` only"),
            "{path}: {}",
            answer.text()
        );
    }
    let own = send(&host, Method::GET, VICTIM, "/d/east/apps/victim/ping", &[]).await;
    assert_eq!(own.text(), "pong");
    // A name that is no app of the host's is nobody's origin.
    let unknown = send(
        &host,
        Method::GET,
        "nothing.east.apps.localhost",
        "/d/east/apps/nothing/ping",
        &[],
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}
