//! [`parley_store::SharedToolStore`] on SQLite.

use crate::rows::{db_err, parse_ts, read_config, ts};
use crate::{get_live, update_main, SqliteStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parley_core::assistant::AssistantUpdate;
use parley_core::ids::{AssistantId, OrgId, VersionId};
use parley_core::shared_tools::{SharedToolConfig, SharedToolUpdate};
use parley_store::{
    attach_conflict, in_order, AttachmentChange, PageRequest, SharedToolChange, SharedToolFilter,
    SharedToolRecord, SharedToolStore, StoreError, StoreResult,
};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::{Map, Value};

/// Columns read by [`read_tool`].
const COLUMNS: &str = "id, created_at, display_name, type, definition, timeout_ms";

fn conversion<E: std::fmt::Display>(e: E) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(e.to_string().into())
}

/// Decodes a row of [`COLUMNS`].
fn read_tool(row: &Row<'_>) -> rusqlite::Result<SharedToolRecord> {
    let definition: Map<String, Value> =
        serde_json::from_str(&row.get::<_, String>(4)?).map_err(conversion)?;
    let timeout_ms = row
        .get::<_, Option<i64>>(5)?
        .map(|ms| u64::try_from(ms).map_err(conversion))
        .transpose()?;
    Ok(SharedToolRecord {
        id: row.get(0)?,
        created_at: parse_ts(&row.get::<_, String>(1)?).map_err(conversion)?,
        config: SharedToolConfig {
            display_name: row.get(2)?,
            tool_type: row.get(3)?,
            definition,
            timeout_ms,
        },
    })
}

fn definition_json(config: &SharedToolConfig) -> String {
    Value::Object(config.definition.clone()).to_string()
}

fn timeout(config: &SharedToolConfig) -> Option<i64> {
    config
        .timeout_ms
        .map(|ms| i64::try_from(ms).unwrap_or(i64::MAX))
}

fn get(conn: &Connection, org: &str, id: &str) -> StoreResult<Option<SharedToolRecord>> {
    conn.prepare_cached(&format!(
        "select {COLUMNS} from shared_tools where org_id = ?1 and id = ?2"
    ))
    .map_err(db_err)?
    .query_row(params![org, id], read_tool)
    .optional()
    .map_err(db_err)
}

/// The organization's tools among `ids`, in the order of `ids`.
fn get_many(conn: &Connection, org: &str, ids: &[String]) -> StoreResult<Vec<SharedToolRecord>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let wanted = serde_json::to_string(ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let found = conn
        .prepare_cached(&format!(
            "select {COLUMNS} from shared_tools \
             where org_id = ?1 and id in (select value from json_each(?2))"
        ))
        .map_err(db_err)?
        .query_map(params![org, wanted], read_tool)
        .map_err(db_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_err)?;
    Ok(in_order(ids, found))
}

