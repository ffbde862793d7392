//! `hutong registry serve`: a directory registry over HTTP.
//!
//! | Method and path                      | Answer                                   |
//! |--------------------------------------|------------------------------------------|
//! | `GET /v1/packages/{name}`            | the package's [`Index`]                  |
//! | `GET /v1/log?from=N`                 | the [`LogSlice`] from entry N to the head |
//! | `GET /v1/proof/{name}/{version}`     | the [`Proof`] that the release is logged |
//! | `GET /v1/blobs/sha256/{hex}`         | a component or manifest                  |
//! | `POST /v1/publish`                   | a signed [`PublishRequest`]; the entry   |
//! | `POST /v1/yank`                      | a signed [`YankRequest`]; the entry      |
//!
//! Publishing needs no account: the signature is the authority, and a
//! package's later releases and yanks must be signed by a key that signed an
//! earlier one. A refusal answers 4xx with the [`Refusal`] as JSON, which
//! [`HttpRegistry`](crate::HttpRegistry) turns back into the same error a
//! directory registry gives.

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use semver::Version;
use serde::Deserialize;

use crate::dir::DirRegistry;
use crate::index::Index;
use crate::log::{LogEntry, LogSlice, Proof};
use crate::release::{PublishRequest, YankRequest};
use crate::{Refusal, Registry, RegistryError};

/// The largest publish accepted: a component and its manifest, base64'd.
pub const MAX_PUBLISH_BYTES: usize = 96 << 20;

/// The HTTP API over `registry`; see the module docs.
pub fn router(registry: DirRegistry) -> Router {
    Router::new()
        .route("/v1/packages/{name}", get(index))
        .route("/v1/log", get(log))
        .route("/v1/proof/{name}/{version}", get(proof))
        .route("/v1/blobs/sha256/{digest}", get(blob))
        .route("/v1/publish", post(publish))
        .route("/v1/yank", post(yank))
        .layer(DefaultBodyLimit::max(MAX_PUBLISH_BYTES))
        .with_state(registry)
}

/// An error as an HTTP answer: a refusal with its status and JSON, anything
/// else logged and answered with a generic 500.
struct Failure(RegistryError);

impl From<RegistryError> for Failure {
    fn from(e: RegistryError) -> Self {
        Failure(e)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self.0 {
            RegistryError::Refused(refusal) => {
                let status = match &refusal {
                    Refusal::UnknownPackage { .. }
                    | Refusal::UnknownRelease { .. }
                    | Refusal::UnknownBlob { .. } => StatusCode::NOT_FOUND,
                    Refusal::Republish { .. } | Refusal::AlreadyYanked { .. } => {
                        StatusCode::CONFLICT
                    }
                    Refusal::NotOwner { .. } => StatusCode::FORBIDDEN,
                    Refusal::BadSignature { .. } | Refusal::Invalid(_) => {
                        StatusCode::UNPROCESSABLE_ENTITY
                    }
                };
                let mut body = serde_json::to_value(&refusal).unwrap_or_default();
                if let Some(object) = body.as_object_mut() {
                    object.insert("message".into(), refusal.to_string().into());
                }
                (status, Json(body)).into_response()
            }
            other => {
                tracing::error!(error = %other, "registry request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(serde_json::json!({
                        "refusal": "internal",
                        "message": "the registry failed; its log says why",
                    })),
                )
                    .into_response()
            }
        }
    }
}

async fn index(
    State(registry): State<DirRegistry>,
    Path(name): Path<String>,
) -> Result<Json<Index>, Failure> {
    Ok(Json(registry.index(&name).await?))
}

#[derive(Deserialize)]
struct FromQuery {
    #[serde(default)]
    from: u64,
}

async fn log(
    State(registry): State<DirRegistry>,
    Query(from): Query<FromQuery>,
) -> Result<Json<LogSlice>, Failure> {
    Ok(Json(registry.log(from.from).await?))
}

async fn proof(
    State(registry): State<DirRegistry>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Proof>, Failure> {
    let version = Version::parse(&version).map_err(|_| {
        RegistryError::from(Refusal::Invalid(format!(
            "`{version}` is not a semantic version"
        )))
    })?;
    Ok(Json(registry.proof(&name, &version).await?))
}

async fn blob(
    State(registry): State<DirRegistry>,
    Path(digest): Path<String>,
) -> Result<Response, Failure> {
    let bytes = registry.blob(&digest).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

async fn publish(
    State(registry): State<DirRegistry>,
    Json(request): Json<PublishRequest>,
) -> Result<(StatusCode, Json<LogEntry>), Failure> {
    Ok((StatusCode::CREATED, Json(registry.publish(request).await?)))
}

async fn yank(
    State(registry): State<DirRegistry>,
    Json(request): Json<YankRequest>,
) -> Result<Json<LogEntry>, Failure> {
    Ok(Json(registry.yank(request).await?))
}
