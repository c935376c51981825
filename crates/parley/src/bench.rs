//! `parley bench`: a closed-loop HTTP load generator for the assistants hot paths, driving a
//! running server over loopback. Each connection is one HTTP/1.1 keep-alive connection that
//! sends its next request as soon as the previous response has been read; latencies go into
//! an HDR histogram.
//!
//! The `chat-*` scenarios measure `POST /v2/ai/assistants/{id}/chat` (see [`chat`]);
//! `parley bench llm-stub` is the OpenAI-compatible stand-in they run against (see [`stub`]).
//! `scheduler-lag` and `sms-inbound` measure outreach: scheduled events and inbound SMS (see
//! [`outreach`]). `parley bench search` runs a server in process and measures similarity
//! search over buckets of 10,000 and 100,000 chunks (see [`search`]).

mod chat;
mod outreach;
mod search;
mod stub;

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::{Args, Subcommand, ValueEnum};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Longest a benchmark request may take before it counts as an error (and its connection is
/// replaced).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Which request a run sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// `GET /v2/ai/assistants/{id}`.
    Get,
    /// `POST /v2/ai/assistants`.
    Create,
    /// `GET /v2/ai/assistants` over 100 assistants.
    List,
    /// Chat turns against a zero-latency model (`--fast-model`): the server's own cost of a
    /// turn, once with a new conversation per request and once continuing conversations.
    ChatOverhead,
    /// Many conversations at once against a slow model (`--slow-model`): throughput,
    /// latency and errors when turns overlap.
    ChatConcurrent,
    /// Chat turns where the model calls one webhook tool (served by the fast stub at
    /// `--webhook-url`) and then answers: with the webhook's own latency measured alone and a
    /// tool-less turn, the added cost of one tool round.
    ChatTool,
    /// Streamed chat turns with the embedded model (`--embedded-model`): time to first token
    /// and generation speed as a client sees them.
    ChatEmbedded,
    /// Scheduled SMS events (`--events` over `--spread-secs`): how late each reaches the
    /// carrier, which the bench plays on `--carrier-listen`.
    SchedulerLag,
    /// Inbound SMS webhooks (`--messages`, one at a time) to a number assigned to an assistant
    /// on `--fast-model`: the time until the reply reaches the carrier (`--carrier-listen`).
    SmsInbound,
}

impl Scenario {
    /// The name printed in the results (as on the command line).
    fn name(self) -> &'static str {
        match self {
            Scenario::Get => "get",
            Scenario::Create => "create",
            Scenario::List => "list",
            Scenario::ChatOverhead => "chat-overhead",
            Scenario::ChatConcurrent => "chat-concurrent",
            Scenario::ChatEmbedded => "chat-embedded",
            Scenario::ChatTool => "chat-tool",
            Scenario::SchedulerLag => "scheduler-lag",
            Scenario::SmsInbound => "sms-inbound",
        }
    }

    /// Connections when `--connections` is not given.
    fn default_connections(self) -> usize {
        match self {
            Scenario::Get | Scenario::Create | Scenario::List => 64,
            Scenario::ChatOverhead
            | Scenario::ChatEmbedded
            | Scenario::ChatTool
            | Scenario::SchedulerLag
            | Scenario::SmsInbound => 1,
            Scenario::ChatConcurrent => 200,
        }
    }
}

/// Options of `parley bench`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    tool: Option<BenchTool>,
    /// Server base URL (without /v2).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// API key (defaults to PARLEY_API_KEY).
    #[arg(long, env = "PARLEY_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Scenarios to run, in order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "get,list,create"
    )]
    scenarios: Vec<Scenario>,
    /// Concurrent connections [default: 64 for get, list and create; 1 for chat-overhead; 200
    /// for chat-concurrent].
    #[arg(long)]
    connections: Option<usize>,
    /// Seconds each scenario runs (after a 1 s warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Threads of the load generator (the rest of the machine is left to the server).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Label printed with the results (e.g. the backend).
    #[arg(long, default_value = "")]
    label: String,
    #[command(flatten)]
    chat: chat::ChatOptions,
    #[command(flatten)]
    outreach: outreach::OutreachOptions,
}

/// Instruments that run instead of a load test.
#[derive(Debug, Subcommand)]
enum BenchTool {
    /// Serve an OpenAI-compatible chat completions stand-in: a fixed answer after a fixed
    /// latency (the model side of the chat scenarios).
    #[command(name = "llm-stub")]
    LlmStub(stub::StubArgs),
    /// Measure similarity search: a server in this process, buckets of random vectors
    /// written through the store, searches over HTTP with a stub embedding the queries.
    Search(search::SearchArgs),
}

