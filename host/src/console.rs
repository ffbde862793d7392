//! The console: the host's pages for people in a browser, at `/`.
//!
//! A visitor gets the sign-in page; a person sets their password with a
//! one-time code an administrator issued (`/set-password`), signs in,
//! changes the password (`/password`) and signs out. A district's
//! administrators and auditors see its apps (`/apps`); its administrators
//! suspend, resume, roll back and uninstall them there ([`uninstall`]),
//! install and upgrade them with consent to each permission ([`install`])
//! from the district's catalogue ([`catalogue`]),
//! manage the district's accounts ([`accounts`]), import and export its
//! community data ([`data`]), and set its gateways and devices
//! ([`settings`]) and how it handles cases ([`case_settings`]). Each install's
//! auditor's page answers what it may do and did ([`audit`]). The
//! platform administrator sees the city ([`city`]). Grid workers work
//! their queue of cases and residents report problems and follow their
//! cases ([`cases`]); everyone reads their inbox ([`inbox`]); a resident
//! sees who read their data, and administrators see it for any resident
//! ([`reads`]). Pages are rendered on
//! the host ([`pages`]), Chinese first with English a click away
//! ([`i18n`]), and every form that changes something carries a token and
//! must come from the host's own origin ([`session`]).
//!
//! Every console answer carries headers that keep it to itself: a
//! Content-Security-Policy that allows only the host's own stylesheet and
//! forms, no framing, no caching, no referrer outside the host.

pub mod accounts;
pub mod audit;
pub mod case_settings;
pub mod cases;
pub mod catalogue;
pub mod city;
pub mod data;
pub mod i18n;
pub mod inbox;
pub mod install;
pub mod pages;
pub mod reads;
pub mod session;
pub mod settings;
pub mod uninstall;

use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, REFERRER_POLICY, SET_COOKIE,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use maud::Markup;
use serde::Deserialize;

use crate::accounts::sign_in::{PasswordError, SignInError};
use crate::api::auth::Authenticated;
use crate::api::shared::ApiState;
use crate::error::PlatformError;
use crate::kernel::ids::{AppName, DistrictId};
use i18n::{LANG_COOKIE, Lang, Text};
use pages::Notice;
use session::{FORM_COOKIE, SESSION_COOKIE, Visitor, same_origin, same_token, set_cookie};

/// The console's routes.
pub(crate) fn router() -> Router<ApiState> {
    Router::new()
        .route("/", get(home))
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-out", axum::routing::post(sign_out))
        .route("/set-password", get(set_password_page).post(set_password))
        .route("/password", get(password_page).post(change_password))
        .route("/apps", get(apps_page))
        .route(
            "/apps/{app}/uninstall",
            get(uninstall::confirm_page).post(uninstall::uninstall),
        )
        .route("/apps/{app}/{action}", axum::routing::post(app_action))
        .route(
            "/install",
            get(install::install_page).post(install::install),
        )
        .route(
            "/accounts",
            get(accounts::accounts_page).post(accounts::create),
        )
        .route(
            "/accounts/{id}/{action}",
            axum::routing::post(accounts::account_action),
        )
        .route(
            "/data",
            get(data::data_page)
                .post(data::import)
                .layer(axum::extract::DefaultBodyLimit::max(data::MAX_IMPORT_BODY)),
        )
        .route("/data/export", get(data::export))
        .route("/catalogue", get(catalogue::catalogue_page))
        .route(
            "/catalogue/registries/{action}",
            axum::routing::post(catalogue::change_registry),
        )
        .route("/settings", get(settings::settings_page))
        .route("/settings/cases", get(case_settings::case_settings_page))
        .route(
            "/settings/cases/{what}",
            axum::routing::post(case_settings::save),
        )
        .route(
            "/settings/gateways",
            axum::routing::post(settings::save_gateways),
        )
        .route(
            "/settings/devices",
            axum::routing::post(settings::register_device),
        )
        .route(
            "/settings/devices/{id}/{action}",
            axum::routing::post(settings::device_action),
        )
        .route("/city", get(city::city_page))
        .route(
            "/city/districts",
            axum::routing::post(city::create_district),
        )
        .route("/audit/{app}", get(audit::audit_page))
        .route("/audit/{app}/access.csv", get(audit::audit_csv))
        .route("/cases", get(cases::cases_page))
        .route("/cases/{id}", get(cases::case_page))
        .route("/cases/{id}/act", axum::routing::post(cases::act))
        .route("/cases/{id}/photos/{photo}", get(cases::photo))
        .route(
            "/report",
            get(cases::report_page)
                .post(cases::report)
                .layer(axum::extract::DefaultBodyLimit::max(cases::MAX_REPORT_BODY)),
        )
        .route("/inbox", get(inbox::inbox_page))
        .route("/inbox/{id}/read", axum::routing::post(inbox::mark_read))
        .route("/my-data", get(reads::my_data))
        .route("/reads", get(reads::resident_reads))
        .route("/lang", get(switch_language))
        .route("/static/console.css", get(stylesheet))
        .layer(axum::middleware::map_response(console_headers))
}

