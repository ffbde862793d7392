//! Notifications through real apps: a permission per channel, recipients
//! resolved by the host without a phone number reaching the app, idempotent
//! sends, delivery to local gateways with retries, dead letters and their
//! retry, a restart between accepting and delivering, signatures a receiver
//! verifies, the per-install rate limit and the inbox.

use axum::http::{Method, StatusCode};
use hmac::{Hmac, Mac};
use hutong_host::AccountRequest;
use hutong_host::accounts::Role;
use hutong_host::community::import::Format;
use hutong_host::kernel::manifest::Permission;
use hutong_host::kernel::outbox::retry_pause_ms;
use hutong_host::notify::ops::{MAX_ATTEMPTS, NotifyReport};
use hutong_tests::gateway::Gateway;
use hutong_tests::tls::{TestCa, trusted_ca};
use hutong_tests::{TestHost, TestResponse, account_request, on_both_backends};
use serde_json::{Value, json};

on_both_backends!(
    each_channel_works_when_granted_and_is_denied_without_its_permission,
    recipients_are_resolved_by_the_host_and_no_phone_reaches_the_app,
    a_narrowed_install_reaches_only_its_communities,
    a_repeated_key_returns_the_first_receipt_and_delivers_once,
    a_down_gateway_is_retried_until_it_returns,
    a_gateway_down_for_good_leaves_a_dead_letter_an_administrator_retries,
    a_send_accepted_before_a_crash_is_delivered_once_by_the_next_process,
    two_processes_deliver_each_notification_once,
    a_receiver_verifies_the_signature_with_the_districts_secret,
    the_rate_limit_stops_the_flooding_app_only,
    inbox_messages_are_listed_and_marked_read_by_their_recipient_only,
    gateway_settings_are_checked_and_the_secret_never_shown,
    an_https_gateway_behind_a_private_ca_gets_the_delivery,
    a_gateway_with_an_untrusted_certificate_is_retried_not_lost,
);

const SECRET: &str = "a-district-secret-of-some-length";

const CHANNELS: &[Permission] = &[
    Permission::NotifyInbox,
    Permission::NotifySms,
    Permission::NotifyVoice,
    Permission::NotifyWebhook,
];

/// A district with two communities, three grids, four residents (one
/// without a phone), an organisation whose members live in both
/// communities, a resident account for r1, and three workers.
async fn district(host: &TestHost) {
    host.district("east").await;
    let records = [
        json!({"kind": "street", "id": "s1", "name": "Street"}),
        json!({"kind": "community", "id": "c1", "street_id": "s1", "name": "One"}),
        json!({"kind": "community", "id": "c2", "street_id": "s1", "name": "Two"}),
        json!({"kind": "grid", "id": "c1-g1", "community_id": "c1", "name": "G1"}),
        json!({"kind": "grid", "id": "c1-g2", "community_id": "c1", "name": "G2"}),
        json!({"kind": "grid", "id": "c2-g1", "community_id": "c2", "name": "G3"}),
        json!({"kind": "resident", "id": "r1", "grid_id": "c1-g1", "name": "张三", "phone": "13800000001"}),
        json!({"kind": "resident", "id": "r2", "grid_id": "c1-g1", "name": "李四"}),
        json!({"kind": "resident", "id": "r3", "grid_id": "c1-g2", "name": "王五", "phone": "13800000003"}),
        json!({"kind": "resident", "id": "r4", "grid_id": "c2-g1", "name": "赵六", "phone": "13800000004"}),
        json!({"kind": "organisation", "id": "o1", "community_id": "c1", "organisation_kind": "party-branch", "name": "Branch"}),
        json!({"kind": "membership", "organisation_id": "o1", "resident_id": "r1"}),
        json!({"kind": "membership", "organisation_id": "o1", "resident_id": "r3"}),
        json!({"kind": "membership", "organisation_id": "o1", "resident_id": "r4"}),
    ];
    let text: Vec<String> = records.iter().map(Value::to_string).collect();
    host.opened
        .platform
        .import_data("east", &text.join("\n"), Format::JsonLines)
        .await
        .expect("import");
    for (id, role, resident, grids, phone) in [
        ("ana", Role::Resident, Some("r1"), vec![], None),
        ("w1", Role::Worker, None, vec!["c1-g1"], Some("13900000001")),
        ("w2", Role::Worker, None, vec!["c1-g2"], None),
        ("w3", Role::Worker, None, vec!["c2-g1"], Some("13900000003")),
    ] {
        host.opened
            .platform
            .create_account(AccountRequest {
                resident_id: resident.map(str::to_owned),
                grids: grids.into_iter().map(str::to_owned).collect(),
                phone: phone.map(str::to_owned),
                ..account_request(id, role, Some("east"))
            })
            .await
            .expect("account");
    }
}

