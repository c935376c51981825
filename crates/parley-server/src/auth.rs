//! Bearer-key authentication of every `/v2` request.
//!
//! The presented key is hashed (SHA-256) and looked up by hash; the stored hash is compared
//! again in constant time. The organization found becomes the request's [`Tenant`].
//!
//! A node remembers a verified key's organization for `auth_cache_ms` (1 s by default;
//! [`KeyCache`], by hash — the key itself is never kept), which saves a database round trip on
//! most requests. That time is the most a revoked key keeps working on a running node;
//! unknown and revoked keys are never remembered, so they always reach the database.

use crate::error::ApiError;
use crate::state::{AppState, Tenant};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Utc};
use parley_core::apikey;
use parley_core::ids::OrgId;
use std::collections::HashMap;
use std::sync::Mutex;

/// Keys one node remembers at most; past that, expired entries go, then all of them.
const MAX_CACHED_KEYS: usize = 10_000;

/// Verified API keys of this node, by hash: the organization and until when it may be used
/// without asking the database again.
#[derive(Debug, Default)]
pub struct KeyCache {
    entries: Mutex<HashMap<String, (OrgId, DateTime<Utc>)>>,
}

impl KeyCache {
    /// The organization of the key hashed `hash`, when it was verified and `now` is before its
    /// expiry.
    pub fn get(&self, hash: &str, now: DateTime<Utc>) -> Option<OrgId> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(hash)
            .filter(|(_, until)| now < *until)
            .map(|(org, _)| org.clone())
    }

    /// Remembers that the key hashed `hash` belongs to `org`, until `until`.
    pub fn insert(&self, hash: &str, org: OrgId, now: DateTime<Utc>, until: DateTime<Utc>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_CACHED_KEYS && !entries.contains_key(hash) {
            entries.retain(|_, (_, expiry)| now < *expiry);
            if entries.len() >= MAX_CACHED_KEYS {
                entries.clear();
            }
        }
        entries.insert(hash.to_owned(), (org, until));
    }
}

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
    let ttl = state.settings.auth_cache_ms;
    let now = state.clock.now();
    if ttl > 0 {
        if let Some(org_id) = state.keys.get(&hash, now) {
            return Ok(Tenant { org_id });
        }
    }
    let found = state.store.find_api_key(&hash).await?;
    let Some(found) = found.filter(|k| apikey::hashes_match(&k.hash, &hash)) else {
        return Err(ApiError::Unauthorized("The API key is not valid".into()));
    };
    if ttl > 0 {
        let until = now + chrono::Duration::milliseconds(i64::try_from(ttl).unwrap_or(i64::MAX));
        state.keys.insert(&hash, found.org_id.clone(), now, until);
    }
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
