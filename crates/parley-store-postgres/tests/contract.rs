//! Runs the backend-neutral contract suite, and checks what only SQL can see, against a fresh
//! PostgreSQL database per test (`PARLEY_TEST_POSTGRES_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/postgres`). The database is created, used and dropped;
//! if PostgreSQL cannot be reached the tests fail rather than skip.

use parley_core::assistant::{parse_create, parse_update};
use parley_core::ids::{AssistantId, VersionId};
use parley_store::{CoreStore, NewAssistantRecord, MAX_VERSIONS_PER_ASSISTANT};
use parley_store_postgres::{PostgresStore, MIGRATIONS};
use serde_json::json;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use tokio_postgres::{Client, Config, NoTls};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database made for one test, dropped after it whether the test passed or not.
struct TestDatabase {
    admin: Client,
    name: String,
    config: Config,
}

async fn connect(config: &Config) -> Client {
    let (client, connection) = config.connect(NoTls).await.unwrap_or_else(|e| {
        panic!("PostgreSQL is not reachable (set PARLEY_TEST_POSTGRES_URL): {e}")
    });
    tokio::spawn(async move {
        // The connection ends when the client is dropped.
        let _ = connection.await;
    });
    client
}

impl TestDatabase {
    async fn create() -> Self {
        let url =
            std::env::var("PARLEY_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
        let admin_config = Config::from_str(&url)
            .unwrap_or_else(|e| panic!("bad PARLEY_TEST_POSTGRES_URL {url:?}: {e}"));
        let admin = connect(&admin_config).await;
        let name = format!("parley_test_{}", uuid::Uuid::new_v4().simple());
        admin
            .batch_execute(&format!("create database {name}"))
            .await
            .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
        let mut config = admin_config;
        config.dbname(&name);
        Self {
            admin,
            name,
            config,
        }
    }

    fn store(&self, max_connections: usize) -> PostgresStore {
        PostgresStore::from_config(self.config.clone(), max_connections).expect("pool")
    }

    async fn client(&self) -> Client {
        connect(&self.config).await
    }

    /// Runs `test`, then drops the database, then re-raises a failure of `test`.
    async fn run<F, Fut>(self, test: F)
    where
        F: FnOnce(Arc<TestDatabase>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let db = Arc::new(self);
        let outcome = tokio::spawn(test(db.clone())).await;
        let db =
            Arc::try_unwrap(db).unwrap_or_else(|_| panic!("the test kept the database handle"));
        db.admin
            .batch_execute(&format!("drop database if exists {} with (force)", db.name))
            .await
            .unwrap_or_else(|e| panic!("cannot drop database {}: {e}", db.name));
        if let Err(e) = outcome {
            if e.is_panic() {
                std::panic::resume_unwind(e.into_panic());
            }
            panic!("the test was cancelled: {e}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contract_suite_passes() {
    TestDatabase::create()
        .await
        .run(|db| async move {
            let store = db.store(8);
            store.migrate().await.expect("migrate");
            parley_store::contract::run_all(Arc::new(store)).await;
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_once_even_when_servers_start_together() {
    TestDatabase::create()
        .await
        .run(|db| async move {
            let stores: Vec<PostgresStore> = (0..4).map(|_| db.store(2)).collect();
            let mut tasks = tokio::task::JoinSet::new();
            for store in stores {
                tasks.spawn(async move { store.migrate().await });
            }
            while let Some(result) = tasks.join_next().await {
                result.expect("task").expect("concurrent migrate");
            }
            db.store(1)
                .migrate()
                .await
                .expect("migrating again is a no-op");

            let client = db.client().await;
            let versions: Vec<i32> = client
                .query(
                    "select version from schema_migrations order by version",
                    &[],
                )
                .await
                .expect("schema_migrations")
                .iter()
                .map(|row| row.get(0))
                .collect();
            let expected: Vec<i32> = MIGRATIONS.iter().map(|m| m.version as i32).collect();
            assert_eq!(versions, expected, "each migration is recorded once");
            let tables: Vec<String> = client
                .query(
                    "select table_name::text from information_schema.tables \
                     where table_schema = 'public' order by table_name",
                    &[],
                )
                .await
                .expect("tables")
                .iter()
                .map(|row| row.get(0))
                .collect();
            assert_eq!(
                tables,
                [
                    "api_keys",
                    "assistant_tests",
                    "assistant_versions",
                    "assistants",
                    "bucket_objects",
                    "buckets",
                    "canary_deploys",
                    "conversation_messages",
                    "conversations",
                    "embedded_files",
                    "embedding_chunks",
                    "embedding_tasks",
                    "idempotency_keys",
                    "integration_connections",
                    "integration_secrets",
                    "jobs",
                    "mcp_servers",
                    "multipart_uploads",
                    "organizations",
                    "phone_numbers",
                    "scheduled_events",
                    "schema_migrations",
                    "shared_tools",
                    "sms_messages",
                    "test_runs",
                    "webhook_events"
                ]
            );
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_keep_at_most_ten_version_rows_and_number_them() {
    TestDatabase::create()
        .await
        .run(|db| async move {
            let store = db.store(2);
            store.migrate().await.expect("migrate");
            let now = chrono::Utc::now();
            let org = store
                .ensure_organization("pruning", now)
                .await
                .expect("org")
                .id;
            let parsed =
                parse_create(json!({"name": "a", "instructions": "b"}), "m").expect("body");
            let first = VersionId::generate();
            let id = AssistantId::generate();
            let new = NewAssistantRecord {
                id: id.clone(),
                tags: vec![],
                import_metadata: None,
                version_id: first.clone(),
                version_name: "first".into(),
                config: parsed.config,
            };
            store
                .create_assistant_with_version(&org, new, now)
                .await
                .expect("create");
            let client = db.client().await;

            // Drafts only: main (the first version) is kept with the nine newest drafts.
            let draft = parse_update(json!({"description": "d", "promote_to_main": false}))
                .expect("update");
            for _ in 0..12 {
                store
                    .update_assistant(&org, &id, &draft, VersionId::generate(), now)
                    .await
                    .expect("update")
                    .expect("live");
            }
            let versions = version_rows(&client, &id).await;
            assert_eq!(versions.len(), MAX_VERSIONS_PER_ASSISTANT);
            assert_eq!(versions[0], (first.to_string(), 1), "main is kept");
            let numbers: Vec<i64> = versions[1..].iter().map(|v| v.1).collect();
            assert_eq!(
                numbers,
                (5..=13).collect::<Vec<_>>(),
                "the nine newest drafts are kept"
            );

            // Promoted: the ten newest are kept and the old main goes.
            let promote = parse_update(json!({"description": "p"})).expect("update");
            let last = VersionId::generate();
            store
                .update_assistant(&org, &id, &promote, last.clone(), now)
                .await
                .expect("update")
                .expect("live");
            let versions = version_rows(&client, &id).await;
            let numbers: Vec<i64> = versions.iter().map(|v| v.1).collect();
            assert_eq!(numbers, (5..=14).collect::<Vec<_>>());
            assert_eq!(versions.last().map(|v| v.0.as_str()), Some(last.as_str()));

            // A hard delete takes every version with it.
            store
                .delete_assistant(&org, &id, parley_store::DeleteMode::Hard, now)
                .await
                .expect("delete");
            assert!(
                version_rows(&client, &id).await.is_empty(),
                "versions cascade"
            );
        })
        .await;
}

async fn version_rows(client: &Client, id: &AssistantId) -> Vec<(String, i64)> {
    client
        .query(
            "select id, number from assistant_versions where assistant_id = $1 order by number",
            &[&id.as_str()],
        )
        .await
        .expect("versions")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_a_store_error() {
    // Port 1 on loopback refuses connections; nothing else is contacted.
    let store = PostgresStore::connect(
        "postgres://postgres@127.0.0.1:1/postgres?connect_timeout=2",
        1,
    )
    .expect("a valid url");
    let err = store.ping().await.expect_err("nothing listens on port 1");
    assert!(
        matches!(err, parley_store::StoreError::Database(_)),
        "{err:?}"
    );
    assert!(
        PostgresStore::connect("not a url ===", 1).is_err(),
        "a bad url is refused"
    );
}
