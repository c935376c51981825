//! Sentence embeddings: one trait, [`Embedder`], with the local model ([`SentenceModel`]:
//! all-MiniLM-L6-v2 run by llama.cpp in this process) and any OpenAI-compatible
//! `POST /embeddings` API ([`OpenAiEmbeddings`]). Vectors come back L2-normalised, so the
//! cosine similarity of two of them is their dot product.
//!
//! The local model ships as safetensors and a WordPiece `tokenizer.json` (`parley models
//! pull`); the first load converts them to a GGUF file beside them ([`gguf::convert_bert`]),
//! later loads reuse it. Texts longer than [`SentenceModel::max_tokens`] are cut to that
//! many tokens (the model was trained on 256). Inference runs on one worker thread that owns
//! the llama.cpp context, never on an async runtime's threads; texts of one call are batched
//! together (up to [`BATCH_TOKENS`] tokens and [`BATCH_SEQUENCES`] texts per decode).

pub mod gguf;

use crate::models::{self, ModelSpec, ALL_MINILM_L6_V2};
use crate::LlmError;
use async_trait::async_trait;
use llama_cpp_2::context::params::{LlamaContextParams, LlamaPoolingType};
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// Most tokens in one decode of the local model (packing more costs attention over the whole
/// pack: 2,048 measured 20% slower than 512).
pub const BATCH_TOKENS: usize = 512;
/// Most texts in one decode of the local model.
pub const BATCH_SEQUENCES: usize = 32;

/// Turns texts into unit vectors.
#[async_trait]
pub trait Embedder: Send + Sync + 'static {
    /// The model's name, as recorded with its vectors.
    fn model(&self) -> &str;

    /// One unit vector per text, in order.
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, LlmError>;
}

/// Scales `vector` to unit length.
fn normalize(vector: &mut [f32]) {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Where the local model's files are and how to run it.
#[derive(Debug, Clone)]
pub struct SentenceModelConfig {
    /// The directory with `model.safetensors` and `tokenizer.json` (and, once converted, the
    /// GGUF file).
    pub dir: PathBuf,
    /// The name vectors are recorded with.
    pub name: String,
    /// Attention heads and layer-norm epsilon (not in the safetensors).
    pub shape: gguf::BertShape,
    /// Tokens per text at most (longer texts are cut).
    pub max_tokens: usize,
    /// Threads of the llama.cpp context (default: the machine's cores).
    pub threads: Option<usize>,
    /// Check the source files' SHA-256 against the catalogue before converting them.
    pub verify: Option<&'static ModelSpec>,
}

impl SentenceModelConfig {
    /// all-MiniLM-L6-v2 in `models_dir`.
    pub fn minilm(models_dir: &Path) -> Self {
        Self {
            dir: ALL_MINILM_L6_V2.dir(models_dir),
            name: ALL_MINILM_L6_V2.display_name.to_owned(),
            shape: gguf::BertShape {
                heads: 12,
                layer_norm_eps: 1e-12,
            },
            max_tokens: 256,
            threads: None,
            verify: Some(&ALL_MINILM_L6_V2),
        }
    }

    /// The converted file's path.
    pub fn gguf_path(&self) -> PathBuf {
        self.dir.join("model.f16.gguf")
    }
}

struct Job {
    texts: Vec<String>,
    reply: oneshot::Sender<Result<Vec<Vec<f32>>, LlmError>>,
}

/// A BERT sentence-embedding model run by llama.cpp in this process (mean pooling).
pub struct SentenceModel {
    name: String,
    dimensions: usize,
    max_tokens: usize,
    jobs: mpsc::Sender<Job>,
    load_time: Duration,
}

impl std::fmt::Debug for SentenceModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentenceModel")
            .field("name", &self.name)
            .field("dimensions", &self.dimensions)
            .finish()
    }
}

