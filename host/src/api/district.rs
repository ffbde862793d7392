//! The one district check at the edge of the API.
//!
//! Every `/api/v1/districts/{district}/…` handler takes an
//! [`InDistrict<A>`] instead of a bare path string. Extracting it
//!
//! 1. authenticates the caller (401 without a valid token),
//! 2. parses the `{district}` path parameter as a [`DistrictId`],
//! 3. checks the caller's access of kind `A` ([`Admin`], [`Reader`],
//!    [`Member`], [`Residents`], or [`Signed`] where the operation itself
//!    decides who sees what), answering 403 in one wording,
//! 4. and checks that the district exists (404 otherwise),
//!
//! so an operation receives a district that exists and a caller allowed in
//! it, and every endpoint answers an unknown district alike.

use std::marker::PhantomData;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;

use super::auth::{Authenticated, ResidentView};
use crate::accounts::Caller;
use crate::api::error::ApiError;
use crate::api::shared::ApiState;
use crate::error::PlatformError;
use crate::kernel::ids::DistrictId;

/// A kind of access to a district, checked by [`InDistrict`].
pub(crate) trait Access: Send + Sync + 'static {
    /// What the check hands the operation (a worker's grids, say).
    type Scope: Send;

    /// The caller's access to `district`, or the 403 that refuses it.
    fn check(caller: &Authenticated, district: &str) -> Result<Self::Scope, ApiError>;
}

/// Change the district: its administrators, or a platform administrator.
pub(crate) struct Admin;

/// Read the district's installs, accounts and audits: its administrators
/// and auditors, or a platform administrator.
pub(crate) struct Reader;

/// Anyone signed in to the district (reporters need its case categories,
/// workers its departments).
pub(crate) struct Member;

/// Read and edit residents: administrators all of them, workers those of
/// their grids.
pub(crate) struct Residents;

/// Any signed-in caller; the operation decides what they may see or do.
pub(crate) struct Signed;

impl Access for Admin {
    type Scope = ();

    fn check(caller: &Authenticated, district: &str) -> Result<(), ApiError> {
        caller.require_admin(district)
    }
}

impl Access for Reader {
    type Scope = ();

    fn check(caller: &Authenticated, district: &str) -> Result<(), ApiError> {
        caller.require_reader(district)
    }
}

impl Access for Member {
    type Scope = ();

    fn check(caller: &Authenticated, district: &str) -> Result<(), ApiError> {
        caller.require_member(district)
    }
}

impl Access for Residents {
    type Scope = ResidentView;

    fn check(caller: &Authenticated, district: &str) -> Result<ResidentView, ApiError> {
        caller.require_resident_access(district)
    }
}

impl Access for Signed {
    type Scope = ();

    fn check(_: &Authenticated, _: &str) -> Result<(), ApiError> {
        Ok(())
    }
}

/// A district that exists, named in the path, with a caller allowed in it.
pub(crate) struct InDistrict<A: Access> {
    /// The district.
    pub(crate) id: DistrictId,
    /// Who is calling.
    pub(crate) caller: Caller,
    /// What the access check handed over.
    pub(crate) scope: A::Scope,
    access: PhantomData<A>,
}

impl<A: Access> FromRequestParts<ApiState> for InDistrict<A> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let caller = Authenticated::from_request_parts(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        let Some((_, raw)) = params.iter().find(|(name, _)| *name == "district") else {
            // Only a route written without `{district}` gets here.
            return Err(ApiError::NotFound("this endpoint names no district".into()));
        };
        // A malformed id names no district: answered like an unknown one,
        // with the rule that says why.
        let id: DistrictId = raw
            .parse()
            .map_err(|e: crate::kernel::ids::InvalidId| ApiError::NotFound(e.to_string()))?;
        let scope = A::check(&caller, &id)?;
        let exists = state
            .platform
            .store()
            .district_exists(&id)
            .await
            .map_err(PlatformError::from)?;
        if !exists {
            return Err(PlatformError::UnknownDistrict(id.into_string()).into());
        }
        Ok(InDistrict {
            id,
            caller: caller.0,
            scope,
            access: PhantomData,
        })
    }
}
