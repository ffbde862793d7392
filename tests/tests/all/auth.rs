//! Identity and access: bearer tokens (expiry, revocation, disabled
//! accounts), the API's access rules per role, and the caller apps see.

use axum::http::{Method, StatusCode};
use base64::Engine as _;
use hutong_host::accounts::Role;
use hutong_tests::{Backend, TestHost, components, on_both_backends, test_app_manifest};

on_both_backends!(
    the_api_refuses_callers_without_a_valid_token,
    expired_revoked_and_disabled_tokens_are_refused,
    a_district_admin_acts_only_in_their_district,
    an_auditor_reads_but_changes_nothing,
    workers_and_residents_have_no_administrative_access,
    apps_see_their_districts_callers_and_anonymous_callers_only_on_public_routes,
    every_district_endpoint_answers_an_unknown_or_malformed_district_alike,
    a_kept_token_stops_once_changed_behind_the_hosts_back,
);

fn install_body(name: &str) -> String {
    let component = std::fs::read(components::TEST_APP).expect("component");
    serde_json::json!({
        "manifest": test_app_manifest(name, ""),
        "component_base64": base64::engine::general_purpose::STANDARD.encode(component),
        "grant": ["kv"],
    })
    .to_string()
}

async fn the_api_refuses_callers_without_a_valid_token(host: TestHost) {
    host.district("east").await;
    for (token, needle) in [
        (None, "Authorization: Bearer"),
        (Some("not-a-token"), "malformed"),
        (
            Some(
                "htk_0123456789abcdef_0000000000000000000000000000000000000000000000000000000000000000",
            ),
            "not valid",
        ),
    ] {
        let r = host.get_as(token, "/api/v1/districts").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(r.headers["www-authenticate"], "Bearer");
        assert!(r.text().contains(needle), "{token:?}: {}", r.text());
    }
    // A wrong secret for a real token id is refused too.
    let token = host.account("ana", Role::DistrictAdmin, Some("east")).await;
    let forged = format!("{}{}", &token[..token.len() - 4], "0000");
    assert_ne!(forged, token);
    let r = host.get_as(Some(&forged), "/api/v1/me").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let me = host.get_as(Some(&token), "/api/v1/me").await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["account_id"], "ana");
    assert_eq!(me.json()["role"], "district-admin");
    assert_eq!(me.json()["district"], "east");
}

