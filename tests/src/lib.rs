//! A harness for driving the real Hutong host in tests and benchmarks: a
//! fresh database (SQLite in a temporary directory, or a throwaway
//! PostgreSQL database), the real runtime, and the HTTP app driven without a
//! socket.

pub mod components;
pub mod console;
pub mod gateway;
pub mod tls;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use hutong_host::accounts::Role;
use hutong_host::api::{self, ApiState};
use hutong_host::cases::ops::CaseCommand;
use hutong_host::cases::{Action, Assignee};
use hutong_host::community::import::{self, Format};
use hutong_host::community::store::ImportSummary;
use hutong_host::community::{Record, sample};
use hutong_host::installs::store::Install;
use hutong_host::kernel::manifest::{Manifest, Permission};
use hutong_host::runtime::RuntimeConfig;
use hutong_host::server::{self, Opened, Settings};
use hutong_host::{AccountRequest, InstallRequest, PlatformError};
use sqlx::{Connection, Row};
use tower::ServiceExt;

/// The database a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite in a temporary directory.
    Sqlite,
    /// A fresh database on the PostgreSQL server named by
    /// `HUTONG_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`).
    Postgres,
}

/// The PostgreSQL server tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("HUTONG_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A throwaway PostgreSQL database, dropped when this is dropped.
pub struct PgDatabase {
    name: String,
    /// Its URL.
    pub url: String,
}

