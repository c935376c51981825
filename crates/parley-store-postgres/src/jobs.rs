//! [`parley_store::JobStore`] on PostgreSQL. A claim is one statement: the due, unheld jobs
//! are selected `for update skip locked` and leased in the same `update`, so nodes sharing the
//! database never claim the same job and never wait for each other.

use crate::{corrupt, db, execute, query_one, PostgresStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use parley_core::ids::{JobId, OrgId};
use parley_store::{JobRecord, JobStore, NewJob, StoreError, StoreResult};
use serde_json::Value;
use tokio_postgres::types::Json;
use tokio_postgres::Row;

const JOB_COLUMNS: &str = "id, org_id, kind, key, payload, due_at, attempts, lease_owner, \
                           lease_expires_at, last_error, created_at";

/// Inserts `job`, or replaces the job of the same `(kind, key)` (new payload and due time,
/// attempts and lease cleared, id kept), inside the caller's transaction; returns its id.
pub(crate) async fn insert_job(tx: &Transaction<'_>, job: &NewJob) -> StoreResult<String> {
    let row = query_one(
        tx,
        "insert into jobs (id, org_id, kind, key, payload, due_at, attempts, created_at) \
         values ($1, $2, $3, $4, $5, $6, 0, now()) \
         on conflict (kind, key) do update set org_id = excluded.org_id, \
         payload = excluded.payload, due_at = excluded.due_at, attempts = 0, \
         lease_owner = null, lease_expires_at = null, last_error = null \
         returning id",
        &[
            &JobId::generate().as_str(),
            &job.org_id.as_str(),
            &job.kind,
            &job.key,
            &Json(&job.payload),
            &job.due_at,
        ],
    )
    .await?;
    row.try_get(0).map_err(corrupt)
}

/// Removes the job `(kind, key)` of `org` inside the caller's transaction; false if there was
/// none.
pub(crate) async fn delete_job(
    tx: &Transaction<'_>,
    org: &OrgId,
    kind: &str,
    key: &str,
) -> StoreResult<bool> {
    let deleted = execute(
        tx,
        "delete from jobs where org_id = $1 and kind = $2 and key = $3",
        &[&org.as_str(), &kind, &key],
    )
    .await?;
    Ok(deleted > 0)
}

fn job_from_row(row: &Row) -> StoreResult<JobRecord> {
    let Json(payload): Json<Value> = row.try_get(4).map_err(corrupt)?;
    let attempts: i32 = row.try_get(6).map_err(corrupt)?;
    Ok(JobRecord {
        id: row.try_get(0).map_err(corrupt)?,
        org_id: OrgId::from_string(row.try_get::<_, String>(1).map_err(corrupt)?),
        kind: row.try_get(2).map_err(corrupt)?,
        key: row.try_get(3).map_err(corrupt)?,
        payload,
        due_at: row.try_get(5).map_err(corrupt)?,
        attempts: u32::try_from(attempts)
            .map_err(|_| StoreError::Corrupt(format!("negative attempts {attempts}")))?,
        lease_owner: row.try_get(7).map_err(corrupt)?,
        lease_expires_at: row.try_get(8).map_err(corrupt)?,
        last_error: row.try_get(9).map_err(corrupt)?,
        created_at: row.try_get(10).map_err(corrupt)?,
    })
}

impl PostgresStore {
    /// Runs one statement outside an explicit transaction and returns its rows.
    async fn job_statement(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> StoreResult<Vec<Row>> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await.map_err(db)?;
        client.query(&statement, params).await.map_err(db)
    }
}

#[async_trait]
impl JobStore for PostgresStore {
    async fn enqueue_job(&self, job: NewJob) -> StoreResult<String> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        let id = insert_job(&tx, &job).await?;
        tx.commit().await.map_err(db)?;
        Ok(id)
    }

    async fn claim_jobs(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<JobRecord>> {
        let sql = format!(
            "with due as (select id from jobs where due_at <= $3 \
             and (lease_expires_at is null or lease_expires_at <= $3) \
             order by due_at, id limit $4 for update skip locked) \
             update jobs j set lease_owner = $1, lease_expires_at = $2, attempts = j.attempts + 1 \
             from due where j.id = due.id returning {}",
            JOB_COLUMNS
                .split(", ")
                .map(|c| format!("j.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .job_statement(&sql, &[&owner, &lease_until, &now, &limit])
            .await?;
        let mut jobs = rows
            .iter()
            .map(job_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        jobs.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));
        Ok(jobs)
    }

    async fn extend_job_lease(
        &self,
        id: &str,
        owner: &str,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let rows = self
            .job_statement(
                "update jobs set lease_expires_at = $3 where id = $1 and lease_owner = $2 \
                 returning id",
                &[&id, &owner, &lease_until],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    async fn complete_job(&self, id: &str, owner: &str) -> StoreResult<bool> {
        let rows = self
            .job_statement(
                "delete from jobs where id = $1 and lease_owner = $2 returning id",
                &[&id, &owner],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    async fn retry_job(
        &self,
        id: &str,
        owner: &str,
        due_at: DateTime<Utc>,
        error: &str,
    ) -> StoreResult<bool> {
        let rows = self
            .job_statement(
                "update jobs set due_at = $3, last_error = $4, lease_owner = null, \
                 lease_expires_at = null where id = $1 and lease_owner = $2 returning id",
                &[&id, &owner, &due_at, &error],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    async fn cancel_job(&self, org: &OrgId, kind: &str, key: &str) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        let deleted = delete_job(&tx, org, kind, key).await?;
        tx.commit().await.map_err(db)?;
        Ok(deleted)
    }

    async fn get_job(&self, org: &OrgId, kind: &str, key: &str) -> StoreResult<Option<JobRecord>> {
        let sql =
            format!("select {JOB_COLUMNS} from jobs where org_id = $1 and kind = $2 and key = $3");
        let rows = self
            .job_statement(&sql, &[&org.as_str(), &kind, &key])
            .await?;
        rows.first().map(job_from_row).transpose()
    }

    async fn next_job_due_at(&self) -> StoreResult<Option<DateTime<Utc>>> {
        let rows = self
            .job_statement(
                "select min(greatest(due_at, coalesce(lease_expires_at, due_at))) from jobs",
                &[],
            )
            .await?;
        match rows.first() {
            Some(row) => row.try_get(0).map_err(corrupt),
            None => Ok(None),
        }
    }
}
