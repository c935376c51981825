//! Knowledge bases: buckets of documents, embedding tasks over them, and the pure steps of an
//! embedding task — which loader reads a file ([`loaders`], with [`html`] and [`pdf`]), how its
//! text is cut into chunks ([`chunk`]) — plus the vector arithmetic of similarity search
//! ([`vectors`]).
//!
//! The unit of `document_chunk_size` and `document_chunk_overlap_size` is the **character**
//! (a Unicode scalar value), not the token: 1,024 characters of English prose are about 200–250
//! tokens, which fits the 256-token window of the default embedding model. A chunk longer than
//! the model's window is still stored and returned whole; only its first tokens are embedded.

pub mod chunk;
pub mod html;
pub mod loaders;
pub mod pdf;
pub mod vectors;

use crate::validation::{FieldError, ValidationErrors};
use serde_json::{Map, Value};

/// The job kind of embedding tasks (the key of each job is its task id).
pub const EMBEDDING_TASK_JOB: &str = "embedding_task";
/// The job kind that re-embeds an embedded bucket after its objects changed (the key is
/// `org_id/bucket`, so changes in quick succession share one job).
pub const BUCKET_SYNC_JOB: &str = "bucket_sync";
/// `document_chunk_size` when the request names none.
pub const DEFAULT_CHUNK_SIZE: u32 = 1024;
/// `document_chunk_overlap_size` when the request names none.
pub const DEFAULT_CHUNK_OVERLAP: u32 = 512;
/// Smallest accepted `document_chunk_size`.
pub const MIN_CHUNK_SIZE: u32 = 32;
/// Largest accepted `document_chunk_size`.
pub const MAX_CHUNK_SIZE: u32 = 32_768;
/// The `embedding_model` values of the contract; the first is the default.
pub const EMBEDDING_MODELS: [&str; 2] = ["thenlper/gte-large", "intfloat/multilingual-e5-large"];
/// `num_of_docs` when a similarity search names none.
pub const DEFAULT_NUM_OF_DOCS: u32 = 3;
/// Most results one similarity search returns.
pub const MAX_NUM_OF_DOCS: u32 = 100;
/// Task name of `POST /ai/embeddings`.
pub const TASK_EMBED_BUCKET: &str = "embed_bucket";
/// Task name of `POST /ai/embeddings/url`.
pub const TASK_EMBED_URL: &str = "embed_url";

/// Where an embedding task is (`BackgroundTaskStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    /// Waiting for a worker.
    Queued,
    /// A worker is embedding the bucket.
    Processing,
    /// Every file was embedded (or there was nothing to do).
    Success,
    /// No file could be embedded.
    Failure,
    /// Some files were embedded, others failed (see the bucket's files).
    PartialSuccess,
}

impl TaskStatus {
    /// Every status, in life order.
    pub const ALL: [TaskStatus; 5] = [
        Self::Queued,
        Self::Processing,
        Self::Success,
        Self::Failure,
        Self::PartialSuccess,
    ];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Processing => "processing",
            Self::Success => "success",
            Self::Failure => "failure",
            Self::PartialSuccess => "partial_success",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether the task has ended.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Success | Self::Failure | Self::PartialSuccess)
    }

    /// The outcome of a task that embedded `succeeded` files and failed on `failed` files.
    pub fn outcome(succeeded: usize, failed: usize) -> Self {
        match (succeeded, failed) {
            (_, 0) => Self::Success,
            (0, _) => Self::Failure,
            _ => Self::PartialSuccess,
        }
    }
}

/// The per-file status of an embedded bucket's files.
pub mod file_status {
    /// Being embedded by a running task.
    pub const PROCESSING: &str = "processing";
    /// Embedded; its chunks are searchable.
    pub const SUCCESS: &str = "success";
    /// Could not be embedded; `error_reason` says why.
    pub const FAILED: &str = "failed";
}