async fn install(host: &TestHost, name: &str, grants: &[Permission], communities: Option<&[&str]>) {
    host.install_app_in("east", name, grants, communities).await;
}

/// Point the district's gateways at `gateway`.
async fn configure(host: &TestHost, gateway: &Gateway, rate: Option<i64>) {
    let mut settings = json!({
        "sms_url": gateway.url("/sms"),
        "voice_url": gateway.url("/voice"),
        "webhook_url": gateway.url("/hook"),
        "secret": SECRET,
    });
    if let Some(rate) = rate {
        settings["rate_per_minute"] = json!(rate);
    }
    let r = host
        .put(
            "/api/v1/districts/east/notify/settings",
            settings.to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

async fn send(host: &TestHost, app: &str, to: Value, channel: &str, key: &str) -> TestResponse {
    send_text(
        host,
        app,
        to,
        channel,
        key,
        "Visit planned for tomorrow morning.",
    )
    .await
}

async fn send_text(
    host: &TestHost,
    app: &str,
    to: Value,
    channel: &str,
    key: &str,
    body: &str,
) -> TestResponse {
    let message = json!({
        "to": to, "channel": channel, "subject": "Notice", "body": body, "key": key,
    });
    host.post(
        &format!("/d/east/apps/{app}/notify/send"),
        message.to_string(),
    )
    .await
}

async fn sent(host: &TestHost, app: &str, to: Value, channel: &str, key: &str) -> Value {
    let r = send(host, app, to, channel, key).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

async fn deliver(platform: &hutong_host::Platform) -> NotifyReport {
    platform.deliver_notifications().await.expect("deliver")
}

async fn each_channel_works_when_granted_and_is_denied_without_its_permission(host: TestHost) {
    district(&host).await;
    let gateway = Gateway::start().await;
    configure(&host, &gateway, None).await;
    install(
        &host,
        "inbox-and-sms",
        &[Permission::NotifyInbox, Permission::NotifySms],
        None,
    )
    .await;
    install(
        &host,
        "voice-and-hook",
        &[Permission::NotifyVoice, Permission::NotifyWebhook],
        None,
    )
    .await;
    let to = json!({"resident": "r1"});
    for (app, channel, allowed) in [
        ("inbox-and-sms", "inbox", true),
        ("inbox-and-sms", "sms", true),
        ("inbox-and-sms", "voice", false),
        ("inbox-and-sms", "webhook", false),
        ("voice-and-hook", "inbox", false),
        ("voice-and-hook", "sms", false),
        ("voice-and-hook", "voice", true),
        ("voice-and-hook", "webhook", true),
    ] {
        let r = send(&host, app, to.clone(), channel, &format!("k-{channel}")).await;
        if allowed {
            assert_eq!(r.status, StatusCode::OK, "{app} {channel}: {}", r.text());
            assert_eq!(r.json()["recipients"], 1, "{app} {channel}");
        } else {
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "{app} {channel}: {}",
                r.text()
            );
            assert!(
                r.text().contains(&format!("notify-{channel}")),
                "{}",
                r.text()
            );
        }
    }
    let report = deliver(&host.opened.platform).await;
    assert_eq!(report.delivered, 3, "sms, voice and webhook: {report:?}");
    let mut paths: Vec<String> = gateway.accepted().into_iter().map(|r| r.path).collect();
    paths.sort();
    assert_eq!(paths, ["/hook", "/sms", "/voice"]);

    // Each denial is on record, naming the permission.
    let log = host
        .opened
        .platform
        .access_log("east", Some("inbox-and-sms"), None, 100)
        .await
        .expect("log");
    let denied: Vec<&str> = log
        .iter()
        .filter(|e| e.operation == "notify.send" && e.outcome != "allowed")
        .map(|e| e.permission.as_str())
        .collect();
    assert_eq!(denied.len(), 2, "{log:?}");
    assert!(denied.contains(&"notify-voice") && denied.contains(&"notify-webhook"));
    let allowed = log
        .iter()
        .find(|e| e.operation == "notify.send" && e.permission == "notify-sms")
        .expect("the sms send is logged");
    assert_eq!(allowed.record_ids, ["resident:r1"]);
    assert_eq!(allowed.field_class, "contact");
}

async fn recipients_are_resolved_by_the_host_and_no_phone_reaches_the_app(host: TestHost) {
    district(&host).await;
    let gateway = Gateway::start().await;
    configure(&host, &gateway, None).await;
    install(&host, "sender", CHANNELS, None).await;
    let cases = [
        (json!({"resident": "r1"}), "sms", 1, 0),
        (json!({"resident": "r2"}), "sms", 0, 1),
        (json!({"worker": "w1"}), "sms", 1, 0),
        (json!({"worker": "w2"}), "voice", 0, 1),
        (json!({"workers-of-grid": "c1-g1"}), "sms", 1, 0),
        (json!({"residents-of-grid": "c1-g1"}), "sms", 1, 1),
        (json!({"workers-of-community": "c1"}), "webhook", 2, 0),
        (json!({"residents-of-community": "c1"}), "sms", 2, 1),
        (json!({"organisation": "o1"}), "sms", 3, 0),
        (json!({"residents-of-grid": "c1-g1"}), "inbox", 1, 1),
    ];
    for (i, (to, channel, recipients, unreachable)) in cases.iter().enumerate() {
        let r = send(&host, "sender", to.clone(), channel, &format!("k{i}")).await;
        assert_eq!(r.status, StatusCode::OK, "{to} {channel}: {}", r.text());
        let body = r.text();
        assert!(
            !body.contains("138000") && !body.contains("139000"),
            "{body}"
        );
        let receipt = r.json();
        assert_eq!(receipt["recipients"], *recipients, "{to} {channel}: {body}");
        assert_eq!(
            receipt["unreachable"], *unreachable,
            "{to} {channel}: {body}"
        );
    }
    for to in [
        json!({"resident": "nobody"}),
        json!({"worker": "ana"}),
        json!({"workers-of-grid": "no-grid"}),
        json!({"residents-of-community": "no-community"}),
        json!({"organisation": "no-org"}),
    ] {
        let r = send(&host, "sender", to.clone(), "sms", "k-missing").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{to}: {}", r.text());
    }

    deliver(&host.opened.platform).await;
    let mut phones: Vec<String> = gateway
        .accepted()
        .iter()
        .filter(|r| r.path == "/sms")
        .map(|r| r.body["to"].as_str().unwrap_or_default().to_owned())
        .collect();
    phones.sort();
    // r1 ×4 (resident, grid, community, organisation), r3 ×2, r4 once, w1 ×2.
    assert_eq!(
        phones,
        [
            "13800000001",
            "13800000001",
            "13800000001",
            "13800000001",
            "13800000003",
            "13800000003",
            "13800000004",
            "13900000001",
            "13900000001",
        ]
    );
    let hooks: Vec<Value> = gateway
        .accepted()
        .iter()
        .filter(|r| r.path == "/hook")
        .map(|r| r.body["recipient"].clone())
        .collect();
    assert_eq!(hooks.len(), 2);
    assert!(hooks.iter().all(|h| h["kind"] == "account"), "{hooks:?}");
    assert!(
        gateway
            .accepted()
            .iter()
            .filter(|r| r.path == "/hook")
            .all(|r| r.body.get("to").is_none()),
        "a webhook carries no phone number"
    );
}

async fn a_narrowed_install_reaches_only_its_communities(host: TestHost) {
    district(&host).await;
    install(&host, "narrow", CHANNELS, Some(&["c1"])).await;
    for to in [
        json!({"resident": "r4"}),
        json!({"worker": "w3"}),
        json!({"workers-of-grid": "c2-g1"}),
        json!({"residents-of-community": "c2"}),
    ] {
        let r = send(&host, "narrow", to.clone(), "sms", "k").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{to}: {}", r.text());
    }
    // The organisation is in c1; its member living in c2 is left out.
    let receipt = sent(
        &host,
        "narrow",
        json!({"organisation": "o1"}),
        "webhook",
        "k-org",
    )
    .await;
    assert_eq!(receipt["recipients"], 2, "{receipt}");
}

async fn a_repeated_key_returns_the_first_receipt_and_delivers_once(host: TestHost) {
    district(&host).await;
    let gateway = Gateway::start().await;
    configure(&host, &gateway, None).await;
    install(&host, "sender", CHANNELS, None).await;
    install(&host, "other", CHANNELS, None).await;
    let to = json!({"residents-of-grid": "c1-g1"});
    let first = sent(&host, "sender", to.clone(), "sms", "alert-1").await;
    assert_eq!(first["replayed"], false);
    let again = sent(&host, "sender", to.clone(), "sms", "alert-1").await;
    assert_eq!(again["replayed"], true);
    assert_eq!(again["message_id"], first["message_id"]);
    assert_eq!(again["recipients"], first["recipients"]);

    // Another message under the used key is refused; another app's key is
    // its own.
    let r = send_text(
        &host,
        "sender",
        to.clone(),
        "sms",
        "alert-1",
        "Something else",
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.text().contains("already used"), "{}", r.text());
    let theirs = sent(&host, "other", to.clone(), "sms", "alert-1").await;
    assert_eq!(theirs["replayed"], false);

    deliver(&host.opened.platform).await;
    let again = sent(&host, "sender", to, "sms", "alert-1").await;
    assert_eq!(again["replayed"], true);
    deliver(&host.opened.platform).await;
    assert_eq!(gateway.accepted().len(), 2, "one per app");
}

async fn a_down_gateway_is_retried_until_it_returns(host: TestHost) {
    district(&host).await;
    let gateway = Gateway::start().await;
    configure(&host, &gateway, None).await;
    install(&host, "sender", CHANNELS, None).await;
    sent(&host, "sender", json!({"resident": "r1"}), "sms", "k").await;
    gateway.set_status(503);
    let platform = &host.opened.platform;
    let clock = platform.store().clock();
    clock.set_ms(clock.now_ms());
    for attempt in 1..=3 {
        let report = deliver(platform).await;
        assert_eq!(report.retrying, 1, "attempt {attempt}: {report:?}");
        // Not due again before its pause is over.
        assert_eq!(deliver(platform).await, NotifyReport::default());
        clock.advance_ms(retry_pause_ms(attempt));
    }
    assert_eq!(gateway.refused(), 3);
    gateway.set_status(200);
    let report = deliver(platform).await;
    assert_eq!(report.delivered, 1, "{report:?}");
    let accepted = gateway.accepted();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].body["attempt"], 4);
    clock.advance_ms(600_000);
    assert_eq!(deliver(platform).await, NotifyReport::default());
    let page = host
        .get("/api/v1/districts/east/notifications?status=delivered")
        .await
        .json();
    assert_eq!(page["notifications"][0]["attempts"], 3, "{page}");
}

