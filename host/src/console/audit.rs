//! The auditor's page of one install (`/audit/{app}`), answering five
//! questions: what may it do (its permissions, the publisher's reasons,
//! what the district granted, and the communities it sees), what did it do
//! (its access log, filtered by operation, outcome, field class, record
//! and day, a page at a time, newest first), what was denied, which grants
//! were never used, and whether the log is intact (verified on request:
//! the first broken entry if any). `/audit/{app}/access.csv` exports what
//! the filter matches.
//!
//! For the district's auditors and administrators, and the platform
//! administrator with `?district=`. The log is read a page at a time from
//! an index on (district, app, seq), so a page costs the same however long
//! the log is.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use chrono::{FixedOffset, NaiveDate, TimeZone};
use maud::{Markup, html};
use serde::Deserialize;

use super::i18n::{Lang, Text, permission_sentence};
use super::pages;
use super::session::Visitor;
use super::{DistrictPage, Language, PageError, failed, not_found, see_other};
use crate::accounts::sign_in::Session;
use crate::api::shared::ApiState;
use crate::community::ops::{GrantReport, is_logged};
use crate::installs::store::{Install, InstallStatus};
use crate::kernel::access_log::{AccessEntry, AccessFilter, AccessPage, ChainReport};
use crate::kernel::ids::{AppName, record_id_problem};
use crate::kernel::store::StoreError;

/// Entries on one page of the log.
pub const PAGE_ENTRIES: u32 = 50;

/// Most entries one CSV export holds; a longer log is exported in parts by
/// narrowing the days.
pub const MAX_CSV_ENTRIES: u32 = 100_000;

/// The latest denials shown.
const DENIALS_SHOWN: u32 = 10;

/// The page's query: the district (for the platform administrator), the
/// filter, where the page starts, and whether to verify.
#[derive(Clone, Debug, Default, Deserialize)]
pub(super) struct AuditQuery {
    #[serde(default)]
    district: Option<String>,
    #[serde(default)]
    operation: Option<String>,
    #[serde(default)]
    outcome: Option<String>,
    #[serde(default)]
    field_class: Option<String>,
    #[serde(default)]
    record: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    until: Option<String>,
    #[serde(default)]
    before: Option<i64>,
    #[serde(default)]
    verify: Option<String>,
}

/// Times on these pages: China Standard Time.
fn cst() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC"))
}

