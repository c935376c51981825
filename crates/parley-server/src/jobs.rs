//! The job worker: runs the durable queue's jobs (`parley_store::JobStore`) through the
//! handler their `kind` names.
//!
//! Every process with `jobs.worker` on runs one [`Worker`]. It claims due jobs under a lease
//! (one statement; nodes never share a job), runs each on its own task while a ticker extends
//! the lease, and records the outcome: done jobs are removed, retried ones released with a new
//! due time. A process that dies leaves leases that run out, and another node's worker claims
//! those jobs again — so handlers are written to run at least once, and check their own rows
//! to notice a repeat. The worker sleeps until the next due job, a wake-up from this process
//! ([`Jobs::wake`], called after enqueueing) or the poll interval, whichever comes first (the
//! poll interval bounds the lag for jobs enqueued by another node).
//!
//! Tests drive [`Worker::tick`] at a chosen time instead of running the loop.

use crate::state::AppState;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use parley_store::{JobRecord, StoreResult};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

/// What became of one run of a job.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    /// The work is done (or was already done); the job is removed.
    Done,
    /// Run it again at `due_at`; `error` is recorded on the job.
    RetryAt {
        /// When to run it again.
        due_at: DateTime<Utc>,
        /// What went wrong this time.
        error: String,
    },
    /// The work cannot be done; the job is removed and the reason logged. The handler records
    /// the failure on its own rows first.
    Failed(String),
}

/// Runs the jobs of one kind.
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// Runs one claimed job. The worker keeps extending the lease while this runs. May run
    /// more than once for the same job (a node died mid-run): check your own state.
    async fn run(&self, state: &AppState, job: &JobRecord) -> JobOutcome;
}

/// Every job kind this build runs, by name.
pub fn handlers() -> HashMap<&'static str, Arc<dyn JobHandler>> {
    let mut handlers: HashMap<&'static str, Arc<dyn JobHandler>> = HashMap::new();
    handlers.insert(
        crate::evaluation::TEST_RUN_JOB,
        Arc::new(crate::evaluation::TestRunHandler::default()),
    );
    handlers.insert(
        parley_core::scheduled_events::JOB_KIND,
        Arc::new(crate::outreach::ScheduledEventHandler),
    );
    handlers.insert(
        parley_core::messaging::INBOUND_SMS_JOB,
        Arc::new(crate::outreach::InboundSmsHandler),
    );
    handlers.insert(
        parley_core::knowledge::EMBEDDING_TASK_JOB,
        Arc::new(crate::knowledge::EmbeddingTaskHandler),
    );
    handlers.insert(
        parley_core::knowledge::BUCKET_SYNC_JOB,
        Arc::new(crate::knowledge::BucketSyncHandler),
    );
    handlers
}

/// The per-process side of the queue that handlers and routes reach through [`AppState`]:
/// this node's lease owner name and the worker's wake-up.
#[derive(Debug)]
pub struct Jobs {
    owner: String,
    wake: Notify,
}

impl Default for Jobs {
    fn default() -> Self {
        Self::new()
    }
}

impl Jobs {
    /// A new node identity (process id and a random suffix).
    pub fn new() -> Self {
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        Self {
            owner: format!("node-{}-{}", std::process::id(), &suffix[..8]),
            wake: Notify::new(),
        }
    }

    /// The name this node's leases carry.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Tells this process's worker that a job was enqueued (it looks for due jobs at once).
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// Claims and runs jobs.
pub struct Worker {
    state: AppState,
    handlers: Arc<HashMap<&'static str, Arc<dyn JobHandler>>>,
    running: Arc<Semaphore>,
}

/// Back-off before a job whose handler panicked, or whose kind this build does not know, is
/// tried again: doubling per attempt from 30 s, at most an hour.
fn backoff(attempts: u32) -> Duration {
    Duration::seconds(30i64.saturating_mul(1i64 << attempts.min(7)).min(3600))
}

impl Worker {
    /// A worker over `state` with this build's [`handlers`].
    pub fn new(state: AppState) -> Self {
        Self::with_handlers(state, handlers())
    }

    /// A worker with the given handlers.
    pub fn with_handlers(
        state: AppState,
        handlers: HashMap<&'static str, Arc<dyn JobHandler>>,
    ) -> Self {
        let concurrency = state.settings.jobs.concurrency.max(1);
        Self {
            state,
            handlers: Arc::new(handlers),
            running: Arc::new(Semaphore::new(concurrency)),
        }
    }

    fn lease(&self) -> Duration {
        Duration::seconds(self.state.settings.jobs.lease_secs.max(1) as i64)
    }

