//! The job worker over the durable queue, on a fresh SQLite file and a fresh PostgreSQL
//! database: outcomes (done, retry, failure, a handler that panics, an unknown kind), two
//! nodes sharing one queue, a dead node's job taken over when its lease runs out, leases kept
//! alive while a handler runs, and the background loop woken by an enqueue.

mod common;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use common::{Backend, TestApp};
use parley_core::clock::{Clock, ManualClock};
use parley_server::jobs::{JobHandler, JobOutcome, Jobs, Worker};
use parley_server::state::AppState;
use parley_store::{JobRecord, NewJob};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Runs jobs of kind `test`: the payload's `outcome` says what to answer; every run is
/// recorded as `(key, attempts, lease owner)`.
#[derive(Default)]
struct Scripted {
    runs: Mutex<Vec<(String, u32, String)>>,
    /// When set, runs of outcome `block` wait for it.
    release: Notify,
}

#[async_trait]
impl JobHandler for Scripted {
    async fn run(&self, state: &AppState, job: &JobRecord) -> JobOutcome {
        self.runs.lock().unwrap().push((
            job.key.clone(),
            job.attempts,
            job.lease_owner.clone().unwrap_or_default(),
        ));
        match job.payload["outcome"].as_str() {
            Some("retry") => JobOutcome::RetryAt {
                due_at: state.clock.now() + Duration::seconds(90),
                error: "the carrier answered 503".into(),
            },
            Some("fail") => JobOutcome::Failed("the number does not exist".into()),
            Some("panic") => panic!("a handler bug"),
            Some("block") => {
                self.release.notified().await;
                JobOutcome::Done
            }
            _ => JobOutcome::Done,
        }
    }
}

impl Scripted {
    fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .runs
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.0.clone())
            .collect();
        keys.sort();
        keys
    }
}

fn worker(state: AppState, handler: &Arc<Scripted>) -> Worker {
    let mut handlers: HashMap<&'static str, Arc<dyn JobHandler>> = HashMap::new();
    handlers.insert("test", handler.clone());
    Worker::with_handlers(state, handlers)
}

/// The same application state as another node would have it: same store, another lease owner.
fn other_node(state: &AppState) -> AppState {
    AppState {
        jobs: Arc::new(Jobs::new()),
        ..state.clone()
    }
}

async fn enqueue(app: &TestApp, kind: &str, key: &str, outcome: &str, due_at: DateTime<Utc>) {
    let org = app
        .store
        .ensure_organization("jobs-test", app.clock.now())
        .await
        .unwrap()
        .id;
    app.store
        .enqueue_job(NewJob {
            org_id: org,
            kind: kind.into(),
            key: key.into(),
            payload: json!({"outcome": outcome}),
            due_at,
        })
        .await
        .unwrap();
}

async fn job(app: &TestApp, key: &str) -> Option<JobRecord> {
    let org = app
        .store
        .ensure_organization("jobs-test", app.clock.now())
        .await
        .unwrap()
        .id;
    app.store.get_job(&org, "test", key).await.unwrap()
}

async fn spawn(backend: Backend, lease_secs: u64) -> (TestApp, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(
        "2026-03-01T09:00:00Z".parse::<DateTime<Utc>>().unwrap(),
    ));
    let app = TestApp::spawn_with(backend, clock.clone(), |settings| {
        settings.jobs.lease_secs = lease_secs;
        settings.jobs.concurrency = 4;
    })
    .await;
    (app, clock)
}

async fn outcomes_are_recorded(backend: Backend) {
    let (app, clock) = spawn(backend, 60).await;
    let t = clock.now();
    let handler = Arc::new(Scripted::default());
    let worker = worker(app.state.clone(), &handler);
    for outcome in ["done", "retry", "fail", "panic"] {
        enqueue(&app, "test", outcome, outcome, t + Duration::seconds(10)).await;
    }
    enqueue(&app, "unknown-kind", "mystery", "done", t).await;

    assert_eq!(
        worker.tick(t).await.unwrap(),
        1,
        "only the unknown kind is due"
    );
    assert!(handler.keys().is_empty());
    clock.advance(Duration::seconds(10));
    assert_eq!(worker.tick(clock.now()).await.unwrap(), 4);
    assert_eq!(handler.keys(), ["done", "fail", "panic", "retry"]);

    assert!(job(&app, "done").await.is_none(), "a done job is removed");
    assert!(job(&app, "fail").await.is_none(), "a failed job is removed");
    let retry = job(&app, "retry").await.expect("the retried job stays");
    assert_eq!(retry.due_at, t + Duration::seconds(100));
    assert_eq!(
        retry.last_error.as_deref(),
        Some("the carrier answered 503")
    );
    assert_eq!((retry.lease_owner, retry.attempts), (None, 1));
    let panicked = job(&app, "panic").await.expect("a panicking job is kept");
    assert!(
        panicked
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("handler failed"),
        "{panicked:?}"
    );
    assert!(panicked.due_at > t + Duration::seconds(10), "it backs off");

    // Nothing more is due now; the retry runs at its time, as a second attempt.
    assert_eq!(worker.tick(t + Duration::seconds(10)).await.unwrap(), 0);
    clock.advance(Duration::seconds(90));
    assert_eq!(
        worker.tick(clock.now()).await.unwrap(),
        3,
        "the retry, and the panicking job and the unknown kind after their back-off"
    );
    let runs = handler.runs.lock().unwrap().clone();
    assert!(
        runs.iter().any(|r| (r.0.as_str(), r.1) == ("retry", 2)),
        "{runs:?}"
    );
    assert!(
        runs.iter().any(|r| (r.0.as_str(), r.1) == ("panic", 2)),
        "{runs:?}"
    );
    app.stop().await;
}