/// `ms` as `2026-12-06 14:05:03` in China Standard Time.
fn shown_time(ms: i64) -> String {
    cst()
        .timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// The start of day `day` (`2026-12-06`) in China Standard Time, ms.
fn day_start(day: &str) -> Option<i64> {
    let date = NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d").ok()?;
    cst()
        .from_local_datetime(&date.and_hms_opt(0, 0, 0)?)
        .single()
        .map(|t| t.timestamp_millis())
}

/// A field of the filter: `None` when left empty.
fn given(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

impl AuditQuery {
    /// The filter the query asks for, or `None` if a field of it is not
    /// valid.
    fn filter(&self) -> Option<AccessFilter> {
        let operation = given(&self.operation);
        if operation.as_deref().is_some_and(|o| {
            o.len() > 64
                || !o
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'-' || b == b'.')
        }) {
            return None;
        }
        let outcome = given(&self.outcome);
        if outcome
            .as_deref()
            .is_some_and(|o| !matches!(o, "allowed" | "denied"))
        {
            return None;
        }
        let field_class = given(&self.field_class);
        if field_class
            .as_deref()
            .is_some_and(|f| !matches!(f, "masked" | "personal" | "case" | "contact"))
        {
            return None;
        }
        let record = given(&self.record);
        if record
            .as_deref()
            .is_some_and(|r| record_id_problem("record", r).is_some())
        {
            return None;
        }
        let from = match given(&self.from) {
            Some(day) => Some(day_start(&day)?),
            None => None,
        };
        let until = match given(&self.until) {
            // Up to and including that day.
            Some(day) => Some(day_start(&day)? + 24 * 3600 * 1000),
            None => None,
        };
        Some(AccessFilter {
            operation,
            outcome,
            field_class,
            record,
            from,
            until,
        })
    }

    /// The query string of this filter (district included), for links.
    fn filter_query(&self) -> String {
        let pairs = [
            ("district", &self.district),
            ("operation", &self.operation),
            ("outcome", &self.outcome),
            ("field_class", &self.field_class),
            ("record", &self.record),
            ("from", &self.from),
            ("until", &self.until),
        ];
        let url = reqwest::Url::parse_with_params(
            "http://query.invalid/",
            pairs.iter().filter_map(|(k, v)| given(v).map(|v| (*k, v))),
        );
        url.ok()
            .and_then(|u| u.query().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// The install a signed-in reader of its district may audit, or the answer
/// to give instead.
async fn readable_install(
    state: &ApiState,
    lang: Lang,
    session: &Session,
    district: Option<String>,
    app: &str,
) -> Result<Result<Install, Response>, PageError> {
    let district = match DistrictPage::read(lang, Some(session.clone()), district) {
        Ok(page) => page.district,
        Err(answer) => return Ok(Err(*answer)),
    };
    let Ok(app) = app.parse::<AppName>() else {
        return Ok(Err(not_found(lang)));
    };
    match state.platform.store().get_install(&district, &app).await {
        Ok(install) => Ok(Ok(install)),
        Err(StoreError::NotFound(_)) => Ok(Err(not_found(lang))),
        Err(err) => Err(failed(err)),
    }
}

/// `GET /audit/{app}`.
pub(super) async fn audit_page(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    Path(app): Path<String>,
    Query(q): Query<AuditQuery>,
) -> Result<Response, PageError> {
    let Some(session) = visitor.session else {
        return Ok(see_other("/sign-in"));
    };
    let install = match readable_install(&state, lang, &session, q.district.clone(), &app).await? {
        Ok(install) => install,
        Err(answer) => return Ok(answer),
    };
    let store = state.platform.store();
    let report = state
        .platform
        .install_grant_report(&install)
        .await
        .map_err(failed)?;
    let denied = AccessFilter {
        outcome: Some("denied".into()),
        ..AccessFilter::default()
    };
    let denials = store
        .search_access(
            &install.district,
            &install.app,
            &denied,
            None,
            DENIALS_SHOWN,
        )
        .await
        .map_err(failed)?
        .entries;
    let filter = q.filter();
    let (status, page) = match &filter {
        Some(filter) => (
            StatusCode::OK,
            store
                .search_access(
                    &install.district,
                    &install.app,
                    filter,
                    q.before,
                    PAGE_ENTRIES + 1,
                )
                .await
                .map_err(failed)?,
        ),
        None => (StatusCode::BAD_REQUEST, AccessPage::default()),
    };
    let verified = match q.verify.is_some() {
        true => Some(
            store
                .verify_access_log(&install.district)
                .await
                .map_err(failed)?,
        ),
        false => None,
    };
    let view = AuditView {
        install: &install,
        report: &report,
        denials: &denials,
        entries: &page.entries,
        searched_to: page.searched_to,
        filter_ok: filter.is_some(),
        verified: verified.as_ref(),
    };
    Ok((status, render(lang, &session, &q, &view)).into_response())
}

/// `GET /audit/{app}/access.csv`: what the filter matches, newest first.
pub(super) async fn audit_csv(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    Path(app): Path<String>,
    Query(q): Query<AuditQuery>,
) -> Result<Response, PageError> {
    let Some(session) = visitor.session else {
        return Ok(see_other("/sign-in"));
    };
    let install = match readable_install(&state, lang, &session, q.district.clone(), &app).await? {
        Ok(install) => install,
        Err(answer) => return Ok(answer),
    };
    let Some(filter) = q.filter() else {
        return Ok((
            StatusCode::BAD_REQUEST,
            pages::problem(lang, Text::BadFilter),
        )
            .into_response());
    };
    let store = state.platform.store();
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header = [
        "seq",
        "at",
        "version",
        "request_id",
        "operation",
        "permission",
        "outcome",
        "record_count",
        "record_ids",
        "field_class",
        "hash",
    ];
    writer.write_record(header).map_err(failed)?;
    let mut before = None;
    let mut written = 0u32;
    while written < MAX_CSV_ENTRIES {
        let page = store
            .search_access(&install.district, &install.app, &filter, before, 1_000)
            .await
            .map_err(failed)?;
        before = match (page.entries.last(), page.searched_to) {
            (_, Some(stopped)) => Some(stopped),
            (Some(last), None) => Some(last.seq),
            (None, None) => break,
        };
        for e in &page.entries {
            writer
                .write_record([
                    e.seq.to_string(),
                    crate::cases::format_ms(e.at),
                    e.version.clone(),
                    e.request_id.clone(),
                    e.operation.clone(),
                    e.permission.clone(),
                    e.outcome.clone(),
                    e.record_count.to_string(),
                    e.record_ids.join(" "),
                    e.field_class.clone(),
                    e.hash.clone(),
                ])
                .map_err(failed)?;
            written += 1;
        }
    }
    let body = writer.into_inner().map_err(failed)?;
    tracing::info!(
        account = %session.caller.account_id,
        district = %install.district,
        app = %install.app,
        entries = written,
        "access log exported"
    );
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"access-{}-{}.csv\"",
                    install.district, install.app
                ),
            ),
        ],
        body,
    )
        .into_response())
}

