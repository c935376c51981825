//! `/ai`: assistants, integrations and MCP servers.

pub mod assistants;
pub mod integrations;
pub mod mcp_servers;

use crate::Client;

/// The `/ai` resources.
#[derive(Debug)]
pub struct Ai<'a> {
    client: &'a Client,
}

impl<'a> Ai<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// `/ai/assistants`.
    pub fn assistants(&self) -> assistants::Assistants<'a> {
        assistants::Assistants::new(self.client)
    }

    /// `/ai/integrations`: the catalogue and the organization's connections.
    pub fn integrations(&self) -> integrations::Integrations<'a> {
        integrations::Integrations::new(self.client)
    }

    /// `/ai/mcp_servers`.
    pub fn mcp_servers(&self) -> mcp_servers::McpServers<'a> {
        mcp_servers::McpServers::new(self.client)
    }
}
