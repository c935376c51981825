//! [`ApiError`]: every failure of every route, fallback and extractor becomes one of these,
//! and this is the only place an error becomes a response — the Telnyx envelope
//! `{"errors":[{code,title,detail,source,meta}]}`. Internal details are logged here, once,
//! and never sent.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use parley_core::{FieldErrorKind, ValidationErrors};
use parley_store::StoreError;
use parley_types::{ErrorEnvelope, ErrorObject, ErrorSource};

/// Error codes Parley sends (numeric strings on the wire).
pub mod codes {
    /// Internal error (500).
    pub const INTERNAL: &str = "10000";
    /// The request body is not valid JSON, or not of the expected shape (400).
    pub const MALFORMED_BODY: &str = "10002";
    /// A query parameter is not valid (400).
    pub const INVALID_PARAMETER: &str = "10003";
    /// The resource does not exist (404).
    pub const NOT_FOUND: &str = "10005";
    /// Authentication failed (401).
    pub const AUTHENTICATION_FAILED: &str = "10009";
    /// The method is not allowed on this path (405).
    pub const METHOD_NOT_ALLOWED: &str = "10011";
    /// The request body exceeds the configured limit (413).
    pub const BODY_TOO_LARGE: &str = "10012";
    /// Another request with the same idempotency key is in progress (409).
    pub const IDEMPOTENCY_IN_FLIGHT: &str = "10013";
    /// A value conflicts with another (a second tool of a single-instance type) (400).
    pub const DUPLICATE_VALUE: &str = "10015";
    /// A field is not valid under the contract (422).
    pub const VALIDATION_FAILED: &str = "10016";
    /// The idempotency key was used with a different request (422).
    pub const IDEMPOTENCY_MISMATCH: &str = "10017";
    /// The operation is refused in the resource's current state (400).
    pub const REFUSED: &str = "10018";
    /// An upstream service (the LLM provider) failed or answered garbage (502).
    pub const UPSTREAM_FAILED: &str = "10019";
    /// A needed service is busy or unavailable; retry later (503).
    pub const UNAVAILABLE: &str = "10020";
    /// An upstream service did not answer in time (504).
    pub const UPSTREAM_TIMEOUT: &str = "10021";
    /// The request cannot be run by the model (e.g. longer than its context) (422).
    pub const MODEL_REFUSED: &str = "10022";
}

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Missing, malformed, unknown or revoked API key.
    #[error("authentication failed: {0}")]
    Unauthorized(String),
    /// No such resource in the caller's organization.
    #[error("{resource} {id} not found")]
    NotFound {
        /// Kind of resource ("Assistant").
        resource: &'static str,
        /// The id asked for.
        id: String,
        /// JSON pointer naming the path parameter (`/assistant_id`).
        pointer: &'static str,
    },
    /// No route matches the path.
    #[error("no route for {0}")]
    RouteNotFound(String),
    /// The route exists but not with this method.
    #[error("method {0} not allowed")]
    MethodNotAllowed(String),
    /// The body is not JSON, or not of the right shape.
    #[error("malformed body: {detail}")]
    MalformedBody {
        /// What is wrong.
        detail: String,
        /// Where, when known.
        pointer: Option<String>,
    },
    /// A query parameter is invalid.
    #[error("invalid query parameter {parameter}: {detail}")]
    InvalidParameter {
        /// The parameter's name.
        parameter: String,
        /// What is wrong.
        detail: String,
    },
    /// Body fields break the contract.
    #[error("validation failed: {0}")]
    Validation(#[from] ValidationErrors),
    /// The body exceeds the limit.
    #[error("request body too large (limit {0} bytes, 0 = configured limit)")]
    BodyTooLarge(usize),
    /// Refused in the current state (deleting a referenced assistant).
    #[error("refused: {detail}")]
    Refused {
        /// Why.
        detail: String,
        /// Which field or parameter it is about.
        pointer: Option<String>,
    },
    /// The idempotency key is held by a running request.
    #[error("idempotency key in use")]
    IdempotencyInFlight,
    /// The idempotency key was used with another request.
    #[error("idempotency key reused with a different request")]
    IdempotencyMismatch,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The language model failed; the detail is logged, never sent.
    #[error("language model: {0}")]
    Llm(#[from] parley_llm::LlmError),
    /// Another service the request needed (a provider an import reads from) failed, answered
    /// garbage or did not answer in time (502). The detail is sent: it names the service and
    /// what it said, never a credential.
    #[error("upstream: {detail}")]
    Upstream {
        /// What failed, for the client.
        detail: String,
    },
    /// Anything else that is our fault.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The assistant `id` does not exist in the caller's organization.
    pub fn assistant_not_found(id: &str) -> Self {
        Self::NotFound {
            resource: "Assistant",
            id: id.to_owned(),
            pointer: "/assistant_id",
        }
    }

    /// The status this error is sent with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::NotFound { .. } | Self::RouteNotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::MalformedBody { .. } | Self::InvalidParameter { .. } | Self::Refused { .. } => {
                StatusCode::BAD_REQUEST
            }
            Self::Validation(errors) => {
                if errors
                    .0
                    .iter()
                    .all(|e| matches!(e.kind, FieldErrorKind::Duplicate | FieldErrorKind::Rule))
                {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
            }
            Self::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::IdempotencyInFlight => StatusCode::CONFLICT,
            Self::IdempotencyMismatch => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Llm(error) => {
                use parley_llm::LlmError as E;
                match error {
                    E::Unreachable(_) | E::UpstreamStatus { .. } | E::BadResponse(_) => {
                        StatusCode::BAD_GATEWAY
                    }
                    E::Timeout => StatusCode::GATEWAY_TIMEOUT,
                    E::Busy(_) | E::Model(_) | E::Cancelled => StatusCode::SERVICE_UNAVAILABLE,
                    E::InvalidRequest(_) | E::Unsupported(_) => StatusCode::UNPROCESSABLE_ENTITY,
                }
            }
            Self::Upstream { .. } => StatusCode::BAD_GATEWAY,
            Self::Store(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The envelope this error is sent as.
    pub fn envelope(&self) -> ErrorEnvelope {
        let one =
            |code: &str, title: &str, detail: String, source: Option<ErrorSource>| ErrorObject {
                code: code.to_owned(),
                title: title.to_owned(),
                detail: Some(detail),
                source,
                meta: None,
            };
        let pointer = |p: &str| {
            Some(ErrorSource {
                pointer: Some(p.to_owned()),
                parameter: None,
            })
        };
        let error = match self {
            Self::Unauthorized(detail) => one(
                codes::AUTHENTICATION_FAILED,
                "Authentication failed",
                detail.clone(),
                None,
            ),
            Self::NotFound { pointer: p, .. } => one(
                codes::NOT_FOUND,
                "Resource not found",
                self.to_string(),
                pointer(p),
            ),
            Self::RouteNotFound(path) => one(
                codes::NOT_FOUND,
                "Route not found",
                format!("No route matches {path}"),
                None,
            ),
            Self::MethodNotAllowed(method) => one(
                codes::METHOD_NOT_ALLOWED,
                "Method not allowed",
                format!("{method} is not allowed on this path"),
                None,
            ),
            Self::MalformedBody { detail, pointer: p } => one(
                codes::MALFORMED_BODY,
                "Malformed request body",
                detail.clone(),
                p.as_deref().and_then(pointer),
            ),
            Self::InvalidParameter { parameter, detail } => one(
                codes::INVALID_PARAMETER,
                "Invalid query parameter",
                detail.clone(),
                Some(ErrorSource {
                    pointer: None,
                    parameter: Some(parameter.clone()),
                }),
            ),
            Self::Validation(errors) => {
                return ErrorEnvelope {
                    errors: errors
                        .0
                        .iter()
                        .map(|e| {
                            let (code, title) = match e.kind {
                                FieldErrorKind::Duplicate | FieldErrorKind::Rule => {
                                    (codes::DUPLICATE_VALUE, "Invalid value")
                                }
                                FieldErrorKind::Invalid => {
                                    (codes::VALIDATION_FAILED, "Validation failed")
                                }
                            };
                            let at = if e.pointer.is_empty() {
                                "/"
                            } else {
                                e.pointer.as_str()
                            };
                            one(code, title, format!("{at}: {}", e.message), pointer(at))
                        })
                        .collect(),
                }
            }
            Self::BodyTooLarge(limit) => one(
                codes::BODY_TOO_LARGE,
                "Request body too large",
                if *limit == 0 {
                    "The request body exceeds the configured limit".to_owned()
                } else {
                    format!("The request body exceeds the limit of {limit} bytes")
                },
                None,
            ),
            Self::Refused { detail, pointer: p } => one(
                codes::REFUSED,
                "Operation refused",
                detail.clone(),
                p.as_deref().and_then(pointer),
            ),
            Self::IdempotencyInFlight => one(
                codes::IDEMPOTENCY_IN_FLIGHT,
                "Request in progress",
                "A request with this Idempotency-Key is still being processed; retry later".into(),
                None,
            ),
            Self::IdempotencyMismatch => one(
                codes::IDEMPOTENCY_MISMATCH,
                "Idempotency key reused",
                "This Idempotency-Key was used with a different request".into(),
                None,
            ),
            Self::Llm(error) => {
                use parley_llm::LlmError as E;
                let (code, title, detail) = match error {
                    E::Unreachable(_) | E::UpstreamStatus { .. } | E::BadResponse(_) => (
                        codes::UPSTREAM_FAILED,
                        "Upstream LLM failed",
                        "The language model provider failed to answer; the conversation is \
                         unchanged, try again",
                    ),
                    E::Timeout => (
                        codes::UPSTREAM_TIMEOUT,
                        "Upstream LLM timed out",
                        "The language model provider did not answer in time; the conversation \
                         is unchanged, try again",
                    ),
                    E::Busy(_) | E::Model(_) | E::Cancelled => (
                        codes::UNAVAILABLE,
                        "Language model unavailable",
                        "The language model is busy or unavailable; the conversation is \
                         unchanged, try again later",
                    ),
                    E::InvalidRequest(_) | E::Unsupported(_) => (
                        codes::MODEL_REFUSED,
                        "Language model refused the request",
                        "The language model cannot run this request (e.g. the message is \
                         longer than its context)",
                    ),
                };
                one(code, title, detail.to_owned(), None)
            }
            Self::Upstream { detail } => one(
                codes::UPSTREAM_FAILED,
                "Upstream service failed",
                detail.clone(),
                None,
            ),
            Self::Store(_) | Self::Internal(_) => one(
                codes::INTERNAL,
                "Internal server error",
                "The server failed to process the request; it has been logged".into(),
                None,
            ),
        };
        ErrorEnvelope::single(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::debug!(error = %self, status = status.as_u16(), "request refused");
        }
        let body = serde_json::to_vec(&self.envelope()).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if matches!(self, Self::Unauthorized(_)) {
            headers.insert(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;