async fn a_gateway_down_for_good_leaves_a_dead_letter_an_administrator_retries(host: TestHost) {
    district(&host).await;
    let gateway = Gateway::start().await;
    configure(&host, &gateway, None).await;
    install(&host, "sender", CHANNELS, None).await;
    sent(&host, "sender", json!({"worker": "w1"}), "voice", "k").await;
    gateway.set_status(500);
    let platform = &host.opened.platform;
    let clock = platform.store().clock();
    clock.set_ms(clock.now_ms());
    for attempt in 1..=MAX_ATTEMPTS {
        let report = deliver(platform).await;
        if attempt < MAX_ATTEMPTS {
            assert_eq!(report.retrying, 1, "attempt {attempt}: {report:?}");
        } else {
            assert_eq!(report.failed, 1, "attempt {attempt}: {report:?}");
        }
        clock.advance_ms(retry_pause_ms(attempt));
    }
    clock.advance_ms(3_600_000);
    assert_eq!(
        deliver(platform).await,
        NotifyReport::default(),
        "dead stays dead"
    );

    let page = host
        .get("/api/v1/districts/east/notifications?status=failed")
        .await
        .json();
    let dead = &page["notifications"][0];
    assert_eq!(dead["attempts"], MAX_ATTEMPTS, "{page}");
    assert!(
        dead["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("500"),
        "{page}"
    );
    assert!(dead.get("address").is_none(), "{page}");
    let id = dead["id"].as_i64().expect("id");

    // Only the district's administrators retry.
    let worker = host.token("w1").await;
    let uri = format!("/api/v1/districts/east/notifications/{id}/retry");
    let r = host.post_as(Some(&worker), &uri, "").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    gateway.set_status(200);
    let r = host.post(&uri, "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = host.post(&uri, "").await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "retrying a pending one: {}",
        r.text()
    );
    assert_eq!(deliver(platform).await.delivered, 1);
    assert_eq!(gateway.accepted().len(), 1);
    let r = host
        .post("/api/v1/districts/east/notifications/999999/retry", "")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
}

async fn a_send_accepted_before_a_crash_is_delivered_once_by_the_next_process(host: TestHost) {
    district(&host).await;
    let gateway = Gateway::start().await;
    configure(&host, &gateway, None).await;
    install(&host, "sender", CHANNELS, None).await;
    let receipt = sent(&host, "sender", json!({"organisation": "o1"}), "sms", "k").await;
    assert_eq!(receipt["recipients"], 3);
    // The first process claims the deliveries and dies before sending them.
    let store = host.opened.platform.store();
    let claimed = store
        .claim_notifications(store.clock().now_ms(), 60_000, 64)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 3);
    host.opened.platform.store().close().await;

    let next = host.another_process().await;
    assert_eq!(
        deliver(&next.platform).await,
        NotifyReport::default(),
        "the dead process's lease still holds"
    );
    let clock = next.platform.store().clock();
    clock.advance_ms(60_001);
    assert_eq!(deliver(&next.platform).await.delivered, 3);
    clock.advance_ms(600_000);
    assert_eq!(deliver(&next.platform).await, NotifyReport::default());
    let mut ids: Vec<i64> = gateway
        .accepted()
        .iter()
        .map(|r| r.body["delivery_id"].as_i64().unwrap_or_default())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "each delivered once");
    assert_eq!(gateway.accepted().len(), 3);
}

