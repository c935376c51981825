//! A local HTTP server on 127.0.0.1 that plays the Telnyx API for the outreach tests: it
//! answers `POST /v2/messages`, `POST /v2/calls` and `POST /v2/calls/{id}/actions/{action}`
//! as Telnyx does, records every request (headers and body), and can be told to answer the
//! next requests of a path with an error. Also: the bodies of the webhooks Telnyx sends, and
//! a recorder for webhooks Parley forwards.
#![allow(dead_code)]

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct CarrierRequest {
    pub path: String,
    pub authorization: Option<String>,
    pub idempotency_key: Option<String>,
    pub body: Value,
    /// When it arrived.
    pub at: chrono::DateTime<chrono::Utc>,
}

#[derive(Default)]
struct Inner {
    requests: Vec<CarrierRequest>,
    /// (path prefix, status, body) answered instead of success, first match first.
    failures: VecDeque<(String, u16, Value)>,
}

/// The running fake; stops when dropped.
pub struct FakeTelnyx {
    address: std::net::SocketAddr,
    inner: Arc<Mutex<Inner>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeTelnyx {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(
    inner: &Arc<Mutex<Inner>>,
    path: String,
    headers: &HeaderMap,
    body: &Bytes,
) -> Option<Response> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut inner = inner.lock().unwrap();
    inner.requests.push(CarrierRequest {
        path: path.clone(),
        authorization: header("authorization"),
        idempotency_key: header("idempotency-key"),
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
        at: chrono::Utc::now(),
    });
    let position = inner
        .failures
        .iter()
        .position(|(prefix, _, _)| path.starts_with(prefix.as_str()))?;
    let (_, status, body) = inner.failures.remove(position)?;
    Some((StatusCode::from_u16(status).unwrap(), Json(body)).into_response())
}

async fn messages(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(failure) = record(&inner, "/v2/messages".into(), &headers, &body).await {
        return failure;
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    Json(json!({"data": {
        "record_type": "message",
        "direction": "outbound",
        "id": format!("msg-{}", uuid::Uuid::new_v4()),
        "type": "SMS",
        "from": {"phone_number": request["from"], "carrier": "Telnyx", "line_type": "Wireless"},
        "to": [{"phone_number": request["to"], "status": "queued", "carrier": "T-Mobile USA", "line_type": "Wireless"}],
        "text": request["text"],
        "messaging_profile_id": request["messaging_profile_id"],
        "parts": 1,
        "encoding": "GSM-7",
    }}))
    .into_response()
}

async fn calls(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(failure) = record(&inner, "/v2/calls".into(), &headers, &body).await {
        return failure;
    }
    Json(json!({"data": {
        "record_type": "call",
        "call_control_id": format!("v3:{}", uuid::Uuid::new_v4().simple()),
        "call_leg_id": uuid::Uuid::new_v4().to_string(),
        "call_session_id": uuid::Uuid::new_v4().to_string(),
        "is_alive": false,
    }}))
    .into_response()
}

async fn action(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path((call, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/v2/calls/{call}/actions/{action}");
    if let Some(failure) = record(&inner, path, &headers, &body).await {
        return failure;
    }
    Json(json!({"data": {"result": "ok", "conversation_id": uuid::Uuid::new_v4().to_string()}}))
        .into_response()
}

impl FakeTelnyx {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/v2/messages", post(messages))
            .route("/v2/calls", post(calls))
            .route("/v2/calls/{call}/actions/{action}", post(action))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            address,
            inner,
            task,
        }
    }

    /// What `PARLEY_TELNYX_API_URL` is set to.
    pub fn api_url(&self) -> String {
        format!("http://{}/v2", self.address)
    }

    /// Answers the next request whose path starts with `prefix` with `status` and `body`.
    pub fn fail_next(&self, prefix: &str, status: u16, body: Value) {
        self.inner
            .lock()
            .unwrap()
            .failures
            .push_back((prefix.to_owned(), status, body));
    }

    pub fn requests(&self) -> Vec<CarrierRequest> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// Requests to `path` exactly (`/v2/messages`, `/v2/calls`), or whose path ends with it.
    pub fn requests_to(&self, path: &str) -> Vec<CarrierRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path || r.path.ends_with(path))
            .collect()
    }

