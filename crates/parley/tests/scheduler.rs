//! The scheduler's guarantees with real `parley serve` processes and a stand-in of Telnyx's
//! messaging API on 127.0.0.1:
//! - two servers sharing one PostgreSQL database dispatch every event exactly once;
//! - a server killed with SIGKILL before the due time dispatches the event after a restart,
//!   exactly once;
//! - a server killed while the carrier request is in flight leads to at most one duplicate,
//!   which carries the same `Idempotency-Key`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_parley");
const KEY: &str = "scheduler-test-key-0123456789";

/// What the stand-in carrier saw: message text and `Idempotency-Key`, in arrival order.
#[derive(Clone, Default)]
struct Carrier {
    seen: Arc<Mutex<Vec<(String, String)>>>,
    /// Texts whose first request is never answered (the sender is killed meanwhile).
    hold_first: Arc<Mutex<Vec<String>>>,
}

async fn messages(
    State(carrier): State<Carrier>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    let text = body["text"].as_str().unwrap_or_default().to_owned();
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let first = {
        let mut seen = carrier.seen.lock().unwrap();
        let first = !seen.iter().any(|(t, _)| *t == text);
        seen.push((text.clone(), key));
        first
    };
    if first && carrier.hold_first.lock().unwrap().contains(&text) {
        std::future::pending::<()>().await;
    }
    Json(
        json!({"data": {"id": format!("msg-{}", uuid::Uuid::new_v4()), "to": [{"status": "queued"}]}}),
    )
}

impl Carrier {
    async fn start() -> (Self, String) {
        let carrier = Carrier::default();
        let app = Router::new()
            .route("/v2/messages", post(messages))
            .with_state(carrier.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v2", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (carrier, url)
    }

    fn arrivals(&self, text: &str) -> Vec<String> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|(t, _)| t == text)
            .map(|(_, k)| k.clone())
            .collect()
    }
}

