//! [`parley_store::VersionStore`] on PostgreSQL. Writes lock the assistant's head row first,
//! like updates do, so version edits, deletes, promotions and canary changes of one assistant
//! are serialized with its updates.

use crate::{
    begin, corrupt, execute, query, query_opt, read_snapshot, record_from_row, PostgresStore,
    RECORD_COLUMNS,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use parley_core::assistant::AssistantUpdate;
use parley_core::canary::CanaryRules;
use parley_core::ids::{AssistantId, OrgId, VersionId};
use parley_store::{
    AssistantRecord, CanaryChange, CanaryRecord, StoreError, StoreResult, VersionChange,
    VersionStore,
};
use serde_json::Value;
use std::collections::BTreeSet;
use tokio_postgres::types::Json;

/// Version ids the assistant's canary deploy serves (empty without one).
pub(crate) async fn canary_versions(
    tx: &Transaction<'_>,
    assistant: &str,
) -> StoreResult<BTreeSet<String>> {
    Ok(read_canary(tx, assistant)
        .await?
        .map(|c| c.rules.referenced_versions())
        .unwrap_or_default())
}

async fn read_canary(tx: &Transaction<'_>, assistant: &str) -> StoreResult<Option<CanaryRecord>> {
    let row = query_opt(
        tx,
        "select rules, created_at, updated_at from canary_deploys where assistant_id = $1",
        &[&assistant],
    )
    .await?;
    row.map(|row| {
        let Json(rules): Json<Value> = row.try_get(0).map_err(corrupt)?;
        Ok(CanaryRecord {
            assistant_id: AssistantId::from_string(assistant),
            rules: CanaryRules::from_stored(rules),
            created_at: row.try_get(1).map_err(corrupt)?,
            updated_at: row.try_get(2).map_err(corrupt)?,
        })
    })
    .transpose()
}

/// The main version id of a live assistant, locking its head when `lock` is set.
async fn head(
    tx: &Transaction<'_>,
    org: &OrgId,
    id: &AssistantId,
    lock: bool,
) -> StoreResult<Option<String>> {
    let sql = if lock {
        "select main_version_id from assistants where org_id = $1 and id = $2 and deleted_at is null for no key update"
    } else {
        "select main_version_id from assistants where org_id = $1 and id = $2 and deleted_at is null"
    };
    query_opt(tx, sql, &[&org.as_str(), &id.as_str()])
        .await?
        .map(|row| row.try_get::<_, String>(0).map_err(corrupt))
        .transpose()
}

async fn load_version(
    tx: &Transaction<'_>,
    org: &OrgId,
    id: &AssistantId,
    version: &VersionId,
) -> StoreResult<Option<AssistantRecord>> {
    let sql = format!(
        "select {RECORD_COLUMNS} from assistants a join assistant_versions v on v.assistant_id = a.id \
         where a.org_id = $1 and a.id = $2 and a.deleted_at is null and v.id = $3"
    );
    query_opt(tx, &sql, &[&org.as_str(), &id.as_str(), &version.as_str()])
        .await?
        .map(|row| record_from_row(&row))
        .transpose()
}

#[async_trait]
impl VersionStore for PostgresStore {
    async fn list_versions(
        &self,
        org: &OrgId,
        id: &AssistantId,
    ) -> StoreResult<Option<Vec<AssistantRecord>>> {
        let mut client = self.client().await?;
        let tx = read_snapshot(&mut client).await?;
        if head(&tx, org, id, false).await?.is_none() {
            return Ok(None);
        }
        let sql = format!(
            "select {RECORD_COLUMNS} from assistants a join assistant_versions v on v.assistant_id = a.id \
             where a.org_id = $1 and a.id = $2 order by v.number desc"
        );
        let rows = query(&tx, &sql, &[&org.as_str(), &id.as_str()]).await?;
        let records = rows
            .iter()
            .map(record_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Some(records))
    }

    async fn get_version(
        &self,
        org: &OrgId,
        id: &AssistantId,
        version: &VersionId,
    ) -> StoreResult<Option<AssistantRecord>> {
        let mut client = self.client().await?;
        let tx = read_snapshot(&mut client).await?;
        load_version(&tx, org, id, version).await
    }

    async fn edit_version(
        &self,
        org: &OrgId,
        id: &AssistantId,
        version: &VersionId,
        update: &AssistantUpdate,
    ) -> StoreResult<VersionChange> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let Some(main) = head(&tx, org, id, true).await? else {
            return Ok(VersionChange::NotFound);
        };
        if main == version.as_str() {
            return Ok(VersionChange::IsMain);
        }
        let Some(mut record) = load_version(&tx, org, id, version).await? else {
            return Ok(VersionChange::NotFound);
        };
        let config = update.apply(&record.version.config);
        let name = update
            .version_name
            .clone()
            .unwrap_or_else(|| record.version.name.clone());
        let document = Json(Value::Object(config.as_map().clone()));
        execute(
            &tx,
            "update assistant_versions set config = $1, name = $2 where id = $3",
            &[&document, &name, &version.as_str()],
        )
        .await?;
        tx.commit().await.map_err(crate::db)?;
        record.version.config = config;
        record.version.name = name;
        Ok(VersionChange::Done(Some(Box::new(record))))
    }

    async fn delete_version(
        &self,
        org: &OrgId,
        id: &AssistantId,
        version: &VersionId,
    ) -> StoreResult<VersionChange> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let Some(main) = head(&tx, org, id, true).await? else {
            return Ok(VersionChange::NotFound);
        };
        if main == version.as_str() {
            return Ok(VersionChange::IsMain);
        }
        if canary_versions(&tx, id.as_str())
            .await?
            .contains(version.as_str())
        {
            return Ok(VersionChange::ServedByCanary);
        }
        let n = execute(
            &tx,
            "delete from assistant_versions where assistant_id = $1 and id = $2",
            &[&id.as_str(), &version.as_str()],
        )
        .await?;
        tx.commit().await.map_err(crate::db)?;
        Ok(if n == 0 {
            VersionChange::NotFound
        } else {
            VersionChange::Done(None)
        })
    }

    async fn promote_version(
        &self,
        org: &OrgId,
        id: &AssistantId,
        version: &VersionId,
    ) -> StoreResult<Option<AssistantRecord>> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        if head(&tx, org, id, true).await?.is_none() {
            return Ok(None);
        }
        let Some(record) = load_version(&tx, org, id, version).await? else {
            return Ok(None);
        };
        execute(
            &tx,
            "update assistants set main_version_id = $1 where id = $2",
            &[&version.as_str(), &id.as_str()],
        )
        .await?;
        execute(
            &tx,
            "delete from canary_deploys where assistant_id = $1",
            &[&id.as_str()],
        )
        .await?;
        tx.commit().await.map_err(crate::db)?;
        Ok(Some(record))
    }

    async fn get_canary(
        &self,
        org: &OrgId,
        id: &AssistantId,
    ) -> StoreResult<Option<Option<CanaryRecord>>> {
        let mut client = self.client().await?;
        let tx = read_snapshot(&mut client).await?;
        if head(&tx, org, id, false).await?.is_none() {
            return Ok(None);
        }
        Ok(Some(read_canary(&tx, id.as_str()).await?))
    }

    async fn save_canary(
        &self,
        org: &OrgId,
        id: &AssistantId,
        rules: &CanaryRules,
        now: DateTime<Utc>,
    ) -> StoreResult<CanaryChange> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        if head(&tx, org, id, true).await?.is_none() {
            return Ok(CanaryChange::AssistantNotFound);
        }
        let rows = query(
            &tx,
            "select id from assistant_versions where assistant_id = $1",
            &[&id.as_str()],
        )
        .await?;
        let known = rows
            .iter()
            .map(|r| r.try_get::<_, String>(0).map_err(corrupt))
            .collect::<StoreResult<BTreeSet<String>>>()?;
        let unknown: Vec<String> = rules
            .referenced_versions()
            .into_iter()
            .filter(|v| !known.contains(v))
            .collect();
        if !unknown.is_empty() {
            return Ok(CanaryChange::UnknownVersions(unknown));
        }
        let document = Json(rules.as_json().clone());
        execute(
            &tx,
            "insert into canary_deploys (assistant_id, org_id, rules, created_at, updated_at) values ($1, $2, $3, $4, $4) \
             on conflict (assistant_id) do update set rules = excluded.rules, updated_at = excluded.updated_at",
            &[&id.as_str(), &org.as_str(), &document, &now],
        )
        .await?;
        let saved = read_canary(&tx, id.as_str())
            .await?
            .ok_or_else(|| StoreError::Database("canary deploy vanished after saving".into()))?;
        tx.commit().await.map_err(crate::db)?;
        Ok(CanaryChange::Saved(saved))
    }

    async fn delete_canary(&self, org: &OrgId, id: &AssistantId) -> StoreResult<Option<bool>> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        if head(&tx, org, id, true).await?.is_none() {
            return Ok(None);
        }
        let n = execute(
            &tx,
            "delete from canary_deploys where assistant_id = $1",
            &[&id.as_str()],
        )
        .await?;
        tx.commit().await.map_err(crate::db)?;
        Ok(Some(n > 0))
    }
}
