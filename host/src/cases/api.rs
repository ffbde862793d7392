//! `/api/v1/districts/{district}/cases` and the district's case set-up:
//! what workers, administrators and residents use to report, follow and
//! move cases, and what administrators use to shape them (categories,
//! departments, time limits, policy).
//!
//! This module only turns HTTP into platform calls: who may do what to a
//! case is decided by `platform::cases`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::api::district::{Admin, InDistrict, Member, Reader, Signed};
use crate::api::error::ApiError;
use crate::api::shared::{ApiState, json_body, optional_json};
use crate::cases::intake::{Open311Policy, ServiceSettings, ServiceSettingsChange};
use crate::cases::ops::{CaseActor, CaseCommand, CaseReport, CaseView};
use crate::cases::store::{
    CaseFigures, CaseFilter, CasePage, CasePolicy, CaseRow, Category, Deadline, Department,
    HistoryEntry,
};
use crate::cases::{Action, Assignee, CaseState, Tier};

pub(crate) fn router() -> Router<ApiState> {
    Router::new()
        .route("/districts/{district}/cases", get(list).post(report))
        .route("/districts/{district}/cases/{id}", get(show))
        .route("/districts/{district}/cases/{id}/{action}", post(act))
        .route("/districts/{district}/case-figures", get(figures))
        .route("/districts/{district}/case-categories", get(categories))
        .route(
            "/districts/{district}/case-categories/{code}",
            put(put_category),
        )
        .route("/districts/{district}/departments", get(departments))
        .route(
            "/districts/{district}/departments/{id}",
            put(put_department),
        )
        .route(
            "/districts/{district}/case-deadlines",
            get(deadlines).put(set_deadlines),
        )
        .route(
            "/districts/{district}/case-policy",
            get(policy).put(set_policy),
        )
        .route(
            "/districts/{district}/open311-policy",
            get(open311_policy).put(set_open311_policy),
        )
        .route(
            "/districts/{district}/case-categories/{code}/open311",
            get(service_settings).put(put_service_settings),
        )
}

/// The default page size.
const DEFAULT_PAGE: u32 = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    state: Option<String>,
    tier: Option<String>,
    overdue: Option<bool>,
    category: Option<String>,
    grid: Option<String>,
    /// `department:<id>`, `worker:<id>` or `me`.
    assignee: Option<String>,
    cursor: Option<i64>,
    limit: Option<u32>,
}

const LIST_HELP: &str = "expected `?state=&tier=&overdue=true|false&category=&grid=&assignee=department:<id>|worker:<id>|me&cursor=<next>&limit=1..=500`";

fn parse<T: std::str::FromStr<Err = String>>(value: Option<String>) -> Result<Option<T>, ApiError> {
    value
        .map(|v| v.parse().map_err(ApiError::BadRequest))
        .transpose()
}

async fn list(
    State(state): State<ApiState>,
    InDistrict {
        id: district,
        caller,
        ..
    }: InDistrict<Signed>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<CasePage>, ApiError> {
    let Query(q) =
        query.map_err(|e| ApiError::BadRequest(format!("{LIST_HELP}: {}", e.body_text())))?;
    let assignee = match q.assignee.as_deref() {
        Some("me") => Some(Assignee::Worker(caller.account_id.clone())),
        other => parse::<Assignee>(other.map(str::to_owned))?,
    };
    let filter = CaseFilter {
        state: parse::<CaseState>(q.state)?,
        tier: parse::<Tier>(q.tier)?,
        overdue: q.overdue,
        category: q.category,
        grid_id: q.grid,
        assignee,
        before: q.cursor,
        limit: q.limit.unwrap_or(DEFAULT_PAGE),
        ..CaseFilter::default()
    };
    let page = state
        .platform
        .cases()
        .list_cases(&district, &CaseActor::Person(caller), filter)
        .await?;
    Ok(Json(page))
}

const REPORT_EXAMPLE: &str = r#"{"category": "road-damage", "priority": "normal", "grid_id": "g1", "building_id": "b1", "description": "…", "resident_id": "r1", "attachments": ["https://…/photo.jpg"]}"#;

async fn report(
    State(state): State<ApiState>,
    InDistrict {
        id: district,
        caller,
        ..
    }: InDistrict<Signed>,
    body: Result<Json<CaseReport>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<CaseRow>), ApiError> {
    let report = json_body(body, REPORT_EXAMPLE)?;
    let case = state
        .platform
        .cases()
        .report_case(&district, &CaseActor::Person(caller), report)
        .await?;
    Ok((StatusCode::CREATED, Json(case)))
}

fn case_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<crate::kernel::ids::CaseId>()
        .map(crate::kernel::ids::CaseId::get)
        .map_err(|_| ApiError::NotFound(format!("case `{raw}` not found: case ids are numbers")))
}

