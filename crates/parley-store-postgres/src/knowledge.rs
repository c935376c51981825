//! [`parley_store::KnowledgeStore`] on PostgreSQL. Writes that depend on a bucket lock its row
//! (`for update` to delete it, `for share` to add to it), so an object is never written into a
//! bucket being deleted.

use crate::jobs::{delete_job, insert_job};
use crate::{begin, corrupt, db, execute, query, query_opt, PostgresStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use parley_core::ids::OrgId;
use parley_core::knowledge::{file_status, TaskStatus, BUCKET_SYNC_JOB, EMBEDDING_TASK_JOB};
use parley_store::{
    BucketEmbedding, BucketRecord, BucketVectors, ChunkRecord, DeleteBucketOutcome,
    DeleteObjectOutcome, EmbeddedFile, EmbeddedFileRecord, EmbeddingTaskRecord, KnowledgeStore,
    NewChunk, NewEmbeddingTask, NewJob, NewObject, ObjectPage, ObjectRecord, PutObjectOutcome,
    StoreError, StoreResult, UploadRecord,
};
use serde_json::{json, Map, Value};
use tokio_postgres::types::Json;
use tokio_postgres::Row;

fn object_of(value: Value) -> StoreResult<Map<String, Value>> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(StoreError::Corrupt("metadata is not a JSON object".into())),
    }
}

const BUCKET_COLUMNS: &str = "name, created_at, embedding_model, embedding_params, embedded_at";

fn bucket_from_row(row: &Row) -> StoreResult<BucketRecord> {
    let model: Option<String> = row.try_get(2).map_err(corrupt)?;
    let embedding = match model {
        Some(model) => {
            let params: Option<Json<Value>> = row.try_get(3).map_err(corrupt)?;
            let embedded_at: Option<DateTime<Utc>> = row.try_get(4).map_err(corrupt)?;
            Some(BucketEmbedding {
                model,
                params: params.map_or(Value::Null, |Json(v)| v),
                embedded_at: embedded_at
                    .ok_or_else(|| StoreError::Corrupt("embedded_at missing".into()))?,
            })
        }
        None => None,
    };
    Ok(BucketRecord {
        name: row.try_get(0).map_err(corrupt)?,
        created_at: row.try_get(1).map_err(corrupt)?,
        embedding,
    })
}

const OBJECT_COLUMNS: &str = "key, blob, size, etag, sha256, content_type, metadata, updated_at";

fn object_from_row(row: &Row) -> StoreResult<ObjectRecord> {
    let size: i64 = row.try_get(2).map_err(corrupt)?;
    let Json(metadata): Json<Value> = row.try_get(6).map_err(corrupt)?;
    Ok(ObjectRecord {
        key: row.try_get(0).map_err(corrupt)?,
        blob: row.try_get(1).map_err(corrupt)?,
        size: size.max(0) as u64,
        etag: row.try_get(3).map_err(corrupt)?,
        sha256: row.try_get(4).map_err(corrupt)?,
        content_type: row.try_get(5).map_err(corrupt)?,
        metadata: object_of(metadata)?,
        updated_at: row.try_get(7).map_err(corrupt)?,
    })
}

const TASK_COLUMNS: &str = "id, bucket, task_name, status, payload, error, created_at, finished_at";

fn task_from_row(row: &Row) -> StoreResult<EmbeddingTaskRecord> {
    let status: String = row.try_get(3).map_err(corrupt)?;
    let Json(payload): Json<Value> = row.try_get(4).map_err(corrupt)?;
    Ok(EmbeddingTaskRecord {
        id: row.try_get(0).map_err(corrupt)?,
        bucket: row.try_get(1).map_err(corrupt)?,
        task_name: row.try_get(2).map_err(corrupt)?,
        status: TaskStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown task status {status:?}")))?,
        payload,
        error: row.try_get(5).map_err(corrupt)?,
        created_at: row.try_get(6).map_err(corrupt)?,
        finished_at: row.try_get(7).map_err(corrupt)?,
    })
}

const FILE_COLUMNS: &str = "filename, checksum, fingerprint, status, error_reason, chunks, \
                            created_at, updated_at, last_embedded_at";

