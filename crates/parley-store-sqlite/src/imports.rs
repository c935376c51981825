//! [`parley_store::ImportStore`] on SQLite.

use crate::rows::{db_err, read_assistant, ASSISTANT_COLUMNS};
use crate::SqliteStore;
use async_trait::async_trait;
use parley_core::ids::OrgId;
use parley_store::{AssistantRecord, ImportStore, StoreResult};
use rusqlite::{params, OptionalExtension};

#[async_trait]
impl ImportStore for SqliteStore {
    async fn find_assistant_by_import(
        &self,
        org: &OrgId,
        provider: &str,
        import_id: &str,
    ) -> StoreResult<Option<AssistantRecord>> {
        let (org, provider, import_id) = (org.clone(), provider.to_owned(), import_id.to_owned());
        self.read(move |c| {
            let sql = format!(
                "select {ASSISTANT_COLUMNS} from assistants a \
                 join assistant_versions v on v.id = a.main_version_id \
                 where a.org_id = ?1 and a.deleted_at is null and a.import_metadata is not null \
                 and json_extract(a.import_metadata, '$.import_provider') = ?2 \
                 and json_extract(a.import_metadata, '$.import_id') = ?3 \
                 order by a.created_at, a.id limit 1"
            );
            c.prepare_cached(&sql)
                .map_err(db_err)?
                .query_row(params![org.as_str(), provider, import_id], read_assistant)
                .optional()
                .map_err(db_err)
        })
        .await
    }
}