impl PgDatabase {
    /// Create a database with a unique name.
    pub async fn create() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "hutong_test_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            nanos
        );
        let admin = postgres_admin_url();
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {admin}: {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let _ = conn.close().await;
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        PgDatabase {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside any async context we can block on, so use a
        // short-lived runtime on its own thread.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// A running host for one test.
pub struct TestHost {
    /// The opened platform.
    pub opened: Opened,
    /// Where it keeps its files.
    pub settings: Settings,
    /// Which database it uses.
    pub backend: Backend,
    /// A platform administrator's token (account `root`), which
    /// [`TestHost::request`] sends.
    pub admin_token: String,
    /// The HTTP application, built at the first request: `hutong serve`
    /// builds it once, and building it (every route) for each request
    /// cost more than many requests themselves.
    app: std::sync::OnceLock<axum::Router>,
    dir: tempfile::TempDir,
    pg: Option<PgDatabase>,
}

/// A response from the host.
#[derive(Debug)]
pub struct TestResponse {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: axum::http::HeaderMap,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl TestResponse {
    /// The body parsed as JSON (panics with the body if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `error.message` of a JSON error answer (panics if the body is
    /// not JSON); empty when it has none.
    pub fn error_message(&self) -> String {
        error_message(&self.json()).to_owned()
    }
}

/// The `error.message` of an error answer's JSON body; empty when it has none.
pub fn error_message(body: &serde_json::Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

impl TestHost {
    /// A host on `backend` with default settings.
    pub async fn new(backend: Backend) -> Self {
        Self::with_config(backend, |_| {}).await
    }

    /// A host on `backend` whose runtime settings `tune` adjusts.
    pub async fn with_config(backend: Backend, tune: impl FnOnce(&mut RuntimeConfig)) -> Self {
        // Every host of the process trusts the test CA, as a host started
        // with `--ca-file` would, before it builds an HTTP client.
        tls::trusted_ca();
        let dir = tempfile::tempdir().expect("temporary directory");
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(PgDatabase::create().await),
        };
        let settings = Settings {
            data_dir: dir.path().join("data"),
            database_url: pg.as_ref().map(|p| p.url.clone()),
        };
        let mut config = RuntimeConfig::new(settings.data_dir.join("compiled"));
        tune(&mut config);
        let opened = server::open(&settings, Some(config))
            .await
            .expect("open host");
        let admin_token = issue(&opened, "root", Role::PlatformAdmin, None).await;
        TestHost {
            opened,
            settings,
            backend,
            admin_token,
            app: std::sync::OnceLock::new(),
            dir,
            pg,
        }
    }

    /// A second host process over the same database and data directory
    /// (a restart, or another process of the same city).
    pub async fn another_process(&self) -> Opened {
        server::open(&self.settings, None)
            .await
            .expect("reopen host")
    }

    /// The host's clock, which every part of the host and every app reads:
    /// stop and move it to simulate time.
    pub fn clock(&self) -> &hutong_host::kernel::clock::Clock {
        self.opened.platform.store().clock()
    }

    /// The temporary directory holding the data directory.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    /// The PostgreSQL database, when on PostgreSQL.
    pub fn postgres(&self) -> Option<&PgDatabase> {
        self.pg.as_ref()
    }

    /// Create a district.
    pub async fn district(&self, id: &str) {
        self.opened
            .platform
            .create_district(id, id)
            .await
            .expect("create district");
    }

    /// Install a component with a manifest given as TOML text.
    pub async fn install(
        &self,
        district: &str,
        manifest_toml: &str,
        component: &str,
        grant: &[Permission],
    ) -> Result<Install, PlatformError> {
        self.install_with(
            district,
            manifest_toml,
            component,
            grant,
            serde_json::json!({}),
            None,
        )
        .await
    }

    /// Install a component with a manifest given as TOML text, the
    /// install's configuration and the communities it is scoped to (none:
    /// the whole district).
    pub async fn install_with(
        &self,
        district: &str,
        manifest_toml: &str,
        component: &str,
        grant: &[Permission],
        config: serde_json::Value,
        communities: Option<Vec<String>>,
    ) -> Result<Install, PlatformError> {
        let manifest = Manifest::from_toml(manifest_toml)?;
        let bytes = std::fs::read(component).expect("read component");
        self.opened
            .platform
            .install(InstallRequest {
                district: district.to_owned(),
                manifest,
                component: bytes,
                grant: grant.iter().copied().collect::<BTreeSet<_>>(),
                config,
                communities,
            })
            .await
    }

    /// Install the test app under `name`, with `kv` granted or not, and
    /// `extra` TOML appended to its manifest (for limits).
    pub async fn install_test_app(
        &self,
        district: &str,
        name: &str,
        grant_kv: bool,
        extra: &str,
    ) -> Install {
        let manifest = test_app_manifest(name, extra);
        let grant: &[Permission] = if grant_kv { &[Permission::Kv] } else { &[] };
        self.install(district, &manifest, components::TEST_APP, grant)
            .await
            .expect("install test app")
    }

    /// Install the test app under `name` in `district` with `grants` and
    /// the manifest as it is.
    pub async fn install_app(&self, district: &str, name: &str, grants: &[Permission]) {
        self.install_app_in(district, name, grants, None).await;
    }

    /// [`TestHost::install_app`], scoped to `communities` (none: the whole
    /// district).
    pub async fn install_app_in(
        &self,
        district: &str,
        name: &str,
        grants: &[Permission],
        communities: Option<&[&str]>,
    ) {
        let communities = communities.map(|c| c.iter().map(|s| (*s).to_owned()).collect());
        self.install_with(
            district,
            &test_app_manifest(name, ""),
            components::TEST_APP,
            grants,
            serde_json::json!({}),
            communities,
        )
        .await
        .unwrap_or_else(|e| panic!("install {name}: {e}"));
    }

    /// Create `district` and import the generated sample district into it;
    /// the records as exported.
    pub async fn sample_district(&self, district: &str) -> Vec<Record> {
        self.district(district).await;
        self.import_jsonl(
            district,
            &import::to_json_lines(&sample::sample_district(1)),
        )
        .await;
        self.export(district).await
    }

    /// Add case categories (code, name) to `district`.
    pub async fn case_categories(&self, district: &str, categories: &[(&str, &str)]) {
        for (code, name) in categories {
            self.opened
                .platform
                .cases()
                .put_category(
                    district,
                    hutong_host::cases::store::Category {
                        code: (*code).into(),
                        name: (*name).into(),
                        description: String::new(),
                        group: "community".into(),
                    },
                )
                .await
                .unwrap_or_else(|e| panic!("category {code}: {e}"));
        }
    }

    /// Import JSON lines into `district`.
    pub async fn import_jsonl(&self, district: &str, lines: &str) -> ImportSummary {
        self.opened
            .platform
            .import_data(district, lines, Format::JsonLines)
            .await
            .unwrap_or_else(|e| panic!("import into {district}: {e}"))
    }

    /// Every record of `district`, read from the store (not an export:
    /// nothing is written to the access log).
    pub async fn export(&self, district: &str) -> Vec<Record> {
        self.opened
            .platform
            .store()
            .export_records(district)
            .await
            .expect("export")
    }

    /// The rows of districts, components, installs and kv, to show that a
    /// refusal changed nothing.
    pub async fn row_counts(&self) -> [i64; 4] {
        self.opened
            .platform
            .store()
            .row_counts()
            .await
            .expect("row counts")
    }

    /// Create an account with `role` (in `district`) and return a token for it.
    pub async fn account(&self, id: &str, role: Role, district: Option<&str>) -> String {
        issue(&self.opened, id, role, district).await
    }

    /// The account `{district}-admin`, administrator of `district`; its token.
    pub async fn district_admin(&self, district: &str) -> String {
        self.account(
            &format!("{district}-admin"),
            Role::DistrictAdmin,
            Some(district),
        )
        .await
    }

    /// Run one SQL statement on the host's database behind its back, as
    /// someone with database access would (to test tamper detection).
    pub async fn execute_raw(&self, sql: &str) -> u64 {
        let mut conn = self.raw_connection().await;
        let done = sqlx::query(sql)
            .execute(&mut conn)
            .await
            .expect("raw statement")
            .rows_affected();
        let _ = conn.close().await;
        done
    }

    /// A connection to the host's database of its own, outside the host, to
    /// read or change what the host stored behind its back.
    pub async fn raw_connection(&self) -> sqlx::AnyConnection {
        sqlx::any::install_default_drivers();
        let url = match &self.settings.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}",
                self.settings.data_dir.join("hutong.db").display()
            ),
        };
        sqlx::AnyConnection::connect(&url)
            .await
            .expect("connect to the database")
    }

    /// Write SQLite's WAL back into the database file, as the host does
    /// every few hundred writes: the next commit starts the WAL over.
    /// Retried for up to 5 s while readers hold frames back; panics if it
    /// never completes.
    pub async fn checkpoint_sqlite(&self) {
        let mut conn = self.raw_connection().await;
        let mut complete = false;
        for _ in 0..250 {
            let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(&mut conn)
                .await
                .expect("checkpoint");
            let (busy, log, done): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
            if busy == 0 && log == done {
                complete = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let _ = conn.close().await;
        assert!(complete, "the WAL was never written back whole");
    }

    /// The bytes of SQLite's database file and its WAL, one after the
    /// other: what someone who copies the files reads.
    pub fn sqlite_files(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for file in ["hutong.db", "hutong.db-wal"] {
            let path = self.settings.data_dir.join(file);
            bytes.extend(std::fs::read(&path).unwrap_or_else(|e| panic!("{file}: {e}")));
        }
        bytes
    }

    /// The host's whole HTTP application, as `hutong serve` serves it.
    pub fn app(&self) -> axum::Router {
        self.app
            .get_or_init(|| {
                api::app(ApiState::new(
                    self.opened.platform.clone(),
                    self.opened.metrics.clone(),
                ))
            })
            .clone()
    }

    /// Create a worker of `district` serving `grids` and return a token.
    pub async fn worker(&self, id: &str, district: &str, grids: &[&str]) -> String {
        self.create_account(AccountRequest {
            grids: grids.iter().map(|g| (*g).to_owned()).collect(),
            ..account_request(id, Role::Worker, Some(district))
        })
        .await
    }

    /// Create the account `request` describes and return a token for it.
    pub async fn create_account(&self, request: AccountRequest) -> String {
        let id = request.id.clone();
        self.opened
            .platform
            .create_account(request)
            .await
            .unwrap_or_else(|e| panic!("create account {id}: {e}"));
        self.token(&id).await
    }

    /// A new token, valid for a day, for the existing account `id`.
    pub async fn token(&self, id: &str) -> String {
        token(&self.opened, id).await
    }

    /// Send a request through the whole HTTP application as the platform
    /// administrator.
    pub async fn request(&self, method: Method, uri: &str, body: impl Into<Body>) -> TestResponse {
        self.request_as(Some(&self.admin_token), method, uri, body)
            .await
    }

    /// Send a request with `token` (none: anonymous).
    pub async fn request_as(
        &self,
        token: Option<&str>,
        method: Method,
        uri: &str,
        body: impl Into<Body>,
    ) -> TestResponse {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request.body(body.into()).expect("request");
        self.send(request).await
    }

    /// Send a request built by the test (for other content types or
    /// headers) through the whole HTTP application.
    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        let response = self.app().oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        TestResponse {
            status,
            headers,
            body,
        }
    }

    /// `GET uri` as the platform administrator.
    pub async fn get(&self, uri: &str) -> TestResponse {
        self.request(Method::GET, uri, Body::empty()).await
    }

    /// `POST uri` as the platform administrator.
    pub async fn post(&self, uri: &str, body: impl Into<Body>) -> TestResponse {
        self.request(Method::POST, uri, body).await
    }

    /// `PUT uri` as the platform administrator.
    pub async fn put(&self, uri: &str, body: impl Into<Body>) -> TestResponse {
        self.request(Method::PUT, uri, body).await
    }

    /// `PATCH uri` as the platform administrator.
    pub async fn patch(&self, uri: &str, body: impl Into<Body>) -> TestResponse {
        self.request(Method::PATCH, uri, body).await
    }

    /// `DELETE uri` as the platform administrator.
    pub async fn delete(&self, uri: &str) -> TestResponse {
        self.request(Method::DELETE, uri, Body::empty()).await
    }

    /// `GET uri` with `token` (none: anonymous).
    pub async fn get_as(&self, token: Option<&str>, uri: &str) -> TestResponse {
        self.request_as(token, Method::GET, uri, Body::empty())
            .await
    }

    /// `POST uri` with `token` (none: anonymous).
    pub async fn post_as(
        &self,
        token: Option<&str>,
        uri: &str,
        body: impl Into<Body>,
    ) -> TestResponse {
        self.request_as(token, Method::POST, uri, body).await
    }

    /// `DELETE uri` with `token` (none: anonymous).
    pub async fn delete_as(&self, token: Option<&str>, uri: &str) -> TestResponse {
        self.request_as(token, Method::DELETE, uri, Body::empty())
            .await
    }

    /// `method uri` with `token` and a JSON body; `Value::Null` sends an
    /// empty body (for GET and DELETE).
    pub async fn json_as(
        &self,
        token: &str,
        method: Method,
        uri: &str,
        body: serde_json::Value,
    ) -> TestResponse {
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        self.request_as(Some(token), method, uri, body).await
    }
}

/// A case command with no satisfaction rating.
pub fn case_command(action: Action, note: Option<&str>, assignee: Option<Assignee>) -> CaseCommand {
    CaseCommand {
        action,
        note: note.map(str::to_owned),
        assignee,
        satisfaction: None,
    }
}

/// What creates an account `id` with `role` in `district` and nothing else;
/// set the other fields with `..account_request(…)`.
pub fn account_request(id: &str, role: Role, district: Option<&str>) -> AccountRequest {
    AccountRequest {
        id: id.to_owned(),
        role,
        district: district.map(str::to_owned),
        display_name: String::new(),
        resident_id: None,
        grids: Vec::new(),
        phone: None,
    }
}

/// Create an account (a resident is linked to `resident-of-<id>`) and issue
/// it a token.
async fn issue(opened: &Opened, id: &str, role: Role, district: Option<&str>) -> String {
    opened
        .platform
        .create_account(AccountRequest {
            resident_id: (role == Role::Resident).then(|| format!("resident-of-{id}")),
            ..account_request(id, role, district)
        })
        .await
        .expect("create account");
    token(opened, id).await
}

/// A new token, valid for a day, for the existing account `id`.
async fn token(opened: &Opened, id: &str) -> String {
    opened
        .platform
        .issue_token(id, "test", 1)
        .await
        .expect("issue token")
        .token
}

/// Days since 1970-01-01 of the civil (proleptic Gregorian) date `y-m-d`,
/// computed by hand so that a fixture's dates do not depend on the host's
/// own date code they are checking.
pub fn civil_days(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

/// `y-m-d h:00` at +08:00 (China Standard Time), in ms since the epoch.
pub fn cst_ms(y: i64, m: i64, d: i64, h: i64) -> i64 {
    const HOUR: i64 = 3_600_000;
    civil_days(y, m, d) * 24 * HOUR + (h - 8) * HOUR
}

/// The street and community the smart-care scenarios and its benchmark
/// import their grids into: s1 东湖街道 with c1 幸福社区.
pub fn street_and_community() -> Vec<Record> {
    use hutong_host::community::{Community, Street};
    vec![
        Record::Street(Street {
            id: "s1".into(),
            name: "东湖街道".into(),
        }),
        Record::Community(Community {
            id: "c1".into(),
            street_id: "s1".into(),
            name: "幸福社区".into(),
        }),
    ]
}

/// Bodies for `POST /d/{district}/events`: events `0..n`, each built by
/// `event`, `batch` of them to a body.
pub fn event_batches(
    n: usize,
    batch: usize,
    event: impl Fn(usize) -> serde_json::Value,
) -> Vec<String> {
    (0..n)
        .collect::<Vec<_>>()
        .chunks(batch)
        .map(|chunk| {
            let events: Vec<serde_json::Value> = chunk.iter().map(|&i| event(i)).collect();
            serde_json::json!({ "events": events }).to_string()
        })
        .collect()
}

/// The test app's manifest under another name, with `extra` TOML appended.
pub fn test_app_manifest(name: &str, extra: &str) -> String {
    let text =
        std::fs::read_to_string(components::TEST_APP_MANIFEST).expect("read test-app manifest");
    assert!(
        text.contains("name = \"test-app\""),
        "test-app manifest must name the app test-app"
    );
    let renamed = text.replacen("name = \"test-app\"", &format!("name = \"{name}\""), 1);
    format!("{renamed}\n{extra}\n")
}

/// Generate a `sqlite` and a `postgres` test from `async fn NAME(host: TestHost)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::TestHost::new($crate::Backend::Sqlite).await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::TestHost::new($crate::Backend::Postgres).await).await
            }
        }
    )*};
}

