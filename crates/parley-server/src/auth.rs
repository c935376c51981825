//! Bearer-key authentication of every `/v2` request.
//!
//! The presented key is hashed (SHA-256) and looked up by hash; the stored hash is compared
//! again in constant time. The organization found becomes the request's [`Tenant`].

use crate::error::ApiError;
use crate::state::{AppState, Tenant};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use parley_core::apikey;

/// Middleware: resolves the `Authorization: Bearer` key or answers 401.
pub async fn require_api_key(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let header = request.headers().get(http::header::AUTHORIZATION).cloned();
    match authenticate(&state, header).await {
        Ok(tenant) => {
            request.extensions_mut().insert(tenant);
            Ok(next.run(request).await)
        }
        Err(error) => {
            crate::extract::drain_body(request.into_body(), state.settings.max_body_bytes).await;
            Err(error)
        }
    }
}

async fn authenticate(
    state: &AppState,
    header: Option<http::HeaderValue>,
) -> Result<Tenant, ApiError> {
    let header = header.ok_or_else(|| {
        ApiError::Unauthorized(
            "The Authorization header is missing; send `Authorization: Bearer <API key>`".into(),
        )
    })?;
    let value = header
        .to_str()
        .map_err(|_| ApiError::Unauthorized("The Authorization header is not valid text".into()))?;
    let key = value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim())
        .filter(|key| !key.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthorized("The Authorization header must be `Bearer <API key>`".into())
        })?;
    let hash = apikey::hash(key);
    let found = state.store.find_api_key(&hash).await?;
    let Some(found) = found.filter(|k| apikey::hashes_match(&k.hash, &hash)) else {
        return Err(ApiError::Unauthorized("The API key is not valid".into()));
    };
    Ok(Tenant {
        org_id: found.org_id,
    })
}

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Tenant>()
            .cloned()
            .ok_or_else(|| ApiError::Internal("route served without authentication".into()))
    }
}
