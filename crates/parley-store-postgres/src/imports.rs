//! [`parley_store::ImportStore`] on PostgreSQL.

use crate::{db, record_from_row, PostgresStore, RECORD_COLUMNS};
use async_trait::async_trait;
use parley_core::ids::OrgId;
use parley_store::{AssistantRecord, ImportStore, StoreResult};

#[async_trait]
impl ImportStore for PostgresStore {
    async fn find_assistant_by_import(
        &self,
        org: &OrgId,
        provider: &str,
        import_id: &str,
    ) -> StoreResult<Option<AssistantRecord>> {
        // One statement: no transaction needed.
        let client = self.client().await?;
        let sql = format!(
            "select {RECORD_COLUMNS} from assistants a \
             join assistant_versions v on v.id = a.main_version_id \
             where a.org_id = $1 and a.deleted_at is null \
             and a.import_metadata ->> 'import_provider' = $2 \
             and a.import_metadata ->> 'import_id' = $3 \
             order by a.created_at, a.id limit 1"
        );
        let statement = client.prepare_cached(&sql).await.map_err(db)?;
        client
            .query_opt(&statement, &[&org.as_str(), &provider, &import_id])
            .await
            .map_err(db)?
            .map(|row| record_from_row(&row))
            .transpose()
    }
}
