//! `/ai/embeddings`: knowledge bases. Files go into a storage bucket
//! ([`crate::resources::storage::Storage`]); [`Embeddings::create`] starts a task that
//! chunks and embeds them; [`Embeddings::similarity_search`] finds the chunks nearest a query.
//! Assistants use a bucket through a `retrieval` tool naming it in `bucket_ids`.

use crate::client::{segment, ApiRequest};
use crate::error::Result;
use crate::Client;
use parley_types::embeddings::{
    BucketFile, BucketList, EmbeddingCreateParams, EmbeddingListParams, EmbeddingTask,
    EmbeddingUrlParams, SimilaritySearchParams, SimilaritySearchResult,
};
use parley_types::{Data, DataList};

/// Embedding tasks and similarity search.
#[derive(Debug)]
pub struct Embeddings<'a> {
    client: &'a Client,
}

impl<'a> Embeddings<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// `POST /ai/embeddings`: starts embedding the files of a bucket; the task comes back at
    /// once (`queued`), poll it with [`Embeddings::retrieve`].
    pub async fn create(&self, params: &EmbeddingCreateParams) -> Result<EmbeddingTask> {
        let request = ApiRequest::post("ai/embeddings".into()).body(params)?;
        let task: Data<EmbeddingTask> = self.client.json(request).await?;
        Ok(task.data)
    }

    /// `POST /ai/embeddings/url`: starts embedding a web page (and the pages below it) into a
    /// bucket.
    pub async fn url(&self, params: &EmbeddingUrlParams) -> Result<EmbeddingTask> {
        let request = ApiRequest::post("ai/embeddings/url".into()).body(params)?;
        let task: Data<EmbeddingTask> = self.client.json(request).await?;
        Ok(task.data)
    }

    /// `GET /ai/embeddings`: the tasks that are `queued` or `processing`.
    pub async fn list(&self) -> Result<DataList<EmbeddingTask>> {
        self.list_with(&EmbeddingListParams::default()).await
    }

    /// `GET /ai/embeddings?status=…`: the tasks in these statuses.
    pub async fn list_with(&self, params: &EmbeddingListParams) -> Result<DataList<EmbeddingTask>> {
        let request = ApiRequest::get("ai/embeddings".into()).query(params)?;
        self.client.json(request).await
    }

    /// `GET /ai/embeddings/{task_id}`: where a task stands.
    pub async fn retrieve(&self, task_id: &str) -> Result<EmbeddingTask> {
        let path = format!("ai/embeddings/{}", segment(task_id, "task_id")?);
        let task: Data<EmbeddingTask> = self.client.json(ApiRequest::get(path)).await?;
        Ok(task.data)
    }

    /// `POST /ai/embeddings/similarity-search`: the chunks of a bucket nearest the query,
    /// nearest first.
    pub async fn similarity_search(
        &self,
        params: &SimilaritySearchParams,
    ) -> Result<DataList<SimilaritySearchResult>> {
        let request = ApiRequest::post("ai/embeddings/similarity-search".into()).body(params)?;
        self.client.json(request).await
    }

    /// `/ai/embeddings/buckets`.
    pub fn buckets(&self) -> Buckets<'a> {
        Buckets {
            client: self.client,
        }
    }
}

fn bucket_path(bucket_name: &str) -> Result<String> {
    Ok(format!(
        "ai/embeddings/buckets/{}",
        segment(bucket_name, "bucket_name")?
    ))
}

/// Embedded buckets.
#[derive(Debug)]
pub struct Buckets<'a> {
    client: &'a Client,
}

impl Buckets<'_> {
    /// `GET /ai/embeddings/buckets`: the names of the embedded buckets.
    pub async fn list(&self) -> Result<BucketList> {
        let request = ApiRequest::get("ai/embeddings/buckets".into());
        let list: Data<BucketList> = self.client.json(request).await?;
        Ok(list.data)
    }

    /// `GET /ai/embeddings/buckets/{bucket_name}`: the embedded files of a bucket and their
    /// status.
    pub async fn retrieve(&self, bucket_name: &str) -> Result<DataList<BucketFile>> {
        self.client
            .json(ApiRequest::get(bucket_path(bucket_name)?))
            .await
    }

    /// `DELETE /ai/embeddings/buckets/{bucket_name}`: deletes the bucket's embeddings (the
    /// files stay in storage).
    pub async fn delete(&self, bucket_name: &str) -> Result<()> {
        self.client
            .empty(ApiRequest::delete(bucket_path(bucket_name)?))
            .await
    }
}
