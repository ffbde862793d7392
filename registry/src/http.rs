//! A registry reached over HTTP (`hutong registry serve`, or any server with
//! the same API; see [`crate::serve`]).

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use semver::Version;
use serde::de::DeserializeOwned;

use crate::index::Index;
use crate::log::{LogEntry, LogSlice, Proof};
use crate::release::{PublishRequest, YankRequest};
use crate::{BoxFuture, Refusal, Registry, RegistryError, is_sha256_hex, is_valid_name};

/// How long one request to a registry may take, download included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The largest answer read from a registry: a misbehaving server must not
/// fill the host's memory.
const MAX_ANSWER_BYTES: usize = 256 << 20;

/// A registry at an `http://` URL.
#[derive(Clone, Debug)]
pub struct HttpRegistry {
    location: String,
    host: String,
    port: u16,
    authority: String,
    prefix: String,
}

impl HttpRegistry {
    /// A client for the registry at `url` (`http://host:port[/prefix]`).
    pub fn new(url: &str) -> Result<Self, RegistryError> {
        let bad = |why: &str| RegistryError::Invalid(format!("registry URL `{url}` {why}"));
        let uri: http::Uri = url.parse().map_err(|_| bad("does not parse"))?;
        if uri.scheme_str() != Some("http") {
            return Err(bad("must start with http://"));
        }
        let authority = uri.authority().ok_or_else(|| bad("has no host"))?;
        let location = url.trim_end_matches('/').to_owned();
        Ok(HttpRegistry {
            host: authority.host().trim_matches(['[', ']']).to_owned(),
            port: authority.port_u16().unwrap_or(80),
            authority: authority.as_str().to_owned(),
            prefix: uri.path().trim_end_matches('/').to_owned(),
            location,
        })
    }

    fn unreachable(&self, detail: impl Into<String>) -> RegistryError {
        RegistryError::Unreachable {
            registry: self.location.clone(),
            detail: detail.into(),
        }
    }

    /// One request; the status and the body.
    async fn exchange(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Bytes), RegistryError> {
        let work = async {
            let stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| self.unreachable(format!("could not connect: {e}")))?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .map_err(|e| self.unreachable(format!("HTTP handshake failed: {e}")))?;
            let driver = tokio::spawn(connection);
            let request = hyper::Request::builder()
                .method(method)
                .uri(format!("{}{path}", self.prefix))
                .header("host", &self.authority)
                .header("user-agent", "hutong-registry")
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body.unwrap_or_default())))
                .map_err(|e| self.unreachable(format!("could not build the request: {e}")))?;
            let result = async {
                let response = sender
                    .send_request(request)
                    .await
                    .map_err(|e| self.unreachable(format!("request failed: {e}")))?;
                let status = response.status().as_u16();
                let bytes = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                    .collect()
                    .await
                    .map_err(|e| self.unreachable(format!("reading the answer failed: {e}")))?
                    .to_bytes();
                Ok((status, bytes))
            }
            .await;
            driver.abort();
            result
        };
        tokio::time::timeout(REQUEST_TIMEOUT, work)
            .await
            .map_err(|_| {
                self.unreachable(format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()))
            })?
    }

    /// A request whose successful answer is raw bytes.
    async fn bytes(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Bytes, RegistryError> {
        let (status, bytes) = self.exchange(method, path, body).await?;
        if (200..300).contains(&status) {
            return Ok(bytes);
        }
        // A refusal comes back as the registry sent it; anything else is
        // the registry misbehaving.
        match serde_json::from_slice::<Refusal>(&bytes) {
            Ok(refusal) if (400..500).contains(&status) => Err(refusal.into()),
            _ => Err(self.unreachable(format!(
                "it answered {status}: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
            ))),
        }
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, RegistryError> {
        let bytes = self.bytes(method, path, body).await?;
        serde_json::from_slice(&bytes).map_err(|e| RegistryError::Corrupt {
            registry: self.location.clone(),
            detail: format!("its answer to {path} does not parse: {e}"),
        })
    }
}

/// A name checked before it goes into a URL path.
fn checked_name(name: &str) -> Result<&str, RegistryError> {
    if is_valid_name(name) {
        Ok(name)
    } else {
        Err(RegistryError::Invalid(format!(
            "`{name}` is not a package name"
        )))
    }
}

impl Registry for HttpRegistry {
    fn location(&self) -> &str {
        &self.location
    }

    fn index<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Index> {
        Box::pin(async move {
            let name = checked_name(name)?;
            self.json(http::Method::GET, &format!("/v1/packages/{name}"), None)
                .await
        })
    }

    fn log(&self, from: u64) -> BoxFuture<'_, LogSlice> {
        Box::pin(async move {
            self.json(http::Method::GET, &format!("/v1/log?from={from}"), None)
                .await
        })
    }

    fn proof<'a>(&'a self, name: &'a str, version: &'a Version) -> BoxFuture<'a, Proof> {
        Box::pin(async move {
            let name = checked_name(name)?;
            // Build metadata would need escaping; releases never carry it in
            // a path the registry would accept anyway.
            let version = Version {
                build: semver::BuildMetadata::EMPTY,
                ..version.clone()
            };
            self.json(
                http::Method::GET,
                &format!("/v1/proof/{name}/{version}"),
                None,
            )
            .await
        })
    }

    fn blob<'a>(&'a self, sha256: &'a str) -> BoxFuture<'a, Vec<u8>> {
        Box::pin(async move {
            if !is_sha256_hex(sha256) {
                return Err(RegistryError::Invalid(format!(
                    "`{sha256}` is not a sha256 digest"
                )));
            }
            let bytes = self
                .bytes(
                    http::Method::GET,
                    &format!("/v1/blobs/sha256/{sha256}"),
                    None,
                )
                .await?;
            Ok(bytes.to_vec())
        })
    }

    fn publish(&self, request: PublishRequest) -> BoxFuture<'_, LogEntry> {
        Box::pin(async move {
            let body =
                serde_json::to_vec(&request).map_err(|e| RegistryError::Invalid(e.to_string()))?;
            self.json(http::Method::POST, "/v1/publish", Some(body))
                .await
        })
    }

    fn yank(&self, request: YankRequest) -> BoxFuture<'_, LogEntry> {
        Box::pin(async move {
            let body =
                serde_json::to_vec(&request).map_err(|e| RegistryError::Invalid(e.to_string()))?;
            self.json(http::Method::POST, "/v1/yank", Some(body)).await
        })
    }
}