async fn two_processes_deliver_each_notification_once(host: TestHost) {
    district(&host).await;
    let gateway = Gateway::start().await;
    configure(&host, &gateway, Some(10_000)).await;
    install(&host, "sender", CHANNELS, None).await;
    for i in 0..40 {
        sent(
            &host,
            "sender",
            json!({"residents-of-community": "c1"}),
            "webhook",
            &format!("k{i}"),
        )
        .await;
    }
    let a = host.another_process().await;
    let b = host.another_process().await;
    let (ra, rb) = tokio::join!(deliver(&a.platform), deliver(&b.platform));
    assert_eq!(ra.delivered + rb.delivered, 120, "{ra:?} {rb:?}");
    let mut ids: Vec<i64> = gateway
        .accepted()
        .iter()
        .map(|r| r.body["delivery_id"].as_i64().unwrap_or_default())
        .collect();
    assert_eq!(ids.len(), 120);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 120, "no delivery twice");
}

async fn a_receiver_verifies_the_signature_with_the_districts_secret(host: TestHost) {
    district(&host).await;
    let gateway = Gateway::start().await;
    configure(&host, &gateway, None).await;
    install(&host, "sender", CHANNELS, None).await;
    sent(&host, "sender", json!({"resident": "r3"}), "webhook", "k").await;
    deliver(&host.opened.platform).await;
    let accepted = gateway.accepted();
    let request = accepted.first().expect("a request");
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let timestamp = header("x-hutong-timestamp");
    let signature = header("x-hutong-signature");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let ts: i64 = timestamp.parse().expect("a numeric timestamp");
    assert!((now - ts).abs() < 300, "fresh: {ts} vs {now}");
    // What a receiver does: HMAC-SHA256 over "<timestamp>.<body>".
    let verify = |secret: &str| {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(&request.raw);
        let hex = signature.strip_prefix("sha256=").unwrap_or_default();
        let bytes = hex::decode(hex).unwrap_or_default();
        mac.verify_slice(&bytes).is_ok()
    };
    assert!(verify(SECRET), "signature {signature}");
    assert!(!verify("another-secret-of-some-length"));
    assert_eq!(
        request.body["recipient"],
        json!({"kind": "resident", "id": "r3"})
    );
    assert_eq!(
        header("x-hutong-delivery"),
        request.body["delivery_id"].to_string()
    );
    // A tampered body no longer matches.
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(
        format!(
            "{timestamp}.{}",
            String::from_utf8_lossy(&request.raw).replace("r3", "r1")
        )
        .as_bytes(),
    );
    assert_ne!(
        format!("sha256={}", hex::encode(mac.finalize().into_bytes())),
        signature
    );
}

