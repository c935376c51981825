//! `/ai`: assistants (and chatting with them), conversations, embeddings, integrations, MCP
//! servers, models, phone numbers (a Parley extension) and shared tools.

pub mod assistants;
pub mod conversations;
pub mod embeddings;
pub mod integrations;
pub mod mcp_servers;
pub mod models;
pub mod phone_numbers;
pub mod tools;

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

    /// `/ai/tools`: shared tools, which assistants attach by id.
    pub fn tools(&self) -> tools::SharedTools<'a> {
        tools::SharedTools::new(self.client)
    }

    /// `/ai/phone_numbers` (a Parley extension): which assistant answers texts to a number.
    pub fn phone_numbers(&self) -> phone_numbers::PhoneNumbers<'a> {
        phone_numbers::PhoneNumbers::new(self.client)
    }

    /// `/ai/embeddings`: embedding tasks, embedded buckets, similarity search.
    pub fn embeddings(&self) -> embeddings::Embeddings<'a> {
        embeddings::Embeddings::new(self.client)
    }
}
