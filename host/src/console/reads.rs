//! "Who read my data" (我的数据被谁查看): every access to a resident's
//! record and their household's, for the resident (`/my-data`) and for
//! the district's administrators and auditors about any resident
//! (`/reads?resident=`).
//!
//! Each line says who read (an app, with the permission it used and the
//! reason its manifest gives; a staff account with its role; the operator
//! on the command line), when, what it did, through which record (theirs,
//! their household's, or an export of the whole district), whether it was
//! allowed, and whether personal fields were shown or masked. Refused
//! attempts that named the resident are listed too. The lines come from
//! the access log ([`crate::community::ops`]), read from an index.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::i18n::{Lang, Text, permission_sentence};
use super::pages;
use super::session::Visitor;
use super::{DistrictPage, Language, PageError, failed, not_found, see_other};
use crate::api::shared::ApiState;
use crate::community::ops::{ReadBy, ResidentRead};
use crate::kernel::store::Page;

#[derive(Deserialize, Default)]
pub(crate) struct ReadsQuery {
    #[serde(default)]
    district: Option<String>,
    #[serde(default)]
    resident: Option<String>,
    #[serde(default)]
    before: Option<i64>,
}

/// `GET /my-data`: a resident's own.
pub(super) async fn my_data(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    Query(q): Query<ReadsQuery>,
) -> Result<Response, PageError> {
    let Some(session) = visitor.session else {
        return Ok(see_other("/sign-in"));
    };
    let caller = &session.caller;
    let (Some(district), Some(resident)) = (&caller.district, &caller.resident_id) else {
        let body = html! {
            h1 { (lang.t(Text::WhoReadMyData)) }
            p { (lang.t(Text::NoResidentRecord)) }
            p { a href="/" { (lang.t(Text::BackHome)) } }
        };
        return Ok(pages::page(lang, "/my-data", Text::WhoReadMyData, body).into_response());
    };
    let page = state
        .platform
        .resident_reads(district, resident, q.before)
        .await
        .map_err(failed)?;
    let body = html! {
        h1 { (lang.t(Text::WhoReadMyData)) }
        p { (lang.t(Text::ReadsHelp)) }
        (reads_table(lang, &page))
        @if let Some(next) = page.next {
            p { a href=(format!("/my-data?before={next}")) { (lang.t(Text::Older)) } }
        }
        p { a href="/" { (lang.t(Text::BackHome)) } }
    };
    Ok(pages::page(lang, "/my-data", Text::WhoReadMyData, body).into_response())
}

/// `GET /reads?resident=`: any resident's, for the district's readers.
pub(super) async fn resident_reads(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    Query(q): Query<ReadsQuery>,
) -> Result<Response, PageError> {
    let DistrictPage { district, .. } = match DistrictPage::read(lang, visitor.session, q.district)
    {
        Ok(page) => page,
        Err(answer) => return Ok(*answer),
    };
    let resident = q
        .resident
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    let page = match resident {
        Some(r) if crate::kernel::ids::record_id_problem("resident id", r).is_none() => {
            match state.platform.resident_reads(&district, r, q.before).await {
                Ok(page) => Some(page),
                Err(crate::error::PlatformError::NotFound(_)) => return Ok(not_found(lang)),
                Err(err) => return Err(failed(err)),
            }
        }
        Some(_) => return Ok(not_found(lang)),
        None => None,
    };
    let body = html! {
        h1 { (lang.t(Text::ReadsOfResident)) " · " (district) }
        p { (lang.t(Text::ReadsHelp)) }
        form.filter method="get" action="/reads" {
            input type="hidden" name="district" value=(district);
            div.field {
                label for="resident" { (lang.t(Text::ResidentId)) }
                input #resident name="resident" type="text" value=(resident.unwrap_or("")) required
                    autocapitalize="none" spellcheck="false";
            }
            button type="submit" { (lang.t(Text::ShowReads)) }
        }
        @if let (Some(page), Some(r)) = (&page, resident) {
            (reads_table(lang, page))
            @if let Some(next) = page.next {
                p { a href=(format!("/reads?district={district}&resident={r}&before={next}")) { (lang.t(Text::Older)) } }
            }
        }
        p { a href="/" { (lang.t(Text::BackHome)) } }
    };
    Ok(pages::page(lang, "/reads", Text::ReadsOfResident, body).into_response())
}

