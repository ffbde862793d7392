//! The community data model through real apps: import and re-import,
//! masking on every read path, grants, scope, district isolation, and the
//! access log that records every call.

use axum::http::StatusCode;
use hutong_host::accounts::Role;
use hutong_host::community::import::{self, Format};
use hutong_host::community::{Record, sample};
use hutong_host::kernel::manifest::Permission;
use hutong_tests::{TestHost, components, on_both_backends, test_app_manifest};

on_both_backends!(
    import_validates_every_row_and_reimport_updates_in_place,
    residents_are_masked_on_every_path_without_the_personal_grant,
    personal_fields_come_in_full_with_the_grant,
    reading_without_the_grant_is_denied_and_logged,
    an_app_never_reads_another_district,
    narrowing_to_communities_holds_on_every_path,
    the_access_log_and_grant_report_show_what_apps_did,
    data_endpoints_follow_the_access_rules,
    households_buildings_and_organisations_need_their_own_grants_and_stay_in_scope,
    the_access_log_is_chained_across_processes_and_tampering_shows,
    sealing_links_long_runs_in_batches,
);

fn sample_jsonl() -> String {
    import::to_json_lines(&sample::sample_district(1))
}

async fn with_sample(host: &TestHost, district: &str) -> Vec<Record> {
    host.district(district).await;
    host.opened
        .platform
        .import_data(district, &sample_jsonl(), Format::JsonLines)
        .await
        .expect("import sample");
    host.export(district).await
}

fn residents(records: &[Record]) -> Vec<&hutong_host::community::Resident> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Resident(r) => Some(r),
            _ => None,
        })
        .collect()
}

async fn install(host: &TestHost, district: &str, grants: &[Permission], scope: Option<&[&str]>) {
    host.install_app_in(district, "test-app", grants, scope)
        .await;
}

async fn import_validates_every_row_and_reimport_updates_in_place(host: TestHost) {
    let records = with_sample(&host, "east").await;
    let people = residents(&records);
    assert!((250..=350).contains(&people.len()), "{}", people.len());

    // Re-import: everything updated, nothing duplicated.
    let again = host
        .opened
        .platform
        .import_data("east", &sample_jsonl(), Format::JsonLines)
        .await
        .expect("re-import");
    assert_eq!(again.created, 0);
    assert_eq!(again.updated as usize, records.len());
    assert_eq!(
        host.opened
            .platform
            .export_data(
                "east",
                hutong_host::kernel::access_log::Reader::CommandLine,
                "test"
            )
            .await
            .expect("export"),
        records
    );

    // A changed resident is updated in place.
    let mut changed = people[0].clone();
    changed.tags.push("needs-visit".into());
    let line = import::to_json_lines(&[Record::Resident(changed.clone())]);
    host.opened
        .platform
        .import_data("east", &line, Format::JsonLines)
        .await
        .expect("update");
    let after = host
        .opened
        .platform
        .export_data(
            "east",
            hutong_host::kernel::access_log::Reader::CommandLine,
            "test",
        )
        .await
        .expect("export");
    assert_eq!(residents(&after).len(), people.len());
    assert!(residents(&after).contains(&&changed));

    // One bad row refuses the whole file, naming its line; nothing changes.
    let mut lines: Vec<String> = sample_jsonl().lines().map(str::to_owned).collect();
    let bad_line = lines.len() - 3;
    lines.push(
        r#"{"kind":"resident","id":"r-new","grid_id":"c-xingfu-g1","name":"新人","phone":"12"}"#
            .to_owned(),
    );
    lines[bad_line - 1] = lines[bad_line - 1].replace("\"grid_id\":\"", "\"grid_id\":\"missing-");
    let err = host
        .opened
        .platform
        .import_data("east", &lines.join("\n"), Format::JsonLines)
        .await
        .expect_err("refused");
    let message = err.to_string();
    assert!(message.contains("nothing was changed"), "{message}");
    assert!(
        message.contains(&format!("line {}", lines.len())),
        "{message}"
    );
    assert_eq!(
        host.opened
            .platform
            .export_data(
                "east",
                hutong_host::kernel::access_log::Reader::CommandLine,
                "test"
            )
            .await
            .expect("export"),
        after
    );

    // CSV, with the line of the bad row.
    let csv = "id,household_id,grid_id,tags,name,phone,id_number,birth_date,address,family_contact_name,family_contact_phone\n\
               r-9001,,c-xingfu-g1,elderly,王五,13800000001,,1950-01-01,,,\n\
               r-9002,,c-xingfu-g1,,赵六,,,1950-02-30,,,\n";
    let err = host
        .opened
        .platform
        .import_data("east", csv, Format::Csv("resident".parse().expect("kind")))
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("line 3"), "{err}");
    let csv_ok = csv.replace("1950-02-30", "1950-02-28");
    let summary = host
        .opened
        .platform
        .import_data(
            "east",
            &csv_ok,
            Format::Csv("resident".parse().expect("kind")),
        )
        .await
        .expect("csv import");
    assert_eq!(summary.created, 2);
}

