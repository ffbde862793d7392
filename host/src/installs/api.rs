//! `/api/v1/districts/{district}/installs`: install, list, show, uninstall,
//! suspend and resume apps.

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;

use crate::api::auth::Authenticated;
use crate::api::district::{Admin, InDistrict, Reader};
use crate::api::error::ApiError;
use crate::api::shared::{ApiState, MAX_INSTALL_BODY};
use crate::error::PlatformError;
use crate::installs::ops::InstallRequest;
use crate::installs::store::Install;
use crate::kernel::manifest::Manifest;

pub(crate) fn router() -> Router<ApiState> {
    Router::new()
        .route("/installs", get(list_all))
        .route(
            "/districts/{district}/installs",
            get(list)
                .post(install)
                .layer(DefaultBodyLimit::max(MAX_INSTALL_BODY)),
        )
        .route(
            "/districts/{district}/installs/{app}",
            get(show).delete(uninstall),
        )
        .route(
            "/districts/{district}/installs/{app}/suspend",
            post(suspend),
        )
        .route("/districts/{district}/installs/{app}/resume", post(resume))
        .route(
            "/districts/{district}/installs/{app}/schedules",
            get(schedules),
        )
}

/// The install upload: a manifest (a JSON object, or the `hutong.toml` text)
/// and the component, base64-encoded.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewInstall {
    manifest: serde_json::Value,
    component_base64: String,
    #[serde(default)]
    grant: Vec<String>,
    #[serde(default)]
    config: Option<serde_json::Value>,
    #[serde(default)]
    communities: Option<Vec<String>>,
}

async fn install(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Admin>,
    body: Result<Json<NewInstall>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Install>), ApiError> {
    let Json(new) = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::PayloadTooLarge(format!(
                "install uploads are at most {MAX_INSTALL_BODY} bytes"
            ));
        }
        ApiError::BadRequest(format!(
            "expected a JSON object with `manifest` (object or hutong.toml text), `component_base64` and optional `grant` (list of permissions) and `config` (object): {}",
            e.body_text()
        ))
    })?;
    let manifest = match new.manifest {
        serde_json::Value::String(toml) => Manifest::from_toml(&toml),
        other => Manifest::from_json(other),
    }
    .map_err(PlatformError::from)?;
    let component = base64::engine::general_purpose::STANDARD
        .decode(new.component_base64.trim())
        .map_err(|e| {
            ApiError::BadRequest(format!("`component_base64` is not valid base64: {e}"))
        })?;
    let grant = crate::api::shared::permissions(&new.grant)?;
    let config = match new.config {
        None => serde_json::json!({}),
        Some(c @ serde_json::Value::Object(_)) => c,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "`config` must be a JSON object".into(),
            ));
        }
    };
    let installed = state
        .platform
        .install(InstallRequest {
            district: district.into_string(),
            manifest,
            component,
            grant,
            config,
            communities: new.communities,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(installed)))
}

async fn list_all(
    State(state): State<ApiState>,
    caller: Authenticated,
) -> Result<Json<Vec<Install>>, ApiError> {
    caller.require_platform_admin()?;
    Ok(Json(
        state
            .platform
            .store()
            .list_installs(None)
            .await
            .map_err(PlatformError::from)?,
    ))
}

async fn list(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Reader>,
) -> Result<Json<Vec<Install>>, ApiError> {
    let store = state.platform.store();
    store
        .get_district(&district)
        .await
        .map_err(PlatformError::from)?;
    Ok(Json(
        store
            .list_installs(Some(&district))
            .await
            .map_err(PlatformError::from)?,
    ))
}

#[derive(serde::Serialize)]
struct Schedules {
    schedules: Vec<crate::schedules::ScheduleView>,
    recent_runs: Vec<crate::schedules::store::ScheduleRun>,
}

/// An install's schedules, when each is next due, and its recent runs.
async fn schedules(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Reader>,
    Path((_, app)): Path<(String, String)>,
) -> Result<Json<Schedules>, ApiError> {
    let (schedules, recent_runs) = state.platform.schedules(&district, &app).await?;
    Ok(Json(Schedules {
        schedules,
        recent_runs,
    }))
}

/// One install, with what it keeps in kv (its quota is in `limits`).
#[derive(serde::Serialize)]
struct InstallView {
    #[serde(flatten)]
    install: Install,
    kv_usage: crate::kv::store::KvUsage,
}

async fn show(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Reader>,
    Path((_, app)): Path<(String, String)>,
) -> Result<Json<InstallView>, ApiError> {
    let store = state.platform.store();
    let install = store
        .get_install(&district, &app)
        .await
        .map_err(PlatformError::from)?;
    let kv_usage = store
        .kv_usage(&district, &app)
        .await
        .map_err(PlatformError::from)?;
    Ok(Json(InstallView { install, kv_usage }))
}

#[derive(Deserialize)]
struct UninstallQuery {
    #[serde(default)]
    keep_data: bool,
}

async fn uninstall(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Admin>,
    Path((_, app)): Path<(String, String)>,
    query: Result<Query<UninstallQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<StatusCode, ApiError> {
    let Query(q) = query.map_err(|e| {
        ApiError::BadRequest(format!(
            "expected `?keep_data=true|false`: {}",
            e.body_text()
        ))
    })?;
    state
        .platform
        .uninstall(&district, &app, q.keep_data)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SuspendBody {
    #[serde(default)]
    reason: Option<String>,
}

async fn suspend(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Admin>,
    Path((_, app)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<Install>, ApiError> {
    let body: SuspendBody =
        crate::api::shared::optional_json(&body, r#"{"reason": "maintenance"}"#)?;
    let reason = body
        .reason
        .unwrap_or_else(|| "suspended by an administrator".to_owned());
    Ok(Json(
        state.platform.suspend(&district, &app, &reason).await?,
    ))
}

async fn resume(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Admin>,
    Path((_, app)): Path<(String, String)>,
) -> Result<Json<Install>, ApiError> {
    Ok(Json(state.platform.resume(&district, &app).await?))
}
