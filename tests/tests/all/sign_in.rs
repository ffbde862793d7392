//! Signing in with a password in the browser, driven over HTTP as a
//! browser would send it (cookies kept, `Host` and `Origin` sent): the
//! set-password code, sign-in and sign-out, the form tokens and origin
//! check, throttling, how sessions end, the language, and the console's
//! own headers.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use hutong_host::accounts::Role;
use hutong_host::accounts::sign_in::{PasswordError, SignInError};
use hutong_tests::{TestHost, TestResponse, on_both_backends};

const HOST: &str = "hutong.test";

/// A browser: a cookie jar, a language, and the origin its forms come from.
struct Browser<'h> {
    host: &'h TestHost,
    cookies: HashMap<String, String>,
    origin: String,
    language: Option<&'static str>,
}

impl<'h> Browser<'h> {
    fn new(host: &'h TestHost) -> Self {
        Browser {
            host,
            cookies: HashMap::new(),
            origin: format!("http://{HOST}"),
            language: None,
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, request: axum::http::request::Builder, body: String) -> TestResponse {
        let mut request = request.header("host", HOST);
        if !self.cookies.is_empty() {
            request = request.header("cookie", self.cookie_header());
        }
        if let Some(language) = self.language {
            request = request.header("accept-language", language);
        }
        let response = self
            .host
            .send(request.body(Body::from(body)).expect("request"))
            .await;
        for value in response.headers.get_all("set-cookie") {
            let value = value.to_str().expect("cookie");
            let pair = value.split(';').next().expect("pair");
            let (name, value) = pair.split_once('=').expect("name=value");
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        response
    }

    async fn get(&mut self, uri: &str) -> TestResponse {
        self.send(
            Request::builder().method(Method::GET).uri(uri),
            String::new(),
        )
        .await
    }

    /// Post a form as the page at `self.origin` would.
    async fn post(&mut self, uri: &str, fields: &[(&str, &str)]) -> TestResponse {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", self.origin.clone());
        self.send(request, body).await
    }

    /// [`Browser::post`] with owned values.
    async fn post_owned(&mut self, uri: &str, fields: &[(&str, String)]) -> TestResponse {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.post(uri, &fields).await
    }

    /// Load the sign-in page and sign in.
    async fn sign_in(&mut self, account: &str, password: &str) -> TestResponse {
        let page = self.get("/sign-in").await;
        let token = hidden(&page, "form");
        self.post(
            "/sign-in",
            &[
                ("form", &token),
                ("account", account),
                ("password", password),
            ],
        )
        .await
    }

    /// The CSRF token of the signed-in home page.
    async fn csrf(&mut self) -> String {
        let home = self.get("/").await;
        assert_eq!(home.status, StatusCode::OK, "{}", home.text());
        hidden(&home, "csrf")
    }
}

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The value of the hidden input `name` on a page.
fn hidden(page: &TestResponse, name: &str) -> String {
    let html = page.text();
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no hidden `{name}` on: {html}"))
        + marker.len();
    html[start..start + html[start..].find('"').expect("end")].to_owned()
}

/// The `Set-Cookie` that starts a session.
fn session_cookie(response: &TestResponse) -> String {
    response
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("cookie").to_owned())
        .find(|c| c.starts_with("hutong_session=hss_"))
        .expect("session cookie")
}

fn location(response: &TestResponse) -> &str {
    response
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// An account with a password set through a code; its id.
async fn with_password(host: &TestHost, id: &str, role: Role, password: &str) -> String {
    let district = (role != Role::PlatformAdmin).then_some("east");
    host.account(id, role, district).await;
    let issued = host
        .post(&format!("/api/v1/accounts/{id}/password-code"), "")
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.text());
    let code = issued.json()["code"].as_str().expect("code").to_owned();
    let mut browser = Browser::new(host);
    let page = browser.get("/set-password").await;
    let token = hidden(&page, "form");
    let set = browser
        .post(
            "/set-password",
            &[
                ("form", &token),
                ("code", &code),
                ("password", password),
                ("repeat", password),
            ],
        )
        .await;
    assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.text());
    id.to_owned()
}

on_both_backends!(
    a_person_sets_a_password_with_a_code_and_signs_in_and_out,
    forms_need_their_token_and_the_hosts_origin,
    failed_sign_ins_are_throttled_per_account_and_per_address,
    sessions_end_idle_expired_changed_disabled_or_revoked,
    a_kept_session_follows_changes_made_behind_the_hosts_back,
    administrators_suspend_and_resume_apps_auditors_only_look,
    installing_in_the_console_takes_an_administrator_the_token_and_valid_input,
    administrators_create_accounts_and_hand_out_codes_in_the_console,
    the_platform_administrator_creates_districts_and_sees_the_city,
    uninstalling_names_what_is_lost_and_deleting_data_takes_the_name,
    a_search_of_the_access_log_looks_through_a_window_and_goes_on_from_it,
    administrators_import_and_export_community_data_in_the_console,
    administrators_set_gateways_and_devices_and_secrets_stay_unseen,
    administrators_set_how_cases_are_handled_in_the_console,
    the_apps_page_shows_each_apps_calls_and_failures_by_cause,
    the_apps_page_lists_a_hundred_at_a_time,
    the_accounts_page_lists_a_hundred_at_a_time,
);

async fn a_person_sets_a_password_with_a_code_and_signs_in_and_out(host: TestHost) {
    host.district("east").await;
    host.account("wang-li", Role::Worker, Some("east")).await;
    let mut browser = Browser::new(&host);

    // A visitor is sent to the sign-in page, which is Chinese by default.
    let start = browser.get("/").await;
    assert_eq!(start.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&start), "/sign-in");
    let page = browser.get("/sign-in").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text().contains("<html lang=\"zh-CN\">"),
        "{}",
        page.text()
    );
    assert!(page.text().contains("登录"));

    // Without a password nobody signs in, not even with an empty one.
    let refused = browser.sign_in("wang-li", "").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);

    // The administrator issues a code; it is shown once.
    let issued = host
        .post("/api/v1/accounts/wang-li/password-code", "")
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.text());
    let code = issued.json()["code"].as_str().expect("code").to_owned();
    assert_eq!(code.len(), 24, "{code}");

    // Redeeming it: the passwords must agree and follow the rule.
    let form = browser.get(&format!("/set-password?code={code}")).await;
    assert!(form.text().contains(&code), "the link fills the code in");
    let token = hidden(&form, "form");
    let set = |code: &str, password: &str, repeat: &str| {
        [
            ("form", token.clone()),
            ("code", code.to_owned()),
            ("password", password.to_owned()),
            ("repeat", repeat.to_owned()),
        ]
    };
    let differ = browser
        .post_owned(
            "/set-password",
            &set(&code, "one long password", "another one"),
        )
        .await;
    assert_eq!(differ.status, StatusCode::BAD_REQUEST);
    assert!(differ.text().contains("不一致"), "{}", differ.text());
    let short = browser
        .post_owned("/set-password", &set(&code, "short", "short"))
        .await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    assert!(short.text().contains("至少 10 个字符"), "{}", short.text());
    // Typed loosely (lower case, spaces) it still works.
    let typed = code.to_lowercase().replace('-', " ");
    let password = "lanterns over the hutong";
    let done = browser
        .post_owned("/set-password", &set(&typed, password, password))
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text());
    assert_eq!(location(&done), "/sign-in?done=password");
    // A code works once.
    let again = browser
        .post_owned(
            "/set-password",
            &set(&code, "another long password", "another long password"),
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.text().contains("已用过"), "{}", again.text());

    // A wrong password and an unknown account get the same answer.
    let wrong = browser.sign_in("wang-li", "lanterns over the river").await;
    let unknown = browser
        .sign_in("nobody-here", "lanterns over the hutong")
        .await;
    for refused in [&wrong, &unknown] {
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        assert!(
            refused.text().contains("账号或密码错误"),
            "{}",
            refused.text()
        );
    }

    // The right one signs in: an HttpOnly, SameSite cookie, not Secure
    // over plain http.
    let signed = browser.sign_in("Wang-Li", "lanterns over the hutong").await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.text());
    assert_eq!(location(&signed), "/");
    let cookie = session_cookie(&signed);
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "{cookie}");
    let home = browser.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.text().contains("wang-li") && home.text().contains("网格员"));
    let stolen = browser.cookies.clone();

    // Signing out ends the session: the old cookie, replayed, is a visitor.
    let csrf = browser.csrf().await;
    let out = browser.post("/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&out), "/sign-in");
    assert!(!browser.cookies.contains_key("hutong_session"));
    let mut replay = Browser::new(&host);
    replay.cookies = stolen;
    assert_eq!(replay.get("/").await.status, StatusCode::SEE_OTHER);

    // Over https (a TLS-terminating proxy in front), the cookie is Secure.
    let mut secure = Browser::new(&host);
    secure.origin = format!("https://{HOST}");
    let signed = secure.sign_in("wang-li", "lanterns over the hutong").await;
    let cookie = session_cookie(&signed);
    assert!(cookie.ends_with("; Secure"), "{cookie}");
}

