//! Noisy neighbour: how one district's app answers alone and beside a
//! hostile app in another district, with the host's shares on and, for
//! comparison, off (any install may take the whole pool and every core).
//!
//! `good` serves the test app's public `/ping`; `evil`'s copy is hammered
//! with its spin-until-the-deadline, allocate-until-the-cap and kv-flood
//! routes. Both loads come from `wrk`, outside this process; the figures
//! are `good`'s p50 and p99 latency as `wrk` measured them, its errors, and
//! the p99 beside the hostile load over the p99 alone. Phases alternate
//! (alone, beside, alone, beside) so drift on a shared machine hits both.
//!
//! Run with `bash scripts/bench` (which installs `wrk`), or on its own with
//! `cargo bench -p hutong-tests --bench isolation`; `HUTONG_BENCH_QUICK=1`
//! shortens every phase, `HUTONG_BENCH_ONLY=sqlite|postgres` runs one back
//! end, and `HUTONG_BENCH_SHARES=on,slots,off` (any of them) only those
//! settings of the shares.

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

/// `good`'s `/ping` for `secs`, four connections.
fn measure(addr: SocketAddr, secs: u64) -> Run {
    let out = Command::new("wrk")
        .args(["-t1", "-c4", &format!("-d{secs}s"), "--latency"])
        .arg(format!("http://{addr}/d/good/apps/test-app/ping"))
        .output()
        .expect("run wrk (install it: apt-get install wrk)");
    parse(&String::from_utf8_lossy(&out.stdout))
}

/// The hostile load on `evil`: sixteen connections cycling through the
/// spinning, allocating and kv-flooding routes, until killed.
fn hostile(addr: SocketAddr, token: &str, dir: &std::path::Path) -> Child {
    let script = dir.join("hostile.lua");
    std::fs::write(
        &script,
        r#"
local routes = {
  {"GET", "/d/evil/apps/test-app/loop"},
  {"GET", "/d/evil/apps/test-app/alloc-forever"},
  {"PUT", "/d/evil/apps/test-app/kv/fill?key=flood-%d&bytes=60000"},
}
local n = 0
request = function()
  n = n + 1
  local route = routes[(n % #routes) + 1]
  return wrk.format(route[1], string.format(route[2], n))
end
"#,
    )
    .expect("write the wrk script");
    Command::new("wrk")
        .args(["-t1", "-c16", "-d600s", "-s"])
        .arg(&script)
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .arg(format!("http://{addr}/"))
        .stdout(Stdio::null())
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
    host.install("good", &manifest, components::TEST_APP, &[])
        .await
        .expect("install in good");
    host.install("evil", &manifest, components::TEST_APP, &[Permission::Kv])
        .await
        .expect("install in evil");
    let token = host.district_admin("evil").await;
    let addr = listen(host.app()).await;

    let secs = if quick() { 3 } else { 10 };
    let rounds = if quick() { 1 } else { 2 };
    let (mut alone, mut beside) = (Vec::new(), Vec::new());
    let mut memory = vec![resident_mib()];
    for _ in 0..rounds {
        alone.push(
            tokio::task::spawn_blocking(move || measure(addr, secs))
                .await
                .expect("wrk"),
        );
        let mut load = hostile(addr, &token, &host.dir());
        // Let the hostile load fill its share first.
        tokio::time::sleep(Duration::from_secs(1)).await;
        beside.push(
            tokio::task::spawn_blocking(move || measure(addr, secs))
                .await
                .expect("wrk"),
        );
        memory.push(resident_mib());
        let _ = load.kill();
        let _ = load.wait();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // What the bursts left behind, once they are over.
    tokio::time::sleep(Duration::from_secs(4)).await;
    memory.push(resident_mib());
    let best = |runs: &[Run]| {
        let mut runs = runs.to_vec();
        runs.sort_by(|a, b| a.p99_ms.total_cmp(&b.p99_ms));
        runs[runs.len() / 2]
    };
    let (a, b) = (best(&alone), best(&beside));
    let errors: u64 = beside.iter().map(|r| r.errors).sum();
    println!(
        "noisy neighbour, {name}, shares {label}: good alone p50 {:.2} ms p99 {:.2} ms ({} requests); \
         beside the hostile app p50 {:.2} ms p99 {:.2} ms ({} requests, {errors} errors); \
         p99 ratio {:.1}; host memory {:.0} MiB before, {:.0} MiB at most under load, \
         {:.0} MiB 5 s after",
        a.p50_ms,
        a.p99_ms,
        a.requests,
        b.p50_ms,
        b.p99_ms,
        b.requests,
        b.p99_ms / a.p99_ms,
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
