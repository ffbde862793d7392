//! The platform administrator's page (`/city`): the city's districts with
//! their administrators, creating a district and its first administrator,
//! and every install of the city with its status, a page at a time.
//!
//! A district's own pages (`/apps`, `/accounts`, `/install`, the audit
//! pages) open for the platform administrator with `?district=`.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::i18n::{Lang, Text};
use super::pages::{self, Notice};
use super::session::Visitor;
use super::{
    Language, PageError, SessionForm, failed, not_allowed, refusal, see_other, signed_form,
};
use crate::accounts::Role;
use crate::accounts::ops::AccountRequest;
use crate::accounts::sign_in::Session;
use crate::api::auth::Authenticated;
use crate::api::shared::ApiState;
use crate::error::PlatformError;
use crate::installs::store::{Install, InstallStatus};
use crate::kernel::districts::District;

/// Installs on one page of the city's list.
pub const INSTALLS_PER_PAGE: usize = 100;

#[derive(Debug, Default, Deserialize)]
pub(super) struct CityQuery {
    #[serde(default)]
    page: Option<usize>,
    #[serde(default)]
    done: Option<String>,
}

/// `GET /city`.
pub(super) async fn city_page(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    Query(q): Query<CityQuery>,
) -> Result<Response, PageError> {
    let Some(session) = visitor.session else {
        return Ok(see_other("/sign-in"));
    };
    if Authenticated(session.caller.clone())
        .require_platform_admin()
        .is_err()
    {
        return Ok(not_allowed(lang));
    }
    let shown = match q.done.as_deref() {
        Some("district") => Some(Notice::Done(Text::DistrictCreated)),
        Some("admin") => Some(Notice::Done(Text::AccountCreated)),
        _ => None,
    };
    Ok(
        view(&state, lang, &session, q.page.unwrap_or(0), shown, None)
            .await?
            .into_response(),
    )
}

async fn view(
    state: &ApiState,
    lang: Lang,
    session: &Session,
    page: usize,
    shown: Option<Notice>,
    problem: Option<String>,
) -> Result<Markup, PageError> {
    let store = state.platform.store();
    let districts = store.list_districts().await.map_err(failed)?;
    let admins: Vec<_> = store
        .list_accounts(None)
        .await
        .map_err(failed)?
        .into_iter()
        .filter(|a| a.role == Role::DistrictAdmin && a.disabled_at.is_none())
        .collect();
    let installs = store.list_installs(None).await.map_err(failed)?;
    let pages_count = installs.len().div_ceil(INSTALLS_PER_PAGE).max(1);
    let page = page.min(pages_count - 1);
    let shown_installs = &installs[(page * INSTALLS_PER_PAGE).min(installs.len())
        ..((page + 1) * INSTALLS_PER_PAGE).min(installs.len())];
    let admins_of = |district: &str| -> Vec<String> {
        admins
            .iter()
            .filter(|a| a.district.as_deref() == Some(district))
            .map(|a| a.id.clone())
            .collect()
    };
    Ok(render(
        lang,
        session,
        &districts,
        &admins_of,
        shown_installs,
        (page, pages_count, installs.len()),
        shown,
        problem,
    ))
}

#[derive(Deserialize)]
pub(super) struct NewDistrictForm {
    csrf: String,
    id: String,
    #[serde(default)]
    name: String,
    /// The first administrator's account id; none: create none.
    #[serde(default)]
    admin: String,
    #[serde(default)]
    admin_name: String,
}