fn file_from_row(row: &Row) -> StoreResult<EmbeddedFileRecord> {
    let chunks: i32 = row.try_get(5).map_err(corrupt)?;
    Ok(EmbeddedFileRecord {
        filename: row.try_get(0).map_err(corrupt)?,
        checksum: row.try_get(1).map_err(corrupt)?,
        fingerprint: row.try_get(2).map_err(corrupt)?,
        status: row.try_get(3).map_err(corrupt)?,
        error_reason: row.try_get(4).map_err(corrupt)?,
        chunks: chunks.max(0) as u32,
        created_at: row.try_get(6).map_err(corrupt)?,
        updated_at: row.try_get(7).map_err(corrupt)?,
        last_embedded_at: row.try_get(8).map_err(corrupt)?,
    })
}

/// Locks `bucket` of `org` (`for update` or `for share`) and says whether it is embedded;
/// `None` when there is no such bucket.
async fn lock_bucket(
    tx: &Transaction<'_>,
    org: &OrgId,
    bucket: &str,
    exclusive: bool,
) -> StoreResult<Option<bool>> {
    let sql = if exclusive {
        "select embedding_model is not null from buckets where org_id = $1 and name = $2 for update"
    } else {
        "select embedding_model is not null from buckets where org_id = $1 and name = $2 for share"
    };
    match query_opt(tx, sql, &[&org.as_str(), &bucket]).await? {
        Some(row) => Ok(Some(row.try_get(0).map_err(corrupt)?)),
        None => Ok(None),
    }
}

async fn queue_sync(
    tx: &Transaction<'_>,
    org: &OrgId,
    bucket: &str,
    due: DateTime<Utc>,
) -> StoreResult<()> {
    insert_job(
        tx,
        &NewJob {
            org_id: org.clone(),
            kind: BUCKET_SYNC_JOB.to_owned(),
            key: format!("{}/{bucket}", org.as_str()),
            payload: json!({"bucket": bucket}),
            due_at: due,
        },
    )
    .await?;
    Ok(())
}