    /// Waits (up to 5 s) until `count` requests went to `path`.
    pub async fn wait_for(&self, path: &str, count: usize) -> Vec<CarrierRequest> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let found = self.requests_to(path);
            if found.len() >= count {
                return found;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{count} requests to {path} expected, got {found:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// A `message.received` webhook body.
pub fn message_received(
    event_id: &str,
    message_id: &str,
    from: &str,
    to: &str,
    text: &str,
) -> Value {
    json!({
        "data": {
            "event_type": "message.received",
            "id": event_id,
            "occurred_at": "2026-01-01T12:00:00.000+00:00",
            "payload": {
                "direction": "inbound",
                "id": message_id,
                "type": "SMS",
                "from": {"phone_number": from, "carrier": "T-Mobile USA", "line_type": "long_code"},
                "to": [{"phone_number": to, "status": "webhook_delivered", "carrier": "Telnyx", "line_type": "Wireless"}],
                "text": text,
                "messaging_profile_id": "profile-1",
                "record_type": "message",
            },
            "record_type": "event",
        },
        "meta": {"attempt": 1, "delivered_to": "http://parley/v2/webhooks/messaging"},
    })
}

/// A delivery webhook (`message.sent` or `message.finalized`) for message `message_id`.
pub fn message_status(
    event_type: &str,
    event_id: &str,
    message_id: &str,
    status: &str,
    errors: Value,
) -> Value {
    json!({
        "data": {
            "event_type": event_type,
            "id": event_id,
            "occurred_at": "2026-01-01T12:00:01.000+00:00",
            "payload": {
                "direction": "outbound",
                "id": message_id,
                "type": "SMS",
                "to": [{"phone_number": "+13125550101", "status": status}],
                "errors": errors,
                "record_type": "message",
            },
            "record_type": "event",
        }
    })
}

/// A Call Control webhook for `call` (`client_state` as the dial sent it).
pub fn call_event(
    event_type: &str,
    event_id: &str,
    call: &str,
    client_state: &Value,
    hangup_cause: Option<&str>,
) -> Value {
    let mut payload = json!({
        "call_control_id": call,
        "call_leg_id": "leg-1",
        "call_session_id": "session-1",
        "client_state": client_state,
        "connection_id": "connection-1",
        "from": "+13125550100",
        "to": "+13125550101",
        "direction": "outgoing",
        "state": if event_type == "call.hangup" { "hangup" } else { "answered" },
    });
    if let Some(cause) = hangup_cause {
        payload["hangup_cause"] = json!(cause);
        payload["hangup_source"] = json!("callee");
        payload["start_time"] = json!("2026-01-01T12:00:00Z");
        payload["end_time"] = json!("2026-01-01T12:00:42Z");
    }
    json!({
        "data": {
            "event_type": event_type,
            "id": event_id,
            "occurred_at": "2026-01-01T12:00:00.000+00:00",
            "payload": payload,
            "record_type": "event",
        },
        "meta": {"attempt": 1},
    })
}

/// A server recording the JSON bodies POSTed to it (a user's webhook).
pub struct Recorder {
    pub url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Recorder {
    pub async fn start() -> Self {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route(
                "/hook",
                post(|State(bodies): State<Arc<Mutex<Vec<Value>>>>, Json(body): Json<Value>| async move {
                    bodies.lock().unwrap().push(body);
                    StatusCode::OK
                }),
            )
            .with_state(bodies.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, bodies, task }
    }

    /// Waits (up to 5 s) for `count` bodies.
    pub async fn wait_for(&self, count: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let bodies = self.bodies.lock().unwrap().clone();
            if bodies.len() >= count {
                return bodies;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{count} webhook bodies expected, got {bodies:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
