//! Noisy neighbour: how one district's app answers alone and beside a
//! hostile app in another district, with the host's shares on and, for
//! comparison, off (any install may take the whole pool and every core).
//!
//! `good` serves the test app's `/ping` and a kv write (see [`LOADS`]);
//! `evil`'s copy is hammered with its spin-until-the-deadline,
//! spin-400-ms-and-answer, allocate-until-the-cap and kv-flood routes (see
//! [`hostile`]). Both loads come from `wrk`,
//! outside this process; the figures are `good`'s p50 and p99 latency as
//! `wrk` measured them, its errors, and the p99 beside the hostile load over
//! the p99 alone. Phases alternate (alone, beside, alone, beside) so drift
//! on a shared machine hits both.
//!
//! Run with `bash scripts/bench` (which installs `wrk`), or on its own with
//! `cargo bench -p hutong-tests --bench isolation`; `HUTONG_BENCH_QUICK=1`
//! shortens every phase, `HUTONG_BENCH_ONLY=sqlite|postgres` runs one back
//! end, and `HUTONG_BENCH_SHARES=on,slots,off` (any of them) only those
//! settings of the shares, and `HUTONG_BENCH_HOSTILE=loop,spin,alloc,kv` (any
//! of them) only those hostile routes; `HUTONG_BENCH_HOSTILE=outside` puts no
//! load on `evil` but keeps one core busy with a shell loop outside the host,
//! for reference: what sharing the cores alone costs `good`.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hutong_host::kernel::manifest::Permission;
use hutong_host::runtime::Shares;
use hutong_tests::{Backend, TestHost, components, listen, test_app_manifest};

fn quick() -> bool {
    std::env::var("HUTONG_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// What `wrk` reported for one run.
#[derive(Clone, Copy, Debug, Default)]
struct Run {
    p50_ms: f64,
    p99_ms: f64,
    requests: u64,
    errors: u64,
}

/// `1.23ms`, `456.00us`, `1.20s` in milliseconds.
fn millis(text: &str) -> f64 {
    let (number, factor) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (text, 1.0)
    };
    number.parse::<f64>().unwrap_or(f64::NAN) * factor
}

fn parse(output: &str) -> Run {
    let mut run = Run::default();
    for line in output.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", v] => run.p50_ms = millis(v),
            ["99%", v] => run.p99_ms = millis(v),
            [n, "requests", "in", ..] => run.requests = n.parse().unwrap_or(0),
            ["Non-2xx", "or", "3xx", "responses:", n] => run.errors += n.parse().unwrap_or(0),
            ["Socket", "errors:", rest @ ..] => {
                run.errors += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            _ => {}
        }
    }
    run
}

/// One load on `good`, measured alone and beside the hostile app.
#[derive(Clone, Copy)]
struct Load {
    /// How the figures name it.
    name: &'static str,
    method: &'static str,
    /// The route; `%d` is replaced by a request counter.
    path: &'static str,
    /// Milliseconds each connection waits after an answer before its next
    /// request; `None` sends as fast as answers come.
    pace_ms: Option<u32>,
}

/// `good`'s loads: `/ping` as fast as four connections can go (which a
/// fair host must slow down beside another district's busy app: the two
/// share the cores), and `/ping` and a kv write at a steady ~380 requests/s
/// (four connections, 10 ms between an answer and the next request),
/// which is how a district's app is used and what the target holds to.
const LOADS: [Load; 3] = [
    Load {
        name: "/ping, saturating",
        method: "GET",
        path: "/d/good/apps/test-app/ping",
        pace_ms: None,
    },
    Load {
        name: "/ping, paced",
        method: "GET",
        path: "/d/good/apps/test-app/ping",
        pace_ms: Some(10),
    },
    Load {
        name: "kv write, paced",
        method: "PUT",
        path: "/d/good/apps/test-app/kv/fill?key=good-%d&bytes=100",
        pace_ms: Some(10),
    },
];