fn reads_table(lang: Lang, page: &Page<ResidentRead>) -> Markup {
    html! {
        @if page.items.is_empty() {
            p { (lang.t(Text::NoReads)) }
        } @else {
            table.reads {
                thead {
                    tr {
                        th scope="col" { (lang.t(Text::When)) }
                        th scope="col" { (lang.t(Text::ReadBy)) }
                        th scope="col" { (lang.t(Text::Operation)) }
                        th scope="col" { (lang.t(Text::Through)) }
                        th scope="col" { (lang.t(Text::Outcome)) }
                        th scope="col" { (lang.t(Text::FieldClass)) }
                    }
                }
                tbody {
                    @for read in &page.items {
                        @let e = &read.entry;
                        tr id=(format!("read-{}", e.seq)) {
                            td data-label=(lang.t(Text::When)) { (pages::when(e.at)) }
                            td data-label=(lang.t(Text::ReadBy)) { (reader(lang, &read.by)) }
                            td data-label=(lang.t(Text::Operation)) {
                                @match operation_text(&e.operation) {
                                    Some(words) => { (lang.t(words)) br; small { code { (e.operation) } } }
                                    None => code { (e.operation) },
                                }
                            }
                            td data-label=(lang.t(Text::Through)) {
                                (lang.t(match read.through {
                                    "household" => Text::ThroughHousehold,
                                    "district" => Text::ThroughDistrict,
                                    _ => Text::ThroughResident,
                                }))
                            }
                            td data-label=(lang.t(Text::Outcome)) {
                                @if e.outcome == "allowed" { (lang.t(Text::Allowed)) }
                                @else { span.error { (lang.t(Text::Denied)) } }
                            }
                            td data-label=(lang.t(Text::FieldClass)) {
                                (lang.t(match e.field_class.as_str() {
                                    "personal" => Text::ShownInFull,
                                    "masked" => Text::Masked,
                                    _ => Text::NoPersonalFields,
                                }))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// What an operation that reads residents did, in words; the others
/// show their name only.
fn operation_text(operation: &str) -> Option<Text> {
    Some(match operation {
        "get-resident" => Text::OpGetResident,
        "query-residents" => Text::OpQueryResidents,
        "list-members" => Text::OpListMembers,
        "get-household" => Text::OpGetHousehold,
        "list-households" => Text::OpListHouseholds,
        crate::kernel::access_log::STAFF_READ_RESIDENTS => Text::OpStaffRead,
        crate::kernel::access_log::STAFF_READ_CASE_CONTACT => Text::OpReadCaseContact,
        crate::kernel::access_log::EXPORT_OPERATION => Text::OpExport,
        "notify.send" => Text::OpNotify,
        _ => return None,
    })
}

fn reader(lang: Lang, by: &ReadBy) -> Markup {
    html! {
        @match by {
            ReadBy::App { app, version, permission, reason } => {
                (lang.t(Text::ActorApp)) " " strong { (app) } " " small { (version) }
                br;
                small {
                    (lang.t(Text::Permission)) " " code { (permission) }
                    @if let Ok(p) = permission.parse() { " — " (permission_sentence(lang, p)) }
                    @if let Some(reason) = reason { br; (lang.t(Text::PublisherReason)) " " q { (reason) } }
                }
            }
            ReadBy::Person { account, role } => {
                (lang.t(Text::ByStaff)) " " strong { (account) } " " small { (role) }
            }
            ReadBy::Operator => { (lang.t(Text::ByOperator)) }
        }
    }
}
