//! Installing and upgrading an app from a registry with the
//! administrator's consent (`/install`), and rolling an upgrade back.
//!
//! The administrator names a registry (an `http://` or `https://` URL, as
//! over the API) and a package (`name@requirement`);
//! the host resolves and verifies the release (signature, trusted key, the
//! registry's log) and shows, before anything is installed, every
//! permission it asks for: its name, what it lets the app do in plain
//! words, and the publisher's reason. The administrator grants a subset
//! (nothing is granted unless ticked), may narrow the app to some of the
//! district's communities, and gives its configuration, which the install
//! checks against the manifest's schema. The form pins the exact version
//! shown, so what is installed is what was consented to.
//!
//! For an app already installed the same screen is the upgrade's: the
//! versions, the permissions the new version adds (each must be ticked:
//! the upgrade waits until they are) and drops, and, when another
//! publisher key signed it, a warning that must be acknowledged. `/apps`
//! offers rollback to the version before the last upgrade.

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::i18n::{Lang, Text, permission_sentence};
use super::pages;
use super::session::{Visitor, same_origin, same_token};
use super::{DistrictPage, Language, PageError, failed, refused_form, see_other};
use crate::accounts::sign_in::Session;
use crate::api::shared::ApiState;
use crate::error::PlatformError;
use crate::installs::registry::{
    PackagePlan, RegistryInstall, UpgradeRequest, check_remote_registry,
};
use crate::kernel::manifest::Permission;

/// The page's query: what to install, and where (for the platform
/// administrator).
#[derive(Clone, Debug, Default, Deserialize)]
pub(super) struct InstallQuery {
    #[serde(default)]
    district: Option<String>,
    #[serde(default)]
    registry: Option<String>,
    #[serde(default)]
    package: Option<String>,
}

/// What the person asked for and what came of it, to show again.
struct Shown<'a> {
    district: &'a str,
    registry: &'a str,
    package: &'a str,
    plan: Option<&'a PackagePlan>,
    communities: &'a [(String, String)],
    /// Ticked permissions and communities, and the configuration, when the
    /// form is shown again.
    granted: &'a BTreeSet<String>,
    narrowed: &'a BTreeSet<String>,
    config: &'a str,
    problem: Option<(Text, String)>,
}

/// A platform error a person can act on, as a lead and the detail; an
/// internal one is logged and the page fails.
fn problem(lead: Text, err: PlatformError) -> Result<(Text, String), PageError> {
    Ok((lead, super::refusal(err)?))
}

/// The district a signed-in administrator installs into, or the answer to
/// give instead.
fn administered(
    lang: Lang,
    session: &Session,
    asked: Option<String>,
) -> Result<String, Box<Response>> {
    DistrictPage::change(lang, Some(session.clone()), asked).map(|page| page.district)
}

/// `GET /install`: the form, or what installing the named package would do.
pub(super) async fn install_page(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    Query(q): Query<InstallQuery>,
) -> Result<Response, PageError> {
    let Some(session) = visitor.session else {
        return Ok(see_other("/sign-in"));
    };
    let district = match administered(lang, &session, q.district.clone()) {
        Ok(district) => district,
        Err(answer) => return Ok(*answer),
    };
    let registry = q.registry.unwrap_or_default().trim().to_owned();
    let package = q.package.unwrap_or_default().trim().to_owned();
    let communities = state
        .platform
        .store()
        .list_communities(&district)
        .await
        .map_err(failed)?;
    let (plan, shown_problem) = if registry.is_empty() || package.is_empty() {
        (None, None)
    } else {
        let plan = match check_remote_registry(&registry) {
            Ok(()) => {
                state
                    .platform
                    .plan_from_registry(&district, &registry, &package)
                    .await
            }
            Err(refused) => Err(refused),
        };
        match plan {
            Ok(plan) => (Some(plan), None),
            Err(err) => (None, Some(problem(Text::ReleaseRefused, err)?)),
        }
    };
    let status = if shown_problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let empty = BTreeSet::new();
    let shown = Shown {
        district: &district,
        registry: &registry,
        package: &package,
        plan: plan.as_ref(),
        communities: &communities,
        granted: &empty,
        narrowed: &empty,
        config: "{}",
        problem: shown_problem,
    };
    Ok((status, render(lang, &session, &shown)).into_response())
}

