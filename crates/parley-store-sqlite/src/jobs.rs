//! [`parley_store::JobStore`] on SQLite. The single writer serializes claims, so a claim is
//! one `update … returning` over the due, unheld jobs.

use crate::rows::{db_err, parse_ts, ts};
use crate::SqliteStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parley_core::ids::{JobId, OrgId};
use parley_store::{JobRecord, JobStore, NewJob, StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension, Row};

const JOB_COLUMNS: &str = "id, org_id, kind, key, payload, due_at, attempts, lease_owner, \
                           lease_expires_at, last_error, created_at";

/// Inserts `job`, or replaces the job of the same `(kind, key)` (new payload and due time,
/// attempts and lease cleared, id kept), inside the caller's transaction; returns its id.
pub(crate) fn insert_job(tx: &Connection, job: &NewJob) -> StoreResult<String> {
    let payload =
        serde_json::to_string(&job.payload).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.prepare_cached(
        "insert into jobs (id, org_id, kind, key, payload, due_at, attempts, created_at) \
         values (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7) \
         on conflict (kind, key) do update set org_id = excluded.org_id, \
         payload = excluded.payload, due_at = excluded.due_at, attempts = 0, \
         lease_owner = null, lease_expires_at = null, last_error = null \
         returning id",
    )
    .map_err(db_err)?
    .query_row(
        params![
            JobId::generate().as_str(),
            job.org_id.as_str(),
            job.kind,
            job.key,
            payload,
            ts(&job.due_at),
            ts(&Utc::now()),
        ],
        |r| r.get(0),
    )
    .map_err(db_err)
}

/// Removes the job `(kind, key)` of `org` inside the caller's transaction; false if there was
/// none.
pub(crate) fn delete_job(tx: &Connection, org: &OrgId, kind: &str, key: &str) -> StoreResult<bool> {
    let deleted = tx
        .prepare_cached("delete from jobs where org_id = ?1 and kind = ?2 and key = ?3")
        .map_err(db_err)?
        .execute(params![org.as_str(), kind, key])
        .map_err(db_err)?;
    Ok(deleted > 0)
}

fn read_job(row: &Row<'_>) -> rusqlite::Result<JobRecord> {
    let text = |i: usize| row.get::<_, String>(i);
    let time = |i: usize| -> rusqlite::Result<DateTime<Utc>> {
        parse_ts(&row.get::<_, String>(i)?).map_err(conversion)
    };
    let opt_time = |i: usize| -> rusqlite::Result<Option<DateTime<Utc>>> {
        row.get::<_, Option<String>>(i)?
            .map(|t| parse_ts(&t).map_err(conversion))
            .transpose()
    };
    Ok(JobRecord {
        id: text(0)?,
        org_id: OrgId::from_string(text(1)?),
        kind: text(2)?,
        key: text(3)?,
        payload: serde_json::from_str(&text(4)?).map_err(conversion)?,
        due_at: time(5)?,
        attempts: row.get(6)?,
        lease_owner: row.get(7)?,
        lease_expires_at: opt_time(8)?,
        last_error: row.get(9)?,
        created_at: time(10)?,
    })
}

fn conversion<E: std::fmt::Display>(e: E) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(e.to_string().into())
}

#[async_trait]
impl JobStore for SqliteStore {
    async fn enqueue_job(&self, job: NewJob) -> StoreResult<String> {
        self.write(move |tx| insert_job(tx, &job)).await
    }

    async fn claim_jobs(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<JobRecord>> {
        let owner = owner.to_owned();
        self.write(move |tx| {
            let sql = format!(
                "update jobs set lease_owner = ?1, lease_expires_at = ?2, attempts = attempts + 1 \
                 where id in (select id from jobs where due_at <= ?3 \
                 and (lease_expires_at is null or lease_expires_at <= ?3) \
                 order by due_at, id limit ?4) \
                 returning {JOB_COLUMNS}"
            );
            let mut statement = tx.prepare_cached(&sql).map_err(db_err)?;
            let rows = statement
                .query_map(
                    params![owner, ts(&lease_until), ts(&now), limit as i64],
                    read_job,
                )
                .map_err(db_err)?;
            let mut jobs = rows.collect::<Result<Vec<_>, _>>().map_err(db_err)?;
            // `returning` gives no order guarantee.
            jobs.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));
            Ok(jobs)
        })
        .await
    }

    async fn extend_job_lease(
        &self,
        id: &str,
        owner: &str,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (id, owner) = (id.to_owned(), owner.to_owned());
        self.write(move |tx| {
            let updated = tx
                .prepare_cached(
                    "update jobs set lease_expires_at = ?3 where id = ?1 and lease_owner = ?2",
                )
                .map_err(db_err)?
                .execute(params![id, owner, ts(&lease_until)])
                .map_err(db_err)?;
            Ok(updated > 0)
        })
        .await
    }

    async fn complete_job(&self, id: &str, owner: &str) -> StoreResult<bool> {
        let (id, owner) = (id.to_owned(), owner.to_owned());
        self.write(move |tx| {
            let deleted = tx
                .prepare_cached("delete from jobs where id = ?1 and lease_owner = ?2")
                .map_err(db_err)?
                .execute(params![id, owner])
                .map_err(db_err)?;
            Ok(deleted > 0)
        })
        .await
    }

    async fn retry_job(
        &self,
        id: &str,
        owner: &str,
        due_at: DateTime<Utc>,
        error: &str,
    ) -> StoreResult<bool> {
        let (id, owner, error) = (id.to_owned(), owner.to_owned(), error.to_owned());
        self.write(move |tx| {
            let updated = tx
                .prepare_cached(
                    "update jobs set due_at = ?3, last_error = ?4, lease_owner = null, \
                     lease_expires_at = null where id = ?1 and lease_owner = ?2",
                )
                .map_err(db_err)?
                .execute(params![id, owner, ts(&due_at), error])
                .map_err(db_err)?;
            Ok(updated > 0)
        })
        .await
    }

    async fn cancel_job(&self, org: &OrgId, kind: &str, key: &str) -> StoreResult<bool> {
        let (org, kind, key) = (org.clone(), kind.to_owned(), key.to_owned());
        self.write(move |tx| delete_job(tx, &org, &kind, &key))
            .await
    }

    async fn get_job(&self, org: &OrgId, kind: &str, key: &str) -> StoreResult<Option<JobRecord>> {
        let (org, kind, key) = (org.clone(), kind.to_owned(), key.to_owned());
        self.read(move |c| {
            let sql = format!(
                "select {JOB_COLUMNS} from jobs where org_id = ?1 and kind = ?2 and key = ?3"
            );
            c.prepare_cached(&sql)
                .map_err(db_err)?
                .query_row(params![org.as_str(), kind, key], read_job)
                .optional()
                .map_err(db_err)
        })
        .await
    }

    async fn next_job_due_at(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.read(|c| {
            let next: Option<String> = c
                .prepare_cached(
                    "select min(case when lease_expires_at is not null and lease_expires_at > due_at \
                     then lease_expires_at else due_at end) from jobs",
                )
                .map_err(db_err)?
                .query_row([], |r| r.get(0))
                .map_err(db_err)?;
            next.map(|t| parse_ts(&t)).transpose()
        })
        .await
    }
}
