//! Authentication and the API's access rules, in one place.
//!
//! Every `/api` handler takes an [`Authenticated`] caller (a district's
//! endpoints through `InDistrict`, the one district check at the edge) and
//! asks it for the access it needs: [`Authenticated::require_platform_admin`],
//! [`Authenticated::require_admin`] (change a district),
//! [`Authenticated::require_reader`] (read a district's installs, accounts
//! and audits), [`Authenticated::require_member`] or
//! [`Authenticated::require_resident_access`]. A district administrator acts only in their district; an
//! auditor reads but changes nothing; workers and residents have no
//! administrative access.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::accounts::{AuthError, Caller, Role};
use crate::api::error::ApiError;
use crate::api::shared::ApiState;

/// The signed-in caller of an `/api` request.
pub struct Authenticated(pub Caller);

/// The caller of an app request, if it sent credentials (which must then be
/// valid).
pub struct MaybeAuthenticated(pub Option<Caller>);

/// The bearer token of an `Authorization` header, if one was sent.
pub(crate) fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| Some(t.trim()))
        .ok_or_else(|| {
            ApiError::Unauthenticated("the Authorization header must read `Bearer <token>`".into())
        })
}

pub(crate) async fn verify(state: &ApiState, token: &str) -> Result<Caller, ApiError> {
    state
        .platform
        .authenticate(token)
        .await
        .map_err(|e| match e {
            AuthError::Store(err) => {
                tracing::error!(error = %err, "token check failed");
                ApiError::Platform(err.into())
            }
            refusal => ApiError::Unauthenticated(refusal.to_string()),
        })
}

impl FromRequestParts<ApiState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        match bearer(&parts.headers)? {
            Some(token) => Ok(Authenticated(verify(state, token).await?)),
            None => Err(ApiError::Unauthenticated(
                "this endpoint needs a signed-in caller; send `Authorization: Bearer <token>` (`hutong token issue` makes one)".into(),
            )),
        }
    }
}

impl FromRequestParts<ApiState> for MaybeAuthenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        match bearer(&parts.headers)? {
            Some(token) => Ok(MaybeAuthenticated(Some(verify(state, token).await?))),
            None => Ok(MaybeAuthenticated(None)),
        }
    }
}

/// Which residents a staff member may read and edit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResidentView {
    /// The whole district.
    All,
    /// The residents of these grids only (a worker's).
    Grids(Vec<String>),
}

impl ResidentView {
    /// Whether a resident of `grid` is visible.
    pub fn sees(&self, grid: &str) -> bool {
        match self {
            ResidentView::All => true,
            ResidentView::Grids(grids) => grids.iter().any(|g| g == grid),
        }
    }

    /// The grid limit for a query.
    pub fn grids(&self) -> Option<&[String]> {
        match self {
            ResidentView::All => None,
            ResidentView::Grids(grids) => Some(grids),
        }
    }
}

impl Authenticated {
    /// Only platform administrators.
    pub fn require_platform_admin(&self) -> Result<(), ApiError> {
        if self.0.role == Role::PlatformAdmin {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "only a platform administrator may do this; you are a {}",
                self.0.role
            )))
        }
    }

    /// Change `district`: its district administrators, or a platform
    /// administrator.
    pub fn require_admin(&self, district: &str) -> Result<(), ApiError> {
        match self.0.role {
            Role::PlatformAdmin => Ok(()),
            Role::DistrictAdmin if self.0.in_district(district) => Ok(()),
            Role::DistrictAdmin => Err(self.other_district(district)),
            Role::Auditor => Err(ApiError::Forbidden(
                "auditors read but change nothing".into(),
            )),
            role => Err(ApiError::Forbidden(format!(
                "a {role} cannot administer district `{district}`"
            ))),
        }
    }

    /// Read `district`'s installs, accounts and audits: its administrators
    /// and auditors, or a platform administrator.
    pub fn require_reader(&self, district: &str) -> Result<(), ApiError> {
        match self.0.role {
            Role::PlatformAdmin => Ok(()),
            Role::DistrictAdmin | Role::Auditor if self.0.in_district(district) => Ok(()),
            Role::DistrictAdmin | Role::Auditor => Err(self.other_district(district)),
            role => Err(ApiError::Forbidden(format!(
                "a {role} cannot read district `{district}`'s administration"
            ))),
        }
    }

    /// Read and edit `district`'s residents: its administrators (all of
    /// them) and its workers (those of their own grids). Auditors audit apps,
    /// not residents, and residents see only themselves through apps.
    pub fn require_resident_access(&self, district: &str) -> Result<ResidentView, ApiError> {
        match self.0.role {
            Role::PlatformAdmin => Ok(ResidentView::All),
            Role::DistrictAdmin if self.0.in_district(district) => Ok(ResidentView::All),
            Role::Worker if self.0.in_district(district) => {
                Ok(ResidentView::Grids(self.0.grids.clone()))
            }
            Role::DistrictAdmin | Role::Worker => Err(self.other_district(district)),
            role => Err(ApiError::Forbidden(format!(
                "a {role} cannot read or edit residents; grid workers and administrators can"
            ))),
        }
    }

    /// Act in `district` at all: anyone signed in to it, or a platform
    /// administrator.
    pub fn require_member(&self, district: &str) -> Result<(), ApiError> {
        if self.0.in_district(district) {
            Ok(())
        } else {
            Err(self.other_district(district))
        }
    }

    /// The one wording of "not your district".
    fn other_district(&self, district: &str) -> ApiError {
        ApiError::Forbidden(format!(
            "you act for district `{}` only, not `{district}`",
            self.0.district.as_deref().unwrap_or("none")
        ))
    }
}