/// What keeps a console page to itself.
async fn console_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let fixed = [
        (
            CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
        (X_FRAME_OPTIONS, "DENY"),
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (REFERRER_POLICY, "same-origin"),
        (CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A console request that could not be answered: a page that says so, in
/// both languages (the request's is not known here), details in the log.
#[derive(Debug)]
pub enum PageError {
    /// The host failed.
    Failed,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let page = maud::html! {
            (maud::DOCTYPE)
            html lang="zh-CN" {
                head { meta charset="utf-8"; title { (Text::HostFailed.zh()) } }
                body {
                    p { (Text::HostFailed.zh()) }
                    p lang="en" { (Text::HostFailed.en()) }
                }
            }
        };
        (StatusCode::INTERNAL_SERVER_ERROR, page).into_response()
    }
}

/// The request's language.
struct Language(Lang);

impl FromRequestParts<ApiState> for Language {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &ApiState) -> Result<Self, Self::Rejection> {
        Ok(Language(Lang::of(&parts.headers)))
    }
}

/// The address a request came from, for counting failed sign-ins.
struct Address(String);

impl FromRequestParts<ApiState> for Address {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &ApiState) -> Result<Self, Self::Rejection> {
        Ok(Address(session::client_address(parts)))
    }
}

fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, to.to_owned())]).into_response()
}

fn with_cookies(mut response: Response, cookies: &[String]) -> Response {
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

fn failed(err: impl std::fmt::Display) -> PageError {
    tracing::error!(error = %err, "console request failed");
    PageError::Failed
}

fn random_token() -> Result<String, PageError> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(failed)?;
    Ok(hex::encode(bytes))
}

/// The browser's form token, or a new one with the cookie that sets it.
fn form_token(headers: &HeaderMap) -> Result<(String, Vec<String>), PageError> {
    match session::cookie(headers, FORM_COOKIE) {
        Some(token) if token.len() == 48 && token.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok((token.to_owned(), Vec::new()))
        }
        _ => {
            let token = random_token()?;
            let secure = session::over_https(headers);
            let cookie = set_cookie(FORM_COOKIE, &token, Some(3600), secure);
            Ok((token, vec![cookie]))
        }
    }
}

/// Whether a signed-out form (sign-in, set-password) came from this
/// browser's copy of the host's page.
fn form_is_ours(headers: &HeaderMap, sent: &str) -> bool {
    same_origin(headers)
        && session::cookie(headers, FORM_COOKIE).is_some_and(|ours| same_token(ours, sent))
}

fn refused_form(lang: Lang) -> Response {
    (
        StatusCode::FORBIDDEN,
        pages::problem(lang, Text::FormRefused),
    )
        .into_response()
}

async fn home(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let Some(session) = visitor.session else {
        return Ok(see_other("/sign-in"));
    };
    let apps = app_pages(&state, &session).await?;
    Ok(pages::home(lang, &session, &apps, None).into_response())
}