impl SessionForm for NewDistrictForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /city/districts`: create a district, and its first administrator
/// when one is named.
pub(super) async fn create_district(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    headers: HeaderMap,
    form: Result<Form<NewDistrictForm>, FormRejection>,
) -> Result<Response, PageError> {
    let (session, form) = match signed_form(lang, visitor.session, &headers, form) {
        Ok(checked) => checked,
        Err(answer) => return Ok(*answer),
    };
    if Authenticated(session.caller.clone())
        .require_platform_admin()
        .is_err()
    {
        return Ok(not_allowed(lang));
    }
    let platform = &state.platform;
    let id = form.id.trim().to_owned();
    let admin = form.admin.trim().to_owned();
    // The administrator's id is checked before the district is created, so
    // a refusal changes nothing.
    let checked = match admin.is_empty() {
        true => Ok(()),
        false => crate::kernel::ids::slug("account id", &admin)
            .map_err(|e| PlatformError::Invalid(e.to_string()))
            .and(match platform.store().get_account(&admin).await {
                Ok(_) => Err(PlatformError::Conflict(format!(
                    "account `{admin}` already exists; choose another id"
                ))),
                Err(_) => Ok(()),
            }),
    };
    let created = match checked {
        Ok(()) => platform.create_district(&id, form.name.trim()).await,
        Err(refused) => Err(refused),
    };
    let created = match created {
        Ok(_) if !admin.is_empty() => platform
            .create_account(AccountRequest {
                id: admin.clone(),
                role: Role::DistrictAdmin,
                district: Some(id.clone()),
                display_name: form.admin_name.trim().to_owned(),
                resident_id: None,
                grids: Vec::new(),
                phone: None,
            })
            .await
            .map(|_| "admin"),
        Ok(_) => Ok("district"),
        Err(refused) => Err(refused),
    };
    match created {
        Ok(done) => {
            tracing::info!(district = %id, admin, by = %session.caller.account_id, "district created in the console");
            Ok(see_other(&format!("/city?done={done}")))
        }
        Err(err) => {
            let why = refusal(err)?;
            let page = view(
                &state,
                lang,
                &session,
                0,
                Some(Notice::Error(Text::AccountRefused)),
                Some(why),
            )
            .await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "one page's parts, each shown in its own section"
)]
fn render(
    lang: Lang,
    session: &Session,
    districts: &[District],
    admins_of: &dyn Fn(&str) -> Vec<String>,
    installs: &[Install],
    (page, pages_count, total): (usize, usize, usize),
    shown: Option<Notice>,
    problem: Option<String>,
) -> Markup {
    pages::page(
        lang,
        "/city",
        Text::City,
        html! {
            h1 { (lang.t(Text::City)) }
            (pages::notice(lang, shown, problem))
            section aria-labelledby="districts" {
                h2 id="districts" { (lang.t(Text::Districts)) }
                table {
                    thead {
                        tr {
                            th scope="col" { (lang.t(Text::District)) }
                            th scope="col" { (lang.t(Text::Administrators)) }
                            th scope="col" { (lang.t(Text::Actions)) }
                        }
                    }
                    tbody {
                        @for d in districts {
                            tr id=(format!("district-{}", d.id)) {
                                td data-label=(lang.t(Text::District)) { (d.name) " " code { (d.id) } }
                                td data-label=(lang.t(Text::Administrators)) {
                                    @let admins = admins_of(&d.id);
                                    @if admins.is_empty() { span.error { (lang.t(Text::NoAdministrator)) } }
                                    @else { (admins.join(", ")) }
                                }
                                td data-label=(lang.t(Text::Actions)) {
                                    a href=(format!("/apps?district={}", d.id)) { (lang.t(Text::Apps)) }
                                    " · "
                                    a href=(format!("/accounts?district={}", d.id)) { (lang.t(Text::Accounts)) }
                                }
                            }
                        }
                    }
                }
                h2 id="new-district" { (lang.t(Text::NewDistrict)) }
                form method="post" action="/city/districts" {
                    input type="hidden" name="csrf" value=(session.csrf);
                    label for="id" { (lang.t(Text::DistrictId)) }
                    input id="id" name="id" required pattern="[a-z][a-z0-9-]{0,62}" autocomplete="off";
                    p.hint { (lang.t(Text::AccountIdHint)) }
                    label for="name" { (lang.t(Text::DistrictName)) }
                    input id="name" name="name";
                    label for="admin" { (lang.t(Text::FirstAdministrator)) }
                    input id="admin" name="admin" pattern="[a-z][a-z0-9-]{0,62}" autocomplete="off";
                    label for="admin_name" { (lang.t(Text::DisplayName)) }
                    input id="admin_name" name="admin_name";
                    button type="submit" { (lang.t(Text::CreateDistrict)) }
                }
            }
            section aria-labelledby="installs" {
                h2 id="installs" { (lang.t(Text::AllInstalls)) " (" (total) ")" }
                table {
                    thead {
                        tr {
                            th scope="col" { (lang.t(Text::District)) }
                            th scope="col" { (lang.t(Text::App)) }
                            th scope="col" { (lang.t(Text::Version)) }
                            th scope="col" { (lang.t(Text::Status)) }
                        }
                    }
                    tbody {
                        @for i in installs {
                            tr {
                                td data-label=(lang.t(Text::District)) { (i.district) }
                                td data-label=(lang.t(Text::App)) {
                                    a href=(format!("/audit/{}?district={}", i.app, i.district)) { (i.app) }
                                }
                                td data-label=(lang.t(Text::Version)) { (i.version) }
                                td data-label=(lang.t(Text::Status)) {
                                    @match i.status {
                                        InstallStatus::Active => span.ok { (lang.t(Text::Active)) },
                                        InstallStatus::Suspended => {
                                            span.error { (lang.t(Text::Suspended)) }
                                            @if let Some(reason) = &i.status_reason { br; small { (reason) } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                @if pages_count > 1 {
                    nav aria-label=(lang.t(Text::Pages)) {
                        @if page > 0 { a href=(format!("/city?page={}", page - 1)) { (lang.t(Text::PreviousPage)) } }
                        span { (page + 1) " / " (pages_count) }
                        @if page + 1 < pages_count { a href=(format!("/city?page={}", page + 1)) { (lang.t(Text::NextPage)) } }
                    }
                }
            }
            p { a href="/" { (lang.t(Text::BackHome)) } }
        },
    )
}
