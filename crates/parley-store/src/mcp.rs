//! MCP servers registered by an organization.

use async_trait::async_trait;

/// MCP servers registered by an organization.
#[async_trait]
pub trait McpStore: Send + Sync + 'static {}
