//! `/ai/tools`: shared tools (the Tools Library). Assistants attach them by id
//! ([`super::assistants::tools::AssistantTools::add`]) and read their current definition at
//! every turn, so a change here reaches every assistant using the tool.

use crate::client::{segment, ApiRequest};
use crate::error::Result;
use crate::pagination::{next_page, paginate};
use crate::Client;
use futures::stream::BoxStream;
use parley_types::tools::{
    SharedTool, SharedToolCreateParams, SharedToolListParams, SharedToolUpdateParams,
};
use parley_types::Page;

fn tool_path(tool_id: &str) -> Result<String> {
    Ok(format!("ai/tools/{}", segment(tool_id, "tool_id")?))
}

/// The organization's shared tools.
#[derive(Debug)]
pub struct SharedTools<'a> {
    client: &'a Client,
}

impl<'a> SharedTools<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// `POST /ai/tools`.
    pub async fn create(&self, params: &SharedToolCreateParams) -> Result<SharedTool> {
        let request = ApiRequest::post("ai/tools".into()).body(params)?;
        self.client.json(request).await
    }

    /// `GET /ai/tools`: the first page, oldest first.
    pub async fn list(&self) -> Result<Page<SharedTool>> {
        self.list_with(&SharedToolListParams::default()).await
    }

    /// `GET /ai/tools` with pagination and the name and type filters.
    pub async fn list_with(&self, params: &SharedToolListParams) -> Result<Page<SharedTool>> {
        let request = ApiRequest::get("ai/tools".into()).query(params)?;
        self.client.json(request).await
    }

    /// Every shared tool matching `params`, page after page.
    pub fn list_all(
        &self,
        params: &SharedToolListParams,
    ) -> BoxStream<'static, Result<SharedTool>> {
        let client = self.client.clone();
        let params = params.clone();
        paginate(params.page_number.unwrap_or(1), move |page| {
            let client = client.clone();
            let params = SharedToolListParams {
                page_number: Some(page),
                ..params.clone()
            };
            async move {
                let page = client.ai().tools().list_with(&params).await?;
                let next = next_page(page.data.len(), Some(&page.meta));
                Ok((page.data, next))
            }
        })
    }

    /// `GET /ai/tools/{tool_id}`.
    pub async fn retrieve(&self, tool_id: &str) -> Result<SharedTool> {
        self.client.json(ApiRequest::get(tool_path(tool_id)?)).await
    }

    /// `PATCH /ai/tools/{tool_id}`: a partial update.
    pub async fn update(
        &self,
        tool_id: &str,
        params: &SharedToolUpdateParams,
    ) -> Result<SharedTool> {
        let request = ApiRequest::patch(tool_path(tool_id)?).body(params)?;
        self.client.json(request).await
    }

    /// `DELETE /ai/tools/{tool_id}`: deletes the tool and detaches it from every assistant.
    pub async fn delete(&self, tool_id: &str) -> Result<()> {
        self.client
            .empty(ApiRequest::delete(tool_path(tool_id)?))
            .await
    }
}
