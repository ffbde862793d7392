//! Schedules through the real test app, on both back ends: a tick per
//! period and never before the install, one tick for a stretch of missed
//! periods, once per period across processes, only with the grant, not
//! while suspended, failures recorded and not retried, cron at a UTC
//! offset.

use axum::http::StatusCode;
use hutong_host::kernel::manifest::Permission;
use hutong_tests::{TestHost, components, on_both_backends, test_app_manifest};

on_both_backends!(
    a_tick_runs_once_per_period_and_never_for_a_period_before_the_install,
    missed_periods_run_once_not_once_each,
    two_processes_run_each_period_once,
    an_install_without_the_grant_gets_no_ticks,
    a_suspended_install_misses_its_ticks_and_resumes_on_the_next_period,
    a_failed_tick_is_recorded_and_not_retried,
    cron_schedules_follow_their_utc_offset,
    the_schedule_view_shows_the_next_tick_and_recent_runs,
);

const MINUTE: i64 = 60_000;

fn manifest(schedules: &str) -> String {
    test_app_manifest("ticker", schedules).replacen(
        "[permissions]\n",
        "[permissions]\nschedules = \"The tests count ticks in kv.\"\n",
        1,
    )
}

const EVERY_MINUTE: &str = "[[schedules]]\nname = \"rounds\"\nevery = \"1m\"\n";

/// Install the ticker with `schedules`, granted `grant`; returns when it was
/// installed (ms), with the host's clock stopped there.
async fn install(host: &TestHost, schedules: &str, grant: &[Permission]) -> i64 {
    host.district("east").await;
    let install = host
        .install("east", &manifest(schedules), components::TEST_APP, grant)
        .await
        .expect("install");
    host.opened
        .platform
        .store()
        .clock()
        .set_ms(install.installed_at);
    install.installed_at
}

/// The ticks the app recorded: (schedule, period due at, times told).
async fn ticks(host: &TestHost) -> Vec<(String, i64, u32)> {
    let r = host.get("/d/east/apps/ticker/kv/list?prefix=ticks/").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let mut out = Vec::new();
    for key in r.json()["keys"].as_array().cloned().unwrap_or_default() {
        let key = key.as_str().unwrap_or_default().to_owned();
        let mut parts = key.split('/').skip(1);
        let schedule = parts.next().unwrap_or_default().to_owned();
        let at: i64 = parts.next().unwrap_or_default().parse().unwrap_or(-1);
        let v = host
            .get(&format!("/d/east/apps/ticker/kv/get?key={key}"))
            .await;
        out.push((schedule, at, v.text().parse().unwrap_or(0)));
    }
    out.sort();
    out
}

fn next_minute(ms: i64) -> i64 {
    ms - ms.rem_euclid(MINUTE) + MINUTE
}

async fn a_tick_runs_once_per_period_and_never_for_a_period_before_the_install(host: TestHost) {
    let installed = install(
        &host,
        EVERY_MINUTE,
        &[Permission::Kv, Permission::Schedules],
    )
    .await;
    let platform = &host.opened.platform;
    let clock = platform.store().clock().clone();
    // The period in progress at install time began before it: no tick.
    let r = platform.run_due_ticks().await.expect("ticks");
    assert_eq!(r.handled, 0, "{r:?}");
    let first = next_minute(installed);
    clock.set_ms(first + 5);
    assert_eq!(platform.run_due_ticks().await.expect("ticks").handled, 1);
    // The same period again: nothing.
    clock.advance_ms(30_000);
    assert_eq!(platform.run_due_ticks().await.expect("ticks").handled, 0);
    clock.set_ms(first + MINUTE);
    assert_eq!(platform.run_due_ticks().await.expect("ticks").handled, 1);
    assert_eq!(
        ticks(&host).await,
        [
            ("rounds".to_owned(), first, 1),
            ("rounds".to_owned(), first + MINUTE, 1)
        ]
    );
}

async fn missed_periods_run_once_not_once_each(host: TestHost) {
    let installed = install(
        &host,
        EVERY_MINUTE,
        &[Permission::Kv, Permission::Schedules],
    )
    .await;
    let platform = &host.opened.platform;
    let first = next_minute(installed);
    platform.store().clock().set_ms(first);
    platform.run_due_ticks().await.expect("ticks");
    // The host is down for ten periods; a new process starts.
    let restarted = host.another_process().await;
    restarted
        .platform
        .store()
        .clock()
        .set_ms(first + 10 * MINUTE + 20_000);
    let r = restarted.platform.run_due_ticks().await.expect("ticks");
    assert_eq!(r.handled, 1, "{r:?}");
    assert_eq!(
        ticks(&host).await,
        [
            ("rounds".to_owned(), first, 1),
            ("rounds".to_owned(), first + 10 * MINUTE, 1)
        ]
    );
}

