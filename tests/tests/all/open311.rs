//! Open311 GeoReport v2 over cases: services, a request filed by form and
//! followed to closed, listings with filters, who sees what, and malformed
//! input answered the Open311 way with nothing stored.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use hutong_host::accounts::{Caller, Role};
use hutong_host::cases::intake::{Open311Policy, ServiceSettings};
use hutong_host::cases::ops::{CaseActor, CaseReport};
use hutong_host::cases::store::{CaseFilter, Category, Deadline, Department};
use hutong_host::cases::{Action, Assignee, Priority, Tier, format_ms};
use hutong_host::kernel::clock::now_ms;
use hutong_tests::{
    TestHost, TestResponse, account_request, case_command, listen, on_both_backends,
};
use serde_json::Value;

on_both_backends!(
    services_are_listed_and_defined_in_json_and_xml,
    a_request_filed_by_form_is_followed_to_closed,
    listings_filter_by_status_service_dates_and_ids,
    a_resident_sees_only_their_own_requests,
    malformed_input_is_refused_open311_style_and_stores_nothing,
    coordinates_are_stored_after_a_request_without_them,
    public_reads_show_public_services_and_nothing_personal,
    services_define_attributes_and_requests_answer_them,
    discovery_times_notes_and_pages_follow_the_spec,
    the_published_python_clients_work_unmodified,
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
    host.opened
        .platform
        .authenticate(token)
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
    assert_error(&r, StatusCode::NOT_FOUND, "jurisdiction_id");

    // Definitions: categories without settings have no attributes.
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
    // Named for readers with a key (the account has no display name, so
    // its id).
    assert_eq!(req["agency_responsible"], "wang");

    act(&host, &worker, id, Action::Handle, Some("换了新灯泡"), None).await;
    let req = one(ann.clone()).await;
    assert_eq!(req["status_notes"], "handled at the grid tier: 换了新灯泡");
    act(&host, &worker, id, Action::Verify, None, None).await;
    act(&host, &worker, id, Action::Close, None, None).await;
    let req = one(ann.clone()).await;
    assert_eq!(req["status"], "closed");
    // The note belongs to the step it was given with.
    assert_eq!(req["status_notes"], "closed at the grid tier");
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

    // Contact details of a hotline caller reach the handler, beside the
    // description (which public reads show), not in it.
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
    assert!(!r.text().contains("13800001111"), "{}", r.text());
    let req = &r.json()[0];
    assert_eq!(req["description"], "垃圾清运");
    assert_eq!(req["address_id"], Value::Null);
    assert_eq!(req["status_notes"], "reported at the district tier");
    // Through the case API: in full for the reporter and the district's
    // administrator, masked for an auditor.
    let admin = host.district_admin("east").await;
    let auditor = host.account("zhou", Role::Auditor, Some("east")).await;
    let uri = format!("/api/v1/districts/east/cases/{second}");
    for (token, phone, last_name) in [
        (&ann, "13800001111", "张"),
        (&admin, "13800001111", "张"),
        (&auditor, "138****1111", "张*"),
    ] {
        let r = host.get_as(Some(token), &uri).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(
            r.json()["intake"]["contact"]["phone"],
            phone,
            "{}",
            r.text()
        );
        assert_eq!(r.json()["intake"]["contact"]["last_name"], last_name);
    }
    // A staff member's look at a caller's contact is logged; the
    // reporter's look at their own is not.
    let mut conn = host.raw_connection().await;
    let logged: Vec<(String, String)> = sqlx::query_as(
        "SELECT app, request_id FROM access_log WHERE operation = 'staff.read-case-contact'",
    )
    .fetch_all(&mut conn)
    .await
    .expect("read the log");
    assert_eq!(
        logged,
        [("account:east-admin".to_owned(), "api".to_owned())]
    );
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
    // Where the district publishes nothing, a key shows exactly what the
    // caller's role may see.
    publish_nothing(&host).await;
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
            StatusCode::NOT_FOUND,
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
            with_key(
                valid(
                    &[
                        ("media_url", "https://a.example/1.jpg"),
                        ("media_url", "ftp://x"),
                    ],
                    &[],
                ),
                &ann,
            ),
            StatusCode::BAD_REQUEST,
            "media_url `ftp://x`",
        ),
        (
            with_key(valid(&[("lat", "39.9"), ("lat", "40.1")], &[]), &ann),
            StatusCode::BAD_REQUEST,
            "`lat` is given twice",
        ),
        (
            with_key(valid(&[("jurisdiction_id", "west")], &[]), &ann),
            StatusCode::NOT_FOUND,
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
        (
            form(&valid(&[], &[])),
            StatusCode::FORBIDDEN,
            "needs an api_key",
        ),
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
    // Under the size limit but over the description's 4000 characters.
    let long = "路".repeat(4_001);
    let r = post(
        &host,
        "json",
        with_key(
            valid(&[("description", long.as_str())], &["description"]),
            &ann,
        ),
    )
    .await;
    assert_error(
        &r,
        StatusCode::BAD_REQUEST,
        "4001 characters long; at most 4000",
    );
    // An unknown format.
    let r = post(&host, "html", with_key(valid(&[], &[]), &ann)).await;
    assert_error(
        &r,
        StatusCode::BAD_REQUEST,
        "requests.json` or `requests.xml",
    );

    // Listings.
    let bad_gets: [(&str, StatusCode, &str); 9] = [
        (
            "requests.json?page=0",
            StatusCode::BAD_REQUEST,
            "page `0` is out of range",
        ),
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
            StatusCode::NOT_FOUND,
            "potholes",
        ),
        (
            "requests.json?service_request_id=abc",
            StatusCode::BAD_REQUEST,
            "abc",
        ),
        (
            "requests.json?page_size=5000",
            StatusCode::BAD_REQUEST,
            "from 1 to 1000",
        ),
        ("requests.yaml", StatusCode::BAD_REQUEST, ".json"),
    ];
    for (path, status, mentions) in bad_gets {
        let r = get(&host, Some(&ann), &format!("{BASE}/{path}")).await;
        assert_error(&r, status, mentions);
        let r = get(&host, None, &format!("{BASE}/{path}")).await;
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
    let all = stored(&host).await;
    assert!(all.is_empty(), "{all:?}");

    // And a valid request after all that is filed.
    let r = post(&host, "json", with_key(valid(&[], &[]), &ann)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}

/// District `east` stops publishing its service requests.
async fn publish_nothing(host: &TestHost) {
    host.opened
        .platform
        .cases()
        .set_open311_policy(
            "east",
            Open311Policy {
                public_reads: false,
            },
        )
        .await
        .expect("policy");
}

/// Every case of district `east`, newest first (up to 100), as stored.
async fn stored(host: &TestHost) -> Vec<hutong_host::cases::store::CaseRow> {
    host.opened
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
        .expect("list")
        .items
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

/// A listing read without a key; the request ids, in order.
async fn public_ids(host: &TestHost, query: &str) -> Vec<i64> {
    let r = get(host, None, &format!("{BASE}/requests.json?{query}")).await;
    assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.text());
    r.json()
        .as_array()
        .expect("array")
        .iter()
        .map(|x| x["service_request_id"].as_i64().expect("id"))
        .collect()
}

/// One request as `token` (none: anonymous) reads it.
async fn one(host: &TestHost, token: Option<&str>, id: i64) -> Value {
    let r = get(host, token, &format!("{BASE}/requests/{id}.json")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let list = r.json();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    list[0].clone()
}

async fn public_reads_show_public_services_and_nothing_personal(host: TestHost) {
    setup(&host).await;
    let ann = host.account("ann", Role::Resident, Some("east")).await;
    let admin = host.district_admin("east").await;
    let wang = host
        .create_account(hutong_host::AccountRequest {
            display_name: "王师傅".into(),
            grids: vec!["c-xingfu-g1".into()],
            ..account_request("wang", Role::Worker, Some("east"))
        })
        .await;
    let lamp = file(&host, &ann, "门口路灯不亮").await;
    let r = post(
        &host,
        "json",
        form(&[
            ("api_key", &ann),
            ("service_code", "garbage"),
            ("address_string", "和平社区东门"),
            ("description", "垃圾没人清"),
            ("last_name", "张"),
            ("phone", "13800001111"),
            ("email", "zhang@example.org"),
        ]),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let garbage = r.json()[0]["service_request_id"].as_i64().expect("id");
    // A case about a resident, whoever reported it, is about a person.
    let worker = caller(&host, &wang).await;
    let about = host
        .opened
        .platform
        .cases()
        .report_case(
            "east",
            &CaseActor::Person(worker.clone()),
            CaseReport {
                category: "streetlight".into(),
                building_id: Some("c-xingfu-b1".into()),
                resident_id: Some("r-0001".into()),
                description: "独居老人家门口路灯坏了".into(),
                ..CaseReport::default()
            },
        )
        .await
        .expect("report")
        .id;

    // Anyone reads the public ones, without a key, in either format, from
    // any origin.
    let r = get(&host, None, &format!("{BASE}/requests.json")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.headers["access-control-allow-origin"], "*");
    let text = r.text();
    for private in ["13800001111", "zhang@example.org", "独居", "张"] {
        assert!(!text.contains(private), "{private} in {text}");
    }
    assert_eq!(public_ids(&host, "").await, [garbage, lamp]);
    let r = get(&host, None, &format!("{BASE}/requests.xml")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.text().matches("<request>").count(), 2, "{}", r.text());
    assert_eq!(one(&host, None, lamp).await["description"], "门口路灯不亮");
    let r = get(&host, None, &format!("{BASE}/requests/{about}.json")).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not yours to see");
    let token_of = |id: i64| {
        let host = &host;
        async move {
            host.opened
                .platform
                .store()
                .case("east", id)
                .await
                .expect("read")
                .expect("stored")
                .token
        }
    };
    let r = get(
        &host,
        None,
        &format!("{BASE}/tokens/{}.json", token_of(about).await),
    )
    .await;
    assert_error(&r, StatusCode::NOT_FOUND, "token");
    let r = get(
        &host,
        None,
        &format!("{BASE}/tokens/{}.json", token_of(lamp).await),
    )
    .await;
    assert_eq!(r.json()[0]["service_request_id"], lamp, "{}", r.text());

    // A key adds what the caller's role may see to the public ones; a key
    // of another district, or a proxy's Basic credentials, read what
    // anyone may.
    assert_eq!(ids(&host, &wang, "").await, [about, garbage, lamp]);
    host.district("west").await;
    let stranger = host.account("wu", Role::Resident, Some("west")).await;
    assert_eq!(ids(&host, &stranger, "").await, [garbage, lamp]);
    assert_eq!(
        one(&host, Some(&stranger), lamp).await["service_request_id"],
        lamp
    );
    let r = host
        .send(
            Request::builder()
                .uri(format!("{BASE}/requests.json"))
                .header("authorization", "Basic cHJveHk6c2VjcmV0")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json().as_array().map(Vec::len), Some(2), "{}", r.text());
    assert_eq!(ids(&host, &ann, "").await, [garbage, lamp]);
    assert_eq!(
        one(&host, Some(&wang), about).await["service_request_id"],
        about
    );

    // Who has it: a worker is named only to readers with a key; a
    // department by its name.
    act(&host, &worker, lamp, Action::Accept, None, None).await;
    act(
        &host,
        &worker,
        lamp,
        Action::Dispatch,
        None,
        Some(Assignee::Worker("wang".into())),
    )
    .await;
    assert_eq!(
        one(&host, None, lamp).await["agency_responsible"],
        "工作人员 (staff)"
    );
    assert_eq!(
        one(&host, Some(&admin), lamp).await["agency_responsible"],
        "王师傅"
    );
    // A note is free text (here a name and a phone number): readers with a
    // key see it, a public read only the state.
    act(
        &host,
        &worker,
        lamp,
        Action::Comment,
        Some("已联系王师傅 13900000000"),
        None,
    )
    .await;
    assert_eq!(
        one(&host, None, lamp).await["status_notes"],
        "dispatched at the grid tier"
    );
    assert_eq!(
        one(&host, Some(&admin), lamp).await["status_notes"],
        "dispatched at the grid tier: 已联系王师傅 13900000000"
    );
    let r = get(&host, None, &format!("{BASE}/requests.xml")).await;
    assert!(!r.text().contains("13900000000"), "{}", r.text());
    host.opened
        .platform
        .cases()
        .put_department(
            "east",
            Department {
                id: "sanitation".into(),
                name: "区环卫所".into(),
                tier: Tier::District,
                unit_id: None,
                members: Vec::new(),
            },
        )
        .await
        .expect("department");
    let chen = caller(&host, &admin).await;
    act(&host, &chen, garbage, Action::Accept, None, None).await;
    act(
        &host,
        &chen,
        garbage,
        Action::Dispatch,
        None,
        Some(Assignee::Department("sanitation".into())),
    )
    .await;
    assert_eq!(
        one(&host, None, garbage).await["agency_responsible"],
        "区环卫所"
    );

    // A private service leaves public reads; readers with a key keep it.
    host.opened
        .platform
        .cases()
        .put_service_settings(
            "east",
            "garbage",
            ServiceSettings {
                public: false,
                ..ServiceSettings::default()
            },
        )
        .await
        .expect("settings");
    assert_eq!(public_ids(&host, "").await, [lamp]);
    assert_eq!(
        public_ids(&host, "service_code=garbage").await,
        Vec::<i64>::new()
    );
    let r = get(&host, None, &format!("{BASE}/requests/{garbage}.json")).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not yours to see");
    assert_eq!(ids(&host, &admin, "").await, [about, garbage, lamp]);

    // Browsers may ask first; only GET is offered across origins.
    let r = host
        .send(
            Request::builder()
                .method(Method::OPTIONS)
                .uri(format!("{BASE}/requests.json"))
                .header("origin", "https://map.example")
                .header("access-control-request-method", "GET")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.headers["access-control-allow-origin"], "*");
    assert_eq!(r.headers["access-control-allow-methods"], "GET");
    let r = post(&host, "json", with_key(valid(&[], &[]), &ann)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert!(!r.headers.contains_key("access-control-allow-origin"));
    let filed = r.json()[0]["service_request_id"].as_i64().expect("id");

    // A district that publishes nothing: reading needs a key, and each key
    // shows what its role may see. Services stay public.
    publish_nothing(&host).await;
    let r = get(&host, None, &format!("{BASE}/requests.json")).await;
    assert_error(&r, StatusCode::FORBIDDEN, "does not publish");
    let r = get(&host, None, &format!("{BASE}/discovery.json")).await;
    assert!(
        r.json()["key_service"]
            .as_str()
            .is_some_and(|k| k.starts_with("Reading requests needs a key")),
        "{}",
        r.text()
    );
    let r = get(&host, None, &format!("{BASE}/requests/{lamp}.xml")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(
        r.text().contains("<errors><error><code>403</code>"),
        "{}",
        r.text()
    );
    let r = get(&host, None, &format!("{BASE}/services.json")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(ids(&host, &ann, "").await, [filed, garbage, lamp]);
    assert_eq!(ids(&host, &wang, "").await, [filed, about, lamp]);
}

async fn services_define_attributes_and_requests_answer_them(host: TestHost) {
    setup(&host).await;
    let ann = host.account("ann", Role::Resident, Some("east")).await;
    let admin = host.district_admin("east").await;
    let settings = serde_json::json!({
        "keywords": ["路灯", "照明"],
        "attributes": [
            {"code": "kind", "datatype": "singlevaluelist", "description": "什么问题", "order": 2,
             "values": [{"key": "dark", "name": "不亮"}, {"key": "flicker", "name": "闪烁"}]},
            {"code": "pole", "datatype": "string", "required": true, "description": "灯杆编号", "order": 1},
            {"code": "floors", "datatype": "multivaluelist", "description": "哪几层", "order": 3,
             "values": [{"key": "1", "name": "一层"}, {"key": "2", "name": "二层"}]}
        ]
    });
    let uri = "/api/v1/districts/east/case-categories/streetlight/open311";
    // A definition clients could not use is refused and changes nothing.
    let r = host
        .request_as(
            Some(&admin),
            Method::PUT,
            uri,
            serde_json::json!({"attributes": [{"code": "kind", "datatype": "multivaluelist", "description": "x"}]})
                .to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert!(r.text().contains("needs values"), "{}", r.text());
    let r = get(&host, None, &format!("{BASE}/services/streetlight.json")).await;
    assert_eq!(r.json()["attributes"], serde_json::json!([]));
    // A resident may not set services up.
    let r = host
        .request_as(Some(&ann), Method::PUT, uri, settings.to_string())
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let r = host
        .request_as(Some(&admin), Method::PUT, uri, settings.to_string())
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    let services = get(&host, None, &format!("{BASE}/services.json"))
        .await
        .json();
    assert_eq!(services[1]["service_code"], "streetlight");
    assert_eq!(services[1]["metadata"], true);
    assert_eq!(services[1]["keywords"], "路灯, 照明");
    assert_eq!(services[0]["metadata"], false);
    assert_eq!(services[0]["keywords"], Value::Null);
    let xml = get(&host, None, &format!("{BASE}/services.xml"))
        .await
        .text();
    assert!(xml.contains("<keywords>路灯, 照明</keywords>"), "{xml}");
    assert_eq!(xml.matches("<keywords>").count(), 1, "{xml}");

    let definition = get(&host, None, &format!("{BASE}/services/streetlight.json"))
        .await
        .json();
    let codes: Vec<&str> = definition["attributes"]
        .as_array()
        .expect("attributes")
        .iter()
        .map(|a| a["code"].as_str().expect("code"))
        .collect();
    assert_eq!(codes, ["pole", "kind", "floors"]);
    assert_eq!(definition["attributes"][0]["required"], true);
    assert_eq!(definition["attributes"][1]["values"][0]["key"], "dark");
    let xml = get(&host, None, &format!("{BASE}/services/streetlight.xml"))
        .await
        .text();
    assert!(
        xml.contains("<attributes><attribute><variable>true</variable><code>pole</code><datatype>string</datatype><required>true</required>"),
        "{xml}"
    );
    assert!(
        xml.contains("<values><value><key>dark</key><name>不亮</name></value>"),
        "{xml}"
    );

    // Answers are checked against the definitions; nothing is stored when
    // one is wrong.
    let r = post(
        &host,
        "json",
        with_key(valid(&[("attribute[kind]", "dark")], &[]), &ann),
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "attribute[pole] is required");
    let r = post(
        &host,
        "json",
        with_key(
            valid(
                &[("attribute[pole]", "A-17"), ("attribute[kind]", "broken")],
                &[],
            ),
            &ann,
        ),
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "dark, flicker");
    let r = post(
        &host,
        "json",
        with_key(
            valid(
                &[
                    ("attribute[pole]", "A-17"),
                    ("attribute[floors][]", "1"),
                    ("attribute[floors][]", "3"),
                ],
                &[],
            ),
            &ann,
        ),
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "`3` is not one of its values");
    assert_eq!(ids(&host, &admin, "").await, Vec::<i64>::new());

    // What clients add is accepted: unknown fields are ignored, their own
    // attributes kept, several media URLs kept, 4000 Chinese characters fit.
    let description = "灯".repeat(4000);
    let r = post(
        &host,
        "json",
        with_key(
            valid(
                &[
                    ("attribute[pole]", "A-17"),
                    ("attribute[kind]", "dark"),
                    ("attribute[floors][]", "1"),
                    ("attribute[floors][]", "2"),
                    ("attribute[report_url]", "https://fms.example/report/9"),
                    ("media_url", "https://example.org/1.jpg"),
                    ("media_url", "https://example.org/2.jpg"),
                    ("cobrand", "oxfordshire"),
                    ("description", &description),
                ],
                &["description"],
            ),
            &ann,
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = r.json()[0]["service_request_id"].as_i64().expect("id");
    let store = host.opened.platform.store();
    let case = store.case("east", id).await.expect("read").expect("stored");
    assert_eq!(case.description.chars().count(), 4000);
    assert_eq!(
        case.attachments,
        ["https://example.org/1.jpg", "https://example.org/2.jpg"]
    );
    let intake = store.case_intake(id).await.expect("read").expect("intake");
    let answers: Vec<(&str, Vec<&str>)> = intake
        .attributes
        .iter()
        .map(|a| {
            (
                a.code.as_str(),
                a.values.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        answers,
        [
            ("pole", vec!["A-17"]),
            ("kind", vec!["dark"]),
            ("floors", vec!["1", "2"]),
            ("report_url", vec!["https://fms.example/report/9"]),
        ]
    );
    assert_eq!(
        one(&host, None, id).await["media_url"],
        "https://example.org/1.jpg"
    );
    assert_eq!(ids(&host, &admin, "").await, [id]);
    // The answers are shown to those handling the case, masked to auditors.
    let auditor = host.account("zhou", Role::Auditor, Some("east")).await;
    let case_uri = format!("/api/v1/districts/east/cases/{id}");
    let r = host.get_as(Some(&admin), &case_uri).await;
    assert_eq!(
        r.json()["intake"]["attributes"][0]["values"],
        serde_json::json!(["A-17"])
    );
    let r = host.get_as(Some(&auditor), &case_uri).await;
    assert_eq!(
        r.json()["intake"]["attributes"][0]["values"],
        serde_json::json!(["***"])
    );

    // A change keeps what it leaves out: adding keywords to a private
    // service leaves it private and its attributes in place.
    for body in [r#"{"public": false}"#, r#"{"keywords": ["照明"]}"#] {
        let r = host
            .request_as(Some(&admin), Method::PUT, uri, body.to_owned())
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    let r = host.get_as(Some(&admin), uri).await;
    let settings = r.json();
    assert_eq!(settings["public"], false, "{settings}");
    assert_eq!(settings["keywords"], serde_json::json!(["照明"]));
    assert_eq!(settings["attributes"].as_array().map(Vec::len), Some(3));
    assert_eq!(public_ids(&host, "").await, Vec::<i64>::new());
}

async fn discovery_times_notes_and_pages_follow_the_spec(host: TestHost) {
    setup(&host).await;
    let admin = host.district_admin("east").await;

    // Discovery, beside v2/ and inside it, names the endpoint as reached.
    for path in ["/d/east/open311/discovery", &format!("{BASE}/discovery")] {
        let request = |ext: &str| {
            Request::builder()
                .uri(format!("{path}.{ext}"))
                .header("host", "hutong.example")
                .header("x-forwarded-proto", "https")
                .body(Body::empty())
                .expect("request")
        };
        let r = host.send(request("json")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let d = r.json();
        assert_eq!(
            d["endpoints"][0]["url"],
            "https://hutong.example/d/east/open311/v2/"
        );
        assert_eq!(
            d["endpoints"][0]["specification"],
            "http://wiki.open311.org/GeoReport_v2"
        );
        assert_eq!(
            d["endpoints"][0]["formats"],
            serde_json::json!(["text/xml", "application/json"])
        );
        assert!(
            d["changeset"].as_str().is_some_and(|c| c.ends_with('Z')),
            "{d}"
        );
        assert!(
            d["key_service"].as_str().is_some_and(
                |k| k.starts_with("Reading the requests of public services needs no key")
            ),
            "{d}"
        );
        let xml = host.send(request("xml")).await.text();
        assert!(
            xml.contains("<endpoints><endpoint><specification>http://wiki.open311.org/GeoReport_v2</specification><url>https://hutong.example/d/east/open311/v2/</url>"),
            "{xml}"
        );
        assert!(
            xml.contains(
                "<formats><format>text/xml</format><format>application/json</format></formats>"
            ),
            "{xml}"
        );
    }
    let r = get(&host, None, "/d/nowhere/open311/v2/discovery.json").await;
    assert_error(&r, StatusCode::NOT_FOUND, "nowhere");

    // expected_datetime: when the category's time limits say it is closed.
    host.opened
        .platform
        .cases()
        .set_deadlines(
            "east",
            vec![Deadline {
                category: "streetlight".into(),
                priority: Priority::Normal,
                accept_minutes: 60,
                handle_minutes: 1440,
                verify_minutes: 120,
            }],
        )
        .await
        .expect("deadlines");
    let clock = host.opened.platform.store().clock().clone();
    // Mid-second: times are shown to the second.
    let t0 = (now_ms() / 1000) * 1000 - DAY + 500;
    clock.set_ms(t0);
    let lamp = file(&host, &admin, "路灯").await;
    let r = post(
        &host,
        "json",
        form(&[
            ("api_key", &admin),
            ("service_code", "garbage"),
            ("address_string", "和平社区东门"),
        ]),
    )
    .await;
    let garbage = r.json()[0]["service_request_id"].as_i64().expect("id");
    let req = one(&host, None, lamp).await;
    assert_eq!(req["requested_datetime"], format_ms(t0));
    assert_eq!(
        req["expected_datetime"],
        format_ms(t0 + (60 + 1440 + 120) * 60_000)
    );
    let req = one(&host, None, garbage).await;
    assert_eq!(req["expected_datetime"], Value::Null);
    assert_eq!(req["zipcode"], Value::Null);
    // XML leaves out what has no value.
    let xml = get(&host, None, &format!("{BASE}/requests/{garbage}.xml"))
        .await
        .text();
    for absent in [
        "<expected_datetime",
        "<agency_responsible",
        "<zipcode",
        "<lat",
        "<address_id",
        "<media_url",
        "<service_notice",
    ] {
        assert!(!xml.contains(absent), "{absent} in {xml}");
    }
    assert!(xml.contains("<address>和平社区东门</address>"), "{xml}");

    // Whole-second filters are inclusive: end_date equal to a request's
    // requested_datetime includes it, and so does start_date.
    let at = encode(&format_ms(t0));
    assert_eq!(
        public_ids(&host, &format!("end_date={at}")).await,
        [garbage, lamp]
    );
    assert_eq!(
        public_ids(&host, &format!("start_date={at}&end_date={at}")).await,
        [garbage, lamp]
    );
    let before = encode(&format_ms(t0 - 1000));
    assert_eq!(
        public_ids(&host, &format!("end_date={before}")).await,
        Vec::<i64>::new()
    );

    // A status note belongs to its step.
    let chen = caller(&host, &admin).await;
    act(
        &host,
        &chen,
        lamp,
        Action::Escalate,
        Some("需要社区协调"),
        None,
    )
    .await;
    assert_eq!(
        one(&host, Some(&admin), lamp).await["status_notes"],
        "reported at the community tier: 需要社区协调"
    );
    assert_eq!(
        one(&host, None, lamp).await["status_notes"],
        "reported at the community tier"
    );
    act(&host, &chen, lamp, Action::Accept, None, None).await;
    assert_eq!(
        one(&host, Some(&admin), lamp).await["status_notes"],
        "accepted at the community tier"
    );

    // Pages, newest first.
    let mut all = vec![garbage, lamp];
    for n in 0..5 {
        clock.set_ms(t0 + (n + 1) * 60_000);
        all.insert(0, file(&host, &admin, &format!("路灯 {n}")).await);
    }
    assert_eq!(public_ids(&host, "page_size=3").await, all[..3]);
    assert_eq!(public_ids(&host, "page_size=3&page=2").await, all[3..6]);
    assert_eq!(public_ids(&host, "page_size=3&page=3").await, all[6..]);
    assert_eq!(
        public_ids(&host, "page_size=3&page=4").await,
        Vec::<i64>::new()
    );
    assert_eq!(ids(&host, &admin, "page=2&page_size=2").await, all[2..4]);
}

/// The Python of the virtualenv `bash scripts/setup` makes with the Open311
/// clients, or `None` (skipped) where there is none and this is not CI.
fn open311_python() -> Option<std::path::PathBuf> {
    let venv = std::env::var_os("HUTONG_OPEN311_VENV")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(std::path::PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache"))
                })?;
            Some(cache.join("hutong/open311-clients"))
        })?;
    let python = venv.join("bin/python");
    if python.exists() {
        return Some(python);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "the Open311 client tests need {}: run `bash scripts/setup`",
        python.display()
    );
    eprintln!(
        "skipped: no {} (`bash scripts/setup` makes it)",
        python.display()
    );
    None
}

async fn the_published_python_clients_work_unmodified(host: TestHost) {
    let Some(python) = open311_python() else {
        return;
    };
    setup(&host).await;
    let ann = host.account("ann", Role::Resident, Some("east")).await;
    let addr = listen(host.app()).await;
    let base = format!("http://{addr}/d/east/open311/v2/");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("open311/clients.py");
    let description = "路灯不亮，请尽快修理。Streetlight out";
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(300),
        tokio::process::Command::new(&python)
            .arg(&script)
            .args([base.as_str(), ann.as_str(), "streetlight"])
            .args(["--formats", "json,xml", "--timeout", "60"])
            .args(["--description", description])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the clients finish within 5 minutes")
    .expect("run the clients");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let steps: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{stderr}")))
        .collect();
    for step in &steps {
        assert_eq!(step["ok"], true, "{step}\n{stderr}");
    }
    assert!(output.status.success(), "{stdout}\n{stderr}");
    // Every step each client can take ran (none skipped); georeport 0.3.1
    // has no post, token lookup or discovery.
    let ran = |client: &str, format: &str, step: &str| {
        steps.iter().any(|s| {
            s["client"] == client
                && s["format"] == format
                && s["step"] == step
                && s["result"].get("skipped").is_none()
        })
    };
    for format in ["json", "xml"] {
        for step in [
            "list_services",
            "service_definition",
            "post_request",
            "list_requests_filtered",
            "get_request",
            "token_lookup",
            "discovery",
        ] {
            assert!(
                ran("three", format, step),
                "three {format} {step}: {stdout}"
            );
        }
        for step in [
            "list_services",
            "service_definition",
            "list_requests_filtered",
            "list_requests_by_id",
            "get_request",
        ] {
            assert!(
                ran("georeport", format, step),
                "georeport {format} {step}: {stdout}"
            );
        }
    }
    // three filed one request per format, as ann, with its description.
    let cases = stored(&host).await;
    assert_eq!(cases.len(), 2, "{cases:?}");
    for case in cases {
        assert_eq!(case.description, description);
        assert_eq!(case.reporter.id(), "ann");
        assert_eq!(case.address.as_deref(), Some("上海市黄浦区人民大道200号"));
    }
}

/// A database at migration 21 (before Open311 public reads) with one
/// district and one case whose description carries a caller's contact the
/// way earlier versions appended it; migrated to the latest.
async fn upgraded(url: &str, backend: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.expect("connect");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../host/migrations")
        .join(backend);
    let mut before = sqlx::migrate::Migrator::new(dir.clone())
        .await
        .expect("migrations");
    before.migrations = before
        .migrations
        .iter()
        .filter(|m| m.version < 22)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    before.run(&pool).await.expect("migrate to 21");
    sqlx::query("INSERT INTO districts (id, name, created_at) VALUES ('east', 'east', 0)")
        .execute(&pool)
        .await
        .expect("district");
    sqlx::query(
        "INSERT INTO cases (district, category, priority, state, tier, description, \
         reporter_kind, reporter_id, attachments, overdue, token, version, created_at, updated_at) \
         VALUES ('east', 'garbage', 'normal', 'reported', 'district', $1, 'account', 'hotline', \
         '[]', 0, 'tok', 1, 0, 0)",
    )
    .bind("垃圾清运\n\nContact: 三 张, 13800001111")
    .execute(&pool)
    .await
    .expect("case");
    sqlx::migrate::Migrator::new(dir)
        .await
        .expect("migrations")
        .run(&pool)
        .await
        .expect("migrate to the latest");

    let (description,): (String,) = sqlx::query_as("SELECT description FROM cases")
        .fetch_one(&pool)
        .await
        .expect("case");
    assert_eq!(description, "垃圾清运");
    let (contact,): (String,) = sqlx::query_as("SELECT contact FROM case_intake")
        .fetch_one(&pool)
        .await
        .expect("intake");
    let contact: hutong_host::cases::intake::Contact =
        serde_json::from_str(&contact).expect("a contact");
    assert_eq!(contact.line(), "三 张, 13800001111");
    let (public,): (i64,) =
        sqlx::query_as("SELECT public_reads FROM open311_policies WHERE district = 'east'")
            .fetch_one(&pool)
            .await
            .expect("policy");
    assert_eq!(
        public, 0,
        "a district from before keeps its reads behind a key"
    );
    pool.close().await;
}

#[tokio::test]
async fn an_upgrade_moves_old_contacts_out_of_descriptions_and_keeps_reads_private_sqlite() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
    upgraded(&url, "sqlite").await;
}

#[tokio::test]
async fn an_upgrade_moves_old_contacts_out_of_descriptions_and_keeps_reads_private_postgres() {
    let db = hutong_tests::PgDatabase::create().await;
    upgraded(&db.url, "postgres").await;
}