    /// Claims the jobs due at `now` (as many as the concurrency bound allows), runs them and
    /// waits for them; returns how many ran. Repeats while a full batch was claimed, so every
    /// job due at `now` has run when it returns.
    pub async fn tick(&self, now: DateTime<Utc>) -> StoreResult<usize> {
        let mut total = 0;
        loop {
            let limit = self.state.settings.jobs.concurrency.max(1);
            let jobs = self
                .state
                .store
                .claim_jobs(self.state.jobs.owner(), now, now + self.lease(), limit)
                .await?;
            let claimed = jobs.len();
            let mut set = JoinSet::new();
            for job in jobs {
                set.spawn(self.run_one(job));
            }
            while set.join_next().await.is_some() {}
            total += claimed;
            if claimed < limit {
                return Ok(total);
            }
        }
    }

    /// Runs until the process ends: claims due jobs whenever a slot is free, and sleeps until
    /// the next due time, a wake-up or the poll interval.
    pub async fn run(self) {
        let poll = std::time::Duration::from_millis(self.state.settings.jobs.poll_ms.max(1));
        let mut running = JoinSet::new();
        loop {
            let free = self.running.available_permits();
            let mut full_batch = false;
            if free > 0 {
                let now = self.state.clock.now();
                match self
                    .state
                    .store
                    .claim_jobs(self.state.jobs.owner(), now, now + self.lease(), free)
                    .await
                {
                    Ok(jobs) => {
                        full_batch = jobs.len() == free;
                        for job in jobs {
                            let permit = self
                                .running
                                .clone()
                                .acquire_owned()
                                .await
                                .expect("the semaphore is never closed");
                            let work = self.run_one(job);
                            running.spawn(async move {
                                work.await;
                                drop(permit);
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "claiming jobs failed"),
                }
            }
            while running.try_join_next().is_some() {}
            if full_batch {
                continue;
            }
            let sleep = match self.state.store.next_job_due_at().await {
                Ok(Some(next)) => (next - self.state.clock.now())
                    .to_std()
                    .unwrap_or_default()
                    .min(poll),
                _ => poll,
            };
            tokio::select! {
                () = self.state.jobs.wake.notified() => {}
                () = tokio::time::sleep(sleep) => {}
                Some(_) = running.join_next(), if !running.is_empty() => {}
            }
        }
    }

    /// Runs `job` through its handler with the lease kept alive, then records the outcome.
    fn run_one(&self, job: JobRecord) -> impl std::future::Future<Output = ()> + Send + 'static {
        let state = self.state.clone();
        let handler = self.handlers.get(job.kind.as_str()).cloned();
        let lease = self.lease();
        async move {
            let owner = state.jobs.owner().to_owned();
            let store = state.store.clone();
            let Some(handler) = handler else {
                tracing::warn!(kind = %job.kind, id = %job.id, "no handler for this job kind");
                let due = state.clock.now() + backoff(job.attempts);
                let _ = store
                    .retry_job(
                        &job.id,
                        &owner,
                        due,
                        "no handler for this kind on this node",
                    )
                    .await;
                return;
            };
            let keep_alive = {
                let (store, clock, id, owner) = (
                    store.clone(),
                    state.clock.clone(),
                    job.id.clone(),
                    owner.clone(),
                );
                let every = (lease / 3)
                    .to_std()
                    .unwrap_or(std::time::Duration::from_secs(1));
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(every).await;
                        match store
                            .extend_job_lease(&id, &owner, clock.now() + lease)
                            .await
                        {
                            Ok(true) => {}
                            Ok(false) => return,
                            Err(e) => {
                                tracing::warn!(error = %e, job = %id, "extending a lease failed")
                            }
                        }
                    }
                })
            };
            let run = {
                let (state, job) = (state.clone(), job.clone());
                tokio::spawn(async move { handler.run(&state, &job).await })
            };
            let outcome = run.await.unwrap_or_else(|e| JobOutcome::RetryAt {
                due_at: state.clock.now() + backoff(job.attempts),
                error: format!("the handler failed: {e}"),
            });
            keep_alive.abort();
            let recorded = match &outcome {
                JobOutcome::Done => store.complete_job(&job.id, &owner).await,
                JobOutcome::Failed(reason) => {
                    tracing::warn!(kind = %job.kind, key = %job.key, %reason, "job failed");
                    store.complete_job(&job.id, &owner).await
                }
                JobOutcome::RetryAt { due_at, error } => {
                    tracing::info!(kind = %job.kind, key = %job.key, %error, retry_at = %due_at, "job will be retried");
                    store.retry_job(&job.id, &owner, *due_at, error).await
                }
            };
            match recorded {
                Ok(true) => {}
                Ok(false) => tracing::debug!(
                    kind = %job.kind,
                    key = %job.key,
                    "job was cancelled or re-leased while it ran"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, job = %job.id, "recording a job's outcome failed")
                }
            }
        }
    }
}