#[async_trait]
impl SharedToolStore for SqliteStore {
    async fn create_shared_tool(
        &self,
        org: &OrgId,
        id: &str,
        config: &SharedToolConfig,
        now: DateTime<Utc>,
    ) -> StoreResult<SharedToolRecord> {
        let (org, id, config) = (org.clone(), id.to_owned(), config.clone());
        self.write(move |tx| {
            tx.prepare_cached(
                "insert into shared_tools (id, org_id, display_name, type, definition, timeout_ms, created_at) \
                 values (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(db_err)?
            .execute(params![
                id,
                org.as_str(),
                config.display_name,
                config.tool_type,
                definition_json(&config),
                timeout(&config),
                ts(&now)
            ])
            .map_err(db_err)?;
            Ok(SharedToolRecord {
                id,
                created_at: now,
                config,
            })
        })
        .await
    }

    async fn get_shared_tool(
        &self,
        org: &OrgId,
        id: &str,
    ) -> StoreResult<Option<SharedToolRecord>> {
        let (org, id) = (org.clone(), id.to_owned());
        self.read(move |c| get(c, org.as_str(), &id)).await
    }

    async fn list_shared_tools(
        &self,
        org: &OrgId,
        filter: &SharedToolFilter,
        page: PageRequest,
    ) -> StoreResult<(Vec<SharedToolRecord>, u64)> {
        let (org, filter) = (org.clone(), filter.clone());
        self.read(move |c| {
            // `lower` folds ASCII only, like the PostgreSQL backend's `lower(… collate "C")`.
            const WHERE: &str = "org_id = ?1 \
                 and (?2 is null or instr(lower(display_name), lower(?2)) > 0) \
                 and (?3 is null or type = ?3)";
            let total: i64 = c
                .prepare_cached(&format!("select count(*) from shared_tools where {WHERE}"))
                .map_err(db_err)?
                .query_row(params![org.as_str(), filter.name, filter.tool_type], |r| {
                    r.get(0)
                })
                .map_err(db_err)?;
            let limit = page
                .limit
                .map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
            let offset = i64::try_from(page.offset).unwrap_or(i64::MAX);
            let tools = c
                .prepare_cached(&format!(
                    "select {COLUMNS} from shared_tools where {WHERE} \
                     order by created_at, id limit ?4 offset ?5"
                ))
                .map_err(db_err)?
                .query_map(
                    params![org.as_str(), filter.name, filter.tool_type, limit, offset],
                    read_tool,
                )
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            Ok((tools, u64::try_from(total).unwrap_or(0)))
        })
        .await
    }

    async fn update_shared_tool(
        &self,
        org: &OrgId,
        id: &str,
        update: &SharedToolUpdate,
    ) -> StoreResult<SharedToolChange> {
        let (org, id, update) = (org.clone(), id.to_owned(), update.clone());
        self.write(move |tx| {
            let Some(current) = get(tx, org.as_str(), &id)? else {
                return Ok(SharedToolChange::NotFound);
            };
            let config = match update.apply(&current.config) {
                Ok(config) => config,
                Err(errors) => return Ok(SharedToolChange::Invalid(errors)),
            };
            tx.prepare_cached(
                "update shared_tools set display_name = ?3, definition = ?4, timeout_ms = ?5 \
                 where org_id = ?1 and id = ?2",
            )
            .map_err(db_err)?
            .execute(params![
                org.as_str(),
                id,
                config.display_name,
                definition_json(&config),
                timeout(&config)
            ])
            .map_err(db_err)?;
            Ok(SharedToolChange::Updated(SharedToolRecord {
                config,
                ..current
            }))
        })
        .await
    }

    async fn delete_shared_tool(&self, org: &OrgId, id: &str) -> StoreResult<bool> {
        let (org, id) = (org.clone(), id.to_owned());
        self.write(move |tx| {
            let deleted = tx
                .prepare_cached("delete from shared_tools where org_id = ?1 and id = ?2")
                .map_err(db_err)?
                .execute(params![org.as_str(), id])
                .map_err(db_err)?;
            if deleted == 0 {
                return Ok(false);
            }
            // The writer is single and this transaction IMMEDIATE: no version is written
            // between the delete and the detaching below.
            let versions = tx
                .prepare_cached(
                    "select id, config from assistant_versions \
                     where org_id = ?1 and json_type(config, '$.tool_ids') = 'array' \
                     and exists (select 1 from json_each(config, '$.tool_ids') t where t.value = ?2)",
                )
                .map_err(db_err)?
                .query_map(params![org.as_str(), id], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            for (version, config) in versions {
                let mut document = read_config(&config)?.into_map();
                if let Some(Value::Array(ids)) = document.get_mut("tool_ids") {
                    ids.retain(|t| t.as_str() != Some(id.as_str()));
                }
                tx.prepare_cached("update assistant_versions set config = ?2 where id = ?1")
                    .map_err(db_err)?
                    .execute(params![version, Value::Object(document).to_string()])
                    .map_err(db_err)?;
            }
            Ok(true)
        })
        .await
    }

    async fn get_shared_tools(
        &self,
        org: &OrgId,
        ids: &[String],
    ) -> StoreResult<Vec<SharedToolRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let (org, ids) = (org.clone(), ids.to_vec());
        self.read(move |c| get_many(c, org.as_str(), &ids)).await
    }

    async fn attach_shared_tool(
        &self,
        org: &OrgId,
        assistant: &AssistantId,
        tool_id: &str,
        new_version: VersionId,
        now: DateTime<Utc>,
    ) -> StoreResult<AttachmentChange> {
        let (org, assistant, tool_id) = (org.clone(), assistant.clone(), tool_id.to_owned());
        self.write(move |tx| {
            let (org, assistant) = (org.as_str(), assistant.as_str());
            let Some(record) = get_live(tx, org, assistant)? else {
                return Ok(AttachmentChange::AssistantNotFound);
            };
            let Some(tool) = get(tx, org, &tool_id)? else {
                return Ok(AttachmentChange::ToolNotFound);
            };
            let mut ids = record.version.config.tool_ids();
            if ids.contains(&tool_id) {
                return Ok(AttachmentChange::Done(Box::new(record)));
            }
            let attached = get_many(tx, org, &ids)?;
            if let Some(tool_type) = attach_conflict(&record.version.config, &attached, &tool) {
                return Ok(AttachmentChange::Duplicate(tool_type));
            }
            ids.push(tool_id);
            let update = AssistantUpdate::with_tool_ids(ids);
            Ok(
                match update_main(tx, org, assistant, &update, new_version, now)? {
                    Some(record) => AttachmentChange::Done(Box::new(record)),
                    None => AttachmentChange::AssistantNotFound,
                },
            )
        })
        .await
    }

    async fn detach_shared_tool(
        &self,
        org: &OrgId,
        assistant: &AssistantId,
        tool_id: &str,
        new_version: VersionId,
        now: DateTime<Utc>,
    ) -> StoreResult<AttachmentChange> {
        let (org, assistant, tool_id) = (org.clone(), assistant.clone(), tool_id.to_owned());
        self.write(move |tx| {
            let (org, assistant) = (org.as_str(), assistant.as_str());
            let Some(record) = get_live(tx, org, assistant)? else {
                return Ok(AttachmentChange::AssistantNotFound);
            };
            let mut ids = record.version.config.tool_ids();
            if !ids.contains(&tool_id) {
                return Ok(if get(tx, org, &tool_id)?.is_some() {
                    AttachmentChange::Done(Box::new(record))
                } else {
                    AttachmentChange::ToolNotFound
                });
            }
            ids.retain(|id| *id != tool_id);
            let update = AssistantUpdate::with_tool_ids(ids);
            Ok(
                match update_main(tx, org, assistant, &update, new_version, now)? {
                    Some(record) => AttachmentChange::Done(Box::new(record)),
                    None => AttachmentChange::AssistantNotFound,
                },
            )
        })
        .await
    }
}