/// The apps whose pages a grid worker opens from the console: the active
/// installs of their district (each app's own origin decides what a
/// worker may do there).
async fn app_pages(
    state: &ApiState,
    session: &crate::accounts::sign_in::Session,
) -> Result<Vec<(String, String)>, PageError> {
    let (crate::accounts::Role::Worker, Some(district)) =
        (session.caller.role, session.caller.district.as_deref())
    else {
        return Ok(Vec::new());
    };
    Ok(state
        .platform
        .store()
        .list_installs(Some(district))
        .await
        .map_err(failed)?
        .into_iter()
        .filter(|i| i.status == crate::installs::store::InstallStatus::Active)
        .map(|i| (district.to_owned(), i.app))
        .collect())
}

#[derive(Deserialize)]
struct SignInQuery {
    #[serde(default)]
    done: Option<String>,
}

async fn sign_in_page(
    Language(lang): Language,
    visitor: Visitor,
    headers: HeaderMap,
    Query(q): Query<SignInQuery>,
) -> Result<Response, PageError> {
    if visitor.session.is_some() {
        return Ok(see_other("/"));
    }
    let (token, cookies) = form_token(&headers)?;
    let shown = q.done.map(|_| Notice::Done(Text::PasswordSetSignIn));
    Ok(with_cookies(
        pages::sign_in(lang, &token, "", shown, None).into_response(),
        &cookies,
    ))
}

#[derive(Deserialize)]
struct SignInForm {
    form: String,
    account: String,
    password: String,
}

async fn sign_in(
    State(state): State<ApiState>,
    Language(lang): Language,
    Address(address): Address,
    headers: HeaderMap,
    form: Result<Form<SignInForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Ok(Form(form)) = form else {
        return Ok(refused_form(lang));
    };
    if !form_is_ours(&headers, &form.form) {
        tracing::warn!(address, "sign-in form refused: wrong token or origin");
        return Ok(refused_form(lang));
    }
    let account = form.account.chars().take(64).collect::<String>();
    let shown = |status: StatusCode, text: Text, extra: Option<String>| {
        (
            status,
            pages::sign_in(lang, &form.form, &account, Some(Notice::Error(text)), extra),
        )
            .into_response()
    };
    match state
        .platform
        .sign_in()
        .sign_in(&form.account, &form.password, &address)
        .await
    {
        Ok(begun) => {
            let secure = session::over_https(&headers);
            let max_age = state.platform.sign_in().policy().session_max.as_secs();
            Ok(with_cookies(
                see_other("/"),
                &[
                    set_cookie(SESSION_COOKIE, &begun.secret, Some(max_age), secure),
                    set_cookie(FORM_COOKIE, "", None, secure),
                ],
            ))
        }
        Err(SignInError::Wrong) => Ok(shown(
            StatusCode::UNAUTHORIZED,
            Text::WrongIdOrPassword,
            None,
        )),
        Err(SignInError::Throttled { minutes }) => Ok(shown(
            StatusCode::TOO_MANY_REQUESTS,
            Text::TooManyFailures,
            Some(match lang {
                Lang::Zh => format!("{minutes} {}", lang.t(Text::Minutes)),
                Lang::En => format!("{minutes} {}.", lang.t(Text::Minutes)),
            }),
        )),
        Err(SignInError::Store(err)) => Err(failed(err)),
    }
}

#[derive(Deserialize)]
struct TokenForm {
    csrf: String,
}

/// A form a signed-in person sends, with its session's token.
trait SessionForm {
    fn csrf(&self) -> &str;
}

impl SessionForm for TokenForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// A signed-in person's form, checked: their session and the form, if it
/// came from the host's own origin with the session's token; otherwise
/// the answer to give (to the sign-in page, or "this form was refused").
fn signed_form<T: SessionForm>(
    lang: Lang,
    session: Option<crate::accounts::sign_in::Session>,
    headers: &HeaderMap,
    form: Result<Form<T>, FormRejection>,
) -> Result<(crate::accounts::sign_in::Session, T), Box<Response>> {
    let Some(session) = session else {
        return Err(Box::new(see_other("/sign-in")));
    };
    let Ok(Form(form)) = form else {
        return Err(Box::new(refused_form(lang)));
    };
    if !same_origin(headers) || !same_token(&session.csrf, form.csrf()) {
        return Err(Box::new(refused_form(lang)));
    }
    Ok((session, form))
}

