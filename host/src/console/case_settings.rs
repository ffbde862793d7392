//! How a district handles cases (`/settings/cases`): its categories (the
//! Open311 services), departments, deadlines, policy, and what Open311
//! shows without a key.
//!
//! Each form changes one thing through the same operations as the API: a
//! category or department is added or replaced by its code; a deadline
//! row (one category, or `*`, and one priority) is added or replaced in
//! the district's table; the policy says how long a closed case may be
//! reopened and whether overdue cases escalate by themselves; the Open311
//! form says whether anyone may read the requests of public categories
//! without a key, and which categories are kept private. A refusal shows
//! why and changes nothing. Administrators change; auditors look.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::i18n::{Lang, Text};
use super::pages::{self, Notice};
use super::session::Visitor;
use super::{
    DistrictPage, DistrictQuery, Language, PageError, failed, not_found, refusal, see_other,
    signed_form,
};
use crate::accounts::sign_in::Session;
use crate::api::shared::ApiState;
use crate::cases::intake::{Open311Policy, ServiceSettingsChange};
use crate::cases::published::Service;
use crate::cases::store::{CasePolicy, Category, Deadline, Department};
use crate::cases::{Priority, Tier};
use crate::error::PlatformError;

const TIERS: [Tier; 5] = [
    Tier::Grid,
    Tier::Community,
    Tier::Street,
    Tier::District,
    Tier::City,
];
const PRIORITIES: [Priority; 4] = [
    Priority::Low,
    Priority::Normal,
    Priority::High,
    Priority::Urgent,
];

fn tier_name(tier: Tier) -> &'static str {
    match tier {
        Tier::Grid => "grid",
        Tier::Community => "community",
        Tier::Street => "street",
        Tier::District => "district",
        Tier::City => "city",
    }
}

fn priority_name(priority: Priority) -> &'static str {
    match priority {
        Priority::Low => "low",
        Priority::Normal => "normal",
        Priority::High => "high",
        Priority::Urgent => "urgent",
    }
}

/// `GET /settings/cases`.
pub(super) async fn case_settings_page(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    Query(q): Query<DistrictQuery>,
) -> Result<Response, PageError> {
    let DistrictPage {
        session,
        district,
        may_change,
    } = match DistrictPage::read(lang, visitor.session, q.district) {
        Ok(page) => page,
        Err(answer) => return Ok(*answer),
    };
    let shown = q
        .done
        .is_some()
        .then_some(Notice::Done(Text::CaseSettingsSaved));
    Ok(
        view(&state, lang, &session, &district, may_change, shown, None)
            .await?
            .into_response(),
    )
}

async fn view(
    state: &ApiState,
    lang: Lang,
    session: &Session,
    district: &str,
    may_change: bool,
    shown: Option<Notice>,
    problem: Option<String>,
) -> Result<Markup, PageError> {
    let store = state.platform.store();
    let categories = store.categories(district).await.map_err(failed)?;
    let departments = store.departments(district).await.map_err(failed)?;
    let deadlines = store.deadlines(district).await.map_err(failed)?;
    let policy = store.case_policy(district).await.map_err(failed)?;
    let cases = state.platform.cases();
    let open311 = cases.open311_policy(district).await.map_err(failed)?;
    let services = cases.services(district).await.map_err(failed)?;
    Ok(render(
        lang,
        session,
        district,
        may_change,
        &Parts {
            categories: &categories,
            departments: &departments,
            deadlines: &deadlines,
            policy: &policy,
            open311: &open311,
            services: &services,
        },
        shown,
        problem,
    ))
}

/// A form of this page: every field, the ones its kind does not use empty.
#[derive(Debug, Default, Deserialize)]
pub(super) struct CaseForm {
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    tier: String,
    #[serde(default)]
    unit_id: String,
    #[serde(default)]
    members: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    accept_minutes: String,
    #[serde(default)]
    handle_minutes: String,
    #[serde(default)]
    verify_minutes: String,
    #[serde(default)]
    reopen_days: String,
    #[serde(default)]
    auto_escalate: Option<String>,
    #[serde(default)]
    public_reads: Option<String>,
    #[serde(default)]
    private_services: String,
}

impl super::SessionForm for CaseForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