async fn residents_are_masked_on_every_path_without_the_personal_grant(host: TestHost) {
    let records = with_sample(&host, "east").await;
    install(&host, "east", &[Permission::ReadResidents], None).await;
    let person = residents(&records)
        .into_iter()
        .find(|r| r.phone.is_some() && r.id_number.is_some() && r.family_contact_name.is_some())
        .expect("a resident with every field")
        .clone();

    let got = host
        .get(&format!(
            "/d/east/apps/test-app/data/resident?id={}",
            person.id
        ))
        .await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text());
    let got = got.json();
    assert_masked(&got, &person);

    // Every page of a query is masked too.
    let mut cursor: Option<String> = None;
    let mut seen = 0;
    loop {
        let mut uri = "/d/east/apps/test-app/data/residents?limit=50".to_owned();
        if let Some(c) = &cursor {
            uri.push_str(&format!("&cursor={c}"));
        }
        let page = host.get(&uri).await.json();
        for r in page["residents"].as_array().expect("residents") {
            let original = residents(&records)
                .into_iter()
                .find(|p| p.id == r["id"])
                .expect("known resident");
            assert_masked(r, original);
            seen += 1;
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, residents(&records).len());
    let all = host
        .get("/d/east/apps/test-app/data/all?tags=elderly")
        .await
        .json();
    let elderly = residents(&records)
        .iter()
        .filter(|r| r.tags.iter().any(|t| t == "elderly"))
        .count();
    assert_eq!(all["ids"].as_array().map(Vec::len), Some(elderly));
}

fn assert_masked(got: &serde_json::Value, original: &hutong_host::community::Resident) {
    assert_eq!(got["field_class"], "masked");
    let name = got["name"].as_str().expect("name");
    assert!(name.ends_with('*'), "{name}");
    assert_ne!(name, original.name);
    assert!(original.name.starts_with(name.trim_end_matches('*')));
    if let Some(phone) = &original.phone {
        let masked = got["phone"].as_str().expect("phone");
        assert!(masked.contains("****"), "{masked}");
        assert_ne!(masked, phone);
    }
    if let Some(id) = &original.id_number {
        let masked = got["id_number"].as_str().expect("id number");
        assert_eq!(&masked[masked.len() - 4..], &id[id.len() - 4..]);
        assert!(
            masked[..masked.len() - 4].chars().all(|c| c == '*'),
            "{masked}"
        );
    }
    assert_eq!(got["birth_date"], serde_json::Value::Null);
    if let Some(date) = &original.birth_date {
        assert_eq!(
            got["birth_year"].as_u64().map(|y| y.to_string()),
            Some(date[..4].to_owned())
        );
    }
    assert_eq!(got["family_contact_name"], serde_json::Value::Null);
    assert_eq!(got["family_contact_phone"], serde_json::Value::Null);
    if original.address.is_some() {
        assert_ne!(got["address"].as_str(), original.address.as_deref());
    }
}

