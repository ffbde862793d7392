//! The console in a real browser: headless Chromium driven over WebDriver
//! (Debian's `chromium` and `chromium-driver`, which `scripts/setup`
//! installs) against the host on a real socket.
//!
//! Without the browser these tests fail when `CI` is set, and elsewhere
//! say they were skipped. Screenshots of the pages go to
//! `$CARGO_TARGET_DIR/screenshots` (`target/screenshots` by default).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hutong_host::accounts::Role;
use hutong_tests::{Backend, TestHost, listen};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A running chromedriver, stopped when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A headless Chromium speaking zh-CN, or `None` (skipped) where the
/// machine has none and this is not CI.
async fn chromium() -> Option<(Driver, Client)> {
    let present =
        std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists();
    if !present {
        assert!(
            std::env::var_os("CI").is_none(),
            "the browser tests need {CHROMIUM} and {CHROMEDRIVER}: run `bash scripts/setup`"
        );
        eprintln!("skipped: no {CHROMIUM} or {CHROMEDRIVER} (`bash scripts/setup` installs them)");
        return None;
    }
    let port = {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        socket.local_addr().expect("address").port()
    };
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver(child);
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let options = serde_json::json!({
        "binary": CHROMIUM,
        "args": [
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--window-size=1280,900",
            "--lang=zh-CN",
        ],
        "prefs": { "intl.accept_languages": "zh-CN,zh" },
    });
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".into(), options);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session");
    Some((driver, client))
}

/// Where screenshots are kept.
fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(screenshots().join(format!("{name}.png")), png).expect("save screenshot");
}

async fn fill(client: &Client, css: &str, text: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .send_keys(text)
        .await
        .expect("type");
}

async fn submit(client: &Client) {
    client
        .find(Locator::Css("main form button[type=submit]"))
        .await
        .expect("the form's button")
        .click()
        .await
        .expect("click");
}