/// `load` on `good` for `secs`, four connections, with `token`.
fn measure(addr: SocketAddr, secs: u64, load: Load, token: &str, dir: &std::path::Path) -> Run {
    let script = dir.join("good.lua");
    let pace = load.pace_ms.map_or(String::new(), |ms| {
        format!("delay = function() return {ms} end")
    });
    std::fs::write(
        &script,
        format!(
            r#"
local n = 0
request = function()
  n = n + 1
  return wrk.format("{}", string.format("{}", n))
end
{pace}
"#,
            load.method, load.path
        ),
    )
    .expect("write the wrk script");
    let out = Command::new("wrk")
        .args(["-t1", "-c4", &format!("-d{secs}s"), "--latency", "-s"])
        .arg(&script)
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .arg(format!("http://{addr}/"))
        .output()
        .expect("run wrk (install it: apt-get install wrk)");
    parse(&String::from_utf8_lossy(&out.stdout))
}

/// The hostile load on `evil`: sixteen connections cycling through the
/// routes that spin until the deadline, spin for 400 ms and answer (calls
/// that succeed, so the breaker does not keep the app suspended), allocate
/// until the cap and flood kv, until interrupted.
fn hostile(addr: SocketAddr, token: &str, dir: &std::path::Path) -> Child {
    let script = dir.join("hostile.lua");
    let wanted = std::env::var("HUTONG_BENCH_HOSTILE").unwrap_or_default();
    if wanted == "outside" {
        // For reference: no hostile app at all, one core kept busy by a
        // process outside the host, as the hostile app's share allows.
        return Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .expect("run sh");
    }
    let routes: Vec<&str> = [
        ("loop", r#"  {"GET", "/d/evil/apps/test-app/loop"},"#),
        ("spin", r#"  {"GET", "/d/evil/apps/test-app/spin?ms=400"},"#),
        (
            "alloc",
            r#"  {"GET", "/d/evil/apps/test-app/alloc-forever"},"#,
        ),
        (
            "kv",
            r#"  {"PUT", "/d/evil/apps/test-app/kv/fill?key=flood-%d&bytes=60000"},"#,
        ),
    ]
    .into_iter()
    .filter(|(key, _)| wanted.is_empty() || wanted.split(',').any(|w| w == *key))
    .map(|(_, line)| line)
    .collect();
    std::fs::write(
        &script,
        r#"
local routes = {
{routes}
}
local n = 0
request = function()
  n = n + 1
  local route = routes[(n % #routes) + 1]
  return wrk.format(route[1], string.format(route[2], n))
end
"#
        .replace("{routes}", &routes.join("\n")),
    )
    .expect("write the wrk script");
    Command::new("wrk")
        .args(["-t1", "-c16", "-d600s", "-s"])
        .arg(&script)
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .arg(format!("http://{addr}/"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run wrk (install it: apt-get install wrk)")
}

/// This process's resident memory (the host's, as it runs here), in MiB.
fn resident_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

async fn bench(backend: Backend, name: &str, label: &str, shares: Option<Shares>) {
    let host = TestHost::with_config(backend, |c| {
        if let Some(shares) = shares {
            c.shares = shares;
        } else {
            c.shares = Shares::unlimited(c.max_instances);
        }
    })
    .await;
    for district in ["good", "evil"] {
        host.district(district).await;
    }
    let manifest = test_app_manifest("test-app", "[limits]\ndeadline-ms = 500");
    host.install("good", &manifest, components::TEST_APP, &[Permission::Kv])
        .await
        .expect("install in good");
    host.install("evil", &manifest, components::TEST_APP, &[Permission::Kv])
        .await
        .expect("install in evil");
    let token = host.district_admin("evil").await;
    let good_token = host.district_admin("good").await;
    let addr = listen(host.app()).await;

    let secs = if quick() { 3 } else { 10 };
    let rounds = if quick() { 1 } else { 2 };
    // For each load, its runs alone and beside.
    let mut alone = vec![Vec::new(); LOADS.len()];
    let mut beside = vec![Vec::new(); LOADS.len()];
    let mut memory = vec![resident_mib()];
    let mut hostile_runs = Vec::new();
    let dir = host.dir();
    let each = |runs: &mut Vec<Vec<Run>>| {
        let (good_token, dir) = (good_token.clone(), dir.clone());
        let runs_of = LOADS.map(|load| measure(addr, secs, load, &good_token, &dir));
        for (runs, run) in runs.iter_mut().zip(runs_of) {
            runs.push(run);
        }
    };
    for _ in 0..rounds {
        tokio::task::block_in_place(|| each(&mut alone));
        let load = hostile(addr, &token, &dir);
        // Let the hostile load fill its share first.
        tokio::time::sleep(Duration::from_secs(1)).await;
        tokio::task::block_in_place(|| each(&mut beside));
        memory.push(resident_mib());
        // `wrk` prints what it got when interrupted.
        let _ = Command::new("kill")
            .args(["-INT", &load.id().to_string()])
            .status();
        if let Ok(out) = load.wait_with_output() {
            let run = parse(&String::from_utf8_lossy(&out.stdout));
            if run.requests > 0 {
                hostile_runs.push(run);
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // What the bursts left behind, once they are over.
    tokio::time::sleep(Duration::from_secs(4)).await;
    memory.push(resident_mib());
    let median = |runs: &[Run]| {
        let mut runs = runs.to_vec();
        runs.sort_by(|a, b| a.p99_ms.total_cmp(&b.p99_ms));
        runs[runs.len() / 2]
    };
    for (i, load) in LOADS.iter().enumerate() {
        let (a, b) = (median(&alone[i]), median(&beside[i]));
        let errors: u64 = beside[i].iter().map(|r| r.errors).sum();
        println!(
            "noisy neighbour, {name}, shares {label}, good {}: alone p50 {:.2} ms p99 {:.2} ms \
             ({} requests); beside the hostile app p50 {:.2} ms p99 {:.2} ms ({} requests, \
             {errors} errors); p99 ratio {:.1}",
            load.name,
            a.p50_ms,
            a.p99_ms,
            a.requests,
            b.p50_ms,
            b.p99_ms,
            b.requests,
            b.p99_ms / a.p99_ms,
        );
    }
    for run in hostile_runs {
        println!(
            "noisy neighbour, {name}, shares {label}, the hostile load: {} requests, \
             {} of them not answered 2xx (refused, busy or failed: the host's answer \
             for the app)",
            run.requests, run.errors
        );
    }
    println!(
        "noisy neighbour, {name}, shares {label}: host memory {:.0} MiB before, \
         {:.0} MiB at most under load, {:.0} MiB 5 s after",
        memory[0],
        memory[1..memory.len() - 1]
            .iter()
            .copied()
            .fold(0.0, f64::max),
        memory[memory.len() - 1],
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("the isolation benchmark needs wrk (apt-get install wrk); skipped");
        return;
    }
    let only = std::env::var("HUTONG_BENCH_ONLY").unwrap_or_default();
    let wanted = std::env::var("HUTONG_BENCH_SHARES").unwrap_or_default();
    for (backend, name) in [
        (Backend::Sqlite, "SQLite"),
        (Backend::Postgres, "PostgreSQL"),
    ] {
        if !only.is_empty() && !name.eq_ignore_ascii_case(&only) {
            continue;
        }
        let slots_only = Shares {
            long_lanes: 256,
            long_per_district: 256,
            database_per_district: 256,
            ..Shares::for_pool(256)
        };
        let variants = [
            ("on", "on", Some(Shares::for_pool(256))),
            ("slots", "slots only", Some(slots_only)),
            ("off", "off", None),
        ];
        for (key, label, shares) in variants {
            if wanted.is_empty() || wanted.split(',').any(|w| w == key) {
                bench(backend, name, label, shares).await;
            }
        }
    }
}
