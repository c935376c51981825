//! MCP servers an organization registers for its assistants.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An MCP server (`McpServer`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McpServer {
    /// Its id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Transport, as it was sent: `http`, `streamable-http`, `streamable_http` or `sse`.
    #[serde(rename = "type")]
    pub server_type: String,
    /// The server's URL.
    pub url: String,
    /// When it was registered.
    pub created_at: String,
    /// Tools assistants may call (all when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_tools: Option<Vec<String>>,
    /// Integration secret sent as the bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_ref: Option<String>,
    /// Fields this crate does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Body of `POST /ai/mcp_servers`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct McpServerCreateParams {
    /// Display name.
    pub name: String,
    /// Transport: `http`, `streamable-http`, `streamable_http` or `sse`.
    #[serde(rename = "type")]
    pub server_type: String,
    /// The server's absolute `http`/`https` URL.
    pub url: String,
    /// Tools assistants may call (all when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_tools: Option<Vec<String>>,
    /// Identifier of an integration secret to send as the bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_ref: Option<String>,
    /// Fields sent as they are, after the typed ones.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Body of `PUT /ai/mcp_servers/{id}`: a partial update; unset fields are not sent. Put
/// `null` under `allowed_tools` or `api_key_ref` in `extra` to clear them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct McpServerUpdateParams {
    /// New display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New transport.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub server_type: Option<String>,
    /// New URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// New tool allow-list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_tools: Option<Vec<String>>,
    /// New bearer-token secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_ref: Option<String>,
    /// Fields sent as they are, after the typed ones.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Query of `GET /ai/mcp_servers`: pagination and exact filters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct McpServerListParams {
    /// The 1-based page to fetch.
    #[serde(
        rename = "page[number]",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub page_number: Option<u32>,
    /// Items per page (default 20, at most 100).
    #[serde(
        rename = "page[size]",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub page_size: Option<u32>,
    /// Only servers of this `type`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub server_type: Option<String>,
    /// Only servers with this URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}
