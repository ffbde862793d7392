//! The staff view of residents: a grid worker reads and edits the residents
//! of their own grids only; administrators see the district; nobody else.

use axum::http::{Method, StatusCode};
use hutong_host::accounts::Role;
use hutong_host::community::Record;
use hutong_tests::{TestHost, on_both_backends};

on_both_backends!(
    a_worker_reads_only_the_residents_of_their_grids,
    a_worker_edits_their_residents_with_the_import_rules,
    only_staff_of_the_district_reach_residents,
);

async fn setup(host: &TestHost) -> Vec<Record> {
    host.sample_district("east").await
}

fn in_grid<'a>(records: &'a [Record], grid: &str) -> Vec<&'a hutong_host::community::Resident> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Resident(r) if r.grid_id == grid => Some(r),
            _ => None,
        })
        .collect()
}

async fn a_worker_reads_only_the_residents_of_their_grids(host: TestHost) {
    let records = setup(&host).await;
    let worker = host.worker("wang", "east", &["c-xingfu-g1"]).await;
    let mine = in_grid(&records, "c-xingfu-g1");

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut uri = "/api/v1/districts/east/residents?limit=20".to_owned();
        if let Some(c) = &cursor {
            uri.push_str(&format!("&cursor={c}"));
        }
        let r = host.get_as(Some(&worker), &uri).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let page = r.json();
        for resident in page["residents"].as_array().expect("residents") {
            assert_eq!(resident["grid_id"], "c-xingfu-g1");
            seen.push(resident["id"].as_str().expect("id").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut want: Vec<String> = mine.iter().map(|r| r.id.clone()).collect();
    want.sort();
    assert_eq!(seen, want);

    // Asking for another grid gives nothing; one of theirs, in full.
    let other = host
        .get_as(
            Some(&worker),
            "/api/v1/districts/east/residents?grid=c-heping-g1",
        )
        .await
        .json();
    assert_eq!(other["residents"], serde_json::json!([]));
    let resident = |id: &str| {
        let uri = format!("/api/v1/districts/east/residents/{id}");
        let (host, worker) = (&host, &worker);
        async move { host.get_as(Some(worker), &uri).await }
    };
    let one = mine[0];
    let r = resident(&one.id).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["name"], one.name.as_str());
    let stranger = in_grid(&records, "c-heping-g1")[0];
    let r = resident(&stranger.id).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

async fn a_worker_edits_their_residents_with_the_import_rules(host: TestHost) {
    let records = setup(&host).await;
    let worker = host
        .worker("wang", "east", &["c-xingfu-g1", "c-xingfu-g2"])
        .await;
    let one = in_grid(&records, "c-xingfu-g1")[0].clone();
    let uri = format!("/api/v1/districts/east/residents/{}", one.id);

    let r = host
        .request_as(
            Some(&worker),
            Method::PATCH,
            &uri,
            r#"{"phone": "13911112222", "tags": ["elderly", "needs-visit"], "family_contact_name": null}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let edited = r.json();
    assert_eq!(edited["phone"], "13911112222");
    assert_eq!(
        edited["tags"],
        serde_json::json!(["elderly", "needs-visit"])
    );
    assert_eq!(edited["family_contact_name"], serde_json::Value::Null);
    assert_eq!(edited["name"], one.name.as_str(), "fields left out stay");

    // Bad values are refused with the import's rules, and change nothing.
    for body in [
        r#"{"phone": "12"}"#,
        r#"{"birth_date": "1950-02-30"}"#,
        r#"{"id_number": "110105194912310021"}"#,
        r#"{"tags": ["Not A Tag"]}"#,
        r#"{"household_id": "no-such-household"}"#,
        r#"{"shoe_size": 42}"#,
    ] {
        let r = host
            .request_as(Some(&worker), Method::PATCH, &uri, body)
            .await;
        assert!(
            r.status == StatusCode::UNPROCESSABLE_ENTITY || r.status == StatusCode::BAD_REQUEST,
            "{body}: {} {}",
            r.status,
            r.text()
        );
    }
    let now = host.get_as(Some(&worker), &uri).await.json();
    assert_eq!(now, edited);

    // Moving within their grids is fine; out of them is not.
    let r = host
        .request_as(
            Some(&worker),
            Method::PATCH,
            &uri,
            r#"{"grid_id": "c-xingfu-g2", "household_id": null}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = host
        .request_as(
            Some(&worker),
            Method::PATCH,
            &uri,
            r#"{"grid_id": "c-heping-g1"}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    // Nor into a household of someone else's grid.
    let elsewhere = records
        .iter()
        .find_map(|r| match r {
            Record::Household(h) if h.building_id.starts_with("c-heping") => Some(h.id.clone()),
            _ => None,
        })
        .expect("a household in heping");
    let r = host
        .request_as(
            Some(&worker),
            Method::PATCH,
            &uri,
            format!(r#"{{"household_id": "{elsewhere}"}}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());

    // A resident outside their grids cannot be edited.
    let stranger = in_grid(&records, "c-heping-g1")[0];
    let r = host
        .request_as(
            Some(&worker),
            Method::PATCH,
            &format!("/api/v1/districts/east/residents/{}", stranger.id),
            r#"{"phone": "13911112222"}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

async fn only_staff_of_the_district_reach_residents(host: TestHost) {
    setup(&host).await;
    host.district("west").await;
    let admin = host.district_admin("east").await;
    let auditor = host.account("audit", Role::Auditor, Some("east")).await;
    let resident = host.account("zhang", Role::Resident, Some("east")).await;
    let west_admin = host.district_admin("west").await;
    let west_worker = host
        .account("west-worker", Role::Worker, Some("west"))
        .await;

    let all = host
        .get_as(Some(&admin), "/api/v1/districts/east/residents?limit=500")
        .await
        .json();
    assert!(all["residents"].as_array().map(Vec::len).unwrap_or(0) > 250);
    for token in [&auditor, &resident, &west_admin, &west_worker] {
        let r = host
            .get_as(Some(token), "/api/v1/districts/east/residents")
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    }
    // A worker's grids must exist in their district.
    let err = host
        .opened
        .platform
        .create_account(hutong_host::AccountRequest {
            id: "ghost".into(),
            role: Role::Worker,
            district: Some("east".into()),
            display_name: String::new(),
            resident_id: None,
            grids: vec!["no-such-grid".into()],
            phone: None,
        })
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("no-such-grid"), "{err}");
}