async fn sign_out(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Some(secret) = visitor.secret else {
        return Ok(see_other("/sign-in"));
    };
    let (session, _) = match signed_form(lang, visitor.session, &headers, form) {
        Ok(checked) => checked,
        Err(answer) => return Ok(*answer),
    };
    state
        .platform
        .sign_in()
        .sign_out(&secret)
        .await
        .map_err(failed)?;
    tracing::info!(account = %session.caller.account_id, "signed out");
    let secure = session::over_https(&headers);
    Ok(with_cookies(
        see_other("/sign-in"),
        &[set_cookie(SESSION_COOKIE, "", None, secure)],
    ))
}

#[derive(Deserialize)]
struct CodeQuery {
    #[serde(default)]
    code: String,
}

async fn set_password_page(
    Language(lang): Language,
    headers: HeaderMap,
    Query(q): Query<CodeQuery>,
) -> Result<Response, PageError> {
    let (token, cookies) = form_token(&headers)?;
    let code = q.code.chars().take(40).collect::<String>();
    Ok(with_cookies(
        pages::set_password(lang, &token, &code, None).into_response(),
        &cookies,
    ))
}

#[derive(Deserialize)]
struct SetPasswordForm {
    form: String,
    code: String,
    password: String,
    repeat: String,
}

async fn set_password(
    State(state): State<ApiState>,
    Language(lang): Language,
    headers: HeaderMap,
    form: Result<Form<SetPasswordForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Ok(Form(form)) = form else {
        return Ok(refused_form(lang));
    };
    if !form_is_ours(&headers, &form.form) {
        return Ok(refused_form(lang));
    }
    let code = form.code.chars().take(40).collect::<String>();
    let again = |text: Text| {
        (
            StatusCode::BAD_REQUEST,
            pages::set_password(lang, &form.form, &code, Some(Notice::Error(text))),
        )
            .into_response()
    };
    if form.password != form.repeat {
        return Ok(again(Text::PasswordsDiffer));
    }
    match state
        .platform
        .sign_in()
        .redeem_code(&form.code, &form.password)
        .await
    {
        Ok(_) => Ok(see_other("/sign-in?done=password")),
        Err(PasswordError::CodeRefused) => Ok(again(Text::CodeRefused)),
        Err(PasswordError::Rule(_)) => Ok(again(Text::PasswordRule)),
        Err(PasswordError::CurrentWrong) => Ok(again(Text::CodeRefused)),
        Err(PasswordError::Store(err)) => Err(failed(err)),
    }
}

async fn password_page(Language(lang): Language, visitor: Visitor) -> Response {
    match visitor.session {
        Some(session) => pages::change_password(lang, &session, None).into_response(),
        None => see_other("/sign-in"),
    }
}

#[derive(Deserialize)]
struct ChangePasswordForm {
    csrf: String,
    current: String,
    password: String,
    repeat: String,
}

impl SessionForm for ChangePasswordForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn change_password(
    State(state): State<ApiState>,
    Language(lang): Language,
    Address(address): Address,
    visitor: Visitor,
    headers: HeaderMap,
    form: Result<Form<ChangePasswordForm>, FormRejection>,
) -> Result<Response, PageError> {
    let (session, form) = match signed_form(lang, visitor.session, &headers, form) {
        Ok(checked) => checked,
        Err(answer) => return Ok(*answer),
    };
    let again = |text: Text| -> Markup {
        pages::change_password(lang, &session, Some(Notice::Error(text)))
    };
    if form.password != form.repeat {
        return Ok((StatusCode::BAD_REQUEST, again(Text::PasswordsDiffer)).into_response());
    }
    let changed = state
        .platform
        .sign_in()
        .change_password(
            &session.caller.account_id,
            &form.current,
            &form.password,
            &address,
        )
        .await;
    let text = match changed {
        Ok(begun) => {
            let secure = session::over_https(&headers);
            let max_age = state.platform.sign_in().policy().session_max.as_secs();
            let fresh = crate::accounts::sign_in::Session {
                caller: begun.caller,
                display_name: session.display_name.clone(),
                csrf: begun.csrf,
            };
            let apps = app_pages(&state, &fresh).await?;
            let page = pages::home(
                lang,
                &fresh,
                &apps,
                Some(Notice::Done(Text::PasswordChanged)),
            );
            return Ok(with_cookies(
                page.into_response(),
                &[set_cookie(
                    SESSION_COOKIE,
                    &begun.secret,
                    Some(max_age),
                    secure,
                )],
            ));
        }
        Err(PasswordError::CurrentWrong) => Text::CurrentPasswordWrong,
        Err(PasswordError::Rule(_)) => Text::PasswordRule,
        Err(PasswordError::CodeRefused) => Text::FormRefused,
        Err(PasswordError::Store(err)) => return Err(failed(err)),
    };
    Ok((StatusCode::BAD_REQUEST, again(text)).into_response())
}

