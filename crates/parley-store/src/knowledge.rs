//! Knowledge bases: buckets and their objects (the S3-compatible API), embedding tasks, and
//! the embedded files, chunks and vectors of a bucket.
//!
//! Object **bytes** are not in the database: a row names a blob in the server's object store
//! (`blob`), written before the row and deleted after the row stops naming it. A bucket is
//! *embedded* once a task ran on it (`BucketRecord::embedding`); its chunks' vectors are stored
//! as little-endian `f32` blobs, and `vectors_version` grows with every change to them, so a
//! cache of a bucket's vectors knows when to reload (one cheap read per search). A bucket
//! never mixes two models: a task with another model removes the old vectors first.
//!
//! Creating a task also queues its job (kind `embedding_task`, key = task id) in the same
//! transaction; writing or deleting an object of an embedded bucket queues the bucket's sync
//! job (kind `bucket_sync`, key `org/bucket`), so embeddings follow the bucket.

use crate::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parley_core::ids::OrgId;
use parley_core::knowledge::TaskStatus;
use serde_json::{Map, Value};

/// How a bucket is embedded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketEmbedding {
    /// The model that made its vectors (the name the server records, e.g.
    /// `sentence-transformers/all-MiniLM-L6-v2`).
    pub model: String,
    /// The last task's parameters (`EmbeddingParams::to_json`), used to re-embed changed files.
    pub params: Value,
    /// When it was first embedded.
    pub embedded_at: DateTime<Utc>,
}

/// A bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketRecord {
    /// Its name (unique per organization).
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Set once it is embedded.
    pub embedding: Option<BucketEmbedding>,
}

/// An object to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewObject {
    /// Its key.
    pub key: String,
    /// The blob holding its bytes.
    pub blob: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its S3 ETag, without quotes (the MD5 hex of its bytes, or of its parts' for multipart).
    pub etag: String,
    /// The SHA-256 hex of its bytes: the checksum embeddings compare.
    pub sha256: String,
    /// Its `Content-Type`.
    pub content_type: Option<String>,
    /// Its user metadata (`x-amz-meta-*`, names lowercased without the prefix).
    pub metadata: Map<String, Value>,
}

/// An object as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRecord {
    /// Its key.
    pub key: String,
    /// The blob holding its bytes.
    pub blob: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its ETag, without quotes.
    pub etag: String,
    /// The SHA-256 hex of its bytes.
    pub sha256: String,
    /// Its `Content-Type`.
    pub content_type: Option<String>,
    /// Its user metadata.
    pub metadata: Map<String, Value>,
    /// When it was last written.
    pub updated_at: DateTime<Utc>,
}

/// What storing an object did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutObjectOutcome {
    /// There is no such bucket.
    NoSuchBucket,
    /// Stored; the blob of the object it replaced, to delete.
    Stored {
        /// The replaced object's blob.
        replaced_blob: Option<String>,
    },
}

/// What deleting an object did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteObjectOutcome {
    /// There is no such bucket.
    NoSuchBucket,
    /// Deleted (or there was no such key, which S3 does not tell apart); its blob to delete.
    Deleted {
        /// The deleted object's blob.
        blob: Option<String>,
    },
}

/// What deleting a bucket did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteBucketOutcome {
    /// Deleted, with its embeddings.
    Deleted,
    /// There is no such bucket.
    NotFound,
    /// Refused: it still has objects.
    NotEmpty,
}

/// A page of objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectPage {
    /// Objects whose key starts with the prefix and sorts after the start, in key order.
    pub objects: Vec<ObjectRecord>,
    /// Whether more objects follow.
    pub truncated: bool,
}

/// A multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    /// Its id.
    pub id: String,
    /// The key the object will have.
    pub key: String,
    /// Its `Content-Type`.
    pub content_type: Option<String>,
    /// The object's user metadata.
    pub metadata: Map<String, Value>,
    /// When it was started.
    pub created_at: DateTime<Utc>,
}

/// An embedding task to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEmbeddingTask {
    /// Its id (a UUID).
    pub id: String,
    /// The bucket it embeds.
    pub bucket: String,
    /// `embed_bucket` or `embed_url`.
    pub task_name: String,
    /// Everything the job needs: the embedding parameters, the URL.
    pub payload: Value,
}

