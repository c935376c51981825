//! [`parley_store::McpStore`] on SQLite.

use crate::rows::{db_err, parse_ts, ts};
use crate::SqliteStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parley_core::ids::OrgId;
use parley_core::mcp::{McpServerConfig, McpServerUpdate};
use parley_store::{
    McpServerDeleteOutcome, McpServerFilter, McpServerRecord, McpStore, PageRequest, StoreError,
    StoreResult,
};
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::collections::BTreeSet;

/// Columns read by [`read_server`].
const COLUMNS: &str = "id, created_at, name, type, url, allowed_tools, api_key_ref";

fn conversion<E: std::fmt::Display>(e: E) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(e.to_string().into())
}

/// Decodes a row of [`COLUMNS`].
fn read_server(row: &Row<'_>) -> rusqlite::Result<McpServerRecord> {
    let allowed_tools = row
        .get::<_, Option<String>>(5)?
        .map(|text| serde_json::from_str::<Vec<String>>(&text).map_err(conversion))
        .transpose()?;
    Ok(McpServerRecord {
        id: row.get(0)?,
        created_at: parse_ts(&row.get::<_, String>(1)?).map_err(conversion)?,
        config: McpServerConfig {
            name: row.get(2)?,
            server_type: row.get(3)?,
            url: row.get(4)?,
            allowed_tools,
            api_key_ref: row.get(6)?,
        },
    })
}

fn tools_json(config: &McpServerConfig) -> StoreResult<Option<String>> {
    config
        .allowed_tools
        .as_ref()
        .map(|tools| serde_json::to_string(tools).map_err(|e| StoreError::Corrupt(e.to_string())))
        .transpose()
}

fn get(conn: &Connection, org: &str, id: &str) -> StoreResult<Option<McpServerRecord>> {
    conn.prepare_cached(&format!(
        "select {COLUMNS} from mcp_servers where org_id = ?1 and id = ?2"
    ))
    .map_err(db_err)?
    .query_row(params![org, id], read_server)
    .optional()
    .map_err(db_err)
}

#[async_trait]
impl McpStore for SqliteStore {
    async fn create_mcp_server(
        &self,
        org: &OrgId,
        id: &str,
        config: &McpServerConfig,
        now: DateTime<Utc>,
    ) -> StoreResult<McpServerRecord> {
        let (org, id, config) = (org.clone(), id.to_owned(), config.clone());
        self.write(move |tx| {
            tx.prepare_cached(
                "insert into mcp_servers (id, org_id, name, type, url, allowed_tools, api_key_ref, created_at) \
                 values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .map_err(db_err)?
            .execute(params![
                id,
                org.as_str(),
                config.name,
                config.server_type,
                config.url,
                tools_json(&config)?,
                config.api_key_ref,
                ts(&now)
            ])
            .map_err(db_err)?;
            Ok(McpServerRecord {
                id,
                created_at: now,
                config,
            })
        })
        .await
    }

    async fn get_mcp_server(&self, org: &OrgId, id: &str) -> StoreResult<Option<McpServerRecord>> {
        let (org, id) = (org.clone(), id.to_owned());
        self.read(move |c| get(c, org.as_str(), &id)).await
    }

    async fn list_mcp_servers(
        &self,
        org: &OrgId,
        filter: &McpServerFilter,
        page: PageRequest,
    ) -> StoreResult<Vec<McpServerRecord>> {
        let (org, filter) = (org.clone(), filter.clone());
        self.read(move |c| {
            let limit = page
                .limit
                .map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
            let offset = i64::try_from(page.offset).unwrap_or(i64::MAX);
            let mut stmt = c
                .prepare_cached(&format!(
                    "select {COLUMNS} from mcp_servers \
                     where org_id = ?1 and (?2 is null or type = ?2) and (?3 is null or url = ?3) \
                     order by created_at, id limit ?4 offset ?5"
                ))
                .map_err(db_err)?;
            let rows = stmt
                .query_map(
                    params![org.as_str(), filter.server_type, filter.url, limit, offset],
                    read_server,
                )
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            Ok(rows)
        })
        .await
    }

    async fn update_mcp_server(
        &self,
        org: &OrgId,
        id: &str,
        update: &McpServerUpdate,
    ) -> StoreResult<Option<McpServerRecord>> {
        let (org, id, update) = (org.clone(), id.to_owned(), update.clone());
        self.write(move |tx| {
            let Some(current) = get(tx, org.as_str(), &id)? else {
                return Ok(None);
            };
            let config = update.apply(&current.config);
            tx.prepare_cached(
                "update mcp_servers set name = ?3, type = ?4, url = ?5, allowed_tools = ?6, api_key_ref = ?7 \
                 where org_id = ?1 and id = ?2",
            )
            .map_err(db_err)?
            .execute(params![
                org.as_str(),
                id,
                config.name,
                config.server_type,
                config.url,
                tools_json(&config)?,
                config.api_key_ref
            ])
            .map_err(db_err)?;
            Ok(Some(McpServerRecord { config, ..current }))
        })
        .await
    }

    async fn delete_mcp_server(
        &self,
        org: &OrgId,
        id: &str,
    ) -> StoreResult<McpServerDeleteOutcome> {
        let (org, id) = (org.clone(), id.to_owned());
        self.write(move |tx| {
            let exists = tx
                .prepare_cached("select 1 from mcp_servers where org_id = ?1 and id = ?2")
                .map_err(db_err)?
                .query_row(params![org.as_str(), id], |r| r.get::<_, i64>(0))
                .optional()
                .map_err(db_err)?;
            if exists.is_none() {
                return Ok(McpServerDeleteOutcome::NotFound);
            }
            // The writer is single and this transaction IMMEDIATE: no assistant changes
            // between this check and the delete.
            let referrers = tx
                .prepare_cached(
                    "select a.id from assistants a join assistant_versions v on v.id = a.main_version_id \
                     where a.org_id = ?1 and a.deleted_at is null \
                     and json_type(v.config, '$.mcp_servers') = 'array' \
                     and exists (select 1 from json_each(v.config, '$.mcp_servers') m \
                                 where json_type(m.value) = 'object' and json_extract(m.value, '$.id') = ?2) \
                     order by a.created_at, a.id",
                )
                .map_err(db_err)?
                .query_map(params![org.as_str(), id], |r| r.get::<_, String>(0))
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            if !referrers.is_empty() {
                return Ok(McpServerDeleteOutcome::ReferencedBy(referrers));
            }
            tx.prepare_cached("delete from mcp_servers where org_id = ?1 and id = ?2")
                .map_err(db_err)?
                .execute(params![org.as_str(), id])
                .map_err(db_err)?;
            Ok(McpServerDeleteOutcome::Deleted)
        })
        .await
    }

    async fn existing_mcp_server_ids(
        &self,
        org: &OrgId,
        ids: &[String],
    ) -> StoreResult<BTreeSet<String>> {
        if ids.is_empty() {
            return Ok(BTreeSet::new());
        }
        let org = org.clone();
        let wanted = serde_json::to_string(ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "select id from mcp_servers \
                     where org_id = ?1 and id in (select value from json_each(?2))",
                )
                .map_err(db_err)?;
            let found = stmt
                .query_map(params![org.as_str(), wanted], |r| r.get::<_, String>(0))
                .map_err(db_err)?
                .collect::<Result<BTreeSet<_>, _>>()
                .map_err(db_err)?;
            Ok(found)
        })
        .await
    }
}
