//! `/ai/mcp_servers`: MCP servers. The list is a bare JSON array, paginated until `[]`.

use crate::client::{segment, ApiRequest};
use crate::error::Result;
use crate::pagination::{next_bare_page, paginate};
use crate::Client;
use futures::stream::BoxStream;
use parley_types::mcp_servers::{
    McpServer, McpServerCreateParams, McpServerListParams, McpServerUpdateParams,
};

fn server_path(mcp_server_id: &str) -> Result<String> {
    Ok(format!(
        "ai/mcp_servers/{}",
        segment(mcp_server_id, "mcp_server_id")?
    ))
}

/// The organization's MCP servers.
#[derive(Debug)]
pub struct McpServers<'a> {
    client: &'a Client,
}

impl<'a> McpServers<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// `GET /ai/mcp_servers`: the first page (20 per page), oldest first.
    pub async fn list(&self) -> Result<Vec<McpServer>> {
        self.list_with(&McpServerListParams::default()).await
    }

    /// `GET /ai/mcp_servers` with pagination and the `type`/`url` filters.
    pub async fn list_with(&self, params: &McpServerListParams) -> Result<Vec<McpServer>> {
        let request = ApiRequest::get("ai/mcp_servers".into()).query(params)?;
        self.client.json(request).await
    }

    /// Every MCP server matching `params`, page after page until an empty one.
    pub fn list_all(&self, params: &McpServerListParams) -> BoxStream<'static, Result<McpServer>> {
        let client = self.client.clone();
        let params = params.clone();
        paginate(params.page_number.unwrap_or(1), move |page| {
            let client = client.clone();
            let params = McpServerListParams {
                page_number: Some(page),
                ..params.clone()
            };
            async move {
                let servers = client.ai().mcp_servers().list_with(&params).await?;
                let next = next_bare_page(servers.len(), page);
                Ok((servers, next))
            }
        })
    }

    /// `POST /ai/mcp_servers`.
    pub async fn create(&self, params: &McpServerCreateParams) -> Result<McpServer> {
        let request = ApiRequest::post("ai/mcp_servers".into()).body(params)?;
        self.client.json(request).await
    }

    /// `GET /ai/mcp_servers/{mcp_server_id}`.
    pub async fn retrieve(&self, mcp_server_id: &str) -> Result<McpServer> {
        self.client
            .json(ApiRequest::get(server_path(mcp_server_id)?))
            .await
    }

    /// `PUT /ai/mcp_servers/{mcp_server_id}`: a partial update.
    pub async fn update(
        &self,
        mcp_server_id: &str,
        params: &McpServerUpdateParams,
    ) -> Result<McpServer> {
        let request = ApiRequest::put(server_path(mcp_server_id)?).body(params)?;
        self.client.json(request).await
    }

    /// `DELETE /ai/mcp_servers/{mcp_server_id}` (refused while an assistant uses it).
    pub async fn delete(&self, mcp_server_id: &str) -> Result<()> {
        self.client
            .empty(ApiRequest::delete(server_path(mcp_server_id)?))
            .await
    }
}
