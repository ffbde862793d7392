//! Two real `hutong serve` processes on one PostgreSQL database: each
//! schedule period ticks once between them, each device event is handed to
//! the subscribed app once and in order, and each notification reaches the
//! gateway once.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{guest, repo};

/// A throwaway PostgreSQL database, dropped at the end.
struct Database {
    admin_url: String,
    name: String,
    url: String,
}

impl Database {
    async fn create() -> Self {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let admin_url = std::env::var("HUTONG_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let name = format!("hutong_processes_{}", std::process::id());
        let mut conn = sqlx::AnyConnection::connect(&admin_url)
            .await
            .expect("connect to PostgreSQL");
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
            .execute(&mut conn)
            .await;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create database");
        let base = admin_url
            .rsplit_once('/')
            .map(|(b, _)| b)
            .unwrap_or(&admin_url);
        let url = format!("{base}/{name}");
        Database {
            admin_url,
            name,
            url,
        }
    }

    async fn drop_now(&self) {
        use sqlx::Connection;
        if let Ok(mut conn) = sqlx::AnyConnection::connect(&self.admin_url).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn)
            .await;
        }
    }
}

struct Host {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cli(data: &Path, db: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_hutong"))
        .env("HUTONG_TEST_GATEWAY_SECRET", "a-secret-of-sixteen-bytes")
        .arg("--data-dir")
        .arg(data)
        .arg("--database-url")
        .arg(db)
        .args(args)
        .env("HUTONG_LOG", "error")
        .output()
        .expect("run hutong");
    assert!(
        out.status.success(),
        "hutong {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("address")
}

fn serve(data: &Path, db: &str) -> Host {
    let addr = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_hutong"))
        .arg("--data-dir")
        .arg(data)
        .arg("--database-url")
        .arg(db)
        .args(["serve", "--listen", &addr.to_string()])
        .env("HUTONG_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start hutong serve");
    let host = Host { child, addr };
    let started = Instant::now();
    while http(addr, "GET", "/healthz", None, "").0 != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "hutong serve did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    host
}

/// One HTTP/1.1 request with `Connection: close`; the status and body (0
/// when the server is not answering).
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return (0, String::new());
    };
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The kv keys below `prefix` and their values, read through `host`.
fn kv(host: &Host, token: &str, prefix: &str) -> Vec<(String, String)> {
    let (status, body) = http(
        host.addr,
        "GET",
        &format!("/d/east/apps/ticker/kv/list?prefix={prefix}"),
        Some(token),
        "",
    );
    assert_eq!(status, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let mut out = Vec::new();
    for key in list["keys"].as_array().cloned().unwrap_or_default() {
        let key = key.as_str().unwrap_or_default().to_owned();
        let (status, value) = http(
            host.addr,
            "GET",
            &format!("/d/east/apps/ticker/kv/get?key={key}"),
            Some(token),
            "",
        );
        assert_eq!(status, 200, "{value}");
        out.push((key, value));
    }
    out
}

/// District `east` with a platform administrator (whose token is returned),
/// the sample community data, and the test app installed from `manifest`
/// with `grants`.
fn set_up_east(data: &Path, db: &str, manifest: &Path, grants: &[&str]) -> String {
    cli(data, db, &["district", "create", "east"]);
    cli(
        data,
        db,
        &["account", "create", "root", "--role", "platform-admin"],
    );
    let token = cli(data, db, &["token", "issue", "--account", "root"])
        .trim()
        .to_owned();
    let component = guest("test_app.wasm");
    let mut install = vec![
        "install",
        "--district",
        "east",
        "--manifest",
        manifest.to_str().expect("utf-8"),
        "--component",
        component.to_str().expect("utf-8"),
    ];
    for grant in grants {
        install.extend(["--grant", grant]);
    }
    cli(data, db, &install);
    cli(data, db, &["data", "sample", "--district", "east"]);
    token
}

/// Send `east`'s text messages to the gateway at `gateway`.
fn send_sms_to(data: &Path, db: &str, gateway: SocketAddr) {
    cli(
        data,
        db,
        &[
            "notify",
            "settings",
            "--district",
            "east",
            "--set",
            "--sms-url",
            &format!("http://{gateway}/sms"),
            "--secret-from-env",
            "HUTONG_TEST_GATEWAY_SECRET",
        ],
    );
}

/// A resident of `east` with a phone, to text.
fn resident_with_phone(host: &Host, token: &str) -> String {
    let (status, body) = http(
        host.addr,
        "GET",
        "/api/v1/districts/east/residents?limit=100",
        Some(token),
        "",
    );
    assert_eq!(status, 200, "{body}");
    let residents: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    residents["residents"]
        .as_array()
        .and_then(|all| all.iter().find(|r| r["phone"].is_string()))
        .and_then(|r| r["id"].as_str())
        .expect("a resident with a phone")
        .to_owned()
}

/// Each arrival of a delivery at a gateway: when, and the `attempt` its
/// payload gives.
type Arrivals = Arc<Mutex<HashMap<String, Vec<(Instant, i64)>>>>;

/// A local SMS gateway that notes each delivery it receives by its
/// `X-Hutong-Delivery` id: when it arrived and which attempt it said it was.
/// With `stall_first`, it never answers the first delivery of each id (as if
/// the process sending it died mid-request) and answers every later one.
async fn gateway(stall_first: bool) -> (SocketAddr, Arrivals) {
    let seen: Arrivals = Arc::default();
    let arrivals = seen.clone();
    let app = axum::Router::new().route(
        "/sms",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let arrivals = arrivals.clone();
            async move {
                let attempt = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|payload| payload["attempt"].as_i64())
                    .unwrap_or(-1);
                let id = headers
                    .get("x-hutong-delivery")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let first = {
                    let mut seen = arrivals.lock().unwrap_or_else(|p| p.into_inner());
                    let times = seen.entry(id).or_default();
                    times.push((Instant::now(), attempt));
                    times.len() == 1
                };
                if first && stall_first {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind gateway");
    let addr = listener.local_addr().expect("gateway address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serving_processes_share_the_work_without_doing_any_twice() {
    let db = Database::create().await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    let url = db.url.clone();
    let manifest = std::fs::read_to_string(repo().join("tests/components/test-app/hutong.toml"))
        .expect("test-app manifest")
        .replacen("name = \"test-app\"", "name = \"ticker\"", 1)
        .replacen(
            "[permissions]\n",
            "[permissions]\nschedules = \"Counts its ticks in kv.\"\n",
            1,
        )
        + "\n[[schedules]]\nname = \"rounds\"\nevery = \"10s\"\n";
    let manifest_path = dir.path().join("hutong.toml");
    std::fs::write(&manifest_path, manifest).expect("write manifest");
    let token = set_up_east(
        &a_dir,
        &url,
        &manifest_path,
        &["kv", "schedules", "notify-sms", "receive-events"],
    );
    let (gateway_addr, arrivals) = gateway(false).await;
    send_sms_to(&a_dir, &url, gateway_addr);

    let a = serve(&a_dir, &url);
    let b = serve(&b_dir, &url);
    let resident = resident_with_phone(&a, &token);
    // Twenty texts, sent through both processes in turn; both deliver.
    const SENDS: usize = 20;
    for n in 0..SENDS {
        let host = if n % 2 == 0 { &a } else { &b };
        let send = serde_json::json!({
            "to": {"resident": resident},
            "channel": "sms",
            "subject": "提醒",
            "body": format!("第 {n} 条"),
            "key": format!("reminder-{n}"),
        });
        let (status, body) = http(
            host.addr,
            "POST",
            "/d/east/apps/ticker/notify/send",
            Some(&token),
            &send.to_string(),
        );
        assert_eq!(status, 200, "{body}");
    }
    // A door sensor of that resident posts twenty events, through both
    // processes in turn; both deliver.
    let registered = cli(
        &a_dir,
        &url,
        &[
            "device",
            "register",
            "--district",
            "east",
            "door-1",
            "--kind",
            "door-sensor",
            "--resident",
            &resident,
        ],
    );
    let device_token = registered
        .lines()
        .find_map(|l| l.strip_prefix("token (shown once): "))
        .expect("the device token")
        .trim()
        .to_owned();
    const EVENTS: usize = 20;
    for n in 0..EVENTS {
        let host = if n % 2 == 0 { &a } else { &b };
        let kind = if n % 2 == 0 {
            "door.open"
        } else {
            "door.close"
        };
        let event = serde_json::json!({"type": kind, "payload": {"n": n}});
        let (status, body) = http(
            host.addr,
            "POST",
            "/d/east/events",
            Some(&device_token),
            &event.to_string(),
        );
        assert!((200..300).contains(&status), "{status}: {body}");
    }
    // Three periods of ten seconds, with both processes looking every second.
    tokio::time::sleep(Duration::from_secs(32)).await;
    let (status, body) = http(
        a.addr,
        "GET",
        "/d/east/apps/ticker/events/heard?device=door-1",
        Some(&token),
        "",
    );
    assert_eq!(status, 200, "{body}");
    let heard: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let order: Vec<i64> = heard["heard"]
        .as_array()
        .expect("heard")
        .iter()
        .filter_map(|e| e["payload"]["n"].as_i64())
        .collect();
    assert_eq!(
        order,
        (0..EVENTS as i64).collect::<Vec<_>>(),
        "each event handed to the app once, in the order posted"
    );
    let delivered: HashMap<String, usize> = arrivals
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(id, times)| (id.clone(), times.len()))
        .collect();
    assert_eq!(
        delivered.len(),
        SENDS,
        "every text delivered: {delivered:?}"
    );
    assert!(
        delivered.values().all(|&n| n == 1),
        "each text delivered once: {delivered:?}"
    );
    let ticks = kv(&a, &token, "ticks/rounds/");
    assert_eq!(ticks, kv(&b, &token, "ticks/rounds/"), "one database");
    assert!(ticks.len() >= 3, "a tick each period: {ticks:?}");
    for (key, times) in &ticks {
        assert_eq!(times, "1", "{key} ticked once between the two processes");
    }
    drop(a);
    drop(b);
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_process_s_deliveries_are_taken_over_within_seconds() {
    let db = Database::create().await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    let url = db.url.clone();
    let manifest = repo().join("tests/components/test-app/hutong.toml");
    let token = set_up_east(&a_dir, &url, &manifest, &["notify-sms"]);
    let (gateway_addr, arrivals) = gateway(true).await;
    send_sms_to(&a_dir, &url, gateway_addr);

    // Process A alone takes the text and is stuck sending it.
    let a = serve(&a_dir, &url);
    let resident = resident_with_phone(&a, &token);
    let send = serde_json::json!({
        "to": {"resident": resident},
        "channel": "sms",
        "subject": "提醒",
        "body": "烟感报警",
        "key": "alarm-1",
    });
    let (status, body) = http(
        a.addr,
        "POST",
        "/d/east/apps/test-app/notify/send",
        Some(&token),
        &send.to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let count = || -> Vec<usize> {
        arrivals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(Vec::len)
            .collect()
    };
    let started = Instant::now();
    while count().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "A never sent it"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let first_sent = Instant::now();

    // Process B runs beside it. While A lives it keeps its claim, however
    // long the gateway takes, so B does not send the text again.
    let b = serve(&b_dir, &url);
    let held_until = first_sent + Duration::from_secs(6);
    tokio::time::sleep(held_until.saturating_duration_since(Instant::now())).await;
    assert_eq!(count(), [1], "B took over a delivery A was still making");

    // A dies mid-request; B takes the text over within seconds.
    drop(a);
    let killed = Instant::now();
    while count() != [2] {
        assert!(
            killed.elapsed() < Duration::from_secs(15),
            "B did not take the text over: {:?}",
            count()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (first, (taken_over, attempt)) = arrivals
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .next()
        .map(|times| (times[0].1, times[1]))
        .expect("second arrival");
    // The repeat says it is one, though A never recorded its try.
    assert_eq!((first, attempt), (1, 2));
    let after = taken_over.saturating_duration_since(killed);
    assert!(
        after <= Duration::from_millis(6000),
        "taken over {after:?} after the kill; the lease is 4 s, renewed every second"
    );
    eprintln!("taken over {after:?} after the kill");
    drop(b);
    db.drop_now().await;
}
