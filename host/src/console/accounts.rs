//! A district's accounts (`/accounts`): who can sign in, in which role.
//!
//! The district's administrators and auditors see its accounts (phone
//! numbers masked, as in the API's listing); administrators create
//! accounts, and for each one issue a set-password code (shown once, with
//! the address to redeem it at), issue an API token (shown once), end its
//! sessions, or disable it. Who may change an account is the API's one
//! rule ([`administrable`]).

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::i18n::{Lang, Text};
use super::pages::{self, Notice, role_text};
use super::session::Visitor;
use super::{
    DistrictPage, DistrictQuery, Language, PageError, TokenForm, failed, not_found, refusal,
    see_other, signed_form,
};
use crate::accounts::Role;
use crate::accounts::api::administrable;
use crate::accounts::ops::{AccountRequest, DEFAULT_TOKEN_DAYS};
use crate::accounts::sign_in::Session;
use crate::accounts::store::Account;
use crate::api::auth::Authenticated;
use crate::api::shared::ApiState;
use crate::error::PlatformError;

/// The roles a district's administrator gives, in the order offered.
const DISTRICT_ROLES: [Role; 4] = [
    Role::Worker,
    Role::Resident,
    Role::Auditor,
    Role::DistrictAdmin,
];

/// `GET /accounts`.
pub(super) async fn accounts_page(
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
    let shown = match q.done.as_deref() {
        Some("created") => Some(Notice::Done(Text::AccountCreated)),
        Some("disabled") => Some(Notice::Done(Text::AccountDisabled)),
        Some("ended") => Some(Notice::Done(Text::SessionsEnded)),
        _ => None,
    };
    let at = q.page.unwrap_or(0);
    let page = list(
        &state, lang, &session, &district, may_change, shown, None, at,
    )
    .await?;
    Ok(page.into_response())
}

/// Accounts on one page of the list.
const ACCOUNTS_PER_PAGE: usize = 100;

#[expect(
    clippy::too_many_arguments,
    reason = "one page's parts, each shown in its own section"
)]
async fn list(
    state: &ApiState,
    lang: Lang,
    session: &Session,
    district: &str,
    may_change: bool,
    shown: Option<Notice>,
    problem: Option<String>,
    at: usize,
) -> Result<Markup, PageError> {
    let all = state
        .platform
        .store()
        .list_accounts(Some(district))
        .await
        .map_err(failed)?;
    let pages_count = all.len().div_ceil(ACCOUNTS_PER_PAGE).max(1);
    let at = at.min(pages_count - 1);
    let mut accounts: Vec<Account> = all
        .into_iter()
        .skip(at * ACCOUNTS_PER_PAGE)
        .take(ACCOUNTS_PER_PAGE)
        .collect();
    for account in &mut accounts {
        if let Some(phone) = &account.phone {
            account.phone = Some(crate::community::mask::phone(phone));
        }
    }
    Ok(render(
        lang,
        session,
        district,
        &accounts,
        (at, pages_count),
        may_change,
        shown,
        problem,
    ))
}

#[derive(Deserialize)]
pub(super) struct NewAccountForm {
    csrf: String,
    id: String,
    role: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    grids: String,
    #[serde(default)]
    resident_id: String,
    #[serde(default)]
    phone: String,
}

