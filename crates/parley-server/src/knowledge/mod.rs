//! Knowledge bases: object bytes ([`blobs`]), the embedding models, embedding a bucket (the
//! jobs behind `POST /ai/embeddings` and `/ai/embeddings/url`, and the sync job that follows a
//! bucket's changes), crawling a site ([`crawl`]), and exact similarity search over a bucket's
//! vectors with a per-node cache.
//!
//! **Models.** A task's `embedding_model` (a contract name) is embedded by the
//! OpenAI-compatible backend configured for that name (`[[embedding_models]]`), else by the
//! local all-MiniLM-L6-v2 (llama.cpp; loaded on first use from the models directory). The
//! model that made a bucket's vectors is recorded on the bucket; queries are embedded by the
//! same model, and a task with another model replaces the bucket's vectors whole.
//!
//! **Embedding a bucket** ([`sync_bucket`]) compares each object's SHA-256 and the task's
//! parameters with what was embedded last: unchanged files are skipped, changed and new ones
//! are loaded, chunked and embedded (each file's chunks replaced in one transaction), files no
//! longer in the bucket lose their chunks. A file that cannot be read fails alone, with its
//! `error_reason`; the task ends `success`, `partial_success` or `failure` by those counts.
//! Jobs run at least once: every step can run again without harm.
//!
//! **Search** is exact: the query's cosine similarity with every vector of the bucket. The
//! vectors of a bucket are read once into memory per node and reused while the bucket's
//! `vectors_version` (one indexed read per search) is unchanged.

pub mod blobs;
pub mod crawl;

use crate::jobs::{JobHandler, JobOutcome};
use crate::settings::Settings;
use crate::state::AppState;
use async_trait::async_trait;
use blobs::{BlobStore, Incoming};
use chrono::Duration;
use parley_core::ids::OrgId;
use parley_core::knowledge::{
    chunk::chunk_text, loaders, vectors, EmbeddingParams, TaskStatus, TASK_EMBED_URL,
};
use parley_llm::embeddings::{Embedder, OpenAiEmbeddings, SentenceModel, SentenceModelConfig};
use parley_llm::LlmError;
use parley_store::{
    ChunkRecord, EmbeddedFile, JobRecord, NewChunk, NewObject, ObjectRecord, PutObjectOutcome,
    StoreError,
};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Texts sent to the embedding model at once.
const EMBED_BATCH: usize = 32;
/// Buckets whose vectors one node keeps in memory.
const CACHED_BUCKETS: usize = 64;

/// The embedding models, the object store and the vector cache of this node.
pub struct Knowledge {
    /// Where object bytes live.
    pub blobs: Arc<dyn BlobStore>,
    models_dir: Option<PathBuf>,
    pull_models: bool,
    local: tokio::sync::OnceCell<Arc<SentenceModel>>,
    remote: HashMap<String, Arc<OpenAiEmbeddings>>,
    cache: Mutex<HashMap<(OrgId, String), Arc<CachedVectors>>>,
}

