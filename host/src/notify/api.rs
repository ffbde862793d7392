//! Notifications: a district's gateway settings and its dead letters for
//! administrators (`/api/v1/districts/{district}/notify/settings`,
//! `/api/v1/districts/{district}/notifications`), and each account's inbox
//! (`/api/v1/inbox`).

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::auth::Authenticated;
use crate::api::district::{Admin, InDistrict, Reader};
use crate::api::error::ApiError;
use crate::api::shared::{ApiState, json_body};
use crate::notify::ops::{GatewaySettings, GatewayUpdate};
use crate::notify::store::NotificationPage;

pub(crate) fn router() -> Router<ApiState> {
    Router::new()
        .route(
            "/districts/{district}/notify/settings",
            get(settings).put(set_settings),
        )
        .route("/districts/{district}/notifications", get(list))
        .route(
            "/districts/{district}/notifications/{id}/retry",
            post(retry),
        )
        .route("/inbox", get(inbox))
        .route("/inbox/{id}/read", post(read))
}

async fn settings(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Reader>,
) -> Result<Json<GatewaySettings>, ApiError> {
    Ok(Json(state.platform.gateway_settings(&district).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSettings {
    #[serde(default)]
    sms_url: Option<String>,
    #[serde(default)]
    voice_url: Option<String>,
    #[serde(default)]
    webhook_url: Option<String>,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    rate_per_minute: Option<i64>,
}

async fn set_settings(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Admin>,
    body: Result<Json<NewSettings>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<GatewaySettings>, ApiError> {
    let new = json_body(
        body,
        r#"{"sms_url": "http://10.0.0.5/sms", "voice_url": "http://10.0.0.5/voice", "webhook_url": "http://10.0.0.6/hook", "secret": "at least 16 bytes", "rate_per_minute": 600}"#,
    )?;
    Ok(Json(
        state
            .platform
            .set_gateway_settings(
                &district,
                GatewayUpdate {
                    sms_url: new.sms_url,
                    voice_url: new.voice_url,
                    webhook_url: new.webhook_url,
                    secret: new.secret,
                    rate_per_minute: new.rate_per_minute,
                },
            )
            .await?,
    ))
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    before: Option<i64>,
    limit: Option<u32>,
    unread: Option<bool>,
}

async fn list(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Reader>,
    Query(q): Query<ListQuery>,
) -> Result<Json<NotificationPage>, ApiError> {
    Ok(Json(
        state
            .platform
            .list_notifications(
                &district,
                q.status.as_deref(),
                q.before,
                q.limit.unwrap_or(50),
            )
            .await?,
    ))
}

async fn retry(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Admin>,
    Path((_, id)): Path<(String, i64)>,
) -> Result<Json<Value>, ApiError> {
    state.platform.retry_notification(&district, id).await?;
    Ok(Json(json!({ "id": id, "status": "pending" })))
}

/// The caller's own inbox: nobody reads another account's messages here.
async fn inbox(
    State(state): State<ApiState>,
    caller: Authenticated,
    Query(q): Query<ListQuery>,
) -> Result<Json<NotificationPage>, ApiError> {
    Ok(Json(
        state
            .platform
            .inbox(
                &caller.0.account_id,
                q.unread.unwrap_or(false),
                q.before,
                q.limit.unwrap_or(50),
            )
            .await?,
    ))
}

async fn read(
    State(state): State<ApiState>,
    caller: Authenticated,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    state.platform.mark_read(&caller.0.account_id, id).await?;
    Ok(Json(json!({ "id": id, "read": true })))
}
