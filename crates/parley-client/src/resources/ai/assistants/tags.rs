//! Assistant tags: `GET /ai/assistants/tags`, `POST /ai/assistants/{id}/tags`,
//! `DELETE /ai/assistants/{id}/tags/{tag}`.

use super::assistant_path;
use crate::client::{segment, ApiRequest};
use crate::error::Result;
use crate::Client;
use parley_types::assistants::{AddTagRequest, TagsResponse};

/// Tags of the organization's assistants.
#[derive(Debug)]
pub struct Tags<'a> {
    client: &'a Client,
}

impl<'a> Tags<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// `GET /ai/assistants/tags`: every tag in use, sorted.
    pub async fn list(&self) -> Result<TagsResponse> {
        self.client
            .json(ApiRequest::get("ai/assistants/tags".into()))
            .await
    }

    /// `POST /ai/assistants/{assistant_id}/tags`: the assistant's tags after adding `tag`.
    pub async fn add(&self, assistant_id: &str, tag: &str) -> Result<TagsResponse> {
        let path = format!("{}/tags", assistant_path(assistant_id)?);
        let body = AddTagRequest {
            tag: tag.to_owned(),
        };
        self.client.json(ApiRequest::post(path).body(&body)?).await
    }

    /// `DELETE /ai/assistants/{assistant_id}/tags/{tag}`: the assistant's tags after removing
    /// `tag`.
    pub async fn remove(&self, assistant_id: &str, tag: &str) -> Result<TagsResponse> {
        let path = format!(
            "{}/tags/{}",
            assistant_path(assistant_id)?,
            segment(tag, "tag")?
        );
        self.client.json(ApiRequest::delete(path)).await
    }
}