/// What the page shows.
struct AuditView<'a> {
    install: &'a Install,
    report: &'a GrantReport,
    denials: &'a [AccessEntry],
    /// One more than a page when there are older entries.
    entries: &'a [AccessEntry],
    /// Where a search that found less than a page stopped.
    searched_to: Option<i64>,
    filter_ok: bool,
    verified: Option<&'a ChainReport>,
}

fn outcome_text(outcome: &str) -> Text {
    match outcome {
        "denied" => Text::Denied,
        _ => Text::Allowed,
    }
}

fn entries_table(lang: Lang, entries: &[AccessEntry]) -> Markup {
    html! {
        table {
            thead {
                tr {
                    th scope="col" { (lang.t(Text::When)) }
                    th scope="col" { (lang.t(Text::Operation)) }
                    th scope="col" { (lang.t(Text::Permission)) }
                    th scope="col" { (lang.t(Text::Outcome)) }
                    th scope="col" { (lang.t(Text::Records)) }
                    th scope="col" { (lang.t(Text::FieldClass)) }
                }
            }
            tbody {
                @for e in entries {
                    tr id=(format!("entry-{}", e.seq)) {
                        td data-label=(lang.t(Text::When)) { (shown_time(e.at)) }
                        td data-label=(lang.t(Text::Operation)) { code { (e.operation) } }
                        td data-label=(lang.t(Text::Permission)) { code { (e.permission) } }
                        td data-label=(lang.t(Text::Outcome)) {
                            @if e.outcome == "denied" {
                                span.error { (lang.t(Text::Denied)) }
                            } @else {
                                (lang.t(outcome_text(&e.outcome)))
                            }
                        }
                        td data-label=(lang.t(Text::Records)) {
                            (e.record_count)
                            @if !e.record_ids.is_empty() {
                                ": " (e.record_ids.iter().take(5).cloned().collect::<Vec<_>>().join(", "))
                                @if e.record_ids.len() > 5 { " …" }
                            }
                        }
                        td data-label=(lang.t(Text::FieldClass)) {
                            @match e.field_class.as_str() {
                                "personal" => span.error { (lang.t(Text::Personal)) },
                                "masked" => (lang.t(Text::Masked)),
                                other => (other),
                            }
                        }
                    }
                }
            }
        }
    }
}

fn select(
    lang: Lang,
    name: &str,
    label: Text,
    current: &Option<String>,
    options: &[(&str, Text)],
) -> Markup {
    let current = given(current);
    html! {
        div.field {
            label for=(name) { (lang.t(label)) }
            select id=(name) name=(name) {
                option value="" { (lang.t(Text::AnyValue)) }
                @for (value, text) in options {
                    option value=(value) selected[current.as_deref() == Some(*value)] { (lang.t(*text)) }
                }
            }
        }
    }
}