async fn personal_fields_come_in_full_with_the_grant(host: TestHost) {
    let records = with_sample(&host, "east").await;
    install(
        &host,
        "east",
        &[Permission::ReadResidents, Permission::ReadPersonalFields],
        None,
    )
    .await;
    let person = residents(&records)[0].clone();
    let got = host
        .get(&format!(
            "/d/east/apps/test-app/data/resident?id={}",
            person.id
        ))
        .await
        .json();
    assert_eq!(got["field_class"], "personal");
    assert_eq!(got["name"], person.name);
    assert_eq!(got["phone"].as_str(), person.phone.as_deref());
    assert_eq!(got["id_number"].as_str(), person.id_number.as_deref());
    assert_eq!(got["birth_date"].as_str(), person.birth_date.as_deref());
    assert_eq!(got["address"].as_str(), person.address.as_deref());
}

async fn reading_without_the_grant_is_denied_and_logged(host: TestHost) {
    with_sample(&host, "east").await;
    install(&host, "east", &[], None).await;
    for uri in [
        "/d/east/apps/test-app/data/resident?id=r-0001",
        "/d/east/apps/test-app/data/residents?limit=10",
    ] {
        let r = host.get(uri).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{uri}: {}", r.text());
        assert!(r.text().contains("read-residents"), "{}", r.text());
    }
    let log = host
        .opened
        .platform
        .access_log("east", Some("test-app"), None, 100)
        .await
        .expect("log");
    assert_eq!(log.len(), 2);
    assert!(
        log.iter()
            .all(|e| e.outcome == "denied" && e.permission == "read-residents")
    );
    // A refused read by id names the record it asked for, so that
    // resident's "who read my data" shows the attempt; a search names none.
    let mut named: Vec<(String, Vec<String>)> = log
        .iter()
        .map(|e| (e.operation.clone(), e.record_ids.clone()))
        .collect();
    named.sort();
    assert_eq!(
        named,
        [
            ("get-resident".to_owned(), vec!["r-0001".to_owned()]),
            ("query-residents".to_owned(), vec![])
        ]
    );
}

async fn an_app_never_reads_another_district(host: TestHost) {
    with_sample(&host, "east").await;
    host.district("west").await;
    let west = r#"{"kind":"street","id":"s-w","name":"西街道"}
{"kind":"community","id":"c-w","street_id":"s-w","name":"西社区"}
{"kind":"grid","id":"c-w-g1","community_id":"c-w","name":"一网格"}
{"kind":"resident","id":"w-0001","grid_id":"c-w-g1","name":"钱七","tags":["elderly"]}"#;
    host.opened
        .platform
        .import_data("west", west, Format::JsonLines)
        .await
        .expect("import west");
    install(
        &host,
        "west",
        &[Permission::ReadResidents, Permission::ReadPersonalFields],
        None,
    )
    .await;

    let r = host
        .get("/d/west/apps/test-app/data/resident?id=r-0001")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    for uri in [
        "/d/west/apps/test-app/data/all",
        "/d/west/apps/test-app/data/all?tags=elderly",
        "/d/west/apps/test-app/data/all?community=c-xingfu",
        "/d/west/apps/test-app/data/all?grid=c-xingfu-g1",
        "/d/west/apps/test-app/data/all?min_age=0&max_age=150",
    ] {
        let ids = host.get(uri).await.json()["ids"].clone();
        let ids: Vec<&str> = ids
            .as_array()
            .expect("ids")
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert!(ids.iter().all(|id| id.starts_with("w-")), "{uri}: {ids:?}");
    }
}

