//! The resource tree, mirroring the URL: `client.ai().assistants().versions()` is
//! `/ai/assistants/{id}/versions`. Each handle borrows the client and only builds requests.
//!
//! Resources the server does not serve yet (SMS, scheduled events, tests, embeddings,
//! import, shared tools) get a module here and a method on their parent handle when their
//! endpoints land.

pub mod ai;
pub mod integration_secrets;

use crate::Client;

impl Client {
    /// The `/ai` resources: assistants (and chat), conversations, integrations, MCP servers,
    /// models.
    pub fn ai(&self) -> ai::Ai<'_> {
        ai::Ai::new(self)
    }

    /// `/integration_secrets`: credentials that `*_ref` fields name.
    pub fn integration_secrets(&self) -> integration_secrets::IntegrationSecrets<'_> {
        integration_secrets::IntegrationSecrets::new(self)
    }
}