fn render(lang: Lang, session: &Session, q: &AuditQuery, view: &AuditView<'_>) -> Markup {
    let install = view.install;
    let here = format!("/audit/{}", install.app);
    let district_query = format!("district={}", install.district);
    let page_entries = &view.entries[..view.entries.len().min(PAGE_ENTRIES as usize)];
    let older = (view.entries.len() > PAGE_ENTRIES as usize)
        .then(|| page_entries.last().map(|e| e.seq))
        .flatten();
    let filter_query = q.filter_query();
    let unused: Vec<_> = view
        .report
        .permissions
        .iter()
        .filter(|p| p.never_used)
        .collect();
    let unlogged: Vec<_> = view
        .report
        .permissions
        .iter()
        .filter(|p| p.granted && !is_logged(p.permission))
        .collect();
    pages::page(
        lang,
        &here,
        Text::Audit,
        html! {
            h1 { (lang.t(Text::Audit)) " · " (install.app) " · " (install.district) }
            p {
                (lang.t(Text::Version)) " " (install.version) " · "
                @match install.status {
                    InstallStatus::Active => span.ok { (lang.t(Text::Active)) },
                    InstallStatus::Suspended => span.error { (lang.t(Text::Suspended)) },
                }
            }
            p.hint { (lang.t(Text::TimesShown)) }

            section aria-labelledby="may-do" {
                h2 id="may-do" { "1. " (lang.t(Text::MayDo)) }
                p {
                    (lang.t(Text::DataScope)) " "
                    @match &install.scope {
                        Some(communities) => (communities.join(", ")),
                        None => (lang.t(Text::WholeDistrict)),
                    }
                }
                table {
                    thead {
                        tr {
                            th scope="col" { (lang.t(Text::Permission)) }
                            th scope="col" { (lang.t(Text::WhatItAllows)) }
                            th scope="col" { (lang.t(Text::PublisherReason)) }
                            th scope="col" { (lang.t(Text::Status)) }
                            th scope="col" { (lang.t(Text::LastUsed)) }
                        }
                    }
                    tbody {
                        @for p in &view.report.permissions {
                            tr id=(format!("permission-{}", p.permission)) {
                                td data-label=(lang.t(Text::Permission)) { code { (p.permission) } }
                                td data-label=(lang.t(Text::WhatItAllows)) { (permission_sentence(lang, p.permission)) }
                                td data-label=(lang.t(Text::PublisherReason)) { (p.reason) }
                                td.nowrap data-label=(lang.t(Text::Status)) {
                                    @if p.granted { span.ok { (lang.t(Text::Granted)) } }
                                    @else { (lang.t(Text::NotGranted)) }
                                }
                                td data-label=(lang.t(Text::LastUsed)) {
                                    @match p.last_used_at {
                                        Some(at) => (shown_time(at)),
                                        None if p.granted && is_logged(p.permission) => (lang.t(Text::NeverUsed)),
                                        None => "—",
                                    }
                                }
                            }
                        }
                    }
                }
            }

            section aria-labelledby="did-do" {
                h2 id="did-do" { "2. " (lang.t(Text::DidDo)) }
                form.filter method="get" action=(here) {
                    @if session.caller.district.is_none() {
                        input type="hidden" name="district" value=(install.district);
                    }
                    div.field {
                        label for="operation" { (lang.t(Text::Operation)) }
                        input id="operation" name="operation" value=(given(&q.operation).unwrap_or_default()) placeholder="query-residents";
                    }
                    (select(lang, "outcome", Text::Outcome, &q.outcome, &[("allowed", Text::Allowed), ("denied", Text::Denied)]))
                    (select(lang, "field_class", Text::FieldClass, &q.field_class, &[("masked", Text::Masked), ("personal", Text::Personal)]))
                    div.field {
                        label for="record" { (lang.t(Text::Record)) }
                        input id="record" name="record" value=(given(&q.record).unwrap_or_default());
                    }
                    div.field {
                        label for="from" { (lang.t(Text::FromDay)) }
                        input id="from" name="from" type="date" value=(given(&q.from).unwrap_or_default());
                    }
                    div.field {
                        label for="until" { (lang.t(Text::UntilDay)) }
                        input id="until" name="until" type="date" value=(given(&q.until).unwrap_or_default());
                    }
                    button type="submit" { (lang.t(Text::ApplyFilter)) }
                }
                @if !view.filter_ok {
                    p.error role="alert" { (lang.t(Text::BadFilter)) }
                } @else if page_entries.is_empty() {
                    p { (lang.t(Text::NoEntries)) }
                } @else {
                    (entries_table(lang, page_entries))
                }
                @if let Some(stopped) = view.searched_to {
                    p.hint {
                        (lang.t(Text::SearchedTo)) " "
                        a href=(format!("{here}?{filter_query}&before={stopped}")) { (lang.t(Text::SearchOn)) }
                    }
                }
                p {
                    @if let Some(seq) = older {
                        a href=(format!("{here}?{filter_query}&before={seq}")) { (lang.t(Text::Older)) }
                        " · "
                    }
                    a href=(format!("{here}/access.csv?{filter_query}")) download { (lang.t(Text::ExportCsv)) }
                }
            }

            section aria-labelledby="denied" {
                h2 id="denied" { "3. " (lang.t(Text::WasDenied)) }
                @if view.denials.is_empty() {
                    p { (lang.t(Text::NoDenials)) }
                } @else {
                    (entries_table(lang, view.denials))
                }
            }

            section aria-labelledby="unused" {
                h2 id="unused" { "4. " (lang.t(Text::UnusedGrants)) }
                @if unused.is_empty() {
                    p { (lang.t(Text::AllGrantsUsed)) }
                } @else {
                    ul {
                        @for p in &unused {
                            li.unused { code { (p.permission) } " — " (permission_sentence(lang, p.permission)) }
                        }
                    }
                }
                @if !unlogged.is_empty() {
                    p.hint {
                        @for (i, p) in unlogged.iter().enumerate() {
                            @if i > 0 { ", " }
                            code { (p.permission) }
                        }
                        " — " (lang.t(Text::NotLogged))
                    }
                }
            }

            section aria-labelledby="intact" {
                h2 id="intact" { "5. " (lang.t(Text::IsIntact)) }
                p.hint { (lang.t(Text::VerifyAbout)) }
                @match view.verified {
                    Some(report) => {
                        @match &report.broken {
                            None => p.done role="status" id="verified" { (lang.t(Text::LogIntact)) " " (report.entries) },
                            Some(problem) => p.error role="alert" id="verified" { (lang.t(Text::LogBroken)) " " (problem) },
                        }
                    }
                    None => {}
                }
                form method="get" action=(here) {
                    @if session.caller.district.is_none() {
                        input type="hidden" name="district" value=(install.district);
                    }
                    input type="hidden" name="verify" value="1";
                    button type="submit" id="verify" { (lang.t(Text::VerifyNow)) }
                }
            }
            p {
                a href=(format!("/apps?{district_query}")) { (lang.t(Text::Apps)) }
                " · "
                a href="/" { (lang.t(Text::BackHome)) }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_china_standard_time_and_bad_filters_are_refused() {
        // 2026-12-06 00:00 in Beijing is 2026-12-05 16:00 UTC.
        assert_eq!(
            day_start("2026-12-06"),
            Some(1_796_515_200_000 - 8 * 3600 * 1000)
        );
        assert_eq!(shown_time(1_796_515_200_000), "2026-12-06 08:00:00");
        let ok = AuditQuery {
            outcome: Some("denied".into()),
            from: Some("2026-12-01".into()),
            until: Some("2026-12-06".into()),
            record: Some("r_1".into()),
            ..AuditQuery::default()
        };
        let filter = ok.filter().expect("valid");
        assert_eq!(
            filter.until.unwrap() - filter.from.unwrap(),
            6 * 24 * 3600 * 1000
        );
        for bad in [
            AuditQuery {
                outcome: Some("maybe".into()),
                ..AuditQuery::default()
            },
            AuditQuery {
                from: Some("06/12/2026".into()),
                ..AuditQuery::default()
            },
            AuditQuery {
                record: Some("a b".into()),
                ..AuditQuery::default()
            },
            AuditQuery {
                operation: Some("DROP TABLE".into()),
                ..AuditQuery::default()
            },
        ] {
            assert!(bad.filter().is_none(), "{bad:?}");
        }
        assert_eq!(
            AuditQuery::default().filter(),
            Some(AccessFilter::default())
        );
    }
}
