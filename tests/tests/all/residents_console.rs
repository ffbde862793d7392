//! The console for residents and grid workers over HTTP, on both back
//! ends, as a browser sends its requests: a report with photos (checked,
//! stripped of their location, served only to those who may see the
//! case), cases an app opens on a resident's behalf, the resident's
//! "who read my data" (app reads, staff reads, exports, refused attempts;
//! nothing of another resident), and the worker's queue with its overdue
//! cases first. The same flows run in Chromium in `browser.rs`.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use hutong_host::accounts::Role;
use hutong_host::accounts::ops::AccountRequest;
use hutong_host::cases::ops::CaseActor;
use hutong_host::community::Record;
use hutong_host::kernel::manifest::Permission;
use hutong_tests::console::Session;
use hutong_tests::{TestHost, TestResponse, account_request, on_both_backends};
use serde_json::json;

on_both_backends!(
    a_resident_reports_with_photos_that_only_those_who_see_the_case_get,
    bad_photos_are_refused_with_what_is_allowed_and_store_nothing,
    a_case_an_app_opens_for_a_resident_is_theirs_to_follow_and_evaluate,
    who_read_my_data_lists_every_read_of_the_resident_and_nothing_else,
    the_worker_queue_puts_overdue_cases_first_and_acts_by_form,
);

const D: &str = "east";
const G1: &str = "c-xingfu-g1";
const HOST: &str = "hutong.test";

fn request(person: &Session, method: Method, uri: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("host", HOST)
        .header("origin", format!("http://{HOST}"))
        .header("cookie", format!("hutong_session={}", person.secret))
        .header("accept-language", "zh-CN")
}

async fn page(host: &TestHost, person: &Session, uri: &str) -> TestResponse {
    host.send(
        request(person, Method::GET, uri)
            .body(Body::empty())
            .expect("request"),
    )
    .await
}

