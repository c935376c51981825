//! The Telnyx error envelope: `{"errors":[{"code","title","detail","source","meta"}]}`.

use serde::{Deserialize, Serialize};

/// Body of every non-2xx response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    /// One entry per problem found; never empty.
    pub errors: Vec<ErrorObject>,
}

/// One problem, as Telnyx reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// Numeric error code, sent as a string (`"10005"`).
    pub code: String,
    /// Short, stable, human-readable summary of the kind of problem.
    pub title: String,
    /// What exactly was wrong with this request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Which part of the request the problem is in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ErrorSource>,
    /// Free-form extra information (a documentation URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<serde_json::Value>,
}

/// Where in the request the problem is.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ErrorSource {
    /// JSON pointer into the request body (`/tools/0/type`), or to the path parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// Name of the offending query parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
}

impl ErrorEnvelope {
    /// An envelope holding a single error.
    pub fn single(error: ErrorObject) -> Self {
        Self {
            errors: vec![error],
        }
    }
}