async fn bump_version(tx: &Transaction<'_>, org: &OrgId, bucket: &str) -> StoreResult<()> {
    execute(
        tx,
        "update buckets set vectors_version = vectors_version + 1 where org_id = $1 and name = $2",
        &[&org.as_str(), &bucket],
    )
    .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn upsert_file(
    tx: &Transaction<'_>,
    org: &OrgId,
    bucket: &str,
    file: &EmbeddedFile,
    status: &str,
    error: Option<&str>,
    chunks: Option<i32>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let embedded = (status == file_status::SUCCESS).then_some(now);
    execute(
        tx,
        "insert into embedded_files (org_id, bucket, filename, checksum, fingerprint, source, \
         status, error_reason, chunks, created_at, updated_at, last_embedded_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, 0), $10, $10, $11) \
         on conflict (org_id, bucket, filename) do update set checksum = excluded.checksum, \
         fingerprint = excluded.fingerprint, source = excluded.source, status = excluded.status, \
         error_reason = excluded.error_reason, \
         chunks = coalesce($9, embedded_files.chunks), updated_at = excluded.updated_at, \
         last_embedded_at = coalesce(excluded.last_embedded_at, embedded_files.last_embedded_at)",
        &[
            &org.as_str(),
            &bucket,
            &file.filename,
            &file.checksum,
            &file.fingerprint,
            &file.source,
            &status,
            &error,
            &chunks,
            &now,
            &embedded,
        ],
    )
    .await?;
    Ok(())
}

#[async_trait]
impl KnowledgeStore for PostgresStore {
    async fn create_bucket(
        &self,
        org: &OrgId,
        name: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let inserted = execute(
            &tx,
            "insert into buckets (org_id, name, created_at) values ($1, $2, $3) \
             on conflict do nothing",
            &[&org.as_str(), &name, &now],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(inserted > 0)
    }

    async fn list_buckets(&self, org: &OrgId) -> StoreResult<Vec<BucketRecord>> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let sql = format!("select {BUCKET_COLUMNS} from buckets where org_id = $1 order by name");
        let rows = query(&tx, &sql, &[&org.as_str()]).await?;
        rows.iter().map(bucket_from_row).collect()
    }

    async fn get_bucket(&self, org: &OrgId, name: &str) -> StoreResult<Option<BucketRecord>> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let sql = format!("select {BUCKET_COLUMNS} from buckets where org_id = $1 and name = $2");
        query_opt(&tx, &sql, &[&org.as_str(), &name])
            .await?
            .as_ref()
            .map(bucket_from_row)
            .transpose()
    }

    async fn delete_bucket(
        &self,
        org: &OrgId,
        name: &str,
    ) -> StoreResult<(DeleteBucketOutcome, Vec<String>)> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        if lock_bucket(&tx, org, name, true).await?.is_none() {
            return Ok((DeleteBucketOutcome::NotFound, Vec::new()));
        }
        let nonempty = query_opt(
            &tx,
            "select 1 from bucket_objects where org_id = $1 and bucket = $2 limit 1",
            &[&org.as_str(), &name],
        )
        .await?
        .is_some();
        if nonempty {
            return Ok((DeleteBucketOutcome::NotEmpty, Vec::new()));
        }
        let uploads = query(
            &tx,
            "select id from multipart_uploads where org_id = $1 and bucket = $2",
            &[&org.as_str(), &name],
        )
        .await?
        .iter()
        .map(|r| r.try_get::<_, String>(0).map_err(corrupt))
        .collect::<StoreResult<Vec<_>>>()?;
        execute(
            &tx,
            "delete from embedding_tasks where org_id = $1 and bucket = $2",
            &[&org.as_str(), &name],
        )
        .await?;
        delete_job(
            &tx,
            org,
            BUCKET_SYNC_JOB,
            &format!("{}/{name}", org.as_str()),
        )
        .await?;
        execute(
            &tx,
            "delete from buckets where org_id = $1 and name = $2",
            &[&org.as_str(), &name],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok((DeleteBucketOutcome::Deleted, uploads))
    }

    async fn put_object(
        &self,
        org: &OrgId,
        bucket: &str,
        object: NewObject,
        now: DateTime<Utc>,
        sync_at: DateTime<Utc>,
    ) -> StoreResult<PutObjectOutcome> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let Some(embedded) = lock_bucket(&tx, org, bucket, false).await? else {
            return Ok(PutObjectOutcome::NoSuchBucket);
        };
        // The old row is locked by the upsert; `returning` of an upsert cannot see the old
        // blob, so read it first under `for update`.
        let replaced: Option<String> = query_opt(
            &tx,
            "select blob from bucket_objects where org_id = $1 and bucket = $2 and key = $3 \
             for update",
            &[&org.as_str(), &bucket, &object.key],
        )
        .await?
        .map(|r| r.try_get(0).map_err(corrupt))
        .transpose()?;
        let size = i64::try_from(object.size).unwrap_or(i64::MAX);
        execute(
            &tx,
            "insert into bucket_objects (org_id, bucket, key, blob, size, etag, sha256, \
             content_type, metadata, updated_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             on conflict (org_id, bucket, key) do update set blob = excluded.blob, \
             size = excluded.size, etag = excluded.etag, sha256 = excluded.sha256, \
             content_type = excluded.content_type, metadata = excluded.metadata, \
             updated_at = excluded.updated_at",
            &[
                &org.as_str(),
                &bucket,
                &object.key,
                &object.blob,
                &size,
                &object.etag,
                &object.sha256,
                &object.content_type,
                &Json(&object.metadata),
                &now,
            ],
        )
        .await?;
        if embedded {
            queue_sync(&tx, org, bucket, sync_at).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(PutObjectOutcome::Stored {
            replaced_blob: replaced.filter(|b| *b != object.blob),
        })
    }

    async fn get_object(
        &self,
        org: &OrgId,
        bucket: &str,
        key: &str,
    ) -> StoreResult<Option<ObjectRecord>> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let sql = format!(
            "select {OBJECT_COLUMNS} from bucket_objects where org_id = $1 and bucket = $2 and key = $3"
        );
        query_opt(&tx, &sql, &[&org.as_str(), &bucket, &key])
            .await?
            .as_ref()
            .map(object_from_row)
            .transpose()
    }

    async fn list_objects(
        &self,
        org: &OrgId,
        bucket: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Option<ObjectPage>> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let exists = query_opt(
            &tx,
            "select 1 from buckets where org_id = $1 and name = $2",
            &[&org.as_str(), &bucket],
        )
        .await?
        .is_some();
        if !exists {
            return Ok(None);
        }
        let sql = format!(
            "select {OBJECT_COLUMNS} from bucket_objects where org_id = $1 and bucket = $2 \
             and key collate \"C\" > $3 and left(key, char_length($4)) = $4 \
             order by key collate \"C\" limit $5"
        );
        let after = after.unwrap_or_default();
        let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
        let rows = query(
            &tx,
            &sql,
            &[&org.as_str(), &bucket, &after, &prefix, &fetch],
        )
        .await?;
        let mut objects = rows
            .iter()
            .map(object_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        let truncated = objects.len() > limit;
        objects.truncate(limit);
        Ok(Some(ObjectPage { objects, truncated }))
    }

    async fn delete_object(
        &self,
        org: &OrgId,
        bucket: &str,
        key: &str,
        sync_at: DateTime<Utc>,
    ) -> StoreResult<DeleteObjectOutcome> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let Some(embedded) = lock_bucket(&tx, org, bucket, false).await? else {
            return Ok(DeleteObjectOutcome::NoSuchBucket);
        };
        let blob: Option<String> = query_opt(
            &tx,
            "delete from bucket_objects where org_id = $1 and bucket = $2 and key = $3 \
             returning blob",
            &[&org.as_str(), &bucket, &key],
        )
        .await?
        .map(|r| r.try_get(0).map_err(corrupt))
        .transpose()?;
        if embedded && blob.is_some() {
            queue_sync(&tx, org, bucket, sync_at).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(DeleteObjectOutcome::Deleted { blob })
    }

    async fn create_upload(
        &self,
        org: &OrgId,
        bucket: &str,
        upload: &UploadRecord,
    ) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        if lock_bucket(&tx, org, bucket, false).await?.is_none() {
            return Ok(false);
        }
        execute(
            &tx,
            "insert into multipart_uploads (org_id, bucket, id, key, content_type, metadata, \
             created_at) values ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &org.as_str(),
                &bucket,
                &upload.id,
                &upload.key,
                &upload.content_type,
                &Json(&upload.metadata),
                &upload.created_at,
            ],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn get_upload(
        &self,
        org: &OrgId,
        bucket: &str,
        id: &str,
    ) -> StoreResult<Option<UploadRecord>> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let row = query_opt(
            &tx,
            "select id, key, content_type, metadata, created_at from multipart_uploads \
             where org_id = $1 and bucket = $2 and id = $3",
            &[&org.as_str(), &bucket, &id],
        )
        .await?;
        row.map(|row| {
            let Json(metadata): Json<Value> = row.try_get(3).map_err(corrupt)?;
            Ok(UploadRecord {
                id: row.try_get(0).map_err(corrupt)?,
                key: row.try_get(1).map_err(corrupt)?,
                content_type: row.try_get(2).map_err(corrupt)?,
                metadata: object_of(metadata)?,
                created_at: row.try_get(4).map_err(corrupt)?,
            })
        })
        .transpose()
    }

    async fn delete_upload(&self, org: &OrgId, bucket: &str, id: &str) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let deleted = execute(
            &tx,
            "delete from multipart_uploads where org_id = $1 and bucket = $2 and id = $3",
            &[&org.as_str(), &bucket, &id],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(deleted > 0)
    }

    async fn create_embedding_task(
        &self,
        org: &OrgId,
        task: NewEmbeddingTask,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<EmbeddingTaskRecord>> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        if lock_bucket(&tx, org, &task.bucket, false).await?.is_none() {
            return Ok(None);
        }
        execute(
            &tx,
            "insert into embedding_tasks (org_id, id, bucket, task_name, status, payload, \
             created_at) values ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &org.as_str(),
                &task.id,
                &task.bucket,
                &task.task_name,
                &TaskStatus::Queued.as_str(),
                &Json(&task.payload),
                &now,
            ],
        )
        .await?;
        insert_job(
            &tx,
            &NewJob {
                org_id: org.clone(),
                kind: EMBEDDING_TASK_JOB.to_owned(),
                key: task.id.clone(),
                payload: json!({}),
                due_at: now,
            },
        )
        .await?;
        tx.commit().await.map_err(db)?;
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
    }

    async fn get_embedding_task(
        &self,
        org: &OrgId,
        id: &str,
    ) -> StoreResult<Option<EmbeddingTaskRecord>> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let sql =
            format!("select {TASK_COLUMNS} from embedding_tasks where org_id = $1 and id = $2");
        query_opt(&tx, &sql, &[&org.as_str(), &id])
            .await?
            .as_ref()
            .map(task_from_row)
            .transpose()
    }

    async fn list_embedding_tasks(
        &self,
        org: &OrgId,
        statuses: &[TaskStatus],
    ) -> StoreResult<Vec<EmbeddingTaskRecord>> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let wanted: Vec<&str> = if statuses.is_empty() {
            TaskStatus::ALL.iter().map(|s| s.as_str()).collect()
        } else {
            statuses.iter().map(|s| s.as_str()).collect()
        };
        let sql = format!(
            "select {TASK_COLUMNS} from embedding_tasks where org_id = $1 \
             and status = any($2) order by created_at desc, id"
        );
        let rows = query(&tx, &sql, &[&org.as_str(), &wanted]).await?;
        rows.iter().map(task_from_row).collect()
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
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let finished = status.is_terminal().then_some(now);
        let updated = execute(
            &tx,
            "update embedding_tasks set status = $3, error = $4, finished_at = $5 \
             where org_id = $1 and id = $2 and status = any($6)",
            &[
                &org.as_str(),
                &id,
                &status.as_str(),
                &error,
                &finished,
                &from,
            ],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(updated > 0)
    }

    async fn start_bucket_embedding(
        &self,
        org: &OrgId,
        bucket: &str,
        model: &str,
        params: &Value,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let Some(row) = query_opt(
            &tx,
            "select embedding_model from buckets where org_id = $1 and name = $2 for update",
            &[&org.as_str(), &bucket],
        )
        .await?
        else {
            return Ok(false);
        };
        let current: Option<String> = row.try_get(0).map_err(corrupt)?;
        if current.as_deref().is_some_and(|m| m != model) {
            execute(
                &tx,
                "delete from embedded_files where org_id = $1 and bucket = $2",
                &[&org.as_str(), &bucket],
            )
            .await?;
            bump_version(&tx, org, bucket).await?;
        }
        execute(
            &tx,
            "update buckets set embedding_model = $3, embedding_params = $4, \
             embedded_at = coalesce(embedded_at, $5) where org_id = $1 and name = $2",
            &[&org.as_str(), &bucket, &model, &Json(params), &now],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn list_embedded_files(
        &self,
        org: &OrgId,
        bucket: &str,
    ) -> StoreResult<Vec<EmbeddedFileRecord>> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let sql = format!(
            "select {FILE_COLUMNS} from embedded_files where org_id = $1 and bucket = $2 \
             order by filename collate \"C\""
        );
        let rows = query(&tx, &sql, &[&org.as_str(), &bucket]).await?;
        rows.iter().map(file_from_row).collect()
    }

    async fn fail_embedded_file(
        &self,
        org: &OrgId,
        bucket: &str,
        file: &EmbeddedFile,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        if lock_bucket(&tx, org, bucket, false).await? != Some(true) {
            return Ok(());
        }
        upsert_file(
            &tx,
            org,
            bucket,
            file,
            file_status::FAILED,
            Some(reason),
            None,
            now,
        )
        .await?;
        tx.commit().await.map_err(db)
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
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        // Locked for update: the version bump below takes the row anyway, and two writers of
        // one bucket then queue instead of deadlocking on a share lock each.
        if lock_bucket(&tx, org, bucket, true).await? != Some(true) {
            return Ok(());
        }
        let count = i32::try_from(chunks.len()).unwrap_or(i32::MAX);
        upsert_file(
            &tx,
            org,
            bucket,
            file,
            file_status::SUCCESS,
            None,
            Some(count),
            now,
        )
        .await?;
        execute(
            &tx,
            "delete from embedding_chunks where org_id = $1 and bucket = $2 and filename = $3",
            &[&org.as_str(), &bucket, &file.filename],
        )
        .await?;
        if !chunks.is_empty() {
            let seqs: Vec<i32> = (0..count).collect();
            let texts: Vec<&str> = chunks.iter().map(|c| c.text.as_str()).collect();
            let vectors: Vec<&[u8]> = chunks.iter().map(|c| c.vector.as_slice()).collect();
            let metadata: Vec<Json<&Map<String, Value>>> =
                chunks.iter().map(|c| Json(&c.metadata)).collect();
            execute(
                &tx,
                "insert into embedding_chunks (org_id, bucket, filename, seq, text, vector, \
                 model, metadata) select $1, $2, $3, s, t, v, $4, m \
                 from unnest($5::int[], $6::text[], $7::bytea[], $8::jsonb[]) as u(s, t, v, m)",
                &[
                    &org.as_str(),
                    &bucket,
                    &file.filename,
                    &model,
                    &seqs,
                    &texts,
                    &vectors,
                    &metadata,
                ],
            )
            .await?;
        }
        bump_version(&tx, org, bucket).await?;
        tx.commit().await.map_err(db)
    }

    async fn remove_embedded_files(
        &self,
        org: &OrgId,
        bucket: &str,
        filenames: &[String],
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        if lock_bucket(&tx, org, bucket, true).await?.is_none() {
            return Ok(());
        }
        let removed = execute(
            &tx,
            "delete from embedded_files where org_id = $1 and bucket = $2 and filename = any($3)",
            &[&org.as_str(), &bucket, &filenames],
        )
        .await?;
        if removed > 0 {
            bump_version(&tx, org, bucket).await?;
        }
        tx.commit().await.map_err(db)
    }

    async fn delete_bucket_embeddings(&self, org: &OrgId, bucket: &str) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        if lock_bucket(&tx, org, bucket, true).await? != Some(true) {
            return Ok(false);
        }
        execute(
            &tx,
            "delete from embedded_files where org_id = $1 and bucket = $2",
            &[&org.as_str(), &bucket],
        )
        .await?;
        execute(
            &tx,
            "update buckets set embedding_model = null, embedding_params = null, \
             embedded_at = null, vectors_version = vectors_version + 1 \
             where org_id = $1 and name = $2",
            &[&org.as_str(), &bucket],
        )
        .await?;
        delete_job(
            &tx,
            org,
            BUCKET_SYNC_JOB,
            &format!("{}/{bucket}", org.as_str()),
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn bucket_vectors_version(&self, org: &OrgId, bucket: &str) -> StoreResult<Option<i64>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "select vectors_version from buckets where org_id = $1 and name = $2 \
                 and embedding_model is not null",
            )
            .await
            .map_err(db)?;
        let row = client
            .query_opt(&statement, &[&org.as_str(), &bucket])
            .await
            .map_err(db)?;
        row.map(|r| r.try_get(0).map_err(corrupt)).transpose()
    }

    async fn bucket_vectors(
        &self,
        org: &OrgId,
        bucket: &str,
    ) -> StoreResult<Option<BucketVectors>> {
        let mut client = self.client().await?;
        // One snapshot: the version and the vectors agree.
        let tx = crate::read_snapshot(&mut client).await?;
        let Some(head) = query_opt(
            &tx,
            "select vectors_version, embedding_model from buckets \
             where org_id = $1 and name = $2 and embedding_model is not null",
            &[&org.as_str(), &bucket],
        )
        .await?
        else {
            return Ok(None);
        };
        let rows = query(
            &tx,
            "select id, vector from embedding_chunks where org_id = $1 and bucket = $2",
            &[&org.as_str(), &bucket],
        )
        .await?;
        let vectors = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get::<_, i64>(0).map_err(corrupt)?,
                    r.try_get::<_, Vec<u8>>(1).map_err(corrupt)?,
                ))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Some(BucketVectors {
            version: head.try_get(0).map_err(corrupt)?,
            model: head.try_get(1).map_err(corrupt)?,
            vectors,
        }))
    }

    async fn get_chunks(&self, org: &OrgId, ids: &[i64]) -> StoreResult<Vec<ChunkRecord>> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let rows = query(
            &tx,
            // The chunks first, by primary key: right after a bulk write the table has no
            // statistics yet, and a plain join was planned as a scan of every vector.
            "with c as materialized (select id, org_id, bucket, filename, model, text, metadata \
             from embedding_chunks where id = any($2) and org_id = $1) \
             select c.id, c.bucket, c.filename, f.source, f.checksum, c.model, c.text, c.metadata \
             from c join embedded_files f on f.org_id = c.org_id \
             and f.bucket = c.bucket and f.filename = c.filename",
            &[&org.as_str(), &ids],
        )
        .await?;
        rows.iter()
            .map(|row| {
                let Json(metadata): Json<Value> = row.try_get(7).map_err(corrupt)?;
                Ok(ChunkRecord {
                    id: row.try_get(0).map_err(corrupt)?,
                    bucket: row.try_get(1).map_err(corrupt)?,
                    filename: row.try_get(2).map_err(corrupt)?,
                    source: row.try_get(3).map_err(corrupt)?,
                    checksum: row.try_get(4).map_err(corrupt)?,
                    model: row.try_get(5).map_err(corrupt)?,
                    text: row.try_get(6).map_err(corrupt)?,
                    metadata: object_of(metadata)?,
                })
            })
            .collect()
    }
}