/// The fields of a form, repeated ones included, decoded.
fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    reqwest::Url::parse(&format!("http://form.invalid/?{text}"))
        .map(|url| url.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

/// `POST /install`: install or upgrade as consented.
pub(super) async fn install(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    headers: HeaderMap,
    Query(q): Query<InstallQuery>,
    body: Bytes,
) -> Result<Response, PageError> {
    let Some(session) = visitor.session else {
        return Ok(see_other("/sign-in"));
    };
    let pairs = form_pairs(&body);
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let all = |name: &str| -> BTreeSet<String> {
        pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    if !same_origin(&headers) || !same_token(&session.csrf, &field("csrf")) {
        return Ok(refused_form(lang));
    }
    let district = match administered(lang, &session, q.district.clone()) {
        Ok(district) => district,
        Err(answer) => return Ok(*answer),
    };
    let (registry, package, config_text) = (field("registry"), field("package"), field("config"));
    let granted = all("grant");
    let narrowed = all("community");
    let upgrading = field("mode") == "upgrade";
    let platform = &state.platform;
    let mut grant = BTreeSet::new();
    for name in &granted {
        match name.parse::<Permission>() {
            Ok(p) => {
                grant.insert(p);
            }
            Err(_) => return Ok(refused_form(lang)),
        }
    }
    let outcome = if let Err(refused) = check_remote_registry(&registry) {
        Err(refused)
    } else if upgrading {
        platform
            .upgrade(UpgradeRequest {
                district: district.clone(),
                registry: registry.clone(),
                package: package.clone(),
                grant,
                allow_new_publisher: field("new_publisher") == "yes",
            })
            .await
            .map(|report| ("upgraded", report.install.app))
    } else {
        let config =
            match serde_json::from_str::<serde_json::Value>(if config_text.trim().is_empty() {
                "{}"
            } else {
                &config_text
            }) {
                Ok(config) if config.is_object() => Ok(config),
                _ => Err(PlatformError::Invalid(
                    "the configuration must be a JSON object, like {\"threshold\": 3}".into(),
                )),
            };
        match config {
            Ok(config) => platform
                .install_from_registry(RegistryInstall {
                    district: district.clone(),
                    registry: registry.clone(),
                    package: package.clone(),
                    grant,
                    grant_all: false,
                    config,
                    communities: (!narrowed.is_empty()).then(|| narrowed.iter().cloned().collect()),
                })
                .await
                .map(|install| ("installed", install.app)),
            Err(err) => Err(err),
        }
    };
    match outcome {
        Ok((done, app)) => {
            tracing::info!(
                district,
                app,
                by = %session.caller.account_id,
                done,
                "app changed in the console"
            );
            Ok(see_other(&format!("/apps?district={district}&done={done}")))
        }
        Err(err) => {
            let lead = if upgrading {
                Text::UpgradeRefused
            } else {
                Text::InstallRefused
            };
            let shown_problem = problem(lead, err)?;
            let plan = platform
                .plan_from_registry(&district, &registry, &package)
                .await
                .ok();
            let communities = platform
                .store()
                .list_communities(&district)
                .await
                .map_err(failed)?;
            let shown = Shown {
                district: &district,
                registry: &registry,
                package: &package,
                plan: plan.as_ref(),
                communities: &communities,
                granted: &granted,
                narrowed: &narrowed,
                config: &config_text,
                problem: Some(shown_problem),
            };
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                render(lang, &session, &shown),
            )
                .into_response())
        }
    }
}

fn permission_rows(
    lang: Lang,
    permissions: &[(Permission, String)],
    ticked: impl Fn(Permission) -> bool,
    required: bool,
) -> Markup {
    html! {
        @for (permission, reason) in permissions {
            @let id = format!("grant-{permission}");
            div.permission {
                input type="checkbox" id=(id) name="grant" value=(permission)
                    checked[ticked(*permission)] required[required];
                label for=(id) {
                    (permission_sentence(lang, *permission))
                    " " code { (permission) }
                }
                p.hint { (lang.t(Text::PublisherReason)) "：" (reason) }
            }
        }
    }
}

