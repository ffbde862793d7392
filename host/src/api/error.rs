//! One error type for every HTTP answer that is not a success: a status per
//! variant, a JSON body a user can act on, and never internal details (those
//! go to the log in full).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::PlatformError;
use crate::runtime::{CallError, Failure};

/// An HTTP error answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request was malformed.
    #[error("{0}")]
    BadRequest(String),
    /// Well-formed but refused.
    #[error("{0}")]
    Unprocessable(String),
    /// Nothing there.
    #[error("{0}")]
    NotFound(String),
    /// Conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// No valid credentials.
    #[error("{0}")]
    Unauthenticated(String),
    /// Authenticated, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// The request body is larger than allowed.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The request body did not arrive in time.
    #[error("{0}")]
    RequestTimeout(String),
    /// A platform operation failed.
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// A call into an app failed.
    #[error(transparent)]
    Call(#[from] CallError),
}

fn body(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        Json(json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}

const INTERNAL: &str = "the host hit an internal error; the details are in its log";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::BadRequest(m) => body(StatusCode::BAD_REQUEST, "bad_request", m),
            ApiError::Unprocessable(m) => body(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m),
            ApiError::NotFound(m) => body(StatusCode::NOT_FOUND, "not_found", m),
            ApiError::Conflict(m) => body(StatusCode::CONFLICT, "conflict", m),
            ApiError::PayloadTooLarge(m) => body(StatusCode::PAYLOAD_TOO_LARGE, "too_large", m),
            ApiError::RequestTimeout(m) => body(StatusCode::REQUEST_TIMEOUT, "timeout", m),
            ApiError::Unauthenticated(m) => unauthenticated(m),
            ApiError::Forbidden(m) => body(StatusCode::FORBIDDEN, "forbidden", m),
            ApiError::Platform(e) => platform_error(e),
            ApiError::Call(e) => call_error(e),
        }
    }
}

fn unauthenticated(message: String) -> Response {
    let mut r = body(StatusCode::UNAUTHORIZED, "unauthenticated", message);
    r.headers_mut().insert(
        "www-authenticate",
        axum::http::HeaderValue::from_static("Bearer"),
    );
    r
}

fn platform_error(e: PlatformError) -> Response {
    let message = e.to_string();
    match e {
        PlatformError::UnknownDistrict(_) | PlatformError::NotFound(_) => {
            body(StatusCode::NOT_FOUND, "not_found", message)
        }
        PlatformError::Conflict(_) => body(StatusCode::CONFLICT, "conflict", message),
        PlatformError::PermissionsNeeded { .. } => {
            body(StatusCode::CONFLICT, "permissions_needed", message)
        }
        PlatformError::Registry(e) => registry_error(e),
        PlatformError::Forbidden(_) => body(StatusCode::FORBIDDEN, "forbidden", message),
        PlatformError::TooMany(_) => body(StatusCode::TOO_MANY_REQUESTS, "limit_exceeded", message),
        PlatformError::InvalidDistrictId(_)
        | PlatformError::Invalid(_)
        | PlatformError::Import(_)
        | PlatformError::Manifest(_)
        | PlatformError::IncompatibleHostApi { .. }
        | PlatformError::NotAComponent(_)
        | PlatformError::WrongWorld { .. }
        | PlatformError::UnsatisfiableImport { .. }
        | PlatformError::ManifestMismatch(_)
        | PlatformError::IncompatibleComponent(_)
        | PlatformError::GrantNotDeclared { .. } => {
            body(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
        }
        PlatformError::Store(_) | PlatformError::Runtime(_) => {
            tracing::error!(error = %message, "platform operation failed");
            body(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                INTERNAL.into(),
            )
        }
    }
}

fn registry_error(e: hutong_registry::RegistryError) -> Response {
    use hutong_registry::{Refusal, RegistryError};
    let message = e.to_string();
    match e {
        RegistryError::Refused(
            Refusal::UnknownPackage { .. }
            | Refusal::UnknownRelease { .. }
            | Refusal::UnknownBlob { .. },
        ) => body(StatusCode::NOT_FOUND, "not_found", message),
        RegistryError::Unreachable { .. } => {
            body(StatusCode::BAD_GATEWAY, "registry_unreachable", message)
        }
        // Paths on this host's disk are internal details.
        RegistryError::Io { .. } => {
            tracing::error!(error = %message, "registry operation failed");
            body(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                INTERNAL.into(),
            )
        }
        _ => body(
            StatusCode::UNPROCESSABLE_ENTITY,
            "registry_refused",
            message,
        ),
    }
}

fn call_error(e: CallError) -> Response {
    let message = e.to_string();
    match e {
        CallError::NotInstalled { .. } => body(StatusCode::NOT_FOUND, "not_installed", message),
        CallError::AuthenticationRequired { .. } => unauthenticated(message),
        CallError::OtherDistrict { .. } => body(StatusCode::FORBIDDEN, "forbidden", message),
        CallError::Suspended {
            district,
            app,
            reason,
        } => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": {
                "code": "app_suspended",
                "message": message,
                "district": district,
                "app": app,
                "reason": reason,
            }})),
        )
            .into_response(),
        CallError::Busy => {
            let mut r = body(StatusCode::SERVICE_UNAVAILABLE, "busy", message);
            r.headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
            r
        }
        CallError::Failed {
            district,
            app,
            failure,
        } => {
            let status = match failure {
                Failure::Deadline { .. } => StatusCode::GATEWAY_TIMEOUT,
                Failure::ResponseTooLarge { .. } | Failure::InvalidStatus(_) => {
                    StatusCode::BAD_GATEWAY
                }
                Failure::Trap(_) | Failure::Panic(_) | Failure::Memory { .. } => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            };
            (
                status,
                Json(json!({ "error": {
                    "code": "app_failed",
                    "cause": failure.cause(),
                    "message": format!("app `{app}` in district `{district}` failed: {failure}"),
                    "district": district,
                    "app": app,
                }})),
            )
                .into_response()
        }
        CallError::Internal(detail) => {
            tracing::error!(error = %detail, "app call failed inside the host");
            body(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                INTERNAL.into(),
            )
        }
    }
}