async fn the_rate_limit_stops_the_flooding_app_only(host: TestHost) {
    district(&host).await;
    let gateway = Gateway::start().await;
    configure(&host, &gateway, Some(3)).await;
    install(&host, "flood", CHANNELS, None).await;
    install(&host, "quiet", CHANNELS, None).await;
    let clock = host.opened.platform.store().clock();
    // At the start of a minute, so the test does not straddle two.
    clock.set_ms((clock.now_ms() / 60_000 + 1) * 60_000);
    for i in 0..3 {
        sent(
            &host,
            "flood",
            json!({"resident": "r1"}),
            "inbox",
            &format!("k{i}"),
        )
        .await;
    }
    let r = send(&host, "flood", json!({"resident": "r1"}), "inbox", "k3").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    assert!(
        r.text().contains("3 notification deliveries per minute"),
        "{}",
        r.text()
    );
    // A replay of an accepted send is not a new delivery.
    sent(&host, "flood", json!({"resident": "r1"}), "inbox", "k0").await;
    // Another app is unaffected.
    sent(&host, "quiet", json!({"resident": "r1"}), "inbox", "k0").await;
    // A group larger than what is left is refused whole.
    let r = send(&host, "quiet", json!({"organisation": "o1"}), "sms", "big").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    clock.advance_ms(60_000);
    sent(&host, "flood", json!({"resident": "r1"}), "inbox", "k3").await;
}

