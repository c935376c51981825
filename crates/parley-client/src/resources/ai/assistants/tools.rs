//! `/ai/assistants/{assistant_id}/tools/{tool_id}`: attaching and detaching shared tools
//! (`/ai/tools`), and `…/test`: running one webhook tool once with sample arguments.

use super::assistant_path;
use crate::client::{segment, ApiRequest};
use crate::error::Result;
use crate::Client;
use parley_types::tools::{ToolTestParams, ToolTestResult};
use parley_types::Data;
use serde_json::Value;

fn tool_path(assistant_id: &str, tool_id: &str) -> Result<String> {
    Ok(format!(
        "{}/tools/{}",
        assistant_path(assistant_id)?,
        segment(tool_id, "tool_id")?
    ))
}

/// The tools of an assistant. Methods take the assistant id first, as in the URL.
#[derive(Debug)]
pub struct AssistantTools<'a> {
    client: &'a Client,
}

impl<'a> AssistantTools<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// `POST …/tools/{tool_id}/test`: calls the webhook tool `tool_id` (a shared tool's id, or
    /// an inline webhook tool's `name`) as a chat turn would, and reports what happened. A
    /// webhook that fails is a result with `success: false`, not an error.
    pub async fn test(
        &self,
        assistant_id: &str,
        tool_id: &str,
        params: &ToolTestParams,
    ) -> Result<ToolTestResult> {
        let path = format!("{}/test", tool_path(assistant_id, tool_id)?);
        let request = ApiRequest::post(path).body(params)?;
        let response: Data<ToolTestResult> = self.client.json(request).await?;
        Ok(response.data)
    }

    /// `PUT …/tools/{tool_id}`: attaches the shared tool `tool_id` (a new main version when
    /// it was not attached). The answer is untyped in the contract; Parley sends the
    /// assistant object, which [`parley_types::assistants::InferenceEmbedding`] reads.
    pub async fn add(&self, assistant_id: &str, tool_id: &str) -> Result<Value> {
        let request = ApiRequest::put(tool_path(assistant_id, tool_id)?);
        self.client.json(request).await
    }

    /// `DELETE …/tools/{tool_id}`: detaches the shared tool `tool_id`; answered like
    /// [`AssistantTools::add`].
    pub async fn remove(&self, assistant_id: &str, tool_id: &str) -> Result<Value> {
        let request = ApiRequest::delete(tool_path(assistant_id, tool_id)?);
        self.client.json(request).await
    }
}
