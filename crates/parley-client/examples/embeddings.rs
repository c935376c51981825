//! Embeddings — `/ai/embeddings`: a knowledge base from a bucket. Creates the bucket and
//! uploads a document to it (`PUT {origin}/s3/{bucket}/{key}`, S3-compatible, signed with the
//! API key), embeds the bucket, waits for the task, lists the
//! bucket's files and searches them. The Ruby guide has no section for these; the Python SDK
//! calls them `client.ai.embeddings.*`.
//!
//! `cargo run -p parley-client --example embeddings -- [BUCKET] [QUERY]`

use parley_client::types::embeddings::{EmbeddingCreateParams, SimilaritySearchParams};
use parley_client::Client;
use std::env::args;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;
    let bucket = args().nth(1).unwrap_or_else(|| "support-kb".into());
    let query = args()
        .nth(2)
        .unwrap_or_else(|| "How long do refunds take?".into());
    let embeddings = telnyx.ai().embeddings();

    let storage = telnyx.storage();
    storage.create_bucket(&bucket).await?;
    storage
        .put_object(
            &bucket,
            "refunds.md",
            b"# Refunds\n\nRefunds reach your card within 5 business days.\n".to_vec(),
            "text/markdown",
        )
        .await?;

    let mut task = embeddings
        .create(&EmbeddingCreateParams {
            bucket_name: bucket.clone(),
            ..Default::default()
        })
        .await?;
    while !task.is_finished() {
        tokio::time::sleep(Duration::from_millis(500)).await;
        task = embeddings.retrieve(&task.task_id).await?;
    }
    print(&task)?;
    print(&embeddings.buckets().retrieve(&bucket).await?)?;

    let results = embeddings
        .similarity_search(&SimilaritySearchParams {
            bucket_name: bucket,
            query,
            num_of_docs: Some(3),
            ..Default::default()
        })
        .await?;
    print(&results)
}

/// Prints a response as JSON, like Ruby's `puts`.
fn print(response: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(response)?);
    Ok(())
}
