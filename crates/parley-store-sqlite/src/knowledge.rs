//! [`parley_store::KnowledgeStore`] on SQLite.

use crate::jobs::insert_job;
use crate::rows::{db_err, parse_ts, ts};
use crate::SqliteStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parley_core::ids::OrgId;
use parley_core::knowledge::{TaskStatus, BUCKET_SYNC_JOB, EMBEDDING_TASK_JOB};
use parley_store::{
    BucketEmbedding, BucketRecord, BucketVectors, ChunkRecord, DeleteBucketOutcome,
    DeleteObjectOutcome, EmbeddedFile, EmbeddedFileRecord, EmbeddingTaskRecord, KnowledgeStore,
    NewChunk, NewEmbeddingTask, NewJob, NewObject, ObjectPage, ObjectRecord, PutObjectOutcome,
    StoreError, StoreResult, UploadRecord,
};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::{json, Map, Value};

fn conversion<E: std::fmt::Display>(e: E) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(e.to_string().into())
}

fn time(row: &Row<'_>, i: usize) -> rusqlite::Result<DateTime<Utc>> {
    parse_ts(&row.get::<_, String>(i)?).map_err(conversion)
}

fn opt_time(row: &Row<'_>, i: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    row.get::<_, Option<String>>(i)?
        .map(|t| parse_ts(&t).map_err(conversion))
        .transpose()
}

fn json_value(row: &Row<'_>, i: usize) -> rusqlite::Result<Value> {
    serde_json::from_str(&row.get::<_, String>(i)?).map_err(conversion)
}

fn json_object(row: &Row<'_>, i: usize) -> rusqlite::Result<Map<String, Value>> {
    match json_value(row, i)? {
        Value::Object(map) => Ok(map),
        _ => Err(conversion("not a JSON object")),
    }
}

fn to_json(value: &impl serde::Serialize) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

const BUCKET_COLUMNS: &str = "name, created_at, embedding_model, embedding_params, embedded_at";

fn read_bucket(row: &Row<'_>) -> rusqlite::Result<BucketRecord> {
    let model: Option<String> = row.get(2)?;
    let embedding = match model {
        Some(model) => Some(BucketEmbedding {
            model,
            params: row
                .get::<_, Option<String>>(3)?
                .map(|t| serde_json::from_str(&t).map_err(conversion))
                .transpose()?
                .unwrap_or(Value::Null),
            embedded_at: opt_time(row, 4)?.ok_or_else(|| conversion("embedded_at missing"))?,
        }),
        None => None,
    };
    Ok(BucketRecord {
        name: row.get(0)?,
        created_at: time(row, 1)?,
        embedding,
    })
}

const OBJECT_COLUMNS: &str = "key, blob, size, etag, sha256, content_type, metadata, updated_at";

fn read_object(row: &Row<'_>) -> rusqlite::Result<ObjectRecord> {
    Ok(ObjectRecord {
        key: row.get(0)?,
        blob: row.get(1)?,
        size: row.get::<_, i64>(2)? as u64,
        etag: row.get(3)?,
        sha256: row.get(4)?,
        content_type: row.get(5)?,
        metadata: json_object(row, 6)?,
        updated_at: time(row, 7)?,
    })
}

const TASK_COLUMNS: &str = "id, bucket, task_name, status, payload, error, created_at, finished_at";

fn read_task(row: &Row<'_>) -> rusqlite::Result<EmbeddingTaskRecord> {
    let status: String = row.get(3)?;
    Ok(EmbeddingTaskRecord {
        id: row.get(0)?,
        bucket: row.get(1)?,
        task_name: row.get(2)?,
        status: TaskStatus::parse(&status).ok_or_else(|| conversion("unknown task status"))?,
        payload: json_value(row, 4)?,
        error: row.get(5)?,
        created_at: time(row, 6)?,
        finished_at: opt_time(row, 7)?,
    })
}

