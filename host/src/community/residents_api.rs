//! `/api/v1/districts/{district}/residents`: the residents grid workers and
//! administrators read and edit. A worker sees and edits only the residents
//! of their own grids, and cannot move one out of them.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::api::auth::ResidentView;
use crate::api::district::{InDistrict, Residents};
use crate::api::error::ApiError;
use crate::api::shared::{ApiState, json_body};
use crate::community::Resident;
use crate::community::ops::ResidentRead;
use crate::community::store::ResidentFilter;
use crate::error::PlatformError;
use crate::kernel::access_log::{Reader, STAFF_READ_RESIDENTS, StaffRead};

pub(crate) fn router() -> Router<ApiState> {
    Router::new()
        .route("/districts/{district}/residents", get(list))
        .route(
            "/districts/{district}/residents/{resident}",
            get(show).patch(edit),
        )
        .route(
            "/districts/{district}/residents/{resident}/reads",
            get(resident_reads),
        )
        .route("/me/reads", get(my_reads))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadsQuery {
    before: Option<i64>,
}

fn reads_query(
    query: Result<Query<ReadsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<ReadsQuery, ApiError> {
    query.map(|Query(q)| q).map_err(|e| {
        ApiError::BadRequest(format!(
            "expected `?before=<seq>` (the `next` of the page before): {}",
            e.body_text()
        ))
    })
}

/// `GET …/residents/{id}/reads`: who read a resident's data, for the
/// district's administrators and auditors.
async fn resident_reads(
    State(state): State<ApiState>,
    InDistrict { id: district, .. }: InDistrict<crate::api::district::Reader>,
    Path((_, resident)): Path<(String, String)>,
    query: Result<Query<ReadsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<crate::kernel::store::Page<ResidentRead>>, ApiError> {
    let q = reads_query(query)?;
    if state
        .platform
        .store()
        .get_resident(&district, &resident)
        .await
        .map_err(PlatformError::from)?
        .is_none()
    {
        return Err(ApiError::NotFound(format!(
            "resident `{resident}` in district `{district}`"
        )));
    }
    Ok(Json(
        state
            .platform
            .resident_reads(&district, &resident, q.before)
            .await?,
    ))
}

/// `GET /api/v1/me/reads`: who read the calling resident's data.
async fn my_reads(
    State(state): State<ApiState>,
    caller: crate::api::auth::Authenticated,
    query: Result<Query<ReadsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<crate::kernel::store::Page<ResidentRead>>, ApiError> {
    let q = reads_query(query)?;
    let caller = caller.0;
    let (Some(district), Some(resident)) = (&caller.district, &caller.resident_id) else {
        return Err(ApiError::NotFound(
            "your account is not linked to a resident record; ask your community's staff".into(),
        ));
    };
    Ok(Json(
        state
            .platform
            .resident_reads(district, resident, q.before)
            .await?,
    ))
}

use crate::kernel::store::MAX_PAGE;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    grid: Option<String>,
    community: Option<String>,
    /// Comma-separated; residents carrying all of them.
    tags: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

/// A resident as staff see it: every field, and where they live.
#[derive(Serialize)]
struct StaffResident {
    #[serde(flatten)]
    resident: Resident,
    community_id: String,
    building_id: Option<String>,
}

#[derive(Serialize)]
struct Page {
    residents: Vec<StaffResident>,
    next_cursor: Option<String>,
}

async fn list(
    State(state): State<ApiState>,
    InDistrict {
        id: district,
        caller,
        scope: view,
        ..
    }: InDistrict<Residents>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page>, ApiError> {
    let Query(q) = query.map_err(|e| {
        ApiError::BadRequest(format!(
            "expected `?grid=&community=&tags=a,b&cursor=&limit=1..={MAX_PAGE}`: {}",
            e.body_text()
        ))
    })?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1..={MAX_PAGE}, got {limit}"
        )));
    }
    let tags: Vec<String> = q
        .tags
        .as_deref()
        .map(|t| t.split(',').map(|s| s.trim().to_owned()).collect())
        .unwrap_or_default();
    // Tags end up in a LIKE pattern: only the import's slugs pass.
    if let Some(problem) = crate::community::import::check_tags(&tags)
        .into_iter()
        .next()
    {
        return Err(ApiError::BadRequest(format!(
            "{problem} (separate tags with commas)"
        )));
    }
    let filter = ResidentFilter {
        grids: view.grids(),
        grid_id: q.grid.as_deref(),
        community_id: q.community.as_deref(),
        tags: &tags,
        after: q.cursor.as_deref(),
        limit: limit + 1,
        ..ResidentFilter::default()
    };
    let mut rows = state
        .platform
        .store()
        .query_residents(&district, &filter)
        .await
        .map_err(PlatformError::from)?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.resident.id.clone())
    } else {
        None
    };
    let ids: Vec<String> = rows.iter().map(|r| r.resident.id.clone()).collect();
    log_read(&state, &district, &caller, &ids).await?;
    Ok(Json(Page {
        residents: rows
            .into_iter()
            .map(|r| StaffResident {
                resident: r.resident,
                community_id: r.community_id,
                building_id: r.building_id,
            })
            .collect(),
        next_cursor,
    }))
}

