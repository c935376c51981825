//! [`parley_store::McpStore`] on PostgreSQL.

use crate::{begin, corrupt, db, execute, query, query_opt, read_snapshot, to_i64, PostgresStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use parley_core::ids::OrgId;
use parley_core::mcp::{McpServerConfig, McpServerUpdate};
use parley_store::{
    McpServerDeleteOutcome, McpServerFilter, McpServerRecord, McpStore, PageRequest, StoreResult,
};
use std::collections::BTreeSet;
use tokio_postgres::types::Json;
use tokio_postgres::Row;

/// Columns read by [`server_from_row`].
const COLUMNS: &str = "id, created_at, name, type, url, allowed_tools, api_key_ref";

/// Reads a row of [`COLUMNS`].
fn server_from_row(row: &Row) -> StoreResult<McpServerRecord> {
    let allowed_tools: Option<Json<Vec<String>>> = row.try_get(5).map_err(corrupt)?;
    Ok(McpServerRecord {
        id: row.try_get(0).map_err(corrupt)?,
        created_at: row.try_get(1).map_err(corrupt)?,
        config: McpServerConfig {
            name: row.try_get(2).map_err(corrupt)?,
            server_type: row.try_get(3).map_err(corrupt)?,
            url: row.try_get(4).map_err(corrupt)?,
            allowed_tools: allowed_tools.map(|Json(tools)| tools),
            api_key_ref: row.try_get(6).map_err(corrupt)?,
        },
    })
}

/// The server `id` of `org`; with `lock`, its row is locked until the transaction ends.
async fn load(
    tx: &Transaction<'_>,
    org: &OrgId,
    id: &str,
    lock: bool,
) -> StoreResult<Option<McpServerRecord>> {
    let sql = format!(
        "select {COLUMNS} from mcp_servers where org_id = $1 and id = $2{}",
        if lock { " for update" } else { "" }
    );
    query_opt(tx, &sql, &[&org.as_str(), &id])
        .await?
        .as_ref()
        .map(server_from_row)
        .transpose()
}

#[async_trait]
impl McpStore for PostgresStore {
    async fn create_mcp_server(
        &self,
        org: &OrgId,
        id: &str,
        config: &McpServerConfig,
        now: DateTime<Utc>,
    ) -> StoreResult<McpServerRecord> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        execute(
            &tx,
            "insert into mcp_servers (id, org_id, name, type, url, allowed_tools, api_key_ref, created_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &id,
                &org.as_str(),
                &config.name,
                &config.server_type,
                &config.url,
                &config.allowed_tools.as_ref().map(Json),
                &config.api_key_ref,
                &now,
            ],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(McpServerRecord {
            id: id.to_owned(),
            created_at: now,
            config: config.clone(),
        })
    }

    async fn get_mcp_server(&self, org: &OrgId, id: &str) -> StoreResult<Option<McpServerRecord>> {
        let mut client = self.client().await?;
        let tx = read_snapshot(&mut client).await?;
        load(&tx, org, id, false).await
    }

    async fn list_mcp_servers(
        &self,
        org: &OrgId,
        filter: &McpServerFilter,
        page: PageRequest,
    ) -> StoreResult<Vec<McpServerRecord>> {
        let mut client = self.client().await?;
        let tx = read_snapshot(&mut client).await?;
        let sql = format!(
            "select {COLUMNS} from mcp_servers \
             where org_id = $1 and ($2::text is null or type = $2) and ($3::text is null or url = $3) \
             order by created_at, id offset $4 limit $5"
        );
        let offset = to_i64(page.offset);
        let limit = page.limit.map(to_i64);
        let rows = query(
            &tx,
            &sql,
            &[
                &org.as_str(),
                &filter.server_type,
                &filter.url,
                &offset,
                &limit,
            ],
        )
        .await?;
        rows.iter().map(server_from_row).collect()
    }

    async fn update_mcp_server(
        &self,
        org: &OrgId,
        id: &str,
        update: &McpServerUpdate,
    ) -> StoreResult<Option<McpServerRecord>> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        // Locked: a concurrent update waits here, then reads this one's result.
        let Some(current) = load(&tx, org, id, true).await? else {
            return Ok(None);
        };
        let config = update.apply(&current.config);
        execute(
            &tx,
            "update mcp_servers set name = $3, type = $4, url = $5, allowed_tools = $6, api_key_ref = $7 \
             where org_id = $1 and id = $2",
            &[
                &org.as_str(),
                &id,
                &config.name,
                &config.server_type,
                &config.url,
                &config.allowed_tools.as_ref().map(Json),
                &config.api_key_ref,
            ],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(Some(McpServerRecord { config, ..current }))
    }

    async fn delete_mcp_server(
        &self,
        org: &OrgId,
        id: &str,
    ) -> StoreResult<McpServerDeleteOutcome> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        // Lock the organization's live assistant heads first, in id order as every other
        // multi-head lock does: an update that would add a reference either committed before
        // (and is seen below) or waits until this delete is done.
        query(
            &tx,
            "select id from assistants where org_id = $1 and deleted_at is null \
             order by id for no key update",
            &[&org.as_str()],
        )
        .await?;
        if load(&tx, org, id, true).await?.is_none() {
            return Ok(McpServerDeleteOutcome::NotFound);
        }
        // A fresh statement: it sees the main versions committed while we waited for locks.
        let rows = query(
            &tx,
            "select a.id from assistants a join assistant_versions v on v.id = a.main_version_id \
             where a.org_id = $1 and a.deleted_at is null \
             and jsonb_typeof(v.config -> 'mcp_servers') = 'array' \
             and v.config -> 'mcp_servers' @> jsonb_build_array(jsonb_build_object('id', $2::text)) \
             order by a.created_at, a.id",
            &[&org.as_str(), &id],
        )
        .await?;
        let referrers = rows
            .iter()
            .map(|row| row.try_get::<_, String>(0).map_err(corrupt))
            .collect::<StoreResult<Vec<_>>>()?;
        if !referrers.is_empty() {
            return Ok(McpServerDeleteOutcome::ReferencedBy(referrers));
        }
        execute(
            &tx,
            "delete from mcp_servers where org_id = $1 and id = $2",
            &[&org.as_str(), &id],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(McpServerDeleteOutcome::Deleted)
    }

    async fn existing_mcp_server_ids(
        &self,
        org: &OrgId,
        ids: &[String],
    ) -> StoreResult<BTreeSet<String>> {
        if ids.is_empty() {
            return Ok(BTreeSet::new());
        }
        let client = self.client().await?;
        let statement = client
            .prepare_cached("select id from mcp_servers where org_id = $1 and id = any($2)")
            .await
            .map_err(db)?;
        let rows = client
            .query(&statement, &[&org.as_str(), &ids])
            .await
            .map_err(db)?;
        rows.iter()
            .map(|row| row.try_get::<_, String>(0).map_err(corrupt))
            .collect()
    }
}
