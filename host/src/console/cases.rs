//! Cases in the console, for the people who report and handle them.
//!
//! One list (`/cases`) and one case page (`/cases/{id}`) serve everyone;
//! what they show is what the case rules let the person see and do
//! ([`Cases`] decides, never this page):
//!
//! - a **grid worker** gets their queue: the open cases of their grids and
//!   departments and those assigned to them, overdue first, filtered by
//!   state, category and grid; on a case, the actions its state allows them,
//!   each with the input it needs;
//! - a **resident** gets their own cases: the ones they reported and the
//!   ones an app opened on their behalf, with the history as a resident
//!   sees it (staff are "staff", not named), and once a case is closed
//!   the evaluation and, within the district's window, reopening;
//! - **administrators and auditors** get every case of the district.
//!
//! `/report` is the form a resident (or a worker in the street) reports a
//! problem with: category, building (the resident's own by default),
//! description and up to three photos, which the host checks and strips
//! of their metadata ([`crate::cases::photos`]) and serves only to those
//! who may see the case.
//!
//! Showing a case names the resident it concerns: to those who may see
//! the resident in full (administrators, the workers of the resident's
//! grid) by name and phone, logged as a staff read like any API read; to
//! everyone else masked.

use axum::extract::{Multipart, Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, extract::rejection::FormRejection};
use maud::{Markup, html};
use serde::Deserialize;

use super::i18n::{Lang, Text};
use super::pages::{self, Notice};
use super::session::{Visitor, same_origin, same_token};
use super::{
    Language, PageError, SessionForm, district_of, failed, not_found, refusal, refused_form,
    see_other, signed_form,
};
use crate::accounts::Role;
use crate::accounts::sign_in::Session;
use crate::api::shared::ApiState;
use crate::cases::ops::{CaseActor, CaseCommand, CaseReport, CaseView};
use crate::cases::photos::{self, MAX_PHOTOS};
use crate::cases::store::{CaseFilter, CaseRow, HistoryEntry};
use crate::cases::{Action, Assignee, CaseState, Reporter};
use crate::error::PlatformError;
use crate::kernel::access_log::{Reader, STAFF_READ_RESIDENTS, StaffRead};

/// Cases on one page of the list.
pub const CASES_PER_PAGE: u32 = 50;

/// Most overdue cases shown above the rest.
pub const OVERDUE_SHOWN: u32 = 100;

/// Largest report form the host reads: three photos at their limit, and
/// the text fields.
pub const MAX_REPORT_BODY: usize = MAX_PHOTOS * photos::MAX_PHOTO_BYTES + (256 << 10);

pub(crate) fn state_text(state: CaseState) -> Text {
    match state {
        CaseState::Reported => Text::StateReported,
        CaseState::Rejected => Text::StateRejected,
        CaseState::Accepted => Text::StateAccepted,
        CaseState::Dispatched => Text::StateDispatched,
        CaseState::InProgress => Text::StateInProgress,
        CaseState::Handled => Text::StateHandled,
        CaseState::Verified => Text::StateVerified,
        CaseState::Closed => Text::StateClosed,
    }
}

pub(crate) fn action_text(action: Action) -> Text {
    match action {
        Action::Accept => Text::ActAccept,
        Action::Reject => Text::ActReject,
        Action::Dispatch => Text::ActDispatch,
        Action::Reassign => Text::ActReassign,
        Action::Start => Text::ActStart,
        Action::Handle => Text::ActHandle,
        Action::Verify => Text::ActVerify,
        Action::FailVerification => Text::ActFailVerification,
        Action::Close => Text::ActClose,
        Action::Reopen => Text::ActReopen,
        Action::Escalate => Text::ActEscalate,
        Action::Comment => Text::ActComment,
        Action::Evaluate => Text::ActEvaluate,
    }
}

pub(crate) fn priority_text(priority: crate::cases::Priority) -> Text {
    use crate::cases::Priority;
    match priority {
        Priority::Low => Text::PriorityLow,
        Priority::Normal => Text::PriorityNormal,
        Priority::High => Text::PriorityHigh,
        Priority::Urgent => Text::PriorityUrgent,
    }
}

pub(crate) fn tier_text(tier: crate::cases::Tier) -> Text {
    use crate::cases::Tier;
    match tier {
        Tier::Grid => Text::TierGrid,
        Tier::Community => Text::TierCommunity,
        Tier::Street => Text::TierStreet,
        Tier::District => Text::TierDistrict,
        Tier::City => Text::TierCity,
    }
}

/// A history entry's action in words (`report`, `overdue` and the
/// lifecycle's actions); anything else as stored.
fn history_action(lang: Lang, action: &str) -> String {
    match action {
        "report" => lang.t(Text::ActReport).to_owned(),
        "overdue" => lang.t(Text::ActOverdue).to_owned(),
        other => match other.parse::<Action>() {
            Ok(a) => lang.t(action_text(a)).to_owned(),
            Err(_) => other.to_owned(),
        },
    }
}