impl std::fmt::Debug for Knowledge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Knowledge")
            .field("models_dir", &self.models_dir)
            .field("remote", &self.remote.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The vectors of one bucket as one node holds them.
#[derive(Debug)]
pub struct CachedVectors {
    /// The bucket's `vectors_version` when read.
    pub version: i64,
    /// The model that made them.
    pub model: String,
    /// The vectors, by chunk id.
    pub matrix: vectors::Matrix,
}

/// A chunk found by a search.
#[derive(Debug, Clone)]
pub struct SearchHit {
    /// The chunk.
    pub chunk: ChunkRecord,
    /// Its cosine similarity with the query.
    pub cosine: f32,
}

/// Why a search failed.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The bucket does not exist or is not embedded.
    #[error("bucket {0} is not an embedded bucket")]
    NotEmbedded(String),
    /// The query could not be embedded.
    #[error(transparent)]
    Embedding(#[from] LlmError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Knowledge {
    /// The knowledge side of a node: the object store the settings name ([`blobs::open`]),
    /// the local model from the models directory, the configured `[[embedding_models]]`. Fails
    /// when the S3 bucket cannot be reached.
    pub async fn new(settings: &Settings) -> std::io::Result<Self> {
        let timeout = std::time::Duration::from_millis(settings.llm.timeout_ms.max(1));
        let remote = settings
            .knowledge
            .embedding_models
            .iter()
            .map(|route| {
                let upstream = route.model.clone().unwrap_or_else(|| route.name.clone());
                (
                    route.name.clone(),
                    Arc::new(OpenAiEmbeddings::new(
                        &route.base_url,
                        route.api_key.clone(),
                        &upstream,
                        &route.name,
                        timeout,
                    )),
                )
            })
            .collect();
        Ok(Self {
            blobs: blobs::open(settings).await?,
            models_dir: settings.llm.models_dir.clone(),
            pull_models: settings.llm.pull_models,
            local: tokio::sync::OnceCell::new(),
            remote,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The local model, loaded on first use (pulled first when it is missing and pulling is
    /// on).
    pub async fn local(&self) -> Result<Arc<SentenceModel>, LlmError> {
        let dir = self.models_dir.clone().ok_or_else(|| {
            LlmError::Model("no models directory is configured (PARLEY_MODELS_DIR)".into())
        })?;
        let pull = self.pull_models;
        self.local
            .get_or_try_init(|| async move {
                tokio::task::spawn_blocking(move || {
                    use parley_llm::models::{self, ALL_MINILM_L6_V2};
                    let config = SentenceModelConfig::minilm(&dir);
                    let missing = ALL_MINILM_L6_V2
                        .files
                        .iter()
                        .any(|f| !config.dir.join(f.name).is_file());
                    if missing && !config.gguf_path().is_file() {
                        if !pull {
                            return Err(LlmError::Busy(format!(
                                "the embedding model is missing from {}; run `parley models pull`",
                                dir.display()
                            )));
                        }
                        models::pull(
                            &ALL_MINILM_L6_V2,
                            &dir,
                            &models::PullOptions::default(),
                            &models::Quiet,
                        )
                        .map_err(|e| LlmError::Model(e.to_string()))?;
                    }
                    SentenceModel::load(config).map(Arc::new)
                })
                .await
                .map_err(|e| LlmError::Model(format!("loading panicked: {e}")))?
            })
            .await
            .cloned()
    }

    /// The embedder for a task asking for `requested` (a contract model name).
    pub async fn embedder_for(&self, requested: &str) -> Result<Arc<dyn Embedder>, LlmError> {
        match self.remote.get(requested) {
            Some(remote) => Ok(remote.clone()),
            None => Ok(self.local().await?),
        }
    }

    /// The embedder that made vectors recorded as `model`.
    pub async fn embedder_named(&self, model: &str) -> Result<Arc<dyn Embedder>, LlmError> {
        if let Some(remote) = self.remote.get(model) {
            return Ok(remote.clone());
        }
        let local = self.local().await?;
        if local.model() == model {
            Ok(local)
        } else {
            Err(LlmError::Model(format!(
                "the bucket was embedded by {model}, which this server no longer serves"
            )))
        }
    }

    /// The vectors of an embedded bucket, from the cache while its version is unchanged.
    pub async fn vectors(
        &self,
        state: &AppState,
        org: &OrgId,
        bucket: &str,
    ) -> Result<Option<Arc<CachedVectors>>, StoreError> {
        let Some(version) = state.store.bucket_vectors_version(org, bucket).await? else {
            return Ok(None);
        };
        let key = (org.clone(), bucket.to_owned());
        if let Some(cached) = self.cache.lock().expect("vector cache").get(&key) {
            if cached.version == version {
                return Ok(Some(cached.clone()));
            }
        }
        let Some(stored) = state.store.bucket_vectors(org, bucket).await? else {
            return Ok(None);
        };
        let loaded = tokio::task::spawn_blocking(move || {
            let dimensions = stored
                .vectors
                .first()
                .map_or(0, |(_, bytes)| bytes.len() / 4);
            let mut matrix = vectors::Matrix::new(dimensions);
            for (id, bytes) in &stored.vectors {
                if let Some(vector) = vectors::from_bytes(bytes) {
                    matrix.push(*id, &vector);
                }
            }
            CachedVectors {
                version: stored.version,
                model: stored.model,
                matrix,
            }
        })
        .await
        .map_err(|e| StoreError::Database(format!("loading vectors panicked: {e}")))?;
        let loaded = Arc::new(loaded);
        let mut cache = self.cache.lock().expect("vector cache");
        if cache.len() >= CACHED_BUCKETS {
            cache.clear();
        }
        cache.insert(key, loaded.clone());
        Ok(Some(loaded))
    }
}

/// The `k` chunks of `buckets` most similar to `query`, most similar first. Every bucket must
/// be embedded.
pub async fn search(
    state: &AppState,
    org: &OrgId,
    buckets: &[String],
    query: &str,
    k: usize,
) -> Result<Vec<SearchHit>, SearchError> {
    let knowledge = &state.knowledge;
    let mut by_model: BTreeMap<String, Vec<Arc<CachedVectors>>> = BTreeMap::new();
    for bucket in buckets {
        let vectors = knowledge
            .vectors(state, org, bucket)
            .await?
            .ok_or_else(|| SearchError::NotEmbedded(bucket.clone()))?;
        by_model
            .entry(vectors.model.clone())
            .or_default()
            .push(vectors);
    }
    let mut scored: Vec<(i64, f32)> = Vec::new();
    for (model, sets) in by_model {
        let embedder = knowledge.embedder_named(&model).await?;
        let query_vector = embedder
            .embed(vec![query.to_owned()])
            .await?
            .pop()
            .ok_or_else(|| LlmError::BadResponse("no vector for the query".into()))?;
        let found = tokio::task::spawn_blocking(move || {
            sets.iter()
                .flat_map(|set| set.matrix.top_k(&query_vector, k))
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| StoreError::Database(format!("search panicked: {e}")))?;
        scored.extend(found);
    }
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.truncate(k);
    let ids: Vec<i64> = scored.iter().map(|(id, _)| *id).collect();
    let mut chunks: HashMap<i64, ChunkRecord> = state
        .store
        .get_chunks(org, &ids)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    Ok(scored
        .into_iter()
        .filter_map(|(id, cosine)| {
            Some(SearchHit {
                chunk: chunks.remove(&id)?,
                cosine,
            })
        })
        .collect())
}

/// A search hit as `POST /ai/embeddings/similarity-search` returns it.
pub fn render_hit(hit: &SearchHit) -> Value {
    let mut metadata = Map::new();
    metadata.insert("checksum".into(), hit.chunk.checksum.clone().into());
    metadata.insert("embedding".into(), hit.chunk.model.clone().into());
    metadata.insert("filename".into(), hit.chunk.filename.clone().into());
    metadata.insert("source".into(), hit.chunk.source.clone().into());
    metadata.insert(
        "certainty".into(),
        serde_json::json!(vectors::certainty(hit.cosine)),
    );
    metadata.insert(
        "loader_metadata".into(),
        Value::Object(hit.chunk.metadata.clone()),
    );
    serde_json::json!({
        "document_chunk": hit.chunk.text,
        "distance": vectors::distance(hit.cosine),
        "metadata": metadata,
    })
}

/// Stores `bytes` as object `key` of `bucket` (blob first, then the row; a replaced object's
/// blob is deleted after).
pub async fn put_object_bytes(
    state: &AppState,
    org: &OrgId,
    bucket: &str,
    key: &str,
    bytes: &[u8],
    content_type: Option<String>,
    metadata: Map<String, Value>,
) -> Result<(), String> {
    let blobs = &state.knowledge.blobs;
    let mut incoming = Incoming::create(blobs.incoming_dir(), u64::MAX)
        .await
        .map_err(|e| e.to_string())?;
    incoming.write(bytes).await.map_err(|e| e.to_string())?;
    let (received, incoming) = incoming.finish().await.map_err(|e| e.to_string())?;
    let blob = new_blob_name(org);
    blobs
        .put(&blob, incoming)
        .await
        .map_err(|e| e.to_string())?;
    let now = state.clock.now();
    let outcome = state
        .store
        .put_object(
            org,
            bucket,
            NewObject {
                key: key.to_owned(),
                blob: blob.clone(),
                size: received.size,
                etag: received.md5,
                sha256: received.sha256,
                content_type,
                metadata,
            },
            now,
            now + sync_delay(),
        )
        .await
        .map_err(|e| e.to_string())?;
    match outcome {
        PutObjectOutcome::NoSuchBucket => {
            let _ = blobs.delete(&blob).await;
            Err(format!("bucket {bucket} does not exist"))
        }
        PutObjectOutcome::Stored { replaced_blob } => {
            if let Some(old) = replaced_blob {
                let _ = blobs.delete(&old).await;
            }
            Ok(())
        }
    }
}

/// A fresh blob name of `org`.
pub fn new_blob_name(org: &OrgId) -> String {
    format!("{}/{}", org.as_str(), uuid::Uuid::new_v4().simple())
}

/// How long after an object of an embedded bucket changes its sync job runs (changes in
/// that window share one run).
pub fn sync_delay() -> Duration {
    Duration::seconds(1)
}

/// Every object of a bucket; `None` when there is no such bucket.
async fn all_objects(
    state: &AppState,
    org: &OrgId,
    bucket: &str,
) -> Result<Option<Vec<ObjectRecord>>, StoreError> {
    let mut objects = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let Some(page) = state
            .store
            .list_objects(org, bucket, "", after.as_deref(), 1000)
            .await?
        else {
            return Ok(None);
        };
        after = page.objects.last().map(|o| o.key.clone());
        objects.extend(page.objects);
        if !page.truncated {
            return Ok(Some(objects));
        }
    }
}

/// What embedding a bucket did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncCounts {
    /// Files embedded now.
    pub embedded: usize,
    /// Files unchanged since they were embedded.
    pub unchanged: usize,
    /// Files that could not be embedded.
    pub failed: usize,
    /// Files gone from the bucket whose chunks were removed.
    pub removed: usize,
}

impl SyncCounts {
    /// The task status these counts make.
    pub fn status(&self) -> TaskStatus {
        TaskStatus::outcome(self.embedded + self.unchanged, self.failed)
    }
}

/// Why a bucket could not be embedded at all.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The bucket is gone.
    #[error("bucket {0} does not exist")]
    NoSuchBucket(String),
    /// No model could embed.
    #[error("embedding model unavailable: {0}")]
    Model(#[from] LlmError),
    /// The store failed (worth retrying).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Embeds `bucket` with `params`: changed and new files embedded, unchanged ones skipped,
/// removed ones dropped.
pub async fn sync_bucket(
    state: &AppState,
    org: &OrgId,
    bucket: &str,
    params: &EmbeddingParams,
) -> Result<SyncCounts, SyncError> {
    let embedder = state
        .knowledge
        .embedder_for(&params.requested_model)
        .await?;
    let model = embedder.model().to_owned();
    if !state
        .store
        .start_bucket_embedding(org, bucket, &model, &params.to_json(), state.clock.now())
        .await?
    {
        return Err(SyncError::NoSuchBucket(bucket.to_owned()));
    }
    let objects = all_objects(state, org, bucket)
        .await?
        .ok_or_else(|| SyncError::NoSuchBucket(bucket.to_owned()))?;
    let embedded: HashMap<String, parley_store::EmbeddedFileRecord> = state
        .store
        .list_embedded_files(org, bucket)
        .await?
        .into_iter()
        .map(|f| (f.filename.clone(), f))
        .collect();
    let fingerprint = params.fingerprint(&model);
    let mut counts = SyncCounts::default();
    for object in &objects {
        let file = EmbeddedFile {
            filename: object.key.clone(),
            checksum: object.sha256.clone(),
            fingerprint: fingerprint.clone(),
            source: object
                .metadata
                .get("source")
                .and_then(Value::as_str)
                .map_or_else(|| format!("{bucket}/{}", object.key), str::to_owned),
        };
        if let Some(done) = embedded.get(&object.key) {
            if done.checksum == file.checksum
                && done.fingerprint == fingerprint
                && done.status == parley_core::knowledge::file_status::SUCCESS
            {
                counts.unchanged += 1;
                continue;
            }
        }
        let started = std::time::Instant::now();
        match embed_object(state, embedder.as_ref(), object, params).await {
            Ok(chunks) => {
                let count = chunks.len();
                state
                    .store
                    .replace_file_chunks(org, bucket, &file, &model, chunks, state.clock.now())
                    .await?;
                tracing::info!(%bucket, file = %object.key, chunks = count, ms = started.elapsed().as_millis() as u64, "file embedded");
                counts.embedded += 1;
            }
            Err(FileError::Unreadable(reason)) => {
                tracing::info!(%bucket, file = %object.key, %reason, "file not embedded");
                state
                    .store
                    .fail_embedded_file(org, bucket, &file, &reason, state.clock.now())
                    .await?;
                counts.failed += 1;
            }
            Err(FileError::Model(e)) => return Err(SyncError::Model(e)),
        }
    }
    let gone: Vec<String> = embedded
        .keys()
        .filter(|name| !objects.iter().any(|o| &o.key == *name))
        .cloned()
        .collect();
    if !gone.is_empty() {
        state
            .store
            .remove_embedded_files(org, bucket, &gone)
            .await?;
        counts.removed = gone.len();
    }
    Ok(counts)
}

enum FileError {
    /// The file cannot be read as text; it fails alone.
    Unreadable(String),
    /// The model failed; the whole run stops.
    Model(LlmError),
}

/// A chunk's text and its loader metadata, before it is embedded.
type Piece = (String, Map<String, Value>);

/// Loads, chunks and embeds one object.
async fn embed_object(
    state: &AppState,
    embedder: &dyn Embedder,
    object: &ObjectRecord,
    params: &EmbeddingParams,
) -> Result<Vec<NewChunk>, FileError> {
    let bytes = state
        .knowledge
        .blobs
        .read_all(&object.blob)
        .await
        .map_err(|e| FileError::Unreadable(format!("cannot read the object: {e}")))?
        .ok_or_else(|| FileError::Unreadable("the object's bytes are missing".into()))?;
    let kind = loaders::detect(&object.key, object.content_type.as_deref());
    let (params_owned, key) = (params.clone(), object.key.clone());
    let pieces = tokio::task::spawn_blocking(move || -> Result<Vec<Piece>, String> {
        let bytes = if kind == loaders::DocumentKind::Docx {
            docx_document_xml(&bytes)?
        } else {
            bytes
        };
        let sections = loaders::load(kind, params_owned.loader, &bytes)?;
        let mut pieces = Vec::new();
        for section in sections {
            for text in chunk_text(
                &section.text,
                params_owned.chunk_size as usize,
                params_owned.chunk_overlap as usize,
            ) {
                pieces.push((text, section.metadata.clone()));
            }
        }
        if pieces.is_empty() {
            return Err(format!("no text found in {key}"));
        }
        Ok(pieces)
    })
    .await
    .map_err(|e| FileError::Unreadable(format!("loading panicked: {e}")))?
    .map_err(FileError::Unreadable)?;
    let mut chunks = Vec::with_capacity(pieces.len());
    for batch in pieces.chunks(EMBED_BATCH) {
        let texts: Vec<String> = batch.iter().map(|(t, _)| t.clone()).collect();
        let vectors = embedder.embed(texts).await.map_err(FileError::Model)?;
        for ((text, metadata), vector) in batch.iter().zip(vectors) {
            chunks.push(NewChunk {
                text: text.clone(),
                vector: vectors::to_bytes(&vector),
                metadata: metadata.clone(),
            });
        }
    }
    Ok(chunks)
}

/// `word/document.xml` of a DOCX file.
fn docx_document_xml(bytes: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| format!("not a DOCX file: {e}"))?;
    let mut entry = archive
        .by_name("word/document.xml")
        .map_err(|_| "not a DOCX file: no word/document.xml".to_owned())?;
    let mut xml = Vec::new();
    entry
        .read_to_end(&mut xml)
        .map_err(|e| format!("cannot read the DOCX body: {e}"))?;
    Ok(xml)
}

/// Runs embedding tasks (kind `embedding_task`, key = task id).
#[derive(Debug, Default)]
pub struct EmbeddingTaskHandler;

fn retry_soon(state: &AppState, job: &JobRecord, error: impl std::fmt::Display) -> JobOutcome {
    let wait = Duration::seconds(30i64 << job.attempts.min(6));
    JobOutcome::RetryAt {
        due_at: state.clock.now() + wait,
        error: error.to_string(),
    }
}

#[async_trait]
impl JobHandler for EmbeddingTaskHandler {
    async fn run(&self, state: &AppState, job: &JobRecord) -> JobOutcome {
        let org = &job.org_id;
        let task = match state.store.get_embedding_task(org, &job.key).await {
            Ok(Some(task)) => task,
            Ok(None) => return JobOutcome::Done,
            Err(e) => return retry_soon(state, job, e),
        };
        if task.status.is_terminal() {
            return JobOutcome::Done;
        }
        let now = state.clock.now();
        if let Err(e) = state
            .store
            .update_embedding_task(
                org,
                &task.id,
                &[TaskStatus::Queued, TaskStatus::Processing],
                TaskStatus::Processing,
                None,
                now,
            )
            .await
        {
            return retry_soon(state, job, e);
        }
        let params = EmbeddingParams::from_json(&task.payload);
        let mut crawl_failed = 0;
        if task.task_name == TASK_EMBED_URL {
            let url = task.payload["url"].as_str().unwrap_or_default().to_owned();
            match crawl::crawl_into_bucket(state, org, &task.bucket, &url).await {
                Ok(report) if report.stored > 0 => crawl_failed = report.failed,
                Ok(report) => {
                    let reason = report
                        .first_error
                        .unwrap_or_else(|| "no page could be fetched".into());
                    return finish(state, job, TaskStatus::Failure, Some(&reason)).await;
                }
                Err(e) => return retry_soon(state, job, e),
            }
        }
        match sync_bucket(state, org, &task.bucket, &params).await {
            Ok(counts) => {
                let status = if crawl_failed > 0 && counts.status() == TaskStatus::Success {
                    TaskStatus::PartialSuccess
                } else {
                    counts.status()
                };
                tracing::info!(task = %task.id, bucket = %task.bucket, ?counts, status = status.as_str(), "embedding task finished");
                finish(state, job, status, None).await
            }
            Err(SyncError::Store(e)) => retry_soon(state, job, e),
            Err(e) => finish(state, job, TaskStatus::Failure, Some(&e.to_string())).await,
        }
    }
}

async fn finish(
    state: &AppState,
    job: &JobRecord,
    status: TaskStatus,
    error: Option<&str>,
) -> JobOutcome {
    match state
        .store
        .update_embedding_task(
            &job.org_id,
            &job.key,
            &[TaskStatus::Queued, TaskStatus::Processing],
            status,
            error,
            state.clock.now(),
        )
        .await
    {
        Ok(_) => JobOutcome::Done,
        Err(e) => retry_soon(state, job, e),
    }
}

/// Re-embeds an embedded bucket after its objects changed (kind `bucket_sync`).
#[derive(Debug, Default)]
pub struct BucketSyncHandler;

#[async_trait]
impl JobHandler for BucketSyncHandler {
    async fn run(&self, state: &AppState, job: &JobRecord) -> JobOutcome {
        let org = &job.org_id;
        let Some(bucket) = job.payload["bucket"].as_str() else {
            return JobOutcome::Failed("the job names no bucket".into());
        };
        let record = match state.store.get_bucket(org, bucket).await {
            Ok(Some(record)) => record,
            Ok(None) => return JobOutcome::Done,
            Err(e) => return retry_soon(state, job, e),
        };
        let Some(embedding) = record.embedding else {
            return JobOutcome::Done;
        };
        let params = EmbeddingParams::from_json(&embedding.params);
        match sync_bucket(state, org, bucket, &params).await {
            Ok(counts) => {
                tracing::info!(%bucket, ?counts, "bucket re-embedded after a change");
                JobOutcome::Done
            }
            Err(SyncError::NoSuchBucket(_)) => JobOutcome::Done,
            Err(e) => retry_soon(state, job, e),
        }
    }
}
