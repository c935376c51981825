//! Forward-only migrations, embedded, applied in order inside `IMMEDIATE` transactions.

use crate::rows::db_err;
use parley_store::{StoreError, StoreResult};
use rusqlite::{params, Connection, TransactionBehavior};

/// `(version, sql)`, in order. Kept in lockstep with the PostgreSQL backend.
const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (
        2,
        include_str!("../migrations/0002_integration_secrets.sql"),
    ),
    (3, include_str!("../migrations/0003_mcp_servers.sql")),
    (
        4,
        include_str!("../migrations/0004_integration_connections.sql"),
    ),
    (5, include_str!("../migrations/0005_canary_deploys.sql")),
    (6, include_str!("../migrations/0006_conversations.sql")),
    (7, include_str!("../migrations/0007_shared_tools.sql")),
    (8, include_str!("../migrations/0008_jobs.sql")),
    (9, include_str!("../migrations/0009_outreach.sql")),
    (10, include_str!("../migrations/0010_assistant_tests.sql")),
    (11, include_str!("../migrations/0011_knowledge.sql")),
];

/// Applies every migration not yet recorded in `schema_migrations`.
pub fn run(conn: &mut Connection) -> StoreResult<()> {
    conn.execute_batch(
        "create table if not exists schema_migrations (version integer primary key, applied_at text not null)",
    )
    .map_err(db_err)?;
    for (version, sql) in MIGRATIONS {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let applied: bool = tx
            .query_row(
                "select exists (select 1 from schema_migrations where version = ?1)",
                params![version],
                |r| r.get(0),
            )
            .map_err(db_err)?;
        if !applied {
            let fail = |e: rusqlite::Error| StoreError::Migration {
                version: *version,
                message: e.to_string(),
            };
            tx.execute_batch(sql).map_err(fail)?;
            tx.execute(
                "insert into schema_migrations (version, applied_at) values (?1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                params![version],
            )
            .map_err(fail)?;
        }
        tx.commit().map_err(db_err)?;
    }
    Ok(())
}