/// The loader of a task (`EmbeddingCreateParams.loader`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Loader {
    /// By file type: text, Markdown, HTML, CSV, JSON, DOCX.
    Default,
    /// Intercom article JSON: one chunk per paragraph, with `article_url` and `heading`.
    Intercom,
}

impl Loader {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Intercom => "intercom",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "default" => Some(Self::Default),
            "intercom" => Some(Self::Intercom),
            _ => None,
        }
    }
}

/// How a bucket is embedded: what a task asked for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmbeddingParams {
    /// Characters per chunk.
    pub chunk_size: u32,
    /// Characters shared by two consecutive chunks of one document.
    pub chunk_overlap: u32,
    /// The `embedding_model` asked for (a contract name); which model actually embeds is
    /// decided by the server's configuration and recorded per bucket.
    pub requested_model: String,
    /// How files are read.
    pub loader: Loader,
}

impl Default for EmbeddingParams {
    fn default() -> Self {
        Self {
            chunk_size: DEFAULT_CHUNK_SIZE,
            chunk_overlap: DEFAULT_CHUNK_OVERLAP,
            requested_model: EMBEDDING_MODELS[0].to_owned(),
            loader: Loader::Default,
        }
    }
}

impl EmbeddingParams {
    /// A stable text naming these parameters and the model that embeds (`model`): a file
    /// embedded under other parameters is embedded again.
    pub fn fingerprint(&self, model: &str) -> String {
        format!(
            "{model}|{}|{}|{}",
            self.chunk_size,
            self.chunk_overlap,
            self.loader.as_str()
        )
    }

    /// As stored in a task's payload.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "document_chunk_size": self.chunk_size,
            "document_chunk_overlap_size": self.chunk_overlap,
            "embedding_model": self.requested_model,
            "loader": self.loader.as_str(),
        })
    }

    /// Reads [`EmbeddingParams::to_json`] back (defaults for what is missing).
    pub fn from_json(value: &Value) -> Self {
        let defaults = Self::default();
        let number = |key: &str, default: u32| {
            value
                .get(key)
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(default)
        };
        Self {
            chunk_size: number("document_chunk_size", defaults.chunk_size),
            chunk_overlap: number("document_chunk_overlap_size", defaults.chunk_overlap),
            requested_model: value
                .get("embedding_model")
                .and_then(Value::as_str)
                .map_or(defaults.requested_model, str::to_owned),
            loader: value
                .get("loader")
                .and_then(Value::as_str)
                .and_then(Loader::parse)
                .unwrap_or(Loader::Default),
        }
    }
}

/// A parsed `POST /ai/embeddings` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateEmbedding {
    /// The bucket to embed.
    pub bucket_name: String,
    /// How.
    pub params: EmbeddingParams,
}

fn integer_field(
    body: &Map<String, Value>,
    key: &str,
    default: u32,
    errors: &mut Vec<FieldError>,
) -> u32 {
    match body.get(key) {
        None | Some(Value::Null) => default,
        Some(value) => match value.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) => n,
            None => {
                errors.push(FieldError::invalid(
                    format!("/{key}"),
                    "must be a non-negative integer",
                ));
                default
            }
        },
    }
}

fn bucket_field(body: &Map<String, Value>, errors: &mut Vec<FieldError>) -> String {
    match body.get("bucket_name") {
        Some(Value::String(name)) if !name.is_empty() => name.clone(),
        Some(Value::String(_)) => {
            errors.push(FieldError::invalid("/bucket_name", "must not be empty"));
            String::new()
        }
        None | Some(Value::Null) => {
            errors.push(FieldError::invalid("/bucket_name", "is required"));
            String::new()
        }
        Some(_) => {
            errors.push(FieldError::invalid("/bucket_name", "must be a string"));
            String::new()
        }
    }
}

