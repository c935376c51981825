//! `parley bench search`: similarity search over large buckets.
//!
//! The server runs in this process (`Application::build`, port 0), on SQLite in a temporary
//! data directory and — with `--database-url` — on that PostgreSQL database. For each size of
//! `--chunks` a new bucket is filled through the store with that many random 384-dimension
//! unit vectors (files of 1,000 chunks, as an embedding task writes them), recorded as made by
//! `thenlper/gte-large`, which an `[[embedding_models]]` entry maps to the in-process stub of
//! [`super::stub`]: a query's vector comes back at once, so the figures are the server's
//! search — HTTP, the bucket's version check, the exact scan, reading the hits — and not a
//! model's. The first search of a bucket loads its vectors into the node's cache and is
//! reported alone; then `--queries` searches (`POST /v2/ai/embeddings/similarity-search`, one
//! at a time over one keep-alive connection, a different query text each) give p50, p90, p99
//! and max. The scan alone (the cached matrix's top-k, in process) and the stub's own round
//! trip are printed beside them. The buckets are removed afterwards.

use super::stub::{self, unit_vector, EMBEDDING_DIMENSIONS};
use super::{connect, new_histogram, request, send, Target};
use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Args;
use hdrhistogram::Histogram;
use parley_core::apikey;
use parley_core::ids::OrgId;
use parley_core::knowledge::{vectors, EmbeddingParams};
use parley_server::settings::{JobSettings, KnowledgeSettings, LlmSettings, ModelRoute};
use parley_server::{Application, Settings};
use parley_store::{EmbeddedFile, NewChunk};
use serde_json::json;
use std::time::{Duration, Instant};

/// The contract model name the buckets are recorded as embedded by.
const MODEL: &str = "thenlper/gte-large";
/// Chunks per file written.
const CHUNKS_PER_FILE: usize = 1000;
/// The bench's key for the in-process server.
const KEY: &str = "parley-bench-search-key";

/// Options of `parley bench search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Bucket sizes to measure, in chunks (one new bucket each).
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    chunks: Vec<usize>,
    /// Measured searches per size, after the first one.
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// Results per search (`num_of_docs`).
    #[arg(long, default_value_t = 5)]
    top_k: u32,
    /// Also measure on this PostgreSQL database (a scratch one: migrations are applied).
    #[arg(long)]
    database_url: Option<String>,
    /// Worker threads of the runtime that the server, the stub and the client share
    /// [default: the machine's cores].
    #[arg(long)]
    threads: Option<usize>,
}

/// Runs the search benchmark on its own runtime and prints one line per backend and size.
pub fn run(args: SearchArgs) -> anyhow::Result<()> {
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
    });
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()?
        .block_on(run_all(args))
}

async fn run_all(args: SearchArgs) -> anyhow::Result<()> {
    if args.chunks.contains(&0) {
        bail!("--chunks sizes must be positive");
    }
    if let Some(url) = &args.database_url {
        if !url.starts_with("postgres") {
            bail!("--database-url must be a postgres:// URL (SQLite is always measured)");
        }
    }
    let stub = stub::spawn_in_process().await?;
    let round_trip = stub_round_trip(&stub, args.queries.max(1)).await?;
    println!(
        "embeddings stub round trip (the query's vector, inside every search): p50 {:.2} ms, \
         p99 {:.2} ms",
        ms(&round_trip, 0.5),
        ms(&round_trip, 0.99)
    );
    println!(
        "{:<10} {:>8} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9} {:>7}",
        "backend",
        "chunks",
        "write s",
        "first ms",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "scan p50",
        "scan p99",
        "errors"
    );
    let data_dir = tempfile::tempdir()?;
    let mut backends = vec![("sqlite", None)];
    if let Some(url) = &args.database_url {
        backends.push(("postgres", Some(url.clone())));
    }
    for (label, database_url) in backends {
        let settings = Settings {
            listen: "127.0.0.1:0".parse()?,
            data_dir: data_dir.path().join(label),
            database_url,
            api_key: Some(KEY.to_owned()),
            llm: LlmSettings {
                pull_models: false,
                ..Default::default()
            },
            jobs: JobSettings {
                worker: false,
                ..Default::default()
            },
            knowledge: KnowledgeSettings {
                embedding_models: vec![ModelRoute {
                    name: MODEL.to_owned(),
                    base_url: stub.clone(),
                    model: None,
                    api_key: None,
                    context_tokens: None,
                }],
                ..Default::default()
            },
            ..Default::default()
        };
        let app = Application::build(settings).await?;
        let target = Target {
            host: app.local_addr().to_string(),
            authority: app.local_addr().to_string(),
            key: KEY.to_owned(),
        };
        let state = app.state();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        let result = async {
            for &total in &args.chunks {
                one_size(&state, &target, label, total, &args).await?;
            }
            anyhow::Ok(())
        }
        .await;
        let _ = stop.send(());
        server.await??;
        result?;
    }
    Ok(())
}

