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