/// Record that `caller` read `ids` in full, before they are handed over:
/// staff reads are logged like an app's, so a resident's "who read my
/// data" is complete. Without the entry the request fails.
async fn log_read(
    state: &ApiState,
    district: &str,
    caller: &crate::accounts::Caller,
    ids: &[String],
) -> Result<(), ApiError> {
    state
        .platform
        .store()
        .log_staff_read(StaffRead {
            district,
            reader: Reader::Account {
                id: &caller.account_id,
                role: caller.role.as_str(),
            },
            request_id: "api",
            operation: STAFF_READ_RESIDENTS,
            record_ids: ids,
            field_class: "personal",
        })
        .await
        .map_err(|e| ApiError::from(PlatformError::from(e)))
}

/// The resident `id` as `caller` may see them, the read logged first.
async fn shown_to(
    state: &ApiState,
    caller: &crate::accounts::Caller,
    view: &ResidentView,
    district: &str,
    id: &str,
) -> Result<StaffResident, ApiError> {
    let shown = visible(state, view, district, id).await?;
    log_read(
        state,
        district,
        caller,
        std::slice::from_ref(&shown.resident.id),
    )
    .await?;
    Ok(shown)
}

async fn visible(
    state: &ApiState,
    view: &ResidentView,
    district: &str,
    id: &str,
) -> Result<StaffResident, ApiError> {
    let not_found = || ApiError::NotFound(format!("resident `{id}` in district `{district}`"));
    let row = state
        .platform
        .store()
        .get_resident(district, id)
        .await
        .map_err(PlatformError::from)?
        .ok_or_else(not_found)?;
    // Outside a worker's grids a resident does not exist for them.
    if !view.sees(&row.resident.grid_id) {
        return Err(not_found());
    }
    Ok(StaffResident {
        resident: row.resident,
        community_id: row.community_id,
        building_id: row.building_id,
    })
}

async fn show(
    State(state): State<ApiState>,
    InDistrict {
        id: district,
        caller,
        scope: view,
        ..
    }: InDistrict<Residents>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<StaffResident>, ApiError> {
    Ok(Json(
        shown_to(&state, &caller, &view, &district, &id).await?,
    ))
}

/// The fields staff may change; each left out stays as it is. `null`
/// clears an optional field.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Edit {
    #[serde(default, with = "serde_with_double_option")]
    household_id: Option<Option<String>>,
    grid_id: Option<String>,
    tags: Option<Vec<String>>,
    name: Option<String>,
    #[serde(default, with = "serde_with_double_option")]
    phone: Option<Option<String>>,
    #[serde(default, with = "serde_with_double_option")]
    id_number: Option<Option<String>>,
    #[serde(default, with = "serde_with_double_option")]
    birth_date: Option<Option<String>>,
    #[serde(default, with = "serde_with_double_option")]
    address: Option<Option<String>>,
    #[serde(default, with = "serde_with_double_option")]
    family_contact_name: Option<Option<String>>,
    #[serde(default, with = "serde_with_double_option")]
    family_contact_phone: Option<Option<String>>,
}

/// Tells a field left out (`None`) from one set to `null` (`Some(None)`).
mod serde_with_double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }
}

async fn edit(
    State(state): State<ApiState>,
    InDistrict {
        id: district,
        caller,
        scope: view,
        ..
    }: InDistrict<Residents>,
    Path((_, id)): Path<(String, String)>,
    body: Result<Json<Edit>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<StaffResident>, ApiError> {
    let edit = json_body(body, r#"{"phone": "13800000000", "tags": ["elderly"]}"#)?;
    let mut resident = visible(&state, &view, &district, &id).await?.resident;
    if let Some(grid) = &edit.grid_id
        && !view.sees(grid)
    {
        return Err(ApiError::Forbidden(format!(
            "grid `{grid}` is not one of yours; ask an administrator to move a resident out of your grids"
        )));
    }
    // A household elsewhere would move the resident out of the worker's
    // grids just the same.
    if let (ResidentView::Grids(_), Some(Some(household))) = (&view, &edit.household_id) {
        let found = state
            .platform
            .store()
            .list_households(
                &district,
                Some(household),
                &crate::community::store::ListFilter {
                    limit: 1,
                    ..Default::default()
                },
            )
            .await
            .map_err(PlatformError::from)?;
        if let Some(h) = found.first()
            && !view.sees(&h.grid_id)
        {
            return Err(ApiError::Forbidden(format!(
                "household `{household}` is in grid `{}`, not one of yours",
                h.grid_id
            )));
        }
    }
    macro_rules! apply {
        ($($field:ident),*) => {$(
            if let Some(value) = edit.$field {
                resident.$field = value;
            }
        )*};
    }
    apply!(
        household_id,
        grid_id,
        tags,
        name,
        phone,
        id_number,
        birth_date,
        address,
        family_contact_name,
        family_contact_phone
    );
    state
        .platform
        .update_resident(&district, resident, &caller.account_id)
        .await?;
    Ok(Json(
        shown_to(&state, &caller, &ResidentView::All, &district, &id).await?,
    ))
}