/// Fills a bucket of `total` chunks, searches it and prints the line.
async fn one_size(
    state: &parley_server::state::AppState,
    target: &Target,
    label: &str,
    total: usize,
    args: &SearchArgs,
) -> anyhow::Result<()> {
    let store = &state.store;
    let org: OrgId = store
        .find_api_key(&apikey::hash(KEY))
        .await?
        .context("the bench key is missing")?
        .org_id;
    let bucket = format!(
        "bench-search-{total}-{}",
        chrono::Utc::now().timestamp_millis()
    );
    let now = chrono::Utc::now();
    store.create_bucket(&org, &bucket, now).await?;
    let params = EmbeddingParams::default();
    store
        .start_bucket_embedding(&org, &bucket, MODEL, &params.to_json(), now)
        .await?;
    let started = Instant::now();
    for file in 0..total.div_ceil(CHUNKS_PER_FILE) {
        let first = file * CHUNKS_PER_FILE;
        let chunks: Vec<NewChunk> = (first..total.min(first + CHUNKS_PER_FILE))
            .map(|id| NewChunk {
                text: format!("synthetic chunk {id}"),
                vector: vectors::to_bytes(&unit_vector(id as u64, EMBEDDING_DIMENSIONS)),
                metadata: Default::default(),
            })
            .collect();
        let file = EmbeddedFile {
            filename: format!("file-{file}.txt"),
            checksum: "0".into(),
            fingerprint: params.fingerprint(MODEL),
            source: "synthetic".into(),
        };
        store
            .replace_file_chunks(&org, &bucket, &file, MODEL, chunks, chrono::Utc::now())
            .await?;
    }
    let written = started.elapsed();

    let mut sender = connect(target).await?;
    let path = "/v2/ai/embeddings/similarity-search";
    let mut search = async |query: String| {
        let body = json!({"bucket_name": bucket, "query": query, "num_of_docs": args.top_k});
        let request = request(
            target,
            http::Method::POST,
            path,
            Bytes::from(body.to_string()),
        )?;
        let started = Instant::now();
        let (status, body) = send(&mut sender, request).await?;
        anyhow::Ok((started.elapsed(), status, body))
    };
    let (first, status, body) = search("the first query".into()).await?;
    if status != 200 {
        bail!(
            "search failed with {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let mut latency = new_histogram();
    let mut errors = 0;
    for i in 0..args.queries {
        let (took, status, _) = search(format!("question number {i} about bikes")).await?;
        if status == 200 {
            latency.saturating_record(micros(took));
        } else {
            errors += 1;
        }
    }

    let cached = state
        .knowledge
        .vectors(state, &org, &bucket)
        .await?
        .context("the bucket's vectors")?;
    let mut scans = new_histogram();
    for i in 0..args.queries as u64 {
        let query = unit_vector(1_000_000 + i, EMBEDDING_DIMENSIONS);
        let started = Instant::now();
        std::hint::black_box(cached.matrix.top_k(&query, args.top_k as usize));
        scans.saturating_record(micros(started.elapsed()));
    }
    println!(
        "{:<10} {:>8} {:>8.1} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>9.2} {:>9.2} {:>7}",
        label,
        total,
        written.as_secs_f64(),
        first.as_secs_f64() * 1000.0,
        ms(&latency, 0.5),
        ms(&latency, 0.9),
        ms(&latency, 0.99),
        latency.max() as f64 / 1000.0,
        ms(&scans, 0.5),
        ms(&scans, 0.99),
        errors
    );
    store.delete_bucket_embeddings(&org, &bucket).await?;
    store.delete_bucket(&org, &bucket).await?;
    Ok(())
}

/// The stub's `POST /embeddings` round trip for one query, `n` times.
async fn stub_round_trip(stub: &str, n: usize) -> anyhow::Result<Histogram<u64>> {
    let authority = stub
        .strip_prefix("http://")
        .and_then(|rest| rest.strip_suffix("/v1"))
        .context("the stub's URL")?
        .to_owned();
    let target = Target {
        host: authority.clone(),
        authority,
        key: "none".into(),
    };
    let mut sender = connect(&target).await?;
    let mut latency = new_histogram();
    for i in 0..n {
        let body = json!({"model": MODEL, "input": [format!("question number {i} about bikes")]});
        let request = request(
            &target,
            http::Method::POST,
            "/v1/embeddings",
            Bytes::from(body.to_string()),
        )?;
        let started = Instant::now();
        let (status, _) = send(&mut sender, request).await?;
        if status != 200 {
            bail!("the embeddings stub answered {status}");
        }
        latency.saturating_record(micros(started.elapsed()));
    }
    Ok(latency)
}

fn micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Quantile `q` in milliseconds.
fn ms(histogram: &Histogram<u64>, q: f64) -> f64 {
    histogram.value_at_quantile(q) as f64 / 1000.0
}
