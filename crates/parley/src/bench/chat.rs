//! The chat scenarios of `parley bench`: `POST /v2/ai/assistants/{id}/chat` under load.
//!
//! Each scenario creates its own assistant through the API (its `model` chosen by an option)
//! and uses conversation ids unique to the run, so runs never see each other's history.
//!
//! - `chat-overhead`: a closed loop against a model that answers at once (a zero-latency
//!   `parley bench llm-stub`), so the latency is the server's own cost of a turn: loading the
//!   conversation, rendering, the upstream round trip over loopback, storing the messages.
//!   Two runs: `new` (every request starts a conversation) and `history` (each connection
//!   continues its conversation for `--history-turns` turns, then starts the next one, so the
//!   stored history stays between 0 and 2×(N−1) messages).
//! - `chat-concurrent`: the `history` loop with many connections against a slow model
//!   (300 ms): turns overlap, and the latency above the model's shows queueing in the server.
//! - `chat-embedded`: streamed turns (`stream: true`) with the embedded model, one at a time,
//!   each in a new conversation, with a prompt of about `--prompt-tokens` tokens. The client
//!   times the first `delta` event (time to first token) and the `done` event; generation
//!   speed is `(completion_tokens − 1) / (done − first delta)`, `completion_tokens` from the
//!   answer's trace (`GET /v2/ai/conversations/{id}/messages`). The trace's own timings are
//!   shown beside it. The prompt is `parley models bench`'s, so the two compare.

use super::{
    connect, load, print_row, request, send, CpuTimes, MakeRequest, Target, REQUEST_TIMEOUT,
};
use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use parley_llm::models::SMOLLM2_135M_INSTRUCT;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Options of the chat scenarios.
#[derive(Debug, Args)]
pub struct ChatOptions {
    /// chat-overhead: the model the assistant uses (served by a zero-latency stub).
    #[arg(long, default_value = "bench-stub-0ms")]
    fast_model: String,
    /// The webhook the `chat-tool` scenario's tool calls (the fast stub's `/hook`).
    #[arg(long, default_value = "http://127.0.0.1:9/hook")]
    webhook_url: String,
    /// chat-concurrent: the model the assistant uses (served by a stub with 300 ms latency).
    #[arg(long, default_value = "bench-stub-300ms")]
    slow_model: String,
    /// chat-embedded: the model the assistant uses (the embedded model's name).
    #[arg(long, default_value = SMOLLM2_135M_INSTRUCT.display_name)]
    embedded_model: String,
    /// Turns of one conversation before a connection starts the next (history runs).
    #[arg(long, default_value_t = 20)]
    history_turns: u64,
    /// chat-embedded: approximate length of the prompt (system and user message), in tokens.
    #[arg(long, default_value_t = 300)]
    prompt_tokens: u32,
    /// chat-embedded: measured turns (after two calibration turns); medians are reported.
    #[arg(long, default_value_t = 5)]
    embedded_runs: usize,
}

impl ChatOptions {
    /// The model a zero-latency stub serves (`--fast-model`).
    pub(super) fn fast_model(&self) -> &str {
        &self.fast_model
    }
}

/// The sentence `parley models bench` builds its prompt from.
const STORY_SENTENCE: &str =
    "The lighthouse keeper climbed the stairs each evening and watched the ships. ";

/// A prefix no earlier run used: conversation ids are unique to the run.
fn run_prefix(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("bench-{name}-{}-{nanos:x}", std::process::id())
}

async fn create_assistant(
    target: &Target,
    model: &str,
    instructions: &str,
) -> anyhow::Result<String> {
    let mut sender = connect(target).await?;
    let body = json!({
        "name": "Bench chat",
        "model": model,
        "instructions": instructions,
    });
    super::create_assistant(target, &mut sender, body)
        .await
        .with_context(|| format!("creating an assistant with model {model:?}"))
}