async fn expired_revoked_and_disabled_tokens_are_refused(host: TestHost) {
    host.district("east").await;
    let store = host.opened.platform.store();

    // Expired: a token whose expiry has passed.
    let token = host.account("old", Role::DistrictAdmin, Some("east")).await;
    let id = &token[4..20];
    let ok = host.get_as(Some(&token), "/api/v1/me").await;
    assert_eq!(ok.status, StatusCode::OK);
    let record = store.get_token(id).await.expect("token");
    let secret = &token[21..];
    let hash = sha2_hash::sha256_hex(secret);
    store
        .create_token("feedfacefeedface", "old", &hash, "stale", 1)
        .await
        .expect("stale token");
    let stale = format!("htk_feedfacefeedface_{secret}");
    let r = host.get_as(Some(&stale), "/api/v1/me").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.text().contains("expired"), "{}", r.text());
    assert!(record.expires_at > hutong_host::kernel::clock::now_ms());

    // Revoked, by its owner through the API.
    let r = host
        .delete_as(Some(&token), &format!("/api/v1/tokens/{id}"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = host.get_as(Some(&token), "/api/v1/me").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.text().contains("revoked"), "{}", r.text());

    // Someone else's token, or none at all, is "not found" alike.
    let other = host.account("other", Role::Resident, Some("east")).await;
    let other_id = &other[4..20];
    let stranger = host.account("stranger", Role::Resident, Some("east")).await;
    for id in [other_id, "0123456789abcdef"] {
        let r = host
            .delete_as(Some(&stranger), &format!("/api/v1/tokens/{id}"))
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{id}: {}", r.text());
    }
    assert_eq!(
        host.get_as(Some(&other), "/api/v1/me").await.status,
        StatusCode::OK
    );

    // Disabled account: every token stops.
    let worker = host.account("wang", Role::Worker, Some("east")).await;
    let r = host.post("/api/v1/accounts/wang/disable", "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = host.get_as(Some(&worker), "/api/v1/me").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.text().contains("disabled"), "{}", r.text());
    let r = host.post("/api/v1/accounts/wang/tokens", "{}").await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
}

/// `GET /api/v1/me` with `token` until it is answered `want`, for at most
/// `within`; how long that took.
async fn until_answered(
    host: &TestHost,
    token: &str,
    want: StatusCode,
    within: std::time::Duration,
) -> std::time::Duration {
    let started = std::time::Instant::now();
    loop {
        let r = host.get_as(Some(token), "/api/v1/me").await;
        if r.status == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "still {} after {within:?}, not {want}: {}",
            r.status,
            r.text()
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

/// Use `token` until the host keeps it, for at most `within`.
async fn until_kept(host: &TestHost, token: &str, within: std::time::Duration) {
    let cache = host.opened.platform.token_cache();
    let started = std::time::Instant::now();
    while !cache.holds(&token[4..20]) {
        let r = host.get_as(Some(token), "/api/v1/me").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert!(started.elapsed() < within, "the token was never kept");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// The host keeps what each token stands for between requests; a token
/// revoked, or an account disabled, by another connection (another host
/// process, the command line) is refused at the first request after the
/// change on SQLite, and once PostgreSQL has delivered its notification
/// there.
async fn a_kept_token_stops_once_changed_behind_the_hosts_back(host: TestHost) {
    host.district("east").await;
    let cache = host.opened.platform.token_cache();
    // Within this, PostgreSQL tells the process of a change (it takes
    // milliseconds; the bound is for a busy machine); SQLite has no delay.
    let within = std::time::Duration::from_secs(10);
    let token = host.account("kai", Role::Worker, Some("east")).await;
    let id = token[4..20].to_owned();
    // Used once, the token is kept (on PostgreSQL once the process listens
    // for changes, which its first request starts).
    until_kept(&host, &token, within).await;
    let me = host.get_as(Some(&token), "/api/v1/me").await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["account_id"], "kai");
    assert!(cache.holds(&id));
    // A wrong secret for the kept token is refused like any other.
    let forged = format!("{}{}", &token[..token.len() - 4], "0000");
    let r = host.get_as(Some(&forged), "/api/v1/me").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.text().contains("not valid"), "{}", r.text());

    // Revoked on another connection: refused.
    host.execute_raw(&format!(
        "UPDATE api_tokens SET revoked_at = 1 WHERE id = '{id}'"
    ))
    .await;
    let took = match host.backend {
        Backend::Sqlite => {
            let r = host.get_as(Some(&token), "/api/v1/me").await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
            assert!(r.text().contains("revoked"), "{}", r.text());
            std::time::Duration::ZERO
        }
        Backend::Postgres => until_answered(&host, &token, StatusCode::UNAUTHORIZED, within).await,
    };
    println!("{:?}: the revocation held after {took:?}", host.backend);

    // The account disabled on another connection: its other token stops.
    let other = hutong_host::accounts::issue_token(
        host.opened.platform.store(),
        "kai",
        "second",
        hutong_host::kernel::clock::now_ms() + 3_600_000,
    )
    .await
    .expect("a second token")
    .token;
    until_kept(&host, &other, within).await;
    host.execute_raw("UPDATE accounts SET disabled_at = 1 WHERE id = 'kai'")
        .await;
    match host.backend {
        Backend::Sqlite => {
            let r = host.get_as(Some(&other), "/api/v1/me").await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
            assert!(r.text().contains("disabled"), "{}", r.text());
        }
        Backend::Postgres => {
            until_answered(&host, &other, StatusCode::UNAUTHORIZED, within).await;
        }
    }
    // Another account's token still works, and is kept again.
    let ana = host.account("ana", Role::Worker, Some("east")).await;
    until_kept(&host, &ana, within).await;
    assert_eq!(
        host.get_as(Some(&ana), "/api/v1/me").await.status,
        StatusCode::OK
    );
    // Revoked by its owner through this host, a kept token is refused at
    // the very next request, on either back end.
    let ana_id = &ana[4..20];
    let r = host
        .delete_as(Some(&ana), &format!("/api/v1/tokens/{ana_id}"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = host.get_as(Some(&ana), "/api/v1/me").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    assert!(r.text().contains("revoked"), "{}", r.text());
}

/// sha256 in hex, as the host stores token secrets.
mod sha2_hash {
    pub fn sha256_hex(s: &str) -> String {
        use std::fmt::Write;
        let digest = <sha2::Sha256 as sha2::Digest>::digest(s.as_bytes());
        digest.iter().fold(String::new(), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
    }
}

async fn a_district_admin_acts_only_in_their_district(host: TestHost) {
    host.district("east").await;
    host.district("west").await;
    let east = host.district_admin("east").await;
    let before = host.row_counts().await;

    let install_in = |district: &str| {
        let uri = format!("/api/v1/districts/{district}/installs");
        let (host, east) = (&host, &east);
        async move {
            host.post_as(Some(east), &uri, install_body("test-app"))
                .await
        }
    };
    let r = install_in("west").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.text().contains("district `east` only"), "{}", r.text());
    assert_eq!(
        host.row_counts().await,
        before,
        "a refused install changes nothing"
    );
    let r = install_in("east").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());

    for (method, uri) in [
        (Method::GET, "/api/v1/districts/west/installs"),
        (Method::GET, "/api/v1/installs"),
        (Method::POST, "/api/v1/districts"),
        (Method::GET, "/api/v1/accounts?district=west"),
    ] {
        let r = host
            .request_as(Some(&east), method.clone(), uri, r#"{"id":"north"}"#)
            .await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{method} {uri}: {}",
            r.text()
        );
    }
    // Their own district's accounts, yes; a platform administrator, no.
    for (account, status) in [
        (
            r#"{"id":"li","role":"worker","district":"east"}"#,
            StatusCode::CREATED,
        ),
        (
            r#"{"id":"boss","role":"platform-admin"}"#,
            StatusCode::FORBIDDEN,
        ),
        (
            r#"{"id":"spy","role":"worker","district":"west"}"#,
            StatusCode::FORBIDDEN,
        ),
    ] {
        let r = host.post_as(Some(&east), "/api/v1/accounts", account).await;
        assert_eq!(r.status, status, "{account}: {}", r.text());
    }
    // They see only their own district.
    let listed = host.get_as(Some(&east), "/api/v1/districts").await.json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert_eq!(listed[0]["id"], "east");
    // A token for their worker, shown once; its secret is not stored.
    let r = host
        .post_as(
            Some(&east),
            "/api/v1/accounts/li/tokens",
            r#"{"label":"phone","expires_in_days":30}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let issued = r.json();
    let token = issued["token"].as_str().expect("token").to_owned();
    let listed = host.get_as(Some(&east), "/api/v1/accounts/li/tokens").await;
    assert!(!listed.text().contains(&token[21..]), "{}", listed.text());
    let r = host
        .post_as(
            Some(&east),
            "/api/v1/accounts/li/tokens",
            r#"{"expires_in_days":1000}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
}

async fn an_auditor_reads_but_changes_nothing(host: TestHost) {
    host.district("east").await;
    host.install_test_app("east", "test-app", true, "").await;
    let auditor = host.account("audit", Role::Auditor, Some("east")).await;
    let before = host.row_counts().await;

    let r = host
        .get_as(Some(&auditor), "/api/v1/districts/east/installs")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()[0]["app"], "test-app");
    let r = host.get_as(Some(&auditor), "/api/v1/accounts").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    for (method, uri, body) in [
        (
            Method::POST,
            "/api/v1/districts/east/installs".to_owned(),
            install_body("other"),
        ),
        (
            Method::DELETE,
            "/api/v1/districts/east/installs/test-app".to_owned(),
            String::new(),
        ),
        (
            Method::POST,
            "/api/v1/districts/east/installs/test-app/suspend".to_owned(),
            String::new(),
        ),
        (
            Method::POST,
            "/api/v1/districts/east/installs/test-app/resume".to_owned(),
            String::new(),
        ),
        (
            Method::POST,
            "/api/v1/accounts".to_owned(),
            r#"{"id":"x","role":"worker","district":"east"}"#.to_owned(),
        ),
        (
            Method::POST,
            "/api/v1/accounts/audit/tokens".to_owned(),
            "{}".to_owned(),
        ),
        (
            Method::POST,
            "/api/v1/districts".to_owned(),
            r#"{"id":"north"}"#.to_owned(),
        ),
    ] {
        let r = host
            .request_as(Some(&auditor), method.clone(), &uri, body)
            .await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{method} {uri}: {}",
            r.text()
        );
    }
    assert_eq!(host.row_counts().await, before);
    let shown = host
        .get("/api/v1/districts/east/installs/test-app")
        .await
        .json();
    assert_eq!(shown["status"], "active");
}

async fn workers_and_residents_have_no_administrative_access(host: TestHost) {
    host.district("east").await;
    host.install_test_app("east", "test-app", false, "").await;
    let worker = host.account("wang", Role::Worker, Some("east")).await;
    let resident = host.account("zhang", Role::Resident, Some("east")).await;
    for token in [&worker, &resident] {
        for uri in [
            "/api/v1/districts/east/installs",
            "/api/v1/districts/east/installs/test-app",
            "/api/v1/accounts",
        ] {
            let r = host.get_as(Some(token), uri).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{uri}: {}", r.text());
        }
        let r = host
            .post_as(
                Some(token),
                "/api/v1/districts/east/installs/test-app/suspend",
                "",
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        // Other accounts are "not found", whether they exist or not.
        for id in ["root", "nobody-at-all"] {
            let r = host
                .get_as(Some(token), &format!("/api/v1/accounts/{id}"))
                .await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{id}: {}", r.text());
        }
        // They may see who they are and their district.
        assert_eq!(
            host.get_as(Some(token), "/api/v1/me").await.status,
            StatusCode::OK
        );
        assert_eq!(
            host.get_as(Some(token), "/api/v1/districts/east")
                .await
                .status,
            StatusCode::OK
        );
    }
}

async fn apps_see_their_districts_callers_and_anonymous_callers_only_on_public_routes(
    host: TestHost,
) {
    host.district("east").await;
    host.district("west").await;
    host.install_test_app("east", "test-app", false, "").await;
    let resident = host.account("zhang", Role::Resident, Some("east")).await;
    let outsider = host.account("li", Role::Resident, Some("west")).await;

    // Anonymous: public routes only.
    let r = host.get_as(None, "/d/east/apps/test-app/echo").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    assert_eq!(r.headers["www-authenticate"], "Bearer");
    let r = host
        .get_as(None, "/d/east/apps/test-app/echo/public/x")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["caller"], serde_json::Value::Null);

    // A resident of the district: the app learns who, never the token.
    let r = host
        .get_as(Some(&resident), "/d/east/apps/test-app/echo")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let caller = &r.json()["caller"];
    assert_eq!(caller["account_id"], "zhang");
    assert_eq!(caller["role"], "resident");
    assert_eq!(caller["district"], "east");
    assert_eq!(caller["resident_id"], "resident-of-zhang");
    assert!(!r.text().contains(&resident));

    // Someone of another district: refused, or anonymous on public routes.
    let r = host
        .get_as(Some(&outsider), "/d/east/apps/test-app/echo")
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let r = host
        .get_as(Some(&outsider), "/d/east/apps/test-app/echo/public/x")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["caller"], serde_json::Value::Null);

    // A path that climbs out of a public route is refused, not normalised.
    for path in [
        "/echo/public/../../echo",
        "/echo/public/%2e%2e/x",
        "/echo/public%2F..%2Fx",
    ] {
        let r = host
            .get_as(None, &format!("/d/east/apps/test-app{path}"))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.text());
    }

    // A bad token is refused even on a public route.
    let r = host
        .get_as(Some("garbage"), "/d/east/apps/test-app/ping")
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_secrets_are_never_stored() {
    let host = TestHost::new(Backend::Sqlite).await;
    host.district("east").await;
    let token = host.account("ana", Role::DistrictAdmin, Some("east")).await;
    let secret = token[21..].to_owned();
    host.opened.platform.store().close().await;
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(&host.settings.data_dir)
        .expect("data dir")
        .flatten()
    {
        if entry.file_name().to_string_lossy().starts_with("hutong.db") {
            bytes.extend(std::fs::read(entry.path()).expect("read"));
        }
    }
    assert!(!bytes.is_empty());
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains(&secret), "a token secret is in the database");
    assert!(text.contains(&token[4..20]), "the token id is stored");
}

/// One district check at the edge: whatever the endpoint, a district that
/// does not exist is a 404 naming it (not an empty list), a malformed id is
/// a 404 with the rule, and a caller of another district is refused in one
/// wording before anything is looked up.
async fn every_district_endpoint_answers_an_unknown_or_malformed_district_alike(host: TestHost) {
    host.district("east").await;
    let east_admin = host.account("ana", Role::DistrictAdmin, Some("east")).await;
    let endpoints = [
        "cases",
        "case-categories",
        "case-figures",
        "departments",
        "residents",
        "installs",
        "devices",
        "events",
        "notifications",
        "audit/access",
        "audit/grants",
        "trusted-keys",
        "notify/settings",
        "event-dead-letters",
    ];
    for endpoint in endpoints {
        // As the platform administrator.
        let get_in = |district: &str| {
            let uri = format!("/api/v1/districts/{district}/{endpoint}");
            let host = &host;
            async move { host.request(Method::GET, &uri, "").await }
        };
        // An unknown district, then a malformed id.
        for (district, says) in [
            ("nowhere", "district `nowhere` does not exist"),
            ("East", "district id `East` is invalid"),
        ] {
            let r = get_in(district).await;
            assert_eq!(
                r.status,
                StatusCode::NOT_FOUND,
                "{district}/{endpoint}: {}",
                r.text()
            );
            assert!(
                r.text().contains(says),
                "{district}/{endpoint}: {}",
                r.text()
            );
        }

        let other = host
            .request_as(
                Some(&east_admin),
                Method::GET,
                &format!("/api/v1/districts/west/{endpoint}"),
                "",
            )
            .await;
        if endpoint == "cases" {
            // Who sees which case is the case rules' to say; an unknown
            // district is still a 404.
            assert_eq!(other.status, StatusCode::NOT_FOUND, "{endpoint}");
        } else {
            assert_eq!(
                other.status,
                StatusCode::FORBIDDEN,
                "{endpoint}: {}",
                other.text()
            );
            assert!(
                other
                    .text()
                    .contains("you act for district `east` only, not `west`"),
                "{endpoint}: {}",
                other.text()
            );
        }

        let known = get_in("east").await;
        assert_eq!(known.status, StatusCode::OK, "{endpoint}: {}", known.text());
    }
}

/// On PostgreSQL, a process hears of changes through a listening
/// connection, which its own heartbeats prove alive without dropping what
/// is kept. Should that connection end (PostgreSQL restarted, a network
/// failure), nothing kept is trusted until it listens again, and a token
/// revoked meanwhile is refused; then tokens are kept again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_listening_connection_trusts_nothing_kept_on_postgres() {
    let host = TestHost::new(Backend::Postgres).await;
    host.district("east").await;
    let within = std::time::Duration::from_secs(10);
    let token = host.account("kai", Role::Worker, Some("east")).await;
    let id = token[4..20].to_owned();
    until_kept(&host, &token, within).await;

    // The process hears its own heartbeats back (one every 5 s), which
    // leave what it keeps alone.
    let cache = host.opened.platform.token_cache();
    let before = cache.revision();
    tokio::time::sleep(
        hutong_host::kernel::store::HEARTBEAT * 2 + std::time::Duration::from_secs(1),
    )
    .await;
    let r = host.get_as(Some(&token), "/api/v1/me").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(cache.revision(), before, "heartbeats moved the revision");
    assert!(cache.holds(&id));

    let mut conn = host.raw_connection().await;
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
    )
    .fetch_all(&mut conn)
    .await
    .expect("end the listening connection");
    assert_eq!(ended, vec![true], "one connection listens");
    host.execute_raw(&format!(
        "UPDATE api_tokens SET revoked_at = 1 WHERE id = '{id}'"
    ))
    .await;
    until_answered(&host, &token, StatusCode::UNAUTHORIZED, within).await;

    // Listening again, the process keeps tokens again; the revoked one
    // stays refused.
    let ana = host.account("ana", Role::Worker, Some("east")).await;
    until_kept(&host, &ana, within).await;
    for _ in 0..3 {
        let r = host.get_as(Some(&token), "/api/v1/me").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    }
    let listening: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("count listeners");
    assert_eq!(listening, 1);
}
