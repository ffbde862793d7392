//! Uninstalling an app (`/apps/{app}/uninstall`), after a confirmation
//! that names what is lost.
//!
//! The page says what the app keeps (its kv keys and bytes) and that its
//! earlier versions go with it. The administrator chooses to keep the data
//! (a later install of the same app finds it again) or to delete it; to
//! delete it they type the app's name, so that a slip of the mouse loses
//! nothing.

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
    DistrictPage, DistrictQuery, Language, PageError, SessionForm, failed, not_found, see_other,
    signed_form,
};
use crate::accounts::sign_in::Session;
use crate::api::shared::ApiState;
use crate::error::PlatformError;
use crate::installs::store::Install;
use crate::kernel::ids::AppName;
use crate::kernel::store::StoreError;
use crate::kv::store::KvUsage;

/// The install an administrator of its district may uninstall, with what
/// it keeps; or the answer to give instead.
async fn administered_install(
    state: &ApiState,
    lang: Lang,
    session: &Session,
    district: Option<String>,
    app: &str,
) -> Result<Result<(Install, KvUsage), Response>, PageError> {
    let district = match DistrictPage::change(lang, Some(session.clone()), district) {
        Ok(page) => page.district,
        Err(answer) => return Ok(Err(*answer)),
    };
    let Ok(app) = app.parse::<AppName>() else {
        return Ok(Err(not_found(lang)));
    };
    let store = state.platform.store();
    let install = match store.get_install(&district, &app).await {
        Ok(install) => install,
        Err(StoreError::NotFound(_)) => return Ok(Err(not_found(lang))),
        Err(err) => return Err(failed(err)),
    };
    let usage = store.kv_usage(&district, &app).await.map_err(failed)?;
    Ok(Ok((install, usage)))
}

/// `GET /apps/{app}/uninstall`: the confirmation.
pub(super) async fn confirm_page(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    Path(app): Path<String>,
    Query(q): Query<DistrictQuery>,
) -> Result<Response, PageError> {
    let Some(session) = visitor.session else {
        return Ok(see_other("/sign-in"));
    };
    match administered_install(&state, lang, &session, q.district, &app).await? {
        Ok((install, usage)) => Ok(render(lang, &session, &install, &usage, None).into_response()),
        Err(answer) => Ok(answer),
    }
}

#[derive(Deserialize)]
pub(super) struct UninstallForm {
    csrf: String,
    /// `keep` or `delete`.
    data: String,
    /// The app's name, typed, when deleting its data.
    #[serde(default)]
    confirm: String,
}

impl SessionForm for UninstallForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /apps/{app}/uninstall`.
pub(super) async fn uninstall(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    headers: HeaderMap,
    Path(app): Path<String>,
    Query(q): Query<DistrictQuery>,
    form: Result<Form<UninstallForm>, FormRejection>,
) -> Result<Response, PageError> {
    let (session, form) = match signed_form(lang, visitor.session, &headers, form) {
        Ok(checked) => checked,
        Err(answer) => return Ok(*answer),
    };
    let (install, usage) =
        match administered_install(&state, lang, &session, q.district, &app).await? {
            Ok(found) => found,
            Err(answer) => return Ok(answer),
        };
    let keep_data = match form.data.as_str() {
        "keep" => true,
        "delete" if form.confirm.trim() == install.app => false,
        _ => {
            let page = render(
                lang,
                &session,
                &install,
                &usage,
                Some(Notice::Error(Text::TypeTheName)),
            );
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    match state
        .platform
        .uninstall(&install.district, &install.app, keep_data)
        .await
    {
        Ok(()) => {
            tracing::info!(
                district = %install.district,
                app = %install.app,
                keep_data,
                by = %session.caller.account_id,
                "app uninstalled in the console"
            );
            Ok(see_other(&format!(
                "/apps?district={}&done=uninstalled",
                install.district
            )))
        }
        Err(PlatformError::NotFound(_)) => Ok(not_found(lang)),
        Err(err) => Err(failed(err)),
    }
}

fn render(
    lang: Lang,
    session: &Session,
    install: &Install,
    usage: &KvUsage,
    shown: Option<Notice>,
) -> Markup {
    let action = format!(
        "/apps/{}/uninstall?district={}",
        install.app, install.district
    );
    pages::page(
        lang,
        "/apps",
        Text::Uninstall,
        html! {
            h1 { (lang.t(Text::Uninstall)) " · " (install.app) " " (install.version) " · " (install.district) }
            (pages::notice(lang, shown, None))
            p { (lang.t(Text::UninstallStops)) }
            p #kept {
                (lang.t(Text::AppKeeps)) " "
                strong { (usage.keys) } " " (lang.t(Text::KvKeys)) ", "
                strong { (usage.bytes) } " " (lang.t(Text::Bytes))
            }
            form method="post" action=(action) {
                input type="hidden" name="csrf" value=(session.csrf);
                fieldset {
                    legend { (lang.t(Text::ItsData)) }
                    div.permission {
                        input type="radio" id="keep" name="data" value="keep" checked;
                        label for="keep" { (lang.t(Text::KeepData)) }
                    }
                    div.permission {
                        input type="radio" id="delete" name="data" value="delete";
                        label for="delete" { (lang.t(Text::DeleteData)) }
                    }
                }
                label for="confirm" { (lang.t(Text::TypeTheName)) " " code { (install.app) } }
                input id="confirm" name="confirm" autocomplete="off";
                button type="submit" { (lang.t(Text::Uninstall)) }
            }
            p { a href=(format!("/apps?district={}", install.district)) { (lang.t(Text::Apps)) } }
        },
    )
}
