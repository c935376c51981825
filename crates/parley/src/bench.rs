//! `parley bench`: a closed-loop HTTP load generator for the assistants hot paths, driving a
//! running server over loopback. Each connection is one HTTP/1.1 keep-alive connection that
//! sends its next request as soon as the previous response has been read; latencies go into
//! an HDR histogram.

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::{Args, ValueEnum};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Which request a run sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// `GET /v2/ai/assistants/{id}`.
    Get,
    /// `POST /v2/ai/assistants`.
    Create,
    /// `GET /v2/ai/assistants` over 100 assistants.
    List,
}

/// Options of `parley bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Server base URL (without /v2).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// API key (defaults to PARLEY_API_KEY).
    #[arg(long, env = "PARLEY_API_KEY", hide_env_values = true)]
    api_key: String,
    /// Scenarios to run, in order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "get,list,create"
    )]
    scenarios: Vec<Scenario>,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds each scenario runs (after a 1 s warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Threads of the load generator (the rest of the machine is left to the server).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Label printed with the results (e.g. the backend).
    #[arg(long, default_value = "")]
    label: String,
}

struct Target {
    host: String,
    authority: String,
    key: String,
}

/// One scenario's results.
struct Outcome {
    requests: u64,
    failures: u64,
    elapsed: Duration,
    latency: Histogram<u64>,
}

/// Runs the benchmark on its own runtime of `--threads` threads and prints one line per
/// scenario.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(run_scenarios(args))
}

async fn run_scenarios(args: BenchArgs) -> anyhow::Result<()> {
    let authority = args
        .url
        .strip_prefix("http://")
        .context("--url must be http://HOST:PORT")?
        .trim_end_matches('/')
        .to_owned();
    let target = Target {
        host: authority.clone(),
        authority,
        key: args.api_key.clone(),
    };
    println!(
        "{:<10} {:<8} {:>5} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>8}",
        "label",
        "scenario",
        "conns",
        "requests",
        "req/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "errors"
    );
    for scenario in &args.scenarios {
        let path = prepare(&target, *scenario).await?;
        let (method, body) = match scenario {
            Scenario::Create => (
                http::Method::POST,
                Bytes::from(
                    json!({"name": "Bench", "instructions": "You are a benchmark assistant.", "tools": [{"type": "hangup", "hangup": {}}]})
                        .to_string(),
                ),
            ),
            _ => (http::Method::GET, Bytes::new()),
        };
        // Warm-up, then the measured run.
        load(
            &target,
            &method,
            &path,
            &body,
            args.connections,
            Duration::from_secs(1),
        )
        .await?;
        let outcome = load(
            &target,
            &method,
            &path,
            &body,
            args.connections,
            Duration::from_secs(args.seconds),
        )
        .await?;
        let ms = |q: f64| outcome.latency.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "{:<10} {:<8} {:>5} {:>10} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>8}",
            args.label,
            format!("{scenario:?}").to_lowercase(),
            args.connections,
            outcome.requests,
            outcome.requests as f64 / outcome.elapsed.as_secs_f64(),
            ms(0.5),
            ms(0.9),
            ms(0.99),
            outcome.latency.max() as f64 / 1000.0,
            outcome.failures
        );
    }
    Ok(())
}

/// Creates what a scenario needs and returns the path it requests.
async fn prepare(target: &Target, scenario: Scenario) -> anyhow::Result<String> {
    let mut sender = connect(target).await?;
    let create = || {
        let body = Bytes::from(
            json!({"name": "Bench seed", "instructions": "Seeded for the benchmark."}).to_string(),
        );
        request(target, http::Method::POST, "/v2/ai/assistants", body)
    };
    match scenario {
        Scenario::Create => Ok("/v2/ai/assistants".into()),
        Scenario::Get => {
            let (status, body) = send(&mut sender, create()?).await?;
            if status != 200 {
                bail!(
                    "creating the benchmark assistant failed with {status}: {}",
                    String::from_utf8_lossy(&body)
                );
            }
            let created: Value = serde_json::from_slice(&body)?;
            let id = created["id"]
                .as_str()
                .context("created assistant has no id")?;
            Ok(format!("/v2/ai/assistants/{id}"))
        }
        Scenario::List => {
            // Make sure exactly 100 live assistants exist is not possible without deleting the
            // user's; require an organization with at most 100 and top it up to 100.
            let (status, body) = send(
                &mut sender,
                request(target, http::Method::GET, "/v2/ai/assistants", Bytes::new())?,
            )
            .await?;
            if status != 200 {
                bail!("listing assistants failed with {status}");
            }
            let listed: Value = serde_json::from_slice(&body)?;
            let count = listed["data"].as_array().map_or(0, Vec::len);
            if count > 100 {
                bail!("the list scenario wants an organization with at most 100 assistants; this one has {count}");
            }
            for _ in count..100 {
                let (status, _) = send(&mut sender, create()?).await?;
                if status != 200 {
                    bail!("seeding assistants failed with {status}");
                }
            }
            Ok("/v2/ai/assistants".into())
        }
    }
}

async fn connect(target: &Target) -> anyhow::Result<http1::SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(&target.host)
        .await
        .with_context(|| format!("cannot connect to {}", target.host))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

fn request(
    target: &Target,
    method: http::Method,
    path: &str,
    body: Bytes,
) -> anyhow::Result<http::Request<Full<Bytes>>> {
    Ok(http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, &target.authority)
        .header(
            http::header::AUTHORIZATION,
            format!("Bearer {}", target.key),
        )
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json")
        .body(Full::new(body))?)
}

async fn send(
    sender: &mut http1::SendRequest<Full<Bytes>>,
    request: http::Request<Full<Bytes>>,
) -> anyhow::Result<(u16, Bytes)> {
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

async fn load(
    target: &Target,
    method: &http::Method,
    path: &str,
    body: &Bytes,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Outcome> {
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let mut sender = connect(target).await?;
        let (method, path, body) = (method.clone(), path.to_owned(), body.clone());
        let authority = target.authority.clone();
        let key = target.key.clone();
        tasks.push(tokio::spawn(async move {
            let mut latency =
                Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
            let (mut requests, mut failures) = (0u64, 0u64);
            let target = Target {
                host: authority.clone(),
                authority,
                key,
            };
            while Instant::now() < deadline {
                let req = request(&target, method.clone(), &path, body.clone())?;
                let sent = Instant::now();
                let (status, _) = send(&mut sender, req).await?;
                let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                latency.saturating_record(micros.max(1));
                requests += 1;
                if !(200..300).contains(&status) {
                    failures += 1;
                }
            }
            anyhow::Ok((requests, failures, latency))
        }));
    }
    let mut outcome = Outcome {
        requests: 0,
        failures: 0,
        elapsed: Duration::ZERO,
        latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds"),
    };
    for task in tasks {
        let (requests, failures, latency) = task.await??;
        outcome.requests += requests;
        outcome.failures += failures;
        outcome.latency.add(&latency)?;
    }
    outcome.elapsed = start.elapsed();
    Ok(outcome)
}
