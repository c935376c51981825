//! Knowledge bases through the SDK against the real server, on SQLite and on PostgreSQL:
//! objects put into a bucket through the S3-compatible API (signed requests, whole and
//! streamed bodies), an embedding task carried out by the worker with the local embedding
//! model (pulled into the models directory if missing), the embedded bucket's files, and a
//! similarity search.

mod common;

use common::fixtures::{embed_support_kb, search_support_kb};
use common::{assert_api_error, Backend, TestServer};
use futures::StreamExt;
use parley_client::types::embeddings::SimilaritySearchParams;
use std::time::Duration;

async fn spawn(backend: Backend) -> TestServer {
    TestServer::spawn_with(backend, |settings| {
        settings.llm.models_dir = parley_llm::models::default_models_dir(std::env::vars());
        settings.llm.pull_models = true;
        settings.jobs.poll_ms = 50;
    })
    .await
}

async fn buckets_are_filled_embedded_and_searched(server: TestServer) {
    let client = &server.client;
    let storage = client.storage();
    storage.create_bucket("support-kb").await.unwrap();
    storage.create_bucket("support-kb").await.unwrap();
    storage
        .put_object(
            "support-kb",
            "refunds.md",
            b"# Refunds\n\nRefunds reach your card within 5 business days of the return.\n"
                .to_vec(),
            "text/markdown",
        )
        .await
        .unwrap();
    let shipping = b"Shipping\n\nParcels leave our warehouse every weekday at noon and arrive \
                     in two to three days.\n"
        .to_vec();
    let length = shipping.len() as u64;
    let chunks =
        futures::stream::iter(shipping.chunks(16).map(<[u8]>::to_vec).collect::<Vec<_>>()).map(Ok);
    storage
        .put_object_stream(
            "support-kb",
            "guides/shipping.txt",
            chunks,
            length,
            "text/plain",
        )
        .await
        .unwrap();
    let stored = storage.list_objects("support-kb").await.unwrap();
    let keys: Vec<(&str, u64)> = stored.iter().map(|o| (o.key.as_str(), o.size)).collect();
    assert_eq!(keys, [("guides/shipping.txt", length), ("refunds.md", 73)]);
    assert!(stored[0].last_modified.is_some());
    let missing = storage
        .put_object("no-such-bucket", "a.txt", b"a".to_vec(), "text/plain")
        .await
        .unwrap_err();
    assert_eq!(missing.status(), Some(404));
    assert_eq!(missing.code(), Some("NoSuchBucket"));

    let embeddings = client.ai().embeddings();
    let task = embed_support_kb(client, None, Duration::from_secs(120)).await;
    assert!(task.finished_at.is_some());

    assert_eq!(
        embeddings.buckets().list().await.unwrap().buckets,
        ["support-kb"]
    );
    let mut files: Vec<(String, String)> = embeddings
        .buckets()
        .retrieve("support-kb")
        .await
        .unwrap()
        .data
        .into_iter()
        .map(|f| (f.filename, f.status))
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(files[0].0, "guides/shipping.txt");
    assert_eq!(files[1].0, "refunds.md");

    let found = search_support_kb(client, "How long until my refund arrives?").await;
    assert_eq!(found.len(), 1);
    assert!(found[0].document_chunk.contains("5 business days"));

    embeddings.buckets().delete("support-kb").await.unwrap();
    assert_api_error(
        embeddings.buckets().retrieve("support-kb").await,
        404,
        "10005",
    );
    assert!(embeddings
        .similarity_search(&SimilaritySearchParams {
            bucket_name: "nothing-here".into(),
            query: "x".into(),
            ..Default::default()
        })
        .await
        .unwrap_err()
        .is_not_found());
}

test_on_both_backends!(buckets_are_filled_embedded_and_searched, |backend| {
    super::buckets_are_filled_embedded_and_searched(spawn(backend).await).await;
});
