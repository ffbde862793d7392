//! A district's settings (`/settings`): its notification gateways and its
//! devices.
//!
//! - **Gateways**: the SMS, voice and webhook URLs and the per-install rate.
//!   The signing secret is write-only: the page says whether one is set,
//!   never what it is; an empty field keeps it.
//! - **Devices**: the district's devices by id, 100 a page, offline ones
//!   marked (or only those); registering one, or giving it a new token,
//!   shows the token this once; removing one.
//!
//! For the district's administrators; auditors see both, without the forms.

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
    DistrictPage, Language, PageError, SessionForm, TokenForm, failed, not_allowed, not_found,
    see_other, signed_form,
};
use crate::accounts::sign_in::Session;
use crate::api::shared::ApiState;
use crate::devices::ops::{DeviceRegistration, DeviceStatus, DeviceView, IssuedDevice};
use crate::error::PlatformError;
use crate::kernel::events::KINDS;
use crate::notify::ops::{GatewaySettings, GatewayUpdate};

/// Devices on one page.
const DEVICES_PER_PAGE: u32 = 100;

#[derive(Debug, Default, Deserialize)]
pub(super) struct SettingsQuery {
    #[serde(default)]
    district: Option<String>,
    #[serde(default)]
    done: Option<String>,
    /// Only offline devices.
    #[serde(default)]
    offline: Option<String>,
    /// Devices after this id.
    #[serde(default)]
    after: Option<String>,
}

/// The district a signed-in person may see the settings of, and whether
/// they may change them; or the answer to give.
fn readable(
    lang: Lang,
    session: &Session,
    asked: Option<String>,
) -> Result<(String, bool), Box<Response>> {
    let page = DistrictPage::read(lang, Some(session.clone()), asked)?;
    Ok((page.district, page.may_change))
}

/// `GET /settings`.
pub(super) async fn settings_page(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    Query(q): Query<SettingsQuery>,
) -> Result<Response, PageError> {
    let Some(session) = visitor.session else {
        return Ok(see_other("/sign-in"));
    };
    let (district, may_change) = match readable(lang, &session, q.district.clone()) {
        Ok(found) => found,
        Err(answer) => return Ok(*answer),
    };
    let shown = match q.done.as_deref() {
        Some("gateways") => Some(Notice::Done(Text::GatewaysSaved)),
        Some("removed") => Some(Notice::Done(Text::DeviceRemoved)),
        _ => None,
    };
    let page = view(
        &state, lang, &session, &district, may_change, &q, shown, None,
    )
    .await?;
    Ok(page.into_response())
}

#[expect(
    clippy::too_many_arguments,
    reason = "one page's parts, each shown in its own section"
)]
async fn view(
    state: &ApiState,
    lang: Lang,
    session: &Session,
    district: &str,
    may_change: bool,
    q: &SettingsQuery,
    shown: Option<Notice>,
    problem: Option<String>,
) -> Result<Markup, PageError> {
    let platform = &state.platform;
    let gateways = platform.gateway_settings(district).await.map_err(failed)?;
    let offline = q.offline.is_some();
    let devices = platform
        .list_devices(district, offline, q.after.as_deref(), DEVICES_PER_PAGE)
        .await
        .map_err(failed)?;
    Ok(render(
        lang, session, district, may_change, &gateways, &devices, offline, shown, problem,
    ))
}

#[derive(Deserialize)]
pub(super) struct GatewayForm {
    csrf: String,
    #[serde(default)]
    sms_url: String,
    #[serde(default)]
    voice_url: String,
    #[serde(default)]
    webhook_url: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    rate_per_minute: String,
}