/// An embedding task as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingTaskRecord {
    /// Its id.
    pub id: String,
    /// The bucket it embeds.
    pub bucket: String,
    /// Its name.
    pub task_name: String,
    /// Where it is.
    pub status: TaskStatus,
    /// What it was asked to do.
    pub payload: Value,
    /// Why it failed, when it did (not on the wire).
    pub error: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
}

/// An embedded file of a bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedFileRecord {
    /// The object's key.
    pub filename: String,
    /// The SHA-256 of the bytes last embedded (or tried).
    pub checksum: String,
    /// The embedding parameters and model it was embedded with
    /// (`EmbeddingParams::fingerprint`).
    pub fingerprint: String,
    /// `processing`, `success` or `failed`.
    pub status: String,
    /// Why it failed.
    pub error_reason: Option<String>,
    /// How many chunks it has.
    pub chunks: u32,
    /// When it was first seen by a task.
    pub created_at: DateTime<Utc>,
    /// When its row last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was last embedded successfully.
    pub last_embedded_at: Option<DateTime<Utc>>,
}

/// A chunk to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewChunk {
    /// Its text.
    pub text: String,
    /// Its vector's stored form (little-endian `f32`s).
    pub vector: Vec<u8>,
    /// What the loader said about it (`loader_metadata`).
    pub metadata: Map<String, Value>,
}

/// The file a set of chunks replaces the chunks of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedFile {
    /// The object's key.
    pub filename: String,
    /// The SHA-256 of the bytes embedded.
    pub checksum: String,
    /// The parameters and model (`EmbeddingParams::fingerprint`).
    pub fingerprint: String,
    /// Where the text came from (the crawled URL, or `bucket/key`).
    pub source: String,
}

/// A stored chunk, as search results show it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkRecord {
    /// Its id.
    pub id: i64,
    /// The bucket.
    pub bucket: String,
    /// The object's key.
    pub filename: String,
    /// Where the text came from.
    pub source: String,
    /// The SHA-256 of the file.
    pub checksum: String,
    /// The model that embedded it.
    pub model: String,
    /// Its text.
    pub text: String,
    /// `loader_metadata`.
    pub metadata: Map<String, Value>,
}

/// Every vector of a bucket, with the version they are at.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketVectors {
    /// `vectors_version` when they were read.
    pub version: i64,
    /// The model that made them.
    pub model: String,
    /// `(chunk id, stored vector)`.
    pub vectors: Vec<(i64, Vec<u8>)>,
}

