//! A local notification gateway (SMS, voice, webhook) for tests: it
//! answers with a status the test sets and keeps every request it accepted.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

use crate::tls::{TestCa, serve_https};

/// One request a gateway accepted.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub raw: Vec<u8>,
    pub body: Value,
}

/// A local gateway: answers `status` (200 unless told otherwise) and keeps
/// what it accepted.
#[derive(Clone)]
pub struct Gateway {
    scheme: &'static str,
    addr: SocketAddr,
    status: Arc<AtomicU16>,
    accepted: Arc<Mutex<Vec<Received>>>,
    refused: Arc<Mutex<u64>>,
}

impl Gateway {
    pub async fn start() -> Gateway {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let gateway = Gateway::new("http", listener.local_addr().expect("address"));
        let app = gateway.app();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        gateway
    }

    /// A gateway served over https with a certificate signed by `ca`.
    pub async fn start_https(ca: &TestCa) -> Gateway {
        let mut gateway = Gateway::new("https", SocketAddr::from(([127, 0, 0, 1], 0)));
        gateway.addr = serve_https(gateway.app(), ca).await;
        gateway
    }

    fn new(scheme: &'static str, addr: SocketAddr) -> Gateway {
        Gateway {
            scheme,
            addr,
            status: Arc::new(AtomicU16::new(200)),
            accepted: Arc::default(),
            refused: Arc::default(),
        }
    }

    fn app(&self) -> axum::Router {
        axum::Router::new()
            .fallback(receive)
            .with_state(self.clone())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.addr)
    }

    pub fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    pub fn accepted(&self) -> Vec<Received> {
        self.accepted.lock().map(|a| a.clone()).unwrap_or_default()
    }

    pub fn refused(&self) -> u64 {
        self.refused.lock().map(|r| *r).unwrap_or_default()
    }
}

async fn receive(
    State(gateway): State<Gateway>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let status = gateway.status.load(Ordering::SeqCst);
    if status != 200 {
        if let Ok(mut r) = gateway.refused.lock() {
            *r += 1;
        }
        return StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    }
    let received = Received {
        path: uri.path().to_owned(),
        headers,
        raw: body.to_vec(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    if let Ok(mut a) = gateway.accepted.lock() {
        a.push(received);
    }
    StatusCode::OK
}
