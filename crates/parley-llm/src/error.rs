//! `LlmError`: every way a completion can fail, classified so that a server can answer with
//! the right status.

/// Why a completion failed.
///
/// A server maps these to statuses: [`Unreachable`](LlmError::Unreachable),
/// [`UpstreamStatus`](LlmError::UpstreamStatus) and [`BadResponse`](LlmError::BadResponse) to
/// 502, [`Busy`](LlmError::Busy) to 503, [`Timeout`](LlmError::Timeout) to 504,
/// [`InvalidRequest`](LlmError::InvalidRequest) and [`Unsupported`](LlmError::Unsupported) to
/// 4xx, [`Model`](LlmError::Model) to 500.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    /// The provider could not be reached (DNS, connection refused or reset, TLS).
    #[error("the LLM provider is unreachable: {0}")]
    Unreachable(String),
    /// The provider did not answer in time (connecting, or between two reads).
    #[error("the LLM provider timed out")]
    Timeout,
    /// The provider answered with a non-2xx status.
    #[error("the LLM provider answered {status}: {message}")]
    UpstreamStatus {
        /// The HTTP status.
        status: u16,
        /// The error message from the body (or the start of the body).
        message: String,
    },
    /// The provider's answer is not what the protocol says it should be.
    #[error("the LLM provider sent a bad response: {0}")]
    BadResponse(String),
    /// Every context is busy and the queue is full.
    #[error("the model is busy: {0}")]
    Busy(String),
    /// The request cannot be run as it is (prompt longer than the context, a grammar or schema
    /// that does not compile, an unknown tool in `tool_choice`, …).
    #[error("invalid LLM request: {0}")]
    InvalidRequest(String),
    /// This provider cannot do what the request asks (e.g. a GBNF grammar over HTTP).
    #[error("not supported by this provider: {0}")]
    Unsupported(String),
    /// The caller went away (its event receiver or the `complete` future was dropped).
    #[error("the completion was cancelled")]
    Cancelled,
    /// The embedded model failed (loading, decoding).
    #[error("the embedded model failed: {0}")]
    Model(String),
}
