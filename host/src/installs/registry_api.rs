//! Registry installs over the API: a district's trusted publisher keys, the
//! registries it installs from and what they hold (the catalogue), install
//! of a release from a registry, upgrade, rollback and the versions an
//! install ran before.
//!
//! Over the API a registry is an `http://` URL: a registry directory is a
//! path on the host's disk, which only the operator at the CLI names.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::api::district::{Admin, InDistrict, Reader};
use crate::api::error::ApiError;
use crate::api::shared::{ApiState, json_body};
use crate::installs::registry::{Catalogue, RegistryInstall, UpgradeReport, UpgradeRequest};
use crate::installs::registry_store::{DistrictRegistry, TrustedKeyRow};
use crate::installs::store::{Install, PreviousVersion};

pub(crate) fn router() -> Router<ApiState> {
    Router::new()
        .route("/districts/{district}/trusted-keys", get(keys).post(trust))
        .route(
            "/districts/{district}/trusted-keys/{key_id}",
            delete(revoke),
        )
        .route("/districts/{district}/registry-installs", post(install))
        .route(
            "/districts/{district}/registries",
            get(registries).post(add_registry).delete(remove_registry),
        )
        .route("/districts/{district}/catalogue", get(catalogue))
        .route(
            "/districts/{district}/installs/{app}/upgrade",
            post(upgrade),
        )
        .route(
            "/districts/{district}/installs/{app}/rollback",
            post(rollback),
        )
        .route("/districts/{district}/installs/{app}/history", get(history))
}

fn http_registry(registry: &str) -> Result<(), ApiError> {
    crate::installs::registry::check_remote_registry(registry)
        .map_err(|refused| ApiError::BadRequest(refused.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    public_key: String,
    #[serde(default)]
    name: String,
}

async fn trust(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Admin>,
    body: Result<Json<NewKey>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<TrustedKeyRow>), ApiError> {
    let new = json_body(
        body,
        r#"{"public_key": "<64 hex digits>", "name": "Example Co."}"#,
    )?;
    let row = state
        .platform
        .trust_key(&district, &new.public_key, &new.name)
        .await?;
    Ok((StatusCode::CREATED, Json(row)))
}

async fn keys(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Reader>,
) -> Result<Json<Vec<TrustedKeyRow>>, ApiError> {
    Ok(Json(state.platform.trusted_keys(&district).await?))
}

async fn revoke(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Admin>,
    Path((_, key_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.platform.revoke_key(&district, &key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRegistryInstall {
    registry: String,
    package: String,
    #[serde(default)]
    grant: Vec<String>,
    #[serde(default)]
    config: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    communities: Option<Vec<String>>,
}

async fn install(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Admin>,
    body: Result<Json<NewRegistryInstall>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Install>), ApiError> {
    let new = json_body(
        body,
        r#"{"registry": "http://registry:8090", "package": "smart-care@^1.2", "grant": ["kv"]}"#,
    )?;
    http_registry(&new.registry)?;
    let installed = state
        .platform
        .install_from_registry(RegistryInstall {
            district: district.into_string(),
            registry: new.registry,
            package: new.package,
            grant: crate::api::shared::permissions(&new.grant)?,
            grant_all: false,
            config: serde_json::Value::Object(new.config.unwrap_or_default()),
            communities: new.communities,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(installed)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Upgrade {
    registry: String,
    /// A version requirement (`^1.3`); any newer version when absent.
    #[serde(default)]
    requirement: Option<String>,
    #[serde(default)]
    grant: Vec<String>,
    /// Accept a release signed by another publisher than the installed one.
    #[serde(default)]
    allow_new_publisher: bool,
}

async fn upgrade(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Admin>,
    Path((_, app)): Path<(String, String)>,
    body: Result<Json<Upgrade>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<UpgradeReport>, ApiError> {
    let up = json_body(
        body,
        r#"{"registry": "http://registry:8090", "requirement": "^1.3", "grant": ["read-households"]}"#,
    )?;
    http_registry(&up.registry)?;
    let report = state
        .platform
        .upgrade(UpgradeRequest {
            district: district.into_string(),
            registry: up.registry,
            package: format!("{app}@{}", up.requirement.as_deref().unwrap_or("*")),
            grant: crate::api::shared::permissions(&up.grant)?,
            allow_new_publisher: up.allow_new_publisher,
        })
        .await?;
    Ok(Json(report))
}

async fn rollback(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Admin>,
    Path((_, app)): Path<(String, String)>,
) -> Result<Json<Install>, ApiError> {
    let (_, restored) = state.platform.rollback(&district, &app).await?;
    Ok(Json(restored))
}

async fn history(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Reader>,
    Path((_, app)): Path<(String, String)>,
) -> Result<Json<Vec<PreviousVersion>>, ApiError> {
    Ok(Json(state.platform.install_history(&district, &app).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryBody {
    location: String,
}

/// The registries the district installs from.
async fn registries(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Reader>,
) -> Result<Json<Vec<DistrictRegistry>>, ApiError> {
    Ok(Json(state.platform.district_registries(&district).await?))
}

/// Add one (`{"location": "https://…"}`).
async fn add_registry(
    State(state): State<ApiState>,
    InDistrict {
        id: district,
        caller,
        ..
    }: InDistrict<Admin>,
    body: Result<Json<RegistryBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<DistrictRegistry>), ApiError> {
    let body = json_body(body, r#"{"location": "https://registry.example.org"}"#)?;
    let row = state
        .platform
        .add_district_registry(&district, &body.location, &caller.account_id)
        .await?;
    Ok((StatusCode::CREATED, Json(row)))
}

/// Take one off (`?location=`).
async fn remove_registry(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Admin>,
    Query(body): Query<RegistryBody>,
) -> Result<StatusCode, ApiError> {
    state
        .platform
        .remove_district_registry(&district, &body.location)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What the district's registries hold.
async fn catalogue(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Reader>,
) -> Result<Json<Catalogue>, ApiError> {
    Ok(Json(state.platform.catalogue(&district).await?))
}
