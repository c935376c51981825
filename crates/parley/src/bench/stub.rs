//! `parley bench llm-stub`: an OpenAI-compatible chat completions stand-in for load tests.
//!
//! Every `POST …/chat/completions` is answered after a fixed latency with a fixed answer of
//! `--tokens` tokens (fewer when the request's `max_tokens` asks for fewer), as one JSON
//! completion or — when the request says `"stream": true` — as server-sent events: one
//! `chat.completion.chunk` per token, a final chunk with `finish_reason: "stop"`, a usage
//! chunk when `stream_options.include_usage` is set, and `data: [DONE]`. The latency is spent
//! before the response headers (time to first token); `--token-interval-ms` adds a pause
//! between streamed tokens. Prompt tokens are estimated at four bytes a token.
//!
//! `POST …/embeddings` answers OpenAI-style embeddings: for each input a 384-dimension unit
//! vector derived from a hash of its text ([`text_vector`]), at once — the model side of the
//! `search` benchmark, which then measures the server's search and not a model.
//!
//! `GET /stats` answers `{"requests", "in_flight", "max_in_flight"}` (a request is in flight
//! from its arrival until its last byte is queued), which shows how much concurrency actually
//! reached the model side of a benchmark.

use bytes::Bytes;
use clap::Args;
use futures::StreamExt as _;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::convert::Infallible;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Options of `parley bench llm-stub`.
#[derive(Debug, Args)]
pub struct StubArgs {
    /// Address to listen on; port 0 picks a free one (the address is printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Milliseconds before the response headers (time to first token).
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Tokens in every answer.
    #[arg(long, default_value_t = 20)]
    tokens: u32,
    /// Milliseconds between two streamed tokens.
    #[arg(long, default_value_t = 0)]
    token_interval_ms: u64,
    /// Threads of the stub's runtime.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// Counters shared by the connections.
#[derive(Debug, Default)]
struct Stats {
    requests: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
}

/// Counts a request in flight until dropped.
struct InFlight(Arc<Stats>);

impl InFlight {
    fn new(stats: &Arc<Stats>) -> Self {
        stats.requests.fetch_add(1, Ordering::Relaxed);
        let now = stats.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        stats.max_in_flight.fetch_max(now, Ordering::Relaxed);
        InFlight(stats.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What every request is answered with.
#[derive(Debug, Clone, Copy)]
struct Behaviour {
    latency: Duration,
    tokens: u32,
    token_interval: Duration,
}

type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Runs the stub until SIGINT/SIGTERM on its own runtime.
pub fn run(args: StubArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(serve(args))
}

async fn serve(args: StubArgs) -> anyhow::Result<()> {
    let listener = TcpListener::bind(&args.listen).await?;
    let addr = listener.local_addr()?;
    let behaviour = Behaviour {
        latency: Duration::from_millis(args.latency_ms),
        tokens: args.tokens.max(1),
        token_interval: Duration::from_millis(args.token_interval_ms),
    };
    println!(
        "llm-stub listening on http://{addr}/v1 (latency {} ms, {} tokens, {} ms between tokens)",
        args.latency_ms, behaviour.tokens, args.token_interval_ms
    );
    std::io::stdout().flush()?;
    let stats = Arc::new(Stats::default());
    tokio::select! {
        () = accept(listener, behaviour, stats.clone()) => {}
        () = parley_server::startup::shutdown_signal() => {}
    }
    eprintln!(
        "llm-stub: served {} requests, at most {} at once",
        stats.requests.load(Ordering::Relaxed),
        stats.max_in_flight.load(Ordering::Relaxed)
    );
    Ok(())
}

/// Starts a stub with no latency on a free loopback port, on the current runtime, for
/// scenarios that run the server in process; returns its API root (`http://…/v1`).
pub(super) async fn spawn_in_process() -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let behaviour = Behaviour {
        latency: Duration::ZERO,
        tokens: 20,
        token_interval: Duration::ZERO,
    };
    tokio::spawn(accept(listener, behaviour, Arc::default()));
    Ok(format!("http://{addr}/v1"))
}

/// Accepts connections and serves each on its own task, forever.
async fn accept(listener: TcpListener, behaviour: Behaviour, stats: Arc<Stats>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait a little and go on.
                eprintln!("llm-stub: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let stats = stats.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(request, behaviour, stats.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn full(status: u16, content_type: &str, body: impl Into<Bytes>) -> http::Response<Body> {
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(Full::new(body.into()).boxed_unsync())
        .expect("a valid response")
}

async fn handle(
    request: http::Request<Incoming>,
    behaviour: Behaviour,
    stats: Arc<Stats>,
) -> Result<http::Response<Body>, Infallible> {
    let path = request.uri().path().to_owned();
    if request.method() == http::Method::GET && path == "/stats" {
        let body = json!({
            "requests": stats.requests.load(Ordering::Relaxed),
            "in_flight": stats.in_flight.load(Ordering::Relaxed),
            "max_in_flight": stats.max_in_flight.load(Ordering::Relaxed),
        });
        return Ok(full(200, "application/json", body.to_string()));
    }
    if request.method() == http::Method::POST && path == "/hook" {
        // A webhook tool's target: answers at once (the tool-round scenario).
        let _ = request.into_body().collect().await;
        return Ok(full(
            200,
            "application/json",
            r#"{"ok":true,"status":"shipped"}"#,
        ));
    }
    if request.method() == http::Method::POST && path.ends_with("/embeddings") {
        let _guard = InFlight::new(&stats);
        let body = request.into_body().collect().await.map(|c| c.to_bytes());
        let parsed = body
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        return Ok(match parsed {
            Some(parsed) => full(200, "application/json", embeddings(&parsed).to_string()),
            None => {
                let body = json!({"error": {"message": "the body is not JSON"}});
                full(400, "application/json", body.to_string())
            }
        });
    }
    if request.method() != http::Method::POST || !path.ends_with("/chat/completions") {
        let body = json!({"error": {"message": format!("no route for {path}")}});
        return Ok(full(404, "application/json", body.to_string()));
    }
    let guard = InFlight::new(&stats);
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let body = json!({"error": {"message": format!("cannot read the body: {e}")}});
            return Ok(full(400, "application/json", body.to_string()));
        }
    };
    let Ok(parsed) = serde_json::from_slice::<Value>(&body) else {
        let body = json!({"error": {"message": "the body is not JSON"}});
        return Ok(full(400, "application/json", body.to_string()));
    };
    // Offered tools and the turn's last message from the user: call the first tool.
    let last_role = parsed["messages"]
        .as_array()
        .and_then(|m| m.last())
        .map(|m| m["role"].clone());
    if let (Some(tool), Some(Value::String(role))) =
        (parsed["tools"][0]["function"]["name"].as_str(), last_role)
    {
        if role == "user" {
            drop(guard);
            let call = json!({"index": 0, "id": "call_bench", "type": "function",
                              "function": {"name": tool, "arguments": "{}"}});
            if parsed["stream"] == Value::Bool(true) {
                let chunk = |choices: Value| {
                    format!(
                        "data: {}\n\n",
                        json!({"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 0, "model": "stub", "choices": choices})
                    )
                };
                let body = [
                    chunk(json!([{"index": 0, "delta": {"role": "assistant", "tool_calls": [call]}, "finish_reason": null}])),
                    chunk(json!([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}])),
                    "data: [DONE]\n\n".to_owned(),
                ]
                .concat();
                return Ok(full(200, "text/event-stream", body));
            }
            let whole = json!({"id": "chatcmpl-stub", "object": "chat.completion", "created": 0, "model": "stub",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": [call]}, "finish_reason": "tool_calls"}]});
            return Ok(full(200, "application/json", whole.to_string()));
        }
    }
    let answer = Answer::for_request(&parsed, behaviour.tokens);
    if !behaviour.latency.is_zero() {
        tokio::time::sleep(behaviour.latency).await;
    }
    if parsed["stream"] != Value::Bool(true) {
        drop(guard);
        return Ok(full(200, "application/json", answer.whole().to_string()));
    }
    let frames = answer.chunks(parsed["stream_options"]["include_usage"] == Value::Bool(true));
    let interval = behaviour.token_interval;
    let body = if interval.is_zero() {
        drop(guard);
        let all: Vec<u8> = frames.concat();
        Full::new(Bytes::from(all)).boxed_unsync()
    } else {
        let stream = futures::stream::iter(frames.into_iter().enumerate()).then(
            move |(index, frame)| async move {
                if index > 0 {
                    tokio::time::sleep(interval).await;
                }
                Ok::<_, Infallible>(Frame::data(Bytes::from(frame)))
            },
        );
        // The guard lives as long as the stream: in flight until the last token.
        let stream = stream.map(move |frame| {
            let _keep = &guard;
            frame
        });
        StreamBody::new(stream).boxed_unsync()
    };
    Ok(http::Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, "text/event-stream")
        .header(http::header::CACHE_CONTROL, "no-cache")
        .body(body)
        .expect("a valid response"))
}

/// Dimensions of the vectors `POST …/embeddings` answers with (all-MiniLM-L6-v2's).
pub(super) const EMBEDDING_DIMENSIONS: usize = 384;

/// An OpenAI `embeddings` response to `request`: one vector per input (a string or an array
/// of strings).
fn embeddings(request: &Value) -> Value {
    let inputs: Vec<&str> = match &request["input"] {
        Value::String(text) => vec![text.as_str()],
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().unwrap_or_default())
            .collect(),
        _ => Vec::new(),
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            json!({"object": "embedding", "index": index,
                   "embedding": text_vector(text, EMBEDDING_DIMENSIONS)})
        })
        .collect();
    let tokens: usize = inputs.iter().map(|t| t.len().div_ceil(4)).sum();
    json!({
        "object": "list",
        "data": data,
        "model": request["model"].as_str().unwrap_or("stub"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    })
}

/// The stub's vector for `text`: [`unit_vector`] seeded by the text's FNV-1a hash.
pub(super) fn text_vector(text: &str, dimensions: usize) -> Vec<f32> {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    unit_vector(hash, dimensions)
}

/// A deterministic pseudo-random unit vector (xorshift from `seed`).
pub(super) fn unit_vector(seed: u64, dimensions: usize) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut vector: Vec<f32> = (0..dimensions)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 20_000) as f32 / 10_000.0 - 1.0
        })
        .collect();
    parley_core::knowledge::vectors::normalize(&mut vector);
    vector
}