/// Where the load goes.
#[derive(Debug, Clone)]
struct Target {
    host: String,
    authority: String,
    key: String,
}

/// One measured run's results.
struct Outcome {
    requests: u64,
    failures: u64,
    elapsed: Duration,
    latency: Histogram<u64>,
    /// Failures by kind (`HTTP 502`, `timeout`, `transport: …`).
    errors: BTreeMap<String, u64>,
    /// The body of the first failed response.
    first_error: Option<String>,
    /// How busy the whole machine was during the run (every process, not only the server),
    /// in percent of all its cores; `None` where `/proc/stat` is not there.
    host_busy: Option<f64>,
}

impl Outcome {
    fn empty() -> Self {
        Outcome {
            requests: 0,
            failures: 0,
            elapsed: Duration::ZERO,
            latency: new_histogram(),
            errors: BTreeMap::new(),
            first_error: None,
            host_busy: None,
        }
    }

    fn fail(&mut self, kind: String, body: Option<String>) {
        self.failures += 1;
        *self.errors.entry(kind).or_default() += 1;
        if self.first_error.is_none() {
            self.first_error = body;
        }
    }

    fn merge(&mut self, other: Outcome) -> anyhow::Result<()> {
        self.requests += other.requests;
        self.failures += other.failures;
        self.latency.add(&other.latency)?;
        for (kind, count) in other.errors {
            *self.errors.entry(kind).or_default() += count;
        }
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        Ok(())
    }
}

/// The machine's CPU time so far, busy and total, in ticks (Linux).
#[derive(Debug, Clone, Copy)]
struct CpuTimes {
    busy: u64,
    total: u64,
}

impl CpuTimes {
    fn now() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let fields: Vec<u64> = stat
            .lines()
            .next()?
            .strip_prefix("cpu ")?
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal …
        let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
        let total: u64 = fields.iter().take(8).sum();
        Some(CpuTimes {
            busy: total - idle,
            total,
        })
    }

    /// Percent of all cores busy since `self`.
    fn busy_since(self) -> Option<f64> {
        let now = CpuTimes::now()?;
        let total = now.total.checked_sub(self.total)?;
        (total > 0).then(|| (now.busy.saturating_sub(self.busy)) as f64 * 100.0 / total as f64)
    }
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds")
}

/// Builds request `n` of connection `connection`.
type MakeRequest =
    Arc<dyn Fn(usize, u64) -> anyhow::Result<http::Request<Full<Bytes>>> + Send + Sync>;

/// Runs the benchmark (or the instrument) on its own runtime of `--threads` threads and prints
/// one line per scenario.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.tool {
        Some(BenchTool::LlmStub(stub)) => return stub::run(stub),
        Some(BenchTool::Search(search)) => return search::run(search),
        None => {}
    }
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
    let key = args
        .api_key
        .clone()
        .context("an API key is needed: --api-key or PARLEY_API_KEY")?;
    let target = Target {
        host: authority.clone(),
        authority,
        key,
    };
    print_header();
    for scenario in &args.scenarios {
        let connections = args
            .connections
            .unwrap_or_else(|| scenario.default_connections())
            .max(1);
        let seconds = Duration::from_secs(args.seconds);
        match scenario {
            Scenario::ChatOverhead => {
                chat::overhead(&target, &args.chat, &args.label, connections, seconds).await?;
                continue;
            }
            Scenario::ChatConcurrent => {
                chat::concurrent(&target, &args.chat, &args.label, connections, seconds).await?;
                continue;
            }
            Scenario::ChatEmbedded => {
                chat::embedded(&target, &args.chat, &args.label).await?;
                continue;
            }
            Scenario::ChatTool => {
                chat::tool_round(&target, &args.chat, &args.label, connections, seconds).await?;
                continue;
            }
            Scenario::SchedulerLag => {
                outreach::lag(&target, &args.outreach, &args.label).await?;
                continue;
            }
            Scenario::SmsInbound => {
                let model = args.chat.fast_model();
                outreach::inbound(&target, &args.outreach, model, &args.label).await?;
                continue;
            }
            Scenario::Get | Scenario::Create | Scenario::List => {}
        }
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
        let make: MakeRequest = {
            let target = target.clone();
            Arc::new(move |_, _| request(&target, method.clone(), &path, body.clone()))
        };
        // Warm-up, then the measured run.
        load(&target, connections, Duration::from_secs(1), make.clone()).await?;
        let outcome = load(&target, connections, seconds, make).await?;
        print_row(&args.label, scenario.name(), connections, &outcome);
    }
    Ok(())
}

fn print_header() {
    println!(
        "{:<10} {:<22} {:>5} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9}",
        "label",
        "scenario",
        "conns",
        "requests",
        "req/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "errors",
        "host cpu"
    );
}

