//! Devices and their events: `/api/v1/districts/{district}/devices…` and
//! `…/event-dead-letters…` for a district's administrators (auditors read),
//! and `POST /d/{district}/events`, where devices and gateways post events
//! with a device token rather than an account's.
//!
//! This module only turns HTTP into platform calls; what an event must be
//! is decided by `platform::devices`.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::auth::bearer;
use crate::api::district::{Admin, InDistrict, Reader};
use crate::api::error::ApiError;
use crate::api::shared::{ApiState, json_body};
use crate::devices::delivery::{MAX_DEAD_LETTERS, Revived};
use crate::devices::ops::{
    DeviceRegistration, DeviceView, IngestError, IssuedDevice, MAX_DEVICE_PAGE,
};
use crate::devices::store::{DeadLetter, StoredEvent};

/// Largest body of a post of events: a full batch of events with payloads
/// at their cap fits.
pub const MAX_EVENTS_BODY: usize = 8 << 20;

pub(crate) fn router() -> Router<ApiState> {
    Router::new()
        .route(
            "/api/v1/districts/{district}/devices",
            get(list).post(register),
        )
        .route(
            "/api/v1/districts/{district}/devices/{id}",
            get(show).delete(remove),
        )
        .route(
            "/api/v1/districts/{district}/devices/{id}/token",
            post(rotate),
        )
        .route("/api/v1/districts/{district}/events", get(events))
        .route(
            "/api/v1/districts/{district}/event-dead-letters",
            get(dead_letters),
        )
        .route(
            "/api/v1/districts/{district}/event-dead-letters/retry",
            post(retry_all),
        )
        .route(
            "/api/v1/districts/{district}/event-dead-letters/{id}/retry",
            post(retry_one),
        )
        .route(
            "/d/{district}/events",
            post(ingest).layer(DefaultBodyLimit::max(MAX_EVENTS_BODY)),
        )
}

const REGISTER_EXAMPLE: &str = r#"{"id": "door-0017", "kind": "door-sensor", "household_id": "c-xingfu-b1-1-101", "heartbeat_secs": 3600}"#;

async fn register(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Admin>,
    body: Result<Json<DeviceRegistration>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<IssuedDevice>), ApiError> {
    let reg = json_body(body, REGISTER_EXAMPLE)?;
    let issued = state.platform.register_device(&district, reg).await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
}

#[derive(Serialize)]
struct DevicePage {
    devices: Vec<DeviceView>,
    /// The `after` of the next page, when there may be one.
    next: Option<String>,
}

async fn list(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Reader>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<DevicePage>, ApiError> {
    let Query(q) = query.map_err(|e| {
        ApiError::BadRequest(format!(
            "{}; the query takes status=offline|all, after=<device id> and limit=1..{MAX_DEVICE_PAGE}",
            e.body_text()
        ))
    })?;
    let offline_only = match q.status.as_deref() {
        None | Some("all") => false,
        Some("offline") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "status `{other}` is not a filter; use status=offline, or status=all"
            )));
        }
    };
    let limit = q.limit.unwrap_or(100);
    let devices = state
        .platform
        .list_devices(&district, offline_only, q.after.as_deref(), limit)
        .await?;
    let next = (devices.len() as u64 == u64::from(limit))
        .then(|| devices.last().map(|d| d.device.id.clone()))
        .flatten();
    Ok(Json(DevicePage { devices, next }))
}

async fn show(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Reader>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<DeviceView>, ApiError> {
    Ok(Json(state.platform.device(&district, &id).await?))
}

async fn rotate(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Admin>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<IssuedDevice>, ApiError> {
    Ok(Json(
        state.platform.rotate_device_token(&district, &id).await?,
    ))
}

async fn remove(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Admin>,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.platform.remove_device(&district, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    device: Option<String>,
    limit: Option<u32>,
}

async fn events(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Reader>,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| {
        ApiError::BadRequest(format!(
            "{}; the query takes device=<device id> and limit=1..1000",
            e.body_text()
        ))
    })?;
    let counts = state.platform.event_counts(&district).await?;
    let events: Vec<StoredEvent> = state
        .platform
        .store()
        .list_events(
            &district,
            q.device.as_deref(),
            q.limit.unwrap_or(100).clamp(1, 1000),
        )
        .await
        .map_err(crate::PlatformError::from)?;
    Ok(Json(json!({ "counts": counts, "events": events })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeadQuery {
    limit: Option<u32>,
}

async fn dead_letters(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Reader>,
    query: Result<Query<DeadQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<DeadLetter>>, ApiError> {
    let Query(q) = query.map_err(|e| {
        ApiError::BadRequest(format!(
            "{}; the query takes limit=1..{MAX_DEAD_LETTERS}",
            e.body_text()
        ))
    })?;
    Ok(Json(
        state
            .platform
            .event_dead_letters(&district, q.limit.unwrap_or(100))
            .await?,
    ))
}

async fn retry_all(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Admin>,
) -> Result<Json<Revived>, ApiError> {
    Ok(Json(
        state.platform.retry_dead_letters(&district, None).await?,
    ))
}

async fn retry_one(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Admin>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Revived>, ApiError> {
    let id: i64 = id.parse().map_err(|_| {
        ApiError::NotFound(format!(
            "dead letter `{id}` not found: ids are the numbers the dead-letter list shows"
        ))
    })?;
    Ok(Json(
        state
            .platform
            .retry_dead_letters(&district, Some(id))
            .await?,
    ))
}

async fn ingest(
    State(state): State<ApiState>,
    Path(district): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let token = bearer(&headers)?;
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(format!(
                "the body is larger than {} MiB; post at most 1000 events at a time",
                MAX_EVENTS_BODY >> 20
            ))
        } else {
            ApiError::BadRequest(format!("could not read the body: {}", e.body_text()))
        }
    })?;
    let ids = state
        .platform
        .ingest_events(&district, token, &body)
        .await
        .map_err(|e| match e {
            IngestError::Unauthenticated(m) => ApiError::Unauthenticated(m),
            IngestError::Forbidden(m) => ApiError::Forbidden(m),
            IngestError::Malformed(m) => ApiError::BadRequest(m),
            IngestError::Invalid(m) => ApiError::Unprocessable(m),
            IngestError::Platform(e) => ApiError::Platform(e),
        })?;
    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "accepted": ids.len(), "events": ids })),
    ))
}