async fn inbox_messages_are_listed_and_marked_read_by_their_recipient_only(host: TestHost) {
    district(&host).await;
    install(&host, "sender", &[Permission::NotifyInbox], None).await;
    sent(
        &host,
        "sender",
        json!({"resident": "r1"}),
        "inbox",
        "to-ana",
    )
    .await;
    sent(&host, "sender", json!({"worker": "w1"}), "inbox", "to-w1").await;
    let ana = host.token("ana").await;
    let w1 = host.token("w1").await;
    let inbox = |token: String| {
        let host = &host;
        async move {
            let r = host.get_as(Some(&token), "/api/v1/inbox").await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            r.json()["notifications"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        }
    };
    let anas = inbox(ana.clone()).await;
    assert_eq!(anas.len(), 1, "{anas:?}");
    assert_eq!(anas[0]["app"], "sender");
    assert_eq!(anas[0]["read_at"], Value::Null);
    assert_eq!(inbox(w1.clone()).await.len(), 1);
    assert_eq!(inbox(host.admin_token.clone()).await.len(), 0);

    let id = anas[0]["id"].as_i64().expect("id");
    let uri = format!("/api/v1/inbox/{id}/read");
    let r = host.post_as(Some(&w1), &uri, "").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "not w1's: {}", r.text());
    let r = host.post_as(None, &uri, "").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = host.post_as(Some(&ana), &uri, "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let read = inbox(ana.clone()).await;
    assert!(read[0]["read_at"].is_i64(), "{read:?}");
    let r = host.get_as(Some(&ana), "/api/v1/inbox?unread=true").await;
    assert_eq!(r.json()["notifications"], json!([]));
    // Marking read twice is harmless.
    let r = host.post_as(Some(&ana), &uri, "").await;
    assert_eq!(r.status, StatusCode::OK);
}

async fn gateway_settings_are_checked_and_the_secret_never_shown(host: TestHost) {
    district(&host).await;
    let gateway = Gateway::start().await;
    configure(&host, &gateway, None).await;
    let r = host.get("/api/v1/districts/east/notify/settings").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.text().contains(SECRET), "{}", r.text());
    assert_eq!(r.json()["secret_set"], true);
    assert_eq!(r.json()["rate_per_minute"], 600);
    for bad in [
        json!({"sms_url": "ftp://gateway.example/sms"}),
        json!({"webhook_url": "not a url"}),
        json!({"secret": "short"}),
        json!({"rate_per_minute": 0}),
    ] {
        let r = host
            .put("/api/v1/districts/east/notify/settings", bad.to_string())
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.text()
        );
    }
    let auditor = host.account("aud", Role::Auditor, Some("east")).await;
    let r = host
        .request_as(
            Some(&auditor),
            Method::PUT,
            "/api/v1/districts/east/notify/settings",
            json!({}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Accounts list phones masked; the account itself sees its own.
    let list = host.get("/api/v1/accounts?district=east").await.text();
    assert!(!list.contains("13900000001"), "{list}");
    let w1 = host.token("w1").await;
    let me = host.get_as(Some(&w1), "/api/v1/accounts/w1").await.json();
    assert_eq!(me["phone"], "13900000001");
}

async fn an_https_gateway_behind_a_private_ca_gets_the_delivery(host: TestHost) {
    district(&host).await;
    // Signed by the CA the host trusts as its `--ca-file`.
    let gateway = Gateway::start_https(trusted_ca()).await;
    assert!(gateway.url("/sms").starts_with("https://127.0.0.1:"));
    configure(&host, &gateway, None).await;
    install(&host, "sender", CHANNELS, None).await;
    sent(&host, "sender", json!({"resident": "r1"}), "sms", "k").await;
    let report = deliver(&host.opened.platform).await;
    assert_eq!(report.delivered, 1, "{report:?}");
    let accepted = gateway.accepted();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].path, "/sms");
    assert_eq!(accepted[0].body["channel"], "sms");
    assert_eq!(accepted[0].body["to"], "13800000001");
    let signature = accepted[0].headers["x-hutong-signature"]
        .to_str()
        .expect("ascii");
    assert!(signature.starts_with("sha256="), "{signature}");
}

