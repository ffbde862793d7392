//! The district's catalogue (`/catalogue`): what its registries hold.
//!
//! For each package of each registry the district installs from: its
//! description, its versions (newest first, yanked ones left out), the
//! publisher key of the newest release and whether the district trusts it,
//! and what is installed; a link to the install (or upgrade) consent
//! screen for the newest version. Administrators add and remove the
//! registries here. A registry that cannot be read, or whose log does not
//! check out, is named with why.

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
    DistrictPage, DistrictQuery, Language, PageError, SessionForm, failed, not_found, refusal,
    see_other, signed_form,
};
use crate::accounts::sign_in::Session;
use crate::api::shared::ApiState;
use crate::installs::registry::Catalogue;
use crate::installs::registry_store::DistrictRegistry;

/// Versions listed per package.
const VERSIONS_SHOWN: usize = 5;

/// `GET /catalogue`.
pub(super) async fn catalogue_page(
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
        Some("added") => Some(Notice::Done(Text::RegistryAdded)),
        Some("removed") => Some(Notice::Done(Text::RegistryRemoved)),
        _ => None,
    };
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
    let platform = &state.platform;
    let registries = platform
        .district_registries(district)
        .await
        .map_err(failed)?;
    let catalogue = match platform.catalogue(district).await {
        Ok(catalogue) => catalogue,
        Err(err) => return Err(failed(err)),
    };
    Ok(render(
        lang,
        session,
        district,
        &registries,
        &catalogue,
        may_change,
        shown,
        problem,
    ))
}

#[derive(Deserialize)]
pub(super) struct RegistryForm {
    csrf: String,
    location: String,
}

impl SessionForm for RegistryForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /catalogue/registries/{add|remove}`.
pub(super) async fn change_registry(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    headers: HeaderMap,
    axum::extract::Path(action): axum::extract::Path<String>,
    Query(q): Query<DistrictQuery>,
    form: Result<Form<RegistryForm>, FormRejection>,
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
    let platform = &state.platform;
    let done = match action.as_str() {
        "add" => platform
            .add_district_registry(&district, &form.location, &session.caller.account_id)
            .await
            .map(|_| "added"),
        "remove" => platform
            .remove_district_registry(&district, &form.location)
            .await
            .map(|_| "removed"),
        _ => return Ok(not_found(lang)),
    };
    match done {
        Ok(done) => {
            tracing::info!(district, registry = %form.location, by = %session.caller.account_id, done, "registry list changed in the console");
            Ok(see_other(&format!(
                "/catalogue?district={district}&done={done}"
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

/// The consent screen for `name@=version` from `registry`.
fn install_link(district: &str, registry: &str, name: &str, version: &str) -> String {
    reqwest::Url::parse_with_params(
        "http://console.invalid/install",
        [
            ("district", district),
            ("registry", registry),
            ("package", &format!("{name}@={version}")),
        ],
    )
    .map(|url| format!("/install?{}", url.query().unwrap_or_default()))
    .unwrap_or_else(|_| "/install".to_owned())
}

#[expect(
    clippy::too_many_arguments,
    reason = "one page's parts, each shown in its own section"
)]
fn render(
    lang: Lang,
    session: &Session,
    district: &str,
    registries: &[DistrictRegistry],
    catalogue: &Catalogue,
    may_change: bool,
    shown: Option<Notice>,
    problem: Option<String>,
) -> Markup {
    let query = format!("?district={district}");
    pages::page(
        lang,
        "/catalogue",
        Text::Catalogue,
        html! {
            h1 { (lang.t(Text::Catalogue)) " · " (district) }
            (pages::notice(lang, shown, problem))
            @for (registry, why) in &catalogue.unreadable {
                p.error role="alert" {
                    (lang.t(Text::RegistryUnreadable)) " " code { (registry) }
                    br; span lang="en" { (why) }
                }
            }
            @if catalogue.entries.is_empty() {
                p { (lang.t(Text::CatalogueEmpty)) }
            } @else {
                table #packages {
                    thead {
                        tr {
                            th scope="col" { (lang.t(Text::App)) }
                            th scope="col" { (lang.t(Text::Versions)) }
                            th scope="col" { (lang.t(Text::PublisherKey)) }
                            th scope="col" { (lang.t(Text::Installed)) }
                            @if may_change { th scope="col" { (lang.t(Text::Actions)) } }
                        }
                    }
                    tbody {
                        @for entry in &catalogue.entries {
                            tr id=(format!("package-{}", entry.name)) {
                                td data-label=(lang.t(Text::App)) {
                                    strong { (entry.name) }
                                    br; small { (entry.description) }
                                    br; small { (entry.registry) }
                                }
                                td data-label=(lang.t(Text::Versions)) {
                                    (entry.versions.iter().take(VERSIONS_SHOWN).cloned().collect::<Vec<_>>().join(", "))
                                    @if entry.versions.len() > VERSIONS_SHOWN { " …" }
                                }
                                td data-label=(lang.t(Text::PublisherKey)) {
                                    code { (entry.key_id) }
                                    br;
                                    @if entry.trusted { span.ok { (lang.t(Text::KeyTrusted)) } }
                                    @else { span.error { (lang.t(Text::KeyNotTrusted)) } }
                                }
                                td data-label=(lang.t(Text::Installed)) {
                                    (entry.installed.clone().unwrap_or_else(|| "—".to_owned()))
                                }
                                @if may_change {
                                    td data-label=(lang.t(Text::Actions)) {
                                        @let newest = entry.versions.first().cloned().unwrap_or_default();
                                        @if !entry.trusted {
                                            small { (lang.t(Text::TrustFirst)) }
                                        } @else if !entry.host_api_compatible {
                                            small { (lang.t(Text::NotForThisHost)) }
                                        } @else if entry.installed.as_deref() == Some(newest.as_str()) {
                                            small { (lang.t(Text::AlreadyNewestShort)) }
                                        } @else {
                                            a.install href=(install_link(district, &entry.registry, &entry.name, &newest)) {
                                                @if entry.installed.is_some() { (lang.t(Text::Upgrade)) " " (newest) }
                                                @else { (lang.t(Text::Install)) " " (newest) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="registries" {
                h2 id="registries" { (lang.t(Text::Registries)) }
                @if registries.is_empty() { p { (lang.t(Text::NoRegistries)) } }
                ul {
                    @for r in registries {
                        li {
                            code { (r.location) }
                            @if may_change {
                                " "
                                form.inline method="post" action=(format!("/catalogue/registries/remove{query}")) {
                                    input type="hidden" name="csrf" value=(session.csrf);
                                    input type="hidden" name="location" value=(r.location);
                                    button type="submit" { (lang.t(Text::Remove)) }
                                }
                            }
                        }
                    }
                }
                @if may_change {
                    form method="post" action=(format!("/catalogue/registries/add{query}")) {
                        input type="hidden" name="csrf" value=(session.csrf);
                        label for="location" { (lang.t(Text::Registry)) }
                        input id="location" name="location" type="url" required placeholder="https://registry.example.org";
                        button type="submit" { (lang.t(Text::AddRegistry)) }
                    }
                }
            }
            p { a href="/apps" { (lang.t(Text::Apps)) } " · " a href="/" { (lang.t(Text::BackHome)) } }
        },
    )
}
