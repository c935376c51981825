//! Extractors whose rejections are [`ApiError`]s, so malformed input gets the envelope too.

use crate::error::ApiError;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use bytes::Bytes;
use serde_json::Value;
use std::collections::HashMap;

/// A JSON body, parsed into a [`Value`]. An empty body is `{}` (the SDKs send no body for
/// clone and promote). What the value must look like is the handler's business.
#[derive(Debug)]
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::BodyTooLarge(0)
            } else {
                ApiError::MalformedBody {
                    detail: rejection.body_text(),
                    pointer: None,
                }
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses body bytes; empty or all-white-space is `{}`.
pub fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::MalformedBody {
        detail: format!("The request body is not valid JSON: {e}"),
        pointer: None,
    })
}

/// Requires the body to be a JSON object.
pub fn require_object(value: Value) -> Result<serde_json::Map<String, Value>, ApiError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(ApiError::MalformedBody {
            detail: format!(
                "The request body must be a JSON object, not {}",
                kind_of(&other)
            ),
            pointer: Some("/".into()),
        }),
    }
}

/// A JSON type's name, for messages.
pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Query parameters, percent-decoded (so `page%5Bnumber%5D` is `page[number]`), with typed
/// accessors whose errors name the parameter.
#[derive(Debug, Default)]
pub struct QueryParams(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(query).map_err(|e| ApiError::InvalidParameter {
                parameter: "query".into(),
                detail: format!("The query string could not be decoded: {e}"),
            })?;
        Ok(Self(pairs.into_iter().collect()))
    }
}

impl QueryParams {
    /// A raw value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A boolean (`true`/`false`), or `default` when absent.
    pub fn bool(&self, name: &str, default: bool) -> Result<bool, ApiError> {
        match self.get(name) {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(ApiError::InvalidParameter {
                parameter: name.to_owned(),
                detail: format!("`{name}` must be true or false, not {other:?}"),
            }),
        }
    }

    /// A whole number within `min..=max`, or `None` when absent.
    pub fn u32_in(&self, name: &str, min: u32, max: u32) -> Result<Option<u32>, ApiError> {
        let Some(text) = self.get(name) else {
            return Ok(None);
        };
        match text.parse::<u32>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(ApiError::InvalidParameter {
                parameter: name.to_owned(),
                detail: format!(
                    "`{name}` must be a whole number from {min} to {max}, not {text:?}"
                ),
            }),
        }
    }
}

/// `page[number]` and `page[size]` of a paginated list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pagination {
    /// 1-based page.
    pub number: u32,
    /// Items per page.
    pub size: u32,
}

/// Default `page[size]`.
pub const DEFAULT_PAGE_SIZE: u32 = 20;
/// Largest `page[size]`.
pub const MAX_PAGE_SIZE: u32 = 100;

impl Pagination {
    /// Reads the page parameters; `None` when neither is given.
    pub fn from_query(query: &QueryParams) -> Result<Option<Self>, ApiError> {
        let number = query.u32_in("page[number]", 1, u32::MAX)?;
        let size = query.u32_in("page[size]", 1, MAX_PAGE_SIZE)?;
        if number.is_none() && size.is_none() {
            return Ok(None);
        }
        Ok(Some(Self {
            number: number.unwrap_or(1),
            size: size.unwrap_or(DEFAULT_PAGE_SIZE),
        }))
    }

    /// The store window for this page.
    pub fn window(self) -> parley_store::PageRequest {
        parley_store::PageRequest {
            offset: u64::from(self.number - 1) * u64::from(self.size),
            limit: Some(u64::from(self.size)),
        }
    }
}

/// Path parameters; a rejection (an undecodable segment) is an [`ApiError`].
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Self(value))
            .map_err(|rejection| ApiError::MalformedBody {
                detail: format!("The path could not be read: {}", rejection.body_text()),
                pointer: None,
            })
    }
}

/// Reads and discards up to `limit` bytes of a request body that will not be used, so that a
/// response sent before the body was read (401, 404, 405) leaves the keep-alive connection
/// usable for the client's next request.
pub async fn drain_body(body: axum::body::Body, limit: usize) {
    use http_body_util::BodyExt;
    let _ = http_body_util::Limited::new(body, limit).collect().await;
}
