//! Assistants imported from other platforms (`POST /ai/assistants/import`), found again by
//! where they came from so that importing the same agent twice updates one assistant.

use crate::{AssistantRecord, StoreResult};
use async_trait::async_trait;
use parley_core::ids::OrgId;

/// Looks imported assistants up by their `import_metadata`.
#[async_trait]
pub trait ImportStore: Send + Sync + 'static {
    /// The live (not soft-deleted) assistant of `org` whose `import_metadata` is
    /// `{import_provider: provider, import_id}`, with its main version; the oldest one when
    /// several match (only possible when two imports of the same agent raced).
    async fn find_assistant_by_import(
        &self,
        org: &OrgId,
        provider: &str,
        import_id: &str,
    ) -> StoreResult<Option<AssistantRecord>>;
}
