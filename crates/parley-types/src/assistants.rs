//! Fixed-shape bodies of the assistants resource.

use serde::{Deserialize, Serialize};

/// Response of `DELETE /ai/assistants/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssistantDeleteResponse {
    /// The deleted assistant's id.
    pub id: String,
    /// Always `"assistant"`.
    pub object: String,
    /// Always `true`.
    pub deleted: bool,
}

/// Response of the tag endpoints: `{"tags": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagsResponse {
    /// Tags, sorted.
    pub tags: Vec<String>,
}

/// Body of `POST /ai/assistants/{id}/tags`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddTagRequest {
    /// The tag to add.
    pub tag: String,
}
