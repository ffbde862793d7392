//! Apps built from their own world, as componentize-py and componentize-js
//! build them: importing only what they use and exporting only the
//! handlers they have. Such an app installs and runs without stubs; a
//! manifest that asks the host to call a handler the component lacks is
//! refused, from the component's sections, before anything is compiled.

use axum::http::StatusCode;
use hutong_host::Platform;
use hutong_host::PlatformError;
use hutong_host::accounts::{Caller, Role};
use hutong_host::cases::Action;
use hutong_host::cases::notices::NoticeCounts;
use hutong_host::cases::ops::CaseActor;
use hutong_host::cases::store::Category;
use hutong_host::installs::store::InstallStatus;
use hutong_host::kernel::manifest::Permission;
use hutong_tests::{TestHost, case_command, components, on_both_backends};

on_both_backends!(
    an_app_exporting_only_its_http_handler_installs_and_answers,
    a_case_change_for_an_app_without_a_watcher_is_dropped_not_retried,
    a_manifest_asking_for_a_handler_the_component_lacks_is_refused_before_compiling,
);

const GRID: &str = "c-xingfu-g1";

fn manifest() -> String {
    std::fs::read_to_string(components::HANDLERS_ONLY_MANIFEST).expect("read the manifest")
}

const GRANT: &[Permission] = &[
    Permission::Kv,
    Permission::OpenCases,
    Permission::ReadOwnCases,
];

async fn an_app_exporting_only_its_http_handler_installs_and_answers(host: TestHost) {
    host.district("east").await;
    host.install("east", &manifest(), components::HANDLERS_ONLY, GRANT)
        .await
        .expect("installs without event, tick or case-watcher exports");
    for expected in ["1", "2"] {
        let r = host.get("/d/east/apps/handlers-only/count").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.text(), expected);
    }
}

async fn a_case_change_for_an_app_without_a_watcher_is_dropped_not_retried(host: TestHost) {
    host.sample_district("east").await;
    let platform: &Platform = &host.opened.platform;
    platform
        .cases()
        .put_category(
            "east",
            Category {
                code: "repair".into(),
                name: "Repair".into(),
                description: "Broken things".into(),
                group: "estate".into(),
            },
        )
        .await
        .expect("category");
    host.install("east", &manifest(), components::HANDLERS_ONLY, GRANT)
        .await
        .expect("installed");
    let r = host
        .post("/d/east/apps/handlers-only/open", format!("repair {GRID}"))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id: i64 = r.text().parse().expect("a numeric case id");

    host.worker("w1", "east", &[GRID]).await;
    let worker = CaseActor::Person(Caller {
        account_id: "w1".into(),
        role: Role::Worker,
        district: Some("east".into()),
        resident_id: None,
        grids: vec![GRID.into()],
    });
    platform
        .cases()
        .act_on_case(
            "east",
            id,
            &worker,
            case_command(Action::Accept, None, None),
        )
        .await
        .expect("accept");

    // The app reads its case (it holds read-own-cases) ...
    let r = host
        .get(&format!("/d/east/apps/handlers-only/case/{id}"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.text(), "CaseState::Accepted");
    // ... but has no watcher to tell: the notice is dropped, not retried,
    // and the install's health is untouched.
    let report = platform.deliver_case_notices().await.expect("deliver");
    assert_eq!(
        (report.dropped, report.delivered, report.retrying),
        (1, 0, 0),
        "{report:?}"
    );
    assert_eq!(
        platform.case_notice_counts("east").await.expect("counts"),
        NoticeCounts::default()
    );
    let install = platform
        .store()
        .get_install("east", "handlers-only")
        .await
        .expect("install");
    assert_eq!(install.status, InstallStatus::Active);
}

async fn a_manifest_asking_for_a_handler_the_component_lacks_is_refused_before_compiling(
    host: TestHost,
) {
    host.district("east").await;
    let cases = [
        (
            manifest().replace(
                "[permissions]",
                "[permissions]\nreceive-events = \"hears door sensors\"",
            ) + "\n[events]\ntypes = [\"door.open\"]\n",
            "receive-events",
            "hutong:platform/event-handler@0.1.0",
        ),
        (
            manifest().replace(
                "[permissions]",
                "[permissions]\nschedules = \"a daily round\"",
            ) + "\n[[schedules]]\nname = \"daily\"\nevery = \"1d\"\n",
            "schedules",
            "hutong:platform/tick-handler@0.1.0",
        ),
    ];
    for (text, permission, export) in cases {
        let err = host
            .install("east", &text, components::HANDLERS_ONLY, &[])
            .await
            .expect_err("refused");
        assert!(matches!(err, PlatformError::ManifestMismatch(_)), "{err}");
        let message = err.to_string();
        assert!(message.contains(permission), "{message}");
        assert!(message.contains(export), "{message}");
        assert!(message.contains("remove the permission"), "{message}");
    }
    // Nothing was compiled, nothing installed.
    let metrics = host.get("/metrics").await.text();
    assert!(
        metrics.contains("hutong_components_compiled_total 0"),
        "{metrics}"
    );
    assert!(
        host.opened
            .platform
            .store()
            .list_installs(Some("east"))
            .await
            .expect("list")
            .is_empty()
    );
}
