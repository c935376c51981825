//! `GET /ai/models`: the models the server can answer with, as an OpenAI-compatible list.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `{"object": "list", "data": [Model…]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelList {
    /// Always `list`.
    #[serde(default)]
    pub object: String,
    /// The models.
    pub data: Vec<Model>,
}

/// One model an assistant's `model` field can name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// The name to put in an assistant's `model` (`HuggingFaceTB/SmolLM2-135M-Instruct`).
    pub id: String,
    /// Always `model`.
    #[serde(default)]
    pub object: String,
    /// When the model was made available, in seconds since the epoch (0 when unknown).
    #[serde(default)]
    pub created: i64,
    /// Who serves it: `parley` for the embedded model, `upstream` for a configured provider.
    #[serde(default)]
    pub owned_by: String,
    /// Whether new assistants get this model by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommended_for_assistants: Option<bool>,
    /// Fields this crate does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
