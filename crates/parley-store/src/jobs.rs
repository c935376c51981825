//! The durable job queue: background work (scheduled events, assistant test runs, embedding
//! tasks) as rows with a due time and a lease, claimed by any node.
//!
//! A job is identified by `(kind, key)`: the kind names its handler, the key the thing it works
//! on (a scheduled event id, a test run id), so enqueueing the same work twice keeps one job.
//! Claiming sets a lease (owner and expiry) on due jobs no one holds, in one statement
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the single writer on SQLite), so two nodes never
//! claim the same job while its lease runs; a node that dies leaves a lease that expires, and
//! another node claims the job again. Handlers are therefore written to run at least once.
//!
//! Domain stores that create work together with their own rows (a scheduled event and its job)
//! insert the job in the same transaction, through their backend's `jobs` helpers.

use crate::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parley_core::ids::OrgId;
use serde_json::Value;

/// Work to be done at or after `due_at`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// The organization the work is for.
    pub org_id: OrgId,
    /// Which handler runs it (`scheduled_event`, `test_run`, …).
    pub kind: String,
    /// What it works on; unique per kind.
    pub key: String,
    /// Anything else the handler needs.
    pub payload: Value,
    /// When it becomes due.
    pub due_at: DateTime<Utc>,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    /// Its id.
    pub id: String,
    /// The organization the work is for.
    pub org_id: OrgId,
    /// Which handler runs it.
    pub kind: String,
    /// What it works on.
    pub key: String,
    /// Anything else the handler needs.
    pub payload: Value,
    /// When it is (or was) due.
    pub due_at: DateTime<Utc>,
    /// How many times it has been claimed, this claim included.
    pub attempts: u32,
    /// The node holding it, while claimed.
    pub lease_owner: Option<String>,
    /// When the current lease runs out.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// What went wrong the last time, if anything.
    pub last_error: Option<String>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
}

/// The job queue.
#[async_trait]
pub trait JobStore: Send + Sync + 'static {
    /// Enqueues `job`; if a job of the same `(kind, key)` exists, it is replaced (new payload and
    /// due time, attempts and lease cleared) and keeps its id. Returns the job's id.
    async fn enqueue_job(&self, job: NewJob) -> StoreResult<String>;

    /// Claims up to `limit` jobs due at `now` that no one holds (no lease, or an expired one),
    /// earliest due first: each gets `owner` and a lease until `lease_until`, and its `attempts`
    /// grows by one.
    async fn claim_jobs(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<JobRecord>>;

    /// Moves the lease of job `id` held by `owner` to `lease_until`; false if `owner` no longer
    /// holds it.
    async fn extend_job_lease(
        &self,
        id: &str,
        owner: &str,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Removes job `id` if `owner` holds it (the work is done, or has failed for good); false if
    /// it does not (the lease expired and someone else has it, or it was cancelled).
    async fn complete_job(&self, id: &str, owner: &str) -> StoreResult<bool>;

    /// Releases job `id` held by `owner` to run again at `due_at`, recording `error`; false if
    /// `owner` no longer holds it.
    async fn retry_job(
        &self,
        id: &str,
        owner: &str,
        due_at: DateTime<Utc>,
        error: &str,
    ) -> StoreResult<bool>;

    /// Removes the job `(kind, key)` of `org`, held or not; false if there was none.
    async fn cancel_job(&self, org: &OrgId, kind: &str, key: &str) -> StoreResult<bool>;

    /// The job `(kind, key)` of `org`, if there is one.
    async fn get_job(&self, org: &OrgId, kind: &str, key: &str) -> StoreResult<Option<JobRecord>>;

    /// The earliest time at which some job will be claimable (its due time, or its lease's
    /// expiry if it is held), so a worker knows how long it may sleep.
    async fn next_job_due_at(&self) -> StoreResult<Option<DateTime<Utc>>>;
}
