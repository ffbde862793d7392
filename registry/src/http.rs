//! A registry reached over HTTP (`hutong registry serve`, or any server with
//! the same API; see [`crate::serve`]).

use std::time::Duration;

use semver::Version;
use serde::de::DeserializeOwned;

use crate::index::Index;
use crate::log::{LogEntry, LogSlice, Proof};
use crate::release::{PublishRequest, YankRequest};
use crate::tls::describe;
use crate::{BoxFuture, Refusal, Registry, RegistryError, is_sha256_hex, is_valid_name};

/// How long one request to a registry may take, download included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The largest answer read from a registry: a misbehaving server must not
/// fill the host's memory.
const MAX_ANSWER_BYTES: usize = 256 << 20;

/// A registry at an `http://` or `https://` URL.
#[derive(Clone, Debug)]
pub struct HttpRegistry {
    location: String,
    client: reqwest::Client,
}

impl HttpRegistry {
    /// A client for the registry at `url` (`http[s]://host[:port][/prefix]`).
    /// An https registry's certificate must chain to a built-in root or to
    /// the operator's extra roots ([`crate::tls::trust_extra_roots`]).
    pub fn new(url: &str) -> Result<Self, RegistryError> {
        let bad = |why: &str| RegistryError::Invalid(format!("registry URL `{url}` {why}"));
        let uri: http::Uri = url.parse().map_err(|_| bad("does not parse"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(bad("must start with http:// or https://"));
        }
        if uri.authority().is_none() {
            return Err(bad("has no host"));
        }
        let client = crate::tls::client_builder()
            .user_agent("hutong-registry")
            .build()
            .map_err(|e| {
                bad(&format!(
                    "needs an HTTP client that could not be built: {}",
                    describe(&e)
                ))
            })?;
        Ok(HttpRegistry {
            location: url.trim_end_matches('/').to_owned(),
            client,
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
    ) -> Result<(u16, Vec<u8>), RegistryError> {
        let work = async {
            let mut response = self
                .client
                .request(method, format!("{}{path}", self.location))
                .header("content-type", "application/json")
                .body(body.unwrap_or_default())
                .send()
                .await
                .map_err(|e| self.unreachable(format!("request failed: {}", describe(&e))))?;
            let status = response.status().as_u16();
            let mut bytes = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| {
                self.unreachable(format!("reading the answer failed: {}", describe(&e)))
            })? {
                if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
                    return Err(self.unreachable(format!(
                        "reading the answer failed: it is longer than {MAX_ANSWER_BYTES} bytes"
                    )));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok((status, bytes))
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
    ) -> Result<Vec<u8>, RegistryError> {
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
            Ok(bytes)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_and_https_urls_are_accepted_and_others_say_what_is_allowed() {
        for good in [
            "http://127.0.0.1:8090",
            "https://registry.city.example/hutong/",
        ] {
            assert!(HttpRegistry::new(good).is_ok(), "{good}");
        }
        for bad in ["ftp://registry.example/", "registry.example", "https://"] {
            let e = HttpRegistry::new(bad).map(|_| ()).unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
        let e = HttpRegistry::new("ftp://x/")
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains("http:// or https://"), "{e}");
    }
}