const FILE_COLUMNS: &str = "filename, checksum, fingerprint, status, error_reason, chunks, \
                            created_at, updated_at, last_embedded_at";

fn read_file(row: &Row<'_>) -> rusqlite::Result<EmbeddedFileRecord> {
    Ok(EmbeddedFileRecord {
        filename: row.get(0)?,
        checksum: row.get(1)?,
        fingerprint: row.get(2)?,
        status: row.get(3)?,
        error_reason: row.get(4)?,
        chunks: row.get(5)?,
        created_at: time(row, 6)?,
        updated_at: time(row, 7)?,
        last_embedded_at: opt_time(row, 8)?,
    })
}

/// Whether `bucket` of `org` exists, and whether it is embedded.
fn bucket_state(tx: &Connection, org: &str, bucket: &str) -> StoreResult<Option<bool>> {
    tx.prepare_cached(
        "select embedding_model is not null from buckets where org_id = ?1 and name = ?2",
    )
    .map_err(db_err)?
    .query_row(params![org, bucket], |r| r.get(0))
    .optional()
    .map_err(db_err)
}

/// Queues the sync job of an embedded bucket.
fn queue_sync(tx: &Connection, org: &OrgId, bucket: &str, due: DateTime<Utc>) -> StoreResult<()> {
    insert_job(
        tx,
        &NewJob {
            org_id: org.clone(),
            kind: BUCKET_SYNC_JOB.to_owned(),
            key: format!("{}/{bucket}", org.as_str()),
            payload: json!({"bucket": bucket}),
            due_at: due,
        },
    )?;
    Ok(())
}