async fn a_gateway_with_an_untrusted_certificate_is_retried_not_lost(host: TestHost) {
    district(&host).await;
    // A CA the host was never told to trust.
    let stranger = TestCa::new("Unknown CA");
    let gateway = Gateway::start_https(&stranger).await;
    configure(&host, &gateway, None).await;
    install(&host, "sender", CHANNELS, None).await;
    sent(&host, "sender", json!({"resident": "r1"}), "sms", "k").await;
    let platform = &host.opened.platform;
    let clock = platform.store().clock();
    clock.set_ms(clock.now_ms());
    let report = deliver(platform).await;
    assert_eq!(report.retrying, 1, "{report:?}");
    assert!(gateway.accepted().is_empty());
    let page = host
        .get("/api/v1/districts/east/notifications?status=pending")
        .await
        .json();
    let error = page["notifications"][0]["last_error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        error.contains("sms gateway failed") && error.contains("certificate"),
        "{page}"
    );
    // Pointed at a gateway it trusts, the same message goes out.
    let trusted = Gateway::start_https(trusted_ca()).await;
    configure(&host, &trusted, None).await;
    clock.advance_ms(retry_pause_ms(1));
    let report = deliver(platform).await;
    assert_eq!(report.delivered, 1, "{report:?}");
    assert_eq!(trusted.accepted().len(), 1);
    assert_eq!(trusted.accepted()[0].body["attempt"], 2);
}
