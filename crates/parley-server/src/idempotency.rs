//! `Idempotency-Key` on POST: the same key with the same request within the retention window
//! replays the first response without doing the work again; the same key with a different
//! request is refused (422); a key whose first request is still running answers 409, which
//! the SDKs retry. Keys are per organization. 5xx responses are not kept, so a retry of a
//! failed request runs again.

use crate::error::ApiError;
use crate::state::{AppState, Tenant};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method};
use http_body_util::BodyExt;
use parley_store::{IdempotencyClaim, StoredResponse};

/// Header carrying the key.
pub const HEADER: &str = "idempotency-key";
/// Header set on replayed responses.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// Middleware; runs after [`crate::auth::require_api_key`].
pub async fn idempotent_post(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if request.method() != Method::POST {
        return Ok(next.run(request).await);
    }
    let Some(key) = request.headers().get(HEADER) else {
        return Ok(next.run(request).await);
    };
    let key = key
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN)
        .ok_or_else(|| ApiError::MalformedBody {
            detail: format!(
                "The Idempotency-Key header must be 1 to {MAX_KEY_LEN} visible characters"
            ),
            pointer: None,
        })?
        .to_owned();
    let tenant = request
        .extensions()
        .get::<Tenant>()
        .cloned()
        .ok_or_else(|| ApiError::Internal("idempotency before authentication".into()))?;
    let (parts, body) = request.into_parts();
    let limit = state.settings.max_body_bytes;
    let bytes = http_body_util::Limited::new(body, limit)
        .collect()
        .await
        .map_err(|_| ApiError::BodyTooLarge(limit))?
        .to_bytes();
    // Keyed: the body may carry secret values (integration secrets), which an unkeyed hash
    // kept for a day would expose to guessing.
    let fingerprint = state.cipher.keyed_digest(&[
        parts.method.as_str().as_bytes(),
        parts.uri.path().as_bytes(),
        parts.uri.query().unwrap_or_default().as_bytes(),
        &bytes,
    ]);
    let now = state.clock.now();
    let expires_before =
        now - chrono::Duration::hours(i64::from(state.settings.idempotency_ttl_hours));
    let claim = state
        .store
        .claim_idempotency_key(&tenant.org_id, &key, &fingerprint, now, expires_before)
        .await?;
    match claim {
        IdempotencyClaim::Mismatch => Err(ApiError::IdempotencyMismatch),
        IdempotencyClaim::InFlight => Err(ApiError::IdempotencyInFlight),
        IdempotencyClaim::Replay(stored) => {
            let status = http::StatusCode::from_u16(stored.status)
                .map_err(|e| ApiError::Internal(format!("stored status: {e}")))?;
            let mut response = (status, stored.body).into_response();
            let headers = response.headers_mut();
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
            Ok(response)
        }
        IdempotencyClaim::Claimed => {
            let response = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            let streamed = response
                .headers()
                .get(http::header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
            if streamed {
                // An event stream is not replayable: pass it through as it is produced and
                // free the key for the next attempt.
                state
                    .store
                    .release_idempotency_key(&tenant.org_id, &key)
                    .await?;
                return Ok(response);
            }
            let (parts, body) = response.into_parts();
            let bytes = match body.collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(e) => {
                    state
                        .store
                        .release_idempotency_key(&tenant.org_id, &key)
                        .await?;
                    return Err(ApiError::Internal(format!("response body: {e}")));
                }
            };
            if parts.status.is_server_error() {
                state
                    .store
                    .release_idempotency_key(&tenant.org_id, &key)
                    .await?;
            } else {
                state
                    .store
                    .complete_idempotency_key(
                        &tenant.org_id,
                        &key,
                        StoredResponse {
                            status: parts.status.as_u16(),
                            body: bytes.to_vec(),
                        },
                    )
                    .await?;
            }
            Ok(Response::from_parts(parts, Body::from(bytes)))
        }
    }
}
