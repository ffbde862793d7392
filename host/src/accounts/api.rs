//! `/api/v1/accounts` and `/api/v1/tokens`: accounts, their tokens, and
//! `/api/v1/me`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;

use crate::accounts::ops::{AccountRequest, DEFAULT_TOKEN_DAYS};
use crate::accounts::store::{Account, TokenRecord};
use crate::accounts::{Caller, IssuedToken, Role};
use crate::api::auth::Authenticated;
use crate::api::error::ApiError;
use crate::api::shared::{ApiState, json_body};
use crate::error::PlatformError;

pub(crate) fn router() -> Router<ApiState> {
    Router::new()
        .route("/me", get(me))
        .route("/accounts", get(list).post(create))
        .route("/accounts/{account}", get(show))
        .route("/accounts/{account}/disable", post(disable))
        .route("/accounts/{account}/phone", put(set_phone))
        .route("/accounts/{account}/tokens", get(tokens).post(issue))
        .route("/tokens/{token}", delete(revoke))
        .route("/accounts/{account}/password-code", post(password_code))
        .route("/accounts/{account}/sessions", delete(end_sessions))
}

async fn me(caller: Authenticated) -> Json<Caller> {
    Json(caller.0)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAccount {
    id: String,
    role: String,
    #[serde(default)]
    district: Option<String>,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    resident_id: Option<String>,
    #[serde(default)]
    grids: Vec<String>,
    #[serde(default)]
    phone: Option<String>,
}

async fn create(
    State(state): State<ApiState>,
    caller: Authenticated,
    body: Result<Json<NewAccount>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Account>), ApiError> {
    let new = json_body(
        body,
        r#"{"id": "wang-li", "role": "worker", "district": "east", "display_name": "王丽", "grids": ["g1"]}"#,
    )?;
    let role: Role = new.role.parse().map_err(ApiError::Unprocessable)?;
    match (&new.district, role) {
        (_, Role::PlatformAdmin) => caller.require_platform_admin()?,
        (Some(d), _) => caller.require_admin(d)?,
        (None, _) => caller.require_platform_admin()?,
    }
    let account = state
        .platform
        .create_account(AccountRequest {
            id: new.id,
            role,
            district: new.district,
            display_name: new.display_name,
            resident_id: new.resident_id,
            grids: new.grids,
            phone: new.phone,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(account)))
}

#[derive(Deserialize)]
struct ListQuery {
    district: Option<String>,
}

async fn list(
    State(state): State<ApiState>,
    caller: Authenticated,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<Account>>, ApiError> {
    let district = match (q.district, caller.0.role) {
        (None, Role::PlatformAdmin) => None,
        (Some(d), _) => {
            caller.require_reader(&d)?;
            Some(d)
        }
        (None, _) => {
            let own = caller.0.district.clone().unwrap_or_default();
            caller.require_reader(&own)?;
            Some(own)
        }
    };
    let mut accounts = state
        .platform
        .store()
        .list_accounts(district.as_deref())
        .await
        .map_err(PlatformError::from)?;
    // A listing is read by auditors too: phone numbers are personal data,
    // shown in full only on the account itself (see `show`).
    for account in &mut accounts {
        mask_phone(account);
    }
    Ok(Json(accounts))
}

fn mask_phone(account: &mut Account) {
    if let Some(phone) = &account.phone {
        account.phone = Some(crate::community::mask::phone(phone));
    }
}

/// The account, if the caller may read it: their own, or one in a district
/// they read (platform administrators' accounts only for platform
/// administrators). To anyone else it is "not found", like a missing one, so
/// the answer does not tell which accounts exist or where.
pub(crate) async fn readable(
    state: &ApiState,
    caller: &Authenticated,
    id: &str,
) -> Result<Account, ApiError> {
    let not_found = || ApiError::NotFound(format!("account `{id}`"));
    let account = state
        .platform
        .store()
        .get_account(id)
        .await
        .map_err(|_| not_found())?;
    if account.id != caller.0.account_id {
        let allowed = match &account.district {
            Some(d) => caller.require_reader(d),
            None => caller.require_platform_admin(),
        };
        allowed.map_err(|_| not_found())?;
    }
    Ok(account)
}

/// The account, if the caller may change it.
pub(crate) async fn administrable(
    state: &ApiState,
    caller: &Authenticated,
    id: &str,
) -> Result<Account, ApiError> {
    let account = readable(state, caller, id).await?;
    match &account.district {
        Some(d) => caller.require_admin(d)?,
        None => caller.require_platform_admin()?,
    }
    Ok(account)
}

async fn show(
    State(state): State<ApiState>,
    caller: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Account>, ApiError> {
    let mut account = readable(&state, &caller, &id).await?;
    // In full to the account itself and to whoever may change it.
    let may_change = match &account.district {
        Some(d) => caller.require_admin(d).is_ok(),
        None => caller.require_platform_admin().is_ok(),
    };
    if account.id != caller.0.account_id && !may_change {
        mask_phone(&mut account);
    }
    Ok(Json(account))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPhone {
    phone: Option<String>,
}

async fn set_phone(
    State(state): State<ApiState>,
    caller: Authenticated,
    Path(id): Path<String>,
    body: Result<Json<NewPhone>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Account>, ApiError> {
    let new = json_body(body, r#"{"phone": "+8613812345678"} (or null to clear it)"#)?;
    administrable(&state, &caller, &id).await?;
    Ok(Json(
        state
            .platform
            .set_account_phone(&id, new.phone.as_deref())
            .await?,
    ))
}

async fn disable(
    State(state): State<ApiState>,
    caller: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Account>, ApiError> {
    administrable(&state, &caller, &id).await?;
    Ok(Json(state.platform.disable_account(&id).await?))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NewToken {
    #[serde(default)]
    label: String,
    #[serde(default)]
    expires_in_days: Option<u32>,
}

async fn issue(
    State(state): State<ApiState>,
    caller: Authenticated,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    administrable(&state, &caller, &id).await?;
    let new: NewToken =
        crate::api::shared::optional_json(&body, r#"{"label": "laptop", "expires_in_days": 30}"#)?;
    let issued = state
        .platform
        .issue_token(
            &id,
            &new.label,
            new.expires_in_days.unwrap_or(DEFAULT_TOKEN_DAYS),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

async fn tokens(
    State(state): State<ApiState>,
    caller: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Vec<TokenRecord>>, ApiError> {
    readable(&state, &caller, &id).await?;
    Ok(Json(
        state
            .platform
            .store()
            .list_tokens(&id)
            .await
            .map_err(PlatformError::from)?,
    ))
}

async fn revoke(
    State(state): State<ApiState>,
    caller: Authenticated,
    Path(token): Path<String>,
) -> Result<Json<TokenRecord>, ApiError> {
    // Anyone may revoke their own token; administrators those of their
    // district's accounts. To anyone else a token is "not found", so the
    // answer does not tell whether a token id exists.
    let not_found = || ApiError::NotFound(format!("token `{token}`"));
    let record = state
        .platform
        .store()
        .get_token(&token)
        .await
        .map_err(|_| not_found())?;
    if record.account_id != caller.0.account_id
        && administrable(&state, &caller, &record.account_id)
            .await
            .is_err()
    {
        return Err(not_found());
    }
    Ok(Json(state.platform.revoke_token(&token).await?))
}

/// A one-time code with which the account's holder sets (or resets) their
/// password in the browser, at `/set-password`. Shown once.
async fn password_code(
    State(state): State<ApiState>,
    caller: Authenticated,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    administrable(&state, &caller, &id).await?;
    let issued = state
        .platform
        .sign_in()
        .issue_code(&id, &caller.0.account_id)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "account_id": issued.account_id,
            "code": issued.code,
            "expires_at": issued.expires_at,
            "redeem_at": "/set-password",
        })),
    ))
}

/// End every browser session of the account (its tokens stay).
async fn end_sessions(
    State(state): State<ApiState>,
    caller: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    administrable(&state, &caller, &id).await?;
    let ended = state
        .platform
        .sign_in()
        .end_sessions(&id, "revoked")
        .await
        .map_err(PlatformError::from)?;
    tracing::info!(account = %id, by = %caller.0.account_id, ended, "sessions revoked");
    Ok(Json(
        serde_json::json!({ "account_id": id, "ended": ended }),
    ))
}
