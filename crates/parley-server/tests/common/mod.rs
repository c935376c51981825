//! The test harness: the real application on 127.0.0.1:0 with a fresh database — a SQLite
//! file in a temporary directory, or a new PostgreSQL database that is dropped afterwards —
//! and a client that speaks HTTP to it.
#![allow(dead_code)]

use parley_core::apikey;
use parley_core::clock::{Clock, ManualClock, SystemClock};
use parley_llm::test_support::{Reply as LlmReply, ScriptedServer};
use parley_server::settings::Settings;
use parley_server::state::AppState;
use parley_server::Application;
use parley_store::Store;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::oneshot;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The admin URL tests create their PostgreSQL databases through.
pub fn postgres_admin_url() -> String {
    std::env::var("PARLEY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A running application.
pub struct TestApp {
    pub base: String,
    pub key: String,
    pub http: reqwest::Client,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// What the handlers see (settings, cipher), for calling server functions directly.
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
    database: Option<String>,
}

/// A response: status, headers and the body parsed as JSON (`Null` when empty).
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, Arc::new(SystemClock), |_| {}).await
    }

    pub async fn spawn_with_clock(backend: Backend, clock: Arc<ManualClock>) -> Self {
        Self::spawn_with(backend, clock, |_| {}).await
    }

    /// The app on the system clock, with `tweak` applied to its settings.
    pub async fn spawn_with_settings(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> Self {
        Self::spawn_with(backend, Arc::new(SystemClock), tweak).await
    }

    /// The app with a scripted OpenAI-compatible server playing the LLM: it is the catch-all
    /// upstream (every model name is served by it, answering `replies` in order), a model
    /// request times out after 2 s, and private networks are allowed (webhook, MCP and
    /// external LLM stubs listen on loopback).
    pub async fn spawn_with_llm(
        backend: Backend,
        replies: Vec<LlmReply>,
    ) -> (Self, ScriptedServer) {
        Self::spawn_with_llm_and(backend, replies, |_| {}).await
    }

    /// [`TestApp::spawn_with_llm`], then `tweak` applied to the settings.
    pub async fn spawn_with_llm_and(
        backend: Backend,
        replies: Vec<LlmReply>,
        tweak: impl FnOnce(&mut Settings),
    ) -> (Self, ScriptedServer) {
        let llm = ScriptedServer::start(replies).await;
        let base_url = llm.base_url();
        let app = Self::spawn_with_settings(backend, |settings| {
            settings.llm.embedded = false;
            settings.llm.upstream_base_url = Some(base_url);
            settings.llm.timeout_ms = 2_000;
            settings.allow_private_network = true;
            tweak(settings);
        })
        .await;
        (app, llm)
    }

    pub async fn spawn_with(
        backend: Backend,
        clock: Arc<dyn Clock>,
        tweak: impl FnOnce(&mut Settings),
    ) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let key = apikey::generate().secret;
        let mut settings = Settings {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_owned(),
            api_key: Some(key.clone()),
            log: "warn".into(),
            ..Settings::default()
        };
        // Every model name is servable (by an upstream nothing here talks to), so that tests of
        // the management API can use any `model`; chat tests point it at a scripted server.
        settings.llm.embedded = false;
        settings.llm.upstream_base_url = Some("http://127.0.0.1:9/v1".into());
        // No background worker: tests run due jobs with `tick_jobs`, at the time they choose.
        settings.jobs.worker = false;
        let mut database = None;
        if backend == Backend::Postgres {
            let name = format!("parley_test_{}", uuid::Uuid::new_v4().simple());
            let admin = postgres_admin_url();
            let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL must be reachable at {admin}: {e}"));
            tokio::spawn(connection);
            client
                .batch_execute(&format!("create database {name}"))
                .await
                .expect("create test database");
            let url = match admin.rsplit_once('/') {
                Some((server, _)) => format!("{server}/{name}"),
                None => panic!("admin URL {admin} has no database part"),
            };
            settings.database_url = Some(url);
            settings.database_max_connections = 8;
            database = Some(name);
        }
        tweak(&mut settings);
        let app = Application::build_with_clock(settings, clock.clone())
            .await
            .expect("application builds");
        let base = format!("http://{}", app.local_addr());
        let store = app.store();
        let state = app.state();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        Self {
            base,
            key,
            http: reqwest::Client::new(),
            store,
            clock,
            state,
            shutdown: Some(tx),
            server: Some(server),
            _dir: dir,
            database,
        }
    }

    /// Runs every job due at `now` (as this node) and returns how many ran.
    pub async fn tick_jobs(&self, now: chrono::DateTime<chrono::Utc>) -> usize {
        parley_server::jobs::Worker::new(self.state.clone())
            .tick(now)
            .await
            .expect("claiming jobs")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A key of a new organization named `org`.
    pub async fn key_for_new_org(&self, org: &str) -> String {
        let organization = self
            .store
            .ensure_organization(org, self.clock.now())
            .await
            .unwrap();
        let key = apikey::generate();
        self.store
            .insert_api_key(&organization.id, &key.hash, &key.prefix, self.clock.now())
            .await
            .unwrap();
        key.secret
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> Reply {
        let mut request = self.http.request(method, self.url(path));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("request reaches the server");
        Self::reply(response).await
    }

    pub async fn reply(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "body is not JSON ({e}): {:?}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None, Some(&self.key)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::POST, path, Some(body), Some(&self.key))
            .await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None, Some(&self.key)).await
    }

    /// Creates an assistant and returns its wire object.
    pub async fn create_assistant(&self, body: Value) -> Value {
        let reply = self.post("/v2/ai/assistants", &body).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "create failed: {}",
            reply.body
        );
        reply.body
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(name) = self.database.take() {
            // Drop the database from a thread with its own runtime: Drop cannot await.
            let admin = postgres_admin_url();
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    if let Ok((client, connection)) =
                        tokio_postgres::connect(&admin, tokio_postgres::NoTls).await
                    {
                        tokio::spawn(connection);
                        let _ = client
                            .batch_execute(&format!("drop database if exists {name} with (force)"))
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

/// Asserts a reply is the error envelope with this status and code; returns the first error.
pub fn assert_error(reply: &Reply, status: u16, code: &str) -> Value {
    assert_eq!(
        reply.status.as_u16(),
        status,
        "unexpected status; body: {}",
        reply.body
    );
    let errors = reply.body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors array in {}", reply.body));
    assert!(!errors.is_empty());
    let first = errors[0].clone();
    assert_eq!(first["code"], code, "{}", reply.body);
    assert!(first["title"].as_str().is_some_and(|t| !t.is_empty()));
    first
}

/// Generates `sqlite` and `postgres` tests from one `async fn(TestApp)` scenario.
#[macro_export]
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$scenario(TestApp::spawn(Backend::Sqlite).await).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$scenario(TestApp::spawn(Backend::Postgres).await).await;
                }
            }
        )*
    };
}

/// Generates `sqlite` and `postgres` tests from one `async fn(Backend)` scenario, for scenarios
/// that spawn their application themselves (with a scripted LLM, stand-in providers, settings
/// of their own).
#[macro_export]
macro_rules! on_both {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$scenario($crate::common::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$scenario($crate::common::Backend::Postgres).await;
                }
            }
        )*
    };
}

/// A response of the S3-compatible API.
pub struct S3Reply {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: reqwest::header::HeaderMap,
    /// Its body.
    pub body: Vec<u8>,
}

impl S3Reply {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A SigV4-shaped Authorization header for access key `key` (the signature is not checked).
pub fn sigv4(key: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={key}/20260301/us-east-1/s3/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature=0123456789abcdef"
    )
}

/// A request to `app`'s `/s3` API as access key `key` (none: unsigned).
pub async fn s3_as(
    app: &TestApp,
    key: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
    headers: &[(&str, &str)],
) -> S3Reply {
    let mut request = app.http.request(method, app.url(path));
    if let Some(key) = key {
        request = request.header("authorization", sigv4(key));
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    let response = request.send().await.expect("request reaches the server");
    S3Reply {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.bytes().await.unwrap().to_vec(),
    }
}
