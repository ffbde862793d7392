//! What every route module shares: the state handed to each handler, the
//! body limits, and reading a JSON body with an error that shows an example.

use std::sync::Arc;

use crate::api::app_origin::AppsDomain;
use crate::api::error::ApiError;
use crate::kernel::metrics::Metrics;
use crate::platform::Platform;

/// Largest install upload (component plus manifest, base64 included).
pub const MAX_INSTALL_BODY: usize = 64 << 20;

/// Largest request body passed to an app.
pub const MAX_APP_REQUEST_BODY: usize = 1 << 20;

/// What every handler shares.
#[derive(Clone)]
pub struct ApiState {
    /// The platform operations.
    pub platform: Platform,
    /// The metrics registry served at `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Where browsers get each app on an origin of its own; without one,
    /// apps are served on the console's origin in a sandbox, without
    /// the person's session.
    pub apps_domain: Option<AppsDomain>,
}

impl ApiState {
    /// The state of a host whose apps browsers reach under
    /// [`AppsDomain::LOCAL`].
    pub fn new(platform: Platform, metrics: Arc<Metrics>) -> Self {
        ApiState {
            platform,
            metrics,
            apps_domain: AppsDomain::parse(AppsDomain::LOCAL).ok(),
        }
    }

    /// The same, with apps under `domain` (none: not served to browsers on
    /// origins of their own).
    pub fn with_apps_domain(self, domain: Option<AppsDomain>) -> Self {
        ApiState {
            apps_domain: domain,
            ..self
        }
    }
}

/// A JSON body, or a 400 that shows what was expected.
pub(crate) fn json_body<T>(
    body: Result<axum::Json<T>, axum::extract::rejection::JsonRejection>,
    example: &str,
) -> Result<T, ApiError> {
    match body {
        Ok(axum::Json(value)) => Ok(value),
        Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => Err(
            ApiError::PayloadTooLarge("the request body is too large".into()),
        ),
        Err(e) => Err(ApiError::BadRequest(format!(
            "expected a JSON object like {example}: {}",
            e.body_text()
        ))),
    }
}

/// Permission names from a request body, parsed; an unknown name is the
/// platform's refusal (which lists the permissions there are).
pub(crate) fn permissions(
    names: &[String],
) -> Result<std::collections::BTreeSet<crate::kernel::manifest::Permission>, ApiError> {
    Ok(names
        .iter()
        .map(|g| g.parse::<crate::kernel::manifest::Permission>())
        .collect::<Result<_, _>>()
        .map_err(crate::error::PlatformError::from)?)
}

/// A JSON body that may be left out (empty means all defaults), or a 400
/// that shows what was expected.
pub(crate) fn optional_json<T: serde::de::DeserializeOwned + Default>(
    body: &[u8],
    example: &str,
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("expected a JSON object like {example}: {e}")))
}