/// Parses a `POST /ai/embeddings` body (`bucket_name`*, `document_chunk_size`,
/// `document_chunk_overlap_size`, `embedding_model`, `loader`).
pub fn parse_create(body: &Map<String, Value>) -> Result<CreateEmbedding, ValidationErrors> {
    let mut errors = Vec::new();
    let bucket_name = bucket_field(body, &mut errors);
    let chunk_size = integer_field(body, "document_chunk_size", DEFAULT_CHUNK_SIZE, &mut errors);
    let chunk_overlap = integer_field(
        body,
        "document_chunk_overlap_size",
        DEFAULT_CHUNK_OVERLAP,
        &mut errors,
    );
    if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
        errors.push(FieldError::invalid(
            "/document_chunk_size",
            format!("must be between {MIN_CHUNK_SIZE} and {MAX_CHUNK_SIZE} characters"),
        ));
    } else if chunk_overlap >= chunk_size {
        errors.push(FieldError::rule(
            "/document_chunk_overlap_size",
            "must be smaller than document_chunk_size",
        ));
    }
    let requested_model = match body.get("embedding_model") {
        None | Some(Value::Null) => EMBEDDING_MODELS[0].to_owned(),
        Some(Value::String(model)) if EMBEDDING_MODELS.contains(&model.as_str()) => model.clone(),
        Some(_) => {
            errors.push(FieldError::invalid(
                "/embedding_model",
                format!("must be one of {}", EMBEDDING_MODELS.join(", ")),
            ));
            String::new()
        }
    };
    let loader = match body.get("loader") {
        None | Some(Value::Null) => Loader::Default,
        Some(Value::String(text)) => Loader::parse(text).unwrap_or_else(|| {
            errors.push(FieldError::invalid(
                "/loader",
                "must be one of default, intercom",
            ));
            Loader::Default
        }),
        Some(_) => {
            errors.push(FieldError::invalid("/loader", "must be a string"));
            Loader::Default
        }
    };
    if !errors.is_empty() {
        return Err(ValidationErrors(errors));
    }
    Ok(CreateEmbedding {
        bucket_name,
        params: EmbeddingParams {
            chunk_size,
            chunk_overlap,
            requested_model,
            loader,
        },
    })
}

/// A parsed `POST /ai/embeddings/url` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedUrl {
    /// The bucket the pages are written to (it must exist).
    pub bucket_name: String,
    /// The first page (`http` or `https`).
    pub url: url::Url,
}

/// Parses a `POST /ai/embeddings/url` body (`bucket_name`*, `url`*).
pub fn parse_url(body: &Map<String, Value>) -> Result<EmbedUrl, ValidationErrors> {
    let mut errors = Vec::new();
    let bucket_name = bucket_field(body, &mut errors);
    let url = match body.get("url") {
        Some(Value::String(text)) => match url::Url::parse(text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                Some(url)
            }
            _ => {
                errors.push(FieldError::invalid("/url", "must be an http(s) URL"));
                None
            }
        },
        None | Some(Value::Null) => {
            errors.push(FieldError::invalid("/url", "is required"));
            None
        }
        Some(_) => {
            errors.push(FieldError::invalid("/url", "must be a string"));
            None
        }
    };
    match url {
        Some(url) if errors.is_empty() => Ok(EmbedUrl { bucket_name, url }),
        _ => Err(ValidationErrors(errors)),
    }
}

/// A parsed `POST /ai/embeddings/similarity-search` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimilaritySearch {
    /// The bucket searched.
    pub bucket_name: String,
    /// What is looked for.
    pub query: String,
    /// How many chunks at most.
    pub num_of_docs: u32,
}