fn bump_version(tx: &Connection, org: &str, bucket: &str) -> StoreResult<()> {
    tx.prepare_cached(
        "update buckets set vectors_version = vectors_version + 1 where org_id = ?1 and name = ?2",
    )
    .map_err(db_err)?
    .execute(params![org, bucket])
    .map_err(db_err)?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn upsert_file(
    tx: &Connection,
    org: &str,
    bucket: &str,
    file: &EmbeddedFile,
    status: &str,
    error: Option<&str>,
    chunks: Option<u32>,
    now: &DateTime<Utc>,
) -> StoreResult<()> {
    let now = ts(now);
    let embedded = (status == parley_core::knowledge::file_status::SUCCESS).then(|| now.clone());
    tx.prepare_cached(
        "insert into embedded_files (org_id, bucket, filename, checksum, fingerprint, source, \
         status, error_reason, chunks, created_at, updated_at, last_embedded_at) \
         values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, coalesce(?9, 0), ?10, ?10, ?11) \
         on conflict (org_id, bucket, filename) do update set checksum = excluded.checksum, \
         fingerprint = excluded.fingerprint, source = excluded.source, status = excluded.status, \
         error_reason = excluded.error_reason, chunks = coalesce(?9, embedded_files.chunks), \
         updated_at = excluded.updated_at, \
         last_embedded_at = coalesce(excluded.last_embedded_at, embedded_files.last_embedded_at)",
    )
    .map_err(db_err)?
    .execute(params![
        org,
        bucket,
        file.filename,
        file.checksum,
        file.fingerprint,
        file.source,
        status,
        error,
        chunks,
        now,
        embedded,
    ])
    .map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl KnowledgeStore for SqliteStore {
    async fn create_bucket(
        &self,
        org: &OrgId,
        name: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (org, name) = (org.clone(), name.to_owned());
        self.write(move |tx| {
            let inserted = tx
                .prepare_cached(
                    "insert into buckets (org_id, name, created_at) values (?1, ?2, ?3) \
                     on conflict do nothing",
                )
                .map_err(db_err)?
                .execute(params![org.as_str(), name, ts(&now)])
                .map_err(db_err)?;
            Ok(inserted > 0)
        })
        .await
    }

    async fn list_buckets(&self, org: &OrgId) -> StoreResult<Vec<BucketRecord>> {
        let org = org.clone();
        self.read(move |c| {
            let sql =
                format!("select {BUCKET_COLUMNS} from buckets where org_id = ?1 order by name");
            let mut statement = c.prepare_cached(&sql).map_err(db_err)?;
            let rows = statement
                .query_map(params![org.as_str()], read_bucket)
                .map_err(db_err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
        })
        .await
    }

    async fn get_bucket(&self, org: &OrgId, name: &str) -> StoreResult<Option<BucketRecord>> {
        let (org, name) = (org.clone(), name.to_owned());
        self.read(move |c| {
            let sql =
                format!("select {BUCKET_COLUMNS} from buckets where org_id = ?1 and name = ?2");
            c.prepare_cached(&sql)
                .map_err(db_err)?
                .query_row(params![org.as_str(), name], read_bucket)
                .optional()
                .map_err(db_err)
        })
        .await
    }

    async fn delete_bucket(
        &self,
        org: &OrgId,
        name: &str,
    ) -> StoreResult<(DeleteBucketOutcome, Vec<String>)> {
        let (org, name) = (org.clone(), name.to_owned());
        self.write(move |tx| {
            if bucket_state(tx, org.as_str(), &name)?.is_none() {
                return Ok((DeleteBucketOutcome::NotFound, Vec::new()));
            }
            let objects: i64 = tx
                .prepare_cached(
                    "select count(*) from bucket_objects where org_id = ?1 and bucket = ?2",
                )
                .map_err(db_err)?
                .query_row(params![org.as_str(), name], |r| r.get(0))
                .map_err(db_err)?;
            if objects > 0 {
                return Ok((DeleteBucketOutcome::NotEmpty, Vec::new()));
            }
            let uploads = {
                let mut statement = tx
                    .prepare_cached(
                        "select id from multipart_uploads where org_id = ?1 and bucket = ?2",
                    )
                    .map_err(db_err)?;
                let rows = statement
                    .query_map(params![org.as_str(), name], |r| r.get::<_, String>(0))
                    .map_err(db_err)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(db_err)?
            };
            tx.prepare_cached("delete from embedding_tasks where org_id = ?1 and bucket = ?2")
                .map_err(db_err)?
                .execute(params![org.as_str(), name])
                .map_err(db_err)?;
            crate::jobs::delete_job(
                tx,
                &org,
                BUCKET_SYNC_JOB,
                &format!("{}/{name}", org.as_str()),
            )?;
            tx.prepare_cached("delete from buckets where org_id = ?1 and name = ?2")
                .map_err(db_err)?
                .execute(params![org.as_str(), name])
                .map_err(db_err)?;
            Ok((DeleteBucketOutcome::Deleted, uploads))
        })
        .await
    }

    async fn put_object(
        &self,
        org: &OrgId,
        bucket: &str,
        object: NewObject,
        now: DateTime<Utc>,
        sync_at: DateTime<Utc>,
    ) -> StoreResult<PutObjectOutcome> {
        let (org, bucket) = (org.clone(), bucket.to_owned());
        let metadata = to_json(&object.metadata)?;
        self.write(move |tx| {
            let Some(embedded) = bucket_state(tx, org.as_str(), &bucket)? else {
                return Ok(PutObjectOutcome::NoSuchBucket);
            };
            let replaced: Option<String> = tx
                .prepare_cached(
                    "select blob from bucket_objects where org_id = ?1 and bucket = ?2 and key = ?3",
                )
                .map_err(db_err)?
                .query_row(params![org.as_str(), bucket, object.key], |r| r.get(0))
                .optional()
                .map_err(db_err)?;
            tx.prepare_cached(
                "insert into bucket_objects (org_id, bucket, key, blob, size, etag, sha256, \
                 content_type, metadata, updated_at) values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
                 on conflict (org_id, bucket, key) do update set blob = excluded.blob, \
                 size = excluded.size, etag = excluded.etag, sha256 = excluded.sha256, \
                 content_type = excluded.content_type, metadata = excluded.metadata, \
                 updated_at = excluded.updated_at",
            )
            .map_err(db_err)?
            .execute(params![
                org.as_str(),
                bucket,
                object.key,
                object.blob,
                object.size as i64,
                object.etag,
                object.sha256,
                object.content_type,
                metadata,
                ts(&now),
            ])
            .map_err(db_err)?;
            if embedded {
                queue_sync(tx, &org, &bucket, sync_at)?;
            }
            Ok(PutObjectOutcome::Stored {
                replaced_blob: replaced.filter(|b| *b != object.blob),
            })
        })
        .await
    }

    async fn get_object(
        &self,
        org: &OrgId,
        bucket: &str,
        key: &str,
    ) -> StoreResult<Option<ObjectRecord>> {
        let (org, bucket, key) = (org.clone(), bucket.to_owned(), key.to_owned());
        self.read(move |c| {
            let sql = format!(
                "select {OBJECT_COLUMNS} from bucket_objects where org_id = ?1 and bucket = ?2 and key = ?3"
            );
            c.prepare_cached(&sql)
                .map_err(db_err)?
                .query_row(params![org.as_str(), bucket, key], read_object)
                .optional()
                .map_err(db_err)
        })
        .await
    }

    async fn list_objects(
        &self,
        org: &OrgId,
        bucket: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Option<ObjectPage>> {
        let (org, bucket, prefix) = (org.clone(), bucket.to_owned(), prefix.to_owned());
        let after = after.unwrap_or_default().to_owned();
        self.read(move |c| {
            if bucket_state(c, org.as_str(), &bucket)?.is_none() {
                return Ok(None);
            }
            // `substr` keeps the prefix test exact (no LIKE wildcards); the primary key
            // orders and bounds the scan.
            let sql = format!(
                "select {OBJECT_COLUMNS} from bucket_objects where org_id = ?1 and bucket = ?2 \
                 and key > ?3 and substr(key, 1, length(?4)) = ?4 order by key limit ?5"
            );
            let mut statement = c.prepare_cached(&sql).map_err(db_err)?;
            let rows = statement
                .query_map(
                    params![org.as_str(), bucket, after, prefix, (limit + 1) as i64],
                    read_object,
                )
                .map_err(db_err)?;
            let mut objects = rows.collect::<Result<Vec<_>, _>>().map_err(db_err)?;
            let truncated = objects.len() > limit;
            objects.truncate(limit);
            Ok(Some(ObjectPage { objects, truncated }))
        })
        .await
    }

    async fn delete_object(
        &self,
        org: &OrgId,
        bucket: &str,
        key: &str,
        sync_at: DateTime<Utc>,
    ) -> StoreResult<DeleteObjectOutcome> {
        let (org, bucket, key) = (org.clone(), bucket.to_owned(), key.to_owned());
        self.write(move |tx| {
            let Some(embedded) = bucket_state(tx, org.as_str(), &bucket)? else {
                return Ok(DeleteObjectOutcome::NoSuchBucket);
            };
            let blob: Option<String> = tx
                .prepare_cached(
                    "delete from bucket_objects where org_id = ?1 and bucket = ?2 and key = ?3 \
                     returning blob",
                )
                .map_err(db_err)?
                .query_row(params![org.as_str(), bucket, key], |r| r.get(0))
                .optional()
                .map_err(db_err)?;
            if embedded && blob.is_some() {
                queue_sync(tx, &org, &bucket, sync_at)?;
            }
            Ok(DeleteObjectOutcome::Deleted { blob })
        })
        .await
    }

    async fn create_upload(
        &self,
        org: &OrgId,
        bucket: &str,
        upload: &UploadRecord,
    ) -> StoreResult<bool> {
        let (org, bucket, upload) = (org.clone(), bucket.to_owned(), upload.clone());
        let metadata = to_json(&upload.metadata)?;
        self.write(move |tx| {
            if bucket_state(tx, org.as_str(), &bucket)?.is_none() {
                return Ok(false);
            }
            tx.prepare_cached(
                "insert into multipart_uploads (org_id, bucket, id, key, content_type, metadata, \
                 created_at) values (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(db_err)?
            .execute(params![
                org.as_str(),
                bucket,
                upload.id,
                upload.key,
                upload.content_type,
                metadata,
                ts(&upload.created_at),
            ])
            .map_err(db_err)?;
            Ok(true)
        })
        .await
    }

    async fn get_upload(
        &self,
        org: &OrgId,
        bucket: &str,
        id: &str,
    ) -> StoreResult<Option<UploadRecord>> {
        let (org, bucket, id) = (org.clone(), bucket.to_owned(), id.to_owned());
        self.read(move |c| {
            c.prepare_cached(
                "select id, key, content_type, metadata, created_at from multipart_uploads \
                 where org_id = ?1 and bucket = ?2 and id = ?3",
            )
            .map_err(db_err)?
            .query_row(params![org.as_str(), bucket, id], |row| {
                Ok(UploadRecord {
                    id: row.get(0)?,
                    key: row.get(1)?,
                    content_type: row.get(2)?,
                    metadata: json_object(row, 3)?,
                    created_at: time(row, 4)?,
                })
            })
            .optional()
            .map_err(db_err)
        })
        .await
    }

    async fn delete_upload(&self, org: &OrgId, bucket: &str, id: &str) -> StoreResult<bool> {
        let (org, bucket, id) = (org.clone(), bucket.to_owned(), id.to_owned());
        self.write(move |tx| {
            let deleted = tx
                .prepare_cached(
                    "delete from multipart_uploads where org_id = ?1 and bucket = ?2 and id = ?3",
                )
                .map_err(db_err)?
                .execute(params![org.as_str(), bucket, id])
                .map_err(db_err)?;
            Ok(deleted > 0)
        })
        .await
    }

    async fn create_embedding_task(
        &self,
        org: &OrgId,
        task: NewEmbeddingTask,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<EmbeddingTaskRecord>> {
        let org = org.clone();
        let payload = to_json(&task.payload)?;
        self.write(move |tx| {
            if bucket_state(tx, org.as_str(), &task.bucket)?.is_none() {
                return Ok(None);
            }
            tx.prepare_cached(
                "insert into embedding_tasks (org_id, id, bucket, task_name, status, payload, \
                 created_at) values (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(db_err)?
            .execute(params![
                org.as_str(),
                task.id,
                task.bucket,
                task.task_name,
                TaskStatus::Queued.as_str(),
                payload,
                ts(&now),
            ])
            .map_err(db_err)?;
            insert_job(
                tx,
                &NewJob {
                    org_id: org.clone(),
                    kind: EMBEDDING_TASK_JOB.to_owned(),
                    key: task.id.clone(),
                    payload: json!({}),
                    due_at: now,
                },
            )?;
            Ok(Some(EmbeddingTaskRecord {
                id: task.id,
                bucket: task.bucket,
                task_name: task.task_name,
                status: TaskStatus::Queued,
                payload: task.payload,
                error: None,
                created_at: now,
                finished_at: None,
            }))
        })
        .await
    }

    async fn get_embedding_task(
        &self,
        org: &OrgId,
        id: &str,
    ) -> StoreResult<Option<EmbeddingTaskRecord>> {
        let (org, id) = (org.clone(), id.to_owned());
        self.read(move |c| {
            let sql =
                format!("select {TASK_COLUMNS} from embedding_tasks where org_id = ?1 and id = ?2");
            c.prepare_cached(&sql)
                .map_err(db_err)?
                .query_row(params![org.as_str(), id], read_task)
                .optional()
                .map_err(db_err)
        })
        .await
    }

    async fn list_embedding_tasks(
        &self,
        org: &OrgId,
        statuses: &[TaskStatus],
    ) -> StoreResult<Vec<EmbeddingTaskRecord>> {
        let org = org.clone();
        let statuses: Vec<&'static str> = statuses.iter().map(|s| s.as_str()).collect();
        self.read(move |c| {
            let sql = format!(
                "select {TASK_COLUMNS} from embedding_tasks where org_id = ?1 \
                 order by created_at desc, id"
            );
            let mut statement = c.prepare_cached(&sql).map_err(db_err)?;
            let rows = statement
                .query_map(params![org.as_str()], read_task)
                .map_err(db_err)?;
            let tasks = rows.collect::<Result<Vec<_>, _>>().map_err(db_err)?;
            Ok(tasks
                .into_iter()
                .filter(|t| statuses.is_empty() || statuses.contains(&t.status.as_str()))
                .collect())
        })
        .await
    }

    async fn update_embedding_task(
        &self,
        org: &OrgId,
        id: &str,
        from: &[TaskStatus],
        status: TaskStatus,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (org, id) = (org.clone(), id.to_owned());
        let from: Vec<&'static str> = from.iter().map(|s| s.as_str()).collect();
        let error = error.map(str::to_owned);
        self.write(move |tx| {
            let current: Option<String> = tx
                .prepare_cached("select status from embedding_tasks where org_id = ?1 and id = ?2")
                .map_err(db_err)?
                .query_row(params![org.as_str(), id], |r| r.get(0))
                .optional()
                .map_err(db_err)?;
            match current {
                Some(current) if from.contains(&current.as_str()) => {}
                _ => return Ok(false),
            }
            let finished = status.is_terminal().then(|| ts(&now));
            tx.prepare_cached(
                "update embedding_tasks set status = ?3, error = ?4, finished_at = ?5 \
                 where org_id = ?1 and id = ?2",
            )
            .map_err(db_err)?
            .execute(params![org.as_str(), id, status.as_str(), error, finished])
            .map_err(db_err)?;
            Ok(true)
        })
        .await
    }

    async fn start_bucket_embedding(
        &self,
        org: &OrgId,
        bucket: &str,
        model: &str,
        params: &Value,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (org, bucket, model) = (org.clone(), bucket.to_owned(), model.to_owned());
        let params_text = to_json(params)?;
        self.write(move |tx| {
            let current: Option<Option<String>> = tx
                .prepare_cached(
                    "select embedding_model from buckets where org_id = ?1 and name = ?2",
                )
                .map_err(db_err)?
                .query_row(params![org.as_str(), bucket], |r| r.get(0))
                .optional()
                .map_err(db_err)?;
            let Some(current) = current else {
                return Ok(false);
            };
            if current.as_deref().is_some_and(|m| m != model) {
                tx.prepare_cached("delete from embedded_files where org_id = ?1 and bucket = ?2")
                    .map_err(db_err)?
                    .execute(params![org.as_str(), bucket])
                    .map_err(db_err)?;
                bump_version(tx, org.as_str(), &bucket)?;
            }
            tx.prepare_cached(
                "update buckets set embedding_model = ?3, embedding_params = ?4, \
                 embedded_at = coalesce(embedded_at, ?5) where org_id = ?1 and name = ?2",
            )
            .map_err(db_err)?
            .execute(params![org.as_str(), bucket, model, params_text, ts(&now)])
            .map_err(db_err)?;
            Ok(true)
        })
        .await
    }

    async fn list_embedded_files(
        &self,
        org: &OrgId,
        bucket: &str,
    ) -> StoreResult<Vec<EmbeddedFileRecord>> {
        let (org, bucket) = (org.clone(), bucket.to_owned());
        self.read(move |c| {
            let sql = format!(
                "select {FILE_COLUMNS} from embedded_files where org_id = ?1 and bucket = ?2 \
                 order by filename"
            );
            let mut statement = c.prepare_cached(&sql).map_err(db_err)?;
            let rows = statement
                .query_map(params![org.as_str(), bucket], read_file)
                .map_err(db_err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
        })
        .await
    }

    async fn fail_embedded_file(
        &self,
        org: &OrgId,
        bucket: &str,
        file: &EmbeddedFile,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (org, bucket, file, reason) = (
            org.clone(),
            bucket.to_owned(),
            file.clone(),
            reason.to_owned(),
        );
        self.write(move |tx| {
            if bucket_state(tx, org.as_str(), &bucket)? != Some(true) {
                return Ok(());
            }
            upsert_file(
                tx,
                org.as_str(),
                &bucket,
                &file,
                parley_core::knowledge::file_status::FAILED,
                Some(&reason),
                None,
                &now,
            )
        })
        .await
    }

    async fn replace_file_chunks(
        &self,
        org: &OrgId,
        bucket: &str,
        file: &EmbeddedFile,
        model: &str,
        chunks: Vec<NewChunk>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (org, bucket, file, model) = (
            org.clone(),
            bucket.to_owned(),
            file.clone(),
            model.to_owned(),
        );
        let metadata: Vec<String> = chunks
            .iter()
            .map(|c| to_json(&c.metadata))
            .collect::<StoreResult<_>>()?;
        self.write(move |tx| {
            // The bucket may have been deleted, or its embeddings removed, meanwhile.
            if bucket_state(tx, org.as_str(), &bucket)? != Some(true) {
                return Ok(());
            }
            upsert_file(
                tx,
                org.as_str(),
                &bucket,
                &file,
                parley_core::knowledge::file_status::SUCCESS,
                None,
                Some(chunks.len() as u32),
                &now,
            )?;
            tx.prepare_cached(
                "delete from embedding_chunks where org_id = ?1 and bucket = ?2 and filename = ?3",
            )
            .map_err(db_err)?
            .execute(params![org.as_str(), bucket, file.filename])
            .map_err(db_err)?;
            let mut insert = tx
                .prepare_cached(
                    "insert into embedding_chunks (org_id, bucket, filename, seq, text, vector, \
                     model, metadata) values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(db_err)?;
            for (seq, (chunk, metadata)) in chunks.iter().zip(&metadata).enumerate() {
                insert
                    .execute(params![
                        org.as_str(),
                        bucket,
                        file.filename,
                        seq as i64,
                        chunk.text,
                        chunk.vector,
                        model,
                        metadata,
                    ])
                    .map_err(db_err)?;
            }
            bump_version(tx, org.as_str(), &bucket)
        })
        .await
    }

    async fn remove_embedded_files(
        &self,
        org: &OrgId,
        bucket: &str,
        filenames: &[String],
    ) -> StoreResult<()> {
        let (org, bucket, filenames) = (org.clone(), bucket.to_owned(), filenames.to_vec());
        self.write(move |tx| {
            let mut removed = 0;
            for filename in &filenames {
                removed += tx
                    .prepare_cached(
                        "delete from embedded_files where org_id = ?1 and bucket = ?2 and filename = ?3",
                    )
                    .map_err(db_err)?
                    .execute(params![org.as_str(), bucket, filename])
                    .map_err(db_err)?;
            }
            if removed > 0 {
                bump_version(tx, org.as_str(), &bucket)?;
            }
            Ok(())
        })
        .await
    }

    async fn delete_bucket_embeddings(&self, org: &OrgId, bucket: &str) -> StoreResult<bool> {
        let (org, bucket) = (org.clone(), bucket.to_owned());
        self.write(move |tx| {
            if bucket_state(tx, org.as_str(), &bucket)? != Some(true) {
                return Ok(false);
            }
            tx.prepare_cached("delete from embedded_files where org_id = ?1 and bucket = ?2")
                .map_err(db_err)?
                .execute(params![org.as_str(), bucket])
                .map_err(db_err)?;
            tx.prepare_cached(
                "update buckets set embedding_model = null, embedding_params = null, \
                 embedded_at = null, vectors_version = vectors_version + 1 \
                 where org_id = ?1 and name = ?2",
            )
            .map_err(db_err)?
            .execute(params![org.as_str(), bucket])
            .map_err(db_err)?;
            crate::jobs::delete_job(
                tx,
                &org,
                BUCKET_SYNC_JOB,
                &format!("{}/{bucket}", org.as_str()),
            )?;
            Ok(true)
        })
        .await
    }

    async fn bucket_vectors_version(&self, org: &OrgId, bucket: &str) -> StoreResult<Option<i64>> {
        let (org, bucket) = (org.clone(), bucket.to_owned());
        self.read(move |c| {
            c.prepare_cached(
                "select vectors_version from buckets where org_id = ?1 and name = ?2 \
                 and embedding_model is not null",
            )
            .map_err(db_err)?
            .query_row(params![org.as_str(), bucket], |r| r.get(0))
            .optional()
            .map_err(db_err)
        })
        .await
    }

    async fn bucket_vectors(
        &self,
        org: &OrgId,
        bucket: &str,
    ) -> StoreResult<Option<BucketVectors>> {
        let (org, bucket) = (org.clone(), bucket.to_owned());
        // One read connection sees one snapshot for the whole closure only inside a
        // transaction: the version and the vectors must agree.
        self.read(move |c| {
            c.execute_batch("begin").map_err(db_err)?;
            let result = (|| {
                let head: Option<(i64, String)> = c
                    .prepare_cached(
                        "select vectors_version, embedding_model from buckets \
                         where org_id = ?1 and name = ?2 and embedding_model is not null",
                    )
                    .map_err(db_err)?
                    .query_row(params![org.as_str(), bucket], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .optional()
                    .map_err(db_err)?;
                let Some((version, model)) = head else {
                    return Ok(None);
                };
                let mut statement = c
                    .prepare_cached(
                        "select id, vector from embedding_chunks where org_id = ?1 and bucket = ?2",
                    )
                    .map_err(db_err)?;
                let rows = statement
                    .query_map(params![org.as_str(), bucket], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
                    })
                    .map_err(db_err)?;
                let vectors = rows.collect::<Result<Vec<_>, _>>().map_err(db_err)?;
                Ok(Some(BucketVectors {
                    version,
                    model,
                    vectors,
                }))
            })();
            let _ = c.execute_batch("commit");
            result
        })
        .await
    }

    async fn get_chunks(&self, org: &OrgId, ids: &[i64]) -> StoreResult<Vec<ChunkRecord>> {
        let (org, ids) = (org.clone(), ids.to_vec());
        self.read(move |c| {
            let mut statement = c
                .prepare_cached(
                    "select c.id, c.bucket, c.filename, f.source, f.checksum, c.model, c.text, \
                     c.metadata from embedding_chunks c join embedded_files f \
                     on f.org_id = c.org_id and f.bucket = c.bucket and f.filename = c.filename \
                     where c.org_id = ?1 and c.id = ?2",
                )
                .map_err(db_err)?;
            let mut chunks = Vec::with_capacity(ids.len());
            for id in ids {
                let chunk = statement
                    .query_row(params![org.as_str(), id], |row| {
                        Ok(ChunkRecord {
                            id: row.get(0)?,
                            bucket: row.get(1)?,
                            filename: row.get(2)?,
                            source: row.get(3)?,
                            checksum: row.get(4)?,
                            model: row.get(5)?,
                            text: row.get(6)?,
                            metadata: json_object(row, 7)?,
                        })
                    })
                    .optional()
                    .map_err(db_err)?;
                chunks.extend(chunk);
            }
            Ok(chunks)
        })
        .await
    }
}