fn minutes(field: &str, value: &str) -> Result<i64, PlatformError> {
    value.trim().parse::<i64>().map_err(|_| {
        PlatformError::Invalid(format!(
            "{field} must be a whole number of minutes (got `{}`)",
            value.chars().take(20).collect::<String>()
        ))
    })
}

/// `POST /settings/cases/{category|department|deadline|policy}`.
pub(super) async fn save(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    headers: HeaderMap,
    Path(what): Path<String>,
    Query(q): Query<DistrictQuery>,
    form: Result<Form<CaseForm>, FormRejection>,
) -> Result<Response, PageError> {
    let (session, form) = match signed_form(lang, visitor.session, &headers, form) {
        Ok(checked) => checked,
        Err(answer) => return Ok(*answer),
    };
    let DistrictPage {
        session, district, ..
    } = match DistrictPage::change(lang, Some(session), q.district) {
        Ok(page) => page,
        Err(answer) => return Ok(*answer),
    };
    let cases = state.platform.cases();
    let saved: Result<(), PlatformError> = match what.as_str() {
        "category" => cases
            .put_category(
                &district,
                Category {
                    code: form.code.trim().to_owned(),
                    name: form.name.trim().to_owned(),
                    description: form.description.trim().to_owned(),
                    group: form.group.trim().to_owned(),
                },
            )
            .await
            .map(|_| ()),
        "department" => match TIERS.into_iter().find(|t| tier_name(*t) == form.tier) {
            None => Err(PlatformError::Invalid(format!(
                "`{}` is not a tier: grid, community, street, district or city",
                form.tier.chars().take(20).collect::<String>()
            ))),
            Some(tier) => cases
                .put_department(
                    &district,
                    Department {
                        id: form.code.trim().to_owned(),
                        name: form.name.trim().to_owned(),
                        tier,
                        unit_id: Some(form.unit_id.trim().to_owned()).filter(|u| !u.is_empty()),
                        members: form
                            .members
                            .split([',', '，', ' '])
                            .map(str::trim)
                            .filter(|m| !m.is_empty())
                            .map(str::to_owned)
                            .collect(),
                    },
                )
                .await
                .map(|_| ()),
        },
        "deadline" => {
            let row = match (
                PRIORITIES
                    .into_iter()
                    .find(|p| priority_name(*p) == form.priority),
                minutes("the time to accept", &form.accept_minutes),
                minutes("the time to handle", &form.handle_minutes),
                minutes("the time to verify", &form.verify_minutes),
            ) {
                (None, ..) => Err(PlatformError::Invalid(
                    "the priority must be low, normal, high or urgent".into(),
                )),
                (Some(priority), Ok(accept), Ok(handle), Ok(verify)) => Ok(Deadline {
                    category: form.category.trim().to_owned(),
                    priority,
                    accept_minutes: accept,
                    handle_minutes: handle,
                    verify_minutes: verify,
                }),
                (_, Err(e), ..) | (_, _, Err(e), _) | (_, _, _, Err(e)) => Err(e),
            };
            match row {
                Ok(row) => {
                    let mut all = state
                        .platform
                        .store()
                        .deadlines(&district)
                        .await
                        .map_err(failed)?;
                    all.retain(|d| !(d.category == row.category && d.priority == row.priority));
                    all.push(row);
                    cases.set_deadlines(&district, all).await.map(|_| ())
                }
                Err(e) => Err(e),
            }
        }
        "policy" => match form.reopen_days.trim().parse::<i64>() {
            Ok(days) => cases
                .set_case_policy(
                    &district,
                    CasePolicy {
                        reopen_days: days,
                        auto_escalate: form.auto_escalate.is_some(),
                    },
                )
                .await
                .map(|_| ()),
            Err(_) => Err(PlatformError::Invalid(
                "the days a closed case may be reopened must be a whole number".into(),
            )),
        },
        "open311" => {
            save_open311(
                &state,
                &district,
                form.public_reads.is_some(),
                &form.private_services,
            )
            .await
        }
        _ => return Ok(not_found(lang)),
    };
    match saved {
        Ok(()) => {
            tracing::info!(district, what, by = %session.caller.account_id, "case settings changed in the console");
            Ok(see_other(&format!(
                "/settings/cases?district={district}&done={what}"
            )))
        }
        Err(err) => {
            let why = refusal(err)?;
            let page = view(
                &state,
                lang,
                &session,
                &district,
                true,
                Some(Notice::Error(Text::AccountRefused)),
                Some(why),
            )
            .await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}

/// Save the Open311 form: the district's policy, and each category public
/// unless listed in `private` (codes, comma-separated). Every code is
/// checked before anything is saved.
async fn save_open311(
    state: &ApiState,
    district: &str,
    public_reads: bool,
    private: &str,
) -> Result<(), PlatformError> {
    let cases = state.platform.cases();
    let services = cases.services(district).await?;
    let private: Vec<&str> = private
        .split([',', '，', ' '])
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    if let Some(unknown) = private
        .iter()
        .find(|c| !services.iter().any(|s| s.category.code == **c))
    {
        return Err(PlatformError::Invalid(format!(
            "`{}` is not a category of district `{district}`; private categories are named by their codes: {}",
            unknown.chars().take(40).collect::<String>(),
            services
                .iter()
                .map(|s| s.category.code.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    cases
        .set_open311_policy(district, Open311Policy { public_reads })
        .await?;
    for service in services {
        let public = !private.contains(&service.category.code.as_str());
        if service.settings.public != public {
            cases
                .change_service_settings(
                    district,
                    &service.category.code,
                    ServiceSettingsChange {
                        public: Some(public),
                        ..ServiceSettingsChange::default()
                    },
                )
                .await?;
        }
    }
    Ok(())
}

/// What the page shows.
struct Parts<'a> {
    categories: &'a [Category],
    departments: &'a [Department],
    deadlines: &'a [Deadline],
    policy: &'a CasePolicy,
    open311: &'a Open311Policy,
    services: &'a [Service],
}

fn render(
    lang: Lang,
    session: &Session,
    district: &str,
    may_change: bool,
    parts: &Parts<'_>,
    shown: Option<Notice>,
    problem: Option<String>,
) -> Markup {
    let action = |what: &str| format!("/settings/cases/{what}?district={district}");
    pages::page(
        lang,
        "/settings/cases",
        Text::CaseSettings,
        html! {
            h1 { (lang.t(Text::CaseSettings)) " · " (district) }
            (pages::notice(lang, shown, problem))

            section aria-labelledby="categories" {
                h2 id="categories" { (lang.t(Text::Categories)) }
                ul {
                    @for c in parts.categories {
                        li { code { (c.code) } " " (c.name) @if !c.group.is_empty() { " · " small { (c.group) } } }
                    }
                }
                @if may_change {
                    form method="post" action=(action("category")) {
                        input type="hidden" name="csrf" value=(session.csrf);
                        label for="category-code" { (lang.t(Text::CodeField)) }
                        input id="category-code" name="code" required placeholder="noise";
                        label for="category-name" { (lang.t(Text::Name)) }
                        input id="category-name" name="name" required;
                        label for="category-description" { (lang.t(Text::Description)) }
                        input id="category-description" name="description";
                        label for="category-group" { (lang.t(Text::Group)) }
                        input id="category-group" name="group";
                        button type="submit" { (lang.t(Text::Save)) }
                    }
                }
            }

            section aria-labelledby="departments" {
                h2 id="departments" { (lang.t(Text::Departments)) }
                ul {
                    @for d in parts.departments {
                        li {
                            code { (d.id) } " " (d.name) " · " (tier_name(d.tier))
                            @if let Some(unit) = &d.unit_id { " " code { (unit) } }
                            @if !d.members.is_empty() { br; small { (d.members.join(", ")) } }
                        }
                    }
                }
                @if may_change {
                    form method="post" action=(action("department")) {
                        input type="hidden" name="csrf" value=(session.csrf);
                        label for="department-code" { (lang.t(Text::CodeField)) }
                        input id="department-code" name="code" required placeholder="street-office";
                        label for="department-name" { (lang.t(Text::Name)) }
                        input id="department-name" name="name" required;
                        label for="department-tier" { (lang.t(Text::Tier)) }
                        select id="department-tier" name="tier" {
                            @for t in TIERS { option value=(tier_name(t)) { (tier_name(t)) } }
                        }
                        label for="department-unit" { (lang.t(Text::Unit)) }
                        input id="department-unit" name="unit_id";
                        label for="department-members" { (lang.t(Text::Members)) }
                        input id="department-members" name="members";
                        button type="submit" { (lang.t(Text::Save)) }
                    }
                }
            }

            section aria-labelledby="deadlines" {
                h2 id="deadlines" { (lang.t(Text::Deadlines)) }
                table {
                    thead {
                        tr {
                            th scope="col" { (lang.t(Text::Categories)) }
                            th scope="col" { (lang.t(Text::Priority)) }
                            th scope="col" { (lang.t(Text::MinutesToAccept)) }
                            th scope="col" { (lang.t(Text::MinutesToHandle)) }
                            th scope="col" { (lang.t(Text::MinutesToVerify)) }
                        }
                    }
                    tbody {
                        @for d in parts.deadlines {
                            tr {
                                td data-label=(lang.t(Text::Categories)) { code { (d.category) } }
                                td data-label=(lang.t(Text::Priority)) { (priority_name(d.priority)) }
                                td data-label=(lang.t(Text::MinutesToAccept)) { (d.accept_minutes) }
                                td data-label=(lang.t(Text::MinutesToHandle)) { (d.handle_minutes) }
                                td data-label=(lang.t(Text::MinutesToVerify)) { (d.verify_minutes) }
                            }
                        }
                    }
                }
                @if may_change {
                    form method="post" action=(action("deadline")) {
                        input type="hidden" name="csrf" value=(session.csrf);
                        label for="deadline-category" { (lang.t(Text::CategoryOrAll)) }
                        input id="deadline-category" name="category" required value="*";
                        label for="deadline-priority" { (lang.t(Text::Priority)) }
                        select id="deadline-priority" name="priority" {
                            @for p in PRIORITIES { option value=(priority_name(p)) selected[p == Priority::Normal] { (priority_name(p)) } }
                        }
                        label for="accept" { (lang.t(Text::MinutesToAccept)) }
                        input id="accept" name="accept_minutes" inputmode="numeric" required;
                        label for="handle" { (lang.t(Text::MinutesToHandle)) }
                        input id="handle" name="handle_minutes" inputmode="numeric" required;
                        label for="verify" { (lang.t(Text::MinutesToVerify)) }
                        input id="verify" name="verify_minutes" inputmode="numeric" required;
                        button type="submit" { (lang.t(Text::Save)) }
                    }
                }
            }

            section aria-labelledby="policy" {
                h2 id="policy" { (lang.t(Text::CasePolicy)) }
                form method="post" action=(action("policy")) {
                    input type="hidden" name="csrf" value=(session.csrf);
                    label for="reopen_days" { (lang.t(Text::ReopenDays)) }
                    input id="reopen_days" name="reopen_days" inputmode="numeric" value=(parts.policy.reopen_days) disabled[!may_change];
                    div.permission {
                        input type="checkbox" id="auto_escalate" name="auto_escalate" value="yes"
                            checked[parts.policy.auto_escalate] disabled[!may_change];
                        label for="auto_escalate" { (lang.t(Text::AutoEscalate)) }
                    }
                    @if may_change { button type="submit" { (lang.t(Text::Save)) } }
                }
            }

            section aria-labelledby="open311" {
                h2 id="open311" { (lang.t(Text::Open311Section)) }
                p { small { (lang.t(Text::Open311Explained)) } }
                form method="post" action=(action("open311")) {
                    input type="hidden" name="csrf" value=(session.csrf);
                    div.permission {
                        input type="checkbox" id="public_reads" name="public_reads" value="yes"
                            checked[parts.open311.public_reads] disabled[!may_change];
                        label for="public_reads" { (lang.t(Text::Open311PublicReads)) }
                    }
                    label for="private_services" { (lang.t(Text::Open311PrivateServices)) }
                    input id="private_services" name="private_services" disabled[!may_change]
                        value=(parts.services.iter().filter(|s| !s.settings.public).map(|s| s.category.code.as_str()).collect::<Vec<_>>().join(", "));
                    @if may_change { button type="submit" { (lang.t(Text::Save)) } }
                }
            }
            p { a href="/settings" { (lang.t(Text::Settings)) } " · " a href="/" { (lang.t(Text::BackHome)) } }
        },
    )
}