/// The fixed answer to one request.
struct Answer {
    model: String,
    prompt_tokens: u64,
    tokens: Vec<String>,
}

/// Words the answer is made of, one token each.
const WORDS: [&str; 8] = [
    "Certainly",
    " here",
    " is",
    " a",
    " fixed",
    " benchmark",
    " answer",
    ".",
];

impl Answer {
    fn for_request(request: &Value, tokens: u32) -> Self {
        let limit = request["max_tokens"]
            .as_u64()
            .map_or(tokens, |m| tokens.min(u32::try_from(m).unwrap_or(u32::MAX)))
            .max(1);
        let prompt_bytes: usize = request["messages"]
            .as_array()
            .map(|messages| {
                messages
                    .iter()
                    .map(|m| m["content"].as_str().map_or(0, str::len) + 16)
                    .sum()
            })
            .unwrap_or(0);
        Answer {
            model: request["model"].as_str().unwrap_or("stub").to_owned(),
            prompt_tokens: prompt_bytes.div_ceil(4) as u64,
            tokens: (0..limit as usize)
                .map(|i| WORDS[i % WORDS.len()].to_owned())
                .collect(),
        }
    }

    fn usage(&self) -> Value {
        let completion = self.tokens.len() as u64;
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
        })
    }

    /// A non-streamed `chat.completion`.
    fn whole(&self) -> Value {
        json!({
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "created": 0,
            "model": self.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": self.tokens.concat()},
                "finish_reason": "stop",
            }],
            "usage": self.usage(),
        })
    }

    /// The server-sent events of a streamed answer, one token per chunk.
    fn chunks(&self, include_usage: bool) -> Vec<Vec<u8>> {
        let chunk = |choices: Value, usage: Option<Value>| {
            let mut object = json!({
                "id": "chatcmpl-stub",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": self.model,
                "choices": choices,
            });
            if let Some(usage) = usage {
                object["usage"] = usage;
            }
            format!("data: {object}\n\n").into_bytes()
        };
        let mut frames = Vec::with_capacity(self.tokens.len() + 3);
        for (index, token) in self.tokens.iter().enumerate() {
            let delta = if index == 0 {
                json!({"role": "assistant", "content": token})
            } else {
                json!({"content": token})
            };
            frames.push(chunk(
                json!([{"index": 0, "delta": delta, "finish_reason": null}]),
                None,
            ));
        }
        frames.push(chunk(
            json!([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
            None,
        ));
        if include_usage {
            frames.push(chunk(json!([]), Some(self.usage())));
        }
        frames.push(b"data: [DONE]\n\n".to_vec());
        frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_have_the_requested_length_and_usage() {
        let request = json!({
            "model": "m",
            "messages": [{"role": "user", "content": "abcdefgh"}],
            "stream": true,
            "max_tokens": 3,
        });
        let answer = Answer::for_request(&request, 20);
        assert_eq!(answer.tokens.len(), 3);
        let frames = answer.chunks(true);
        // 3 tokens, the stop chunk, the usage chunk, [DONE].
        assert_eq!(frames.len(), 6);
        let usage: Value =
            serde_json::from_slice(&frames[4][b"data: ".len()..frames[4].len() - 2]).unwrap();
        assert_eq!(usage["usage"]["completion_tokens"], 3);
        assert_eq!(
            answer.whole()["choices"][0]["message"]["content"],
            "Certainly here is"
        );
        assert_eq!(Answer::for_request(&json!({}), 20).tokens.len(), 20);
    }

    #[test]
    fn embeddings_are_unit_vectors_fixed_by_the_text() {
        let answer = embeddings(&json!({"model": "m", "input": ["a", "b", "a"]}));
        let vector = |i: usize| -> Vec<f64> {
            answer["data"][i]["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        };
        assert_eq!(vector(0).len(), EMBEDDING_DIMENSIONS);
        assert_eq!(vector(0), vector(2));
        assert_ne!(vector(0), vector(1));
        let norm: f64 = vector(1).iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-4, "{norm}");
        assert_eq!(answer["data"][2]["index"], 2);
        let single = embeddings(&json!({"input": "a"}));
        assert_eq!(single["data"].as_array().unwrap().len(), 1);
    }
}