/// A `parley serve` process; killed (SIGKILL) when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    // The child is waited for in `kill`/`Drop`.
    #[allow(clippy::zombie_processes)]
    fn start(data_dir: &Path, carrier: &str, database_url: Option<&str>) -> Self {
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env("PARLEY_API_KEY", KEY)
            .env("PARLEY_LOG", "warn")
            .env("PARLEY_PULL_MODELS", "false")
            .env("PARLEY_EMBEDDED_MODEL", "false")
            .env("PARLEY_LLM_BASE_URL", "http://127.0.0.1:9/v1")
            .env("PARLEY_TELNYX_API_URL", carrier)
            .env("PARLEY_TELNYX_API_KEY", "telnyx-test-key")
            .env("PARLEY_JOBS_LEASE_SECS", "2")
            .env("PARLEY_JOBS_POLL_MS", "100")
            .env("PARLEY_MASTER_KEY", "11".repeat(32))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(url) = database_url {
            command.args(["--database-url", url]);
        }
        let mut child = command.spawn().expect("parley starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).expect("the server says it listens");
            if let Some(rest) = line.strip_prefix("parley listening on ") {
                let base = rest.split_whitespace().next().unwrap().to_owned();
                return Self { child, base };
            }
        }
    }

    /// SIGKILL: no shutdown, no cleanup, leases left behind.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let response = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .bearer_auth(KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    async fn get(&self, path: &str) -> Value {
        reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn assistant(&self) -> String {
        let created = self
            .post(
                "/v2/ai/assistants",
                json!({"name": "Scheduler", "instructions": "Remind people of appointments."}),
            )
            .await;
        created["id"].as_str().unwrap().to_owned()
    }

    /// Schedules an SMS with `text` due `in_ms` from now; returns the event id.
    async fn schedule(&self, assistant: &str, text: &str, in_ms: i64, to: &str) -> String {
        let at = chrono::Utc::now() + chrono::Duration::milliseconds(in_ms);
        let event = self
            .post(
                &format!("/v2/ai/assistants/{assistant}/scheduled_events"),
                json!({
                    "telnyx_conversation_channel": "sms_chat",
                    "telnyx_agent_target": "+15550001000",
                    "telnyx_end_user_target": to,
                    "scheduled_at_fixed_datetime": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "text": text,
                }),
            )
            .await;
        let event = event.get("data").unwrap_or(&event);
        event["scheduled_event_id"].as_str().unwrap().to_owned()
    }

    async fn event_status(&self, assistant: &str, event: &str) -> String {
        let body = self
            .get(&format!(
                "/v2/ai/assistants/{assistant}/scheduled_events/{event}"
            ))
            .await;
        let event = body.get("data").unwrap_or(&body);
        event["status"].as_str().unwrap_or_default().to_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `done` every 50 ms until it holds, failing after `secs` seconds with `what`.
async fn until<F, Fut>(secs: u64, what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A fresh PostgreSQL database; returns its URL and the admin client that drops it.
async fn database() -> (String, String, tokio_postgres::Client) {
    let admin = std::env::var("PARLEY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let name = format!("parley_sched_{}", uuid::Uuid::new_v4().simple());
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL must be reachable at {admin}: {e}"));
    tokio::spawn(connection);
    client
        .batch_execute(&format!("create database {name}"))
        .await
        .unwrap();
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    (url, name, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_dispatch_every_event_once() {
    let (carrier, carrier_url) = Carrier::start().await;
    let (url, name, admin) = database().await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Server::start(dir_a.path(), &carrier_url, Some(&url));
    let b = Server::start(dir_b.path(), &carrier_url, Some(&url));
    let assistant = a.assistant().await;
    let mut events = Vec::new();
    for i in 0..40 {
        let via = if i % 2 == 0 { &a } else { &b };
        let text = format!("two nodes {i}");
        let id = via
            .schedule(
                &assistant,
                &text,
                2_000 + i * 25,
                &format!("+1555200{i:04}"),
            )
            .await;
        events.push((text, id));
    }
    until(30, "every event reached the carrier", || async {
        events.iter().all(|(t, _)| !carrier.arrivals(t).is_empty())
    })
    .await;
    for (text, id) in &events {
        until(10, "the event left pending", || async {
            a.event_status(&assistant, id).await != "pending"
        })
        .await;
        assert_eq!(carrier.arrivals(text).len(), 1, "{text} was sent once");
    }
    a.kill();
    b.kill();
    admin
        .batch_execute(&format!("drop database if exists {name} with (force)"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_before_the_due_time_dispatches_after_restart_once() {
    let (carrier, carrier_url) = Carrier::start().await;
    let dir = tempfile::tempdir().unwrap();
    let first = Server::start(dir.path(), &carrier_url, None);
    let assistant = first.assistant().await;
    let event = first
        .schedule(&assistant, "see you tomorrow", 2_500, "+15552000001")
        .await;
    first.kill();
    assert!(
        carrier.arrivals("see you tomorrow").is_empty(),
        "nothing sent before the due time"
    );
    let second = Server::start(dir.path(), &carrier_url, None);
    until(20, "the event was dispatched after the restart", || async {
        second.event_status(&assistant, &event).await != "pending"
    })
    .await;
    assert_eq!(carrier.arrivals("see you tomorrow").len(), 1);
    second.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_dispatch_sends_at_most_one_duplicate_with_the_same_key() {
    let (carrier, carrier_url) = Carrier::start().await;
    carrier
        .hold_first
        .lock()
        .unwrap()
        .push("your table is ready".into());
    let dir = tempfile::tempdir().unwrap();
    let first = Server::start(dir.path(), &carrier_url, None);
    let assistant = first.assistant().await;
    let event = first
        .schedule(&assistant, "your table is ready", 500, "+15552000002")
        .await;
    until(20, "the carrier request is in flight", || async {
        !carrier.arrivals("your table is ready").is_empty()
    })
    .await;
    first.kill();
    // The lease (2 s) runs out; the restarted server takes the job over and sends again.
    let second = Server::start(dir.path(), &carrier_url, None);
    until(20, "the event was dispatched after the restart", || async {
        second.event_status(&assistant, &event).await != "pending"
    })
    .await;
    let keys = carrier.arrivals("your table is ready");
    assert_eq!(keys.len(), 2, "one duplicate at most: {keys:?}");
    assert!(
        !keys[0].is_empty(),
        "the carrier request carries an idempotency key"
    );
    assert_eq!(keys[0], keys[1], "the duplicate carries the same key");
    second.kill();
}
