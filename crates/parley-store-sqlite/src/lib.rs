//! The SQLite backend of [`parley_store::Store`].
//!
//! One database file in WAL mode. Writes go through a single writer connection, each in an
//! `IMMEDIATE` transaction, so writers are serialized and a read-modify-write never loses an
//! update; reads go to a small pool of read-only connections and never wait for writers.
//! Every call runs on tokio's blocking pool. Timestamps are stored as RFC 3339 text with
//! microseconds and `Z`, which sorts chronologically; JSON documents as text.

#![warn(missing_docs)]

mod assistant_tests;
mod conversations;
mod imports;
mod integrations;
mod jobs;
mod knowledge;
mod mcp;
mod migrations;
mod outreach;
mod rows;
mod secrets;
mod shared_tools;
mod versions;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parley_core::assistant::{AssistantUpdate, DEFAULT_VERSION_NAME};
use parley_core::ids::{ApiKeyId, AssistantId, OrgId, VersionId};
use parley_store::{
    versions_to_prune, ApiKeyInfo, AssistantRecord, AuthenticatedKey, CoreStore, DeleteMode,
    DeleteOutcome, IdempotencyClaim, NewAssistantRecord, Organization, PageRequest, StoreError,
    StoreResult, StoredResponse,
};
use rows::{db_err, read_assistant, read_config, ts, ASSISTANT_COLUMNS};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

/// Number of read-only connections.
const READERS: usize = 4;

/// A SQLite database file.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub fn open(path: &Path) -> StoreResult<Self> {
        let mut writer = Connection::open(path).map_err(db_err)?;
        configure(&writer)?;
        writer
            .pragma_update(None, "journal_mode", "wal")
            .map_err(db_err)?;
        migrations::run(&mut writer)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let reader = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI,
            )
            .map_err(db_err)?;
            configure(&reader)?;
            readers.push(Mutex::new(reader));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                writer: Mutex::new(writer),
                readers,
                next_reader: AtomicUsize::new(0),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs a read. Reads are short index lookups, so they run right here on the calling
    /// thread when a reader connection is free — a hand-off to the blocking pool costs more
    /// than the query — and on the blocking pool when every reader is busy.
    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let start = self.inner.next_reader.fetch_add(1, Ordering::Relaxed);
        let count = self.inner.readers.len();
        for i in 0..count {
            if let Ok(conn) = self.inner.readers[(start + i) % count].try_lock() {
                return f(&conn);
            }
        }
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let conn = inner.readers[start % count]
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            f(&conn)
        })
        .await
        .map_err(|e| StoreError::Database(format!("blocking task failed: {e}")))?
    }

    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.writer.lock().unwrap_or_else(|e| e.into_inner());
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let value = f(&tx)?;
            tx.commit().map_err(db_err)?;
            Ok(value)
        })
        .await
        .map_err(|e| StoreError::Database(format!("blocking task failed: {e}")))?
    }
}

fn configure(conn: &Connection) -> StoreResult<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(db_err)?;
    conn.pragma_update(None, "foreign_keys", "on")
        .map_err(db_err)?;
    conn.pragma_update(None, "synchronous", "normal")
        .map_err(db_err)?;
    Ok(())
}

/// One assistant of `org` with its main version: live, or soft-deleted when `deleted`.
fn get_one(
    conn: &Connection,
    org: &str,
    id: &str,
    deleted: bool,
) -> StoreResult<Option<AssistantRecord>> {
    // Built once: this is the hot read path.
    static LIVE: LazyLock<String> = LazyLock::new(|| one_assistant_sql("a.deleted_at is null"));
    static DELETED: LazyLock<String> =
        LazyLock::new(|| one_assistant_sql("a.deleted_at is not null"));
    let sql = if deleted { &*DELETED } else { &*LIVE };
    conn.prepare_cached(sql)
        .map_err(db_err)?
        .query_row(params![org, id], read_assistant)
        .optional()
        .map_err(db_err)
}

fn one_assistant_sql(filter: &str) -> String {
    format!(
        "select {ASSISTANT_COLUMNS} from assistants a join assistant_versions v on v.id = a.main_version_id \
         where a.org_id = ?1 and a.id = ?2 and {filter}"
    )
}

/// A live assistant of `org` with its main version.
fn get_live(conn: &Connection, org: &str, id: &str) -> StoreResult<Option<AssistantRecord>> {
    get_one(conn, org, id, false)
}