async fn two_nodes_never_run_a_job_twice(backend: Backend) {
    let (app, clock) = spawn(backend, 60).await;
    let t = clock.now();
    for i in 0..60 {
        enqueue(
            &app,
            "test",
            &format!("job-{i:02}"),
            "done",
            t - Duration::seconds(i),
        )
        .await;
    }
    let handler = Arc::new(Scripted::default());
    let a = worker(app.state.clone(), &handler);
    let b = worker(other_node(&app.state), &handler);
    let (ran_a, ran_b) = tokio::join!(a.tick(t), b.tick(t));
    let (ran_a, ran_b) = (ran_a.unwrap(), ran_b.unwrap());
    assert_eq!(ran_a + ran_b, 60);
    let keys = handler.keys();
    let mut distinct = keys.clone();
    distinct.dedup();
    assert_eq!(keys.len(), 60, "every job ran");
    assert_eq!(distinct.len(), 60, "no job ran twice");
    let owners: std::collections::BTreeSet<String> = handler
        .runs
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.2.clone())
        .collect();
    assert!(!owners.is_empty() && owners.len() <= 2, "{owners:?}");
    app.stop().await;
}

async fn a_dead_nodes_job_is_taken_over(backend: Backend) {
    let (app, clock) = spawn(backend, 60).await;
    let t = clock.now();
    enqueue(&app, "test", "orphan", "done", t).await;
    // A node claims it and dies without a word.
    let claimed = app
        .store
        .claim_jobs("node-that-died", t, t + Duration::seconds(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let handler = Arc::new(Scripted::default());
    let worker = worker(app.state.clone(), &handler);
    assert_eq!(
        worker.tick(t + Duration::seconds(59)).await.unwrap(),
        0,
        "still leased"
    );
    assert_eq!(
        worker.tick(t + Duration::seconds(60)).await.unwrap(),
        1,
        "lease ran out"
    );
    let runs = handler.runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].1, 2, "the second attempt");
    assert_eq!(runs[0].2, app.state.jobs.owner());
    assert!(job(&app, "orphan").await.is_none());
    app.stop().await;
}

async fn a_running_job_keeps_its_lease(backend: Backend) {
    let (app, clock) = spawn(backend, 1).await;
    let t = clock.now();
    enqueue(&app, "test", "long", "block", t).await;
    let handler = Arc::new(Scripted::default());
    let running = {
        let worker = worker(app.state.clone(), &handler);
        tokio::spawn(async move { worker.tick(t).await.unwrap() })
    };
    // Time moves on while the handler works; the worker keeps moving the lease past it.
    clock.advance(Duration::seconds(30));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let lease = job(&app, "long").await.and_then(|j| j.lease_expires_at);
        if lease.is_some_and(|l| l > t + Duration::seconds(30)) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the lease was never extended: {lease:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let other = Arc::new(Scripted::default());
    let second = worker(other_node(&app.state), &other);
    assert_eq!(
        second.tick(t + Duration::seconds(30)).await.unwrap(),
        0,
        "a job whose lease is kept alive is not taken over"
    );
    handler.release.notify_one();
    assert_eq!(running.await.unwrap(), 1);
    assert!(job(&app, "long").await.is_none());
    app.stop().await;
}

async fn the_loop_wakes_on_enqueue(backend: Backend) {
    use std::time::{Duration as StdDuration, Instant};
    let app = TestApp::spawn_with(backend, Arc::new(parley_core::clock::SystemClock), |s| {
        // A poll interval far longer than the test: only the wake-up can start the job.
        s.jobs.poll_ms = 600_000;
    })
    .await;
    let handler = Arc::new(Scripted::default());
    let background = tokio::spawn(worker(app.state.clone(), &handler).run());
    let deadline = Instant::now() + StdDuration::from_secs(10);
    // Each job is enqueued and the worker woken, as routes do; once the first is done the loop
    // goes back to sleep on an empty queue, and only the wake-up can start the second.
    for key in ["first", "second"] {
        enqueue(&app, "test", key, "done", app.clock.now()).await;
        app.state.jobs.wake();
        while job(&app, key).await.is_some() {
            assert!(
                Instant::now() < deadline,
                "the woken worker never ran {key}"
            );
            tokio::time::sleep(StdDuration::from_millis(10)).await;
        }
    }
    assert_eq!(handler.keys(), ["first", "second"]);
    background.abort();
    app.stop().await;
}

on_both!(
    outcomes_are_recorded,
    two_nodes_never_run_a_job_twice,
    a_dead_nodes_job_is_taken_over,
    a_running_job_keeps_its_lease,
    the_loop_wakes_on_enqueue,
);