fn render(lang: Lang, session: &Session, shown: &Shown<'_>) -> Markup {
    let district = shown.district;
    let action = match session.caller.district {
        Some(_) => "/install".to_owned(),
        None => format!("/install?district={district}"),
    };
    pages::page(
        lang,
        "/install",
        Text::InstallApp,
        html! {
            h1 { (lang.t(Text::InstallApp)) " · " (district) }
            @if let Some((lead, detail)) = &shown.problem {
                div.error role="alert" {
                    p { (lang.t(*lead)) }
                    p lang="en" { (detail) }
                }
            }
            form method="get" action="/install" {
                @if session.caller.district.is_none() {
                    input type="hidden" name="district" value=(district);
                }
                label for="registry" { (lang.t(Text::Registry)) }
                input id="registry" name="registry" value=(shown.registry) required
                    placeholder="https://registry.example.org";
                label for="package" { (lang.t(Text::Package)) }
                input id="package" name="package" value=(shown.package) required
                    placeholder="smart-care@^1";
                p.hint { (lang.t(Text::PackageHint)) }
                button type="submit" { (lang.t(Text::ShowRelease)) }
            }
            @if let Some(plan) = shown.plan {
                @let upgrading = plan.installed.is_some();
                section aria-labelledby="consent" {
                    h2 id="consent" {
                        @if upgrading { (lang.t(Text::UpgradeConsent)) } @else { (lang.t(Text::InstallConsent)) }
                    }
                    dl {
                        dt { (lang.t(Text::App)) } dd { (plan.name) }
                        @if let Some(installed) = &plan.installed {
                            dt { (lang.t(Text::Installed)) } dd { (installed) }
                            dt { (lang.t(Text::UpgradeTo)) } dd { strong { (plan.version) } }
                        } @else {
                            dt { (lang.t(Text::Version)) } dd { (plan.version) }
                        }
                        dt { (lang.t(Text::PublisherKey)) } dd { code { (plan.source.key_id) } }
                        dt { (lang.t(Text::Registry)) } dd { (plan.source.registry) }
                    }
                    @if upgrading && plan.installed.as_deref() == Some(plan.version.as_str()) {
                        p.done role="status" { (lang.t(Text::AlreadyNewest)) }
                    } @else {
                        form method="post" action=(action) {
                            input type="hidden" name="csrf" value=(session.csrf);
                            input type="hidden" name="registry" value=(shown.registry);
                            // The exact version shown: what is installed is what was consented to.
                            input type="hidden" name="package" value=(format!("{}@={}", plan.name, plan.version));
                            @if upgrading {
                                input type="hidden" name="mode" value="upgrade";
                                @if plan.added.is_empty() {
                                    p { (lang.t(Text::AddsNothing)) }
                                } @else {
                                    fieldset {
                                        legend { (lang.t(Text::AddedPermissions)) }
                                        (permission_rows(lang, &plan.added, |p| shown.granted.contains(p.name()), true))
                                    }
                                }
                                @if !plan.removed.is_empty() {
                                    p {
                                        (lang.t(Text::RemovedPermissions)) " "
                                        @for p in &plan.removed { code { (p) } " " }
                                    }
                                }
                                @if plan.installed_key_id.as_ref().is_some_and(|k| *k != plan.source.key_id) {
                                    p.error role="alert" { (lang.t(Text::NewPublisherWarning)) }
                                    div.permission {
                                        input type="checkbox" id="new_publisher" name="new_publisher" value="yes" required;
                                        label for="new_publisher" { (lang.t(Text::NewPublisherConsent)) }
                                    }
                                }
                                button type="submit" { (lang.t(Text::Upgrade)) }
                            } @else {
                                input type="hidden" name="mode" value="install";
                                fieldset {
                                    legend { (lang.t(Text::GrantWhich)) }
                                    (permission_rows(lang, &plan.permissions, |p| shown.granted.contains(p.name()), false))
                                }
                                fieldset {
                                    legend { (lang.t(Text::NarrowTo)) }
                                    @if shown.communities.is_empty() {
                                        p.hint { (lang.t(Text::NoCommunities)) }
                                    }
                                    @for (id, name) in shown.communities {
                                        @let field = format!("community-{id}");
                                        div.permission {
                                            input type="checkbox" id=(field) name="community" value=(id)
                                                checked[shown.narrowed.contains(id)];
                                            label for=(field) { (name) " " code { (id) } }
                                        }
                                    }
                                }
                                label for="config" { (lang.t(Text::Configuration)) }
                                textarea id="config" name="config" rows="4" { (shown.config) }
                                p.hint { (lang.t(Text::ConfigurationHint)) }
                                button type="submit" { (lang.t(Text::Install)) }
                            }
                        }
                    }
                }
            }
            p { a href="/apps" { (lang.t(Text::Apps)) } }
        },
    )
}