/// Buckets, objects, embedding tasks, embedded files and chunks.
#[async_trait]
pub trait KnowledgeStore: Send + Sync + 'static {
    /// Creates bucket `name`; false when the organization already has it.
    async fn create_bucket(&self, org: &OrgId, name: &str, now: DateTime<Utc>)
        -> StoreResult<bool>;

    /// The organization's buckets, by name.
    async fn list_buckets(&self, org: &OrgId) -> StoreResult<Vec<BucketRecord>>;

    /// One bucket.
    async fn get_bucket(&self, org: &OrgId, name: &str) -> StoreResult<Option<BucketRecord>>;

    /// Deletes an empty bucket with its embeddings, tasks and unfinished uploads (their part
    /// blobs are the caller's to delete: returned ids).
    async fn delete_bucket(
        &self,
        org: &OrgId,
        name: &str,
    ) -> StoreResult<(DeleteBucketOutcome, Vec<String>)>;

    /// Stores (or replaces) an object; queues the bucket's sync job when it is embedded
    /// (due at `sync_at`).
    async fn put_object(
        &self,
        org: &OrgId,
        bucket: &str,
        object: NewObject,
        now: DateTime<Utc>,
        sync_at: DateTime<Utc>,
    ) -> StoreResult<PutObjectOutcome>;

    /// One object.
    async fn get_object(
        &self,
        org: &OrgId,
        bucket: &str,
        key: &str,
    ) -> StoreResult<Option<ObjectRecord>>;

    /// Objects whose key starts with `prefix` and sorts after `after`, in key order, at most
    /// `limit`; `None` when there is no such bucket.
    async fn list_objects(
        &self,
        org: &OrgId,
        bucket: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Option<ObjectPage>>;

    /// Deletes an object; queues the bucket's sync job when it is embedded.
    async fn delete_object(
        &self,
        org: &OrgId,
        bucket: &str,
        key: &str,
        sync_at: DateTime<Utc>,
    ) -> StoreResult<DeleteObjectOutcome>;

    /// Starts a multipart upload; false when there is no such bucket.
    async fn create_upload(
        &self,
        org: &OrgId,
        bucket: &str,
        upload: &UploadRecord,
    ) -> StoreResult<bool>;

    /// A multipart upload of the bucket.
    async fn get_upload(
        &self,
        org: &OrgId,
        bucket: &str,
        id: &str,
    ) -> StoreResult<Option<UploadRecord>>;

    /// Forgets a multipart upload (completed or aborted); false when there was none.
    async fn delete_upload(&self, org: &OrgId, bucket: &str, id: &str) -> StoreResult<bool>;

    /// Creates a task (status `queued`) and queues its job due at `now`; `None` when there is
    /// no such bucket.
    async fn create_embedding_task(
        &self,
        org: &OrgId,
        task: NewEmbeddingTask,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<EmbeddingTaskRecord>>;

    /// One task.
    async fn get_embedding_task(
        &self,
        org: &OrgId,
        id: &str,
    ) -> StoreResult<Option<EmbeddingTaskRecord>>;

    /// The organization's tasks in one of `statuses` (all when empty), newest first.
    async fn list_embedding_tasks(
        &self,
        org: &OrgId,
        statuses: &[TaskStatus],
    ) -> StoreResult<Vec<EmbeddingTaskRecord>>;

    /// Moves a task to `status` if it is in one of `from`; a terminal status sets
    /// `finished_at`. False when it was not in `from` (or is gone).
    async fn update_embedding_task(
        &self,
        org: &OrgId,
        id: &str,
        from: &[TaskStatus],
        status: TaskStatus,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Marks the bucket embedded by `model` with `params`. When it was embedded by another
    /// model, its files and chunks are removed first. False when there is no such bucket.
    async fn start_bucket_embedding(
        &self,
        org: &OrgId,
        bucket: &str,
        model: &str,
        params: &Value,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// The embedded files of a bucket, by name.
    async fn list_embedded_files(
        &self,
        org: &OrgId,
        bucket: &str,
    ) -> StoreResult<Vec<EmbeddedFileRecord>>;

    /// Records that a file could not be embedded (its old chunks stay searchable).
    async fn fail_embedded_file(
        &self,
        org: &OrgId,
        bucket: &str,
        file: &EmbeddedFile,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Replaces a file's chunks with `chunks` embedded by `model`, marks it `success` and
    /// bumps the bucket's vectors version, in one transaction.
    async fn replace_file_chunks(
        &self,
        org: &OrgId,
        bucket: &str,
        file: &EmbeddedFile,
        model: &str,
        chunks: Vec<NewChunk>,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Removes files (their rows and chunks), bumping the vectors version.
    async fn remove_embedded_files(
        &self,
        org: &OrgId,
        bucket: &str,
        filenames: &[String],
    ) -> StoreResult<()>;

    /// Removes every embedding of a bucket and makes it a plain bucket again; false when it
    /// was not embedded (or does not exist).
    async fn delete_bucket_embeddings(&self, org: &OrgId, bucket: &str) -> StoreResult<bool>;

    /// The bucket's vectors version; `None` when it is not embedded.
    async fn bucket_vectors_version(&self, org: &OrgId, bucket: &str) -> StoreResult<Option<i64>>;

    /// Every vector of an embedded bucket; `None` when it is not embedded.
    async fn bucket_vectors(&self, org: &OrgId, bucket: &str)
        -> StoreResult<Option<BucketVectors>>;

    /// The chunks with these ids (of the organization), in no particular order.
    async fn get_chunks(&self, org: &OrgId, ids: &[i64]) -> StoreResult<Vec<ChunkRecord>>;
}