/// Parses a `POST /ai/embeddings/similarity-search` body (`bucket_name`*, `query`*,
/// `num_of_docs` 1..=100, default 3).
pub fn parse_search(body: &Map<String, Value>) -> Result<SimilaritySearch, ValidationErrors> {
    let mut errors = Vec::new();
    let bucket_name = bucket_field(body, &mut errors);
    let query = match body.get("query") {
        Some(Value::String(q)) if !q.trim().is_empty() => q.clone(),
        Some(Value::String(_)) => {
            errors.push(FieldError::invalid("/query", "must not be empty"));
            String::new()
        }
        None | Some(Value::Null) => {
            errors.push(FieldError::invalid("/query", "is required"));
            String::new()
        }
        Some(_) => {
            errors.push(FieldError::invalid("/query", "must be a string"));
            String::new()
        }
    };
    let num_of_docs = integer_field(body, "num_of_docs", DEFAULT_NUM_OF_DOCS, &mut errors);
    if !(1..=MAX_NUM_OF_DOCS).contains(&num_of_docs) {
        errors.push(FieldError::invalid(
            "/num_of_docs",
            format!("must be between 1 and {MAX_NUM_OF_DOCS}"),
        ));
    }
    if !errors.is_empty() {
        return Err(ValidationErrors(errors));
    }
    Ok(SimilaritySearch {
        bucket_name,
        query,
        num_of_docs,
    })
}

/// Whether `name` is a valid S3 bucket name: 3–63 characters of lowercase letters, digits,
/// `.` and `-`, beginning and ending with a letter or digit, no `..`, not an IP address.
pub fn valid_bucket_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-')
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
        && name.parse::<std::net::Ipv4Addr>().is_err()
}

/// The object key a crawled page is stored under: host and path, with a `.html` suffix when
/// the path has no extension (`https://example.com/docs/` → `example.com/docs/index.html`).
pub fn page_object_key(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or("page");
    let mut path = url.path().trim_start_matches('/').to_owned();
    if path.is_empty() || path.ends_with('/') {
        path.push_str("index.html");
    } else if !path.rsplit('/').next().unwrap_or_default().contains('.') {
        path.push_str(".html");
    }
    let mut key = format!("{host}/{path}");
    if let Some(query) = url.query() {
        key.push('?');
        key.push_str(query);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn create_bodies_take_defaults_and_check_ranges() {
        let parsed = parse_create(&object(json!({"bucket_name": "docs"}))).unwrap();
        assert_eq!(parsed.params, EmbeddingParams::default());
        let errors = parse_create(&object(json!({
            "document_chunk_size": 100,
            "document_chunk_overlap_size": 100,
            "embedding_model": "openai/ada",
            "loader": "pdf",
        })))
        .unwrap_err();
        let pointers: Vec<&str> = errors.0.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/bucket_name",
                "/document_chunk_overlap_size",
                "/embedding_model",
                "/loader"
            ]
        );
    }

    #[test]
    fn statuses_round_trip_and_outcomes_follow_counts() {
        for status in TaskStatus::ALL {
            assert_eq!(TaskStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(TaskStatus::outcome(0, 0), TaskStatus::Success);
        assert_eq!(TaskStatus::outcome(2, 0), TaskStatus::Success);
        assert_eq!(TaskStatus::outcome(2, 1), TaskStatus::PartialSuccess);
        assert_eq!(TaskStatus::outcome(0, 1), TaskStatus::Failure);
    }

    #[test]
    fn bucket_names_follow_s3_rules() {
        for good in ["docs", "my-bucket.v2", "a1b"] {
            assert!(valid_bucket_name(good), "{good}");
        }
        for bad in [
            "ab",
            "Docs",
            "-docs",
            "docs-",
            "a..b",
            "192.168.1.1",
            "with space",
        ] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
    }

    #[test]
    fn pages_get_keys_from_their_urls() {
        let key = |u: &str| page_object_key(&url::Url::parse(u).unwrap());
        assert_eq!(key("https://example.com"), "example.com/index.html");
        assert_eq!(
            key("https://example.com/docs/"),
            "example.com/docs/index.html"
        );
        assert_eq!(key("http://example.com/a/b"), "example.com/a/b.html");
        assert_eq!(key("http://example.com/a.txt?x=1"), "example.com/a.txt?x=1");
    }
}
