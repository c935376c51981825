//! Embeddings: knowledge bases built from storage buckets (`/ai/embeddings…`).
//!
//! Embedding a bucket (or a web page into a bucket) is a background task: creating one answers
//! `{"data": task}` at once, and the task's `status` moves from `queued` through `processing`
//! to `success`, `failure` or `partial_success`. The embedded files of a bucket and their own
//! status are listed per bucket; a similarity search returns the chunks nearest a query.
//! Shapes follow the OpenAPI contract (`EmbeddingResponse`, `EmbeddingListResponse`,
//! `BucketRetrieveResponse`, `EmbeddingSimilaritySearchResponse`, …).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The statuses a task ends in.
pub const FINAL_TASK_STATUSES: &[&str] = &["success", "failure", "partial_success"];

/// Body of `POST /ai/embeddings` (`EmbeddingCreateParams`): embed the files of a bucket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingCreateParams {
    /// The bucket whose files are embedded.
    pub bucket_name: String,
    /// Characters two neighbouring chunks share (default 512).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_chunk_overlap_size: Option<u32>,
    /// Characters per chunk (default 1024).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_chunk_size: Option<u32>,
    /// `thenlper/gte-large` (default) or `intfloat/multilingual-e5-large`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_model: Option<String>,
    /// `default` or `intercom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loader: Option<String>,
    /// Fields sent as they are, after the typed ones.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Body of `POST /ai/embeddings/url` (`EmbeddingURLParams`): embed a web page and the pages
/// below it into a bucket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingUrlParams {
    /// The bucket the pages are stored and embedded in.
    pub bucket_name: String,
    /// The page to start from.
    pub url: String,
    /// Fields sent as they are, after the typed ones.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Query of `GET /ai/embeddings`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddingListParams {
    /// Only tasks in these statuses (sent comma-separated); the server's default is `queued`
    /// and `processing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Vec<String>>,
}

/// An embedding task, as creating, retrieving and listing tasks return it
/// (`EmbeddingResponseData`, `EmbeddingRetrieveResponseData`, `EmbeddingListResponseData`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingTask {
    /// Its id.
    #[serde(default)]
    pub task_id: String,
    /// What it does (`create_embeddings_from_bucket`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_name: Option<String>,
    /// `queued`, `processing`, `success`, `failure` or `partial_success`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The bucket it embeds (lists only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// When it was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Who started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Fields this crate does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl EmbeddingTask {
    /// Whether the task has ended ([`FINAL_TASK_STATUSES`]).
    pub fn is_finished(&self) -> bool {
        self.status
            .as_deref()
            .is_some_and(|s| FINAL_TASK_STATUSES.contains(&s))
    }
}

/// The embedded buckets (`BucketListResponseData`, inside `{"data": …}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BucketList {
    /// Their names.
    #[serde(default)]
    pub buckets: Vec<String>,
    /// Fields this crate does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One file of an embedded bucket (`BucketRetrieveResponseData`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BucketFile {
    /// The file's name (its key in the bucket).
    #[serde(default)]
    pub filename: String,
    /// Where its embedding stands.
    #[serde(default)]
    pub status: String,
    /// When it was first embedded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Why it could not be embedded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<String>,
    /// When it was last embedded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_embedded_at: Option<String>,
    /// When its entry last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// Fields this crate does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Body of `POST /ai/embeddings/similarity-search` (`EmbeddingSimilaritySearchParams`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SimilaritySearchParams {
    /// The embedded bucket to search.
    pub bucket_name: String,
    /// What to look for.
    pub query: String,
    /// How many chunks to return (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_of_docs: Option<u32>,
    /// Fields sent as they are, after the typed ones.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One chunk a similarity search found (`EmbeddingSimilaritySearchResponseData`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SimilaritySearchResult {
    /// Distance to the query: smaller is nearer.
    #[serde(default)]
    pub distance: f64,
    /// The chunk's text.
    #[serde(default)]
    pub document_chunk: String,
    /// Where the chunk comes from.
    #[serde(default)]
    pub metadata: ChunkMetadata,
    /// Fields this crate does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Where a chunk comes from (`EmbeddingSimilaritySearchResponseDataMetadata`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChunkMetadata {
    /// The file's name.
    #[serde(default)]
    pub filename: String,
    /// The file's location (a storage URL, or the web page).
    #[serde(default)]
    pub source: String,
    /// Checksum of the file's content.
    #[serde(default)]
    pub checksum: String,
    /// The embedding model.
    #[serde(default)]
    pub embedding: String,
    /// How sure the match is, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certainty: Option<f64>,
    /// What the loader recorded about the document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loader_metadata: Option<Map<String, Value>>,
    /// Fields this crate does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tasks_know_when_they_are_finished_and_keep_unknown_fields() {
        let task: EmbeddingTask = serde_json::from_value(json!({
            "task_id": "t1", "status": "processing", "progress": 0.5
        }))
        .unwrap();
        assert!(!task.is_finished());
        assert_eq!(task.extra["progress"], 0.5);
        let done = EmbeddingTask {
            status: Some("partial_success".into()),
            ..task
        };
        assert!(done.is_finished());
    }

    #[test]
    fn search_results_read_the_contract_shape() {
        let result: SimilaritySearchResult = serde_json::from_value(json!({
            "distance": 0.12, "document_chunk": "Refunds take 5 days.",
            "metadata": {"checksum": "c", "embedding": "thenlper/gte-large",
                         "filename": "faq.md", "source": "s3://kb/faq.md", "certainty": 0.9}
        }))
        .unwrap();
        assert_eq!(result.metadata.filename, "faq.md");
        assert_eq!(result.metadata.certainty, Some(0.9));
        let params = SimilaritySearchParams {
            bucket_name: "kb".into(),
            query: "refund".into(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(params).unwrap(),
            json!({"bucket_name": "kb", "query": "refund"})
        );
    }
}
