//! The resource tree, mirroring the URL: `client.ai().assistants().versions()` is
//! `/ai/assistants/{id}/versions`. Each handle borrows the client and only builds requests.
//! [`storage`] is the one resource outside the API: the S3-compatible object storage that
//! knowledge-base files are uploaded to.

pub mod ai;
pub mod integration_secrets;
pub mod storage;

use crate::Client;

impl Client {
    /// The `/ai` resources: assistants (with chat, SMS, tests and scheduled events),
    /// conversations, embeddings, integrations, MCP servers, models, shared tools.
    pub fn ai(&self) -> ai::Ai<'_> {
        ai::Ai::new(self)
    }

    /// `/integration_secrets`: credentials that `*_ref` fields name.
    pub fn integration_secrets(&self) -> integration_secrets::IntegrationSecrets<'_> {
        integration_secrets::IntegrationSecrets::new(self)
    }

    /// `{origin}/s3`: the S3-compatible object storage knowledge-base files go to.
    pub fn storage(&self) -> storage::Storage<'_> {
        storage::Storage::new(self)
    }
}
