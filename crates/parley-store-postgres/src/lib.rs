//! The PostgreSQL backend of Parley's [`parley_store::Store`]: a deadpool of tokio-postgres connections
//! (no TLS), with the schema applied by a small forward-only migration runner.
//!
//! Every method that writes runs in one transaction. Read-modify-write updates lock the
//! assistant's head row (`select … for no key update`) before reading its main version, so
//! concurrent updates of one assistant queue up instead of losing each other's changes.
//!
//! ```no_run
//! # async fn demo() -> Result<(), parley_store::StoreError> {
//! use parley_store_postgres::PostgresStore;
//! let store = PostgresStore::connect("postgres://postgres@127.0.0.1:5432/parley", 16)?;
//! store.migrate().await?;
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

mod assistant_tests;
mod conversations;
mod imports;
mod integrations;
mod jobs;
mod knowledge;
mod mcp;
mod migrations;
mod outreach;
mod secrets;
mod shared_tools;
mod versions;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Transaction};
use parley_core::assistant::{AssistantConfig, AssistantUpdate, DEFAULT_VERSION_NAME};
use parley_core::ids::{ApiKeyId, AssistantId, OrgId, VersionId};
use parley_store::{
    versions_to_prune, ApiKeyInfo, AssistantRecord, AuthenticatedKey, CoreStore, DeleteMode,
    DeleteOutcome, IdempotencyClaim, NewAssistantRecord, Organization, PageRequest, StoreError,
    StoreResult, StoredResponse, VersionRecord,
};
use serde_json::{Map, Value};
use std::str::FromStr;
use std::time::Duration;
use tokio_postgres::types::{Json, ToSql};
use tokio_postgres::{IsolationLevel, NoTls, Row};

pub use migrations::{Migration, MIGRATIONS, MIGRATION_LOCK_KEY};

/// How long opening one connection may take when the URL does not say (`connect_timeout`).
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Columns of an [`AssistantRecord`], in the order [`record_from_row`] reads them: the head
/// `a` joined with one of its versions `v`.
const RECORD_COLUMNS: &str = "a.id, a.created_at, a.deleted_at, a.tags, a.import_metadata, \
     v.id, v.name, v.created_at, v.config";

/// A [`parley_store::Store`] kept in PostgreSQL.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.pool.status();
        f.debug_struct("PostgresStore")
            .field("max_size", &status.max_size)
            .field("size", &status.size)
            .finish()
    }
}

impl PostgresStore {
    /// A store over a pool of at most `max_connections` connections to `url`
    /// (`postgres://user:password@host:port/database?options`, or the key=value form).
    /// Connections are opened lazily, so this does not check that the database answers: call
    /// [`CoreStore::ping`] or [`PostgresStore::migrate`] for that.
    pub fn connect(url: &str, max_connections: usize) -> Result<Self, StoreError> {
        let config = tokio_postgres::Config::from_str(url)
            .map_err(|e| StoreError::Database(format!("invalid database url: {e}")))?;
        Self::from_config(config, max_connections)
    }

    /// A store over a pool of at most `max_connections` connections made from `config`.
    /// Without a `connect_timeout` in `config`, opening a connection gives up after 10 s.
    pub fn from_config(
        mut config: tokio_postgres::Config,
        max_connections: usize,
    ) -> Result<Self, StoreError> {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(max_connections.max(1))
            .build()
            .map_err(|e| StoreError::Database(format!("cannot build the connection pool: {e}")))?;
        Ok(Self { pool })
    }

    /// Applies the migrations this build knows and the database has not seen, in order, each
    /// in its own transaction under a transaction-scoped advisory lock, so several servers
    /// starting at once apply each migration exactly once. Forward-only.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        migrations::run(&mut client).await
    }

    async fn client(&self) -> StoreResult<Object> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::Database(e.to_string()))
    }
}