/// Prints one result line, and what the failures were when there were any. `host cpu` is how
/// busy the whole machine was (load generator, server, database, stubs and anything else).
fn print_row(label: &str, scenario: &str, connections: usize, outcome: &Outcome) {
    let ms = |q: f64| outcome.latency.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{:<10} {:<22} {:>5} {:>10} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>8} {:>9}",
        label,
        scenario,
        connections,
        outcome.requests,
        outcome.requests as f64 / outcome.elapsed.as_secs_f64(),
        ms(0.5),
        ms(0.9),
        ms(0.99),
        outcome.latency.max() as f64 / 1000.0,
        outcome.failures,
        outcome
            .host_busy
            .map_or_else(|| "-".to_owned(), |busy| format!("{busy:.0}%"))
    );
    if outcome.failures > 0 {
        let kinds: Vec<String> = outcome
            .errors
            .iter()
            .map(|(kind, count)| format!("{kind} ×{count}"))
            .collect();
        println!("{:<10}   errors: {}", "", kinds.join(", "));
        if let Some(body) = &outcome.first_error {
            let body: String = body.chars().take(300).collect();
            println!("{:<10}   first error: {body}", "");
        }
    }
}

/// Creates what a scenario needs and returns the path it requests.
async fn prepare(target: &Target, scenario: Scenario) -> anyhow::Result<String> {
    let mut sender = connect(target).await?;
    match scenario {
        Scenario::Get => {
            let body = json!({"name": "Bench seed", "instructions": "Seeded for the benchmark."});
            let id = create_assistant(target, &mut sender, body).await?;
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
                let body =
                    json!({"name": "Bench seed", "instructions": "Seeded for the benchmark."});
                create_assistant(target, &mut sender, body).await?;
            }
            Ok("/v2/ai/assistants".into())
        }
        _ => Ok("/v2/ai/assistants".into()),
    }
}

/// Creates an assistant from `body` and returns its id.
async fn create_assistant(
    target: &Target,
    sender: &mut http1::SendRequest<Full<Bytes>>,
    body: Value,
) -> anyhow::Result<String> {
    let create = request(
        target,
        http::Method::POST,
        "/v2/ai/assistants",
        Bytes::from(body.to_string()),
    )?;
    let (status, body) = send(sender, create).await?;
    if status != 200 {
        bail!(
            "creating the benchmark assistant failed with {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let created: Value = serde_json::from_slice(&body)?;
    Ok(created["id"]
        .as_str()
        .context("created assistant has no id")?
        .to_owned())
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

/// A closed loop of `connections` connections for `duration`, each sending `make`'s requests
/// one after another. A failed exchange (status outside 2xx, transport error, timeout) is
/// counted by kind; after a transport error or a timeout the connection is replaced.
async fn load(
    target: &Target,
    connections: usize,
    duration: Duration,
    make: MakeRequest,
) -> anyhow::Result<Outcome> {
    let mut senders = Vec::with_capacity(connections);
    for _ in 0..connections {
        senders.push(connect(target).await?);
    }
    let cpu = CpuTimes::now();
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::with_capacity(connections);
    for (index, mut sender) in senders.into_iter().enumerate() {
        let make = make.clone();
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut outcome = Outcome::empty();
            let mut n = 0u64;
            while Instant::now() < deadline {
                let req = make(index, n)?;
                n += 1;
                let sent = Instant::now();
                let result = tokio::time::timeout(REQUEST_TIMEOUT, send(&mut sender, req)).await;
                let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                outcome.latency.saturating_record(micros.max(1));
                outcome.requests += 1;
                let broken = match result {
                    Ok(Ok((status, _))) if (200..300).contains(&status) => false,
                    Ok(Ok((status, body))) => {
                        let body = String::from_utf8_lossy(&body).into_owned();
                        outcome.fail(format!("HTTP {status}"), Some(body));
                        false
                    }
                    Ok(Err(e)) => {
                        outcome.fail(format!("transport: {e}"), None);
                        true
                    }
                    Err(_) => {
                        outcome.fail("timeout".into(), None);
                        true
                    }
                };
                if broken {
                    match connect(&target).await {
                        Ok(fresh) => sender = fresh,
                        Err(e) => {
                            outcome.fail(format!("reconnect: {e}"), None);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            }
            anyhow::Ok(outcome)
        }));
    }
    let mut outcome = Outcome::empty();
    for task in tasks {
        outcome.merge(task.await??)?;
    }
    outcome.elapsed = start.elapsed();
    outcome.host_busy = cpu.and_then(CpuTimes::busy_since);
    Ok(outcome)
}