impl SentenceModel {
    /// Converts the model to GGUF if that was not done yet, loads it and starts its worker.
    /// Blocking (a conversion takes about a second, a load a tenth): call it from a blocking
    /// thread.
    pub fn load(config: SentenceModelConfig) -> Result<Self, LlmError> {
        let started = std::time::Instant::now();
        let gguf_path = config.gguf_path();
        if !gguf_path.exists() {
            let safetensors = config.dir.join("model.safetensors");
            let tokenizer = config.dir.join("tokenizer.json");
            if let Some(spec) = config.verify {
                for file in spec.files {
                    models::verify_file(&config.dir.join(file.name), file.sha256, &models::Quiet)
                        .map_err(|e| LlmError::Model(e.to_string()))?;
                }
            }
            gguf::convert_bert(
                &safetensors,
                &tokenizer,
                config.shape,
                &config.name,
                &gguf_path,
            )
            .map_err(|e| {
                LlmError::Model(format!(
                    "cannot convert {} to GGUF: {e}",
                    safetensors.display()
                ))
            })?;
        }
        let backend = crate::embedded::backend()?;
        let model = LlamaModel::load_from_file(backend, &gguf_path, &LlamaModelParams::default())
            .map_err(|e| {
            LlmError::Model(format!("cannot load {}: {e}", gguf_path.display()))
        })?;
        let dimensions = usize::try_from(model.n_embd()).unwrap_or(0);
        let max_tokens = config
            .max_tokens
            .min(model.n_ctx_train() as usize)
            .clamp(2, BATCH_TOKENS);
        let threads = config
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let (jobs, queue) = mpsc::channel::<Job>();
        let (ready_sender, ready) = mpsc::sync_channel(1);
        let model = Arc::new(model);
        std::thread::Builder::new()
            .name("embeddings".into())
            .spawn(move || worker(model, threads, max_tokens, queue, ready_sender))
            .map_err(|e| LlmError::Model(format!("cannot start the embedding thread: {e}")))?;
        match ready.recv() {
            Ok(Ok(())) => {}
            Ok(Err(message)) => return Err(LlmError::Model(message)),
            Err(_) => return Err(LlmError::Model("the embedding thread died".into())),
        }
        let load_time = started.elapsed();
        tracing::info!(model = %config.name, dimensions, load_ms = load_time.as_millis() as u64, "embedding model loaded");
        Ok(Self {
            name: config.name,
            dimensions,
            max_tokens,
            jobs,
            load_time,
        })
    }

    /// The vectors' dimension.
    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// Tokens per text at most.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// How long [`load`](Self::load) took (conversion included).
    pub fn load_time(&self) -> Duration {
        self.load_time
    }
}

#[async_trait]
impl Embedder for SentenceModel {
    fn model(&self) -> &str {
        &self.name
    }

    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, LlmError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { texts, reply })
            .map_err(|_| LlmError::Model("the embedding thread has stopped".into()))?;
        answer
            .await
            .map_err(|_| LlmError::Model("the embedding thread dropped a request".into()))?
    }
}

