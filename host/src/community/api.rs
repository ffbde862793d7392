//! `/api/v1/districts/{district}/data` and `/audit`: import and export the
//! district's community data, and what apps did with it.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::api::district::{Admin, InDistrict, Reader};
use crate::api::error::ApiError;
use crate::api::shared::ApiState;
use crate::community::import;
use crate::community::import::{Format, RecordKind};
use crate::community::ops::GrantReport;
use crate::community::store::ImportSummary;
use crate::kernel::access_log::AccessEntry;

/// Largest import file.
pub const MAX_IMPORT_BODY: usize = 32 << 20;

pub(crate) fn router() -> Router<ApiState> {
    Router::new()
        .route(
            "/districts/{district}/data/import",
            post(import_data).layer(DefaultBodyLimit::max(MAX_IMPORT_BODY)),
        )
        .route("/districts/{district}/data/export", get(export_data))
        .route("/districts/{district}/audit/access", get(access))
        .route("/districts/{district}/audit/grants", get(grants))
        .route("/districts/{district}/audit/verify", get(verify))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FormatQuery {
    /// `jsonl` (default) or `csv`.
    #[serde(default)]
    format: Option<String>,
    /// For CSV: the kind of record in the file.
    #[serde(default)]
    kind: Option<String>,
}

fn format(q: &FormatQuery) -> Result<Format, ApiError> {
    match q.format.as_deref().unwrap_or("jsonl") {
        "jsonl" | "json" => Ok(Format::JsonLines),
        "csv" => {
            let kind = q.kind.as_deref().ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "a CSV file holds one kind of record: add `kind=` ({})",
                    RecordKind::ALL
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            Ok(Format::Csv(kind.parse().map_err(ApiError::BadRequest)?))
        }
        other => Err(ApiError::BadRequest(format!(
            "format `{other}` is not supported: use `jsonl` (one JSON record per line) or `csv`"
        ))),
    }
}

async fn import_data(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Admin>,
    query: Result<Query<FormatQuery>, axum::extract::rejection::QueryRejection>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<ImportSummary>, ApiError> {
    let body = body.map_err(|_| {
        ApiError::PayloadTooLarge(format!(
            "an import file is at most {MAX_IMPORT_BODY} bytes; split larger files by kind"
        ))
    })?;
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let format = format(&q)?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::BadRequest("the import file must be UTF-8 text".into()))?;
    Ok(Json(
        state.platform.import_data(&district, text, format).await?,
    ))
}

async fn export_data(
    State(state): State<ApiState>,
    InDistrict {
        id: district,
        caller,
        ..
    }: InDistrict<Admin>,
    query: Result<Query<FormatQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    // The export holds personal data in full: administrators only.
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let format = format(&q)?;
    let reader = crate::kernel::access_log::Reader::Account {
        id: &caller.account_id,
        role: caller.role.as_str(),
    };
    let records = state.platform.export_data(&district, reader, "api").await?;
    Ok(match format {
        Format::JsonLines => (
            [(header::CONTENT_TYPE, "application/x-ndjson; charset=utf-8")],
            import::to_json_lines(&records),
        )
            .into_response(),
        Format::Csv(kind) => (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            import::to_csv(kind, &records),
        )
            .into_response(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessQuery {
    app: Option<String>,
    /// ms since the Unix epoch.
    since: Option<i64>,
    limit: Option<u32>,
}

/// Most access-log entries one answer holds.
const MAX_ACCESS_ENTRIES: u32 = 10_000;

async fn access(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Reader>,
    query: Result<Query<AccessQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<AccessEntry>>, ApiError> {
    let Query(q) = query.map_err(|e| {
        ApiError::BadRequest(format!(
            "expected `?app=<app>&since=<ms since epoch>&limit=<1..={MAX_ACCESS_ENTRIES}>`: {}",
            e.body_text()
        ))
    })?;
    let limit = q.limit.unwrap_or(1000).clamp(1, MAX_ACCESS_ENTRIES);
    Ok(Json(
        state
            .platform
            .access_log(&district, q.app.as_deref(), q.since, limit)
            .await?,
    ))
}

async fn verify(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Reader>,
) -> Result<Json<crate::kernel::access_log::ChainReport>, ApiError> {
    Ok(Json(state.platform.verify_access_log(&district).await?))
}

async fn grants(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Reader>,
) -> Result<Json<Vec<GrantReport>>, ApiError> {
    Ok(Json(state.platform.grant_report(&district).await?))
}