async fn forms_need_their_token_and_the_hosts_origin(host: TestHost) {
    host.district("east").await;
    with_password(&host, "zhao-min", Role::DistrictAdmin, "a quiet courtyard").await;

    // The sign-in form without the browser's form cookie is refused.
    let mut browser = Browser::new(&host);
    let page = browser.get("/sign-in").await;
    let token = hidden(&page, "form");
    let fields = [
        ("form", token.as_str()),
        ("account", "zhao-min"),
        ("password", "a quiet courtyard"),
    ];
    let mut stranger = Browser::new(&host);
    let forged = stranger.post("/sign-in", &fields).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.text().contains("表单已失效"), "{}", forged.text());
    // From another site's page, it is refused even with the cookie.
    browser.origin = "http://evil.test".into();
    let cross = browser.post("/sign-in", &fields).await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    browser.origin = format!("http://{HOST}");
    let signed = browser.sign_in("zhao-min", "a quiet courtyard").await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);

    // Signed in, a form without the session's token, or from another
    // origin (a sandboxed page's is `null`), changes nothing.
    let csrf = browser.csrf().await;
    let no_token = browser.post("/sign-out", &[("csrf", "0")]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let missing = browser.post("/sign-out", &[]).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    browser.origin = "null".into();
    let sandboxed = browser.post("/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(sandboxed.status, StatusCode::FORBIDDEN);
    let change = browser
        .post(
            "/password",
            &[
                ("csrf", &csrf),
                ("current", "a quiet courtyard"),
                ("password", "taken over by evil"),
                ("repeat", "taken over by evil"),
            ],
        )
        .await;
    assert_eq!(change.status, StatusCode::FORBIDDEN);
    browser.origin = format!("http://{HOST}");
    assert_eq!(
        browser.get("/").await.status,
        StatusCode::OK,
        "still signed in"
    );
    let mut check = Browser::new(&host);
    assert_eq!(
        check.sign_in("zhao-min", "a quiet courtyard").await.status,
        StatusCode::SEE_OTHER,
        "the password is unchanged"
    );

    // Every console page keeps to itself.
    let page = browser.get("/").await;
    let csp = page.headers["content-security-policy"]
        .to_str()
        .expect("csp");
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert_eq!(page.headers["cache-control"], "no-store");
}

async fn failed_sign_ins_are_throttled_per_account_and_per_address(host: TestHost) {
    host.district("east").await;
    with_password(&host, "li-na", Role::Worker, "the right password").await;
    let clock = host.clock().clone();
    let mut browser = Browser::new(&host);
    for _ in 0..5 {
        let wrong = browser.sign_in("li-na", "a wrong password").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    }
    // The sixth try is refused even with the right password, and says when
    // to come back.
    let throttled = browser.sign_in("li-na", "the right password").await;
    assert_eq!(
        throttled.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        throttled.text()
    );
    assert!(
        throttled.text().contains("15 分钟后"),
        "{}",
        throttled.text()
    );
    // Counted in the database: another host process refuses it too.
    let other = host.another_process().await;
    let refused = other
        .platform
        .sign_in()
        .sign_in("li-na", "the right password", "unknown")
        .await;
    assert!(
        matches!(refused, Err(SignInError::Throttled { .. })),
        "{refused:?}"
    );
    // After the window, the right password works again.
    clock.advance_ms(15 * 60_000);
    let signed = browser.sign_in("li-na", "the right password").await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.text());

    // One address trying many accounts is stopped too.
    let mut guesser = Browser::new(&host);
    for n in 0..30 {
        let wrong = guesser.sign_in(&format!("guess-{n}"), "password123").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    }
    let stopped = guesser.sign_in("li-na", "the right password").await;
    assert_eq!(stopped.status, StatusCode::TOO_MANY_REQUESTS);
}