fn worker(
    model: Arc<LlamaModel>,
    threads: usize,
    max_tokens: usize,
    queue: mpsc::Receiver<Job>,
    ready: mpsc::SyncSender<Result<(), String>>,
) {
    let threads = i32::try_from(threads).unwrap_or(1);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(BATCH_TOKENS as u32))
        .with_n_batch(BATCH_TOKENS as u32)
        .with_n_ubatch(BATCH_TOKENS as u32)
        .with_n_seq_max(BATCH_SEQUENCES as u32)
        .with_n_threads(threads)
        .with_n_threads_batch(threads)
        .with_embeddings(true)
        .with_pooling_type(LlamaPoolingType::Mean);
    let context = crate::embedded::backend().and_then(|backend| {
        model
            .new_context(backend, params)
            .map_err(|e| LlmError::Model(format!("cannot create an embedding context: {e}")))
    });
    let mut context = match context {
        Ok(context) => {
            let _ = ready.send(Ok(()));
            context
        }
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return;
        }
    };
    let mut batch = LlamaBatch::new(BATCH_TOKENS, BATCH_SEQUENCES as i32);
    let vocab = model.vocab();
    let separator = vocab.sep();
    while let Ok(job) = queue.recv() {
        if job.reply.is_closed() {
            continue;
        }
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let tokenized: Vec<Vec<_>> = job
                .texts
                .iter()
                .map(|text| {
                    let mut tokens = vocab.tokenize(text.as_bytes(), true, false);
                    if tokens.len() > max_tokens {
                        tokens.truncate(max_tokens - 1);
                        tokens.push(separator);
                    }
                    tokens
                })
                .collect();
            let mut vectors: Vec<Vec<f32>> = Vec::with_capacity(tokenized.len());
            let mut next = 0;
            while next < tokenized.len() {
                batch.clear();
                let first = next;
                let mut used = 0;
                while next < tokenized.len()
                    && next - first < BATCH_SEQUENCES
                    && (next == first || used + tokenized[next].len() <= BATCH_TOKENS)
                {
                    let seq = (next - first) as i32;
                    for (pos, token) in tokenized[next].iter().enumerate() {
                        batch
                            .add(*token, pos as i32, &[seq], true)
                            .map_err(|e| LlmError::Model(format!("batch: {e}")))?;
                    }
                    used += tokenized[next].len();
                    next += 1;
                }
                context
                    .decode(&mut batch)
                    .map_err(|e| LlmError::Model(format!("decode failed: {e}")))?;
                for seq in 0..(next - first) {
                    let mut vector = context
                        .embeddings_seq_ith(seq as i32)
                        .map_err(|e| LlmError::Model(format!("no embedding: {e}")))?
                        .to_vec();
                    normalize(&mut vector);
                    vectors.push(vector);
                }
            }
            Ok(vectors)
        }))
        .unwrap_or_else(|_| Err(LlmError::Model("embedding panicked".into())));
        let _ = job.reply.send(result);
    }
}

/// An OpenAI-compatible `POST {base_url}/embeddings` API.
#[derive(Debug, Clone)]
pub struct OpenAiEmbeddings {
    http: reqwest::Client,
    url: String,
    api_key: Option<String>,
    upstream_model: String,
    name: String,
}

impl OpenAiEmbeddings {
    /// Embeds with `upstream_model` at `base_url` (`/embeddings` is appended); vectors are
    /// recorded as made by `name`.
    pub fn new(
        base_url: &str,
        api_key: Option<String>,
        upstream_model: &str,
        name: &str,
        timeout: Duration,
    ) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .unwrap_or_default(),
            url: format!("{}/embeddings", base_url.trim_end_matches('/')),
            api_key,
            upstream_model: upstream_model.to_owned(),
            name: name.to_owned(),
        }
    }
}

#[async_trait]
impl Embedder for OpenAiEmbeddings {
    fn model(&self) -> &str {
        &self.name
    }

    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, LlmError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let count = texts.len();
        let mut request = self.http.post(&self.url).json(&serde_json::json!({
            "model": self.upstream_model,
            "input": texts,
        }));
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                LlmError::Timeout
            } else {
                LlmError::Unreachable(e.to_string())
            }
        })?;
        let status = response.status();
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| LlmError::BadResponse(e.to_string()))?;
        if !status.is_success() {
            return Err(LlmError::UpstreamStatus {
                status: status.as_u16(),
                message: body["error"]["message"]
                    .as_str()
                    .map_or_else(|| body.to_string(), str::to_owned),
            });
        }
        let mut vectors: Vec<(usize, Vec<f32>)> = body["data"]
            .as_array()
            .ok_or_else(|| LlmError::BadResponse("no data array".into()))?
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let index = item["index"].as_u64().map_or(i, |n| n as usize);
                let vector: Option<Vec<f32>> = item["embedding"].as_array().map(|v| {
                    v.iter()
                        .filter_map(|x| x.as_f64().map(|x| x as f32))
                        .collect()
                });
                vector
                    .map(|v| (index, v))
                    .ok_or_else(|| LlmError::BadResponse("an item has no embedding".into()))
            })
            .collect::<Result<_, _>>()?;
        if vectors.len() != count {
            return Err(LlmError::BadResponse(format!(
                "{} embeddings for {count} inputs",
                vectors.len()
            )));
        }
        vectors.sort_by_key(|(index, _)| *index);
        Ok(vectors
            .into_iter()
            .map(|(_, mut v)| {
                normalize(&mut v);
                v
            })
            .collect())
    }
}