/// Who did something, as the viewer may see it: staff see account ids; a
/// resident sees "you", "staff", "system" or the app's name.
fn actor_label(lang: Lang, session: &Session, actor: &str) -> String {
    let me = format!("account:{}", session.caller.account_id);
    if actor == me {
        return lang.t(Text::ActorYou).to_owned();
    }
    if actor == "system" {
        return lang.t(Text::ActorSystem).to_owned();
    }
    if let Some(app) = actor.strip_prefix("app:") {
        return format!("{} {app}", lang.t(Text::ActorApp));
    }
    if session.caller.role == Role::Resident {
        lang.t(Text::ActorStaff).to_owned()
    } else {
        actor.strip_prefix("account:").unwrap_or(actor).to_owned()
    }
}

/// What `/cases` is called for someone of `role`.
fn list_title(role: Role) -> Text {
    match role {
        Role::Resident => Text::CasesMine,
        Role::Worker => Text::CasesForWorker,
        Role::PlatformAdmin | Role::DistrictAdmin | Role::Auditor => Text::CasesAll,
    }
}

#[derive(Deserialize, Default)]
pub(crate) struct ListQuery {
    #[serde(default)]
    district: Option<String>,
    /// `open`, `all` or a state's name; empty for the person's default.
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    grid: Option<String>,
    #[serde(default)]
    before: Option<i64>,
}

/// Which cases the state filter asks for.
enum StateFilter {
    Open,
    All,
    One(CaseState),
}

/// `GET /cases`: the person's cases.
pub(super) async fn cases_page(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let Some(session) = visitor.session else {
        return Ok(see_other("/sign-in"));
    };
    let Some(district) = district_of(&session, q.district.clone()) else {
        return Ok(not_found(lang));
    };
    let resident = session.caller.role == Role::Resident;
    let wanted = match q.state.as_deref().unwrap_or("") {
        "" if resident => StateFilter::All,
        "" | "open" => StateFilter::Open,
        "all" => StateFilter::All,
        name => match name.parse::<CaseState>() {
            Ok(s) => StateFilter::One(s),
            Err(_) => {
                return Ok((
                    StatusCode::BAD_REQUEST,
                    pages::problem(lang, Text::BadFilter),
                )
                    .into_response());
            }
        },
    };
    let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
    let mut filter = CaseFilter {
        category: nonempty(&q.category),
        grid_id: nonempty(&q.grid),
        limit: CASES_PER_PAGE,
        ..CaseFilter::default()
    };
    match wanted {
        StateFilter::Open => filter.finished = Some(false),
        StateFilter::All => {}
        StateFilter::One(s) => filter.state = Some(s),
    }
    let cases = state.platform.cases();
    let actor = CaseActor::Person(session.caller.clone());
    // Overdue first, for those who handle cases: on the first page, the
    // overdue cases above the rest.
    let open_shown = !resident && !matches!(wanted, StateFilter::One(s) if s.is_final());
    let overdue = if q.before.is_none() && open_shown {
        let overdue_filter = CaseFilter {
            overdue: Some(true),
            finished: Some(false),
            limit: OVERDUE_SHOWN,
            ..filter.clone()
        };
        match cases.list_cases(&district, &actor, overdue_filter).await {
            Ok(page) => page.items,
            Err(err) => return refused_page(lang, err),
        }
    } else {
        Vec::new()
    };
    let rest_filter = CaseFilter {
        overdue: open_shown.then_some(false),
        before: q.before,
        ..filter
    };
    let rest = match cases.list_cases(&district, &actor, rest_filter).await {
        Ok(page) => page,
        Err(err) => return refused_page(lang, err),
    };
    let categories = cases.categories(&district).await.map_err(failed)?;
    let heading = list_title(session.caller.role);
    let state_value = q.state.clone().unwrap_or_default();
    let suffix = match &q.district {
        Some(d) if session.caller.role == Role::PlatformAdmin => format!("?district={d}"),
        _ => String::new(),
    };
    let query_rest = |before: i64| {
        let mut url = reqwest::Url::parse("http://console.invalid/cases").expect("a fixed URL");
        {
            let mut pairs = url.query_pairs_mut();
            if let Some(d) = &q.district {
                pairs.append_pair("district", d);
            }
            pairs.append_pair("state", &state_value);
            pairs.append_pair("category", q.category.as_deref().unwrap_or(""));
            pairs.append_pair("grid", q.grid.as_deref().unwrap_or(""));
            pairs.append_pair("before", &before.to_string());
        }
        format!("/cases?{}", url.query().unwrap_or_default())
    };
    let body = html! {
        h1 { (lang.t(heading)) }
        nav {
            @if session.caller.role != Role::Auditor {
                a href="/report" { (lang.t(Text::ReportProblem)) }
            }
            a href="/" { (lang.t(Text::BackHome)) }
        }
        form.filter method="get" action="/cases" {
            @if let Some(d) = &q.district { input type="hidden" name="district" value=(d); }
            div.field {
                label for="state" { (lang.t(Text::CaseState)) }
                select #state name="state" {
                    option value="open" selected[matches!(wanted, StateFilter::Open)] { (lang.t(Text::OpenOnly)) }
                    option value="all" selected[matches!(wanted, StateFilter::All)] { (lang.t(Text::AnyState)) }
                    @for s in CaseState::ALL {
                        option value=(s.as_str()) selected[matches!(wanted, StateFilter::One(w) if w == *s)] { (lang.t(state_text(*s))) }
                    }
                }
            }
            div.field {
                label for="category" { (lang.t(Text::Category)) }
                select #category name="category" {
                    option value="" { (lang.t(Text::AnyValue)) }
                    @for c in &categories {
                        option value=(c.code) selected[q.category.as_deref() == Some(c.code.as_str())] { (c.name) " (" (c.code) ")" }
                    }
                }
            }
            @if !resident {
                div.field {
                    label for="grid" { (lang.t(Text::Grid)) }
                    input #grid name="grid" type="text" value=(q.grid.as_deref().unwrap_or("")) autocapitalize="none" spellcheck="false";
                }
            }
            button type="submit" { (lang.t(Text::ApplyFilter)) }
        }
        @if !overdue.is_empty() {
            h2.error { (lang.t(Text::OverdueCases)) " (" (overdue.len()) ")" }
            (case_table(lang, &overdue, &categories, &suffix))
            h2 { (lang.t(Text::OtherCases)) }
        }
        @if rest.items.is_empty() && overdue.is_empty() {
            p { (lang.t(Text::NoCases)) }
        } @else {
            (case_table(lang, &rest.items, &categories, &suffix))
        }
        @if let Some(next) = rest.next {
            p { a href=(query_rest(next)) { (lang.t(Text::NextPage)) } }
        }
    };
    Ok(pages::page(lang, "/cases", heading, body).into_response())
}

