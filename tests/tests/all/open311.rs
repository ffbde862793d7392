//! Open311 GeoReport v2 over cases: services, a request filed by form and
//! followed to closed, listings with filters, who sees what, and malformed
//! input answered the Open311 way with nothing stored.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use hutong_host::accounts;
use hutong_host::accounts::{Caller, Role};
use hutong_host::cases::ops::CaseActor;
use hutong_host::cases::store::{CaseFilter, Category};
use hutong_host::cases::{Action, Assignee, format_ms};
use hutong_host::kernel::clock::now_ms;
use hutong_tests::{TestHost, TestResponse, case_command, on_both_backends};
use serde_json::Value;

on_both_backends!(
    services_are_listed_and_defined_in_json_and_xml,
    a_request_filed_by_form_is_followed_to_closed,
    listings_filter_by_status_service_dates_and_ids,
    a_resident_sees_only_their_own_requests,
    malformed_input_is_refused_open311_style_and_stores_nothing,
    coordinates_are_stored_after_a_request_without_them,
);

const BASE: &str = "/d/east/open311/v2";
const DAY: i64 = 24 * 60 * 60 * 1000;

/// District `east` with the sample community data and two services.
async fn setup(host: &TestHost) {
    host.sample_district("east").await;
    for (code, name, group) in [
        ("streetlight", "路灯损坏", "市政设施"),
        ("garbage", "垃圾清运", "环境卫生"),
    ] {
        host.opened
            .platform
            .cases()
            .put_category(
                "east",
                Category {
                    code: code.into(),
                    name: name.into(),
                    description: format!("{name}问题"),
                    group: group.into(),
                },
            )
            .await
            .expect("category");
    }
}

fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encode everything but unreserved characters.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// POST a form to `requests.{ext}`.
async fn post(host: &TestHost, ext: &str, body: String) -> TestResponse {
    host.send(
        Request::builder()
            .method(Method::POST)
            .uri(format!("{BASE}/requests.{ext}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .expect("request"),
    )
    .await
}

/// File a streetlight request at building `c-xingfu-b1` as `token`; the id.
async fn file(host: &TestHost, token: &str, description: &str) -> i64 {
    let r = post(
        host,
        "json",
        form(&[
            ("api_key", token),
            ("service_code", "streetlight"),
            ("address_id", "c-xingfu-b1"),
            ("description", description),
        ]),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()[0]["service_request_id"]
        .as_i64()
        .expect("service_request_id")
}

async fn get(host: &TestHost, token: Option<&str>, uri: &str) -> TestResponse {
    host.get_as(token, uri).await
}

/// GET a listing as `token`; the request ids, in order.
async fn ids(host: &TestHost, token: &str, query: &str) -> Vec<i64> {
    let r = get(host, Some(token), &format!("{BASE}/requests.json?{query}")).await;
    assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.text());
    r.json()
        .as_array()
        .expect("array")
        .iter()
        .map(|x| x["service_request_id"].as_i64().expect("id"))
        .collect()
}

/// Assert an Open311 JSON error with `status` whose description mentions
/// `mentions`.
fn assert_error(r: &TestResponse, status: StatusCode, mentions: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    let body = r.json();
    let errors = body.as_array().expect("a list of errors");
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["code"], status.as_u16(), "{body}");
    let description = errors[0]["description"].as_str().expect("description");
    assert!(
        description.contains(mentions),
        "`{description}` should mention `{mentions}`"
    );
    assert!(!description.contains("internal"), "{description}");
}

async fn caller(host: &TestHost, token: &str) -> Caller {
    accounts::authenticate(host.opened.platform.store(), token, now_ms())
        .await
        .expect("valid token")
}

async fn act(
    host: &TestHost,
    who: &Caller,
    id: i64,
    action: Action,
    note: Option<&str>,
    assignee: Option<Assignee>,
) {
    host.opened
        .platform
        .cases()
        .act_on_case(
            "east",
            id,
            &CaseActor::Person(who.clone()),
            case_command(action, note, assignee),
        )
        .await
        .unwrap_or_else(|e| panic!("{action}: {e}"));
}

async fn services_are_listed_and_defined_in_json_and_xml(host: TestHost) {
    setup(&host).await;

    // Public: no credentials needed.
    let r = get(&host, None, &format!("{BASE}/services.json")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(
        r.headers["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("application/json"))
    );
    let services = r.json();
    let codes: Vec<&str> = services
        .as_array()
        .expect("array")
        .iter()
        .map(|s| s["service_code"].as_str().expect("code"))
        .collect();
    assert_eq!(codes, ["garbage", "streetlight"]);
    let lamp = &services[1];
    assert_eq!(lamp["service_name"], "路灯损坏");
    assert_eq!(lamp["description"], "路灯损坏问题");
    assert_eq!(lamp["group"], "市政设施");
    assert_eq!(lamp["metadata"], false);
    assert_eq!(lamp["type"], "realtime");

    let r = get(&host, None, &format!("{BASE}/services.xml")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(
        r.headers["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/xml"))
    );
    let xml = r.text();
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>"),
        "{xml}"
    );
    assert!(
        xml.contains("<services><service><service_code>garbage</service_code>"),
        "{xml}"
    );
    assert!(
        xml.contains("<service_name>路灯损坏</service_name>"),
        "{xml}"
    );
    assert!(xml.contains("<metadata>false</metadata>"), "{xml}");
    assert_eq!(xml.matches("<service>").count(), 2, "{xml}");

    // A matching jurisdiction_id is accepted; another is refused.
    let r = get(
        &host,
        None,
        &format!("{BASE}/services.json?jurisdiction_id=east"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = get(
        &host,
        None,
        &format!("{BASE}/services.json?jurisdiction_id=west"),
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "jurisdiction_id");

    // Definitions: categories have no attributes.
    let r = get(&host, None, &format!("{BASE}/services/streetlight.json")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.json(),
        serde_json::json!({"service_code": "streetlight", "attributes": []})
    );
    let r = get(&host, None, &format!("{BASE}/services/streetlight.xml")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(
        r.text().ends_with(
            "<service_definition><service_code>streetlight</service_code><attributes/></service_definition>"
        ),
        "{}",
        r.text()
    );

    let r = get(&host, None, &format!("{BASE}/services/potholes.json")).await;
    assert_error(&r, StatusCode::NOT_FOUND, "garbage, streetlight");
    let r = get(&host, None, &format!("{BASE}/services/potholes.xml")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(
        r.text()
            .contains("<errors><error><code>404</code><description>"),
        "{}",
        r.text()
    );
    let r = get(&host, None, "/d/nowhere/open311/v2/services.json").await;
    assert_error(&r, StatusCode::NOT_FOUND, "nowhere");
}

async fn a_request_filed_by_form_is_followed_to_closed(host: TestHost) {
    setup(&host).await;
    let ann = host.account("ann", Role::Resident, Some("east")).await;
    let wang = host.worker("wang", "east", &["c-xingfu-g1"]).await;

    let r = post(
        &host,
        "json",
        form(&[
            ("api_key", &ann),
            ("jurisdiction_id", "east"),
            ("service_code", "streetlight"),
            ("address_id", "c-xingfu-b1"),
            ("address_string", "幸福社区1号楼门口"),
            ("lat", "39.9042"),
            ("long", "116.4074"),
            ("description", "门口路灯不亮了"),
            ("media_url", "https://example.org/lamp.jpg"),
        ]),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let created = r.json();
    let id = created[0]["service_request_id"].as_i64().expect("id");
    let token = created[0]["token"].as_str().expect("token").to_owned();
    assert_eq!(created[0]["account_id"], "ann");

    let one = |token: String| {
        let host = &host;
        async move {
            let r = get(host, Some(&token), &format!("{BASE}/requests/{id}.json")).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            let list = r.json();
            assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
            list[0].clone()
        }
    };
    let req: Value = one(ann.clone()).await;
    assert_eq!(req["service_request_id"], id);
    assert_eq!(req["status"], "open");
    assert_eq!(req["status_notes"], "reported at the grid tier");
    assert_eq!(req["service_code"], "streetlight");
    assert_eq!(req["service_name"], "路灯损坏");
    assert_eq!(req["description"], "门口路灯不亮了");
    assert_eq!(req["address"], "幸福社区1号楼门口");
    assert_eq!(req["address_id"], "c-xingfu-b1");
    assert_eq!(req["lat"], 39.9042);
    assert_eq!(req["long"], 116.4074);
    assert_eq!(req["media_url"], "https://example.org/lamp.jpg");
    assert_eq!(req["agency_responsible"], Value::Null);
    let case = host
        .opened
        .platform
        .store()
        .case("east", id)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(req["requested_datetime"], format_ms(case.created_at));
    assert_eq!(case.reporter.id(), "ann");

    // The same in XML, and with the token in a header instead.
    let r = host
        .get_as(Some(&ann), &format!("{BASE}/requests/{id}.xml"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let xml = r.text();
    assert!(
        xml.contains(&format!(
            "<service_requests><request><service_request_id>{id}</service_request_id><status>open</status>"
        )),
        "{xml}"
    );
    assert!(
        xml.contains("<address_id>c-xingfu-b1</address_id>"),
        "{xml}"
    );

    // The worker of the grid takes it through the lifecycle.
    let worker = caller(&host, &wang).await;
    act(&host, &worker, id, Action::Accept, None, None).await;
    act(
        &host,
        &worker,
        id,
        Action::Dispatch,
        None,
        Some(Assignee::Worker("wang".into())),
    )
    .await;
    act(&host, &worker, id, Action::Start, None, None).await;
    let req = one(ann.clone()).await;
    assert_eq!(req["status"], "open");
    assert_eq!(req["status_notes"], "in-progress at the grid tier");
    assert_eq!(req["agency_responsible"], "worker:wang");

    act(&host, &worker, id, Action::Handle, Some("换了新灯泡"), None).await;
    act(&host, &worker, id, Action::Verify, None, None).await;
    act(&host, &worker, id, Action::Close, None, None).await;
    let req = one(ann.clone()).await;
    assert_eq!(req["status"], "closed");
    assert_eq!(req["status_notes"], "closed at the grid tier: 换了新灯泡");
    // The worker sees the same through Open311.
    assert_eq!(one(wang.clone()).await["status"], "closed");

    // The token names the request.
    let r = get(&host, Some(&ann), &format!("{BASE}/tokens/{token}.json")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.json(),
        serde_json::json!([{"service_request_id": id, "token": token}])
    );
    let r = get(&host, Some(&ann), &format!("{BASE}/tokens/{token}.xml")).await;
    assert!(
        r.text().contains(&format!(
            "<service_request_id>{id}</service_request_id><token>{token}</token>"
        )),
        "{}",
        r.text()
    );
    let r = get(
        &host,
        Some(&ann),
        &format!("{BASE}/tokens/0123456789abcdef.json"),
    )
    .await;
    assert_error(&r, StatusCode::NOT_FOUND, "token");
    let r = get(
        &host,
        Some(&ann),
        &format!("{BASE}/requests/{}.json", id + 1000),
    )
    .await;
    assert_error(&r, StatusCode::NOT_FOUND, "does not exist");

    // Contact details of a hotline caller reach the handler.
    let r = post(
        &host,
        "xml",
        form(&[
            ("service_code", "garbage"),
            ("address_string", "和平社区东门"),
            ("first_name", "三"),
            ("last_name", "张"),
            ("phone", "13800001111"),
            ("api_key", &ann),
        ]),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let xml = r.text();
    assert!(
        xml.contains("<service_requests><request><service_request_id>"),
        "{xml}"
    );
    let second = xml
        .split("<service_request_id>")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .and_then(|s| s.parse::<i64>().ok())
        .expect("id in XML");
    let r = get(&host, Some(&ann), &format!("{BASE}/requests/{second}.json")).await;
    let req = &r.json()[0];
    assert_eq!(
        req["description"],
        "垃圾清运\n\nContact: 三 张, 13800001111"
    );
    assert_eq!(req["address_id"], Value::Null);
    assert_eq!(req["status_notes"], "reported at the district tier");
}

async fn listings_filter_by_status_service_dates_and_ids(host: TestHost) {
    setup(&host).await;
    let admin = host
        .account("chen", Role::DistrictAdmin, Some("east"))
        .await;
    let clock = host.opened.platform.store().clock().clone();
    let t0 = now_ms() - 10 * DAY;

    clock.set_ms(t0 - 100 * DAY);
    let old = file(&host, &admin, "很久以前的路灯").await;
    clock.set_ms(t0);
    let a = file(&host, &admin, "路灯 A").await;
    clock.set_ms(t0 + DAY);
    let r = post(
        &host,
        "json",
        form(&[
            ("api_key", &admin),
            ("service_code", "garbage"),
            ("lat", "39.9"),
            ("long", "116.4"),
            ("description", "垃圾 B"),
        ]),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let b = r.json()[0]["service_request_id"].as_i64().expect("id");
    clock.set_ms(t0 + 2 * DAY);
    let c = file(&host, &admin, "路灯 C").await;
    // B is rejected: closed for Open311.
    let chen = caller(&host, &admin).await;
    act(&host, &chen, b, Action::Reject, Some("重复上报"), None).await;

    // The default window is the last 90 days, newest first.
    assert_eq!(ids(&host, &admin, "").await, [c, b, a]);
    assert_eq!(ids(&host, &admin, "status=open").await, [c, a]);
    assert_eq!(ids(&host, &admin, "status=closed").await, [b]);
    assert_eq!(ids(&host, &admin, "status=open,closed").await, [c, b, a]);
    let r = get(
        &host,
        Some(&admin),
        &format!("{BASE}/requests.json?status=closed"),
    )
    .await;
    assert_eq!(
        r.json()[0]["status_notes"],
        "rejected at the district tier: 重复上报"
    );

    assert_eq!(ids(&host, &admin, "service_code=streetlight").await, [c, a]);
    assert_eq!(ids(&host, &admin, "service_code=garbage").await, [b]);
    assert_eq!(
        ids(&host, &admin, "service_code=garbage,streetlight").await,
        [c, b, a]
    );
    assert_eq!(
        ids(&host, &admin, "service_code=streetlight&status=open").await,
        [c, a]
    );

    let at = |ms: i64| encode(&format_ms(ms));
    assert_eq!(
        ids(&host, &admin, &format!("start_date={}", at(t0 + DAY / 2))).await,
        [c, b]
    );
    assert_eq!(
        ids(&host, &admin, &format!("end_date={}", at(t0 + DAY / 2))).await,
        [a]
    );
    assert_eq!(
        ids(
            &host,
            &admin,
            &format!(
                "start_date={}&end_date={}",
                at(t0 + DAY / 2),
                at(t0 + DAY + DAY / 2)
            )
        )
        .await,
        [b]
    );
    // The old case is outside the default window but can be asked for.
    assert_eq!(
        ids(&host, &admin, &format!("end_date={}", at(t0 - 99 * DAY))).await,
        [old]
    );

    // Ids override every other filter.
    assert_eq!(
        ids(
            &host,
            &admin,
            &format!("service_request_id={a},{old}&status=closed")
        )
        .await,
        [a, old]
    );
    assert_eq!(
        ids(&host, &admin, &format!("service_request_id={}", c + 100)).await,
        Vec::<i64>::new()
    );

    // XML lists every request under one root.
    let r = get(
        &host,
        Some(&admin),
        &format!("{BASE}/requests.xml?status=open"),
    )
    .await;
    let xml = r.text();
    assert_eq!(xml.matches("<request>").count(), 2, "{xml}");
    assert!(xml.contains("<status>open</status>"), "{xml}");
}

async fn a_resident_sees_only_their_own_requests(host: TestHost) {
    setup(&host).await;
    let ann = host.account("ann", Role::Resident, Some("east")).await;
    let bob = host.account("bob", Role::Resident, Some("east")).await;
    let elsewhere = host.worker("li", "east", &["c-heping-g1"]).await;
    let auditor = host.account("zhou", Role::Auditor, Some("east")).await;
    let mine = file(&host, &ann, "安的路灯").await;
    let theirs = file(&host, &bob, "鲍的路灯").await;

    assert_eq!(ids(&host, &ann, "").await, [mine]);
    assert_eq!(ids(&host, &bob, "").await, [theirs]);
    assert_eq!(ids(&host, &elsewhere, "").await, Vec::<i64>::new());
    assert_eq!(ids(&host, &auditor, "").await, [theirs, mine]);
    assert_eq!(
        ids(&host, &ann, &format!("service_request_id={mine},{theirs}")).await,
        [mine]
    );

    let r = get(&host, Some(&ann), &format!("{BASE}/requests/{theirs}.json")).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not yours to see");
    let token = host
        .opened
        .platform
        .store()
        .case("east", theirs)
        .await
        .expect("read")
        .expect("stored")
        .token;
    let r = get(&host, Some(&ann), &format!("{BASE}/tokens/{token}.json")).await;
    assert_error(&r, StatusCode::NOT_FOUND, "token");

    // An auditor reads but files nothing.
    let r = post(
        &host,
        "json",
        form(&[
            ("api_key", &auditor),
            ("service_code", "streetlight"),
            ("address_id", "c-xingfu-b1"),
            ("description", "审计员不报案"),
        ]),
    )
    .await;
    assert_error(&r, StatusCode::FORBIDDEN, "auditors");
}

async fn malformed_input_is_refused_open311_style_and_stores_nothing(host: TestHost) {
    setup(&host).await;
    host.district("west").await;
    let ann = host.account("ann", Role::Resident, Some("east")).await;
    // Ann's token with its secret changed.
    let forged = format!(
        "{}{}",
        &ann[..ann.len() - 1],
        if ann.ends_with('0') { '1' } else { '0' }
    );

    let cases: Vec<(String, StatusCode, &str)> = vec![
        (
            with_key(valid(&[], &["service_code"]), &ann),
            StatusCode::BAD_REQUEST,
            "service_code is required",
        ),
        (
            with_key(
                valid(&[("service_code", "potholes")], &["service_code"]),
                &ann,
            ),
            StatusCode::BAD_REQUEST,
            "garbage, streetlight",
        ),
        (
            with_key(valid(&[], &["address_id"]), &ann),
            StatusCode::BAD_REQUEST,
            "needs a location",
        ),
        (
            with_key(
                valid(&[("lat", "north"), ("long", "116.4")], &["address_id"]),
                &ann,
            ),
            StatusCode::BAD_REQUEST,
            "lat `north` is not a number",
        ),
        (
            with_key(valid(&[("lat", "NaN"), ("long", "116.4")], &[]), &ann),
            StatusCode::BAD_REQUEST,
            "lat `NaN`",
        ),
        (
            with_key(valid(&[("lat", "39.9")], &["address_id"]), &ann),
            StatusCode::BAD_REQUEST,
            "both lat and long",
        ),
        (
            with_key(valid(&[("lat", "95"), ("long", "116.4")], &[]), &ann),
            StatusCode::BAD_REQUEST,
            "-90..=90",
        ),
        (
            with_key(
                valid(&[("address_id", "no-such-building")], &["address_id"]),
                &ann,
            ),
            StatusCode::BAD_REQUEST,
            "no-such-building",
        ),
        (
            with_key(valid(&[("media_url", "file:///etc/passwd")], &[]), &ann),
            StatusCode::BAD_REQUEST,
            "media_url",
        ),
        (
            with_key(valid(&[("attribute[size]", "big")], &[]), &ann),
            StatusCode::BAD_REQUEST,
            "no attributes",
        ),
        (
            with_key(valid(&[("descripton", "typo")], &[]), &ann),
            StatusCode::BAD_REQUEST,
            "unknown field `descripton`",
        ),
        (
            with_key(valid(&[("jurisdiction_id", "west")], &[]), &ann),
            StatusCode::BAD_REQUEST,
            "jurisdiction_id `west`",
        ),
        (
            with_key(valid(&[], &[]), "htk_not-a-token"),
            StatusCode::FORBIDDEN,
            "api_key",
        ),
        (
            with_key(valid(&[], &[]), &forged),
            StatusCode::FORBIDDEN,
            "api_key refused",
        ),
        (form(&valid(&[], &[])), StatusCode::UNAUTHORIZED, "api_key"),
    ];
    for (body, status, mentions) in cases {
        let r = post(&host, "json", body.clone()).await;
        assert_error(&r, status, mentions);
        let r = post(&host, "xml", body).await;
        assert_eq!(r.status, status, "{}", r.text());
        assert!(
            r.text().contains(&format!(
                "<errors><error><code>{}</code><description>",
                status.as_u16()
            )),
            "{}",
            r.text()
        );
    }

    // Not a form.
    let r = host
        .post_as(
            Some(&ann),
            &format!("{BASE}/requests.json"),
            r#"{"service_code":"streetlight"}"#,
        )
        .await;
    assert_error(
        &r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "x-www-form-urlencoded",
    );
    // A resident of another district.
    let r = post(
        &host,
        "json",
        with_key(
            valid(&[], &[]),
            &host.account("wu", Role::Resident, Some("west")).await,
        ),
    )
    .await;
    assert_error(&r, StatusCode::FORBIDDEN, "district");
    // Over the size limit: refused before it is read.
    let huge = "路".repeat(40_000);
    let r = post(
        &host,
        "json",
        with_key(
            valid(&[("description", huge.as_str())], &["description"]),
            &ann,
        ),
    )
    .await;
    assert_error(&r, StatusCode::PAYLOAD_TOO_LARGE, "larger than");
    // Under the size limit but over the description's.
    let long = "路".repeat(2_000);
    let r = post(
        &host,
        "json",
        with_key(
            valid(&[("description", long.as_str())], &["description"]),
            &ann,
        ),
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "at most 4000");
    // An unknown format.
    let r = post(&host, "html", with_key(valid(&[], &[]), &ann)).await;
    assert_error(
        &r,
        StatusCode::BAD_REQUEST,
        "requests.json` or `requests.xml",
    );

    // Listings.
    let bad_gets: [(&str, StatusCode, &str); 9] = [
        ("requests.json", StatusCode::UNAUTHORIZED, "api_key"),
        (
            "requests.json?start_date=yesterday",
            StatusCode::BAD_REQUEST,
            "start_date",
        ),
        (
            "requests.json?end_date=2026-13-01T00:00:00Z",
            StatusCode::BAD_REQUEST,
            "end_date",
        ),
        (
            "requests.json?start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z",
            StatusCode::BAD_REQUEST,
            "90 days",
        ),
        (
            "requests.json?status=in-progress",
            StatusCode::BAD_REQUEST,
            "open, closed",
        ),
        (
            "requests.json?service_code=potholes",
            StatusCode::BAD_REQUEST,
            "potholes",
        ),
        (
            "requests.json?service_request_id=abc",
            StatusCode::BAD_REQUEST,
            "abc",
        ),
        (
            "requests.json?statuss=open",
            StatusCode::BAD_REQUEST,
            "unknown query parameter",
        ),
        ("requests.yaml", StatusCode::BAD_REQUEST, ".json"),
    ];
    for (path, status, mentions) in bad_gets {
        let token = (status != StatusCode::UNAUTHORIZED).then_some(ann.as_str());
        let r = get(&host, token, &format!("{BASE}/{path}")).await;
        assert_error(&r, status, mentions);
    }
    let r = get(
        &host,
        Some(&ann),
        &format!("{BASE}/requests.xml?status=pending"),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.text().contains("<errors><error><code>400</code>"),
        "{}",
        r.text()
    );
    let r = get(&host, Some(&ann), &format!("{BASE}/reqests.json")).await;
    assert_error(&r, StatusCode::NOT_FOUND, "reqests");
    let r = get(
        &host,
        Some(&ann),
        &format!("{BASE}/requests/1/history.json"),
    )
    .await;
    assert_error(&r, StatusCode::NOT_FOUND, "services");
    let r = host
        .delete_as(Some(&ann), &format!("{BASE}/requests/1.json"))
        .await;
    assert_error(&r, StatusCode::METHOD_NOT_ALLOWED, "GET");

    // Nothing was stored.
    let all = host
        .opened
        .platform
        .cases()
        .list_cases(
            "east",
            &CaseActor::System,
            CaseFilter {
                limit: 100,
                ..CaseFilter::default()
            },
        )
        .await
        .expect("list");
    assert!(all.items.is_empty(), "{:?}", all.items);

    // And a valid request after all that is filed.
    let r = post(&host, "json", with_key(valid(&[], &[]), &ann)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}

/// The fields of a valid request, without `drop` and with `extra`.
fn valid<'a>(extra: &[(&'a str, &'a str)], drop: &[&str]) -> Vec<(&'a str, &'a str)> {
    let mut fields: Vec<(&str, &str)> = vec![
        ("service_code", "streetlight"),
        ("address_id", "c-xingfu-b1"),
        ("description", "路灯坏了"),
    ];
    fields.retain(|(k, _)| !drop.contains(k));
    fields.extend_from_slice(extra);
    fields
}

/// A form of `fields` with `api_key` added.
fn with_key<'a>(mut fields: Vec<(&'a str, &'a str)>, key: &'a str) -> String {
    fields.push(("api_key", key));
    form(&fields)
}

/// On PostgreSQL a case without coordinates used to leave a cached insert
/// that refused the next case's coordinates on that connection (a 500).
async fn coordinates_are_stored_after_a_request_without_them(host: TestHost) {
    setup(&host).await;
    let ann = host.account("ann", Role::Resident, Some("east")).await;
    // Enough of each that every pooled connection has seen both.
    let mut without = Vec::new();
    for _ in 0..4 {
        without.push(file(&host, &ann, "没有坐标").await);
    }
    let mut with = Vec::new();
    for _ in 0..4 {
        let r = post(
            &host,
            "json",
            form(&[
                ("api_key", &ann),
                ("service_code", "garbage"),
                ("lat", "-33.8688"),
                ("long", "151.2093"),
            ]),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        with.push(r.json()[0]["service_request_id"].as_i64().expect("id"));
    }
    let r = get(&host, Some(&ann), &format!("{BASE}/requests.json")).await;
    let list = r.json();
    assert_eq!(list.as_array().map(Vec::len), Some(8), "{list}");
    for req in list.as_array().into_iter().flatten() {
        let id = req["service_request_id"].as_i64().expect("id");
        if with.contains(&id) {
            assert_eq!(req["lat"], -33.8688);
            assert_eq!(req["long"], 151.2093);
        } else {
            assert!(without.contains(&id));
            assert_eq!(req["lat"], Value::Null);
        }
    }
}
