//! `/ai`: assistants (and chatting with them), conversations, integrations, MCP servers and
//! models.

pub mod assistants;
pub mod conversations;
pub mod integrations;
pub mod mcp_servers;
pub mod models;

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

    /// `/ai/conversations`: conversations and their messages.
    pub fn conversations(&self) -> conversations::Conversations<'a> {
        conversations::Conversations::new(self.client)
    }

    /// `/ai/models`: the models assistants can use.
    pub fn models(&self) -> models::Models<'a> {
        models::Models::new(self.client)
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
