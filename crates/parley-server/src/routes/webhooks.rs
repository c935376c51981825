//! `/v2/webhooks`: events the carrier (Telnyx) sends — `POST /v2/webhooks/messaging`
//! (`message.received`, `message.sent`, `message.finalized`) and
//! `POST /v2/webhooks/call-control` (`call.answered`, `call.hangup`; others acknowledged).
//!
//! These routes carry no API key. When `PARLEY_TELNYX_PUBLIC_KEY` is set, each request must
//! carry Telnyx's Ed25519 signature (`telnyx-signature-ed25519` over
//! `telnyx-timestamp|body`) and a timestamp within the tolerance, or it is refused with 401.
//! An accepted event is answered at once with `{"status": …}` (`accepted`, `duplicate`,
//! `ignored`); the work it causes runs in the background (a durable job for inbound texts),
//! so the carrier never retries a delivery that was received.

use crate::carrier::{verify_webhook, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use crate::error::{ApiError, ApiResult};
use crate::extract::parse_json;
use crate::outreach::{accept_call_event, accept_messaging_event};
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::{json, Value};

/// Routes of this resource (full paths: they sit outside the authenticated `/v2` router).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2/webhooks/messaging", post(messaging))
        .route("/v2/webhooks/call-control", post(call_control))
}

/// Checks the signature when a public key is configured, then parses the body.
fn verified(state: &AppState, headers: &HeaderMap, body: &Bytes) -> ApiResult<Value> {
    if let Some(key) = &state.settings.carrier.public_key {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        verify_webhook(
            key,
            header(SIGNATURE_HEADER),
            header(TIMESTAMP_HEADER),
            body,
            state.clock.now(),
            state.settings.carrier.webhook_tolerance_secs,
        )
        .map_err(|e| ApiError::Unauthorized(e.to_string()))?;
    }
    parse_json(body)
}

async fn messaging(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let event = verified(&state, &headers, &body)?;
    let outcome = accept_messaging_event(&state, &event).await?;
    Ok(Json(json!({"status": outcome.as_str()})))
}

async fn call_control(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let event = verified(&state, &headers, &body)?;
    let outcome = accept_call_event(&state, &event).await?;
    Ok(Json(json!({"status": outcome.as_str()})))
}
