//! [`parley_store::VersionStore`] on SQLite.

use crate::rows::{db_err, read_assistant, ts, ASSISTANT_COLUMNS};
use crate::SqliteStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parley_core::assistant::AssistantUpdate;
use parley_core::canary::CanaryRules;
use parley_core::ids::{AssistantId, OrgId, VersionId};
use parley_store::{
    AssistantRecord, CanaryChange, CanaryRecord, StoreError, StoreResult, VersionChange,
    VersionStore,
};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::BTreeSet;

/// Version ids the assistant's canary deploy serves (empty without one).
pub(crate) fn canary_versions(conn: &Connection, assistant: &str) -> StoreResult<BTreeSet<String>> {
    Ok(read_canary(conn, assistant)?
        .map(|c| c.rules.referenced_versions())
        .unwrap_or_default())
}

fn read_canary(conn: &Connection, assistant: &str) -> StoreResult<Option<CanaryRecord>> {
    let row = conn
        .prepare_cached(
            "select rules, created_at, updated_at from canary_deploys where assistant_id = ?1",
        )
        .map_err(db_err)?
        .query_row(params![assistant], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .optional()
        .map_err(db_err)?;
    let Some((rules, created_at, updated_at)) = row else {
        return Ok(None);
    };
    let rules = serde_json::from_str(&rules)
        .map_err(|e| StoreError::Corrupt(format!("canary rules: {e}")))?;
    Ok(Some(CanaryRecord {
        assistant_id: AssistantId::from_string(assistant),
        rules: CanaryRules::from_stored(rules),
        created_at: crate::rows::parse_ts(&created_at)?,
        updated_at: crate::rows::parse_ts(&updated_at)?,
    }))
}

fn live_exists(conn: &Connection, org: &str, id: &str) -> StoreResult<Option<String>> {
    conn.prepare_cached("select main_version_id from assistants where org_id = ?1 and id = ?2 and deleted_at is null")
        .map_err(db_err)?
        .query_row(params![org, id], |r| r.get::<_, String>(0))
        .optional()
        .map_err(db_err)
}

/// The assistant showing version `version` (which must belong to it).
fn load_version(
    conn: &Connection,
    org: &str,
    id: &str,
    version: &str,
) -> StoreResult<Option<AssistantRecord>> {
    let sql = format!(
        "select {ASSISTANT_COLUMNS} from assistants a join assistant_versions v on v.assistant_id = a.id \
         where a.org_id = ?1 and a.id = ?2 and a.deleted_at is null and v.id = ?3"
    );
    conn.prepare_cached(&sql)
        .map_err(db_err)?
        .query_row(params![org, id, version], read_assistant)
        .optional()
        .map_err(db_err)
}

#[async_trait]
impl VersionStore for SqliteStore {
    async fn list_versions(
        &self,
        org: &OrgId,
        id: &AssistantId,
    ) -> StoreResult<Option<Vec<AssistantRecord>>> {
        let (org, id) = (org.clone(), id.clone());
        self.read(move |c| {
            if live_exists(c, org.as_str(), id.as_str())?.is_none() {
                return Ok(None);
            }
            let sql = format!(
                "select {ASSISTANT_COLUMNS} from assistants a join assistant_versions v on v.assistant_id = a.id \
                 where a.org_id = ?1 and a.id = ?2 order by v.number desc"
            );
            let mut stmt = c.prepare_cached(&sql).map_err(db_err)?;
            let records = stmt
                .query_map(params![org.as_str(), id.as_str()], read_assistant)
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            Ok(Some(records))
        })
        .await
    }

    async fn get_version(
        &self,
        org: &OrgId,
        id: &AssistantId,
        version: &VersionId,
    ) -> StoreResult<Option<AssistantRecord>> {
        let (org, id, version) = (org.clone(), id.clone(), version.clone());
        self.read(move |c| load_version(c, org.as_str(), id.as_str(), version.as_str()))
            .await
    }

    async fn edit_version(
        &self,
        org: &OrgId,
        id: &AssistantId,
        version: &VersionId,
        update: &AssistantUpdate,
    ) -> StoreResult<VersionChange> {
        let (org, id, version, update) = (org.clone(), id.clone(), version.clone(), update.clone());
        self.write(move |tx| {
            let Some(main) = live_exists(tx, org.as_str(), id.as_str())? else {
                return Ok(VersionChange::NotFound);
            };
            if main == version.as_str() {
                return Ok(VersionChange::IsMain);
            }
            let Some(mut record) = load_version(tx, org.as_str(), id.as_str(), version.as_str())?
            else {
                return Ok(VersionChange::NotFound);
            };
            let config = update.apply(&record.version.config);
            let json = serde_json::Value::Object(config.as_map().clone()).to_string();
            let name = update
                .version_name
                .clone()
                .unwrap_or_else(|| record.version.name.clone());
            tx.prepare_cached("update assistant_versions set config = ?1, name = ?2 where id = ?3")
                .map_err(db_err)?
                .execute(params![json, name, version.as_str()])
                .map_err(db_err)?;
            record.version.config = config;
            record.version.name = name;
            Ok(VersionChange::Done(Some(Box::new(record))))
        })
        .await
    }

    async fn delete_version(
        &self,
        org: &OrgId,
        id: &AssistantId,
        version: &VersionId,
    ) -> StoreResult<VersionChange> {
        let (org, id, version) = (org.clone(), id.clone(), version.clone());
        self.write(move |tx| {
            let Some(main) = live_exists(tx, org.as_str(), id.as_str())? else {
                return Ok(VersionChange::NotFound);
            };
            if main == version.as_str() {
                return Ok(VersionChange::IsMain);
            }
            if canary_versions(tx, id.as_str())?.contains(version.as_str()) {
                return Ok(VersionChange::ServedByCanary);
            }
            let n = tx
                .prepare_cached(
                    "delete from assistant_versions where assistant_id = ?1 and id = ?2",
                )
                .map_err(db_err)?
                .execute(params![id.as_str(), version.as_str()])
                .map_err(db_err)?;
            Ok(if n == 0 {
                VersionChange::NotFound
            } else {
                VersionChange::Done(None)
            })
        })
        .await
    }

    async fn promote_version(
        &self,
        org: &OrgId,
        id: &AssistantId,
        version: &VersionId,
    ) -> StoreResult<Option<AssistantRecord>> {
        let (org, id, version) = (org.clone(), id.clone(), version.clone());
        self.write(move |tx| {
            if load_version(tx, org.as_str(), id.as_str(), version.as_str())?.is_none() {
                return Ok(None);
            }
            tx.prepare_cached("update assistants set main_version_id = ?1 where id = ?2")
                .map_err(db_err)?
                .execute(params![version.as_str(), id.as_str()])
                .map_err(db_err)?;
            tx.prepare_cached("delete from canary_deploys where assistant_id = ?1")
                .map_err(db_err)?
                .execute(params![id.as_str()])
                .map_err(db_err)?;
            crate::get_live(tx, org.as_str(), id.as_str())
        })
        .await
    }

    async fn get_canary(
        &self,
        org: &OrgId,
        id: &AssistantId,
    ) -> StoreResult<Option<Option<CanaryRecord>>> {
        let (org, id) = (org.clone(), id.clone());
        self.read(move |c| {
            if live_exists(c, org.as_str(), id.as_str())?.is_none() {
                return Ok(None);
            }
            Ok(Some(read_canary(c, id.as_str())?))
        })
        .await
    }

    async fn save_canary(
        &self,
        org: &OrgId,
        id: &AssistantId,
        rules: &CanaryRules,
        now: DateTime<Utc>,
    ) -> StoreResult<CanaryChange> {
        let (org, id, rules) = (org.clone(), id.clone(), rules.clone());
        self.write(move |tx| {
            if live_exists(tx, org.as_str(), id.as_str())?.is_none() {
                return Ok(CanaryChange::AssistantNotFound);
            }
            let mut stmt = tx
                .prepare_cached("select id from assistant_versions where assistant_id = ?1")
                .map_err(db_err)?;
            let known: BTreeSet<String> = stmt
                .query_map(params![id.as_str()], |r| r.get::<_, String>(0))
                .map_err(db_err)?
                .collect::<Result<_, _>>()
                .map_err(db_err)?;
            let unknown: Vec<String> = rules.referenced_versions().into_iter().filter(|v| !known.contains(v)).collect();
            if !unknown.is_empty() {
                return Ok(CanaryChange::UnknownVersions(unknown));
            }
            tx.prepare_cached(
                "insert into canary_deploys (assistant_id, org_id, rules, created_at, updated_at) values (?1, ?2, ?3, ?4, ?4) \
                 on conflict (assistant_id) do update set rules = excluded.rules, updated_at = excluded.updated_at",
            )
            .map_err(db_err)?
            .execute(params![id.as_str(), org.as_str(), rules.as_json().to_string(), ts(&now)])
            .map_err(db_err)?;
            let saved = read_canary(tx, id.as_str())?
                .ok_or_else(|| StoreError::Database("canary deploy vanished after saving".into()))?;
            Ok(CanaryChange::Saved(saved))
        })
        .await
    }

    async fn delete_canary(&self, org: &OrgId, id: &AssistantId) -> StoreResult<Option<bool>> {
        let (org, id) = (org.clone(), id.clone());
        self.write(move |tx| {
            if live_exists(tx, org.as_str(), id.as_str())?.is_none() {
                return Ok(None);
            }
            let n = tx
                .prepare_cached("delete from canary_deploys where assistant_id = ?1")
                .map_err(db_err)?
                .execute(params![id.as_str()])
                .map_err(db_err)?;
            Ok(Some(n > 0))
        })
        .await
    }
}