impl SessionForm for GatewayForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// The answer to a refused change: the page again, with why.
async fn refused(
    state: &ApiState,
    lang: Lang,
    session: &Session,
    district: &str,
    err: PlatformError,
) -> Result<Response, PageError> {
    let why = super::refusal(err)?;
    let q = SettingsQuery::default();
    let page = view(
        state,
        lang,
        session,
        district,
        true,
        &q,
        Some(Notice::Error(Text::AccountRefused)),
        Some(why),
    )
    .await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

/// `POST /settings/gateways`.
pub(super) async fn save_gateways(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    headers: HeaderMap,
    Query(q): Query<SettingsQuery>,
    form: Result<Form<GatewayForm>, FormRejection>,
) -> Result<Response, PageError> {
    let (session, form) = match signed_form(lang, visitor.session, &headers, form) {
        Ok(checked) => checked,
        Err(answer) => return Ok(*answer),
    };
    let district = match readable(lang, &session, q.district) {
        Ok((district, true)) => district,
        Ok((_, false)) => return Ok(not_allowed(lang)),
        Err(answer) => return Ok(*answer),
    };
    let given = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let rate = match given(&form.rate_per_minute).map(|r| r.parse::<i64>()) {
        None => None,
        Some(Ok(rate)) => Some(rate),
        Some(Err(_)) => {
            let err = PlatformError::Invalid(format!(
                "the rate `{}` is not a whole number of deliveries per minute",
                form.rate_per_minute.chars().take(20).collect::<String>()
            ));
            return refused(&state, lang, &session, &district, err).await;
        }
    };
    let update = GatewayUpdate {
        sms_url: given(&form.sms_url),
        voice_url: given(&form.voice_url),
        webhook_url: given(&form.webhook_url),
        // Write-only: an empty field keeps the secret there is.
        secret: given(&form.secret),
        rate_per_minute: rate,
    };
    match state.platform.set_gateway_settings(&district, update).await {
        Ok(_) => {
            tracing::info!(district, by = %session.caller.account_id, "gateways changed in the console");
            Ok(see_other(&format!(
                "/settings?district={district}&done=gateways"
            )))
        }
        Err(err) => refused(&state, lang, &session, &district, err).await,
    }
}

#[derive(Deserialize)]
pub(super) struct DeviceForm {
    csrf: String,
    id: String,
    kind: String,
    #[serde(default)]
    household_id: String,
    #[serde(default)]
    resident_id: String,
    #[serde(default)]
    heartbeat_secs: String,
}

impl SessionForm for DeviceForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /settings/devices`: register a device; its token is shown once.
pub(super) async fn register_device(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    headers: HeaderMap,
    Query(q): Query<SettingsQuery>,
    form: Result<Form<DeviceForm>, FormRejection>,
) -> Result<Response, PageError> {
    let (session, form) = match signed_form(lang, visitor.session, &headers, form) {
        Ok(checked) => checked,
        Err(answer) => return Ok(*answer),
    };
    let district = match readable(lang, &session, q.district) {
        Ok((district, true)) => district,
        Ok((_, false)) => return Ok(not_allowed(lang)),
        Err(answer) => return Ok(*answer),
    };
    let given = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let heartbeat = match given(&form.heartbeat_secs).map(|h| h.parse::<i64>()) {
        None => None,
        Some(Ok(secs)) => Some(secs),
        Some(Err(_)) => {
            let err = PlatformError::Invalid(
                "the heartbeat interval must be a whole number of seconds (10 to 604800)".into(),
            );
            return refused(&state, lang, &session, &district, err).await;
        }
    };
    let registered = state
        .platform
        .register_device(
            &district,
            DeviceRegistration {
                id: form.id.trim().to_owned(),
                kind: form.kind.trim().to_owned(),
                household_id: given(&form.household_id),
                resident_id: given(&form.resident_id),
                heartbeat_secs: heartbeat,
            },
        )
        .await;
    match registered {
        Ok(issued) => Ok(token_once(lang, &district, &issued).into_response()),
        Err(err) => refused(&state, lang, &session, &district, err).await,
    }
}

/// `POST /settings/devices/{id}/{rotate|remove}`.
pub(super) async fn device_action(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    Query(q): Query<SettingsQuery>,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<Response, PageError> {
    let (session, _) = match signed_form(lang, visitor.session, &headers, form) {
        Ok(checked) => checked,
        Err(answer) => return Ok(*answer),
    };
    let district = match readable(lang, &session, q.district) {
        Ok((district, true)) => district,
        Ok((_, false)) => return Ok(not_allowed(lang)),
        Err(answer) => return Ok(*answer),
    };
    let platform = &state.platform;
    let done = match action.as_str() {
        "rotate" => platform.rotate_device_token(&district, &id).await.map(Some),
        "remove" => platform.remove_device(&district, &id).await.map(|_| None),
        _ => return Ok(not_found(lang)),
    };
    match done {
        Ok(Some(issued)) => Ok(token_once(lang, &district, &issued).into_response()),
        Ok(None) => {
            tracing::info!(district, device = id, by = %session.caller.account_id, "device removed in the console");
            Ok(see_other(&format!(
                "/settings?district={district}&done=removed"
            )))
        }
        Err(PlatformError::NotFound(_)) => Ok(not_found(lang)),
        Err(err) => refused(&state, lang, &session, &district, err).await,
    }
}

/// A device's token, shown this once.
fn token_once(lang: Lang, district: &str, issued: &IssuedDevice) -> Markup {
    pages::page(
        lang,
        "/settings",
        Text::DeviceToken,
        html! {
            h1 { (lang.t(Text::DeviceToken)) " · " (issued.device.device.id) }
            p.error role="alert" { (lang.t(Text::DeviceTokenOnce)) }
            p { code #secret { (issued.token) } }
            p { a href=(format!("/settings?district={district}")) { (lang.t(Text::Settings)) } }
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
    may_change: bool,
    gateways: &GatewaySettings,
    devices: &[DeviceView],
    offline_only: bool,
    shown: Option<Notice>,
    problem: Option<String>,
) -> Markup {
    let query = format!("?district={district}");
    let url = |u: &Option<String>| u.clone().unwrap_or_default();
    pages::page(
        lang,
        "/settings",
        Text::Settings,
        html! {
            h1 { (lang.t(Text::Settings)) " · " (district) }
            (pages::notice(lang, shown, problem))
            section aria-labelledby="gateways" {
                h2 id="gateways" { (lang.t(Text::Gateways)) }
                form method="post" action=(format!("/settings/gateways{query}")) {
                    input type="hidden" name="csrf" value=(session.csrf);
                    label for="sms_url" { (lang.t(Text::SmsGateway)) }
                    input id="sms_url" name="sms_url" type="url" value=(url(&gateways.sms_url)) disabled[!may_change];
                    label for="voice_url" { (lang.t(Text::VoiceGateway)) }
                    input id="voice_url" name="voice_url" type="url" value=(url(&gateways.voice_url)) disabled[!may_change];
                    label for="webhook_url" { (lang.t(Text::WebhookUrl)) }
                    input id="webhook_url" name="webhook_url" type="url" value=(url(&gateways.webhook_url)) disabled[!may_change];
                    label for="secret" { (lang.t(Text::SigningSecret)) }
                    input id="secret" name="secret" type="password" autocomplete="new-password" disabled[!may_change]
                        placeholder=(lang.t(if gateways.secret_set { Text::SecretSet } else { Text::SecretNotSet }));
                    p.hint { (lang.t(Text::SecretWriteOnly)) }
                    label for="rate_per_minute" { (lang.t(Text::RatePerMinute)) }
                    input id="rate_per_minute" name="rate_per_minute" inputmode="numeric" value=(gateways.rate_per_minute) disabled[!may_change];
                    @if may_change { button type="submit" { (lang.t(Text::Save)) } }
                }
            }
            section aria-labelledby="devices" {
                h2 id="devices" { (lang.t(Text::Devices)) }
                nav {
                    @if offline_only {
                        a href=(format!("/settings{query}")) { (lang.t(Text::AllDevices)) }
                    } @else {
                        a href=(format!("/settings{query}&offline=1")) { (lang.t(Text::OfflineOnly)) }
                    }
                }
                @if devices.is_empty() {
                    p { (lang.t(Text::NoDevices)) }
                } @else {
                    table #device-list {
                        thead {
                            tr {
                                th scope="col" { (lang.t(Text::Device)) }
                                th scope="col" { (lang.t(Text::BoundTo)) }
                                th scope="col" { (lang.t(Text::Status)) }
                                @if may_change { th scope="col" { (lang.t(Text::Actions)) } }
                            }
                        }
                        tbody {
                            @for d in devices {
                                tr id=(format!("device-{}", d.device.id)) {
                                    td data-label=(lang.t(Text::Device)) { code { (d.device.id) } br; small { (d.device.kind) } }
                                    td data-label=(lang.t(Text::BoundTo)) {
                                        (d.device.household_id.clone().or_else(|| d.device.resident_id.clone()).unwrap_or_else(|| "—".to_owned()))
                                    }
                                    td data-label=(lang.t(Text::Status)) {
                                        @match d.status {
                                            DeviceStatus::Online => span.ok { (lang.t(Text::Online)) },
                                            DeviceStatus::Offline => {
                                                span.error { (lang.t(Text::Offline)) }
                                                @if let Some(since) = d.device.offline_since {
                                                    br; small { (super::pages::when(since)) }
                                                }
                                            }
                                        }
                                    }
                                    @if may_change {
                                        td data-label=(lang.t(Text::Actions)) {
                                            @for (action, label) in [("rotate", Text::NewToken), ("remove", Text::Remove)] {
                                                form.inline method="post" action=(format!("/settings/devices/{}/{action}{query}", d.device.id)) {
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
                    @if devices.len() == DEVICES_PER_PAGE as usize
                        && let Some(last) = devices.last()
                    {
                        p {
                            a href=(format!("/settings{query}{}&after={}", if offline_only { "&offline=1" } else { "" }, last.device.id)) {
                                (lang.t(Text::NextPage))
                            }
                        }
                    }
                }
                @if may_change {
                    h3 { (lang.t(Text::RegisterDevice)) }
                    form method="post" action=(format!("/settings/devices{query}")) {
                        input type="hidden" name="csrf" value=(session.csrf);
                        label for="device-id" { (lang.t(Text::Device)) }
                        input id="device-id" name="id" required autocomplete="off" placeholder="door-0101";
                        label for="kind" { (lang.t(Text::DeviceKind)) }
                        select id="kind" name="kind" {
                            @for kind in KINDS {
                                option value=(kind.name) { (kind.name) " — " (kind.description) }
                            }
                        }
                        label for="household_id" { (lang.t(Text::Household)) }
                        input id="household_id" name="household_id";
                        label for="resident_id" { (lang.t(Text::ResidentRecord)) }
                        input id="resident_id" name="resident_id";
                        label for="heartbeat_secs" { (lang.t(Text::Heartbeat)) }
                        input id="heartbeat_secs" name="heartbeat_secs" inputmode="numeric" placeholder="3600";
                        button type="submit" { (lang.t(Text::Register)) }
                    }
                }
            }
            p {
                a href=(format!("/settings/cases{query}")) { (lang.t(Text::CaseSettings)) }
                " · "
                a href="/" { (lang.t(Text::BackHome)) }
            }
        },
    )
}