impl super::SessionForm for NewAccountForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /accounts`: create an account of the district.
pub(super) async fn create(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    headers: HeaderMap,
    Query(q): Query<DistrictQuery>,
    form: Result<Form<NewAccountForm>, FormRejection>,
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
    let role = DISTRICT_ROLES.into_iter().find(|r| r.as_str() == form.role);
    let created = match role {
        None => Err(PlatformError::Invalid(format!(
            "`{}` is not a role an account of a district can have: worker, resident, auditor or district-admin",
            form.role.chars().take(40).collect::<String>()
        ))),
        Some(role) => {
            let optional = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
            state
                .platform
                .create_account(AccountRequest {
                    id: form.id.trim().to_owned(),
                    role,
                    district: Some(district.clone()),
                    display_name: form.display_name.trim().to_owned(),
                    resident_id: optional(&form.resident_id),
                    grids: form
                        .grids
                        .split([',', '，', ' '])
                        .map(str::trim)
                        .filter(|g| !g.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    phone: optional(&form.phone),
                })
                .await
        }
    };
    match created {
        Ok(account) => {
            tracing::info!(account = %account.id, by = %session.caller.account_id, "account created in the console");
            Ok(see_other(&format!(
                "/accounts?district={district}&done=created"
            )))
        }
        Err(err) => {
            let why = refusal(err)?;
            let page = list(
                &state,
                lang,
                &session,
                &district,
                true,
                Some(Notice::Error(Text::AccountRefused)),
                Some(why),
                0,
            )
            .await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}

/// `POST /accounts/{id}/{action}`: `code`, `token`, `end-sessions` or
/// `disable`, for those who may change the account.
pub(super) async fn account_action(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<Response, PageError> {
    let (session, _) = match signed_form(lang, visitor.session, &headers, form) {
        Ok(checked) => checked,
        Err(answer) => return Ok(*answer),
    };
    let caller = Authenticated(session.caller.clone());
    let Ok(account) = administrable(&state, &caller, &id).await else {
        return Ok(not_found(lang));
    };
    let district = account.district.clone().unwrap_or_default();
    let back = format!("/accounts?district={district}");
    let platform = &state.platform;
    let by = &session.caller.account_id;
    match action.as_str() {
        "code" => {
            let issued = match platform.sign_in().issue_code(&account.id, by).await {
                Ok(issued) => issued,
                Err(err) => {
                    let why = refusal(err)?;
                    return Ok((
                        StatusCode::CONFLICT,
                        pages::problem_with(lang, Text::AccountRefused, &why),
                    )
                        .into_response());
                }
            };
            let host = headers
                .get(axum::http::header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let scheme = if super::session::over_https(&headers) {
                "https"
            } else {
                "http"
            };
            let link = format!("{scheme}://{host}/set-password?code={}", issued.code);
            Ok(shown_once(
                lang,
                &account,
                Text::CodeIssued,
                &issued.code,
                Some(&link),
                &crate::cases::format_ms(issued.expires_at),
                &back,
            )
            .into_response())
        }
        "token" => match platform
            .issue_token(&account.id, "console", DEFAULT_TOKEN_DAYS)
            .await
        {
            Ok(issued) => Ok(shown_once(
                lang,
                &account,
                Text::TokenIssued,
                &issued.token,
                None,
                &crate::cases::format_ms(issued.record.expires_at),
                &back,
            )
            .into_response()),
            Err(err) => Ok((
                StatusCode::CONFLICT,
                pages::problem_with(lang, Text::AccountRefused, &refusal(err)?),
            )
                .into_response()),
        },
        "end-sessions" => {
            platform
                .sign_in()
                .end_sessions(&account.id, "ended by an administrator")
                .await
                .map_err(failed)?;
            tracing::info!(account = %account.id, by, "sessions ended in the console");
            Ok(see_other(&format!("{back}&done=ended")))
        }
        "disable" => {
            platform
                .disable_account(&account.id)
                .await
                .map_err(failed)?;
            tracing::info!(account = %account.id, by, "account disabled in the console");
            Ok(see_other(&format!("{back}&done=disabled")))
        }
        _ => Ok(not_found(lang)),
    }
}

/// A secret shown this once: a set-password code (with the address to
/// redeem it at) or a token.
fn shown_once(
    lang: Lang,
    account: &Account,
    what: Text,
    secret: &str,
    link: Option<&str>,
    expires: &str,
    back: &str,
) -> Markup {
    pages::page(
        lang,
        "/accounts",
        what,
        html! {
            h1 { (lang.t(what)) " · " (account.display_name) " (" (account.id) ")" }
            p.error role="alert" { (lang.t(Text::ShownOnce)) }
            p { code #secret { (secret) } }
            @if let Some(link) = link {
                p { (lang.t(Text::RedeemAt)) " " code #link { (link) } }
            }
            p { (lang.t(Text::ValidUntil)) " " (expires) }
            p { a href=(back) { (lang.t(Text::Accounts)) } }
        },
    )
}

#[expect(
    clippy::too_many_arguments,
    reason = "one page's parts, each shown in its own section"
)]
fn render(
    lang: Lang,
    session: &Session,
    district: &str,
    accounts: &[Account],
    (at, pages_count): (usize, usize),
    may_change: bool,
    shown: Option<Notice>,
    problem: Option<String>,
) -> Markup {
    let query = match session.caller.district {
        Some(_) => String::new(),
        None => format!("?district={district}"),
    };
    pages::page(
        lang,
        "/accounts",
        Text::Accounts,
        html! {
            h1 { (lang.t(Text::Accounts)) " · " (district) }
            (pages::notice(lang, shown, problem))
            table {
                thead {
                    tr {
                        th scope="col" { (lang.t(Text::AccountId)) }
                        th scope="col" { (lang.t(Text::DisplayName)) }
                        th scope="col" { (lang.t(Text::Role)) }
                        th scope="col" { (lang.t(Text::Status)) }
                        @if may_change { th scope="col" { (lang.t(Text::Actions)) } }
                    }
                }
                tbody {
                    @for account in accounts {
                        tr id=(format!("account-{}", account.id)) {
                            td data-label=(lang.t(Text::AccountId)) { code { (account.id) } }
                            td data-label=(lang.t(Text::DisplayName)) {
                                (account.display_name)
                                @if let Some(phone) = &account.phone { br; small { (phone) } }
                            }
                            td data-label=(lang.t(Text::Role)) {
                                (lang.t(role_text(account.role)))
                                @if !account.grids.is_empty() { br; small { (account.grids.join(", ")) } }
                            }
                            td data-label=(lang.t(Text::Status)) {
                                @if account.disabled_at.is_some() {
                                    span.error { (lang.t(Text::Disabled)) }
                                } @else {
                                    span.ok { (lang.t(Text::Enabled)) }
                                }
                            }
                            @if may_change {
                                td data-label=(lang.t(Text::Actions)) {
                                    @if account.disabled_at.is_none() {
                                        @for (action, label) in [
                                            ("code", Text::IssueCode),
                                            ("token", Text::IssueToken),
                                            ("end-sessions", Text::EndSessions),
                                            ("disable", Text::Disable),
                                        ] {
                                            form.inline method="post" action=(format!("/accounts/{}/{action}", account.id)) {
                                                input type="hidden" name="csrf" value=(session.csrf);
                                                button type="submit" class=(action) { (lang.t(label)) }
                                            }
                                            " "
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if pages_count > 1 {
                nav aria-label=(lang.t(Text::Pages)) {
                    @if at > 0 { a href=(format!("/accounts?district={district}&page={}", at - 1)) { (lang.t(Text::PreviousPage)) } }
                    span { (at + 1) " / " (pages_count) }
                    @if at + 1 < pages_count { a href=(format!("/accounts?district={district}&page={}", at + 1)) { (lang.t(Text::NextPage)) } }
                }
            }
            @if may_change {
                section aria-labelledby="new-account" {
                    h2 id="new-account" { (lang.t(Text::NewAccount)) }
                    form method="post" action=(format!("/accounts{query}")) {
                        input type="hidden" name="csrf" value=(session.csrf);
                        label for="id" { (lang.t(Text::AccountId)) }
                        input id="id" name="id" required pattern="[a-z][a-z0-9-]{0,62}" autocomplete="off";
                        p.hint { (lang.t(Text::AccountIdHint)) }
                        label for="display_name" { (lang.t(Text::DisplayName)) }
                        input id="display_name" name="display_name";
                        label for="role" { (lang.t(Text::Role)) }
                        select id="role" name="role" {
                            @for role in DISTRICT_ROLES {
                                option value=(role.as_str()) { (lang.t(role_text(role))) }
                            }
                        }
                        label for="grids" { (lang.t(Text::Grids)) }
                        input id="grids" name="grids" placeholder="c-xingfu-g1, c-xingfu-g2";
                        label for="resident_id" { (lang.t(Text::ResidentRecord)) }
                        input id="resident_id" name="resident_id";
                        label for="phone" { (lang.t(Text::Phone)) }
                        input id="phone" name="phone" type="tel" autocomplete="off";
                        button type="submit" { (lang.t(Text::CreateAccount)) }
                    }
                }
            }
            p { a href="/" { (lang.t(Text::BackHome)) } }
        },
    )
}
