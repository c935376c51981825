//! [`parley_store::IntegrationStore`] on PostgreSQL.

use crate::{begin, corrupt, db, execute, query, query_opt, read_snapshot, PostgresStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parley_core::ids::OrgId;
use parley_core::integrations::ConnectionConfig;
use parley_store::{
    CreateConnectionOutcome, IntegrationConnectionRecord, IntegrationStore, StoreError, StoreResult,
};
use tokio_postgres::types::Json;
use tokio_postgres::Row;

/// Columns read by [`connection_from_row`].
const COLUMNS: &str = "id, created_at, integration_id, allowed_tools, api_key_ref, base_url";

/// Reads a row of [`COLUMNS`].
fn connection_from_row(row: &Row) -> StoreResult<IntegrationConnectionRecord> {
    let Json(allowed_tools): Json<Vec<String>> = row.try_get(3).map_err(corrupt)?;
    Ok(IntegrationConnectionRecord {
        id: row.try_get(0).map_err(corrupt)?,
        created_at: row.try_get(1).map_err(corrupt)?,
        config: ConnectionConfig {
            integration_id: row.try_get(2).map_err(corrupt)?,
            allowed_tools,
            api_key_ref: row.try_get(4).map_err(corrupt)?,
            base_url: row.try_get(5).map_err(corrupt)?,
        },
    })
}

#[async_trait]
impl IntegrationStore for PostgresStore {
    async fn create_integration_connection(
        &self,
        org: &OrgId,
        id: &str,
        config: &ConnectionConfig,
        now: DateTime<Utc>,
    ) -> StoreResult<CreateConnectionOutcome> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        // `on conflict do nothing` waits for a concurrent insert of the same pair to finish,
        // so exactly one of two racing creates wins.
        let inserted = execute(
            &tx,
            "insert into integration_connections \
             (id, org_id, integration_id, allowed_tools, api_key_ref, base_url, created_at) \
             values ($1, $2, $3, $4, $5, $6, $7) \
             on conflict on constraint integration_connections_org_integration_unique do nothing",
            &[
                &id,
                &org.as_str(),
                &config.integration_id,
                &Json(&config.allowed_tools),
                &config.api_key_ref,
                &config.base_url,
                &now,
            ],
        )
        .await?;
        if inserted == 0 {
            let existing = query_opt(
                &tx,
                "select id from integration_connections where org_id = $1 and integration_id = $2",
                &[&org.as_str(), &config.integration_id],
            )
            .await?
            .ok_or_else(|| {
                StoreError::Database(format!(
                    "connection to {} conflicted but is gone",
                    config.integration_id
                ))
            })?;
            let existing: String = existing.try_get(0).map_err(corrupt)?;
            tx.commit().await.map_err(db)?;
            return Ok(CreateConnectionOutcome::AlreadyConnected(existing));
        }
        tx.commit().await.map_err(db)?;
        Ok(CreateConnectionOutcome::Created(
            IntegrationConnectionRecord {
                id: id.to_owned(),
                created_at: now,
                config: config.clone(),
            },
        ))
    }

    async fn get_integration_connection(
        &self,
        org: &OrgId,
        id: &str,
    ) -> StoreResult<Option<IntegrationConnectionRecord>> {
        let mut client = self.client().await?;
        let tx = read_snapshot(&mut client).await?;
        let sql =
            format!("select {COLUMNS} from integration_connections where org_id = $1 and id = $2");
        query_opt(&tx, &sql, &[&org.as_str(), &id])
            .await?
            .as_ref()
            .map(connection_from_row)
            .transpose()
    }

    async fn list_integration_connections(
        &self,
        org: &OrgId,
    ) -> StoreResult<Vec<IntegrationConnectionRecord>> {
        let mut client = self.client().await?;
        let tx = read_snapshot(&mut client).await?;
        let sql = format!(
            "select {COLUMNS} from integration_connections where org_id = $1 order by created_at, id"
        );
        let rows = query(&tx, &sql, &[&org.as_str()]).await?;
        rows.iter().map(connection_from_row).collect()
    }

    async fn delete_integration_connection(&self, org: &OrgId, id: &str) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let deleted = execute(
            &tx,
            "delete from integration_connections where org_id = $1 and id = $2",
            &[&org.as_str(), &id],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(deleted > 0)
    }
}
