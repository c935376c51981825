//! The local sentence-embedding model (all-MiniLM-L6-v2 converted to GGUF, run by llama.cpp):
//! pulled into the models directory if it is missing, never skipped. Checks the vectors
//! against reference values computed with sentence-transformers, that paraphrases are closer
//! than unrelated sentences, batching, truncation and throughput.

use parley_llm::embeddings::{Embedder, SentenceModel, SentenceModelConfig};
use parley_llm::models::{self, PullOptions, Quiet, ALL_MINILM_L6_V2};
use std::sync::OnceLock;
use std::time::Instant;

fn model() -> &'static SentenceModel {
    static MODEL: OnceLock<SentenceModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = models::default_models_dir(std::env::vars())
            .expect("PARLEY_MODELS_DIR, XDG_CACHE_HOME or HOME must be set");
        models::pull(&ALL_MINILM_L6_V2, &dir, &PullOptions::default(), &Quiet)
            .expect("pull all-MiniLM-L6-v2");
        SentenceModel::load(SentenceModelConfig::minilm(&dir)).expect("load all-MiniLM-L6-v2")
    })
}

async fn loaded() -> &'static SentenceModel {
    tokio::task::spawn_blocking(model).await.unwrap()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paraphrases_are_closer_than_unrelated_sentences() {
    let model = loaded().await;
    assert_eq!(model.dimensions(), 384);
    assert_eq!(model.model(), "sentence-transformers/all-MiniLM-L6-v2");
    let vectors = model
        .embed(vec![
            "How do I return a damaged item?".into(),
            "What is the procedure for sending back a broken product?".into(),
            "The weather in Lisbon is sunny today.".into(),
        ])
        .await
        .unwrap();
    assert_eq!(vectors.len(), 3);
    for v in &vectors {
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "unit vectors: {norm}");
    }
    let close = cosine(&vectors[0], &vectors[1]);
    let far = cosine(&vectors[0], &vectors[2]);
    assert!(close > 0.5, "paraphrases: {close}");
    assert!(far < 0.2, "unrelated: {far}");
    assert!(close > far + 0.4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_gives_the_vectors_of_single_calls() {
    let model = loaded().await;
    let texts: Vec<String> = (0..40)
        .map(|i| format!("Sentence number {i} talks about topic {}.", i % 7))
        .collect();
    let batch = model.embed(texts.clone()).await.unwrap();
    for i in [0usize, 17, 39] {
        let single = model.embed(vec![texts[i].clone()]).await.unwrap();
        let similarity = cosine(&single[0], &batch[i]);
        assert!(similarity > 0.999, "text {i}: {similarity}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_texts_are_cut_not_refused() {
    let model = loaded().await;
    let long = "word ".repeat(5_000);
    let vectors = model.embed(vec![long, String::new()]).await.unwrap();
    assert_eq!(vectors.len(), 2);
}

/// Prints chunks per second for ~200-token chunks (run with `--nocapture` to see it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throughput_of_200_token_chunks() {
    let model = loaded().await;
    let chunk = "Parley keeps every assistant version and routes conversations by canary rules. "
        .repeat(14);
    let texts: Vec<String> = (0..64).map(|i| format!("{i} {chunk}")).collect();
    model.embed(texts[..4].to_vec()).await.unwrap();
    let started = Instant::now();
    model.embed(texts.clone()).await.unwrap();
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "all-MiniLM-L6-v2: {} chunks of ~200 tokens in {seconds:.2} s = {:.1} chunks/s",
        texts.len(),
        texts.len() as f64 / seconds
    );
}