/// The page's text; empty while a navigation replaces the page.
async fn page_text(client: &Client) -> String {
    match client.find(Locator::Css("body")).await {
        Ok(body) => body.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Wait (at most 10 s) until the browser is at `expected`; where it is.
async fn arrive(client: &Client, expected: &str) -> String {
    let mut at = path(client).await;
    for _ in 0..100 {
        if at == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        at = path(client).await;
    }
    at
}

/// Wait (at most 10 s) until the page shows `text`; the page's text.
async fn shows(client: &Client, text: &str) -> String {
    let mut shown = page_text(client).await;
    for _ in 0..100 {
        if shown.contains(text) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        shown = page_text(client).await;
    }
    shown
}

async fn path(client: &Client) -> String {
    let url = client.current_url().await.expect("url");
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

/// A page on another site whose form posts to the host as soon as it loads.
async fn hostile_site(target: SocketAddr) -> SocketAddr {
    let page = format!(
        "<!doctype html><html><body>\
         <form id=f method=post action=\"http://{target}/sign-out\">\
         <input name=csrf value=guessed></form>\
         <script>document.getElementById('f').submit()</script></body></html>"
    );
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let page = page.clone();
            async move { axum::response::Html(page) }
        }),
    );
    listen(app).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_sets_a_password_signs_in_and_out_in_chromium() {
    let Some((_driver, client)) = chromium().await else {
        return;
    };
    let host = TestHost::new(Backend::Sqlite).await;
    host.district("east").await;
    host.account("wang-li", Role::Worker, Some("east")).await;
    let issued = host
        .post("/api/v1/accounts/wang-li/password-code", "")
        .await
        .json();
    let code = issued["code"].as_str().expect("code").to_owned();
    let addr = listen(host.app()).await;
    let base = format!("http://{addr}");

    // A visitor lands on the sign-in page, in Chinese.
    client.goto(&base).await.expect("open the host");
    assert_eq!(path(&client).await, "/sign-in");
    let html = client.source().await.expect("source");
    assert!(html.contains("lang=\"zh-CN\""), "{html}");
    screenshot(&client, "sign-in-zh-desktop").await;
    client
        .set_window_size(375, 800)
        .await
        .expect("narrow window");
    screenshot(&client, "sign-in-zh-375").await;
    client
        .set_window_size(1280, 900)
        .await
        .expect("wide window");

    // The code from the administrator sets the password.
    client
        .goto(&format!("{base}/set-password?code={code}"))
        .await
        .expect("open set-password");
    fill(&client, "#password", "lanterns over the hutong").await;
    fill(&client, "#repeat", "lanterns over the hutong").await;
    submit(&client).await;
    assert_eq!(
        arrive(&client, "/sign-in?done=password").await,
        "/sign-in?done=password"
    );
    assert!(shows(&client, "密码已设置").await.contains("密码已设置"));

    // A wrong password is refused, the right one signs in.
    fill(&client, "#account", "wang-li").await;
    fill(&client, "#password", "lanterns over the river").await;
    submit(&client).await;
    assert!(
        shows(&client, "账号或密码错误")
            .await
            .contains("账号或密码错误")
    );
    let account = client
        .find(Locator::Css("#account"))
        .await
        .expect("account");
    assert_eq!(
        account.prop("value").await.expect("value").as_deref(),
        Some("wang-li")
    );
    fill(&client, "#password", "lanterns over the hutong").await;
    submit(&client).await;
    assert_eq!(arrive(&client, "/").await, "/");
    let home = shows(&client, "欢迎").await;
    assert!(home.contains("欢迎") && home.contains("网格员"), "{home}");
    screenshot(&client, "home-zh-desktop").await;
    client
        .set_window_size(375, 800)
        .await
        .expect("narrow window");
    screenshot(&client, "home-zh-375").await;
    client
        .set_window_size(1280, 900)
        .await
        .expect("wide window");

    // Another origin's page posting to the host signs nobody out. It is on
    // the same site (another port), so the browser sends the cookie: the
    // host's token and origin checks are what refuse it.
    let hostile = hostile_site(addr).await;
    client
        .goto(&format!("http://{hostile}/"))
        .await
        .expect("open the hostile page");
    assert_eq!(arrive(&client, "/sign-out").await, "/sign-out");
    let refused = shows(&client, "表单已失效").await;
    assert!(refused.contains("表单已失效"), "{refused}");
    client.goto(&base).await.expect("back to the host");
    assert_eq!(path(&client).await, "/", "still signed in");

    // English from the switch, kept across pages.
    client
        .find(Locator::Css("header a.switch"))
        .await
        .expect("switch")
        .click()
        .await
        .expect("click");
    assert!(shows(&client, "Welcome").await.contains("Welcome"));
    screenshot(&client, "home-en-desktop").await;

    // Signing out ends the session.
    client
        .find(Locator::Css("form[action='/sign-out'] button"))
        .await
        .expect("sign-out button")
        .click()
        .await
        .expect("click");
    assert_eq!(arrive(&client, "/sign-in").await, "/sign-in");
    client.goto(&base).await.expect("open the host");
    assert_eq!(path(&client).await, "/sign-in", "signed out");
    client.close().await.expect("close the browser");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_suspends_an_app_in_chromium() {
    let Some((_driver, client)) = chromium().await else {
        return;
    };
    let host = TestHost::new(Backend::Sqlite).await;
    host.district("east").await;
    host.install_test_app("east", "test-app", false, "").await;
    host.account("li-na", Role::DistrictAdmin, Some("east"))
        .await;
    let code = host
        .post("/api/v1/accounts/li-na/password-code", "")
        .await
        .json()["code"]
        .as_str()
        .expect("code")
        .to_owned();
    let addr = listen(host.app()).await;
    let base = format!("http://{addr}");
    client
        .goto(&format!("{base}/set-password?code={code}"))
        .await
        .expect("open set-password");
    fill(&client, "#password", "courtyard gate keys").await;
    fill(&client, "#repeat", "courtyard gate keys").await;
    submit(&client).await;
    arrive(&client, "/sign-in?done=password").await;
    fill(&client, "#account", "li-na").await;
    fill(&client, "#password", "courtyard gate keys").await;
    submit(&client).await;
    assert_eq!(arrive(&client, "/").await, "/");

    client
        .find(Locator::LinkText("应用"))
        .await
        .expect("the apps link")
        .click()
        .await
        .expect("click");
    assert_eq!(arrive(&client, "/apps").await, "/apps");
    assert!(shows(&client, "运行中").await.contains("test-app"));
    screenshot(&client, "apps-zh-desktop").await;
    client
        .find(Locator::Css("#app-test-app button"))
        .await
        .expect("the suspend button")
        .click()
        .await
        .expect("click");
    let page = shows(&client, "应用已暂停").await;
    assert!(page.contains("已暂停"), "{page}");
    assert_eq!(
        host.get("/d/east/apps/test-app/ping").await.status,
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    );
    client
        .set_window_size(375, 800)
        .await
        .expect("narrow window");
    screenshot(&client, "apps-zh-375").await;
    client.close().await.expect("close the browser");
}

/// Give `id` a password and sign in as them in the browser.
async fn sign_in_as(client: &Client, host: &TestHost, base: &str, id: &str) {
    let sign_in = host.opened.platform.sign_in();
    let code = sign_in.issue_code(id, "admin").await.expect("code").code;
    sign_in
        .redeem_code(&code, "courtyard gate keys")
        .await
        .expect("password set");
    client
        .goto(&format!("{base}/sign-in"))
        .await
        .expect("open sign-in");
    fill(client, "#account", id).await;
    fill(client, "#password", "courtyard gate keys").await;
    submit(client).await;
    assert_eq!(arrive(client, "/").await, "/", "signed in");
}

/// A page an app serves that tries, with the signed-in person's cookies,
/// everything an app's page must not do, and lists what became of each.
fn hostile_app_page(port: u16) -> String {
    format!(
        r#"<!doctype html><meta charset=utf-8><title>evil</title>
<pre id=results></pre>
<form id=suspend method=post action="http://127.0.0.1:{port}/apps/victim/suspend" target=sink>
<input name=csrf value=guessed></form>
<iframe name=sink></iframe>
<script>
const CONSOLE = "http://127.0.0.1:{port}", VICTIM = "http://victim.east.apps.localhost:{port}";
const out = [];
function note(name, outcome) {{
  out.push(name + ": " + outcome);
  document.getElementById("results").textContent = out.join("\n");
}}
async function read(name, url) {{
  try {{
    const r = await fetch(url, {{ credentials: "include" }});
    note(name, "LEAK " + r.status + " " + (await r.text()).slice(0, 80));
  }} catch (e) {{ note(name, "blocked"); }}
}}
(async () => {{
  await read("read-console", CONSOLE + "/apps");
  await read("read-api", CONSOLE + "/api/v1/districts/east/installs");
  await read("read-victim", VICTIM + "/d/east/apps/victim/echo");
  try {{
    await fetch(VICTIM + "/d/east/apps/victim/kv/insert?key=stolen",
      {{ method: "POST", mode: "no-cors", credentials: "include", body: "x" }});
    note("write-victim", "sent");
  }} catch (e) {{ note("write-victim", "blocked"); }}
  try {{
    const r = await fetch("/d/east/apps/victim/echo", {{ credentials: "include" }});
    note("victim-on-this-origin", r.status === 404 ? "blocked" : "LEAK " + r.status);
  }} catch (e) {{ note("victim-on-this-origin", "blocked"); }}
  note("cookies", document.cookie === "" ? "blocked" : "LEAK " + document.cookie);
  document.getElementById("suspend").submit();
  note("suspend-victim", "sent");
  const frame = document.createElement("iframe");
  frame.src = CONSOLE + "/apps";
  document.body.appendChild(frame);
  await new Promise(r => setTimeout(r, 1500));
  let framed = null;
  try {{ framed = frame.contentDocument && frame.contentDocument.body.innerText; }} catch (e) {{}}
  note("frame-console", framed ? "LEAK " + framed.slice(0, 80) : "blocked");
  note("done", "yes");
}})();
</script>"#
    )
}

/// A page of the victim's own that writes to it from its origin.
const OWN_APP_PAGE: &str = r#"<!doctype html><meta charset=utf-8><title>victim</title>
<pre id=results></pre>
<script>
fetch("/d/east/apps/victim/kv/insert?key=mine", { method: "POST", body: "x" })
  .then(r => r.text().then(t => { document.getElementById("results").textContent = "own: " + r.status + " " + t; }));
</script>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_page_opens_on_its_own_origin_and_cannot_act_beyond_its_app() {
    let Some((_driver, client)) = chromium().await else {
        return;
    };
    let host = TestHost::new(Backend::Sqlite).await;
    host.district("east").await;
    host.install_test_app("east", "victim", true, "").await;
    host.install_test_app("east", "evil", true, "").await;
    host.account("li-na", Role::DistrictAdmin, Some("east"))
        .await;
    let addr = listen(host.app()).await;
    let base = format!("http://{addr}");
    let evil_page = hostile_app_page(addr.port());
    let stored = host
        .put("/d/east/apps/evil/kv/set?key=page/attack", evil_page)
        .await;
    assert_eq!(stored.status, axum::http::StatusCode::NO_CONTENT);
    let stored = host
        .put("/d/east/apps/victim/kv/set?key=page/own", OWN_APP_PAGE)
        .await;
    assert_eq!(stored.status, axum::http::StatusCode::NO_CONTENT);
    sign_in_as(&client, &host, &base, "li-na").await;

    // The app's page opens from the console's origin, on the app's own
    // origin, with the person signed in to it.
    client
        .goto(&format!("{base}/d/east/apps/victim/echo"))
        .await
        .expect("open the app");
    let seen = shows(&client, "li-na").await;
    assert!(seen.contains(r#""account_id":"li-na""#), "{seen}");
    let url = client.current_url().await.expect("url");
    assert_eq!(url.host_str(), Some("victim.east.apps.localhost"));
    assert_eq!(url.path(), "/d/east/apps/victim/echo");

    // Its own page may change what is its own.
    client
        .goto(&format!("{base}/d/east/apps/victim/page?name=own"))
        .await
        .expect("open the app's page");
    let own = shows(&client, "own: ").await;
    assert!(own.contains(r#"own: 200 {"inserted":true}"#), "{own}");

    // Another app's page tries everything with the same person's cookies.
    client
        .goto(&format!("{base}/d/east/apps/evil/page?name=attack"))
        .await
        .expect("open the hostile page");
    let results = shows(&client, "done: yes").await;
    for attempt in [
        "read-console: blocked",
        "read-api: blocked",
        "read-victim: blocked",
        "victim-on-this-origin: blocked",
        "cookies: blocked",
        "frame-console: blocked",
        "done: yes",
    ] {
        assert!(results.contains(attempt), "{attempt} in:\n{results}");
    }
    assert!(!results.contains("LEAK"), "{results}");
    // What it sent changed nothing.
    assert_eq!(
        host.get("/d/east/apps/victim/kv/get?key=stolen")
            .await
            .status,
        axum::http::StatusCode::NOT_FOUND,
        "the victim's kv was not written"
    );
    assert_eq!(
        host.get("/d/east/apps/victim/kv/get?key=mine").await.status,
        axum::http::StatusCode::OK
    );
    assert_eq!(
        host.get("/d/east/apps/victim/ping").await.text(),
        "pong",
        "the victim was not suspended"
    );

    // Signing out of the console signs out of the apps too.
    client.goto(&base).await.expect("console");
    client
        .find(Locator::Css("form[action='/sign-out'] button"))
        .await
        .expect("sign-out button")
        .click()
        .await
        .expect("click");
    arrive(&client, "/sign-in").await;
    client
        .goto(&format!(
            "http://victim.east.apps.localhost:{}/d/east/apps/victim/echo/public/x",
            addr.port()
        ))
        .await
        .expect("the app again");
    let after = shows(&client, "caller").await;
    assert!(after.contains(r#""caller":null"#), "{after}");
    client.close().await.expect("close the browser");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_sees_reads_denials_and_a_tampered_log_in_chromium() {
    use hutong_host::kernel::manifest::Permission;
    let Some((_driver, client)) = chromium().await else {
        return;
    };
    let host = TestHost::new(Backend::Sqlite).await;
    host.sample_district("east").await;
    host.install(
        "east",
        &hutong_tests::test_app_manifest("reader", ""),
        hutong_tests::components::TEST_APP,
        &[Permission::ReadResidents],
    )
    .await
    .expect("install");
    let read = host.get("/d/east/apps/reader/data/residents?limit=3").await;
    assert_eq!(read.status, axum::http::StatusCode::OK, "{}", read.text());
    let denied = host
        .get("/d/east/apps/reader/data/households?building=b-1")
        .await;
    assert_eq!(
        denied.status,
        axum::http::StatusCode::FORBIDDEN,
        "{}",
        denied.text()
    );
    host.account("zhao-min", Role::Auditor, Some("east")).await;
    let addr = listen(host.app()).await;
    let base = format!("http://{addr}");
    sign_in_as(&client, &host, &base, "zhao-min").await;

    // From the apps page to the install's audit page.
    client.goto(&format!("{base}/apps")).await.expect("apps");
    client
        .find(Locator::Css("#app-reader a[href^='/audit/reader']"))
        .await
        .expect("the audit link")
        .click()
        .await
        .expect("click");
    let page = shows(&client, "它做了什么").await;
    // What it may do: asked, granted, the plain words, never used.
    assert!(page.contains("read-personal-fields"), "{page}");
    assert!(
        page.contains("读取居民的完整姓名、电话号码、身份证号"),
        "{page}"
    );
    assert!(page.contains("未授予"), "{page}");
    // What it did, and what was denied.
    let did = client
        .find(Locator::Css("section[aria-labelledby=did-do] table"))
        .await
        .expect("the log")
        .text()
        .await
        .expect("text");
    assert!(
        did.contains("query-residents") && did.contains("已脱敏"),
        "{did}"
    );
    let denials = client
        .find(Locator::Css("section[aria-labelledby=denied] table"))
        .await
        .expect("the denials")
        .text()
        .await
        .expect("text");
    assert!(
        denials.contains("read-households") && denials.contains("拒绝"),
        "{denials}"
    );
    assert!(!denials.contains("query-residents"), "{denials}");
    screenshot(&client, "audit-zh-desktop").await;

    // Filtered to denials only.
    client
        .find(Locator::Css("#outcome option[value=denied]"))
        .await
        .expect("the denied option")
        .click()
        .await
        .expect("choose");
    client
        .find(Locator::Css("form.filter button[type=submit]"))
        .await
        .expect("filter")
        .click()
        .await
        .expect("click");
    for _ in 0..100 {
        if path(&client).await.contains("outcome=denied") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(path(&client).await.contains("outcome=denied"));
    let filtered = client
        .find(Locator::Css("section[aria-labelledby=did-do] table"))
        .await
        .expect("the log")
        .text()
        .await
        .expect("text");
    assert!(filtered.contains("read-households"), "{filtered}");
    assert!(!filtered.contains("query-residents"), "{filtered}");

    // The log is intact, until someone changes an entry behind the host.
    client
        .find(Locator::Css("#verify"))
        .await
        .expect("verify")
        .click()
        .await
        .expect("click");
    let intact = shows(&client, "日志完整").await;
    assert!(intact.contains("日志完整。已核验条目数： 2"), "{intact}");
    let changed = host
        .execute_raw(
            "UPDATE access_log SET record_ids = '[]', record_count = 0 \
             WHERE seq = (SELECT MIN(seq) FROM access_log)",
        )
        .await;
    assert_eq!(changed, 1);
    client.refresh().await.expect("verify again");
    let broken = shows(&client, "日志已被篡改").await;
    assert!(
        broken.contains("was changed after it was written"),
        "{broken}"
    );
    client
        .set_window_size(375, 800)
        .await
        .expect("narrow window");
    screenshot(&client, "audit-zh-375").await;
    client.close().await.expect("close the browser");
}

/// The example app's manifest at `version`: it asks for kv and schedules,
/// and from 1.1.0 on to receive door events too.
fn hello_release(version: &str) -> String {
    let events = if version == "1.0.0" {
        ""
    } else {
        "receive-events = \"Greets whoever opens the door.\"\n"
    };
    let subscription = if version == "1.0.0" {
        ""
    } else {
        "[events]\ntypes = [\"door.open\"]\n"
    };
    format!(
        r#"name = "hello"
version = "{version}"
description = "Greets visitors and counts their visits."
host-api = "^0.1"

[permissions]
kv = "Counts how many times each visitor was greeted."
schedules = "Tidies the visit counts every hour."
{events}
[http]
public = ["/", "/greet/*", "/visits", "/ping"]

[[schedules]]
name = "tidy"
every = "1h"

{subscription}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_installs_upgrades_and_rolls_back_with_consent_in_chromium() {
    use hutong_host::kernel::manifest::Permission;
    use hutong_registry::{DirRegistry, KeyPair, PublishRequest};
    let Some((_driver, client)) = chromium().await else {
        return;
    };
    let tmp = tempfile::tempdir().expect("temporary directory");
    let registry = DirRegistry::create(tmp.path().join("registry")).expect("registry");
    let location = format!(
        "http://{}",
        listen(hutong_registry::serve::router(registry.clone())).await
    );
    let key = KeyPair::from_secret([7; 32]);
    let publish = |version: &str| {
        let request = PublishRequest::sign(
            hello_release(version).into_bytes(),
            std::fs::read(hutong_tests::components::HELLO).expect("component"),
            &key,
        )
        .expect("signed");
        registry.publish_now(&request).expect("published");
    };
    publish("1.0.0");
    let host = TestHost::new(Backend::Sqlite).await;
    host.sample_district("east").await;
    host.opened
        .platform
        .trust_key("east", &key.public().to_hex(), "Example Co.")
        .await
        .expect("trust");
    host.account("li-na", Role::DistrictAdmin, Some("east"))
        .await;
    let addr = listen(host.app()).await;
    let base = format!("http://{addr}");
    sign_in_as(&client, &host, &base, "li-na").await;

    // The consent screen: every permission in plain words, none ticked.
    client.goto(&format!("{base}/apps")).await.expect("apps");
    client
        .find(Locator::LinkText("安装应用"))
        .await
        .expect("install link")
        .click()
        .await
        .expect("click");
    fill(&client, "#registry", &location).await;
    fill(&client, "#package", "hello@^1").await;
    client
        .find(Locator::Css("form[method=get] button[type=submit]"))
        .await
        .expect("show")
        .click()
        .await
        .expect("click");
    let consent = shows(&client, "安装前请确认授予的权限").await;
    assert!(consent.contains("在平台上保存自己的数据"), "{consent}");
    assert!(
        consent.contains("Counts how many times each visitor was greeted."),
        "{consent}"
    );
    assert!(consent.contains("按清单中的时间表定时运行"), "{consent}");
    for grant in ["#grant-kv", "#grant-schedules"] {
        let ticked = client
            .find(Locator::Css(grant))
            .await
            .expect("checkbox")
            .prop("checked")
            .await
            .expect("checked");
        assert_eq!(ticked.as_deref(), Some("false"), "{grant} starts unticked");
    }
    screenshot(&client, "install-zh-desktop").await;
    // Grant kv only, and narrow it to one community.
    client
        .find(Locator::Css("#grant-kv"))
        .await
        .expect("kv")
        .click()
        .await
        .expect("tick");
    let community = client
        .find(Locator::Css("input[name=community]"))
        .await
        .expect("a community");
    let community_id = community.attr("value").await.expect("value").expect("id");
    community.click().await.expect("tick");
    client
        .find(Locator::Css("form[method=post] button[type=submit]"))
        .await
        .expect("install")
        .click()
        .await
        .expect("click");
    shows(&client, "应用已安装").await;
    let install = host
        .opened
        .platform
        .store()
        .get_install("east", "hello")
        .await
        .expect("installed");
    assert_eq!(install.version, "1.0.0");
    assert_eq!(
        install.granted.iter().copied().collect::<Vec<_>>(),
        vec![Permission::Kv],
        "only what was ticked"
    );
    assert_eq!(install.scope, Some(vec![community_id]));

    // A new release adds a permission: the upgrade asks for it.
    publish("1.1.0");
    client
        .find(Locator::Css("#app-hello a.upgrade"))
        .await
        .expect("upgrade link")
        .click()
        .await
        .expect("click");
    let upgrade = shows(&client, "升级前请确认变化").await;
    assert!(
        upgrade.contains("1.0.0") && upgrade.contains("1.1.0"),
        "{upgrade}"
    );
    assert!(upgrade.contains("接收清单中订阅的设备事件"), "{upgrade}");
    assert!(
        upgrade.contains("Greets whoever opens the door."),
        "{upgrade}"
    );
    screenshot(&client, "upgrade-zh-desktop").await;
    client
        .find(Locator::Css("#grant-receive-events"))
        .await
        .expect("the added permission")
        .click()
        .await
        .expect("tick");
    client
        .find(Locator::Css("form[method=post] button[type=submit]"))
        .await
        .expect("upgrade")
        .click()
        .await
        .expect("click");
    shows(&client, "应用已升级").await;
    let upgraded = host
        .opened
        .platform
        .store()
        .get_install("east", "hello")
        .await
        .expect("upgraded");
    assert_eq!(upgraded.version, "1.1.0");
    assert!(upgraded.granted.contains(&Permission::ReceiveEvents));
    assert!(!upgraded.granted.contains(&Permission::Schedules));

    // And back.
    client
        .find(Locator::Css("#app-hello form.rollback button"))
        .await
        .expect("rollback button")
        .click()
        .await
        .expect("click");
    shows(&client, "应用已回滚").await;
    let back = host
        .opened
        .platform
        .store()
        .get_install("east", "hello")
        .await
        .expect("rolled back");
    assert_eq!(back.version, "1.0.0");
    assert!(!back.granted.contains(&Permission::ReceiveEvents));
    client
        .set_window_size(375, 800)
        .await
        .expect("narrow window");
    client
        .goto(&format!(
            "{base}/install?registry={}&package=hello%40%5E1",
            location.replace('/', "%2F").replace(':', "%3A")
        ))
        .await
        .expect("the upgrade screen again");
    shows(&client, "升级前请确认变化").await;
    screenshot(&client, "upgrade-zh-375").await;
    client.close().await.expect("close the browser");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_creates_an_account_whose_holder_signs_in_in_chromium() {
    let Some((_driver, client)) = chromium().await else {
        return;
    };
    let host = TestHost::new(Backend::Sqlite).await;
    host.sample_district("east").await;
    host.account("li-na", Role::DistrictAdmin, Some("east"))
        .await;
    let addr = listen(host.app()).await;
    let base = format!("http://{addr}");
    sign_in_as(&client, &host, &base, "li-na").await;
    client
        .find(Locator::LinkText("账号"))
        .await
        .expect("the accounts link")
        .click()
        .await
        .expect("click");
    shows(&client, "新建账号").await;
    fill(&client, "#id", "wang-li").await;
    fill(&client, "#display_name", "王丽").await;
    fill(&client, "#grids", "c-xingfu-g1").await;
    client
        .find(Locator::Css(
            "section[aria-labelledby=new-account] button[type=submit]",
        ))
        .await
        .expect("create")
        .click()
        .await
        .expect("click");
    let created = shows(&client, "账号已创建").await;
    assert!(created.contains("账号已创建"), "{created}");
    screenshot(&client, "accounts-zh-desktop").await;
    client
        .find(Locator::Css("#account-wang-li button.code"))
        .await
        .expect("issue a code")
        .click()
        .await
        .expect("click");
    shows(&client, "只显示这一次").await;
    let link = client
        .find(Locator::Css("#link"))
        .await
        .expect("the link")
        .text()
        .await
        .expect("text");
    client
        .set_window_size(375, 800)
        .await
        .expect("narrow window");
    screenshot(&client, "code-zh-375").await;
    client
        .goto(&format!("{base}/accounts"))
        .await
        .expect("accounts");
    screenshot(&client, "accounts-zh-375").await;
    client
        .set_window_size(1280, 900)
        .await
        .expect("wide window");

    // The administrator signs out; the worker redeems the link.
    client.goto(&base).await.expect("home");
    client
        .find(Locator::Css("form[action='/sign-out'] button"))
        .await
        .expect("sign-out button")
        .click()
        .await
        .expect("click");
    arrive(&client, "/sign-in").await;
    client.goto(&link).await.expect("the set-password link");
    fill(&client, "#password", "gate by the well").await;
    fill(&client, "#repeat", "gate by the well").await;
    submit(&client).await;
    arrive(&client, "/sign-in?done=password").await;
    screenshot(&client, "set-password-done-zh-desktop").await;
    fill(&client, "#account", "wang-li").await;
    fill(&client, "#password", "gate by the well").await;
    submit(&client).await;
    let home = shows(&client, "王丽").await;
    assert!(home.contains("网格员"), "{home}");
    client.close().await.expect("close the browser");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_administrator_creates_a_district_in_chromium() {
    let Some((_driver, client)) = chromium().await else {
        return;
    };
    let host = TestHost::new(Backend::Sqlite).await;
    host.district("east").await;
    host.install_test_app("east", "test-app", false, "").await;
    host.account("mayor", Role::PlatformAdmin, None).await;
    let addr = listen(host.app()).await;
    let base = format!("http://{addr}");
    sign_in_as(&client, &host, &base, "mayor").await;
    client
        .find(Locator::LinkText("全市"))
        .await
        .expect("the city link")
        .click()
        .await
        .expect("click");
    shows(&client, "全市所有应用").await;
    fill(&client, "#id", "west").await;
    fill(&client, "#name", "西城").await;
    fill(&client, "#admin", "west-boss").await;
    fill(&client, "#admin_name", "赵敏").await;
    client
        .find(Locator::Css(
            "form[action='/city/districts'] button[type=submit]",
        ))
        .await
        .expect("create")
        .click()
        .await
        .expect("click");
    let page = shows(&client, "账号已创建").await;
    assert!(
        page.contains("西城") && page.contains("west-boss"),
        "{page}"
    );
    assert!(page.contains("test-app"), "{page}");
    screenshot(&client, "city-zh-desktop").await;
    client
        .set_window_size(375, 800)
        .await
        .expect("narrow window");
    screenshot(&client, "city-zh-375").await;
    client.close().await.expect("close the browser");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grid_worker_opens_smart_care_and_logs_a_visit_in_chromium() {
    use hutong_host::kernel::manifest::{Manifest, Permission};
    let Some((_driver, client)) = chromium().await else {
        return;
    };
    let host = TestHost::new(Backend::Sqlite).await;
    host.sample_district("east").await;
    let manifest =
        std::fs::read_to_string(hutong_tests::components::SMART_CARE_MANIFEST).expect("manifest");
    let declared: Vec<Permission> = Manifest::from_toml(&manifest)
        .expect("manifest")
        .permissions
        .keys()
        .copied()
        .collect();
    host.install(
        "east",
        &manifest,
        hutong_tests::components::SMART_CARE,
        &declared,
    )
    .await
    .expect("install smart care");
    // The app builds its roster on its schedule: run it.
    host.clock().set_ms(host.clock().now_ms() + 6 * 60_000);
    host.opened.platform.run_due_ticks().await.expect("ticks");
    let token = host.worker("w1", "east", &["c-xingfu-g1"]).await;
    let addr = listen(host.app()).await;
    let base = format!("http://{addr}");
    sign_in_as(&client, &host, &base, "w1").await;

    client
        .goto(&format!("{base}/d/east/apps/smart-care/"))
        .await
        .expect("open smart care");
    let page = shows(&client, "Smart care").await;
    assert!(page.contains("Smart care (智慧关怀)"), "{page}");
    let url = client.current_url().await.expect("url");
    assert_eq!(url.host_str(), Some("smart-care.east.apps.localhost"));
    screenshot(&client, "smart-care-worker-desktop").await;
    let form = client
        .find(Locator::Css("form[action^='residents/']"))
        .await
        .expect("a resident's visit form");
    let action = form.attr("action").await.expect("attr").expect("action");
    let resident = action
        .strip_prefix("residents/")
        .and_then(|a| a.strip_suffix("/visits"))
        .expect("resident id")
        .to_owned();
    form.find(Locator::Css("input[name=note]"))
        .await
        .expect("note")
        .send_keys("上门看望，一切安好")
        .await
        .expect("type");
    form.find(Locator::Css("button"))
        .await
        .expect("save")
        .click()
        .await
        .expect("click");
    shows(&client, "Smart care").await;
    let visits = host
        .get_as(
            Some(&token),
            &format!("/d/east/apps/smart-care/api/residents/{resident}/visits"),
        )
        .await;
    assert_eq!(
        visits.status,
        axum::http::StatusCode::OK,
        "{}",
        visits.text()
    );
    let visits = visits.json();
    assert_eq!(
        visits["visits"][0]["note"], "上门看望，一切安好",
        "{visits}"
    );
    assert_eq!(visits["visits"][0]["by"], "w1", "{visits}");
    client.close().await.expect("close the browser");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_imports_community_data_and_sees_each_bad_line_in_chromium() {
    let Some((_driver, client)) = chromium().await else {
        return;
    };
    let host = TestHost::new(Backend::Sqlite).await;
    host.district("east").await;
    host.account("li-na", Role::DistrictAdmin, Some("east"))
        .await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let good = [
        r#"{"kind":"street","id":"s1","name":"东湖街道"}"#,
        r#"{"kind":"community","id":"c1","street_id":"s1","name":"幸福社区"}"#,
    ]
    .join("\n");
    let bad = format!(
        "{good}\n{}",
        r#"{"kind":"grid","id":"g2","community_id":"c-nowhere","name":"二网格"}"#
    );
    let (good_file, bad_file) = (dir.path().join("good.jsonl"), dir.path().join("bad.jsonl"));
    std::fs::write(&good_file, good).expect("write");
    std::fs::write(&bad_file, bad).expect("write");
    let addr = listen(host.app()).await;
    let base = format!("http://{addr}");
    sign_in_as(&client, &host, &base, "li-na").await;
    client
        .find(Locator::LinkText("社区数据"))
        .await
        .expect("the data link")
        .click()
        .await
        .expect("click");
    shows(&client, "导入文件").await;
    let upload = |file: std::path::PathBuf| {
        let client = client.clone();
        async move {
            client
                .find(Locator::Css("#file"))
                .await
                .expect("file input")
                .send_keys(&file.display().to_string())
                .await
                .expect("choose file");
            client
                .find(Locator::Css("form[enctype] button[type=submit]"))
                .await
                .expect("import")
                .click()
                .await
                .expect("click");
        }
    };
    upload(bad_file).await;
    let refused = shows(&client, "导入被拒绝").await;
    assert!(refused.contains("c-nowhere"), "{refused}");
    assert!(host.export("east").await.is_empty(), "nothing written");
    screenshot(&client, "data-bad-lines-zh-desktop").await;
    upload(good_file).await;
    let imported = shows(&client, "已导入").await;
    assert!(imported.contains("新增 2"), "{imported}");
    assert_eq!(host.export("east").await.len(), 2);
    client
        .set_window_size(375, 800)
        .await
        .expect("narrow window");
    screenshot(&client, "data-zh-375").await;
    client.close().await.expect("close the browser");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_finds_an_app_in_the_catalogue_in_chromium() {
    use hutong_registry::{DirRegistry, KeyPair, PublishRequest};
    let Some((_driver, client)) = chromium().await else {
        return;
    };
    let tmp = tempfile::tempdir().expect("temporary directory");
    let registry = DirRegistry::create(tmp.path().join("registry")).expect("registry");
    let location = format!(
        "http://{}",
        listen(hutong_registry::serve::router(registry.clone())).await
    );
    let key = KeyPair::from_secret([7; 32]);
    for version in ["1.0.0", "1.1.0"] {
        let request = PublishRequest::sign(
            hello_release(version).into_bytes(),
            std::fs::read(hutong_tests::components::HELLO).expect("component"),
            &key,
        )
        .expect("signed");
        registry.publish_now(&request).expect("published");
    }
    let host = TestHost::new(Backend::Sqlite).await;
    host.district("east").await;
    host.opened
        .platform
        .trust_key("east", &key.public().to_hex(), "Example Co.")
        .await
        .expect("trust");
    host.account("li-na", Role::DistrictAdmin, Some("east"))
        .await;
    let addr = listen(host.app()).await;
    let base = format!("http://{addr}");
    sign_in_as(&client, &host, &base, "li-na").await;
    client.goto(&format!("{base}/apps")).await.expect("apps");
    client
        .find(Locator::LinkText("应用目录"))
        .await
        .expect("the catalogue link")
        .click()
        .await
        .expect("click");
    let empty = shows(&client, "目录中还没有应用").await;
    assert!(empty.contains("目录中还没有应用"), "{empty}");
    fill(&client, "#location", &location).await;
    client
        .find(Locator::Css(
            "form[action^='/catalogue/registries/add'] button",
        ))
        .await
        .expect("add")
        .click()
        .await
        .expect("click");
    let listed = shows(&client, "应用仓库已添加").await;
    assert!(listed.contains("1.1.0, 1.0.0"), "{listed}");
    assert!(
        listed.contains("Greets visitors and counts their visits."),
        "{listed}"
    );
    assert!(listed.contains("本辖区已信任"), "{listed}");
    screenshot(&client, "catalogue-zh-desktop").await;
    client
        .find(Locator::Css("#package-hello a.install"))
        .await
        .expect("the install link")
        .click()
        .await
        .expect("click");
    let consent = shows(&client, "安装前请确认授予的权限").await;
    assert!(consent.contains("1.1.0"), "{consent}");
    client
        .set_window_size(375, 800)
        .await
        .expect("narrow window");
    client
        .goto(&format!("{base}/catalogue"))
        .await
        .expect("catalogue");
    screenshot(&client, "catalogue-zh-375").await;
    client.close().await.expect("close the browser");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_registers_a_device_and_sees_its_token_once_in_chromium() {
    let Some((_driver, client)) = chromium().await else {
        return;
    };
    let host = TestHost::new(Backend::Sqlite).await;
    host.sample_district("east").await;
    host.account("li-na", Role::DistrictAdmin, Some("east"))
        .await;
    let addr = listen(host.app()).await;
    let base = format!("http://{addr}");
    sign_in_as(&client, &host, &base, "li-na").await;
    client
        .find(Locator::LinkText("设置"))
        .await
        .expect("the settings link")
        .click()
        .await
        .expect("click");
    shows(&client, "登记设备").await;
    fill(&client, "#device-id", "door-0101").await;
    client
        .find(Locator::Css(
            "form[action^='/settings/devices'] button[type=submit]",
        ))
        .await
        .expect("register")
        .click()
        .await
        .expect("click");
    let once = shows(&client, "只显示这一次").await;
    let token = client
        .find(Locator::Css("#secret"))
        .await
        .expect("the token")
        .text()
        .await
        .expect("text");
    assert!(token.starts_with("hdv_"), "{once}");
    client
        .goto(&format!("{base}/settings"))
        .await
        .expect("settings");
    let page = shows(&client, "door-0101").await;
    assert!(!page.contains(&token), "shown once only");
    screenshot(&client, "settings-zh-desktop").await;
    client
        .set_window_size(375, 800)
        .await
        .expect("narrow window");
    screenshot(&client, "settings-zh-375").await;
    client.close().await.expect("close the browser");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_with_the_keyboard_alone_and_sees_where_focus_is() {
    const TAB: &str = "\u{E004}";
    const ENTER: &str = "\u{E007}";
    let Some((_driver, client)) = chromium().await else {
        return;
    };
    let host = TestHost::new(Backend::Sqlite).await;
    host.district("east").await;
    host.account("wang-li", Role::Worker, Some("east")).await;
    let sign_in = host.opened.platform.sign_in();
    let code = sign_in
        .issue_code("wang-li", "admin")
        .await
        .expect("code")
        .code;
    sign_in
        .redeem_code(&code, "courtyard gate keys")
        .await
        .expect("password");
    let addr = listen(host.app()).await;
    client
        .goto(&format!("http://{addr}/sign-in"))
        .await
        .expect("open sign-in");
    let active_id = || async {
        client
            .execute("return document.activeElement.id", vec![])
            .await
            .expect("script")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    // The account field has focus on arrival, with a visible outline.
    assert_eq!(active_id().await, "account");
    let outline = client
        .execute(
            "return getComputedStyle(document.activeElement).outlineStyle",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(outline.as_str(), Some("solid"), "focus is visible");
    let active = client.active_element().await.expect("focused");
    active.send_keys("wang-li").await.expect("type");
    active.send_keys(TAB).await.expect("tab");
    assert_eq!(active_id().await, "password");
    client
        .active_element()
        .await
        .expect("focused")
        .send_keys(&format!("courtyard gate keys{ENTER}"))
        .await
        .expect("type and submit");
    assert_eq!(arrive(&client, "/").await, "/");
    client.close().await.expect("close the browser");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resident_and_an_auditor_sign_in_and_see_their_role_in_chromium() {
    let Some((_driver, client)) = chromium().await else {
        return;
    };
    let host = TestHost::new(Backend::Sqlite).await;
    host.district("east").await;
    host.account("zhang-san", Role::Resident, Some("east"))
        .await;
    host.account("zhao-min", Role::Auditor, Some("east")).await;
    let addr = listen(host.app()).await;
    let base = format!("http://{addr}");
    for (id, role) in [("zhang-san", "居民"), ("zhao-min", "审计员")] {
        sign_in_as(&client, &host, &base, id).await;
        let home = shows(&client, role).await;
        assert!(home.contains(id) && home.contains(role), "{home}");
        client
            .find(Locator::Css("form[action='/sign-out'] button"))
            .await
            .expect("sign-out button")
            .click()
            .await
            .expect("click");
        assert_eq!(arrive(&client, "/sign-in").await, "/sign-in");
    }
    // Five wrong passwords for one account: then even the right one waits.
    for _ in 0..5 {
        client
            .goto(&format!("{base}/sign-in"))
            .await
            .expect("sign-in");
        fill(&client, "#account", "zhao-min").await;
        fill(&client, "#password", "not the password at all").await;
        submit(&client).await;
        let refused = shows(&client, "账号或密码错误").await;
        assert!(refused.contains("账号或密码错误"), "{refused}");
    }
    client
        .goto(&format!("{base}/sign-in"))
        .await
        .expect("sign-in");
    fill(&client, "#account", "zhao-min").await;
    fill(&client, "#password", "courtyard gate keys").await;
    submit(&client).await;
    let throttled = shows(&client, "登录失败次数过多").await;
    assert!(throttled.contains("登录失败次数过多"), "{throttled}");
    assert_eq!(path(&client).await, "/sign-in", "not signed in");
    screenshot(&client, "sign-in-throttled-zh-desktop").await;
    client.close().await.expect("close the browser");
}

/// Click the button of the form `form` (a CSS selector) on the page.
async fn press(client: &Client, form: &str) {
    client
        .find(Locator::Css(&format!("{form} button[type=submit]")))
        .await
        .unwrap_or_else(|e| panic!("{form}: {e}"))
        .click()
        .await
        .expect("click");
}

/// Sign out by forgetting the session, and sign in as `id`.
async fn switch_to(client: &Client, host: &TestHost, base: &str, id: &str) {
    client.delete_all_cookies().await.expect("forget cookies");
    sign_in_as(client, host, base, id).await;
}

/// Open case `id` and do `action` through its form, filling `fields`
/// (CSS selector, text) first; the page after.
async fn act_in_browser(
    client: &Client,
    base: &str,
    id: i64,
    action: &str,
    fields: &[(&str, &str)],
) -> String {
    client
        .goto(&format!("{base}/cases/{id}"))
        .await
        .expect("open the case");
    let form = format!("#act-{action}");
    shows(client, "办理").await;
    for (css, text) in fields {
        let field = client
            .find(Locator::Css(&format!("{form} {css}")))
            .await
            .unwrap_or_else(|e| panic!("{form} {css}: {e}"));
        if field.tag_name().await.expect("tag") == "select" {
            field.select_by_value(text).await.expect("choose");
        } else {
            field.send_keys(text).await.expect("type");
        }
    }
    press(client, &form).await;
    let done = arrive(client, &format!("/cases/{id}?done={action}")).await;
    assert_eq!(
        done,
        format!("/cases/{id}?done={action}"),
        "{action}: {}",
        page_text(client).await
    );
    page_text(client).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resident_reports_a_worker_handles_it_at_375_px_and_the_resident_evaluates_in_chromium() {
    use hutong_host::accounts::ops::AccountRequest;
    use hutong_host::cases::ops::{CaseActor, CaseReport};

    use hutong_host::community::Record;
    use hutong_host::kernel::manifest::Permission;
    let Some((_driver, client)) = chromium().await else {
        return;
    };
    let host = TestHost::new(Backend::Sqlite).await;
    let records = host.sample_district("east").await;
    let platform = &host.opened.platform;
    host.case_categories(
        "east",
        &[("road", "道路破损"), ("elderly-care", "养老服务")],
    )
    .await;
    let residents: Vec<(String, String)> = records
        .iter()
        .filter_map(|r| match r {
            Record::Resident(r) if r.grid_id == "c-xingfu-g1" => {
                Some((r.id.clone(), r.household_id.clone().unwrap_or_default()))
            }
            _ => None,
        })
        .collect();
    let ana = residents[0].0.clone();
    let bo = residents
        .iter()
        .find(|(_, h)| *h != residents[0].1)
        .expect("another household")
        .0
        .clone();
    for (account, record) in [("ana", &ana), ("bo", &bo)] {
        host.create_account(AccountRequest {
            resident_id: Some(record.clone()),
            ..hutong_tests::account_request(account, Role::Resident, Some("east"))
        })
        .await;
    }
    host.district_admin("east").await;
    host.worker("w1", "east", &["c-xingfu-g1"]).await;
    host.install_app(
        "east",
        "care",
        &[
            Permission::OpenCases,
            Permission::ReadOwnCases,
            Permission::ReadResidents,
        ],
    )
    .await;
    // The app reads Ana (masked) and Bo, and opens a case for Ana.
    for id in [&ana, &bo] {
        let r = host
            .get(&format!("/d/east/apps/care/data/resident?id={id}"))
            .await;
        assert_eq!(r.status, axum::http::StatusCode::OK, "{}", r.text());
    }
    let opened = host
        .post(
            "/d/east/apps/care/cases/open",
            serde_json::json!({
                "category": "elderly-care", "grid_id": "c-xingfu-g1", "resident_id": ana,
                "description": "独居老人家中漏水，代为报修", "for_resident": true,
            })
            .to_string(),
        )
        .await;
    assert_eq!(
        opened.status,
        axum::http::StatusCode::CREATED,
        "{}",
        opened.text()
    );
    let app_case: i64 = opened.json()["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("number");
    // Bo's own case, which Ana must not reach.
    let bo_actor = CaseActor::Person(hutong_host::accounts::Caller {
        account_id: "bo".into(),
        role: Role::Resident,
        district: Some("east".into()),
        resident_id: Some(bo.clone()),
        grids: Vec::new(),
    });
    let bo_case = platform
        .cases()
        .report_case(
            "east",
            &bo_actor,
            CaseReport {
                category: "road".into(),
                description: "Bo 的问题".into(),
                ..CaseReport::default()
            },
        )
        .await
        .expect("Bo reports")
        .id;
    let photo = std::env::temp_dir().join(format!("hutong-photo-{}.jpg", std::process::id()));
    std::fs::write(&photo, hutong_tests::photo_with_location()).expect("write the photo");

    let addr = listen(host.app()).await;
    let base = format!("http://{addr}");
    client.set_window_size(375, 800).await.expect("phone width");

    // Ana reports a problem with a photo, on her phone.
    sign_in_as(&client, &host, &base, "ana").await;
    client
        .goto(&format!("{base}/report"))
        .await
        .expect("report");
    shows(&client, "报告问题").await;
    client
        .find(Locator::Css("#category"))
        .await
        .expect("category")
        .select_by_value("road")
        .await
        .expect("choose");
    fill(&client, "#description", "楼下路面塌陷，有积水").await;
    client
        .find(Locator::Css("#photo"))
        .await
        .expect("file input")
        .send_keys(&photo.display().to_string())
        .await
        .expect("attach the photo");
    screenshot(&client, "report-resident-zh-375").await;
    submit(&client).await;
    let page = shows(&client, "问题已提交").await;
    assert!(page.contains("楼下路面塌陷"), "{page}");
    let at = path(&client).await;
    let case: i64 = at
        .strip_prefix("/cases/")
        .and_then(|r| r.split('?').next())
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("a case page: {at}"));
    let img = client
        .find(Locator::Css(".photos img"))
        .await
        .expect("the photo is shown");
    assert!(
        img.attr("src")
            .await
            .expect("src")
            .is_some_and(|s| s.contains(&format!("/cases/{case}/photos/"))),
        "the host's own photo URL"
    );
    // The one she may not reach: Bo's case.
    client
        .goto(&format!("{base}/cases/{bo_case}"))
        .await
        .expect("Bo's case");
    let refused = shows(&client, "页面不存在").await;
    assert!(
        refused.contains("页面不存在") && !refused.contains("Bo 的问题"),
        "{refused}"
    );

    // The grid worker handles it on a 375 px screen.
    switch_to(&client, &host, &base, "w1").await;
    client.goto(&format!("{base}/cases")).await.expect("queue");
    let queue = shows(&client, &format!("#{case}")).await;
    assert!(
        queue.contains("我的待办工单") && queue.contains(&format!("#{case}")),
        "{queue}"
    );
    screenshot(&client, "queue-worker-zh-375").await;
    client
        .find(Locator::LinkText(&format!("#{case}")))
        .await
        .expect("the case in the queue")
        .click()
        .await
        .expect("open it");
    shows(&client, "受理").await;
    screenshot(&client, "case-worker-zh-375").await;
    act_in_browser(&client, &base, case, "accept", &[]).await;
    act_in_browser(
        &client,
        &base,
        case,
        "dispatch",
        &[("select[name=assignee]", "worker:w1")],
    )
    .await;
    act_in_browser(&client, &base, case, "start", &[]).await;
    let handled = act_in_browser(
        &client,
        &base,
        case,
        "handle",
        &[("textarea", "已回填路面，积水已排")],
    )
    .await;
    assert!(handled.contains("已办理"), "{handled}");

    // The administrator verifies and closes it.
    client.set_window_size(1280, 900).await.expect("desktop");
    switch_to(&client, &host, &base, "east-admin").await;
    act_in_browser(&client, &base, case, "verify", &[]).await;
    let closed = act_in_browser(&client, &base, case, "close", &[]).await;
    assert!(closed.contains("已办结"), "{closed}");
    // The app's case for Ana reaches closed through the API's rules.
    let admin_actor = CaseActor::Person(hutong_host::accounts::Caller {
        account_id: "east-admin".into(),
        role: Role::DistrictAdmin,
        district: Some("east".into()),
        resident_id: None,
        grids: Vec::new(),
    });
    for (action, assignee) in [
        (hutong_host::cases::Action::Accept, None),
        (
            hutong_host::cases::Action::Dispatch,
            Some(hutong_host::cases::Assignee::Worker("w1".into())),
        ),
        (hutong_host::cases::Action::Start, None),
        (hutong_host::cases::Action::Handle, None),
        (hutong_host::cases::Action::Verify, None),
        (hutong_host::cases::Action::Close, None),
    ] {
        platform
            .cases()
            .act_on_case(
                "east",
                app_case,
                &admin_actor,
                hutong_tests::case_command(action, Some("ok"), assignee),
            )
            .await
            .unwrap_or_else(|e| panic!("{action}: {e}"));
    }

    // Ana evaluates her report, then reopens it within the window.
    client.set_window_size(375, 800).await.expect("phone width");
    switch_to(&client, &host, &base, "ana").await;
    let evaluated = act_in_browser(
        &client,
        &base,
        case,
        "evaluate",
        &[("select[name=satisfaction]", "4"), ("textarea", "处理及时")],
    )
    .await;
    assert!(
        evaluated.contains("4 / 5") && evaluated.contains("工作人员"),
        "{evaluated}"
    );
    assert!(
        !evaluated.contains("w1"),
        "staff are not named to residents: {evaluated}"
    );
    screenshot(&client, "case-resident-evaluated-zh-375").await;
    let reopened =
        act_in_browser(&client, &base, case, "reopen", &[("textarea", "又积水了")]).await;
    assert!(
        reopened.contains("已受理") && reopened.contains("又积水了"),
        "{reopened}"
    );
    // The case the app opened for her is in her list, and takes her rating.
    client
        .goto(&format!("{base}/cases"))
        .await
        .expect("my cases");
    let mine = shows(&client, &format!("#{app_case}")).await;
    assert!(
        mine.contains("我的工单") && mine.contains(&format!("#{app_case}")),
        "{mine}"
    );
    assert!(!mine.contains(&format!("#{bo_case}")), "{mine}");
    let rated = act_in_browser(
        &client,
        &base,
        app_case,
        "evaluate",
        &[("select[name=satisfaction]", "5")],
    )
    .await;
    assert!(
        rated.contains("由应用代你发起") && rated.contains("5 / 5"),
        "{rated}"
    );

    // Who read her data: the app's masked read and the worker's read on
    // the case page; nothing of Bo's.
    client
        .goto(&format!("{base}/my-data"))
        .await
        .expect("my data");
    let reads = shows(&client, "谁查看了我的数据").await;
    for shown in ["care", "get-resident", "已脱敏", "w1", "个人信息完整可见"] {
        assert!(reads.contains(shown), "{shown}: {reads}");
    }
    let table = client
        .find(Locator::Css("table.reads"))
        .await
        .expect("the reads")
        .text()
        .await
        .expect("text");
    let rows = table.lines().filter(|l| l.contains("get-resident")).count();
    assert_eq!(rows, 1, "the app's read of Ana, not of Bo: {table}");
    screenshot(&client, "my-data-resident-zh-375").await;
    client.close().await.expect("close the browser");
    let _ = std::fs::remove_file(photo);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hotline_callers_contact_reaches_the_worker_and_is_masked_for_the_auditor_in_chromium() {
    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode};
    use sqlx::Row;
    let Some((_driver, client)) = chromium().await else {
        return;
    };
    let host = TestHost::new(Backend::Sqlite).await;
    host.sample_district("east").await;
    host.case_categories("east", &[("streetlight", "路灯损坏")])
        .await;
    let hotline = host.worker("hotline", "east", &[]).await;
    host.worker("w1", "east", &["c-xingfu-g1"]).await;
    host.account("zhou", Role::Auditor, Some("east")).await;

    // The 12345 hotline files for a caller over Open311.
    let form = "service_code=streetlight&address_id=c-xingfu-b1&description=%E8%B7%AF%E7%81%AF%E4%B8%8D%E4%BA%AE\
                &last_name=%E5%BC%A0&first_name=%E4%B8%89&phone=13800001111";
    let r = host
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/d/east/open311/v2/requests.json")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", format!("Bearer {hotline}"))
                .body(Body::from(form))
                .expect("request"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = r.json()[0]["service_request_id"].as_i64().expect("id");

    let addr = listen(host.app()).await;
    let base = format!("http://{addr}");
    // The grid's worker sees whom to call back, on their phone.
    client.set_window_size(375, 800).await.expect("phone width");
    sign_in_as(&client, &host, &base, "w1").await;
    client
        .goto(&format!("{base}/cases/{id}"))
        .await
        .expect("open the case");
    let page = shows(&client, "报告人联系方式").await;
    assert!(page.contains("张 三, 13800001111"), "{page}");
    assert!(page.contains("路灯不亮"), "{page}");
    screenshot(&client, "case-caller-contact-zh-375").await;

    // The auditor sees that there is one, masked.
    switch_to(&client, &host, &base, "zhou").await;
    client
        .goto(&format!("{base}/cases/{id}"))
        .await
        .expect("open the case");
    let page = shows(&client, "报告人联系方式").await;
    assert!(page.contains("138****1111"), "{page}");
    assert!(!page.contains("13800001111"), "{page}");

    // The administrator decides what Open311 shows without a key.
    client
        .set_window_size(1280, 800)
        .await
        .expect("desktop width");
    host.district_admin("east").await;
    switch_to(&client, &host, &base, "east-admin").await;
    client
        .goto(&format!("{base}/settings/cases"))
        .await
        .expect("case settings");
    shows(&client, "Open311 对外接口").await;
    fill(&client, "#private_services", "streetlight").await;
    client
        .find(Locator::Css("#public_reads"))
        .await
        .expect("public reads box")
        .click()
        .await
        .expect("untick");
    screenshot(&client, "case-settings-open311-zh").await;
    press(&client, "form[action^='/settings/cases/open311']").await;
    shows(&client, "已保存").await;
    let cases = host.opened.platform.cases();
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
    client.close().await.expect("close the browser");

    // Each full look is in the access log, naming the case.
    let mut conn = host.raw_connection().await;
    let rows = sqlx::query(
        "SELECT app, record_ids, field_class FROM access_log \
         WHERE operation = 'staff.read-case-contact'",
    )
    .fetch_all(&mut conn)
    .await
    .expect("read the log");
    let seen: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r.get::<String, _>(0),
                r.get::<String, _>(1),
                r.get::<String, _>(2),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [(
            "account:w1".to_owned(),
            format!("[\"case:{id}\"]"),
            "personal".to_owned()
        )]
    );
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// The text of the element `css`, waiting (at most 10 s) until it has some.
async fn text_of(client: &Client, css: &str) -> String {
    for _ in 0..100 {
        if let Ok(element) = client.find(Locator::Css(css)).await {
            let text = element.text().await.unwrap_or_default();
            if !text.is_empty() {
                return text;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} stayed empty:\n{}", page_text(client).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resident_votes_on_a_phone_in_chromium_after_auditing_a_ballot_and_finds_it_on_the_board()
{
    use super::e_voting::{self as ev, BASE};
    use hutong_evote::{Ballot, Opening, election_of_head};
    use serde_json::{Value, json};

    let Some((_driver, client)) = chromium().await else {
        return;
    };
    let host = TestHost::new(Backend::Sqlite).await;
    let d = ev::district(&host).await;
    let now = ev::stop_clock(&host);
    let mut body = ev::poll_body(now, json!({"community": "c1"}));
    body["title"] = json!("是否更换小区大门？");
    body["options"] = json!(["更换", "不更换", "弃权"]);
    body["board"] = json!("live");
    let poll = ev::open_poll(&host, &d, body).await;
    let credential = ev::credential_of(&host, d.voter("r01"), &poll.id)
        .await
        .expect("r01's credential in their inbox");
    let addr = listen(host.app()).await;
    let base = format!("http://{addr}");
    sign_in_as(&client, &host, &base, "v-r01").await;

    // The list of polls, on the app's own origin.
    client
        .goto(&format!("{base}{BASE}/"))
        .await
        .expect("open e-voting");
    let list = shows(&client, "是否更换小区大门").await;
    assert!(
        list.contains("社区投票") && list.contains("投票中"),
        "{list}"
    );
    let url = client.current_url().await.expect("url");
    assert_eq!(url.host_str(), Some("e-voting.east.apps.localhost"));
    screenshot(&client, "e-voting-polls-zh-desktop").await;
    click(&client, "ul.polls a.button").await;

    // The page checks the trustees' keys before showing any option.
    client.set_window_size(375, 812).await.expect("phone width");
    let page = shows(&client, "选举公钥已核对").await;
    assert!(page.contains("不更换"), "{page}");
    let head: Value = host
        .get_as(
            Some(d.voter("r01")),
            &format!("{BASE}/polls/{}/board", poll.id),
        )
        .await
        .json();
    election_of_head(&head).expect("the head the page read holds");
    screenshot(&client, "e-voting-ballot-zh-375").await;
    let width: i64 = client
        .execute("return document.documentElement.scrollWidth", vec![])
        .await
        .expect("width")
        .as_i64()
        .expect("a number");
    assert!(width <= 375, "the page is {width} px wide at 375 px");

    // From here on, every request the page makes is kept, to show that
    // the credential never leaves the device.
    client
        .execute(
            "window.sentByPage = []; const send = window.fetch; \
             window.fetch = (url, options) => { \
               window.sentByPage.push(String(url) + ' ' + String((options && options.body) || '')); \
               return send(url, options); };",
            vec![],
        )
        .await
        .expect("watch the page's requests");

    // A mistyped credential is refused on the device, with what a
    // credential is.
    click(&client, "input[name=option][value='1']").await;
    fill(&client, "#credential", "not-a-credential").await;
    click(&client, "#encrypt").await;
    let error = text_of(&client, "#error").await;
    assert!(error.contains("20 个字符"), "{error}");

    // A well-formed credential that is not on the roll: the ballot is
    // made, then refused when cast, and the page goes back to the form.
    let clear_credential = || async {
        client
            .find(Locator::Css("#credential"))
            .await
            .expect("credential")
            .clear()
            .await
            .expect("clear");
    };
    clear_credential().await;
    let stranger = hutong_evote::Credential::generate(&poll.id, &mut rand_core::OsRng);
    fill(&client, "#credential", stranger.text()).await;
    click(&client, "#encrypt").await;
    text_of(&client, "#tracker").await;
    click(&client, "#cast").await;
    let error = shows(&client, "不在本次投票的名册上").await;
    assert!(error.contains("请使用为本次投票收到的凭证"), "{error}");
    let encrypted = client
        .find(Locator::Css("#encrypted"))
        .await
        .expect("the encrypted step");
    assert!(
        !encrypted.is_displayed().await.expect("shown?"),
        "back to the form"
    );

    // Encrypt, then audit instead of casting: the opening shows the
    // ballot encrypts "不更换", and that ballot is never cast.
    clear_credential().await;
    fill(&client, "#credential", credential.text()).await;
    click(&client, "#encrypt").await;
    let audited_tracker = text_of(&client, "#tracker").await;
    screenshot(&client, "e-voting-encrypted-zh-375").await;
    click(&client, "#audit").await;
    let audit_result = text_of(&client, "#audit-result").await;
    assert!(audit_result.contains("不更换"), "{audit_result}");
    let audit_text = client
        .find(Locator::Css("#audit-data"))
        .await
        .expect("audit data")
        .prop("value")
        .await
        .expect("value")
        .expect("a value");
    let audited: Value = serde_json::from_str(&audit_text).expect("audit JSON");
    assert_eq!(audited["tracker"], audited_tracker);
    // What `hutong-evote audit` checks, on another device.
    let election = election_of_head(&head).expect("election");
    let ballot: Ballot = serde_json::from_value(audited["ballot"].clone()).expect("ballot");
    let opening: Opening = serde_json::from_value(audited["opening"].clone()).expect("opening");
    assert_eq!(ballot.tracker(), audited_tracker);
    ballot
        .verify_proofs(&election)
        .expect("the audited ballot's proofs hold");
    assert!(ballot.audit(&election, &opening), "the opening opens it");
    // It was never signed: whoever sees the audit cannot cast it.
    assert_eq!(
        ballot.verify(&election),
        Err(hutong_evote::BallotError::Signature)
    );
    let r = host
        .post_as(
            Some(d.voter("r02")),
            &format!("{BASE}/polls/{}/ballots", poll.id),
            audited["ballot"].to_string(),
        )
        .await;
    assert_eq!(
        r.status,
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        r.text()
    );
    assert_eq!(opening.chosen, vec![1], "it encrypts what was chosen");
    assert_eq!(ballot.credential, *credential.public());
    screenshot(&client, "e-voting-audited-zh-375").await;
    // Anyone signed in may look a ballot up by its credential's key.
    let on_board = format!(
        "{BASE}/polls/{}/board/ballots/{}",
        poll.id,
        credential.public().to_hex()
    );
    assert_eq!(
        host.get_as(Some(d.voter("r02")), &on_board).await.status,
        axum::http::StatusCode::NOT_FOUND,
        "an audited ballot is not cast"
    );

    // A new ballot for "更换", cast, and found on the board.
    click(&client, "#again").await;
    click(&client, "input[name=option][value='0']").await;
    click(&client, "#encrypt").await;
    let tracker = text_of(&client, "#tracker").await;
    assert_ne!(tracker, audited_tracker, "a new encryption");
    click(&client, "#cast").await;
    let done = text_of(&client, "#done-tracker").await;
    assert_eq!(done, tracker);
    let check = text_of(&client, "#board-check").await;
    assert!(check.contains("公告板上已有这张选票"), "{check}");
    screenshot(&client, "e-voting-cast-zh-375").await;
    let stored = host.get_as(Some(d.voter("r02")), &on_board).await;
    assert_eq!(
        stored.status,
        axum::http::StatusCode::OK,
        "{}",
        stored.text()
    );
    assert_eq!(stored.json()["tracker"], tracker.as_str());
    let credential_field = client
        .find(Locator::Css("#credential"))
        .await
        .expect("credential")
        .prop("value")
        .await
        .expect("value");
    assert_eq!(
        credential_field.as_deref(),
        Some(""),
        "the credential is cleared"
    );
    let sent = client
        .execute("return window.sentByPage", vec![])
        .await
        .expect("the page's requests");
    let sent: Vec<String> = serde_json::from_value(sent).expect("a list");
    assert!(
        sent.iter().any(|s| s.contains("/ballots ")),
        "the page posted the ballot: {sent:?}"
    );
    assert!(
        sent.iter().all(|s| !s.contains(credential.text())),
        "the credential never leaves the page: {sent:?}"
    );

    // Closed and decrypted: the page shows the result, in either language.
    let result = ev::close(&host, &d, &poll).await;
    assert_eq!(result["tally"]["counts"], json!([1, 0, 0]), "{result}");
    // Two hours on, the resident signs in again and opens the poll's page.
    sign_in_as(&client, &host, &base, "v-r01").await;
    client
        .goto(&format!("{base}{BASE}/vote/{}", poll.id))
        .await
        .expect("open the poll");
    let page = shows(&client, "结果已公布").await;
    assert!(page.contains("有效选票 1 张"), "{page}");
    let first_row = text_of(&client, "section.result tbody tr:first-child").await;
    assert_eq!(
        first_row.split_whitespace().collect::<Vec<_>>(),
        ["更换", "1"]
    );
    screenshot(&client, "e-voting-result-zh-375").await;
    click(&client, "header a.lang").await;
    let page = shows(&client, "Results published").await;
    assert!(
        page.contains("Ballots counted: 1") && page.contains("中文"),
        "{page}"
    );
    screenshot(&client, "e-voting-result-en-375").await;
    client.close().await.expect("close the browser");
}