/// The cases as a table; `suffix` goes after each case's link (the
/// district, for the platform administrator).
fn case_table(
    lang: Lang,
    cases: &[CaseRow],
    categories: &[crate::cases::store::Category],
    suffix: &str,
) -> Markup {
    let category_name = |code: &str| {
        categories
            .iter()
            .find(|c| c.code == code)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| code.to_owned())
    };
    html! {
        table.cases {
            thead {
                tr {
                    th scope="col" { (lang.t(Text::CaseNumber)) }
                    th scope="col" { (lang.t(Text::Category)) }
                    th scope="col" { (lang.t(Text::CaseState)) }
                    th scope="col" { (lang.t(Text::Location)) }
                    th scope="col" { (lang.t(Text::ReportedAt)) }
                    th scope="col" { (lang.t(Text::DueBy)) }
                }
            }
            tbody {
                @for case in cases {
                    tr id=(format!("case-{}", case.id)) {
                        td data-label=(lang.t(Text::CaseNumber)) { a href=(format!("/cases/{}{suffix}", case.id)) { "#" (case.id) } }
                        td data-label=(lang.t(Text::Category)) { (category_name(&case.category)) }
                        td data-label=(lang.t(Text::CaseState)) { (lang.t(state_text(case.state))) }
                        td data-label=(lang.t(Text::Location)) {
                            (case.grid_id.as_deref().unwrap_or("—"))
                            @if let Some(b) = &case.building_id { " · " (b) }
                        }
                        td data-label=(lang.t(Text::ReportedAt)) { (pages::when(case.created_at)) }
                        td data-label=(lang.t(Text::DueBy)) {
                            @if case.overdue { span.error { (lang.t(Text::OverdueCases)) } " " }
                            @if let Some(at) = case.deadline_at { (pages::when(at)) } @else { "—" }
                        }
                    }
                }
            }
        }
    }
}