/// The `hutong` binary the benchmarks run: `HUTONG_BIN`, else the one
/// beside the running benchmark in the target directory
/// (`target/<profile>/hutong`).
pub fn hutong_binary() -> std::path::PathBuf {
    if let Ok(p) = std::env::var("HUTONG_BIN") {
        return std::path::PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<bench>-xxxx -> target/<profile>/hutong
    exe.parent()
        .and_then(std::path::Path::parent)
        .map(|p| p.join("hutong"))
        .expect("target dir")
}

/// `GET path` on a real socket with HTTP/1.1; the status and body.
pub async fn http_get(
    addr: std::net::SocketAddr,
    path: &str,
    token: Option<String>,
) -> Result<(u16, Vec<u8>), Box<dyn std::error::Error + Send + Sync>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut request = hyper::Request::get(path).header("host", "test");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request.body(http_body_util::Empty::<hyper::body::Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes().to_vec();
    Ok((status, body))
}

/// The host's log lines written on this thread while it is alive, as text.
/// Use it in a `current_thread` test, so the whole call runs on the thread
/// that captures.
pub struct LogCapture {
    sink: LogSink,
    _guard: tracing::subscriber::DefaultGuard,
}

#[derive(Clone, Default)]
struct LogSink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    /// Capture this thread's log lines at INFO and above, without colours.
    pub fn start() -> Self {
        let sink = LogSink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        LogCapture {
            sink,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    /// Everything captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.sink.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

/// Serve `app` on a free local port, in the background; its address.
pub async fn listen(app: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A 16×16 JPEG photo with an EXIF block (APP1) holding a GPS position, as
/// a phone's camera writes one: for checking that the host strips it.
pub fn photo_with_location() -> Vec<u8> {
    let pixels: Vec<u8> = (0..16 * 16)
        .flat_map(|i| [(i * 7 % 256) as u8, 120, (255 - i % 256) as u8])
        .collect();
    let mut jpeg = Vec::new();
    jpeg_encoder::Encoder::new(&mut jpeg, 80)
        .encode(&pixels, 16, 16, jpeg_encoder::ColorType::Rgb)
        .expect("encode a JPEG");
    let exif: &[u8] = b"Exif\0\0MM\0*GPSLatitude 31.2304 N GPSLongitude 121.4737 E";
    let mut segment = vec![0xFF, 0xE1];
    segment.extend(((exif.len() + 2) as u16).to_be_bytes());
    segment.extend(exif);
    // Right after the start-of-image marker, where cameras put it.
    jpeg.splice(2..2, segment);
    jpeg
}