async fn narrowing_to_communities_holds_on_every_path(host: TestHost) {
    let records = with_sample(&host, "east").await;
    install(
        &host,
        "east",
        &[Permission::ReadResidents],
        Some(&["c-heping"]),
    )
    .await;
    let people = residents(&records);
    let outside = people
        .iter()
        .find(|r| r.grid_id.starts_with("c-xingfu"))
        .expect("xingfu");
    let inside = people
        .iter()
        .find(|r| r.grid_id.starts_with("c-heping"))
        .expect("heping");

    let r = host
        .get(&format!(
            "/d/east/apps/test-app/data/resident?id={}",
            outside.id
        ))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    let r = host
        .get(&format!(
            "/d/east/apps/test-app/data/resident?id={}",
            inside.id
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let expected = people
        .iter()
        .filter(|r| r.grid_id.starts_with("c-heping"))
        .count();
    for uri in [
        "/d/east/apps/test-app/data/all",
        "/d/east/apps/test-app/data/all?community=c-xingfu",
        "/d/east/apps/test-app/data/all?grid=c-xingfu-g1",
    ] {
        let ids = host.get(uri).await.json()["ids"].as_array().map(Vec::len);
        let want = if uri.ends_with("/all") { expected } else { 0 };
        assert_eq!(ids, Some(want), "{uri}");
    }
    // Installing with a community the district does not have is refused.
    let err = host
        .install_with(
            "east",
            &test_app_manifest("other", ""),
            components::TEST_APP,
            &[Permission::ReadResidents],
            serde_json::json!({}),
            Some(vec!["c-nowhere".into()]),
        )
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("c-nowhere"), "{err}");
}

async fn the_access_log_and_grant_report_show_what_apps_did(host: TestHost) {
    with_sample(&host, "east").await;
    install(
        &host,
        "east",
        &[Permission::ReadResidents, Permission::Kv],
        None,
    )
    .await;
    host.get("/d/east/apps/test-app/data/resident?id=r-0001")
        .await;
    host.get("/d/east/apps/test-app/data/residents?limit=3")
        .await;
    host.get("/d/east/apps/test-app/data/resident?id=nobody")
        .await;

    let auditor = host.account("audit", Role::Auditor, Some("east")).await;
    let r = host
        .get_as(
            Some(&auditor),
            "/api/v1/districts/east/audit/access?app=test-app",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let log = r.json();
    let log = log.as_array().expect("entries");
    assert_eq!(log.len(), 3);
    assert_eq!(log[0]["operation"], "get-resident");
    assert_eq!(log[0]["record_ids"], serde_json::json!(["r-0001"]));
    assert_eq!(log[0]["field_class"], "masked");
    assert_eq!(log[0]["version"], "0.1.0");
    assert!(!log[0]["request_id"].as_str().unwrap_or_default().is_empty());
    assert_eq!(log[1]["operation"], "query-residents");
    assert_eq!(log[1]["record_count"], 3);
    assert_eq!(log[2]["record_count"], 0, "a miss is logged too");
    let later = host
        .get_as(
            Some(&auditor),
            &format!(
                "/api/v1/districts/east/audit/access?since={}",
                hutong_host::kernel::clock::now_ms() + 60_000
            ),
        )
        .await
        .json();
    assert_eq!(later.as_array().map(Vec::len), Some(0));

    let grants = host
        .get_as(Some(&auditor), "/api/v1/districts/east/audit/grants")
        .await
        .json();
    let perms = grants[0]["permissions"].as_array().expect("permissions");
    let by_name = |n: &str| {
        perms
            .iter()
            .find(|p| p["permission"] == n)
            .expect(n)
            .clone()
    };
    assert_eq!(by_name("read-residents")["granted"], true);
    assert!(by_name("read-residents")["last_used_at"].is_i64());
    assert_eq!(by_name("read-personal-fields")["granted"], false);
    assert!(by_name("kv")["reason"].as_str().is_some());
}

async fn data_endpoints_follow_the_access_rules(host: TestHost) {
    host.district("east").await;
    host.district("west").await;
    let admin = host.district_admin("east").await;
    let auditor = host.account("audit", Role::Auditor, Some("east")).await;
    let r = host
        .post_as(
            Some(&auditor),
            "/api/v1/districts/east/data/import",
            sample_jsonl(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = host
        .post_as(
            Some(&admin),
            "/api/v1/districts/west/data/import",
            sample_jsonl(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = host
        .post_as(
            Some(&admin),
            "/api/v1/districts/east/data/import",
            sample_jsonl(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.json()["created"].as_u64().unwrap_or(0) > 250);
    let bad = host
        .post_as(
            Some(&admin),
            "/api/v1/districts/east/data/import?format=csv&kind=resident",
            "id,grid_id\nr-1,g\n",
        )
        .await;
    assert_eq!(
        bad.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        bad.text()
    );
    let r = host
        .get_as(Some(&auditor), "/api/v1/districts/east/data/export")
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "exports hold personal data"
    );
    let r = host
        .get_as(
            Some(&admin),
            "/api/v1/districts/east/data/export?format=csv&kind=grid",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().starts_with("id,community_id,name"), "{}", r.text());
    assert_eq!(r.text().lines().count(), 7, "a header and six grids");
}

async fn households_buildings_and_organisations_need_their_own_grants_and_stay_in_scope(
    host: TestHost,
) {
    let records = with_sample(&host, "east").await;
    install(&host, "east", &[Permission::ReadResidents], None).await;
    for (uri, permission) in [
        (
            "/d/east/apps/test-app/data/building?id=c-heping-b1",
            "read-buildings",
        ),
        ("/d/east/apps/test-app/data/buildings", "read-buildings"),
        (
            "/d/east/apps/test-app/data/households?building=c-heping-b1",
            "read-households",
        ),
        (
            "/d/east/apps/test-app/data/organisations",
            "read-organisations",
        ),
        (
            "/d/east/apps/test-app/data/members?organisation=c-heping-party",
            "read-organisations",
        ),
    ] {
        let r = host.get(uri).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{uri}: {}", r.text());
        assert!(r.text().contains(permission), "{uri}: {}", r.text());
    }
    host.opened
        .platform
        .uninstall("east", "test-app", false)
        .await
        .expect("uninstall");
    install(
        &host,
        "east",
        &[
            Permission::ReadResidents,
            Permission::ReadHouseholds,
            Permission::ReadBuildings,
            Permission::ReadOrganisations,
        ],
        Some(&["c-heping"]),
    )
    .await;

    let buildings: Vec<&hutong_host::community::Building> = records
        .iter()
        .filter_map(|r| match r {
            Record::Building(b) if b.community_id == "c-heping" => Some(b),
            _ => None,
        })
        .collect();
    let listed = host
        .get("/d/east/apps/test-app/data/buildings")
        .await
        .json();
    let listed: Vec<&str> = listed["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let mut want: Vec<&str> = buildings.iter().map(|b| b.id.as_str()).collect();
    want.sort_unstable();
    assert_eq!(listed, want, "only the scope's buildings");
    let r = host
        .get("/d/east/apps/test-app/data/building?id=c-xingfu-b1")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "out of scope");
    let r = host
        .get("/d/east/apps/test-app/data/buildings?community=c-xingfu")
        .await
        .json();
    assert_eq!(r["ids"], serde_json::json!([]));

    // Households of a building, two per page, through to the end.
    let building = buildings[0].id.clone();
    let mut want: Vec<String> = records
        .iter()
        .filter_map(|r| match r {
            Record::Household(h) if h.building_id == building => Some(h.id.clone()),
            _ => None,
        })
        .collect();
    want.sort();
    let mut got = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut uri = format!("/d/east/apps/test-app/data/households?building={building}&limit=2");
        if let Some(c) = &cursor {
            uri.push_str(&format!("&cursor={c}"));
        }
        let page = host.get(&uri).await.json();
        got.extend(
            page["ids"]
                .as_array()
                .expect("ids")
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned)),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(got, want);
    let household = host
        .get(&format!(
            "/d/east/apps/test-app/data/household?id={}",
            want[0]
        ))
        .await
        .json();
    assert_eq!(household["building_id"], building.as_str());
    assert_eq!(household["community_id"], "c-heping");

    // The residents of that household.
    let mut living: Vec<String> = residents(&records)
        .iter()
        .filter(|r| r.household_id.as_deref() == Some(want[0].as_str()))
        .map(|r| r.id.clone())
        .collect();
    living.sort();
    let ids = host
        .get(&format!(
            "/d/east/apps/test-app/data/all?household={}",
            want[0]
        ))
        .await
        .json();
    assert_eq!(ids["ids"], serde_json::json!(living));

    // Organisations and members, in scope only.
    let branches = host
        .get("/d/east/apps/test-app/data/organisations?kind=party-branch")
        .await
        .json();
    assert_eq!(branches["ids"], serde_json::json!(["c-heping-party"]));
    let members = host
        .get("/d/east/apps/test-app/data/members?organisation=c-heping-party")
        .await
        .json();
    let mut want: Vec<String> = records
        .iter()
        .filter_map(|r| match r {
            Record::Membership(m) if m.organisation_id == "c-heping-party" => {
                Some(m.resident_id.clone())
            }
            _ => None,
        })
        .collect();
    want.sort();
    let got: Vec<String> = members["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m["resident_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(got, want);
    assert!(
        members["members"]
            .as_array()
            .expect("members")
            .iter()
            .any(|m| m["role"] == "secretary")
    );
    let r = host
        .get("/d/east/apps/test-app/data/members?organisation=c-xingfu-party")
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "out of scope: {}",
        r.text()
    );

    let log = host
        .opened
        .platform
        .access_log("east", Some("test-app"), None, 1000)
        .await
        .expect("log");
    for op in [
        "list-buildings",
        "get-household",
        "list-households",
        "list-organisations",
        "list-members",
    ] {
        assert!(
            log.iter()
                .any(|e| e.operation == op && e.outcome == "allowed"),
            "{op} logged"
        );
    }
    assert!(
        log.iter()
            .any(|e| e.operation == "get-building" && e.outcome == "denied")
    );
}

async fn the_access_log_is_chained_across_processes_and_tampering_shows(host: TestHost) {
    with_sample(&host, "east").await;
    install(&host, "east", &[Permission::ReadResidents], None).await;
    let other = host.another_process().await;
    let caller = hutong_host::accounts::Caller {
        account_id: "root".into(),
        role: Role::PlatformAdmin,
        district: None,
        resident_id: None,
        grids: vec![],
    };
    // Two host processes append at once: the chain must not fork.
    let mut calls = Vec::new();
    for i in 0..20 {
        let runtime = if i % 2 == 0 {
            host.opened.platform.runtime().clone()
        } else {
            other.platform.runtime().clone()
        };
        let caller = caller.clone();
        calls.push(tokio::spawn(async move {
            runtime
                .handle_http(
                    "east",
                    "test-app",
                    hutong_host::AppRequest {
                        query: format!("id=r-{:04}", i + 1),
                        caller: Some(caller),
                        ..hutong_host::AppRequest::get("/data/resident")
                    },
                )
                .await
        }));
    }
    for c in calls {
        let r = c.await.expect("task").expect("call");
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    let auditor = host.account("audit", Role::Auditor, Some("east")).await;
    let report = verify_chain(&host, &auditor).await;
    assert_eq!(report["entries"], 20, "{report}");
    assert_eq!(report["broken"], serde_json::Value::Null, "{report}");

    // Two sealers racing over new entries still make one chain.
    for i in 0..10 {
        host.opened
            .platform
            .store()
            .log_access(hutong_host::kernel::access_log::NewAccess {
                district: "east",
                app: "test-app",
                version: "0.1.0",
                request_id: &format!("extra-{i}"),
                operation: "get-resident",
                permission: "read-residents",
                allowed: true,
                record_ids: &[],
                field_class: "masked",
            })
            .await
            .expect("append");
    }
    let (a, b) = tokio::join!(
        host.opened.platform.store().seal_access_log(),
        other.platform.store().seal_access_log()
    );
    assert_eq!(
        a.expect("seal") + b.expect("seal"),
        10,
        "each entry sealed once"
    );
    let report = verify_chain(&host, &auditor).await;
    assert_eq!(report["entries"], 30, "{report}");
    assert_eq!(report["broken"], serde_json::Value::Null, "{report}");

    // Changing what an entry says is caught...
    assert_eq!(
        host.execute_raw("UPDATE access_log SET record_ids = '[]' WHERE seq = (SELECT seq FROM access_log ORDER BY seq LIMIT 1 OFFSET 5)")
            .await,
        1
    );
    let report = verify_chain(&host, &auditor).await;
    assert!(
        report["broken"]
            .as_str()
            .unwrap_or_default()
            .contains("changed"),
        "{report}"
    );
    host.execute_raw("UPDATE access_log SET record_ids = '[\"x\"]' WHERE seq = (SELECT seq FROM access_log ORDER BY seq LIMIT 1 OFFSET 5)")
        .await;

    // ...and so is removing the newest entries.
    host.opened
        .platform
        .store()
        .log_access(hutong_host::kernel::access_log::NewAccess {
            district: "west-does-not-matter",
            app: "x",
            version: "0",
            request_id: "r",
            operation: "get-resident",
            permission: "read-residents",
            allowed: true,
            record_ids: &[],
            field_class: "masked",
        })
        .await
        .expect("another district's chain is separate");
    host.execute_raw(
        "DELETE FROM access_log WHERE seq = (SELECT MAX(seq) FROM access_log WHERE district = 'east')",
    )
    .await;
    let report = verify_chain(&host, &auditor).await;
    assert!(report["broken"].as_str().is_some(), "{report}");

    // A fresh district's chain holds, and a removed entry in the middle of
    // one is caught.
    let fresh = host.opened.platform.store();
    for i in 0..3 {
        fresh
            .log_access(hutong_host::kernel::access_log::NewAccess {
                district: "east-2",
                app: "x",
                version: "0",
                request_id: &format!("r{i}"),
                operation: "get-resident",
                permission: "read-residents",
                allowed: true,
                record_ids: &[],
                field_class: "masked",
            })
            .await
            .expect("append");
    }
    let report = fresh.verify_access_log("east-2").await.expect("verify");
    assert_eq!((report.entries, report.broken.clone()), (3, None));
    host.execute_raw("DELETE FROM access_log WHERE district = 'east-2' AND request_id = 'r1'")
        .await;
    let report = fresh.verify_access_log("east-2").await.expect("verify");
    assert!(
        report
            .broken
            .as_deref()
            .unwrap_or_default()
            .contains("removed or inserted"),
        "{report:?}"
    );
}

async fn verify_chain(host: &TestHost, token: &str) -> serde_json::Value {
    host.get_as(Some(token), "/api/v1/districts/east/audit/verify")
        .await
        .json()
}

async fn sealing_links_long_runs_in_batches(host: TestHost) {
    let store = host.opened.platform.store();
    // More than one UPDATE batch, sealed in two rounds.
    for round in 0..2 {
        for i in 0..300 {
            store
                .log_access(hutong_host::kernel::access_log::NewAccess {
                    district: "busy",
                    app: "x",
                    version: "0",
                    request_id: &format!("r{round}-{i}"),
                    operation: "query-residents",
                    permission: "read-residents",
                    allowed: true,
                    record_ids: &[format!("r-{i:04}")],
                    field_class: "masked",
                })
                .await
                .expect("append");
        }
        assert_eq!(store.seal_access_log().await.expect("seal"), 300);
    }
    let report = store.verify_access_log("busy").await.expect("verify");
    assert_eq!(
        (report.entries, report.broken.clone()),
        (600, None),
        "{report:?}"
    );
    let log = store
        .list_access("busy", None, None, 1000)
        .await
        .expect("log");
    assert_eq!(log.len(), 600);
    assert!(
        log.windows(2).all(|w| w[1].prev_hash == w[0].hash),
        "linked in order"
    );
}
