//! Retrieval quality.
//!
//! `retrieval_recall`: the documents in `tests/fixtures/knowledge` (a fictional bike shop's
//! returns policy, shipping page, warranty, catalogue and FAQ) are embedded through the API
//! with the local model, then each of the 35 questions of `eval.json` is searched; a question
//! is answered at k when one of the first k chunks contains its expected passage. Prints
//! recall@1, recall@5 and ingestion speed; fails if recall drops below the floor. (Search
//! speed at scale is `parley bench search`.)

mod common;

use common::{Backend, TestApp};
use parley_core::apikey;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/knowledge");
const DOCUMENTS: [&str; 5] = [
    "returns.md",
    "shipping.html",
    "warranty.txt",
    "products.csv",
    "faq.json",
];

fn with_models(settings: &mut parley_server::Settings) {
    settings.llm.models_dir = parley_llm::models::default_models_dir(std::env::vars());
}

async fn s3_put(app: &TestApp, path: &str, body: Vec<u8>) {
    let response = app
        .http
        .request(Method::PUT, app.url(path))
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={}/20260301/us-east-1/s3/aws4_request, \
                 SignedHeaders=host, Signature=0",
                app.key
            ),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
}

fn normalize(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrieval_recall() {
    let app = TestApp::spawn_with_settings(Backend::Sqlite, with_models).await;
    s3_put(&app, "/s3/harbor", Vec::new()).await;
    for name in DOCUMENTS {
        s3_put(
            &app,
            &format!("/s3/harbor/{name}"),
            std::fs::read(format!("{FIXTURES}/{name}")).unwrap(),
        )
        .await;
    }
    // Load the model before timing ingestion.
    app.state
        .knowledge
        .local()
        .await
        .expect("the local model loads");
    let created = app
        .post(
            "/v2/ai/embeddings",
            &json!({"bucket_name": "harbor", "document_chunk_size": 400, "document_chunk_overlap_size": 80}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let started = Instant::now();
    app.tick_jobs(chrono::Utc::now()).await;
    let ingestion = started.elapsed();
    let org = app
        .store
        .find_api_key(&apikey::hash(&app.key))
        .await
        .unwrap()
        .unwrap()
        .org_id;
    let files = app.store.list_embedded_files(&org, "harbor").await.unwrap();
    let chunks: u32 = files.iter().map(|f| f.chunks).sum();
    assert!(files.iter().all(|f| f.status == "success"), "{files:?}");

    let questions: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURES}/eval.json")).unwrap())
            .unwrap();
    assert!(questions.len() >= 30);
    let (mut at1, mut at5) = (0, 0);
    let mut latencies = Vec::new();
    let mut misses = Vec::new();
    let mut not_first = Vec::new();
    for item in &questions {
        let question = item["question"].as_str().unwrap();
        let expected = normalize(item["expected"].as_str().unwrap());
        let started = Instant::now();
        let reply = app
            .post(
                "/v2/ai/embeddings/similarity-search",
                &json!({"bucket_name": "harbor", "query": question, "num_of_docs": 5}),
            )
            .await;
        latencies.push(started.elapsed());
        let hits = reply.body["data"].as_array().unwrap();
        let rank = hits
            .iter()
            .position(|h| normalize(h["document_chunk"].as_str().unwrap()).contains(&expected));
        match rank {
            Some(0) => {
                at1 += 1;
                at5 += 1;
            }
            Some(_) => {
                at5 += 1;
                not_first.push(question);
            }
            None => misses.push(question),
        }
    }
    latencies.sort();
    let n = questions.len() as f64;
    let (recall1, recall5) = (at1 as f64 / n, at5 as f64 / n);
    eprintln!(
        "retrieval eval: {} questions over {} documents ({chunks} chunks of ≤400 characters)\n\
         recall@1 = {recall1:.3}, recall@5 = {recall5:.3}\n\
         ingestion: {chunks} chunks in {:.2} s = {:.1} chunks/s\n\
         search (HTTP, query embedding included): p50 {:.1} ms, p99 {:.1} ms\n\
         not first: {not_first:?}\n\
         missed at 5: {misses:?}",
        questions.len(),
        DOCUMENTS.len(),
        ingestion.as_secs_f64(),
        chunks as f64 / ingestion.as_secs_f64(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
    );
    assert!(recall5 >= 0.85, "recall@5 fell to {recall5}");
    assert!(recall1 >= 0.6, "recall@1 fell to {recall1}");
    app.stop().await;
}