/// The status of a page that shows the case rules' refusal.
fn refusal_status(err: &PlatformError) -> StatusCode {
    match err {
        PlatformError::Forbidden(_) => StatusCode::FORBIDDEN,
        PlatformError::NotFound(_) => StatusCode::NOT_FOUND,
        PlatformError::Conflict(_) => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// A refusal of the case rules as a page (a district the person does not
/// act in, a bad filter value).
fn refused_page(lang: Lang, err: PlatformError) -> Result<Response, PageError> {
    Ok((
        refusal_status(&err),
        pages::problem_with(lang, Text::CaseRefused, &refusal(err)?),
    )
        .into_response())
}

#[derive(Deserialize, Default)]
pub(crate) struct CaseQuery {
    #[serde(default)]
    district: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

/// `GET /cases/{id}`.
pub(super) async fn case_page(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    Path(id): Path<String>,
    Query(q): Query<CaseQuery>,
) -> Result<Response, PageError> {
    let Some(session) = visitor.session else {
        return Ok(see_other("/sign-in"));
    };
    let shown = match q.done.as_deref() {
        Some("reported") => Some(Notice::Done(Text::CaseReported)),
        Some(_) => Some(Notice::Done(Text::CaseChanged)),
        None => None,
    };
    show_case(&state, lang, &session, &id, q.district, shown, None).await
}

/// The case page, with a notice, or a refusal's words under an error.
async fn show_case(
    state: &ApiState,
    lang: Lang,
    session: &Session,
    id: &str,
    asked: Option<String>,
    shown: Option<Notice>,
    refused: Option<(StatusCode, String)>,
) -> Result<Response, PageError> {
    let Some(district) = district_of(session, asked) else {
        return Ok(not_found(lang));
    };
    let Ok(id) = id.parse::<i64>() else {
        return Ok(not_found(lang));
    };
    let actor = CaseActor::Person(session.caller.clone());
    let view = match state
        .platform
        .cases()
        .view_case(&district, id, &actor)
        .await
    {
        Ok(view) => view,
        Err(PlatformError::NotFound(_)) => return Ok(not_found(lang)),
        Err(err) => return refused_page(lang, err),
    };
    let store = state.platform.store();
    let photos = store.case_photo_ids(view.case.id).await.map_err(failed)?;
    let resident = resident_shown(state, session, &district, &view.case).await?;
    // What an Open311 intake left with the case, masked and logged as the
    // viewer's role says.
    let mut view = view;
    view.intake = state
        .platform
        .cases()
        .case_intake(&district, id, &actor, "console")
        .await
        .map_err(failed)?;
    let contact = view
        .intake
        .as_ref()
        .map(|i| &i.contact)
        .filter(|c| !c.is_empty())
        .map(|c| (c.line(), session.caller.role == Role::Auditor));
    let categories = state
        .platform
        .cases()
        .categories(&district)
        .await
        .map_err(failed)?;
    let assignees = if view.my_actions.iter().any(|a| a.needs_assignee()) {
        assignee_choices(state, &district).await?
    } else {
        Vec::new()
    };
    let (status, notice, extra) = match refused {
        Some((status, words)) => (status, Some(Notice::Error(Text::CaseRefused)), Some(words)),
        None => (StatusCode::OK, shown, None),
    };
    let body = case_body(
        lang,
        session,
        &district,
        &view,
        &photos,
        resident,
        contact,
        &categories,
        &assignees,
        notice,
        extra,
    );
    let here = format!("/cases/{}", view.case.id);
    Ok((status, pages::page(lang, &here, Text::CaseNumber, body)).into_response())
}

/// The resident a case concerns, as the viewer may see them.
enum ResidentShown {
    /// None is named, or the viewer is that resident.
    Nobody,
    /// Masked: the id and a masked name.
    Masked { id: String, name: String },
    /// In full, for staff who may see the resident (the read is logged).
    Full {
        id: String,
        name: String,
        phone: Option<String>,
        address: Option<String>,
    },
}

async fn resident_shown(
    state: &ApiState,
    session: &Session,
    district: &str,
    case: &CaseRow,
) -> Result<ResidentShown, PageError> {
    let Some(rid) = &case.resident_id else {
        return Ok(ResidentShown::Nobody);
    };
    let caller = &session.caller;
    if caller.role == Role::Resident {
        return Ok(ResidentShown::Nobody);
    }
    let store = state.platform.store();
    let Some(row) = store.get_resident(district, rid).await.map_err(failed)? else {
        return Ok(ResidentShown::Nobody);
    };
    let in_full = match caller.role {
        Role::PlatformAdmin | Role::DistrictAdmin => true,
        Role::Worker => caller.grids.contains(&row.resident.grid_id),
        Role::Auditor | Role::Resident => false,
    };
    if !in_full {
        return Ok(ResidentShown::Masked {
            id: row.resident.id.clone(),
            name: crate::community::mask::name(&row.resident.name),
        });
    }
    store
        .log_staff_read(StaffRead {
            district,
            reader: Reader::Account {
                id: &caller.account_id,
                role: caller.role.as_str(),
            },
            request_id: "console",
            operation: STAFF_READ_RESIDENTS,
            record_ids: std::slice::from_ref(&row.resident.id),
            field_class: "personal",
        })
        .await
        .map_err(failed)?;
    Ok(ResidentShown::Full {
        id: row.resident.id,
        name: row.resident.name,
        phone: row.resident.phone,
        address: row.resident.address,
    })
}

/// Whom a case may be dispatched to: the district's departments and
/// active workers (the case rules check the tier on dispatch).
async fn assignee_choices(
    state: &ApiState,
    district: &str,
) -> Result<Vec<(String, String)>, PageError> {
    let store = state.platform.store();
    let mut choices: Vec<(String, String)> = store
        .departments(district)
        .await
        .map_err(failed)?
        .into_iter()
        .map(|d| (Assignee::Department(d.id.clone()).label(), d.name))
        .collect();
    choices.extend(
        store
            .list_accounts(Some(district))
            .await
            .map_err(failed)?
            .into_iter()
            .filter(|a| a.role == Role::Worker && a.disabled_at.is_none())
            .map(|a| (Assignee::Worker(a.id.clone()).label(), a.display_name)),
    );
    Ok(choices)
}

#[expect(
    clippy::too_many_arguments,
    reason = "one page's parts, each shown in its own section"
)]
fn case_body(
    lang: Lang,
    session: &Session,
    district: &str,
    view: &CaseView,
    photo_ids: &[i64],
    resident: ResidentShown,
    contact: Option<(String, bool)>,
    categories: &[crate::cases::store::Category],
    assignees: &[(String, String)],
    notice: Option<Notice>,
    extra: Option<String>,
) -> Markup {
    let case = &view.case;
    let category = categories
        .iter()
        .find(|c| c.code == case.category)
        .map(|c| format!("{} ({})", c.name, c.code))
        .unwrap_or_else(|| case.category.clone());
    // The platform administrator names the district on every link.
    let suffix = if session.caller.role == Role::PlatformAdmin {
        format!("?district={district}")
    } else {
        String::new()
    };
    let action_url = format!("/cases/{}/act{suffix}", case.id);
    let staff = session.caller.role != Role::Resident;
    let for_me = matches!(case.reporter, Reporter::App(_)) && case.for_resident && !staff;
    html! {
        h1 { (lang.t(Text::CaseNumber)) " #" (case.id) " · " (lang.t(state_text(case.state))) }
        (pages::notice(lang, notice, extra))
        dl.case {
            dt { (lang.t(Text::Category)) } dd { (category) }
            dt { (lang.t(Text::Priority)) } dd { (lang.t(priority_text(case.priority))) }
            dt { (lang.t(Text::ReportedAt)) } dd { (pages::when(case.created_at)) }
            @if for_me { dt { (lang.t(Text::ActorApp)) } dd { (lang.t(Text::OpenedForYou)) } }
            dt { (lang.t(Text::Location)) }
            dd {
                @if let Some(g) = &case.grid_id { (lang.t(Text::Grid)) " " (g) }
                @if let Some(b) = &case.building_id { " · " (lang.t(Text::Building)) " " (b) }
                @if let Some(a) = &case.address { " · " (a) }
                @if case.grid_id.is_none() && case.building_id.is_none() && case.address.is_none() { "—" }
            }
            @match &resident {
                ResidentShown::Nobody => {}
                ResidentShown::Masked { id, name } => {
                    dt { (lang.t(Text::ResidentConcerned)) }
                    dd { (name) " (" (id) ") " small { (lang.t(Text::Masked)) } }
                }
                ResidentShown::Full { id, name, phone, address } => {
                    dt { (lang.t(Text::ResidentConcerned)) }
                    dd {
                        (name) " (" (id) ")"
                        @if let Some(p) = phone { " · " a href=(format!("tel:{p}")) { (p) } }
                        @if let Some(a) = address { br; (a) }
                    }
                }
            }
            @if let Some((line, masked)) = &contact {
                dt { (lang.t(Text::CallerContact)) }
                dd { (line) @if *masked { " " small { (lang.t(Text::Masked)) } } }
            }
            @if let Some(intake) = &view.intake {
                @for answer in &intake.attributes {
                    dt { (answer.code) } dd { (answer.values.join(", ")) }
                }
            }
            @if staff {
                dt { (lang.t(Text::Tier)) } dd { (lang.t(tier_text(case.tier))) }
                dt { (lang.t(Text::AssignedTo)) }
                dd { @match &case.assignee { Some(a) => (a.label()), None => (lang.t(Text::NotYetAssigned)) } }
            }
            dt { (lang.t(Text::DueBy)) }
            dd {
                @if case.overdue { span.error { (lang.t(Text::OverdueCases)) } " " }
                @if let Some(at) = case.deadline_at { (pages::when(at)) } @else { "—" }
            }
            @if let Some(s) = case.satisfaction {
                dt { (lang.t(Text::Satisfaction)) }
                dd { (s) " / 5" @if let Some(e) = &case.evaluation { " · " (e) } }
            }
        }
        p.description { (case.description) }
        @if !photo_ids.is_empty() {
            h2 { (lang.t(Text::Photos)) }
            div.photos {
                @for (n, pid) in photo_ids.iter().enumerate() {
                    a href=(format!("/cases/{}/photos/{pid}{suffix}", case.id)) {
                        img src=(format!("/cases/{}/photos/{pid}{suffix}", case.id))
                            alt=(format!("{} {}", lang.t(Text::Photos), n + 1)) loading="lazy";
                    }
                }
            }
        }
        h2 { (lang.t(Text::WhatNext)) }
        @let actions: Vec<Action> = view.my_actions.iter().copied().filter(|a| *a != Action::Comment).collect();
        @if actions.is_empty() {
            p { (lang.t(Text::NothingToDo)) }
        }
        @for action in actions {
            form.action method="post" action=(action_url) id=(format!("act-{}", action.as_str())) {
                input type="hidden" name="csrf" value=(session.csrf);
                input type="hidden" name="action" value=(action.as_str());
                @if action.needs_assignee() {
                    label for=(format!("assignee-{}", action.as_str())) { (lang.t(Text::AssigneeLabel)) }
                    select id=(format!("assignee-{}", action.as_str())) name="assignee" required {
                        @for (value, name) in assignees {
                            option value=(value) { (name) " (" (value) ")" }
                        }
                    }
                }
                @if action == Action::Evaluate {
                    label for="satisfaction" { (lang.t(Text::SatisfactionLabel)) }
                    select #satisfaction name="satisfaction" required {
                        @for n in (1..=5).rev() { option value=(n) { (n) } }
                    }
                }
                @if action.needs_note() || action == Action::Evaluate {
                    label for=(format!("note-{}", action.as_str())) { (lang.t(Text::NoteLabel)) }
                    textarea id=(format!("note-{}", action.as_str())) name="note" rows="2" maxlength="4000" required[action.needs_note()] {}
                }
                button type="submit" { (lang.t(action_text(action))) }
            }
        }
        h2 { (lang.t(Text::History)) }
        ol.history {
            @for entry in &view.history {
                (history_item(lang, session, entry))
            }
        }
        @if view.my_actions.contains(&Action::Comment) {
            form.action method="post" action=(action_url) id="act-comment" {
                input type="hidden" name="csrf" value=(session.csrf);
                input type="hidden" name="action" value="comment";
                label for="note-comment" { (lang.t(Text::ActComment)) }
                textarea #note-comment name="note" rows="2" maxlength="4000" required {}
                button type="submit" { (lang.t(Text::ActComment)) }
            }
        }
        p { a href="/cases" { (lang.t(list_title(session.caller.role))) } " · " a href="/" { (lang.t(Text::BackHome)) } }
    }
}