async fn show(
    State(state): State<ApiState>,
    InDistrict {
        id: district,
        caller,
        ..
    }: InDistrict<Signed>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<CaseView>, ApiError> {
    let id = case_id(&id)?;
    let actor = CaseActor::Person(caller);
    let cases = state.platform.cases();
    let mut view = cases.view_case(&district, id, &actor).await?;
    view.intake = cases.case_intake(&district, id, &actor, "api").await?;
    Ok(Json(view))
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    note: Option<String>,
    assignee: Option<String>,
    satisfaction: Option<i64>,
}

const ACTION_EXAMPLE: &str = r#"{"note": "reason or feedback", "assignee": "department:<id>|worker:<id>", "satisfaction": 1..5}"#;

#[derive(Serialize)]
struct Acted {
    case: CaseRow,
    change: HistoryEntry,
}

async fn act(
    State(state): State<ApiState>,
    InDistrict {
        id: district,
        caller,
        ..
    }: InDistrict<Signed>,
    Path((_, id, action)): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<Acted>, ApiError> {
    let action: Action = action
        .parse()
        .map_err(|e: String| ApiError::NotFound(format!("no such case action: {e}")))?;
    let id = case_id(&id)?;
    let b: ActionBody = optional_json(&body, ACTION_EXAMPLE)?;
    let command = CaseCommand {
        action,
        note: b.note,
        assignee: parse::<Assignee>(b.assignee)?,
        satisfaction: b.satisfaction,
    };
    let (case, change) = state
        .platform
        .cases()
        .act_on_case(&district, id, &CaseActor::Person(caller), command)
        .await?;
    Ok(Json(Acted { case, change }))
}

#[derive(Serialize)]
struct Figures {
    #[serde(flatten)]
    figures: CaseFigures,
    /// Changes waiting to be told to the apps that opened the cases.
    app_notices_pending: i64,
    /// Changes apps could not be told after every retry.
    app_notices_failed: i64,
}

async fn figures(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Reader>,
) -> Result<Json<Figures>, ApiError> {
    let figures = state.platform.cases().case_figures(&district).await?;
    let notices = state.platform.case_notice_counts(&district).await?;
    Ok(Json(Figures {
        figures,
        app_notices_pending: notices.pending,
        app_notices_failed: notices.dead,
    }))
}

// Anyone signed in to the district may read its case set-up: reporters
// need the categories, workers the departments (`Member`).

async fn categories(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Member>,
) -> Result<Json<Vec<Category>>, ApiError> {
    let all = state
        .platform
        .store()
        .categories(&district)
        .await
        .map_err(crate::error::PlatformError::from)?;
    Ok(Json(all))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CategoryBody {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    group: String,
}

async fn put_category(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Admin>,
    Path((_, code)): Path<(String, String)>,
    body: Result<Json<CategoryBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Category>, ApiError> {
    let b = json_body(
        body,
        r#"{"name": "Road damage", "description": "…", "group": "streets"}"#,
    )?;
    let category = Category {
        code,
        name: b.name,
        description: b.description,
        group: b.group,
    };
    Ok(Json(
        state
            .platform
            .cases()
            .put_category(&district, category)
            .await?,
    ))
}

async fn departments(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Member>,
) -> Result<Json<Vec<Department>>, ApiError> {
    let all = state
        .platform
        .store()
        .departments(&district)
        .await
        .map_err(crate::error::PlatformError::from)?;
    Ok(Json(all))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DepartmentBody {
    name: String,
    tier: String,
    #[serde(default)]
    unit_id: Option<String>,
    #[serde(default)]
    members: Vec<String>,
}

async fn put_department(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Admin>,
    Path((_, id)): Path<(String, String)>,
    body: Result<Json<DepartmentBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Department>, ApiError> {
    let b = json_body(
        body,
        r#"{"name": "Street roads office", "tier": "street", "unit_id": "s1", "members": ["w1"]}"#,
    )?;
    let department = Department {
        id,
        name: b.name,
        tier: b.tier.parse().map_err(ApiError::BadRequest)?,
        unit_id: b.unit_id,
        members: b.members,
    };
    Ok(Json(
        state
            .platform
            .cases()
            .put_department(&district, department)
            .await?,
    ))
}

async fn deadlines(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Member>,
) -> Result<Json<Vec<Deadline>>, ApiError> {
    let all = state
        .platform
        .store()
        .deadlines(&district)
        .await
        .map_err(crate::error::PlatformError::from)?;
    Ok(Json(all))
}

async fn set_deadlines(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Admin>,
    body: Result<Json<Vec<Deadline>>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Vec<Deadline>>, ApiError> {
    let all = json_body(
        body,
        r#"[{"category": "*", "priority": "normal", "accept_minutes": 60, "handle_minutes": 2880, "verify_minutes": 1440}]"#,
    )?;
    Ok(Json(
        state.platform.cases().set_deadlines(&district, all).await?,
    ))
}

async fn policy(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Member>,
) -> Result<Json<CasePolicy>, ApiError> {
    let p = state
        .platform
        .store()
        .case_policy(&district)
        .await
        .map_err(crate::error::PlatformError::from)?;
    Ok(Json(p))
}

async fn set_policy(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Admin>,
    body: Result<Json<CasePolicy>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<CasePolicy>, ApiError> {
    let p = json_body(body, r#"{"reopen_days": 7, "auto_escalate": true}"#)?;
    Ok(Json(
        state.platform.cases().set_case_policy(&district, p).await?,
    ))
}

async fn open311_policy(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Member>,
) -> Result<Json<Open311Policy>, ApiError> {
    Ok(Json(
        state.platform.cases().open311_policy(&district).await?,
    ))
}

async fn set_open311_policy(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Admin>,
    body: Result<Json<Open311Policy>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Open311Policy>, ApiError> {
    let p = json_body(body, r#"{"public_reads": true}"#)?;
    Ok(Json(
        state
            .platform
            .cases()
            .set_open311_policy(&district, p)
            .await?,
    ))
}

async fn service_settings(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Member>,
    Path((_, code)): Path<(String, String)>,
) -> Result<Json<ServiceSettings>, ApiError> {
    let services = state.platform.cases().services(&district).await?;
    let service = services
        .into_iter()
        .find(|s| s.category.code == code)
        .ok_or_else(|| {
            crate::error::PlatformError::NotFound(format!(
                "category `{code}` in district `{district}`"
            ))
        })?;
    Ok(Json(service.settings))
}

async fn put_service_settings(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<Admin>,
    Path((_, code)): Path<(String, String)>,
    body: Result<Json<ServiceSettingsChange>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<ServiceSettings>, ApiError> {
    // What the body leaves out stays as it is.
    let change = json_body(
        body,
        r#"{"public": true, "keywords": ["路灯"], "attributes": [{"code": "pole", "datatype": "string", "required": false, "description": "灯杆编号", "order": 1}]}"#,
    )?;
    Ok(Json(
        state
            .platform
            .cases()
            .change_service_settings(&district, &code, change)
            .await?,
    ))
}