/// Chat requests of a closed loop: a new conversation per request (`turns` = `None`), or
/// each connection continuing its conversation for `turns` turns.
fn chat_requests(
    target: &Target,
    assistant: &str,
    prefix: String,
    turns: Option<u64>,
) -> MakeRequest {
    let target = target.clone();
    let path = format!("/v2/ai/assistants/{assistant}/chat");
    Arc::new(move |connection, n| {
        let conversation = match turns {
            None => format!("{prefix}-{connection}-{n}"),
            Some(turns) => format!("{prefix}-{connection}-c{}", n / turns.max(1)),
        };
        let body = json!({
            "content": format!("Hello! This is message {n} of the benchmark; please answer briefly."),
            "conversation_id": conversation,
        });
        request(
            &target,
            http::Method::POST,
            &path,
            Bytes::from(body.to_string()),
        )
    })
}

/// `chat-overhead`: prints a `new` and a `history` line.
pub(super) async fn overhead(
    target: &Target,
    options: &ChatOptions,
    label: &str,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<()> {
    let assistant = create_assistant(
        target,
        &options.fast_model,
        "You are a benchmark assistant. Answer briefly.",
    )
    .await?;
    for (name, turns) in [("new", None), ("history", Some(options.history_turns))] {
        let warm_up = chat_requests(target, &assistant, run_prefix("warm"), turns);
        load(target, connections, Duration::from_secs(1), warm_up).await?;
        let make = chat_requests(target, &assistant, run_prefix(name), turns);
        let outcome = load(target, connections, duration, make).await?;
        print_row(
            label,
            &format!("chat-overhead/{name}"),
            connections,
            &outcome,
        );
    }
    Ok(())
}

/// `chat-tool`: the webhook alone, a turn without tools, and a turn with one webhook round
/// (tool call → webhook → second model call), each a closed loop; prints the three rows.
pub(super) async fn tool_round(
    target: &Target,
    options: &ChatOptions,
    label: &str,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<()> {
    let rest = options
        .webhook_url
        .strip_prefix("http://")
        .context("--webhook-url must be http://HOST:PORT/PATH")?;
    let (authority, hook_path) = match rest.find('/') {
        Some(i) => (rest[..i].to_owned(), rest[i..].to_owned()),
        None => (rest.to_owned(), "/".to_owned()),
    };
    let hook = Target {
        host: authority.clone(),
        authority,
        key: target.key.clone(),
    };
    let raw: MakeRequest = {
        let hook = hook.clone();
        Arc::new(move |_, _| {
            request(
                &hook,
                http::Method::POST,
                &hook_path,
                Bytes::from_static(b"{}"),
            )
        })
    };
    load(&hook, connections, Duration::from_secs(1), raw.clone()).await?;
    let outcome = load(&hook, connections, duration, raw).await?;
    print_row(label, "chat-tool/webhook-alone", connections, &outcome);

    let plain = create_assistant(target, &options.fast_model, "Answer briefly.").await?;
    let warm = chat_requests(target, &plain, run_prefix("warm"), None);
    load(target, connections, Duration::from_secs(1), warm).await?;
    let make = chat_requests(target, &plain, run_prefix("plain"), None);
    let outcome = load(target, connections, duration, make).await?;
    print_row(label, "chat-tool/no-tool", connections, &outcome);

    let mut sender = connect(target).await?;
    let body = json!({
        "name": "Bench tool",
        "model": options.fast_model,
        "instructions": "Look the order up, then answer briefly.",
        "tools": [{"type": "webhook", "webhook": {
            "name": "lookup_order", "description": "Looks an order up",
            "url": options.webhook_url, "method": "POST"}}],
    });
    let with_tool = super::create_assistant(target, &mut sender, body)
        .await
        .context("creating the tool assistant (the server needs allow_private_network)")?;
    let warm = chat_requests(target, &with_tool, run_prefix("warm"), None);
    load(target, connections, Duration::from_secs(1), warm).await?;
    let make = chat_requests(target, &with_tool, run_prefix("tool"), None);
    let outcome = load(target, connections, duration, make).await?;
    print_row(label, "chat-tool/one-round", connections, &outcome);
    Ok(())
}

/// `chat-concurrent`: each connection continues its own conversation.
pub(super) async fn concurrent(
    target: &Target,
    options: &ChatOptions,
    label: &str,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<()> {
    let assistant = create_assistant(
        target,
        &options.slow_model,
        "You are a benchmark assistant. Answer briefly.",
    )
    .await?;
    let turns = Some(options.history_turns);
    let warm_up = chat_requests(target, &assistant, run_prefix("warm"), turns);
    load(target, connections, Duration::from_secs(1), warm_up).await?;
    let make = chat_requests(target, &assistant, run_prefix("concurrent"), turns);
    let outcome = load(target, connections, duration, make).await?;
    print_row(label, "chat-concurrent", connections, &outcome);
    Ok(())
}

/// What the client saw of one streamed turn, and what the trace says.
#[derive(Debug, Clone)]
struct StreamedTurn {
    /// From sending the request to the first `delta` event.
    first_delta: Duration,
    /// From the first `delta` to the `done` event.
    first_to_done: Duration,
    /// From sending the request to the `done` event.
    total: Duration,
    prompt_tokens: u64,
    completion_tokens: u64,
    trace_latency_ms: u64,
    trace_first_token_ms: u64,
}

impl StreamedTurn {
    /// Generation speed as the client sees it: tokens after the first over the time after
    /// the first delta.
    fn client_rate(&self) -> f64 {
        self.completion_tokens.saturating_sub(1) as f64 / self.first_to_done.as_secs_f64()
    }

    /// Generation speed from the trace's timings.
    fn trace_rate(&self) -> f64 {
        let decode = self
            .trace_latency_ms
            .saturating_sub(self.trace_first_token_ms)
            .max(1);
        self.completion_tokens.saturating_sub(1) as f64 * 1000.0 / decode as f64
    }
}

/// One streamed turn in conversation `conversation`, then its trace.
async fn streamed_turn(
    target: &Target,
    sender: &mut http1::SendRequest<Full<Bytes>>,
    assistant: &str,
    conversation: &str,
    content: &str,
) -> anyhow::Result<StreamedTurn> {
    let body = json!({"content": content, "conversation_id": conversation, "stream": true});
    let mut chat = request(
        target,
        http::Method::POST,
        &format!("/v2/ai/assistants/{assistant}/chat"),
        Bytes::from(body.to_string()),
    )?;
    chat.headers_mut().insert(
        http::header::ACCEPT,
        http::HeaderValue::from_static("text/event-stream"),
    );
    sender.ready().await?;
    let sent = Instant::now();
    let response = sender.send_request(chat).await?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    if status != 200 {
        let text = body.collect().await?.to_bytes();
        bail!(
            "the chat turn failed with {status}: {}",
            String::from_utf8_lossy(&text)
        );
    }
    let mut buffer = String::new();
    let mut first_delta = None;
    let mut done = None;
    'read: while let Some(frame) = tokio::time::timeout(REQUEST_TIMEOUT, body.frame())
        .await
        .context("the stream stalled")?
    {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        buffer.push_str(&String::from_utf8_lossy(&data));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let name = event
                .lines()
                .find_map(|line| line.strip_prefix("event:"))
                .map(str::trim);
            match name {
                Some("delta") => {
                    first_delta.get_or_insert_with(|| sent.elapsed());
                }
                Some("done") => {
                    done = Some(sent.elapsed());
                    break 'read;
                }
                Some("error") => bail!("the stream ended with an error: {}", event.trim()),
                _ => {}
            }
        }
    }
    // Read the rest so the connection can carry the next request.
    while let Some(frame) = body.frame().await {
        frame?;
    }
    let done = done.context("the stream ended without a done event")?;
    let first_delta = first_delta.context("the stream had no delta event")?;

    let (status, messages) = send(
        sender,
        request(
            target,
            http::Method::GET,
            &format!("/v2/ai/conversations/{conversation}/messages"),
            Bytes::new(),
        )?,
    )
    .await?;
    if status != 200 {
        bail!("reading the conversation's messages failed with {status}");
    }
    let messages: Value = serde_json::from_slice(&messages)?;
    let trace = messages["data"]
        .as_array()
        .and_then(|data| data.iter().rev().find(|m| m["role"] == "assistant"))
        .map(|m| m["metadata"].clone())
        .context("the conversation has no answer")?;
    let number = |field: &str| {
        trace[field]
            .as_u64()
            .with_context(|| format!("the answer's trace has no {field}: {trace}"))
    };
    Ok(StreamedTurn {
        first_delta,
        first_to_done: done.saturating_sub(first_delta),
        total: done,
        prompt_tokens: number("prompt_tokens")?,
        completion_tokens: number("completion_tokens")?,
        trace_latency_ms: number("latency_ms")?,
        trace_first_token_ms: number("time_to_first_token_ms")?,
    })
}

/// `parley models bench`'s prompt with `sentences` sentences of story.
fn story(sentences: usize) -> String {
    format!(
        "{}\nContinue this story at length, with many new events.",
        STORY_SENTENCE.repeat(sentences)
    )
}

/// `chat-embedded`: prints one line of medians.
pub(super) async fn embedded(
    target: &Target,
    options: &ChatOptions,
    label: &str,
) -> anyhow::Result<()> {
    let assistant =
        create_assistant(target, &options.embedded_model, "You are a storyteller.").await?;
    let prefix = run_prefix("embedded");
    let mut sender = connect(target).await?;
    // Two calibration turns (the first also loads the model) give the prompt's tokens per
    // sentence; they are not measured.
    let small = streamed_turn(
        target,
        &mut sender,
        &assistant,
        &format!("{prefix}-cal1"),
        &story(1),
    )
    .await?;
    let large = streamed_turn(
        target,
        &mut sender,
        &assistant,
        &format!("{prefix}-cal2"),
        &story(11),
    )
    .await?;
    let per_sentence = (large.prompt_tokens as f64 - small.prompt_tokens as f64) / 10.0;
    if per_sentence <= 0.0 {
        bail!("the trace's prompt_tokens do not grow with the prompt");
    }
    let sentences = (1.0
        + (f64::from(options.prompt_tokens) - small.prompt_tokens as f64) / per_sentence)
        .round()
        .max(1.0) as usize;
    let content = story(sentences);
    let mut runs = Vec::with_capacity(options.embedded_runs);
    let cpu = CpuTimes::now();
    for run in 0..options.embedded_runs.max(1) {
        let conversation = format!("{prefix}-{run}");
        runs.push(streamed_turn(target, &mut sender, &assistant, &conversation, &content).await?);
    }
    let median = |value: &dyn Fn(&StreamedTurn) -> f64| {
        let mut values: Vec<f64> = runs.iter().map(value).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let host_busy = cpu.and_then(CpuTimes::busy_since);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{:<10} {:<22} prompt_tokens={:.0} completion_tokens={:.0} ttft_ms={:.1} \
         server_ttft_ms={:.0} gen_tok_s={:.1} server_gen_tok_s={:.1} turn_ms={:.0} \
         first_turn_ms={:.0} runs={} host_cpu={}",
        label,
        "chat-embedded",
        median(&|t| t.prompt_tokens as f64),
        median(&|t| t.completion_tokens as f64),
        median(&|t| ms(t.first_delta)),
        median(&|t| t.trace_first_token_ms as f64),
        median(&|t| t.client_rate()),
        median(&|t| t.trace_rate()),
        median(&|t| ms(t.total)),
        ms(small.total),
        runs.len(),
        host_busy.map_or_else(|| "-".to_owned(), |busy| format!("{busy:.0}%"))
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_runs_rotate_conversations() {
        let target = Target {
            host: "127.0.0.1:1".into(),
            authority: "127.0.0.1:1".into(),
            key: "k".into(),
        };
        let conversation = |make: &MakeRequest, connection, n| {
            let request = make(connection, n).unwrap();
            let body = request.into_body();
            let bytes = futures::executor::block_on(body.collect())
                .unwrap()
                .to_bytes();
            let body: Value = serde_json::from_slice(&bytes).unwrap();
            body["conversation_id"].as_str().unwrap().to_owned()
        };
        let history = chat_requests(&target, "a", "p".into(), Some(20));
        assert_eq!(conversation(&history, 3, 0), conversation(&history, 3, 19));
        assert_ne!(conversation(&history, 3, 19), conversation(&history, 3, 20));
        assert_ne!(conversation(&history, 3, 0), conversation(&history, 4, 0));
        let new = chat_requests(&target, "a", "p".into(), None);
        assert_ne!(conversation(&new, 0, 0), conversation(&new, 0, 1));
    }
}