/// Post a form with the session's token.
async fn form(
    host: &TestHost,
    person: &Session,
    uri: &str,
    fields: &[(&str, &str)],
) -> TestResponse {
    let mut all = vec![("csrf", person.csrf.as_str())];
    all.extend_from_slice(fields);
    let body = all
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    host.send(
        request(person, Method::POST, uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .expect("request"),
    )
    .await
}

/// Take an action on `case` through its form.
async fn act(
    host: &TestHost,
    person: &Session,
    case: i64,
    fields: &[(&str, &str)],
) -> TestResponse {
    form(host, person, &format!("/cases/{case}/act"), fields).await
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Send the report form with `photos`, as a browser sends a form with
/// files.
async fn report(
    host: &TestHost,
    person: &Session,
    fields: &[(&str, &str)],
    photos: &[&[u8]],
) -> TestResponse {
    let boundary = "----hutong-report-boundary";
    let mut body: Vec<u8> = Vec::new();
    let mut all = vec![("csrf", person.csrf.as_str())];
    all.extend_from_slice(fields);
    for (name, value) in all {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    for (n, photo) in photos.iter().enumerate() {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"p{n}.jpg\"\r\n\
                 Content-Type: image/jpeg\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend(*photo);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    host.send(
        request(person, Method::POST, "/report")
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(Body::from(body))
            .expect("request"),
    )
    .await
}

fn location(r: &TestResponse) -> String {
    r.headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The case id a report redirected to.
fn reported_case(r: &TestResponse) -> i64 {
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    location(r)
        .strip_prefix("/cases/")
        .and_then(|rest| rest.split('?').next())
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("a case page: {}", location(r)))
}

/// The ids of the photos a case page shows.
fn photo_links(page: &TestResponse, case: i64) -> Vec<String> {
    let html = page.text();
    let prefix = format!("src=\"/cases/{case}/photos/");
    html.match_indices(&prefix)
        .map(|(at, _)| {
            let rest = &html[at + prefix.len()..];
            format!(
                "/cases/{case}/photos/{}",
                &rest[..rest.find('"').expect("end")]
            )
        })
        .collect()
}

/// The sample district with two categories, and two residents of G1 in
/// different households, each with a resident account linked to their
/// record: (resident, household) of each.
async fn district(host: &TestHost) -> [(String, String); 2] {
    let records = host.sample_district(D).await;
    host.case_categories(D, &[("road", "道路破损"), ("elderly-care", "养老服务")])
        .await;
    let mut picked: Vec<(String, String)> = Vec::new();
    for r in &records {
        if let Record::Resident(r) = r
            && r.grid_id == G1
            && let Some(h) = &r.household_id
            && picked.iter().all(|(_, other)| other != h)
        {
            picked.push((r.id.clone(), h.clone()));
        }
        if picked.len() == 2 {
            break;
        }
    }
    for (account, (resident, _)) in ["ana", "bo"].iter().zip(&picked) {
        host.create_account(AccountRequest {
            resident_id: Some(resident.clone()),
            ..account_request(account, Role::Resident, Some(D))
        })
        .await;
    }
    [picked[0].clone(), picked[1].clone()]
}

/// A JPEG with an EXIF block that holds a GPS position.
fn photo() -> Vec<u8> {
    hutong_tests::photo_with_location()
}

async fn a_resident_reports_with_photos_that_only_those_who_see_the_case_get(host: TestHost) {
    let [(ana_record, _), _] = district(&host).await;
    host.worker("w1", D, &[G1]).await;
    let ana = host.console_session("ana").await;
    let bo = host.console_session("bo").await;
    let w1 = host.console_session("w1").await;

    let form_page = page(&host, &ana, "/report").await;
    assert_eq!(form_page.status, StatusCode::OK);
    let text = form_page.text();
    assert!(
        text.contains("报告问题") && text.contains("道路破损"),
        "{text}"
    );
    // The resident's own building is the default.
    let own = host
        .opened
        .platform
        .store()
        .get_resident(D, &ana_record)
        .await
        .expect("read")
        .and_then(|r| r.building_id)
        .expect("a building");
    assert!(
        text.contains(&format!("<option value=\"{own}\" selected>")),
        "{text}"
    );

    let first = photo();
    let second = photo();
    let sent = report(
        &host,
        &ana,
        &[
            ("category", "road"),
            ("building", &own),
            ("description", "楼下路面塌陷，有积水"),
        ],
        &[&first, &second],
    )
    .await;
    let case = reported_case(&sent);
    let shown = page(&host, &ana, &format!("/cases/{case}?done=reported")).await;
    assert_eq!(shown.status, StatusCode::OK);
    let text = shown.text();
    assert!(
        text.contains("问题已提交") && text.contains("楼下路面塌陷"),
        "{text}"
    );
    let links = photo_links(&shown, case);
    assert_eq!(links.len(), 2, "{text}");

    // The reporter gets the photo, without its location.
    let got = page(&host, &ana, &links[0]).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.headers["content-type"], "image/jpeg");
    assert_eq!(got.headers["x-content-type-options"], "nosniff");
    assert!(got.body.starts_with(&[0xFF, 0xD8]));
    let bytes = String::from_utf8_lossy(&got.body).into_owned();
    assert!(
        !bytes.contains("GPSLatitude") && !bytes.contains("Exif"),
        "EXIF stripped"
    );
    assert!(
        String::from_utf8_lossy(&first).contains("GPSLatitude"),
        "it was there"
    );
    // So does the grid's worker; another resident gets neither the case
    // nor its photo, exactly as for ones that do not exist.
    assert_eq!(page(&host, &w1, &links[1]).await.status, StatusCode::OK);
    assert_eq!(
        page(&host, &w1, &format!("/cases/{case}")).await.status,
        StatusCode::OK
    );
    for uri in [
        format!("/cases/{case}"),
        links[0].clone(),
        format!("/cases/{}", case + 1000),
        format!("/cases/{case}/photos/999999"),
    ] {
        let r = page(&host, &bo, &uri).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{uri}: {}", r.text());
    }
    // The platform administrator opens the case and its photo by naming
    // the district.
    host.account("city-admin", Role::PlatformAdmin, None).await;
    let city = host.console_session("city-admin").await;
    let theirs = page(&host, &city, &format!("/cases/{case}?district={D}")).await;
    assert_eq!(theirs.status, StatusCode::OK);
    let photo_url = format!("{}?district={D}", links[0]);
    assert!(theirs.text().contains(&photo_url), "{}", theirs.text());
    assert_eq!(page(&host, &city, &photo_url).await.status, StatusCode::OK);
    let bo_list = page(&host, &bo, "/cases").await.text();
    assert!(!bo_list.contains(&format!("#{case}")), "{bo_list}");
    let ana_list = page(&host, &ana, "/cases").await.text();
    assert!(ana_list.contains(&format!("#{case}")), "{ana_list}");
    // Without the session's token, or from another origin, nothing is stored.
    let before = count_cases(&host).await;
    let forged = Session {
        secret: ana.secret.clone(),
        csrf: "guessed".into(),
    };
    let r = report(
        &host,
        &forged,
        &[("category", "road"), ("description", "x")],
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(count_cases(&host).await, before);
}

async fn count_cases(host: &TestHost) -> i64 {
    let mut conn = host.raw_connection().await;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cases")
        .fetch_one(&mut conn)
        .await
        .expect("count");
    n
}

async fn bad_photos_are_refused_with_what_is_allowed_and_store_nothing(host: TestHost) {
    district(&host).await;
    let ana = host.console_session("ana").await;
    let before = count_cases(&host).await;
    let fields = [("category", "road"), ("description", "路灯不亮")];
    let svg = b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>".to_vec();
    let r = report(&host, &ana, &fields, &[&svg]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let text = r.text();
    assert!(
        text.contains("问题未提交") && text.contains("not a JPEG or PNG"),
        "{text}"
    );
    assert!(text.contains("路灯不亮"), "the description is kept: {text}");

    let one = photo();
    let r = report(&host, &ana, &fields, &[&one, &one, &one, &one]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("at most 3"), "{}", r.text());

    let mut big = photo();
    big.resize(5 * 1024 * 1024 + 10, 0);
    let r = report(&host, &ana, &fields, &[&big]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("at most 5120 KiB"), "{}", r.text());

    let r = report(
        &host,
        &ana,
        &[("category", "nope"), ("description", "x")],
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("category `nope`"), "{}", r.text());
    assert_eq!(count_cases(&host).await, before, "nothing stored");
}

async fn a_case_an_app_opens_for_a_resident_is_theirs_to_follow_and_evaluate(host: TestHost) {
    let [(ana_record, _), _] = district(&host).await;
    host.install_app(
        D,
        "care",
        &[Permission::OpenCases, Permission::ReadOwnCases],
    )
    .await;
    let open = |for_resident: bool, description: &str| {
        json!({
            "category": "elderly-care",
            "grid_id": G1,
            "resident_id": ana_record,
            "description": description,
            "for_resident": for_resident,
        })
        .to_string()
    };
    let theirs = host
        .post(
            "/d/east/apps/care/cases/open",
            open(true, "独居老人家中漏水，代为报修"),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{}", theirs.text());
    let theirs: i64 = theirs.json()["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("number");
    let about = host
        .post(
            "/d/east/apps/care/cases/open",
            open(false, "关于该居民的投诉"),
        )
        .await;
    let about: i64 = about.json()["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("number");
    // Without a resident, open-for-resident is refused.
    let refused = host
        .post(
            "/d/east/apps/care/cases/open",
            json!({"category": "elderly-care", "description": "x", "for_resident": true})
                .to_string(),
        )
        .await;
    assert_eq!(refused.status.as_u16() / 100, 4, "{}", refused.text());
    assert!(refused.text().contains("resident-id"), "{}", refused.text());

    let ana = host.console_session("ana").await;
    let bo = host.console_session("bo").await;
    let list = page(&host, &ana, "/cases").await.text();
    assert!(list.contains(&format!("#{theirs}")), "{list}");
    assert!(
        !list.contains(&format!("#{about}")),
        "a case about them is not theirs: {list}"
    );
    let shown = page(&host, &ana, &format!("/cases/{theirs}")).await.text();
    assert!(
        shown.contains("由应用代你发起") && shown.contains("代为报修"),
        "{shown}"
    );
    assert_eq!(
        page(&host, &ana, &format!("/cases/{about}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        page(&host, &bo, &format!("/cases/{theirs}")).await.status,
        StatusCode::NOT_FOUND
    );

    // Staff take it to closed; then the resident evaluates and reopens it.
    host.district_admin(D).await;
    host.worker("w1", D, &[G1]).await;
    let w1 = host.console_session("w1").await;
    let boss = host.console_session("east-admin").await;
    let steps: [(&Session, &[(&str, &str)]); 6] = [
        (&w1, &[("action", "accept")]),
        (&w1, &[("action", "dispatch"), ("assignee", "worker:w1")]),
        (&w1, &[("action", "start")]),
        (&w1, &[("action", "handle"), ("note", "已上门维修水管")]),
        (&boss, &[("action", "verify")]),
        (&boss, &[("action", "close")]),
    ];
    for (who, fields) in steps {
        let r = act(&host, who, theirs, fields).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{fields:?}: {}", r.text());
    }
    let closed = page(&host, &ana, &format!("/cases/{theirs}")).await.text();
    assert!(
        closed.contains("已办结") && closed.contains("act-evaluate"),
        "{closed}"
    );
    assert!(
        closed.contains("工作人员") && !closed.contains(">w1<"),
        "staff unnamed: {closed}"
    );
    // Bo may not evaluate it; Ana may, once.
    let r = act(
        &host,
        &bo,
        theirs,
        &[("action", "evaluate"), ("satisfaction", "5")],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = act(
        &host,
        &ana,
        theirs,
        &[
            ("action", "evaluate"),
            ("satisfaction", "4"),
            ("note", "修得及时"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let again = act(
        &host,
        &ana,
        theirs,
        &[("action", "evaluate"), ("satisfaction", "1")],
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text());
    assert!(
        again.text().contains("already been evaluated"),
        "{}",
        again.text()
    );
    let r = act(
        &host,
        &ana,
        theirs,
        &[("action", "reopen"), ("note", "又漏水了")],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let case = host
        .opened
        .platform
        .cases()
        .case_for(D, theirs, &CaseActor::App("care".into()))
        .await
        .expect("the app still sees its case");
    assert_eq!(case.satisfaction, Some(4));
    assert_eq!(case.state.as_str(), "accepted", "reopened");
    // The app's own view is unchanged: its case, as before.
    let got = host
        .get(&format!("/d/east/apps/care/cases/get?id={theirs}"))
        .await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text());
    assert_eq!(got.json()["resident_id"], ana_record.as_str());
}

async fn who_read_my_data_lists_every_read_of_the_resident_and_nothing_else(host: TestHost) {
    let [(ana_record, ana_household), (bo_record, _)] = district(&host).await;
    host.install_app(
        D,
        "reader",
        &[Permission::ReadResidents, Permission::ReadHouseholds],
    )
    .await;
    host.install_app(D, "nosy", &[]).await;
    let get = |app: &str, route: String| {
        let host = &host;
        let uri = format!("/d/east/apps/{app}{route}");
        async move { host.get(&uri).await }
    };
    assert_eq!(
        get("reader", format!("/data/resident?id={ana_record}"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        get("reader", format!("/data/household?id={ana_household}"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        get("reader", format!("/data/resident?id={bo_record}"))
            .await
            .status,
        StatusCode::OK
    );
    // Denied for want of the permission: the refused attempt names Ana.
    let denied = get("nosy", format!("/data/resident?id={ana_record}")).await;
    assert_ne!(denied.status, StatusCode::OK);
    // A staff read through the API, and an export of the whole district.
    let admin = host.district_admin(D).await;
    let r = host
        .get_as(
            Some(&admin),
            &format!("/api/v1/districts/{D}/residents/{ana_record}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = host
        .get_as(Some(&admin), &format!("/api/v1/districts/{D}/data/export"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    let reads = host
        .opened
        .platform
        .resident_reads(D, &ana_record, None)
        .await
        .expect("reads");
    let seen: Vec<(String, String, String, &str)> = reads
        .items
        .iter()
        .map(|r| {
            (
                r.entry.app.clone(),
                r.entry.operation.clone(),
                r.entry.outcome.clone(),
                r.through,
            )
        })
        .collect();
    let expected = [
        ("account:east-admin", "export-data", "allowed", "district"),
        (
            "account:east-admin",
            "staff.read-residents",
            "allowed",
            "resident",
        ),
        ("nosy", "get-resident", "denied", "resident"),
        ("reader", "get-household", "allowed", "household"),
        ("reader", "get-resident", "allowed", "resident"),
    ];
    assert_eq!(
        seen,
        expected
            .iter()
            .map(|(a, o, out, t)| ((*a).to_owned(), (*o).to_owned(), (*out).to_owned(), *t))
            .collect::<Vec<_>>(),
        "newest first, Bo's read absent"
    );
    assert_eq!(reads.items[4].entry.field_class, "masked");
    assert_eq!(reads.items[1].entry.field_class, "personal");

    let ana = host.console_session("ana").await;
    let mine = page(&host, &ana, "/my-data").await;
    assert_eq!(mine.status, StatusCode::OK);
    let text = mine.text();
    for shown in [
        "谁查看了我的数据",
        "reader",
        "nosy",
        "east-admin",
        // The cells themselves: the page's help names these words too.
        "涉及\">全辖区数据导出</td>",
        "涉及\">住户记录</td>",
        "字段类别\">已脱敏</td>",
        "<span class=\"error\">拒绝</span>",
    ] {
        assert!(text.contains(shown), "{shown}: {text}");
    }
    // The permission's reason from the app's manifest is shown.
    assert!(
        text.contains("The integration tests read residents through the /data routes."),
        "{text}"
    );
    // Bo's page shows his own read, not Ana's.
    let bo = host.console_session("bo").await;
    let his = page(&host, &bo, "/my-data").await.text();
    assert!(his.contains("reader") && !his.contains("nosy"), "{his}");
    // An administrator sees Ana's reads; a resident cannot ask for Bo's.
    let boss = host.console_session("east-admin").await;
    let hers = page(&host, &boss, &format!("/reads?resident={ana_record}")).await;
    assert_eq!(hers.status, StatusCode::OK);
    assert!(hers.text().contains("nosy"), "{}", hers.text());
    let refused = page(&host, &ana, &format!("/reads?resident={bo_record}")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // The same over the API: the resident's own, and any resident's for
    // the district's readers.
    let token = host.token("ana").await;
    let own = host.get_as(Some(&token), "/api/v1/me/reads").await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text());
    let own = own.json();
    let reads = own["reads"].as_array().expect("reads");
    assert_eq!(reads.len(), 5, "{own}");
    assert_eq!(reads[2]["by"]["kind"], "app");
    assert_eq!(reads[2]["by"]["app"], "nosy");
    assert_eq!(reads[2]["entry"]["outcome"], "denied");
    assert!(
        reads[4]["by"]["reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{own}"
    );
    assert_eq!(
        reads[0]["by"],
        json!({"kind": "person", "account": "east-admin", "role": "district-admin"})
    );
    let hers = host
        .get_as(
            Some(&admin),
            &format!("/api/v1/districts/{D}/residents/{ana_record}/reads"),
        )
        .await;
    assert_eq!(hers.status, StatusCode::OK, "{}", hers.text());
    assert_eq!(hers.json()["reads"], own["reads"]);
    let missing = host
        .get_as(
            Some(&admin),
            &format!("/api/v1/districts/{D}/residents/r-9999/reads"),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let worker = host.worker("w9", D, &[G1]).await;
    let r = host
        .get_as(
            Some(&worker),
            &format!("/api/v1/districts/{D}/residents/{ana_record}/reads"),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
}

async fn the_worker_queue_puts_overdue_cases_first_and_acts_by_form(host: TestHost) {
    let [(ana_record, _), _] = district(&host).await;
    host.worker("w1", D, &[G1]).await;
    host.worker("w3", D, &["c-heping-g1"]).await;
    let platform = &host.opened.platform;
    let clock = platform.store().clock().clone();
    clock.set_ms(1_795_336_200_000);
    platform
        .cases()
        .set_deadlines(
            D,
            vec![hutong_host::cases::store::Deadline {
                category: "road".into(),
                priority: hutong_host::cases::Priority::Normal,
                accept_minutes: 60,
                handle_minutes: 600,
                verify_minutes: 600,
            }],
        )
        .await
        .expect("deadlines");
    let building = platform
        .store()
        .get_resident(D, &ana_record)
        .await
        .expect("read")
        .and_then(|r| r.building_id)
        .expect("a building");
    let ana = host.console_session("ana").await;
    let in_her_building = |description: &'static str| {
        [
            ("category", "road"),
            ("building", building.as_str()),
            ("description", description),
        ]
    };
    let old = reported_case(&report(&host, &ana, &in_her_building("旧问题"), &[]).await);
    clock.set_ms(clock.now_ms() + 2 * 3_600_000);
    platform
        .cases()
        .sweep_case_deadlines()
        .await
        .expect("sweep");
    // Two hours on, her session has ended: she signs in again.
    let ana = host.console_session("ana").await;
    let new = reported_case(&report(&host, &ana, &in_her_building("新问题"), &[]).await);
    let w1 = host.console_session("w1").await;
    let queue = page(&host, &w1, "/cases").await.text();
    let (o, n) = (
        queue.find(&format!("#{old}<")).expect("the overdue case"),
        queue.find(&format!("#{new}<")).expect("the new case"),
    );
    assert!(queue.contains("已超期") && o < n, "overdue first: {queue}");
    // A worker of another grid sees neither.
    let w3 = host.console_session("w3").await;
    let theirs = page(&host, &w3, "/cases").await.text();
    assert!(!theirs.contains(&format!("#{old}<")), "{theirs}");
    // Filters: by state.
    let reported = page(&host, &w1, "/cases?state=accepted").await.text();
    assert!(!reported.contains(&format!("#{old}<")), "{reported}");
    let bad = page(&host, &w1, "/cases?state=finished").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    // The case page offers what the state allows this worker; a refused
    // action changes nothing and says why.
    let shown = page(&host, &w1, &format!("/cases/{new}")).await.text();
    assert!(
        shown.contains("act-accept") && shown.contains("act-reject"),
        "{shown}"
    );
    assert!(!shown.contains("act-verify"), "{shown}");
    let r = act(&host, &w1, new, &[("action", "reject")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("reject needs a note"), "{}", r.text());
    let r = act(&host, &w1, new, &[("action", "close")]).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    let r = act(&host, &w3, new, &[("action", "accept")]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    let r = act(&host, &w1, new, &[("action", "accept")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(location(&r), format!("/cases/{new}?done=accept"));
    // The resident concerned is shown in full to the grid's worker, and
    // that read is logged like an app's.
    let shown = page(&host, &w1, &format!("/cases/{new}")).await.text();
    assert!(shown.contains("涉及居民"), "{shown}");
    let reads = platform
        .resident_reads(D, &ana_record, None)
        .await
        .expect("reads");
    assert!(
        reads
            .items
            .iter()
            .any(|r| r.entry.app == "account:w1" && r.entry.request_id == "console"),
        "{:?}",
        reads.items
    );
}
