//! A scripted OpenAI-compatible server for tests (feature `test-support`): it answers
//! `POST /v1/chat/completions` with the next scripted [`Reply`] — streamed when the request
//! asks for `stream: true` — and records every request.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use futures::StreamExt as _;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A text answer (streamed word by word), finish reason `stop`.
    Text(String),
    /// Tool calls `(name, arguments JSON text)`, finish reason `tool_calls` (streamed as one
    /// delta with id and name, then the arguments in two fragments).
    ToolCalls(Vec<(String, String)>),
    /// This status with this body.
    Status(u16, String),
    /// A 200 whose body is this text, whatever the request asked for.
    Garbage(String),
    /// The reply, after a delay (before the response headers).
    Delayed(Duration, Box<Reply>),
    /// A stream that sends this text and then nothing more, never ending.
    Stalled(String),
    /// A text answer made from the request: `system: <system prompt> | user: <last user
    /// message>` (so tests can see what the model was given).
    Echo,
}

impl Reply {
    /// A text answer.
    pub fn text(content: impl Into<String>) -> Self {
        Reply::Text(content.into())
    }

    /// One tool call.
    pub fn tool_call(name: impl Into<String>, arguments: Value) -> Self {
        Reply::ToolCalls(vec![(name.into(), arguments.to_string())])
    }

    /// `reply`, `delay` late.
    pub fn delayed(delay: Duration, reply: Reply) -> Self {
        Reply::Delayed(delay, Box::new(reply))
    }
}

/// A request the server received.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The JSON body (`Value::Null` if it did not parse).
    pub body: Value,
}

#[derive(Default)]
struct Script {
    replies: VecDeque<Reply>,
    requests: Vec<RecordedRequest>,
    /// Given, again and again, once `replies` is empty.
    repeat: Option<Reply>,
}

/// The running server; stops when dropped.
pub struct ScriptedServer {
    address: SocketAddr,
    script: Arc<Mutex<Script>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for ScriptedServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedServer")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl ScriptedServer {
    /// Starts a server on `127.0.0.1:0` that gives `replies` in order (then 500s).
    pub async fn start(replies: impl IntoIterator<Item = Reply>) -> Self {
        let script = Arc::new(Mutex::new(Script {
            replies: replies.into_iter().collect(),
            requests: Vec::new(),
            repeat: None,
        }));
        let app = Router::new()
            .route("/v1/chat/completions", post(chat_completions))
            .with_state(Arc::clone(&script));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let address = listener.local_addr().expect("local address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ScriptedServer {
            address,
            script,
            task,
        }
    }

    /// The API root to configure a provider with: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.address)
    }

    /// Gives `reply` to every request once the script is over (instead of a 500).
    pub fn repeat(&self, reply: Reply) {
        self.lock().repeat = Some(reply);
    }

    /// Adds a reply at the end of the script.
    pub fn push(&self, reply: Reply) {
        self.lock().replies.push_back(reply);
    }

    /// The requests received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn chat_completions(
    State(script): State<Arc<Mutex<Script>>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let body_for_echo = body.clone();
    let stream = body.get("stream").and_then(Value::as_bool) == Some(true);
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("scripted")
        .to_owned();
    let reply = {
        let mut script = script.lock().unwrap_or_else(|e| e.into_inner());
        script.requests.push(RecordedRequest {
            authorization: headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body,
        });
        script.replies.pop_front().or_else(|| script.repeat.clone())
    };
    let Some(mut reply) = reply else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"error":{"message":"the script is over"}}"#,
        )
            .into_response();
    };
    while let Reply::Delayed(delay, inner) = reply {
        tokio::time::sleep(delay).await;
        reply = *inner;
    }
    if let Reply::Echo = reply {
        reply = Reply::Text(echo(&body_for_echo));
    }
    match reply {
        Reply::Status(status, body) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body,
        )
            .into_response(),
        Reply::Garbage(body) => (StatusCode::OK, body).into_response(),
        Reply::Stalled(text) => {
            let first = sse(&chunk(&model, json!({"content": text}), None));
            let stream =
                futures::stream::once(async move { Ok::<_, std::convert::Infallible>(first) })
                    .chain(futures::stream::pending());
            sse_response(Body::from_stream(stream))
        }
        reply if stream => sse_response(Body::from(streamed(&model, &reply))),
        reply => axum::Json(whole(&model, &reply)).into_response(),
    }
}

/// `system: … | user: …` from a request body.
fn echo(body: &Value) -> String {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let text_of = |role: &str, last: bool| {
        let mut found = messages
            .iter()
            .filter(|m| m.get("role").and_then(Value::as_str) == Some(role));
        let message = if last {
            found.next_back()
        } else {
            found.next()
        };
        message
            .and_then(|m| m.get("content"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    format!(
        "system: {} | user: {}",
        text_of("system", false),
        text_of("user", true)
    )
}

fn sse_response(body: Body) -> Response {
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(body)
        .expect("a response")
}

fn usage() -> Value {
    json!({"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18})
}

fn tool_calls(calls: &[(String, String)]) -> Vec<Value> {
    calls
        .iter()
        .enumerate()
        .map(|(i, (name, arguments))| {
            json!({"id": format!("call_{i}"), "type": "function",
                   "function": {"name": name, "arguments": arguments}})
        })
        .collect()
}

fn whole(model: &str, reply: &Reply) -> Value {
    let (message, finish) = match reply {
        Reply::Text(text) => (json!({"role": "assistant", "content": text}), "stop"),
        Reply::ToolCalls(calls) => (
            json!({"role": "assistant", "content": null, "tool_calls": tool_calls(calls)}),
            "tool_calls",
        ),
        _ => unreachable!("handled by the caller"),
    };
    json!({
        "id": "chatcmpl-scripted", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage(),
    })
}

fn chunk(model: &str, delta: Value, finish: Option<&str>) -> Value {
    json!({
        "id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 0, "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    })
}

fn sse(value: &Value) -> String {
    format!("data: {value}\n\n")
}

fn streamed(model: &str, reply: &Reply) -> String {
    let mut out = sse(&chunk(
        model,
        json!({"role": "assistant", "content": ""}),
        None,
    ));
    let finish = match reply {
        Reply::Text(text) => {
            for word in text.split_inclusive(' ') {
                out.push_str(&sse(&chunk(model, json!({"content": word}), None)));
            }
            "stop"
        }
        Reply::ToolCalls(calls) => {
            for (index, (name, arguments)) in calls.iter().enumerate() {
                let first = json!({"tool_calls": [{"index": index, "id": format!("call_{index}"),
                    "type": "function", "function": {"name": name, "arguments": ""}}]});
                out.push_str(&sse(&chunk(model, first, None)));
                let middle = arguments
                    .char_indices()
                    .nth(arguments.chars().count() / 2)
                    .map_or(0, |(i, _)| i);
                for part in [&arguments[..middle], &arguments[middle..]] {
                    let delta =
                        json!({"tool_calls": [{"index": index, "function": {"arguments": part}}]});
                    out.push_str(&sse(&chunk(model, delta, None)));
                }
            }
            "tool_calls"
        }
        _ => unreachable!("handled by the caller"),
    };
    out.push_str(&sse(&chunk(model, json!({}), Some(finish))));
    out.push_str(&sse(&json!({
        "id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 0,
        "model": model, "choices": [], "usage": usage(),
    })));
    out.push_str("data: [DONE]\n\n");
    out
}
