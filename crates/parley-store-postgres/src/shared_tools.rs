//! [`parley_store::SharedToolStore`] on PostgreSQL.
//!
//! Attaching locks the assistant's head (as every update does), then the tool's row
//! `for key share`, so a concurrent delete of the tool either commits first (and the attach
//! finds no tool) or waits until the attach is committed (and then detaches it again).

use crate::{
    begin, corrupt, count_from_row, db, execute, load_record, query, query_one, query_opt,
    read_snapshot, to_i64, update_main, PostgresStore,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use parley_core::assistant::AssistantUpdate;
use parley_core::ids::{AssistantId, OrgId, VersionId};
use parley_core::shared_tools::{SharedToolConfig, SharedToolUpdate};
use parley_store::{
    attach_conflict, in_order, AttachmentChange, PageRequest, SharedToolChange, SharedToolFilter,
    SharedToolRecord, SharedToolStore, StoreError, StoreResult,
};
use serde_json::{Map, Value};
use tokio_postgres::types::Json;
use tokio_postgres::Row;

/// Columns read by [`tool_from_row`].
const COLUMNS: &str = "id, created_at, display_name, type, definition, timeout_ms";

/// The list filter (`$2` a part of the display name, `$3` the type). `lower` with the "C"
/// collation folds ASCII only, like SQLite's.
const FILTER: &str = "org_id = $1 \
     and ($2::text is null or strpos(lower(display_name collate \"C\"), lower($2::text collate \"C\")) > 0) \
     and ($3::text is null or type = $3)";

/// Reads a row of [`COLUMNS`].
fn tool_from_row(row: &Row) -> StoreResult<SharedToolRecord> {
    let Json(definition): Json<Map<String, Value>> = row.try_get(4).map_err(corrupt)?;
    let timeout_ms = row
        .try_get::<_, Option<i64>>(5)
        .map_err(corrupt)?
        .map(|ms| {
            u64::try_from(ms).map_err(|_| StoreError::Corrupt(format!("negative timeout {ms}")))
        })
        .transpose()?;
    Ok(SharedToolRecord {
        id: row.try_get(0).map_err(corrupt)?,
        created_at: row.try_get(1).map_err(corrupt)?,
        config: SharedToolConfig {
            display_name: row.try_get(2).map_err(corrupt)?,
            tool_type: row.try_get(3).map_err(corrupt)?,
            definition,
            timeout_ms,
        },
    })
}

fn timeout(config: &SharedToolConfig) -> Option<i64> {
    config.timeout_ms.map(to_i64)
}

/// The tool `id` of `org`; `lock` is appended to the select (`""`, `" for update"`, …).
async fn load(
    tx: &Transaction<'_>,
    org: &OrgId,
    id: &str,
    lock: &str,
) -> StoreResult<Option<SharedToolRecord>> {
    let sql = format!("select {COLUMNS} from shared_tools where org_id = $1 and id = $2{lock}");
    query_opt(tx, &sql, &[&org.as_str(), &id])
        .await?
        .as_ref()
        .map(tool_from_row)
        .transpose()
}

/// The organization's tools among `ids`, in the order of `ids`.
async fn load_many(
    tx: &Transaction<'_>,
    org: &OrgId,
    ids: &[String],
) -> StoreResult<Vec<SharedToolRecord>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("select {COLUMNS} from shared_tools where org_id = $1 and id = any($2)");
    let rows = query(tx, &sql, &[&org.as_str(), &ids]).await?;
    let found = rows
        .iter()
        .map(tool_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(in_order(ids, found))
}

/// Locks the head of live assistant `id` and reads it with its main version; `None` when
/// there is no such assistant.
async fn lock_assistant(
    tx: &Transaction<'_>,
    org: &OrgId,
    id: &AssistantId,
) -> StoreResult<Option<parley_store::AssistantRecord>> {
    let head = query_opt(
        tx,
        "select 1 from assistants where org_id = $1 and id = $2 and deleted_at is null \
         for no key update",
        &[&org.as_str(), &id.as_str()],
    )
    .await?;
    if head.is_none() {
        return Ok(None);
    }
    // A fresh statement: it sees what was committed while we waited for the lock.
    load_record(tx, org, id, false).await
}

#[async_trait]
impl SharedToolStore for PostgresStore {
    async fn create_shared_tool(
        &self,
        org: &OrgId,
        id: &str,
        config: &SharedToolConfig,
        now: DateTime<Utc>,
    ) -> StoreResult<SharedToolRecord> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        execute(
            &tx,
            "insert into shared_tools (id, org_id, display_name, type, definition, timeout_ms, created_at) \
             values ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &id,
                &org.as_str(),
                &config.display_name,
                &config.tool_type,
                &Json(&config.definition),
                &timeout(config),
                &now,
            ],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(SharedToolRecord {
            id: id.to_owned(),
            created_at: now,
            config: config.clone(),
        })
    }

    async fn get_shared_tool(
        &self,
        org: &OrgId,
        id: &str,
    ) -> StoreResult<Option<SharedToolRecord>> {
        let mut client = self.client().await?;
        let tx = read_snapshot(&mut client).await?;
        load(&tx, org, id, "").await
    }

    async fn list_shared_tools(
        &self,
        org: &OrgId,
        filter: &SharedToolFilter,
        page: PageRequest,
    ) -> StoreResult<(Vec<SharedToolRecord>, u64)> {
        let mut client = self.client().await?;
        let tx = read_snapshot(&mut client).await?;
        let sql = format!(
            "select {COLUMNS} from shared_tools where {FILTER} \
             order by created_at, id offset $4 limit $5"
        );
        let offset = to_i64(page.offset);
        let limit = page.limit.map(to_i64);
        let rows = query(
            &tx,
            &sql,
            &[
                &org.as_str(),
                &filter.name,
                &filter.tool_type,
                &offset,
                &limit,
            ],
        )
        .await?;
        let tools = rows
            .iter()
            .map(tool_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        let total = query_one(
            &tx,
            &format!("select count(*) from shared_tools where {FILTER}"),
            &[&org.as_str(), &filter.name, &filter.tool_type],
        )
        .await?;
        Ok((tools, count_from_row(&total)?))
    }

    async fn update_shared_tool(
        &self,
        org: &OrgId,
        id: &str,
        update: &SharedToolUpdate,
    ) -> StoreResult<SharedToolChange> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        // Locked: a concurrent update waits here, then reads this one's result.
        let Some(current) = load(&tx, org, id, " for update").await? else {
            return Ok(SharedToolChange::NotFound);
        };
        let config = match update.apply(&current.config) {
            Ok(config) => config,
            Err(errors) => return Ok(SharedToolChange::Invalid(errors)),
        };
        execute(
            &tx,
            "update shared_tools set display_name = $3, definition = $4, timeout_ms = $5 \
             where org_id = $1 and id = $2",
            &[
                &org.as_str(),
                &id,
                &config.display_name,
                &Json(&config.definition),
                &timeout(&config),
            ],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(SharedToolChange::Updated(SharedToolRecord {
            config,
            ..current
        }))
    }

    async fn delete_shared_tool(&self, org: &OrgId, id: &str) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let deleted = execute(
            &tx,
            "delete from shared_tools where org_id = $1 and id = $2",
            &[&org.as_str(), &id],
        )
        .await?;
        if deleted == 0 {
            return Ok(false);
        }
        // `jsonb - text` drops every string element equal to the id, keeping the order.
        execute(
            &tx,
            "update assistant_versions \
             set config = jsonb_set(config, '{tool_ids}', (config -> 'tool_ids') - $2::text) \
             where org_id = $1 and jsonb_typeof(config -> 'tool_ids') = 'array' \
             and (config -> 'tool_ids') ? $2::text",
            &[&org.as_str(), &id],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn get_shared_tools(
        &self,
        org: &OrgId,
        ids: &[String],
    ) -> StoreResult<Vec<SharedToolRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut client = self.client().await?;
        let tx = read_snapshot(&mut client).await?;
        load_many(&tx, org, ids).await
    }

    async fn attach_shared_tool(
        &self,
        org: &OrgId,
        assistant: &AssistantId,
        tool_id: &str,
        new_version: VersionId,
        now: DateTime<Utc>,
    ) -> StoreResult<AttachmentChange> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let Some(record) = lock_assistant(&tx, org, assistant).await? else {
            return Ok(AttachmentChange::AssistantNotFound);
        };
        let Some(tool) = load(&tx, org, tool_id, " for key share").await? else {
            return Ok(AttachmentChange::ToolNotFound);
        };
        let mut ids = record.version.config.tool_ids();
        if ids.iter().any(|id| id == tool_id) {
            return Ok(AttachmentChange::Done(Box::new(record)));
        }
        let attached = load_many(&tx, org, &ids).await?;
        if let Some(tool_type) = attach_conflict(&record.version.config, &attached, &tool) {
            return Ok(AttachmentChange::Duplicate(tool_type));
        }
        ids.push(tool_id.to_owned());
        let update = AssistantUpdate::with_tool_ids(ids);
        let Some(record) = update_main(&tx, org, assistant, &update, new_version, now).await?
        else {
            return Ok(AttachmentChange::AssistantNotFound);
        };
        tx.commit().await.map_err(db)?;
        Ok(AttachmentChange::Done(Box::new(record)))
    }

    async fn detach_shared_tool(
        &self,
        org: &OrgId,
        assistant: &AssistantId,
        tool_id: &str,
        new_version: VersionId,
        now: DateTime<Utc>,
    ) -> StoreResult<AttachmentChange> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let Some(record) = lock_assistant(&tx, org, assistant).await? else {
            return Ok(AttachmentChange::AssistantNotFound);
        };
        let mut ids = record.version.config.tool_ids();
        if !ids.iter().any(|id| id == tool_id) {
            return Ok(if load(&tx, org, tool_id, "").await?.is_some() {
                AttachmentChange::Done(Box::new(record))
            } else {
                AttachmentChange::ToolNotFound
            });
        }
        ids.retain(|id| id != tool_id);
        let update = AssistantUpdate::with_tool_ids(ids);
        let Some(record) = update_main(&tx, org, assistant, &update, new_version, now).await?
        else {
            return Ok(AttachmentChange::AssistantNotFound);
        };
        tx.commit().await.map_err(db)?;
        Ok(AttachmentChange::Done(Box::new(record)))
    }
}
