//! Importing assistants from another provider (`POST /ai/assistants/import`).
//!
//! The answer is an [`crate::assistants::AssistantsList`] of the assistants imported (or
//! updated by a re-import). Parley also names the agents it could not import, in the
//! `X-Parley-Import-Failures` response header, as a JSON array of [`ImportFailure`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The response header in which Parley lists the agents it could not import.
pub const IMPORT_FAILURES_HEADER: &str = "x-parley-import-failures";

/// Body of `POST /ai/assistants/import` (`AssistantImportsParams`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AssistantImportParams {
    /// The integration secret holding the provider's API key.
    pub api_key_ref: String,
    /// `elevenlabs`, `vapi` or `retell`.
    pub provider: String,
    /// Only these agents (the provider's ids); all of them when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_ids: Option<Vec<String>>,
    /// Fields sent as they are, after the typed ones.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An agent that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportFailure {
    /// The provider's id of the agent.
    #[serde(default)]
    pub import_id: String,
    /// Why it was not imported.
    #[serde(default)]
    pub reason: String,
}
