//! The test harness: the real Parley server in-process on 127.0.0.1:0 with a fresh database —
//! a SQLite file in a temporary directory, or a new PostgreSQL database dropped afterwards —
//! and an SDK client pointed at it.
#![allow(dead_code)]

pub mod fixtures;

use parley_client::Client;
use parley_llm::test_support::{Reply, ScriptedServer};
use parley_server::settings::Settings;
use parley_server::Application;
use tokio::sync::oneshot;

/// Which database the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The admin URL test databases are created through.
pub fn postgres_admin_url() -> String {
    std::env::var("PARLEY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A running server and a client of it.
pub struct TestServer {
    /// `http://127.0.0.1:PORT/v2`.
    pub base_url: String,
    /// The default organization's key.
    pub key: String,
    /// A client with the default retry policy.
    pub client: Client,
    /// The scripted OpenAI-compatible server answering for every model, when spawned with
    /// [`TestServer::spawn_with_llm`].
    pub llm: Option<ScriptedServer>,
    shutdown: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
    database: Option<String>,
}

impl TestServer {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    /// A server whose every model is answered by a scripted LLM giving `replies` in order
    /// (then 500s; see [`ScriptedServer::repeat`]); no embedded model.
    pub async fn spawn_with_llm(backend: Backend, replies: Vec<Reply>) -> Self {
        let llm = ScriptedServer::start(replies).await;
        Self::spawn_with_scripted(backend, llm, |settings| settings.llm.timeout_ms = 2_000).await
    }

    /// A server whose every model echoes what it is told (a scripted LLM repeating
    /// [`Reply::Echo`]), with these further changes.
    pub async fn spawn_echoing(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> Self {
        let llm = ScriptedServer::start(vec![]).await;
        llm.repeat(Reply::Echo);
        Self::spawn_with_scripted(backend, llm, tweak).await
    }

    /// A server whose every model `llm` answers, allowed to reach private networks (where the
    /// local stand-ins listen), with these further changes; no embedded model.
    async fn spawn_with_scripted(
        backend: Backend,
        llm: ScriptedServer,
        tweak: impl FnOnce(&mut Settings),
    ) -> Self {
        let llm_url = llm.base_url();
        let mut server = Self::spawn_with(backend, |settings| {
            settings.llm.embedded = false;
            settings.llm.upstream_base_url = Some(llm_url);
            settings.allow_private_network = true;
            tweak(settings);
        })
        .await;
        server.llm = Some(llm);
        server
    }

    /// A server with these changes to the test settings.
    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let key = format!("test-key-{}", uuid::Uuid::new_v4().simple());
        let mut settings = Settings {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_owned(),
            api_key: Some(key.clone()),
            log: "warn".into(),
            ..Settings::default()
        };
        let mut database = None;
        if backend == Backend::Postgres {
            let name = format!("parley_client_test_{}", uuid::Uuid::new_v4().simple());
            let admin = postgres_admin_url();
            let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL must be reachable at {admin}: {e}"));
            tokio::spawn(connection);
            client
                .batch_execute(&format!("create database {name}"))
                .await
                .expect("create test database");
            let (server, _) = admin
                .rsplit_once('/')
                .unwrap_or_else(|| panic!("admin URL {admin} has no database part"));
            settings.database_url = Some(format!("{server}/{name}"));
            settings.database_max_connections = 4;
            database = Some(name);
        }
        tweak(&mut settings);
        let app = Application::build(settings)
            .await
            .expect("application builds");
        let base_url = format!("http://{}/v2", app.local_addr());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        let client = Client::builder()
            .api_key(&key)
            .base_url(&base_url)
            .build()
            .expect("client builds");
        Self {
            base_url,
            key,
            client,
            llm: None,
            shutdown: Some(tx),
            _dir: dir,
            database,
        }
    }

    /// A client of this server with another key.
    pub fn client_with_key(&self, key: &str) -> Client {
        Client::builder()
            .api_key(key)
            .base_url(&self.base_url)
            .build()
            .unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(name) = self.database.take() {
            // Drop cannot await: drop the database from a thread with its own runtime.
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

/// Generates `sqlite` and `postgres` tests from one `async fn(TestServer)` scenario.
#[macro_export]
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        $(
            $crate::test_on_both_backends!($scenario, |backend| {
                super::$scenario(TestServer::spawn(backend).await).await;
            });
        )*
    };
}

/// Generates `sqlite` and `postgres` tests from one `async fn(TestServer, &StandIn)` scenario:
/// each starts the local stand-in with `$stand_in().await`, then the server with
/// `$spawn(backend, &stand_in).await`, and keeps the stand-in up until the scenario ends.
#[macro_export]
macro_rules! on_both_backends_with {
    ($stand_in:ident, $spawn:ident: $($scenario:ident),* $(,)?) => {
        $(
            $crate::test_on_both_backends!($scenario, |backend| {
                let stand_in = super::$stand_in().await;
                super::$scenario(super::$spawn(backend, &stand_in).await, &stand_in).await;
            });
        )*
    };
}

/// A module `$name` with a `sqlite` and a `postgres` test running `$body` with `$backend`
/// bound to that backend.
#[macro_export]
macro_rules! test_on_both_backends {
    ($name:ident, |$backend:ident| $body:block) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $backend = Backend::Sqlite;
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let $backend = Backend::Postgres;
                $body
            }
        }
    };
}

/// Asserts `result` is an API error with this status and envelope code.
pub fn assert_api_error<T: std::fmt::Debug>(
    result: parley_client::Result<T>,
    status: u16,
    code: &str,
) -> parley_client::Error {
    let error = result.expect_err("the call should fail");
    assert_eq!(error.status(), Some(status), "{error}");
    assert_eq!(error.code(), Some(code), "{error}");
    let envelope = error.envelope().expect("an error envelope");
    assert!(!envelope.errors[0].title.is_empty());
    error
}
