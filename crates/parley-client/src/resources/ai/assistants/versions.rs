//! `/ai/assistants/{assistant_id}/versions`: list, retrieve, edit a draft, delete a draft,
//! promote to main.

use super::assistant_path;
use crate::client::{segment, ApiRequest};
use crate::error::Result;
use crate::Client;
use parley_types::assistants::{
    AssistantsList, InferenceEmbedding, VersionRetrieveParams, VersionUpdateParams,
};

fn version_path(assistant_id: &str, version_id: &str) -> Result<String> {
    Ok(format!(
        "{}/versions/{}",
        assistant_path(assistant_id)?,
        segment(version_id, "version_id")?
    ))
}

/// The versions of an assistant. Methods take the assistant id first, as in the URL.
#[derive(Debug)]
pub struct Versions<'a> {
    client: &'a Client,
}

impl<'a> Versions<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// `GET …/versions`: every kept version, newest first, as full assistant objects.
    pub async fn list(&self, assistant_id: &str) -> Result<AssistantsList> {
        let path = format!("{}/versions", assistant_path(assistant_id)?);
        self.client.json(ApiRequest::get(path)).await
    }

    /// `GET …/versions/{version_id}`.
    pub async fn retrieve(
        &self,
        assistant_id: &str,
        version_id: &str,
    ) -> Result<InferenceEmbedding> {
        self.retrieve_with(assistant_id, version_id, &VersionRetrieveParams::default())
            .await
    }

    /// `GET …/versions/{version_id}?include_mcp_servers=…`.
    pub async fn retrieve_with(
        &self,
        assistant_id: &str,
        version_id: &str,
        params: &VersionRetrieveParams,
    ) -> Result<InferenceEmbedding> {
        let request = ApiRequest::get(version_path(assistant_id, version_id)?).query(params)?;
        self.client.json(request).await
    }

    /// `POST …/versions/{version_id}`: edits a version that is not main, in place.
    pub async fn update(
        &self,
        assistant_id: &str,
        version_id: &str,
        params: &VersionUpdateParams,
    ) -> Result<InferenceEmbedding> {
        let request = ApiRequest::post(version_path(assistant_id, version_id)?).body(params)?;
        self.client.json(request).await
    }

    /// `DELETE …/versions/{version_id}`: deletes a version that is neither main nor served by
    /// the canary deploy.
    pub async fn delete(&self, assistant_id: &str, version_id: &str) -> Result<()> {
        let path = version_path(assistant_id, version_id)?;
        self.client.empty(ApiRequest::delete(path)).await
    }

    /// `POST …/versions/{version_id}/promote`: makes the version main (and removes the canary
    /// deploy).
    pub async fn promote(
        &self,
        assistant_id: &str,
        version_id: &str,
    ) -> Result<InferenceEmbedding> {
        let path = format!("{}/promote", version_path(assistant_id, version_id)?);
        self.client.json(ApiRequest::post(path)).await
    }
}