/// A driver error with its causes: tokio-postgres' own message is only "db error", the
/// server's message is its source.
fn describe(e: &tokio_postgres::Error) -> String {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// Maps a driver error to [`StoreError::Database`].
fn db(e: tokio_postgres::Error) -> StoreError {
    StoreError::Database(describe(&e))
}

/// Maps a column that did not decode to [`StoreError::Corrupt`].
fn corrupt(e: tokio_postgres::Error) -> StoreError {
    StoreError::Corrupt(describe(&e))
}

/// Converts a count or position to the `bigint` PostgreSQL takes.
fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Reads a `bigint` count.
fn count_from_row(row: &Row) -> StoreResult<u64> {
    let count: i64 = row.try_get(0).map_err(corrupt)?;
    u64::try_from(count).map_err(|_| StoreError::Corrupt(format!("negative count {count}")))
}

/// The configuration stored in a `config` column, which must be a JSON object.
fn config_from_row(row: &Row, index: usize) -> StoreResult<AssistantConfig> {
    let Json(document): Json<Map<String, Value>> = row.try_get(index).map_err(corrupt)?;
    Ok(AssistantConfig::from_stored(document))
}

/// Reads the head part of [`RECORD_COLUMNS`] (columns 0 to 4) and pairs it with `version`.
fn head_from_row(row: &Row, version: VersionRecord) -> StoreResult<AssistantRecord> {
    let Json(tags): Json<Vec<String>> = row.try_get(3).map_err(corrupt)?;
    Ok(AssistantRecord {
        id: AssistantId::from_string(row.try_get::<_, String>(0).map_err(corrupt)?),
        created_at: row.try_get(1).map_err(corrupt)?,
        deleted_at: row.try_get(2).map_err(corrupt)?,
        tags,
        import_metadata: row.try_get(4).map_err(corrupt)?,
        version,
    })
}

/// Reads a row of [`RECORD_COLUMNS`].
fn record_from_row(row: &Row) -> StoreResult<AssistantRecord> {
    let version = VersionRecord {
        id: VersionId::from_string(row.try_get::<_, String>(5).map_err(corrupt)?),
        name: row.try_get(6).map_err(corrupt)?,
        created_at: row.try_get(7).map_err(corrupt)?,
        config: config_from_row(row, 8)?,
    };
    head_from_row(row, version)
}

/// Reads `k.id, k.org_id, o.name, k.prefix, k.created_at, k.revoked_at`.
fn key_info_from_row(row: &Row) -> StoreResult<ApiKeyInfo> {
    Ok(ApiKeyInfo {
        id: ApiKeyId::from_string(row.try_get::<_, String>(0).map_err(corrupt)?),
        org_id: OrgId::from_string(row.try_get::<_, String>(1).map_err(corrupt)?),
        org_name: row.try_get(2).map_err(corrupt)?,
        prefix: row.try_get(3).map_err(corrupt)?,
        created_at: row.try_get(4).map_err(corrupt)?,
        revoked_at: row.try_get(5).map_err(corrupt)?,
    })
}

/// Runs a statement (prepared once per connection) and returns its rows.
async fn query(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> StoreResult<Vec<Row>> {
    let statement = tx.prepare_cached(sql).await.map_err(db)?;
    tx.query(&statement, params).await.map_err(db)
}

/// Runs a statement that returns at most one row.
async fn query_opt(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> StoreResult<Option<Row>> {
    let statement = tx.prepare_cached(sql).await.map_err(db)?;
    tx.query_opt(&statement, params).await.map_err(db)
}

/// Runs a statement that returns exactly one row.
async fn query_one(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> StoreResult<Row> {
    let statement = tx.prepare_cached(sql).await.map_err(db)?;
    tx.query_one(&statement, params).await.map_err(db)
}

/// Runs a statement and returns how many rows it touched.
async fn execute(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> StoreResult<u64> {
    let statement = tx.prepare_cached(sql).await.map_err(db)?;
    tx.execute(&statement, params).await.map_err(db)
}

/// Opens a read-only transaction that sees one snapshot (a page and its total agree).
async fn read_snapshot(client: &mut Object) -> StoreResult<Transaction<'_>> {
    client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(db)
}

/// Opens a read-write transaction (read committed).
async fn begin(client: &mut Object) -> StoreResult<Transaction<'_>> {
    client.transaction().await.map_err(db)
}

/// The live (`deleted = false`) or soft-deleted assistant `id` of `org`, with its main version.
async fn load_record(
    tx: &Transaction<'_>,
    org: &OrgId,
    id: &AssistantId,
    deleted: bool,
) -> StoreResult<Option<AssistantRecord>> {
    let sql = format!(
        "select {RECORD_COLUMNS} from assistants a \
         join assistant_versions v on v.id = a.main_version_id \
         where a.org_id = $1 and a.id = $2 and (a.deleted_at is not null) = $3"
    );
    query_opt(tx, &sql, &[&org.as_str(), &id.as_str(), &deleted])
        .await?
        .as_ref()
        .map(record_from_row)
        .transpose()
}

/// One page of the live or soft-deleted assistants of `org`, with the total count.
async fn list_records(
    tx: &Transaction<'_>,
    org: &OrgId,
    page: PageRequest,
    deleted: bool,
) -> StoreResult<(Vec<AssistantRecord>, u64)> {
    let order = if deleted {
        "a.deleted_at desc, a.id"
    } else {
        "a.created_at, a.id"
    };
    let sql = format!(
        "select {RECORD_COLUMNS} from assistants a \
         join assistant_versions v on v.id = a.main_version_id \
         where a.org_id = $1 and (a.deleted_at is not null) = $2 \
         order by {order} offset $3 limit $4"
    );
    let offset = to_i64(page.offset);
    let limit = page.limit.map(to_i64);
    let rows = query(tx, &sql, &[&org.as_str(), &deleted, &offset, &limit]).await?;
    let records = rows
        .iter()
        .map(record_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
    let total = query_one(
        tx,
        "select count(*) from assistants where org_id = $1 and (deleted_at is not null) = $2",
        &[&org.as_str(), &deleted],
    )
    .await?;
    Ok((records, count_from_row(&total)?))
}

/// The current row of idempotency key `key`: fingerprint, status and body.
async fn idempotency_row(
    tx: &Transaction<'_>,
    org: &OrgId,
    key: &str,
) -> StoreResult<Option<(String, Option<i32>, Option<Vec<u8>>)>> {
    let row = query_opt(
        tx,
        "select fingerprint, status, body from idempotency_keys where org_id = $1 and key = $2",
        &[&org.as_str(), &key],
    )
    .await?;
    row.map(|row| {
        Ok((
            row.try_get(0).map_err(corrupt)?,
            row.try_get(1).map_err(corrupt)?,
            row.try_get(2).map_err(corrupt)?,
        ))
    })
    .transpose()
}

/// Applies `update` to the main version of live assistant `id` inside `tx` (not committed):
/// locks the head, writes a new version (main unless `promote_to_main` is false), replaces
/// the tags if the update has them and prunes old versions. The body of `update_assistant`,
/// shared with attaching and detaching shared tools. `None` when there is no such assistant.
pub(crate) async fn update_main(
    tx: &Transaction<'_>,
    org: &OrgId,
    id: &AssistantId,
    update: &AssistantUpdate,
    new_version: VersionId,
    now: DateTime<Utc>,
) -> StoreResult<Option<AssistantRecord>> {
    // Lock the head first: a concurrent update waits here and then reads our version.
    let head = query_opt(
        tx,
        "select main_version_id from assistants \
         where org_id = $1 and id = $2 and deleted_at is null for no key update",
        &[&org.as_str(), &id.as_str()],
    )
    .await?;
    let Some(head) = head else {
        return Ok(None);
    };
    let main: String = head.try_get(0).map_err(corrupt)?;
    let current = query_opt(
        tx,
        "select config from assistant_versions where id = $1 and assistant_id = $2",
        &[&main, &id.as_str()],
    )
    .await?
    .ok_or_else(|| StoreError::Corrupt(format!("assistant {id} has no main version {main}")))?;
    let config = update.apply(&config_from_row(&current, 0)?);

    let number = query_one(
        tx,
        "select coalesce(max(number), 0) + 1 from assistant_versions where assistant_id = $1",
        &[&id.as_str()],
    )
    .await?;
    let number: i64 = number.try_get(0).map_err(corrupt)?;
    let name = update
        .version_name
        .clone()
        .unwrap_or_else(|| DEFAULT_VERSION_NAME.to_owned());
    let document = Value::Object(config.clone().into_map());
    execute(
        tx,
        "insert into assistant_versions (id, assistant_id, org_id, number, name, config, created_at) \
         values ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &new_version.as_str(),
            &id.as_str(),
            &org.as_str(),
            &number,
            &name,
            &document,
            &now,
        ],
    )
    .await?;

    let tags = update.tags.as_ref().map(Json);
    let head = query_one(
        tx,
        "update assistants set \
             main_version_id = case when $3 then $4 else main_version_id end, \
             tags = coalesce($5, tags) \
         where org_id = $1 and id = $2 \
         returning id, created_at, deleted_at, tags, import_metadata, main_version_id",
        &[
            &org.as_str(),
            &id.as_str(),
            &update.promote_to_main,
            &new_version.as_str(),
            &tags,
        ],
    )
    .await?;
    let main = VersionId::from_string(head.try_get::<_, String>(5).map_err(corrupt)?);

    let versions = query(
        tx,
        "select id from assistant_versions where assistant_id = $1 order by number desc",
        &[&id.as_str()],
    )
    .await?;
    let newest_first = versions
        .iter()
        .map(|row| {
            Ok(VersionId::from_string(
                row.try_get::<_, String>(0).map_err(corrupt)?,
            ))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    let protected = versions::canary_versions(tx, id.as_str()).await?;
    let prune: Vec<String> = versions_to_prune(&newest_first, &main, &protected)
        .into_iter()
        .map(VersionId::into_string)
        .collect();
    if !prune.is_empty() {
        execute(
            tx,
            "delete from assistant_versions where assistant_id = $1 and id = any($2)",
            &[&id.as_str(), &prune],
        )
        .await?;
    }

    let record = head_from_row(
        &head,
        VersionRecord {
            id: new_version,
            name,
            created_at: now,
            config,
        },
    )?;
    Ok(Some(record))
}

#[async_trait]
impl CoreStore for PostgresStore {
    async fn ping(&self) -> StoreResult<()> {
        let client = self.client().await?;
        client.simple_query("select 1").await.map_err(db)?;
        Ok(())
    }

    async fn ensure_organization(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Organization> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let id = OrgId::generate();
        execute(
            &tx,
            "insert into organizations (id, name, created_at) values ($1, $2, $3) \
             on conflict (name) do nothing",
            &[&id.as_str(), &name, &now],
        )
        .await?;
        let row = query_one(
            &tx,
            "select id, name, created_at from organizations where name = $1",
            &[&name],
        )
        .await?;
        let organization = Organization {
            id: OrgId::from_string(row.try_get::<_, String>(0).map_err(corrupt)?),
            name: row.try_get(1).map_err(corrupt)?,
            created_at: row.try_get(2).map_err(corrupt)?,
        };
        tx.commit().await.map_err(db)?;
        Ok(organization)
    }

    async fn insert_api_key(
        &self,
        org: &OrgId,
        hash: &str,
        prefix: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<ApiKeyInfo> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let id = ApiKeyId::generate();
        execute(
            &tx,
            "insert into api_keys (id, org_id, key_hash, prefix, created_at) \
             values ($1, $2, $3, $4, $5) on conflict (key_hash) do nothing",
            &[&id.as_str(), &org.as_str(), &hash, &prefix, &now],
        )
        .await?;
        let row = query_one(
            &tx,
            "select k.id, k.org_id, o.name, k.prefix, k.created_at, k.revoked_at \
             from api_keys k join organizations o on o.id = k.org_id where k.key_hash = $1",
            &[&hash],
        )
        .await?;
        let info = key_info_from_row(&row)?;
        tx.commit().await.map_err(db)?;
        Ok(info)
    }

    async fn find_api_key(&self, hash: &str) -> StoreResult<Option<AuthenticatedKey>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "select id, org_id, key_hash from api_keys \
                 where key_hash = $1 and revoked_at is null",
            )
            .await
            .map_err(db)?;
        let row = client.query_opt(&statement, &[&hash]).await.map_err(db)?;
        row.map(|row| {
            Ok(AuthenticatedKey {
                key_id: ApiKeyId::from_string(row.try_get::<_, String>(0).map_err(corrupt)?),
                org_id: OrgId::from_string(row.try_get::<_, String>(1).map_err(corrupt)?),
                hash: row.try_get(2).map_err(corrupt)?,
            })
        })
        .transpose()
    }

    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyInfo>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "select k.id, k.org_id, o.name, k.prefix, k.created_at, k.revoked_at \
                 from api_keys k join organizations o on o.id = k.org_id \
                 order by k.created_at, k.id",
            )
            .await
            .map_err(db)?;
        let rows = client.query(&statement, &[]).await.map_err(db)?;
        rows.iter().map(key_info_from_row).collect()
    }

    async fn revoke_api_key(&self, id_or_prefix: &str, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let revoked = execute(
            &tx,
            "update api_keys set revoked_at = $2 \
             where (id = $1 or prefix = $1) and revoked_at is null",
            &[&id_or_prefix, &now],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(revoked > 0)
    }

    async fn count_active_api_keys(&self) -> StoreResult<u64> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached("select count(*) from api_keys where revoked_at is null")
            .await
            .map_err(db)?;
        let row = client.query_one(&statement, &[]).await.map_err(db)?;
        count_from_row(&row)
    }

    async fn create_assistant_with_version(
        &self,
        org: &OrgId,
        new: NewAssistantRecord,
        now: DateTime<Utc>,
    ) -> StoreResult<AssistantRecord> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        execute(
            &tx,
            "insert into assistants (id, org_id, main_version_id, tags, import_metadata, created_at) \
             values ($1, $2, $3, $4, $5, $6)",
            &[
                &new.id.as_str(),
                &org.as_str(),
                &new.version_id.as_str(),
                &Json(&new.tags),
                &new.import_metadata,
                &now,
            ],
        )
        .await?;
        let config = Value::Object(new.config.clone().into_map());
        execute(
            &tx,
            "insert into assistant_versions (id, assistant_id, org_id, number, name, config, created_at) \
             values ($1, $2, $3, 1, $4, $5, $6)",
            &[
                &new.version_id.as_str(),
                &new.id.as_str(),
                &org.as_str(),
                &new.version_name,
                &config,
                &now,
            ],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(AssistantRecord {
            id: new.id,
            created_at: now,
            deleted_at: None,
            tags: new.tags,
            import_metadata: new.import_metadata,
            version: VersionRecord {
                id: new.version_id,
                name: new.version_name,
                created_at: now,
                config: new.config,
            },
        })
    }

    async fn get_assistant(
        &self,
        org: &OrgId,
        id: &AssistantId,
    ) -> StoreResult<Option<AssistantRecord>> {
        // One statement: no transaction needed, one round trip (the hot read path).
        let client = self.client().await?;
        let sql = format!(
            "select {RECORD_COLUMNS} from assistants a \
             join assistant_versions v on v.id = a.main_version_id \
             where a.org_id = $1 and a.id = $2 and a.deleted_at is null"
        );
        let statement = client.prepare_cached(&sql).await.map_err(db)?;
        client
            .query_opt(&statement, &[&org.as_str(), &id.as_str()])
            .await
            .map_err(db)?
            .map(|row| record_from_row(&row))
            .transpose()
    }

    async fn list_assistants(
        &self,
        org: &OrgId,
        page: PageRequest,
    ) -> StoreResult<(Vec<AssistantRecord>, u64)> {
        let mut client = self.client().await?;
        let tx = read_snapshot(&mut client).await?;
        list_records(&tx, org, page, false).await
    }

    async fn update_assistant(
        &self,
        org: &OrgId,
        id: &AssistantId,
        update: &AssistantUpdate,
        new_version: VersionId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<AssistantRecord>> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let record = update_main(&tx, org, id, update, new_version, now).await?;
        if record.is_some() {
            tx.commit().await.map_err(db)?;
        }
        Ok(record)
    }

    async fn delete_assistant(
        &self,
        org: &OrgId,
        id: &AssistantId,
        mode: DeleteMode,
        now: DateTime<Utc>,
    ) -> StoreResult<DeleteOutcome> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        // Lock every live head of the organization, always in id order so that two deletes
        // cannot deadlock: an update that would add a reference to this assistant either
        // committed before (and is seen below) or waits until this delete is done.
        let live = query(
            &tx,
            "select id from assistants where org_id = $1 and deleted_at is null \
             order by id for no key update",
            &[&org.as_str()],
        )
        .await?;
        let mut found = false;
        for row in &live {
            if row.try_get::<_, &str>(0).map_err(corrupt)? == id.as_str() {
                found = true;
                break;
            }
        }
        if !found {
            return Ok(DeleteOutcome::NotFound);
        }
        // A fresh statement: it sees the main versions committed while we waited for locks.
        let others = query(
            &tx,
            "select a.id, v.config from assistants a \
             join assistant_versions v on v.id = a.main_version_id \
             where a.org_id = $1 and a.deleted_at is null and a.id <> $2 \
             order by a.created_at, a.id",
            &[&org.as_str(), &id.as_str()],
        )
        .await?;
        let mut referrers = Vec::new();
        for row in &others {
            if config_from_row(row, 1)?
                .referenced_assistants()
                .contains(id.as_str())
            {
                referrers.push(row.try_get::<_, String>(0).map_err(corrupt)?);
            }
        }
        if !referrers.is_empty() {
            return Ok(DeleteOutcome::ReferencedBy(referrers));
        }
        match mode {
            DeleteMode::Soft => {
                execute(
                    &tx,
                    "update assistants set deleted_at = $3 where org_id = $1 and id = $2",
                    &[&org.as_str(), &id.as_str(), &now],
                )
                .await?;
            }
            DeleteMode::Hard => {
                execute(
                    &tx,
                    "delete from assistants where org_id = $1 and id = $2",
                    &[&org.as_str(), &id.as_str()],
                )
                .await?;
            }
        }
        tx.commit().await.map_err(db)?;
        Ok(DeleteOutcome::Deleted)
    }

    async fn restore_assistant(
        &self,
        org: &OrgId,
        id: &AssistantId,
    ) -> StoreResult<Option<AssistantRecord>> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let restored = execute(
            &tx,
            "update assistants set deleted_at = null \
             where org_id = $1 and id = $2 and deleted_at is not null",
            &[&org.as_str(), &id.as_str()],
        )
        .await?;
        if restored == 0 {
            return Ok(None);
        }
        let record = load_record(&tx, org, id, false).await?;
        tx.commit().await.map_err(db)?;
        Ok(record)
    }

    async fn get_deleted_assistant(
        &self,
        org: &OrgId,
        id: &AssistantId,
    ) -> StoreResult<Option<AssistantRecord>> {
        let mut client = self.client().await?;
        let tx = read_snapshot(&mut client).await?;
        load_record(&tx, org, id, true).await
    }

    async fn list_deleted_assistants(
        &self,
        org: &OrgId,
        page: PageRequest,
    ) -> StoreResult<(Vec<AssistantRecord>, u64)> {
        let mut client = self.client().await?;
        let tx = read_snapshot(&mut client).await?;
        list_records(&tx, org, page, true).await
    }

    async fn purge_deleted_assistants(&self, cutoff: DateTime<Utc>) -> StoreResult<u64> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let purged = execute(
            &tx,
            "delete from assistants where deleted_at is not null and deleted_at < $1",
            &[&cutoff],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(purged)
    }

    async fn add_assistant_tag(
        &self,
        org: &OrgId,
        id: &AssistantId,
        tag: &str,
    ) -> StoreResult<Option<Vec<String>>> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        // One statement: a concurrent writer of the row makes it re-read the committed tags.
        let row = query_opt(
            &tx,
            "update assistants set tags = case \
                 when tags @> jsonb_build_array($3::text) then tags \
                 else tags || jsonb_build_array($3::text) end \
             where org_id = $1 and id = $2 and deleted_at is null returning tags",
            &[&org.as_str(), &id.as_str(), &tag],
        )
        .await?;
        let tags = row
            .map(|row| {
                row.try_get::<_, Json<Vec<String>>>(0)
                    .map(|j| j.0)
                    .map_err(corrupt)
            })
            .transpose()?;
        tx.commit().await.map_err(db)?;
        Ok(tags)
    }

    async fn remove_assistant_tag(
        &self,
        org: &OrgId,
        id: &AssistantId,
        tag: &str,
    ) -> StoreResult<Option<Vec<String>>> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        // `jsonb - text` removes every string element equal to the tag, keeping the order.
        let row = query_opt(
            &tx,
            "update assistants set tags = tags - $3::text \
             where org_id = $1 and id = $2 and deleted_at is null returning tags",
            &[&org.as_str(), &id.as_str(), &tag],
        )
        .await?;
        let tags = row
            .map(|row| {
                row.try_get::<_, Json<Vec<String>>>(0)
                    .map(|j| j.0)
                    .map_err(corrupt)
            })
            .transpose()?;
        tx.commit().await.map_err(db)?;
        Ok(tags)
    }

    async fn list_assistant_tags(&self, org: &OrgId) -> StoreResult<Vec<String>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "select tag from (\
                     select distinct t.tag from assistants a \
                     cross join lateral jsonb_array_elements_text(a.tags) as t(tag) \
                     where a.org_id = $1 and a.deleted_at is null\
                 ) tags order by tag collate \"C\"",
            )
            .await
            .map_err(db)?;
        let rows = client
            .query(&statement, &[&org.as_str()])
            .await
            .map_err(db)?;
        rows.iter()
            .map(|row| row.try_get::<_, String>(0).map_err(corrupt))
            .collect()
    }

    async fn claim_idempotency_key(
        &self,
        org: &OrgId,
        key: &str,
        fingerprint: &str,
        now: DateTime<Utc>,
        expires_before: DateTime<Utc>,
    ) -> StoreResult<IdempotencyClaim> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        execute(
            &tx,
            "delete from idempotency_keys where org_id = $1 and key = $2 and created_at < $3",
            &[&org.as_str(), &key, &expires_before],
        )
        .await?;
        // `on conflict do nothing` waits for a concurrent claim of the same key to finish; the
        // row it then finds is read by a fresh statement. A row released in between is gone
        // again, so try once more.
        let mut attempts = 0;
        let claim = loop {
            attempts += 1;
            let inserted = execute(
                &tx,
                "insert into idempotency_keys (org_id, key, fingerprint, created_at) \
                 values ($1, $2, $3, $4) on conflict (org_id, key) do nothing",
                &[&org.as_str(), &key, &fingerprint, &now],
            )
            .await?;
            if inserted == 1 {
                break IdempotencyClaim::Claimed;
            }
            match idempotency_row(&tx, org, key).await? {
                None if attempts < 3 => continue,
                None => {
                    return Err(StoreError::Database(format!(
                        "idempotency key {key:?} kept changing while being claimed"
                    )))
                }
                Some((stored, _, _)) if stored != fingerprint => break IdempotencyClaim::Mismatch,
                Some((_, None, _)) => break IdempotencyClaim::InFlight,
                Some((_, Some(status), body)) => {
                    let status = u16::try_from(status).map_err(|_| {
                        StoreError::Corrupt(format!("idempotency key {key:?} has status {status}"))
                    })?;
                    break IdempotencyClaim::Replay(StoredResponse {
                        status,
                        body: body.unwrap_or_default(),
                    });
                }
            }
        };
        tx.commit().await.map_err(db)?;
        Ok(claim)
    }

    async fn complete_idempotency_key(
        &self,
        org: &OrgId,
        key: &str,
        response: StoredResponse,
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        execute(
            &tx,
            "update idempotency_keys set status = $3, body = $4 where org_id = $1 and key = $2",
            &[
                &org.as_str(),
                &key,
                &i32::from(response.status),
                &response.body,
            ],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    async fn release_idempotency_key(&self, org: &OrgId, key: &str) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        execute(
            &tx,
            "delete from idempotency_keys where org_id = $1 and key = $2",
            &[&org.as_str(), &key],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }
}
