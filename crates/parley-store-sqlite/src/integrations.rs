//! [`parley_store::IntegrationStore`] on SQLite.

use crate::rows::{db_err, parse_ts, ts};
use crate::SqliteStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parley_core::ids::OrgId;
use parley_core::integrations::ConnectionConfig;
use parley_store::{
    CreateConnectionOutcome, IntegrationConnectionRecord, IntegrationStore, StoreError, StoreResult,
};
use rusqlite::{params, OptionalExtension, Row};

/// Columns read by [`read_connection`].
const COLUMNS: &str = "id, created_at, integration_id, allowed_tools, api_key_ref, base_url";

fn conversion<E: std::fmt::Display>(e: E) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(e.to_string().into())
}

/// Decodes a row of [`COLUMNS`].
fn read_connection(row: &Row<'_>) -> rusqlite::Result<IntegrationConnectionRecord> {
    let allowed_tools: Vec<String> =
        serde_json::from_str(&row.get::<_, String>(3)?).map_err(conversion)?;
    Ok(IntegrationConnectionRecord {
        id: row.get(0)?,
        created_at: parse_ts(&row.get::<_, String>(1)?).map_err(conversion)?,
        config: ConnectionConfig {
            integration_id: row.get(2)?,
            allowed_tools,
            api_key_ref: row.get(4)?,
            base_url: row.get(5)?,
        },
    })
}

#[async_trait]
impl IntegrationStore for SqliteStore {
    async fn create_integration_connection(
        &self,
        org: &OrgId,
        id: &str,
        config: &ConnectionConfig,
        now: DateTime<Utc>,
    ) -> StoreResult<CreateConnectionOutcome> {
        let (org, id, config) = (org.clone(), id.to_owned(), config.clone());
        self.write(move |tx| {
            let existing = tx
                .prepare_cached(
                    "select id from integration_connections where org_id = ?1 and integration_id = ?2",
                )
                .map_err(db_err)?
                .query_row(params![org.as_str(), config.integration_id], |r| {
                    r.get::<_, String>(0)
                })
                .optional()
                .map_err(db_err)?;
            if let Some(existing) = existing {
                return Ok(CreateConnectionOutcome::AlreadyConnected(existing));
            }
            let tools = serde_json::to_string(&config.allowed_tools)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            tx.prepare_cached(
                "insert into integration_connections \
                 (id, org_id, integration_id, allowed_tools, api_key_ref, base_url, created_at) \
                 values (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(db_err)?
            .execute(params![
                id,
                org.as_str(),
                config.integration_id,
                tools,
                config.api_key_ref,
                config.base_url,
                ts(&now)
            ])
            .map_err(db_err)?;
            Ok(CreateConnectionOutcome::Created(IntegrationConnectionRecord {
                id,
                created_at: now,
                config,
            }))
        })
        .await
    }

    async fn get_integration_connection(
        &self,
        org: &OrgId,
        id: &str,
    ) -> StoreResult<Option<IntegrationConnectionRecord>> {
        let (org, id) = (org.clone(), id.to_owned());
        self.read(move |c| {
            c.prepare_cached(&format!(
                "select {COLUMNS} from integration_connections where org_id = ?1 and id = ?2"
            ))
            .map_err(db_err)?
            .query_row(params![org.as_str(), id], read_connection)
            .optional()
            .map_err(db_err)
        })
        .await
    }

    async fn list_integration_connections(
        &self,
        org: &OrgId,
    ) -> StoreResult<Vec<IntegrationConnectionRecord>> {
        let org = org.clone();
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "select {COLUMNS} from integration_connections where org_id = ?1 \
                     order by created_at, id"
                ))
                .map_err(db_err)?;
            let rows = stmt
                .query_map(params![org.as_str()], read_connection)
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            Ok(rows)
        })
        .await
    }

    async fn delete_integration_connection(&self, org: &OrgId, id: &str) -> StoreResult<bool> {
        let (org, id) = (org.clone(), id.to_owned());
        self.write(move |tx| {
            let n = tx
                .prepare_cached("delete from integration_connections where org_id = ?1 and id = ?2")
                .map_err(db_err)?
                .execute(params![org.as_str(), id])
                .map_err(db_err)?;
            Ok(n > 0)
        })
        .await
    }
}
