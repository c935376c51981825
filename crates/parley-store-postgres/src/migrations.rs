//! The migration runner: SQL files embedded at build time, applied in order, each once.

use deadpool_postgres::Object;
use parley_store::StoreError;

/// One schema migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// Its number: migrations apply in increasing order, each at most once.
    pub version: u32,
    /// The SQL it runs (several statements).
    pub sql: &'static str,
}

/// Every migration this build knows, oldest first. Forward-only: a released migration is
/// never edited; a change is a new file.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: include_str!("../migrations/0001_init.sql"),
    },
    Migration {
        version: 2,
        sql: include_str!("../migrations/0002_integration_secrets.sql"),
    },
    Migration {
        version: 3,
        sql: include_str!("../migrations/0003_mcp_servers.sql"),
    },
    Migration {
        version: 4,
        sql: include_str!("../migrations/0004_integration_connections.sql"),
    },
    Migration {
        version: 5,
        sql: include_str!("../migrations/0005_canary_deploys.sql"),
    },
    Migration {
        version: 6,
        sql: include_str!("../migrations/0006_conversations.sql"),
    },
    Migration {
        version: 7,
        sql: include_str!("../migrations/0007_shared_tools.sql"),
    },
    Migration {
        version: 8,
        sql: include_str!("../migrations/0008_jobs.sql"),
    },
    Migration {
        version: 9,
        sql: include_str!("../migrations/0009_outreach.sql"),
    },
    Migration {
        version: 10,
        sql: include_str!("../migrations/0010_assistant_tests.sql"),
    },
    Migration {
        version: 11,
        sql: include_str!("../migrations/0011_knowledge.sql"),
    },
    Migration {
        version: 12,
        sql: include_str!("../migrations/0012_conversation_last_seq.sql"),
    },
];

/// Key of the transaction-scoped advisory lock (`pg_advisory_xact_lock`) every migration
/// transaction takes first, so that servers starting together apply each migration once.
/// The bytes spell "parley".
pub const MIGRATION_LOCK_KEY: i64 = 0x7061_726c_6579;

/// Applies the migrations the database has not recorded in `schema_migrations`.
pub(crate) async fn run(client: &mut Object) -> Result<(), StoreError> {
    for migration in MIGRATIONS {
        apply(client, migration).await?;
    }
    Ok(())
}

/// Applies one migration in its own transaction, unless it was applied before.
async fn apply(client: &mut Object, migration: &Migration) -> Result<(), StoreError> {
    let version = i32::try_from(migration.version).map_err(|_| StoreError::Migration {
        version: migration.version,
        message: "version out of range".into(),
    })?;
    let failed = |e: tokio_postgres::Error| StoreError::Migration {
        version: migration.version,
        message: crate::describe(&e),
    };
    let tx = client.transaction().await.map_err(failed)?;
    // Everything below runs with the lock held, so the `if not exists` cannot race either.
    tx.execute("select pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_KEY])
        .await
        .map_err(failed)?;
    tx.batch_execute(
        "create table if not exists schema_migrations (\
             version integer primary key, \
             applied_at timestamptz not null)",
    )
    .await
    .map_err(failed)?;
    let applied = tx
        .query_opt(
            "select 1 from schema_migrations where version = $1",
            &[&version],
        )
        .await
        .map_err(failed)?;
    if applied.is_some() {
        return tx.commit().await.map_err(failed);
    }
    tx.batch_execute(migration.sql).await.map_err(failed)?;
    tx.execute(
        "insert into schema_migrations (version, applied_at) values ($1, now())",
        &[&version],
    )
    .await
    .map_err(failed)?;
    tx.commit().await.map_err(failed)
}