async fn sessions_end_idle_expired_changed_disabled_or_revoked(host: TestHost) {
    host.district("east").await;
    with_password(&host, "chen-jie", Role::Auditor, "first password here").await;
    let clock = host.clock().clone();

    // Idle for 30 minutes: ended.
    let mut browser = Browser::new(&host);
    browser.sign_in("chen-jie", "first password here").await;
    clock.advance_ms(29 * 60_000);
    assert_eq!(browser.get("/").await.status, StatusCode::OK);
    clock.advance_ms(29 * 60_000);
    assert_eq!(
        browser.get("/").await.status,
        StatusCode::OK,
        "used, so not idle"
    );
    clock.advance_ms(30 * 60_000);
    assert_eq!(browser.get("/").await.status, StatusCode::SEE_OTHER, "idle");

    // In use all day, it still ends 12 hours after sign-in.
    browser.sign_in("chen-jie", "first password here").await;
    for _ in 0..(12 * 3) {
        assert_eq!(browser.get("/").await.status, StatusCode::OK);
        clock.advance_ms(20 * 60_000);
    }
    assert_eq!(
        browser.get("/").await.status,
        StatusCode::SEE_OTHER,
        "absolute expiry"
    );

    // Changing the password ends the other sessions, keeps this browser in.
    let mut here = Browser::new(&host);
    let mut elsewhere = Browser::new(&host);
    here.sign_in("chen-jie", "first password here").await;
    elsewhere.sign_in("chen-jie", "first password here").await;
    let csrf = here.csrf().await;
    let wrong = here
        .post(
            "/password",
            &[
                ("csrf", &csrf),
                ("current", "not my password"),
                ("password", "second password here"),
                ("repeat", "second password here"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(wrong.text().contains("当前密码不正确"), "{}", wrong.text());
    let changed = here
        .post(
            "/password",
            &[
                ("csrf", &csrf),
                ("current", "first password here"),
                ("password", "second password here"),
                ("repeat", "second password here"),
            ],
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text());
    assert!(changed.text().contains("密码已修改"));
    assert_eq!(here.get("/").await.status, StatusCode::OK);
    assert_eq!(elsewhere.get("/").await.status, StatusCode::SEE_OTHER);
    assert_eq!(
        Browser::new(&host)
            .sign_in("chen-jie", "first password here")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    // An administrator revokes the sessions; then disables the account.
    let revoked = host.delete("/api/v1/accounts/chen-jie/sessions").await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text());
    assert_eq!(revoked.json()["ended"], 1);
    assert_eq!(here.get("/").await.status, StatusCode::SEE_OTHER);
    here.sign_in("chen-jie", "second password here").await;
    assert_eq!(here.get("/").await.status, StatusCode::OK);
    let disabled = host.post("/api/v1/accounts/chen-jie/disable", "").await;
    assert_eq!(disabled.status, StatusCode::OK);
    assert_eq!(here.get("/").await.status, StatusCode::SEE_OTHER);
    assert_eq!(
        here.sign_in("chen-jie", "second password here")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

/// Within this, PostgreSQL tells the process of a change (it takes
/// milliseconds; the bound is for a busy machine); SQLite has no delay.
const TOLD_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Load `/` in `browser` until the host keeps its session.
async fn until_session_kept(host: &TestHost, browser: &mut Browser<'_>) -> String {
    let secret = browser.cookies["hutong_session"].clone();
    let started = std::time::Instant::now();
    while !host.opened.platform.session_cache().holds(&secret) {
        assert_eq!(browser.get("/").await.status, StatusCode::OK);
        assert!(
            started.elapsed() < TOLD_WITHIN,
            "the session was never kept"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    secret
}

/// Load `/` in `browser` until it is sent to sign in.
async fn until_signed_out(browser: &mut Browser<'_>) {
    let started = std::time::Instant::now();
    loop {
        let r = browser.get("/").await;
        if r.status == StatusCode::SEE_OTHER {
            assert_eq!(location(&r), "/sign-in");
            return;
        }
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert!(
            started.elapsed() < TOLD_WITHIN,
            "the ended session still works"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// The host keeps each open session between requests. A session ended,
/// or its account disabled, on another connection (another host process,
/// the command line) is refused at the first request after the change on
/// SQLite, and once PostgreSQL has delivered its notification there. A
/// session another process has used meanwhile is not ended as idle on the
/// strength of what was kept.
async fn a_kept_session_follows_changes_made_behind_the_hosts_back(host: TestHost) {
    host.district("east").await;
    with_password(&host, "chen-jie", Role::Auditor, "first password here").await;
    let clock = host.clock().clone();
    let kept = host.opened.platform.session_cache();

    let mut browser = Browser::new(&host);
    browser.sign_in("chen-jie", "first password here").await;
    let secret = until_session_kept(&host, &mut browser).await;
    // Another process serves the session 29 minutes on: only its `seen_at`
    // moves, which nothing announces. Two minutes later this process last
    // saw it used 31 minutes ago, past the idle limit, yet it is open.
    clock.advance_ms(29 * 60_000);
    host.execute_raw(&format!(
        "UPDATE sessions SET seen_at = {} WHERE account_id = 'chen-jie'",
        clock.now_ms()
    ))
    .await;
    clock.advance_ms(2 * 60_000);
    assert_eq!(
        browser.get("/").await.status,
        StatusCode::OK,
        "used elsewhere, so not idle"
    );
    assert!(kept.holds(&secret), "kept again, as last used now");

    // Ended on another connection: refused.
    let ended = host
        .execute_raw(&format!(
            "UPDATE sessions SET ended_at = {}, ended_why = 'revoked by hand' \
             WHERE account_id = 'chen-jie' AND ended_at IS NULL",
            clock.now_ms()
        ))
        .await;
    assert_eq!(ended, 1);
    until_signed_out(&mut browser).await;
    assert!(!kept.holds(&secret));

    // The account disabled on another connection: a kept session of it is
    // refused.
    browser.sign_in("chen-jie", "first password here").await;
    until_session_kept(&host, &mut browser).await;
    host.execute_raw(&format!(
        "UPDATE accounts SET disabled_at = {} WHERE id = 'chen-jie'",
        clock.now_ms()
    ))
    .await;
    until_signed_out(&mut browser).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_those_who_administer_an_account_issue_its_code() {
    let host = TestHost::new(hutong_tests::Backend::Sqlite).await;
    host.district("east").await;
    host.district("west").await;
    host.account("worker-1", Role::Worker, Some("east")).await;
    let east_admin = host.district_admin("east").await;
    let west_admin = host.district_admin("west").await;
    let auditor = host.account("audit-1", Role::Auditor, Some("east")).await;
    let uri = "/api/v1/accounts/worker-1/password-code";
    let own = host.post_as(Some(&east_admin), uri, "").await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.text());
    assert_eq!(
        host.post_as(Some(&west_admin), uri, "").await.status,
        StatusCode::NOT_FOUND,
        "another district's account is not even shown"
    );
    let read_only = host.post_as(Some(&auditor), uri, "").await;
    assert_eq!(
        read_only.status,
        StatusCode::FORBIDDEN,
        "{}",
        read_only.text()
    );
    let admin_code = host
        .post_as(
            Some(&east_admin),
            "/api/v1/accounts/admin/password-code",
            "",
        )
        .await;
    assert_eq!(
        admin_code.status,
        StatusCode::NOT_FOUND,
        "{}",
        admin_code.text()
    );
    // A new code ends the earlier one.
    let first = own.json()["code"].as_str().expect("code").to_owned();
    host.post_as(Some(&east_admin), uri, "").await;
    let refused = host
        .opened
        .platform
        .sign_in()
        .redeem_code(&first, "a good long password")
        .await;
    assert!(
        matches!(refused, Err(PasswordError::CodeRefused)),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn english_from_the_browser_or_the_switch() {
    let host = TestHost::new(hutong_tests::Backend::Sqlite).await;
    let mut browser = Browser::new(&host);
    browser.language = Some("en-GB,en;q=0.9");
    let page = browser.get("/sign-in").await;
    assert!(page.text().contains("<html lang=\"en\">") && page.text().contains("Sign in"));
    // The switch keeps the choice and goes back where it was.
    browser.language = None;
    let switched = browser.get("/lang?to=en&back=/set-password").await;
    assert_eq!(switched.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&switched), "/set-password");
    let page = browser.get("/set-password").await;
    assert!(page.text().contains("Set your password"), "{}", page.text());
    let back = browser.get("/lang?to=zh-CN&back=/sign-in").await;
    assert_eq!(location(&back), "/sign-in");
    assert!(browser.get("/sign-in").await.text().contains("登录"));
    // It never leads off the host.
    for away in ["//evil.test/", "https://evil.test/", "/\\evil.test"] {
        let r = browser
            .get(&format!("/lang?to=en&back={}", encode(away)))
            .await;
        assert_eq!(location(&r), "/", "{away}");
    }
}

async fn administrators_suspend_and_resume_apps_auditors_only_look(host: TestHost) {
    host.district("east").await;
    host.district("west").await;
    host.install_test_app("east", "test-app", false, "").await;
    with_password(
        &host,
        "east-boss",
        Role::DistrictAdmin,
        "admin password one",
    )
    .await;
    with_password(&host, "east-eyes", Role::Auditor, "auditor password one").await;
    with_password(&host, "east-hands", Role::Worker, "worker password one").await;

    // The administrator sees the district's apps with a button each.
    let mut admin = Browser::new(&host);
    admin.sign_in("east-boss", "admin password one").await;
    assert!(admin.get("/").await.text().contains("href=\"/apps\""));
    let page = admin.get("/apps").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let html = page.text();
    assert!(
        html.contains("test-app") && html.contains("运行中"),
        "{html}"
    );
    let csrf = hidden(&page, "csrf");

    // Without the session's token nothing changes.
    let forged = admin
        .post(
            "/apps/test-app/suspend?district=east",
            &[("csrf", "forged")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(
        host.get("/d/east/apps/test-app/ping").await.status,
        StatusCode::OK
    );

    // Suspending from the console stops the app, with the reason recorded.
    let suspended = admin
        .post("/apps/test-app/suspend?district=east", &[("csrf", &csrf)])
        .await;
    assert_eq!(
        suspended.status,
        StatusCode::SEE_OTHER,
        "{}",
        suspended.text()
    );
    assert_eq!(location(&suspended), "/apps?district=east&done=suspended");
    assert_eq!(
        host.get("/d/east/apps/test-app/ping").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let listed = host.get("/api/v1/districts/east/installs").await.json();
    assert_eq!(listed[0]["status"], "suspended");
    let reason = listed[0]["status_reason"].as_str().expect("reason");
    assert!(reason.contains("east-boss"), "{reason}");
    let page = admin.get("/apps?district=east&done=suspended").await.text();
    assert!(
        page.contains("已暂停") && page.contains("应用已暂停"),
        "{page}"
    );

    // The auditor sees the same list, without buttons, and cannot act.
    let mut auditor = Browser::new(&host);
    auditor.sign_in("east-eyes", "auditor password one").await;
    let page = auditor.get("/apps").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text().contains("已暂停") && !page.text().contains("<button type=\"submit\">恢复")
    );
    let auditor_csrf = auditor.csrf().await;
    let refused = auditor
        .post(
            "/apps/test-app/resume?district=east",
            &[("csrf", &auditor_csrf)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        host.get("/d/east/apps/test-app/ping").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );

    // Nobody reads another district's apps; a worker reads none.
    assert_eq!(
        admin.get("/apps?district=west").await.status,
        StatusCode::FORBIDDEN
    );
    let mut worker = Browser::new(&host);
    worker.sign_in("east-hands", "worker password one").await;
    assert_eq!(worker.get("/apps").await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        admin.get("/apps?district=Not%20Valid").await.status,
        StatusCode::NOT_FOUND
    );

    // Resuming brings it back.
    let resumed = admin
        .post("/apps/test-app/resume?district=east", &[("csrf", &csrf)])
        .await;
    assert_eq!(resumed.status, StatusCode::SEE_OTHER);
    assert_eq!(
        host.get("/d/east/apps/test-app/ping").await.status,
        StatusCode::OK
    );
    let missing = admin
        .post(
            "/apps/no-such-app/suspend?district=east",
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

/// A directory registry holding `hello` 1.0.0 (kv and schedules), signed
/// by a key east trusts; its location.
async fn registry_with_hello(host: &TestHost, dir: &std::path::Path) -> String {
    use hutong_registry::{DirRegistry, KeyPair, PublishRequest};
    let registry = DirRegistry::create(dir.join("registry")).expect("registry");
    let key = KeyPair::from_secret([9; 32]);
    let manifest = "name = \"hello\"\nversion = \"1.0.0\"\ndescription = \"Greets.\"\n\
         host-api = \"^0.1\"\n[permissions]\nkv = \"Counts visits.\"\n\
         schedules = \"Tidies every hour.\"\n[http]\npublic = [\"/ping\"]\n\
         [[schedules]]\nname = \"tidy\"\nevery = \"1h\"\n";
    let request = PublishRequest::sign(
        manifest.as_bytes().to_vec(),
        std::fs::read(hutong_tests::components::HELLO).expect("component"),
        &key,
    )
    .expect("signed");
    registry.publish_now(&request).expect("published");
    host.opened
        .platform
        .trust_key("east", &key.public().to_hex(), "Example Co.")
        .await
        .expect("trust");
    format!(
        "http://{}",
        hutong_tests::listen(hutong_registry::serve::router(registry)).await
    )
}

async fn installing_in_the_console_takes_an_administrator_the_token_and_valid_input(
    host: TestHost,
) {
    host.district("east").await;
    let tmp = tempfile::tempdir().expect("temporary directory");
    let location = registry_with_hello(&host, tmp.path()).await;
    with_password(
        &host,
        "east-boss",
        Role::DistrictAdmin,
        "admin password one",
    )
    .await;
    with_password(&host, "east-eyes", Role::Auditor, "auditor password one").await;
    let query = format!("registry={}&package=hello%40%5E1", encode(&location));

    // Only administrators see the screen.
    let mut auditor = Browser::new(&host);
    auditor.sign_in("east-eyes", "auditor password one").await;
    let page = auditor.get(&format!("/install?{query}")).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);

    let mut admin = Browser::new(&host);
    admin.sign_in("east-boss", "admin password one").await;
    let page = admin.get(&format!("/install?{query}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let html = page.text();
    assert!(
        html.contains("name=\"package\" value=\"hello@=1.0.0\""),
        "pinned: {html}"
    );
    assert!(
        !html.contains("checked"),
        "nothing is ticked before the person ticks it"
    );
    let csrf = hidden(&page, "csrf");
    let installed = |host: &TestHost| {
        let store = host.opened.platform.store().clone();
        async move { store.get_install("east", "hello").await.is_ok() }
    };

    // A directory on the host, or a registry that is not there: said so,
    // nothing installed.
    let directory = admin
        .get("/install?registry=%2Fetc&package=hello%40%5E1")
        .await;
    assert_eq!(directory.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        directory
            .text()
            .contains("must be an http:// or https:// URL"),
        "{}",
        directory.text()
    );
    let missing = admin
        .get("/install?registry=http%3A%2F%2F127.0.0.1%3A9%2F&package=hello%40%5E1")
        .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        missing.text().contains("无法获取或核验该版本"),
        "{}",
        missing.text()
    );

    let form = |csrf: &str, config: &str, grants: &[&str]| {
        let mut fields = vec![
            ("csrf", csrf.to_owned()),
            ("registry", location.clone()),
            ("package", "hello@=1.0.0".to_owned()),
            ("mode", "install".to_owned()),
            ("config", config.to_owned()),
        ];
        fields.extend(grants.iter().map(|g| ("grant", (*g).to_owned())));
        fields
    };
    // Without the session's token, refused.
    let forged = admin
        .post_owned("/install", &form("forged", "{}", &["kv"]))
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(!installed(&host).await);
    // A configuration that is not an object, or a grant the app did not
    // ask for: refused with what is wrong, the ticks kept, nothing installed.
    let bad_config = admin
        .post_owned("/install", &form(&csrf, "[1]", &["kv"]))
        .await;
    assert_eq!(bad_config.status, StatusCode::UNPROCESSABLE_ENTITY);
    let text = bad_config.text();
    assert!(
        text.contains("安装被拒绝") && text.contains("must be a JSON object"),
        "{text}"
    );
    assert!(text.contains("value=\"kv\" checked"), "{text}");
    let undeclared = admin
        .post_owned("/install", &form(&csrf, "{}", &["kv", "notify-sms"]))
        .await;
    assert_eq!(undeclared.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        undeclared.text().contains("notify-sms"),
        "{}",
        undeclared.text()
    );
    assert!(!installed(&host).await);

    // With kv ticked, installed with kv only.
    let done = admin
        .post_owned("/install", &form(&csrf, "{}", &["kv"]))
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text());
    assert_eq!(location_of(&done), "/apps?district=east&done=installed");
    let install = host
        .opened
        .platform
        .store()
        .get_install("east", "hello")
        .await
        .expect("installed");
    assert_eq!(install.granted.len(), 1);
    assert!(install.granted.iter().all(|p| p.name() == "kv"));
}

fn location_of(response: &TestResponse) -> String {
    location(response).to_owned()
}

async fn administrators_create_accounts_and_hand_out_codes_in_the_console(host: TestHost) {
    host.sample_district("east").await;
    host.district("west").await;
    with_password(
        &host,
        "east-boss",
        Role::DistrictAdmin,
        "admin password one",
    )
    .await;
    with_password(&host, "east-eyes", Role::Auditor, "auditor password one").await;
    host.account("west-worker", Role::Worker, Some("west"))
        .await;

    let mut admin = Browser::new(&host);
    admin.sign_in("east-boss", "admin password one").await;
    let page = admin.get("/accounts").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert!(page.text().contains("east-eyes") && !page.text().contains("west-worker"));
    let csrf = hidden(&page, "csrf");

    // A bad id or role is refused with the rule, and creates nothing.
    for (id, role) in [("Wang Li", "worker"), ("wang-li", "platform-admin")] {
        let refused = admin
            .post("/accounts", &[("csrf", &csrf), ("id", id), ("role", role)])
            .await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{id} {role}"
        );
        assert!(refused.text().contains("未能完成"), "{}", refused.text());
    }
    assert!(
        host.opened
            .platform
            .store()
            .get_account("wang-li")
            .await
            .is_err()
    );
    // Without the token, nothing either.
    let forged = admin
        .post(
            "/accounts",
            &[("csrf", "forged"), ("id", "wang-li"), ("role", "worker")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    let created = admin
        .post(
            "/accounts",
            &[
                ("csrf", &csrf),
                ("id", "wang-li"),
                ("role", "worker"),
                ("display_name", "王丽"),
                ("grids", "c-xingfu-g1, c-xingfu-g2"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.text());
    let account = host
        .opened
        .platform
        .store()
        .get_account("wang-li")
        .await
        .expect("created");
    assert_eq!(account.district.as_deref(), Some("east"));
    assert_eq!(account.grids, vec!["c-xingfu-g1", "c-xingfu-g2"]);

    // The code is shown once and works at /set-password.
    let shown = admin
        .post("/accounts/wang-li/code", &[("csrf", &csrf)])
        .await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.text());
    let html = shown.text();
    let start = html.find("id=\"secret\">").expect("the code") + "id=\"secret\">".len();
    let code = html[start..start + html[start..].find('<').expect("end")].to_owned();
    assert!(
        html.contains(&format!("/set-password?code={code}")),
        "{html}"
    );
    let mut person = Browser::new(&host);
    let form = hidden(&person.get("/set-password").await, "form");
    let set = person
        .post(
            "/set-password",
            &[
                ("form", &form),
                ("code", &code),
                ("password", "gate by the well"),
                ("repeat", "gate by the well"),
            ],
        )
        .await;
    assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.text());
    assert_eq!(
        person.sign_in("wang-li", "gate by the well").await.status,
        StatusCode::SEE_OTHER
    );

    // A token is shown once and works on the API.
    let token_page = admin
        .post("/accounts/wang-li/token", &[("csrf", &csrf)])
        .await;
    let html = token_page.text();
    let start = html.find("id=\"secret\">").expect("the token") + "id=\"secret\">".len();
    let token = html[start..start + html[start..].find('<').expect("end")].to_owned();
    let me = host.get_as(Some(&token), "/api/v1/me").await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text());

    // Disabling ends the person's session.
    let disabled = admin
        .post("/accounts/wang-li/disable", &[("csrf", &csrf)])
        .await;
    assert_eq!(disabled.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&person.get("/").await), "/sign-in");

    // An auditor sees the list but no buttons and can change nothing; no
    // one changes another district's accounts.
    let mut auditor = Browser::new(&host);
    auditor.sign_in("east-eyes", "auditor password one").await;
    let page = auditor.get("/accounts").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.text().contains("/accounts/wang-li/code"));
    let auditor_csrf = hidden(&auditor.get("/").await, "csrf");
    let tried = auditor
        .post("/accounts/east-boss/code", &[("csrf", &auditor_csrf)])
        .await;
    assert_eq!(tried.status, StatusCode::NOT_FOUND);
    let across = admin
        .post("/accounts/west-worker/disable", &[("csrf", &csrf)])
        .await;
    assert_eq!(across.status, StatusCode::NOT_FOUND);
    assert!(
        host.opened
            .platform
            .store()
            .get_account("west-worker")
            .await
            .expect("there")
            .disabled_at
            .is_none()
    );
}

async fn the_platform_administrator_creates_districts_and_sees_the_city(host: TestHost) {
    host.district("east").await;
    host.install_test_app("east", "test-app", false, "").await;
    with_password(&host, "mayor", Role::PlatformAdmin, "platform password one").await;
    with_password(
        &host,
        "east-boss",
        Role::DistrictAdmin,
        "admin password one",
    )
    .await;

    let mut boss = Browser::new(&host);
    boss.sign_in("east-boss", "admin password one").await;
    assert_eq!(boss.get("/city").await.status, StatusCode::FORBIDDEN);

    let mut mayor = Browser::new(&host);
    mayor.sign_in("mayor", "platform password one").await;
    assert!(mayor.get("/").await.text().contains("href=\"/city\""));
    let page = mayor.get("/city").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let html = page.text();
    assert!(
        html.contains("east-boss") && html.contains("test-app"),
        "{html}"
    );
    let csrf = hidden(&page, "csrf");

    // A bad district id, or an administrator id already taken: refused,
    // and no district is created.
    for (id, admin) in [("West Side", ""), ("west", "east-boss")] {
        let refused = mayor
            .post(
                "/city/districts",
                &[("csrf", &csrf), ("id", id), ("admin", admin)],
            )
            .await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{id} {admin}"
        );
    }
    assert!(
        host.opened
            .platform
            .store()
            .get_district("west")
            .await
            .is_err()
    );

    let created = mayor
        .post(
            "/city/districts",
            &[
                ("csrf", &csrf),
                ("id", "west"),
                ("name", "西城"),
                ("admin", "west-boss"),
                ("admin_name", "赵敏"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.text());
    let admin = host
        .opened
        .platform
        .store()
        .get_account("west-boss")
        .await
        .expect("the first administrator");
    assert_eq!(admin.role, Role::DistrictAdmin);
    assert_eq!(admin.district.as_deref(), Some("west"));
    let page = mayor.get("/city?done=admin").await.text();
    assert!(
        page.contains("西城") && page.contains("west-boss"),
        "{page}"
    );
    // The district's own pages open for the platform administrator.
    assert_eq!(
        mayor.get("/accounts?district=west").await.status,
        StatusCode::OK
    );
}

async fn uninstalling_names_what_is_lost_and_deleting_data_takes_the_name(host: TestHost) {
    host.district("east").await;
    for app in ["keeper", "leaver"] {
        host.install_test_app("east", app, true, "").await;
        let set = host
            .put(
                &format!("/d/east/apps/{app}/kv/set?key=note"),
                "twelve bytes",
            )
            .await;
        assert_eq!(set.status, StatusCode::NO_CONTENT);
    }
    with_password(
        &host,
        "east-boss",
        Role::DistrictAdmin,
        "admin password one",
    )
    .await;
    with_password(&host, "east-eyes", Role::Auditor, "auditor password one").await;
    let mut auditor = Browser::new(&host);
    auditor.sign_in("east-eyes", "auditor password one").await;
    assert_eq!(
        auditor.get("/apps/keeper/uninstall").await.status,
        StatusCode::FORBIDDEN
    );

    let mut admin = Browser::new(&host);
    admin.sign_in("east-boss", "admin password one").await;
    let page = admin.get("/apps/keeper/uninstall").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let html = page.text();
    assert!(
        html.contains("<strong>1</strong> 个键"),
        "names what it keeps: {html}"
    );
    let csrf = hidden(&page, "csrf");
    let usage = |app: &'static str| {
        let store = host.opened.platform.store().clone();
        async move { store.kv_usage("east", app).await.expect("usage").keys }
    };

    // Deleting the data without typing the name, or the wrong name, changes nothing.
    for typed in ["", "leaver"] {
        let refused = admin
            .post(
                "/apps/keeper/uninstall",
                &[("csrf", &csrf), ("data", "delete"), ("confirm", typed)],
            )
            .await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{typed:?}"
        );
    }
    assert_eq!(host.get("/d/east/apps/keeper/ping").await.text(), "pong");

    // Keeping the data: the app is gone, its kv stays.
    let kept = admin
        .post(
            "/apps/keeper/uninstall",
            &[("csrf", &csrf), ("data", "keep")],
        )
        .await;
    assert_eq!(kept.status, StatusCode::SEE_OTHER, "{}", kept.text());
    assert_eq!(
        host.get("/d/east/apps/keeper/ping").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(usage("keeper").await, 1);

    // Deleting it, with the name typed: both gone.
    let deleted = admin
        .post(
            "/apps/leaver/uninstall",
            &[("csrf", &csrf), ("data", "delete"), ("confirm", "leaver")],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER, "{}", deleted.text());
    assert_eq!(usage("leaver").await, 0);
    assert!(
        admin
            .get("/apps?done=uninstalled")
            .await
            .text()
            .contains("应用已卸载")
    );
}

async fn a_search_of_the_access_log_looks_through_a_window_and_goes_on_from_it(host: TestHost) {
    use hutong_host::kernel::access_log::{AccessFilter, SEARCH_WINDOW};
    host.district("east").await;
    let n = SEARCH_WINDOW + 5_000;
    let rows = match host.postgres() {
        Some(_) => format!("SELECT i FROM generate_series(1, {n}) AS s(i)"),
        None => format!(
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) SELECT i FROM s"
        ),
    };
    // The oldest entry alone read record r-needle; every other one r-hay.
    let inserted = host
        .execute_raw(&format!(
            "INSERT INTO access_log (at, district, app, version, request_id, operation, permission, \
             outcome, record_count, record_ids, field_class, prev_hash, hash) \
             SELECT 1780000000000 + i, 'east', 'reader', '0.1.0', 'r' || i, 'get-resident', \
             'read-residents', 'allowed', 1, \
             CASE WHEN i = 1 THEN '[\"r-needle\"]' ELSE '[\"r-hay\"]' END, 'masked', '', '' \
             FROM ({rows}) AS r"
        ))
        .await;
    assert_eq!(inserted, n as u64);
    let store = host.opened.platform.store();
    let filter = AccessFilter {
        record: Some("r-needle".into()),
        ..AccessFilter::default()
    };
    let first = store
        .search_access("east", "reader", &filter, None, 50)
        .await
        .expect("search");
    assert!(first.entries.is_empty(), "not in the newest window");
    let stopped = first.searched_to.expect("says where it stopped");
    let next = store
        .search_access("east", "reader", &filter, Some(stopped), 50)
        .await
        .expect("search on");
    assert_eq!(next.entries.len(), 1);
    assert_eq!(next.entries[0].record_ids, vec!["r-needle"]);
    assert_eq!(next.searched_to, None, "the log ends there");
    // With no filter, a page is the newest entries, and no window applies.
    let newest = store
        .search_access("east", "reader", &AccessFilter::default(), None, 3)
        .await
        .expect("newest");
    assert_eq!(newest.entries.len(), 3);
    assert!(newest.entries[0].seq > newest.entries[2].seq);
    assert_eq!(newest.searched_to, None);
}

/// A multipart form body of `fields` and one `file`, with its boundary.
fn multipart(fields: &[(&str, &str)], file: &str) -> (String, String) {
    let boundary = "----hutong-test-boundary".to_owned();
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"data.jsonl\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n{file}\r\n--{boundary}--\r\n"
    ));
    (boundary, body)
}

async fn administrators_import_and_export_community_data_in_the_console(host: TestHost) {
    host.district("east").await;
    with_password(
        &host,
        "east-boss",
        Role::DistrictAdmin,
        "admin password one",
    )
    .await;
    with_password(&host, "east-eyes", Role::Auditor, "auditor password one").await;
    let mut auditor = Browser::new(&host);
    auditor.sign_in("east-eyes", "auditor password one").await;
    assert_eq!(auditor.get("/data").await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        auditor.get("/data/export?format=jsonl").await.status,
        StatusCode::FORBIDDEN
    );

    let mut admin = Browser::new(&host);
    admin.sign_in("east-boss", "admin password one").await;
    let page = admin.get("/data").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let csrf = hidden(&page, "csrf");
    let upload = |browser: &mut Browser<'_>, csrf: &str, file: &str| {
        let (boundary, body) = multipart(&[("csrf", csrf), ("format", "jsonl")], file);
        let request = Request::builder()
            .method(Method::POST)
            .uri("/data")
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .header("origin", browser.origin.clone());
        (request, body)
    };
    let good = [
        r#"{"kind":"street","id":"s1","name":"东湖街道"}"#,
        r#"{"kind":"community","id":"c1","street_id":"s1","name":"幸福社区"}"#,
        r#"{"kind":"grid","id":"g1","community_id":"c1","name":"一网格"}"#,
    ]
    .join("\n");
    let bad = format!(
        "{good}\n{}\n{}",
        r#"{"kind":"grid","id":"g2","community_id":"c-nowhere","name":"二网格"}"#,
        r#"{"kind":"grid","id":"Bad Id","community_id":"c1","name":"三网格"}"#
    );

    // Without the session's token: refused, nothing written.
    let (request, body) = upload(&mut admin, "forged", &good);
    assert_eq!(
        admin.send(request, body).await.status,
        StatusCode::FORBIDDEN
    );
    assert!(host.export("east").await.is_empty());

    // A file with bad lines: each named, nothing written.
    let (request, body) = upload(&mut admin, &csrf, &bad);
    let refused = admin.send(request, body).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text();
    assert!(html.contains("导入被拒绝"), "{html}");
    assert!(html.contains("<td data-label=\"行\">4</td>"), "{html}");
    assert!(html.contains("<td data-label=\"行\">5</td>"), "{html}");
    assert!(html.contains("c-nowhere"), "{html}");
    assert!(host.export("east").await.is_empty(), "all or nothing");

    // A good file: imported, counted, and exported back.
    let (request, body) = upload(&mut admin, &csrf, &good);
    let imported = admin.send(request, body).await;
    assert_eq!(imported.status, StatusCode::OK, "{}", imported.text());
    assert!(imported.text().contains("新增 3"), "{}", imported.text());
    assert_eq!(host.export("east").await.len(), 3);
    let jsonl = admin.get("/data/export?format=jsonl").await;
    assert_eq!(jsonl.status, StatusCode::OK);
    assert!(jsonl.text().contains("\"id\":\"g1\""), "{}", jsonl.text());
    let csv = admin.get("/data/export?format=csv:grid").await;
    let csv_text = csv.text();
    let header = csv_text.lines().next().unwrap_or_default();
    assert!(header.contains("community_id"), "{csv_text}");
    assert!(csv_text.contains("g1,"), "{csv_text}");
    assert!(
        csv.headers["content-disposition"]
            .to_str()
            .expect("disposition")
            .contains("east-grid.csv")
    );
}

async fn administrators_set_gateways_and_devices_and_secrets_stay_unseen(host: TestHost) {
    host.sample_district("east").await;
    with_password(
        &host,
        "east-boss",
        Role::DistrictAdmin,
        "admin password one",
    )
    .await;
    with_password(&host, "east-eyes", Role::Auditor, "auditor password one").await;
    let mut auditor = Browser::new(&host);
    auditor.sign_in("east-eyes", "auditor password one").await;
    let page = auditor.get("/settings").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        !page.text().contains("/settings/devices?"),
        "no forms for auditors"
    );
    let auditor_csrf = hidden(&auditor.get("/").await, "csrf");
    let tried = auditor
        .post(
            "/settings/gateways",
            &[("csrf", &auditor_csrf), ("sms_url", "http://x/")],
        )
        .await;
    assert_eq!(tried.status, StatusCode::FORBIDDEN);

    let mut admin = Browser::new(&host);
    admin.sign_in("east-boss", "admin password one").await;
    let csrf = hidden(&admin.get("/settings").await, "csrf");
    // A bad URL is refused with the rule; nothing saved.
    let bad = admin
        .post(
            "/settings/gateways",
            &[("csrf", &csrf), ("sms_url", "ftp://gateway/")],
        )
        .await;
    assert_eq!(
        bad.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        bad.text()
    );
    let secret = "a very secret signing key";
    let saved = admin
        .post(
            "/settings/gateways",
            &[
                ("csrf", &csrf),
                ("sms_url", "http://10.0.0.5/sms"),
                ("secret", secret),
                ("rate_per_minute", "120"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text());
    let page = admin.get("/settings").await.text();
    assert!(
        page.contains("http://10.0.0.5/sms") && page.contains("已设置"),
        "{page}"
    );
    assert!(!page.contains(secret), "the secret is never shown back");
    // An empty secret field keeps the secret.
    admin
        .post(
            "/settings/gateways",
            &[
                ("csrf", &csrf),
                ("sms_url", "http://10.0.0.5/sms"),
                ("secret", ""),
            ],
        )
        .await;
    let kept = host
        .opened
        .platform
        .gateway_settings("east")
        .await
        .expect("settings");
    assert!(kept.secret_set);

    // A device: a bad kind is refused; a good one shows its token once.
    let bad = admin
        .post(
            "/settings/devices",
            &[("csrf", &csrf), ("id", "door-1"), ("kind", "teleporter")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().contains("door-sensor"), "names the kinds");
    let registered = admin
        .post(
            "/settings/devices",
            &[
                ("csrf", &csrf),
                ("id", "door-1"),
                ("kind", "door-sensor"),
                ("heartbeat_secs", "60"),
            ],
        )
        .await;
    assert_eq!(registered.status, StatusCode::OK, "{}", registered.text());
    let html = registered.text();
    let start = html.find("id=\"secret\">").expect("the token") + "id=\"secret\">".len();
    let token = html[start..start + html[start..].find('<').expect("end")].to_owned();
    assert!(token.starts_with("hdv_"), "{token}");
    assert!(!admin.get("/settings").await.text().contains(&token));
    // Silent past its heartbeat, it is marked offline.
    host.clock().set_ms(host.clock().now_ms() + 5 * 60_000);
    let offline = admin.get("/settings?offline=1").await.text();
    assert!(
        offline.contains("device-door-1") && offline.contains("离线"),
        "{offline}"
    );
    // A new token replaces the old; removing it takes it away.
    let rotated = admin
        .post("/settings/devices/door-1/rotate", &[("csrf", &csrf)])
        .await;
    assert_eq!(rotated.status, StatusCode::OK);
    assert!(!rotated.text().contains(&token));
    let removed = admin
        .post("/settings/devices/door-1/remove", &[("csrf", &csrf)])
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    assert!(
        !admin
            .get("/settings")
            .await
            .text()
            .contains("device-door-1")
    );
}

async fn administrators_set_how_cases_are_handled_in_the_console(host: TestHost) {
    host.sample_district("east").await;
    with_password(
        &host,
        "east-boss",
        Role::DistrictAdmin,
        "admin password one",
    )
    .await;
    with_password(&host, "east-eyes", Role::Auditor, "auditor password one").await;
    let mut admin = Browser::new(&host);
    admin.sign_in("east-boss", "admin password one").await;
    let page = admin.get("/settings/cases").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let csrf = hidden(&page, "csrf");
    let store = host.opened.platform.store().clone();

    // A category: a bad code is refused and nothing is added.
    let bad = admin
        .post(
            "/settings/cases/category",
            &[("csrf", &csrf), ("code", "Noise!"), ("name", "噪音")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        store
            .categories("east")
            .await
            .expect("categories")
            .is_empty()
    );
    let ok = admin
        .post(
            "/settings/cases/category",
            &[
                ("csrf", &csrf),
                ("code", "noise"),
                ("name", "噪音扰民"),
                ("group", "环境"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text());
    assert_eq!(
        store.categories("east").await.expect("categories")[0].name,
        "噪音扰民"
    );

    // A department needs a real tier.
    let bad = admin
        .post(
            "/settings/cases/department",
            &[
                ("csrf", &csrf),
                ("code", "office"),
                ("name", "街道办"),
                ("tier", "galaxy"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().contains("is not a tier"), "{}", bad.text());

    // A deadline row is added, then replaced, not doubled.
    for accept in ["30", "45"] {
        let saved = admin
            .post(
                "/settings/cases/deadline",
                &[
                    ("csrf", &csrf),
                    ("category", "*"),
                    ("priority", "normal"),
                    ("accept_minutes", accept),
                    ("handle_minutes", "1440"),
                    ("verify_minutes", "720"),
                ],
            )
            .await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text());
    }
    let deadlines = store.deadlines("east").await.expect("deadlines");
    let normal: Vec<_> = deadlines
        .iter()
        .filter(|d| d.category == "*" && d.accept_minutes == 45)
        .collect();
    assert_eq!(normal.len(), 1, "{deadlines:?}");
    assert!(
        !deadlines
            .iter()
            .any(|d| d.category == "*" && d.accept_minutes == 30)
    );

    // The policy.
    let saved = admin
        .post(
            "/settings/cases/policy",
            &[
                ("csrf", &csrf),
                ("reopen_days", "14"),
                ("auto_escalate", "yes"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let policy = store.case_policy("east").await.expect("policy");
    assert_eq!((policy.reopen_days, policy.auto_escalate), (14, true));

    // Open311: a private category that is not one is refused and changes
    // nothing; then reads need a key and `noise` is kept private.
    let cases = host.opened.platform.cases();
    let bad = admin
        .post(
            "/settings/cases/open311",
            &[("csrf", &csrf), ("private_services", "noise, nosuch")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.text().contains("`nosuch` is not a category"),
        "{}",
        bad.text()
    );
    assert!(
        cases
            .open311_policy("east")
            .await
            .expect("policy")
            .public_reads
    );
    assert!(
        cases.services("east").await.expect("services")[0]
            .settings
            .public
    );
    let saved = admin
        .post(
            "/settings/cases/open311",
            &[("csrf", &csrf), ("private_services", "noise")],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text());
    assert!(
        !cases
            .open311_policy("east")
            .await
            .expect("policy")
            .public_reads
    );
    assert!(
        !cases.services("east").await.expect("services")[0]
            .settings
            .public
    );
    let page = admin.get("/settings/cases").await;
    assert!(
        page.text()
            .contains(r#"name="private_services" value="noise""#),
        "{}",
        page.text()
    );

    // An auditor looks and changes nothing.
    let mut auditor = Browser::new(&host);
    auditor.sign_in("east-eyes", "auditor password one").await;
    let page = auditor.get("/settings/cases").await;
    assert!(page.text().contains("噪音扰民") && !page.text().contains("/settings/cases/category"));
    let auditor_csrf = hidden(&page, "csrf");
    let tried = auditor
        .post(
            "/settings/cases/policy",
            &[("csrf", &auditor_csrf), ("reopen_days", "1")],
        )
        .await;
    assert_eq!(tried.status, StatusCode::FORBIDDEN);
    assert_eq!(
        store.case_policy("east").await.expect("policy").reopen_days,
        14
    );
    let tried = auditor
        .post(
            "/settings/cases/open311",
            &[("csrf", &auditor_csrf), ("public_reads", "yes")],
        )
        .await;
    assert_eq!(tried.status, StatusCode::FORBIDDEN);
    assert!(
        !cases
            .open311_policy("east")
            .await
            .expect("policy")
            .public_reads
    );
}

async fn the_apps_page_shows_each_apps_calls_and_failures_by_cause(host: TestHost) {
    host.district("east").await;
    host.install_test_app("east", "test-app", false, "").await;
    host.install_test_app("east", "quiet", false, "").await;
    with_password(
        &host,
        "east-boss",
        Role::DistrictAdmin,
        "admin password one",
    )
    .await;
    for _ in 0..2 {
        assert_eq!(host.get("/d/east/apps/test-app/ping").await.text(), "pong");
    }
    let failed = host.get("/d/east/apps/test-app/panic").await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    let mut admin = Browser::new(&host);
    admin.sign_in("east-boss", "admin password one").await;
    let html = admin.get("/apps").await.text();
    let row = &html[html.find("id=\"app-test-app\"").expect("row")..];
    let row = &row[..row.find("</tr>").expect("end of row")];
    assert!(row.contains("本进程启动以来调用 3"), "{row}");
    assert!(row.contains("失败 1 (panic 1)"), "{row}");
    // An app never called shows no figures.
    let quiet = &html[html.find("id=\"app-quiet\"").expect("row")..];
    let quiet = &quiet[..quiet.find("</tr>").expect("end of row")];
    assert!(!quiet.contains("本进程启动以来"), "{quiet}");
}

async fn the_apps_page_lists_a_hundred_at_a_time(host: TestHost) {
    use sqlx::{Column, Row};
    host.district("east").await;
    host.install_test_app("east", "app-000", false, "").await;
    // 149 more installs: copies of the first under other names.
    let mut conn = host.raw_connection().await;
    let row = sqlx::query("SELECT * FROM installs WHERE app = 'app-000'")
        .fetch_one(&mut conn)
        .await
        .expect("the install");
    let columns: Vec<String> = row.columns().iter().map(|c| c.name().to_owned()).collect();
    for i in 1..150 {
        let select: Vec<String> = columns
            .iter()
            .map(|c| match c.as_str() {
                "app" => format!("'app-{i:03}'"),
                other => other.to_owned(),
            })
            .collect();
        sqlx::query(&format!(
            "INSERT INTO installs ({}) SELECT {} FROM installs WHERE app = 'app-000'",
            columns.join(", "),
            select.join(", ")
        ))
        .execute(&mut conn)
        .await
        .expect("copy");
    }
    with_password(
        &host,
        "east-boss",
        Role::DistrictAdmin,
        "admin password one",
    )
    .await;
    let mut admin = Browser::new(&host);
    admin.sign_in("east-boss", "admin password one").await;
    let first = admin.get("/apps").await.text();
    assert_eq!(first.matches("<tr id=\"app-").count(), 100);
    assert!(first.contains("app-099") && !first.contains("app-100"));
    assert!(
        first.contains("1 / 2") && first.contains("page=1"),
        "a link on"
    );
    let second = admin.get("/apps?page=1").await.text();
    assert_eq!(second.matches("<tr id=\"app-").count(), 50);
    assert!(second.contains("app-149") && !second.contains("id=\"app-app-000\""));
    // Past the end: the last page.
    let past = admin.get("/apps?page=9").await.text();
    assert!(past.contains("2 / 2"));
}

async fn the_accounts_page_lists_a_hundred_at_a_time(host: TestHost) {
    host.district("east").await;
    with_password(
        &host,
        "east-boss",
        Role::DistrictAdmin,
        "admin password one",
    )
    .await;
    for i in 0..120 {
        host.opened
            .platform
            .create_account(hutong_tests::account_request(
                &format!("resident-{i:03}"),
                Role::Resident,
                Some("east"),
            ))
            .await
            .expect("account");
    }
    let mut admin = Browser::new(&host);
    admin.sign_in("east-boss", "admin password one").await;
    let first = admin.get("/accounts").await.text();
    assert_eq!(first.matches("<tr id=\"account-").count(), 100);
    assert!(first.contains("1 / 2"), "a link on");
    let second = admin.get("/accounts?page=1").await.text();
    assert_eq!(second.matches("<tr id=\"account-").count(), 21);
}
