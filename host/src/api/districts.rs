//! `/api/v1/districts`: create, list and show districts, and set a
//! district's share of the host.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::auth::Authenticated;
use crate::api::error::ApiError;
use crate::api::shared::ApiState;
use crate::kernel::districts::District;

pub(crate) fn router() -> Router<ApiState> {
    Router::new()
        .route("/districts", get(list).post(create))
        .route("/districts/{district}", get(show))
        .route(
            "/districts/{district}/shares",
            axum::routing::put(set_shares),
        )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDistrict {
    id: String,
    #[serde(default)]
    name: String,
}

async fn create(
    State(state): State<ApiState>,
    caller: Authenticated,
    body: Result<Json<NewDistrict>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<District>), ApiError> {
    caller.require_platform_admin()?;
    let Json(new) = body.map_err(|e| {
        ApiError::BadRequest(format!(
            "expected a JSON object {{\"id\": \"east\", \"name\": \"East District\"}}: {}",
            e.body_text()
        ))
    })?;
    let district = state.platform.create_district(&new.id, &new.name).await?;
    Ok((StatusCode::CREATED, Json(district)))
}

/// Platform administrators see every district; everyone else their own.
async fn list(
    State(state): State<ApiState>,
    caller: Authenticated,
) -> Result<Json<Vec<District>>, ApiError> {
    let all = state
        .platform
        .store()
        .list_districts()
        .await
        .map_err(crate::PlatformError::from)?;
    Ok(Json(
        all.into_iter()
            .filter(|d| caller.0.in_district(&d.id))
            .collect(),
    ))
}

async fn show(
    State(state): State<ApiState>,
    caller: Authenticated,
    Path(district): Path<String>,
) -> Result<Json<District>, ApiError> {
    caller.require_member(&district)?;
    Ok(Json(
        state
            .platform
            .store()
            .get_district(&district)
            .await
            .map_err(crate::PlatformError::from)?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Shares {
    /// The most calls of the district's apps alive at once; `null` for the
    /// host's default.
    calls: Option<u32>,
}

/// Set a district's share of the host; platform administrators only (a
/// district may not raise its own share).
async fn set_shares(
    State(state): State<ApiState>,
    caller: Authenticated,
    Path(district): Path<String>,
    body: Result<Json<Shares>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<District>, ApiError> {
    caller.require_platform_admin()?;
    let Json(shares) = body.map_err(|e| {
        ApiError::BadRequest(format!(
            "expected a JSON object {{\"calls\": 32}} (or {{\"calls\": null}} for the host's default): {}",
            e.body_text()
        ))
    })?;
    Ok(Json(
        state
            .platform
            .set_district_calls(&district, shares.calls)
            .await?,
    ))
}