async fn two_processes_run_each_period_once(host: TestHost) {
    let installed = install(
        &host,
        EVERY_MINUTE,
        &[Permission::Kv, Permission::Schedules],
    )
    .await;
    let other = host.another_process().await;
    let mut expected = Vec::new();
    for n in 1..=5 {
        let at = next_minute(installed) + (n - 1) * MINUTE;
        host.opened.platform.store().clock().set_ms(at + 1);
        other.platform.store().clock().set_ms(at + 2);
        let (a, b) = tokio::join!(
            host.opened.platform.run_due_ticks(),
            other.platform.run_due_ticks()
        );
        let (a, b) = (a.expect("ticks"), b.expect("ticks"));
        assert_eq!(a.handled + b.handled, 1, "{a:?} {b:?}");
        expected.push(("rounds".to_owned(), at, 1));
    }
    assert_eq!(ticks(&host).await, expected, "each period once, told once");
}

async fn an_install_without_the_grant_gets_no_ticks(host: TestHost) {
    let installed = install(&host, EVERY_MINUTE, &[Permission::Kv]).await;
    let platform = &host.opened.platform;
    platform
        .store()
        .clock()
        .set_ms(next_minute(installed) + 3 * MINUTE);
    let r = platform.run_due_ticks().await.expect("ticks");
    assert_eq!(r, Default::default());
    assert!(ticks(&host).await.is_empty());
}

async fn a_suspended_install_misses_its_ticks_and_resumes_on_the_next_period(host: TestHost) {
    let installed = install(
        &host,
        EVERY_MINUTE,
        &[Permission::Kv, Permission::Schedules],
    )
    .await;
    let platform = &host.opened.platform;
    let clock = platform.store().clock().clone();
    platform
        .suspend("east", "ticker", "maintenance")
        .await
        .expect("suspend");
    let first = next_minute(installed);
    clock.set_ms(first);
    assert_eq!(platform.run_due_ticks().await.expect("ticks").handled, 0);
    platform.resume("east", "ticker").await.expect("resume");
    clock.set_ms(first + MINUTE);
    assert_eq!(platform.run_due_ticks().await.expect("ticks").handled, 1);
    assert_eq!(
        ticks(&host).await,
        [("rounds".to_owned(), first + MINUTE, 1)]
    );
}

async fn a_failed_tick_is_recorded_and_not_retried(host: TestHost) {
    let installed = install(
        &host,
        EVERY_MINUTE,
        &[Permission::Kv, Permission::Schedules],
    )
    .await;
    let platform = &host.opened.platform;
    let clock = platform.store().clock().clone();
    let r = host
        .put("/d/east/apps/ticker/kv/set?key=tick/fail", "1")
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let first = next_minute(installed);
    clock.set_ms(first);
    let r = platform.run_due_ticks().await.expect("ticks");
    assert_eq!((r.handled, r.failed), (0, 1), "{r:?}");
    clock.advance_ms(10_000);
    let r = platform.run_due_ticks().await.expect("ticks");
    assert_eq!(r, Default::default(), "not retried within the period");
    let (_, runs) = platform.schedules("east", "ticker").await.expect("view");
    assert_eq!(runs[0].outcome, "refused");
    assert!(
        runs[0]
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("told to fail ticks"),
        "{runs:?}"
    );
    // The next period is the next chance.
    let r = host
        .delete("/d/east/apps/ticker/kv/delete?key=tick/fail")
        .await;
    assert!(r.status.is_success(), "{}", r.text());
    clock.set_ms(first + MINUTE);
    assert_eq!(platform.run_due_ticks().await.expect("ticks").handled, 1);
}

async fn cron_schedules_follow_their_utc_offset(host: TestHost) {
    let installed = install(
        &host,
        "[[schedules]]\nname = \"morning\"\ncron = \"0 8 * * *\"\nutc-offset = \"+08:00\"\n",
        &[Permission::Kv, Permission::Schedules],
    )
    .await;
    let platform = &host.opened.platform;
    let day = 86_400_000;
    // 08:00 at +08:00 is midnight UTC.
    let next_midnight = installed - installed.rem_euclid(day) + day;
    platform.store().clock().set_ms(next_midnight - 1);
    assert_eq!(platform.run_due_ticks().await.expect("ticks").handled, 0);
    platform.store().clock().set_ms(next_midnight + 1);
    assert_eq!(platform.run_due_ticks().await.expect("ticks").handled, 1);
    assert_eq!(
        ticks(&host).await,
        [("morning".to_owned(), next_midnight, 1)]
    );
}

async fn the_schedule_view_shows_the_next_tick_and_recent_runs(host: TestHost) {
    let installed = install(
        &host,
        EVERY_MINUTE,
        &[Permission::Kv, Permission::Schedules],
    )
    .await;
    let platform = &host.opened.platform;
    let first = next_minute(installed);
    platform.store().clock().set_ms(first);
    platform.run_due_ticks().await.expect("ticks");
    let r = host
        .get("/api/v1/districts/east/installs/ticker/schedules")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    assert_eq!(v["schedules"][0]["name"], "rounds");
    assert_eq!(v["schedules"][0]["timing"], "every 1m");
    assert_eq!(v["schedules"][0]["next_due_at"], first + MINUTE);
    assert_eq!(v["recent_runs"][0]["period_at"], first);
    assert_eq!(v["recent_runs"][0]["outcome"], "handled");
}