#[derive(Deserialize)]
struct LangQuery {
    to: String,
    #[serde(default)]
    back: String,
}

/// Keep the chosen language in a cookie and go back to the page the
/// switch was on (a path of the host's only).
async fn switch_language(headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let lang = Lang::from_tag(&q.to).unwrap_or(Lang::Zh);
    let local = q.back.starts_with('/')
        && !q.back.starts_with("//")
        && !q.back.contains(['\\', '\r', '\n']);
    let back = if local { q.back.as_str() } else { "/" };
    let secure = session::over_https(&headers);
    with_cookies(
        see_other(back),
        &[set_cookie(
            LANG_COOKIE,
            lang.tag(),
            Some(365 * 24 * 3600),
            secure,
        )],
    )
}

async fn stylesheet() -> Response {
    (
        [(CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("console/console.css"),
    )
        .into_response()
}

#[derive(Deserialize)]
struct DistrictQuery {
    #[serde(default)]
    district: Option<String>,
    #[serde(default)]
    done: Option<String>,
    /// Which page of a long list, from 0.
    #[serde(default)]
    page: Option<usize>,
}

/// Apps on one page of a district's list.
pub const APPS_PER_PAGE: usize = 100;

/// The district a page is about: the one asked for, else the person's
/// own; `None` if neither names a valid district.
fn district_of(
    session: &crate::accounts::sign_in::Session,
    asked: Option<String>,
) -> Option<String> {
    asked
        .or_else(|| session.caller.district.clone())
        .filter(|d| d.parse::<DistrictId>().is_ok())
}

/// A signed-in person on one district's page: the district (asked for
/// with `?district=`, else their own) and whether they may change it. The
/// one place the console decides who sees and who changes a district's
/// pages: its readers see them (administrators, auditors, the platform
/// administrator), its administrators change them.
pub(crate) struct DistrictPage {
    /// The person.
    pub(crate) session: crate::accounts::sign_in::Session,
    /// The district.
    pub(crate) district: String,
    /// Whether they administer it.
    pub(crate) may_change: bool,
}

impl DistrictPage {
    /// The page for `session` (none: to the sign-in page), or the answer
    /// to give instead: not found for a district that is not valid, not
    /// allowed for someone who does not read it.
    pub(crate) fn read(
        lang: Lang,
        session: Option<crate::accounts::sign_in::Session>,
        asked: Option<String>,
    ) -> Result<Self, Box<Response>> {
        let Some(session) = session else {
            return Err(Box::new(see_other("/sign-in")));
        };
        let Some(district) = district_of(&session, asked) else {
            return Err(Box::new(not_found(lang)));
        };
        let caller = Authenticated(session.caller.clone());
        if caller.require_reader(&district).is_err() {
            return Err(Box::new(not_allowed(lang)));
        }
        let may_change = caller.require_admin(&district).is_ok();
        Ok(DistrictPage {
            session,
            district,
            may_change,
        })
    }

    /// The same, for those who change it only.
    pub(crate) fn change(
        lang: Lang,
        session: Option<crate::accounts::sign_in::Session>,
        asked: Option<String>,
    ) -> Result<Self, Box<Response>> {
        let page = Self::read(lang, session, asked)?;
        if !page.may_change {
            return Err(Box::new(not_allowed(lang)));
        }
        Ok(page)
    }
}

/// What to tell the person of a platform error: its words, for a refusal
/// they can act on; an internal error is logged and the page fails.
fn refusal(err: PlatformError) -> Result<String, PageError> {
    match err {
        PlatformError::Store(_) | PlatformError::Runtime(_) => Err(failed(err)),
        refused => Ok(refused.to_string()),
    }
}

fn not_allowed(lang: Lang) -> Response {
    (
        StatusCode::FORBIDDEN,
        pages::problem(lang, Text::NotAllowed),
    )
        .into_response()
}

fn not_found(lang: Lang) -> Response {
    (StatusCode::NOT_FOUND, pages::problem(lang, Text::NotFound)).into_response()
}

/// A district's apps, for its administrators and auditors (and the
/// platform administrator, with `?district=`).
async fn apps_page(
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
    let store = state.platform.store();
    if !store.district_exists(&district).await.map_err(failed)? {
        return Ok(not_found(lang));
    }
    let installs = store.list_installs(Some(&district)).await.map_err(failed)?;
    let rollbacks = match may_change {
        true => store.apps_with_history(&district).await.map_err(failed)?,
        false => Default::default(),
    };
    let shown = match q.done.as_deref() {
        Some("suspended") => Some(Notice::Done(Text::AppSuspended)),
        Some("resumed") => Some(Notice::Done(Text::AppResumed)),
        Some("installed") => Some(Notice::Done(Text::AppInstalled)),
        Some("upgraded") => Some(Notice::Done(Text::AppUpgraded)),
        Some("rolled-back") => Some(Notice::Done(Text::AppRolledBack)),
        Some("uninstalled") => Some(Notice::Done(Text::AppUninstalled)),
        _ => None,
    };
    let figures = state.metrics.call_figures(&district);
    let pages_count = installs.len().div_ceil(APPS_PER_PAGE).max(1);
    let page = q.page.unwrap_or(0).min(pages_count - 1);
    let shown_installs = &installs[(page * APPS_PER_PAGE).min(installs.len())
        ..((page + 1) * APPS_PER_PAGE).min(installs.len())];
    Ok(pages::apps(
        lang,
        &session,
        &district,
        shown_installs,
        (page, pages_count),
        &rollbacks,
        &figures,
        may_change,
        shown,
    )
    .into_response())
}

/// Suspend or resume one of a district's apps, for its administrators.
async fn app_action(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    headers: HeaderMap,
    Path((app, action)): Path<(String, String)>,
    Query(q): Query<DistrictQuery>,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<Response, PageError> {
    let (session, _) = match signed_form(lang, visitor.session, &headers, form) {
        Ok(checked) => checked,
        Err(answer) => return Ok(*answer),
    };
    let DistrictPage {
        session, district, ..
    } = match DistrictPage::change(lang, Some(session), q.district) {
        Ok(page) => page,
        Err(answer) => return Ok(*answer),
    };
    let Ok(app) = app.parse::<AppName>() else {
        return Ok(not_found(lang));
    };
    let platform = &state.platform;
    let by = &session.caller.account_id;
    let done = match action.as_str() {
        "suspend" => {
            let reason = format!(
                "{} / {} ({by})",
                Text::SuspendedInConsole.zh(),
                Text::SuspendedInConsole.en()
            );
            platform
                .suspend(&district, &app, &reason)
                .await
                .map(|_| "suspended")
        }
        "resume" => platform.resume(&district, &app).await.map(|_| "resumed"),
        "rollback" => platform
            .rollback(&district, &app)
            .await
            .map(|_| "rolled-back"),
        _ => return Ok(not_found(lang)),
    };
    match done {
        Ok(done) => {
            tracing::info!(district, app = %app, by = %by, done, "app changed in the console");
            Ok(see_other(&format!("/apps?district={district}&done={done}")))
        }
        Err(PlatformError::NotFound(_)) => Ok(not_found(lang)),
        Err(err) => Ok((
            StatusCode::CONFLICT,
            pages::problem_with(lang, Text::ChangeRefused, &refusal(err)?),
        )
            .into_response()),
    }
}

/// A header map from name and value pairs, for the console's unit tests.
#[cfg(test)]
pub(crate) fn test_headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            axum::http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
            value.parse().expect("value"),
        );
    }
    map
}