fn list_page(
    conn: &Connection,
    org: &str,
    deleted: bool,
    page: PageRequest,
) -> StoreResult<(Vec<AssistantRecord>, u64)> {
    let (filter, order) = if deleted {
        ("a.deleted_at is not null", "a.deleted_at desc, a.id")
    } else {
        ("a.deleted_at is null", "a.created_at, a.id")
    };
    let total: i64 = conn
        .prepare_cached(&format!(
            "select count(*) from assistants a where a.org_id = ?1 and {filter}"
        ))
        .map_err(db_err)?
        .query_row(params![org], |r| r.get(0))
        .map_err(db_err)?;
    let limit = page
        .limit
        .map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
    let offset = i64::try_from(page.offset).unwrap_or(i64::MAX);
    let sql = format!(
        "select {ASSISTANT_COLUMNS} from assistants a join assistant_versions v on v.id = a.main_version_id \
         where a.org_id = ?1 and {filter} order by {order} limit ?2 offset ?3"
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(db_err)?;
    let rows = stmt
        .query_map(params![org, limit, offset], read_assistant)
        .map_err(db_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_err)?;
    Ok((rows, u64::try_from(total).unwrap_or(0)))
}

fn write_tags(tx: &Connection, id: &str, tags: &[String]) -> StoreResult<()> {
    let json = serde_json::to_string(tags).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.prepare_cached("update assistants set tags = ?1 where id = ?2")
        .map_err(db_err)?
        .execute(params![json, id])
        .map_err(db_err)?;
    Ok(())
}

/// Ids of the organization's other live assistants whose main version refers to `id`.
fn referrers(tx: &Connection, org: &str, id: &str) -> StoreResult<Vec<String>> {
    let mut stmt = tx
        .prepare_cached(
            "select a.id, v.config from assistants a join assistant_versions v on v.id = a.main_version_id \
             where a.org_id = ?1 and a.id <> ?2 and a.deleted_at is null and instr(v.config, ?2) > 0",
        )
        .map_err(db_err)?;
    let rows = stmt
        .query_map(params![org, id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(db_err)?;
    let mut ids = Vec::new();
    for row in rows {
        let (other, config) = row.map_err(db_err)?;
        if read_config(&config)?.referenced_assistants().contains(id) {
            ids.push(other);
        }
    }
    Ok(ids)
}

/// Applies `update` to the main version of live assistant `id`, writing a new version (main
/// unless `promote_to_main` is false), replacing the tags if the update has them, and pruning
/// old versions: the body of `update_assistant`, shared with attaching and detaching shared
/// tools. `None` when there is no such assistant.
pub(crate) fn update_main(
    tx: &Connection,
    org: &str,
    id: &str,
    update: &AssistantUpdate,
    new_version: VersionId,
    now: DateTime<Utc>,
) -> StoreResult<Option<AssistantRecord>> {
    let Some(mut current) = get_live(tx, org, id)? else {
        return Ok(None);
    };
    let config = update.apply(&current.version.config);
    let number: i64 = tx
        .prepare_cached(
            "select coalesce(max(number), 0) + 1 from assistant_versions where assistant_id = ?1",
        )
        .map_err(db_err)?
        .query_row(params![id], |r| r.get(0))
        .map_err(db_err)?;
    let name = update
        .version_name
        .clone()
        .unwrap_or_else(|| DEFAULT_VERSION_NAME.to_owned());
    let json = serde_json::Value::Object(config.as_map().clone()).to_string();
    tx.prepare_cached(
            "insert into assistant_versions (id, assistant_id, org_id, number, name, config, created_at) \
             values (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(db_err)?
        .execute(params![new_version.as_str(), id, org, number, name, json, ts(&now)])
        .map_err(db_err)?;
    let main = if update.promote_to_main {
        tx.prepare_cached("update assistants set main_version_id = ?1 where id = ?2")
            .map_err(db_err)?
            .execute(params![new_version.as_str(), id])
            .map_err(db_err)?;
        new_version.clone()
    } else {
        current.version.id.clone()
    };
    if let Some(tags) = &update.tags {
        write_tags(tx, id, tags)?;
        current.tags = tags.clone();
    }
    let newest_first: Vec<VersionId> = tx
        .prepare_cached(
            "select id from assistant_versions where assistant_id = ?1 order by number desc",
        )
        .map_err(db_err)?
        .query_map(params![id], |r| {
            Ok(VersionId::from_string(r.get::<_, String>(0)?))
        })
        .map_err(db_err)?
        .collect::<Result<_, _>>()
        .map_err(db_err)?;
    let protected = versions::canary_versions(tx, id)?;
    for old in versions_to_prune(&newest_first, &main, &protected) {
        tx.prepare_cached("delete from assistant_versions where id = ?1")
            .map_err(db_err)?
            .execute(params![old.as_str()])
            .map_err(db_err)?;
    }
    current.version = parley_store::VersionRecord {
        id: new_version,
        name,
        created_at: now,
        config,
    };
    Ok(Some(current))
}

#[async_trait]
impl CoreStore for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.read(|c| c.query_row("select 1", [], |_| Ok(())).map_err(db_err))
            .await
    }

    async fn ensure_organization(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Organization> {
        let name = name.to_owned();
        self.write(move |tx| {
            let existing = tx
                .query_row(
                    "select id, name, created_at from organizations where name = ?1",
                    params![name],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                        ))
                    },
                )
                .optional()
                .map_err(db_err)?;
            if let Some((id, name, created_at)) = existing {
                return Ok(Organization {
                    id: OrgId::from_string(id),
                    name,
                    created_at: rows::parse_ts(&created_at)?,
                });
            }
            let id = OrgId::generate();
            tx.execute(
                "insert into organizations (id, name, created_at) values (?1, ?2, ?3)",
                params![id.as_str(), name, ts(&now)],
            )
            .map_err(db_err)?;
            Ok(Organization {
                id,
                name,
                created_at: now,
            })
        })
        .await
    }

    async fn insert_api_key(
        &self,
        org: &OrgId,
        hash: &str,
        prefix: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<ApiKeyInfo> {
        let (org, hash, prefix) = (org.clone(), hash.to_owned(), prefix.to_owned());
        self.write(move |tx| {
            tx.execute(
                "insert into api_keys (id, org_id, key_hash, prefix, created_at) values (?1, ?2, ?3, ?4, ?5) \
                 on conflict (key_hash) do nothing",
                params![ApiKeyId::generate().as_str(), org.as_str(), hash, prefix, ts(&now)],
            )
            .map_err(db_err)?;
            tx.query_row(
                &format!("{} where k.key_hash = ?1", rows::API_KEY_SELECT),
                params![hash],
                rows::read_api_key,
            )
            .map_err(db_err)
        })
        .await
    }

    async fn find_api_key(&self, hash: &str) -> StoreResult<Option<AuthenticatedKey>> {
        let hash = hash.to_owned();
        self.read(move |c| {
            c.prepare_cached("select id, org_id, key_hash from api_keys where key_hash = ?1 and revoked_at is null")
                .map_err(db_err)?
                .query_row(params![hash], |r| {
                    Ok(AuthenticatedKey {
                        key_id: ApiKeyId::from_string(r.get::<_, String>(0)?),
                        org_id: OrgId::from_string(r.get::<_, String>(1)?),
                        hash: r.get(2)?,
                    })
                })
                .optional()
                .map_err(db_err)
        })
        .await
    }

    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyInfo>> {
        self.read(|c| {
            let mut stmt = c
                .prepare(&format!(
                    "{} order by k.created_at, k.id",
                    rows::API_KEY_SELECT
                ))
                .map_err(db_err)?;
            let keys = stmt
                .query_map([], rows::read_api_key)
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            Ok(keys)
        })
        .await
    }

    async fn revoke_api_key(&self, id_or_prefix: &str, now: DateTime<Utc>) -> StoreResult<bool> {
        let needle = id_or_prefix.to_owned();
        self.write(move |tx| {
            let n = tx
                .execute(
                    "update api_keys set revoked_at = ?2 where (id = ?1 or prefix = ?1) and revoked_at is null",
                    params![needle, ts(&now)],
                )
                .map_err(db_err)?;
            Ok(n > 0)
        })
        .await
    }

    async fn count_active_api_keys(&self) -> StoreResult<u64> {
        self.read(|c| {
            let n: i64 = c
                .query_row(
                    "select count(*) from api_keys where revoked_at is null",
                    [],
                    |r| r.get(0),
                )
                .map_err(db_err)?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    async fn create_assistant_with_version(
        &self,
        org: &OrgId,
        new: NewAssistantRecord,
        now: DateTime<Utc>,
    ) -> StoreResult<AssistantRecord> {
        let org = org.clone();
        self.write(move |tx| {
            let tags = serde_json::to_string(&new.tags).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let import = new.import_metadata.as_ref().map(ToString::to_string);
            tx.prepare_cached(
                "insert into assistants (id, org_id, main_version_id, tags, import_metadata, created_at) \
                 values (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(db_err)?
            .execute(params![new.id.as_str(), org.as_str(), new.version_id.as_str(), tags, import, ts(&now)])
            .map_err(db_err)?;
            let config = serde_json::Value::Object(new.config.as_map().clone()).to_string();
            tx.prepare_cached(
                "insert into assistant_versions (id, assistant_id, org_id, number, name, config, created_at) \
                 values (?1, ?2, ?3, 1, ?4, ?5, ?6)",
            )
            .map_err(db_err)?
            .execute(params![new.version_id.as_str(), new.id.as_str(), org.as_str(), new.version_name, config, ts(&now)])
            .map_err(db_err)?;
            Ok(AssistantRecord {
                id: new.id,
                created_at: now,
                deleted_at: None,
                tags: new.tags,
                import_metadata: new.import_metadata,
                version: parley_store::VersionRecord {
                    id: new.version_id,
                    name: new.version_name,
                    created_at: now,
                    config: new.config,
                },
            })
        })
        .await
    }

    async fn get_assistant(
        &self,
        org: &OrgId,
        id: &AssistantId,
    ) -> StoreResult<Option<AssistantRecord>> {
        let (org, id) = (org.clone(), id.clone());
        self.read(move |c| get_live(c, org.as_str(), id.as_str()))
            .await
    }

    async fn list_assistants(
        &self,
        org: &OrgId,
        page: PageRequest,
    ) -> StoreResult<(Vec<AssistantRecord>, u64)> {
        let org = org.clone();
        self.read(move |c| list_page(c, org.as_str(), false, page))
            .await
    }

    async fn update_assistant(
        &self,
        org: &OrgId,
        id: &AssistantId,
        update: &AssistantUpdate,
        new_version: VersionId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<AssistantRecord>> {
        let (org, id, update) = (org.clone(), id.clone(), update.clone());
        self.write(move |tx| update_main(tx, org.as_str(), id.as_str(), &update, new_version, now))
            .await
    }

    async fn delete_assistant(
        &self,
        org: &OrgId,
        id: &AssistantId,
        mode: DeleteMode,
        now: DateTime<Utc>,
    ) -> StoreResult<DeleteOutcome> {
        let (org, id) = (org.clone(), id.clone());
        self.write(move |tx| {
            let exists: Option<i64> = tx
                .query_row(
                    "select 1 from assistants where org_id = ?1 and id = ?2 and deleted_at is null",
                    params![org.as_str(), id.as_str()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?;
            if exists.is_none() {
                return Ok(DeleteOutcome::NotFound);
            }
            let by = referrers(tx, org.as_str(), id.as_str())?;
            if !by.is_empty() {
                return Ok(DeleteOutcome::ReferencedBy(by));
            }
            match mode {
                DeleteMode::Soft => tx.execute(
                    "update assistants set deleted_at = ?3 where org_id = ?1 and id = ?2",
                    params![org.as_str(), id.as_str(), ts(&now)],
                ),
                DeleteMode::Hard => tx.execute(
                    "delete from assistants where org_id = ?1 and id = ?2",
                    params![org.as_str(), id.as_str()],
                ),
            }
            .map_err(db_err)?;
            Ok(DeleteOutcome::Deleted)
        })
        .await
    }

    async fn restore_assistant(
        &self,
        org: &OrgId,
        id: &AssistantId,
    ) -> StoreResult<Option<AssistantRecord>> {
        let (org, id) = (org.clone(), id.clone());
        self.write(move |tx| {
            let n = tx
                .execute(
                    "update assistants set deleted_at = null where org_id = ?1 and id = ?2 and deleted_at is not null",
                    params![org.as_str(), id.as_str()],
                )
                .map_err(db_err)?;
            if n == 0 {
                return Ok(None);
            }
            get_live(tx, org.as_str(), id.as_str())
        })
        .await
    }

    async fn get_deleted_assistant(
        &self,
        org: &OrgId,
        id: &AssistantId,
    ) -> StoreResult<Option<AssistantRecord>> {
        let (org, id) = (org.clone(), id.clone());
        self.read(move |c| get_one(c, org.as_str(), id.as_str(), true))
            .await
    }

    async fn list_deleted_assistants(
        &self,
        org: &OrgId,
        page: PageRequest,
    ) -> StoreResult<(Vec<AssistantRecord>, u64)> {
        let org = org.clone();
        self.read(move |c| list_page(c, org.as_str(), true, page))
            .await
    }

    async fn purge_deleted_assistants(&self, cutoff: DateTime<Utc>) -> StoreResult<u64> {
        self.write(move |tx| {
            let n = tx
                .execute(
                    "delete from assistants where deleted_at is not null and deleted_at < ?1",
                    params![ts(&cutoff)],
                )
                .map_err(db_err)?;
            Ok(n as u64)
        })
        .await
    }

    async fn add_assistant_tag(
        &self,
        org: &OrgId,
        id: &AssistantId,
        tag: &str,
    ) -> StoreResult<Option<Vec<String>>> {
        let (org, id, tag) = (org.clone(), id.clone(), tag.to_owned());
        self.write(move |tx| {
            let Some(record) = get_live(tx, org.as_str(), id.as_str())? else {
                return Ok(None);
            };
            let mut tags = record.tags;
            if !tags.contains(&tag) {
                tags.push(tag);
                write_tags(tx, id.as_str(), &tags)?;
            }
            Ok(Some(tags))
        })
        .await
    }

    async fn remove_assistant_tag(
        &self,
        org: &OrgId,
        id: &AssistantId,
        tag: &str,
    ) -> StoreResult<Option<Vec<String>>> {
        let (org, id, tag) = (org.clone(), id.clone(), tag.to_owned());
        self.write(move |tx| {
            let Some(record) = get_live(tx, org.as_str(), id.as_str())? else {
                return Ok(None);
            };
            let mut tags = record.tags;
            if let Some(i) = tags.iter().position(|t| *t == tag) {
                tags.remove(i);
                write_tags(tx, id.as_str(), &tags)?;
            }
            Ok(Some(tags))
        })
        .await
    }

    async fn list_assistant_tags(&self, org: &OrgId) -> StoreResult<Vec<String>> {
        let org = org.clone();
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "select distinct t.value from assistants a, json_each(a.tags) t \
                     where a.org_id = ?1 and a.deleted_at is null order by t.value",
                )
                .map_err(db_err)?;
            let tags = stmt
                .query_map(params![org.as_str()], |r| r.get::<_, String>(0))
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            Ok(tags)
        })
        .await
    }

    async fn claim_idempotency_key(
        &self,
        org: &OrgId,
        key: &str,
        fingerprint: &str,
        now: DateTime<Utc>,
        expires_before: DateTime<Utc>,
    ) -> StoreResult<IdempotencyClaim> {
        let (org, key, fingerprint) = (org.clone(), key.to_owned(), fingerprint.to_owned());
        self.write(move |tx| {
            tx.execute(
                "delete from idempotency_keys where org_id = ?1 and key = ?2 and created_at < ?3",
                params![org.as_str(), key, ts(&expires_before)],
            )
            .map_err(db_err)?;
            let existing = tx
                .query_row(
                    "select fingerprint, status, body from idempotency_keys where org_id = ?1 and key = ?2",
                    params![org.as_str(), key],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?, r.get::<_, Option<Vec<u8>>>(2)?)),
                )
                .optional()
                .map_err(db_err)?;
            Ok(match existing {
                None => {
                    tx.execute(
                        "insert into idempotency_keys (org_id, key, fingerprint, created_at) values (?1, ?2, ?3, ?4)",
                        params![org.as_str(), key, fingerprint, ts(&now)],
                    )
                    .map_err(db_err)?;
                    IdempotencyClaim::Claimed
                }
                Some((stored, _, _)) if stored != fingerprint => IdempotencyClaim::Mismatch,
                Some((_, None, _)) => IdempotencyClaim::InFlight,
                Some((_, Some(status), body)) => IdempotencyClaim::Replay(StoredResponse {
                    status: u16::try_from(status).unwrap_or(500),
                    body: body.unwrap_or_default(),
                }),
            })
        })
        .await
    }

    async fn complete_idempotency_key(
        &self,
        org: &OrgId,
        key: &str,
        response: StoredResponse,
    ) -> StoreResult<()> {
        let (org, key) = (org.clone(), key.to_owned());
        self.write(move |tx| {
            tx.execute(
                "update idempotency_keys set status = ?3, body = ?4 where org_id = ?1 and key = ?2",
                params![org.as_str(), key, i64::from(response.status), response.body],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn release_idempotency_key(&self, org: &OrgId, key: &str) -> StoreResult<()> {
        let (org, key) = (org.clone(), key.to_owned());
        self.write(move |tx| {
            tx.execute(
                "delete from idempotency_keys where org_id = ?1 and key = ?2",
                params![org.as_str(), key],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }
}