fn history_item(lang: Lang, session: &Session, entry: &HistoryEntry) -> Markup {
    html! {
        li {
            (pages::when(entry.at)) " · "
            strong { (history_action(lang, &entry.action)) } " · "
            (actor_label(lang, session, &entry.actor))
            @if entry.from_state != entry.to_state {
                " · " (lang.t(state_text(entry.from_state))) " → " (lang.t(state_text(entry.to_state)))
            }
            @if let Some(note) = &entry.note { br; span.note { (note) } }
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct ActForm {
    csrf: String,
    action: String,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    assignee: Option<String>,
    #[serde(default)]
    satisfaction: Option<String>,
}

impl SessionForm for ActForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /cases/{id}/act`: one action on a case, as its form says.
pub(super) async fn act(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<CaseQuery>,
    form: Result<Form<ActForm>, FormRejection>,
) -> Result<Response, PageError> {
    let (session, form) = match signed_form(lang, visitor.session, &headers, form) {
        Ok(checked) => checked,
        Err(answer) => return Ok(*answer),
    };
    let Some(district) = district_of(&session, q.district.clone()) else {
        return Ok(not_found(lang));
    };
    let Ok(case_id) = id.parse::<i64>() else {
        return Ok(not_found(lang));
    };
    let refuse = |status: StatusCode, words: String| {
        let state = state.clone();
        let session = session.clone();
        let id = id.clone();
        let asked = q.district.clone();
        async move {
            show_case(
                &state,
                lang,
                &session,
                &id,
                asked,
                None,
                Some((status, words)),
            )
            .await
        }
    };
    let action = match form.action.parse::<Action>() {
        Ok(a) => a,
        Err(words) => return refuse(StatusCode::BAD_REQUEST, words).await,
    };
    let assignee = match form.assignee.as_deref().filter(|a| !a.is_empty()) {
        Some(a) => match a.parse::<Assignee>() {
            Ok(a) => Some(a),
            Err(words) => return refuse(StatusCode::BAD_REQUEST, words).await,
        },
        None => None,
    };
    let satisfaction = match form.satisfaction.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => match s.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    format!("satisfaction `{s}` is not a number from 1 to 5"),
                )
                .await;
            }
        },
        None => None,
    };
    let command = CaseCommand {
        action,
        note: form.note,
        assignee,
        satisfaction,
    };
    let actor = CaseActor::Person(session.caller.clone());
    match state
        .platform
        .cases()
        .act_on_case(&district, case_id, &actor, command)
        .await
    {
        Ok(_) => {
            let back = match &q.district {
                Some(d) if session.caller.role == Role::PlatformAdmin => {
                    format!("/cases/{case_id}?district={d}&done={}", action.as_str())
                }
                _ => format!("/cases/{case_id}?done={}", action.as_str()),
            };
            Ok(see_other(&back))
        }
        Err(PlatformError::NotFound(_)) => Ok(not_found(lang)),
        Err(err) => {
            let status = refusal_status(&err);
            let words = refusal(err)?;
            refuse(status, words).await
        }
    }
}

/// `GET /cases/{id}/photos/{photo}`: a photo, to those who may see the
/// case; any other gets not-found, as for a case that does not exist.
pub(super) async fn photo(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    Path((id, photo)): Path<(String, String)>,
    Query(q): Query<CaseQuery>,
) -> Result<Response, PageError> {
    let Some(session) = visitor.session else {
        return Ok(see_other("/sign-in"));
    };
    let Some(district) = district_of(&session, q.district) else {
        return Ok(not_found(lang));
    };
    let (Ok(id), Ok(photo)) = (id.parse::<i64>(), photo.parse::<i64>()) else {
        return Ok(not_found(lang));
    };
    let actor = CaseActor::Person(session.caller.clone());
    match state.platform.cases().case_for(&district, id, &actor).await {
        Ok(_) => {}
        Err(PlatformError::NotFound(_) | PlatformError::Forbidden(_)) => {
            return Ok(not_found(lang));
        }
        Err(err) => return Err(failed(err)),
    }
    let Some((content_type, bytes)) = state
        .platform
        .store()
        .case_photo(id, photo)
        .await
        .map_err(failed)?
    else {
        return Ok(not_found(lang));
    };
    // Only the two types the host stored; anything else is not served.
    let kind = match content_type.as_str() {
        "image/jpeg" => "image/jpeg",
        "image/png" => "image/png",
        _ => return Ok(not_found(lang)),
    };
    Ok((
        [
            (CONTENT_TYPE, kind.to_owned()),
            (CONTENT_DISPOSITION, "inline".to_owned()),
        ],
        bytes,
    )
        .into_response())
}

/// What the report form sent.
#[derive(Default)]
struct ReportUpload {
    csrf: String,
    category: String,
    building: String,
    description: String,
    photos: Vec<Vec<u8>>,
}

async fn read_report(mut multipart: Multipart) -> Result<ReportUpload, String> {
    let mut upload = ReportUpload::default();
    let too_big = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            format!(
                "the report is larger than {} MiB; send at most {MAX_PHOTOS} photos of at most {} MiB each",
                MAX_REPORT_BODY >> 20,
                photos::MAX_PHOTO_BYTES >> 20
            )
        } else {
            e.body_text()
        }
    };
    while let Some(field) = multipart.next_field().await.map_err(too_big)? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "csrf" => upload.csrf = field.text().await.map_err(too_big)?,
            "category" => upload.category = field.text().await.map_err(too_big)?,
            "building" => upload.building = field.text().await.map_err(too_big)?,
            "description" => upload.description = field.text().await.map_err(too_big)?,
            "photo" => {
                let bytes = field.bytes().await.map_err(too_big)?;
                // A file input left empty still sends an empty part.
                if !bytes.is_empty() {
                    upload.photos.push(bytes.to_vec());
                }
            }
            _ => {}
        }
    }
    Ok(upload)
}

#[derive(Deserialize, Default)]
pub(crate) struct ReportQuery {
    #[serde(default)]
    district: Option<String>,
}

/// `GET /report`.
pub(super) async fn report_page(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    Query(q): Query<ReportQuery>,
) -> Result<Response, PageError> {
    let Some(session) = visitor.session else {
        return Ok(see_other("/sign-in"));
    };
    let Some(district) = district_of(&session, q.district) else {
        return Ok(not_found(lang));
    };
    report_form(
        &state,
        lang,
        &session,
        &district,
        &ReportUpload::default(),
        None,
    )
    .await
}

/// The building of a resident's household, their default on the form.
async fn own_building(
    state: &ApiState,
    session: &Session,
    district: &str,
) -> Result<Option<String>, PageError> {
    let Some(rid) = &session.caller.resident_id else {
        return Ok(None);
    };
    let store = state.platform.store();
    let row = store.get_resident(district, rid).await.map_err(failed)?;
    Ok(row.and_then(|r| r.building_id))
}

async fn report_form(
    state: &ApiState,
    lang: Lang,
    session: &Session,
    district: &str,
    sent: &ReportUpload,
    refused: Option<String>,
) -> Result<Response, PageError> {
    if session.caller.role == Role::Auditor {
        return Ok(super::not_allowed(lang));
    }
    let categories = match state.platform.cases().categories(district).await {
        Ok(c) => c,
        Err(PlatformError::NotFound(_)) => return Ok(not_found(lang)),
        Err(err) => return Err(failed(err)),
    };
    let own = own_building(state, session, district).await?;
    let chosen = if sent.building.is_empty() && sent.category.is_empty() {
        own.clone().unwrap_or_default()
    } else {
        sent.building.clone()
    };
    let status = if refused.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let notice = refused.as_ref().map(|_| Notice::Error(Text::ReportRefused));
    let body = html! {
        h1 { (lang.t(Text::ReportProblem)) }
        p { (lang.t(Text::ReportHelp)) }
        (pages::notice(lang, notice, refused))
        form method="post" action="/report" enctype="multipart/form-data" {
            input type="hidden" name="csrf" value=(session.csrf);
            label for="category" { (lang.t(Text::Category)) }
            select #category name="category" required {
                @for c in &categories {
                    option value=(c.code) selected[sent.category == c.code] { (c.name) }
                }
            }
            label for="building" { (lang.t(Text::Building)) }
            select #building name="building" {
                @if let Some(b) = &own {
                    option value=(b) selected[chosen == *b] { (b) }
                }
                option value="" selected[chosen.is_empty()] { (lang.t(Text::NoBuilding)) }
            }
            label for="description" { (lang.t(Text::Description)) }
            textarea #description name="description" rows="4" maxlength="4000" required { (sent.description) }
            label for="photo" { (lang.t(Text::Photos)) }
            input #photo name="photo" type="file" accept="image/jpeg,image/png" multiple;
            small { (lang.t(Text::PhotosHint)) }
            button type="submit" { (lang.t(Text::Submit)) }
        }
        p { a href="/cases" { (lang.t(list_title(session.caller.role))) } " · " a href="/" { (lang.t(Text::BackHome)) } }
    };
    Ok((
        status,
        pages::page(lang, "/report", Text::ReportProblem, body),
    )
        .into_response())
}

/// `POST /report`: report a problem with its photos.
pub(super) async fn report(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    headers: HeaderMap,
    Query(q): Query<ReportQuery>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, PageError> {
    let Some(session) = visitor.session else {
        return Ok(see_other("/sign-in"));
    };
    let Some(district) = district_of(&session, q.district) else {
        return Ok(not_found(lang));
    };
    let Ok(multipart) = multipart else {
        return Ok(refused_form(lang));
    };
    let upload = match read_report(multipart).await {
        Ok(upload) => upload,
        Err(words) => {
            if !same_origin(&headers) {
                return Ok(refused_form(lang));
            }
            return report_form(
                &state,
                lang,
                &session,
                &district,
                &ReportUpload::default(),
                Some(words),
            )
            .await;
        }
    };
    if !same_origin(&headers) || !same_token(&session.csrf, &upload.csrf) {
        return Ok(refused_form(lang));
    }
    if upload.photos.len() > MAX_PHOTOS {
        let words = format!(
            "{} photos were sent; at most {MAX_PHOTOS} are allowed",
            upload.photos.len()
        );
        return report_form(&state, lang, &session, &district, &upload, Some(words)).await;
    }
    let mut cleaned = Vec::with_capacity(upload.photos.len());
    for (n, bytes) in upload.photos.iter().enumerate() {
        match photos::clean(bytes) {
            Ok(photo) => cleaned.push(photo),
            Err(why) => {
                let words = format!("photo {}: {why}", n + 1);
                return report_form(&state, lang, &session, &district, &upload, Some(words)).await;
            }
        }
    }
    let building = Some(upload.building.trim().to_owned()).filter(|b| !b.is_empty());
    let report = CaseReport {
        category: upload.category.clone(),
        building_id: building,
        description: upload.description.clone(),
        resident_id: session.caller.resident_id.clone(),
        photos: cleaned,
        ..CaseReport::default()
    };
    let actor = CaseActor::Person(session.caller.clone());
    match state
        .platform
        .cases()
        .report_case(&district, &actor, report)
        .await
    {
        Ok(case) => Ok(see_other(&format!("/cases/{}?done=reported", case.id))),
        Err(err) => {
            let words = refusal(err)?;
            report_form(&state, lang, &session, &district, &upload, Some(words)).await
        }
    }
}
