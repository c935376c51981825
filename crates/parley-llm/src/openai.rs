//! `OpenAiProvider`: any OpenAI-compatible chat completions API over HTTP
//! (`POST {base_url}/chat/completions`), streaming (server-sent events) or not.

use crate::sse::SseDecoder;
use crate::{
    ChatEvent, ChatMessage, ChatModel, ChatOutcome, ChatRequest, FinishReason, LlmError,
    OutputConstraint, Role, Timings, ToolCall, ToolChoice, Usage,
};
use async_trait::async_trait;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::Instrument;

/// Where and how to reach an OpenAI-compatible API.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// The API root, e.g. `https://api.openai.com/v1` (`/chat/completions` is appended).
    pub base_url: String,
    /// Sent as `Authorization: Bearer …` when set.
    pub api_key: Option<String>,
    /// The model to ask for when a request names none.
    pub model: String,
    /// Stream the answer (server-sent events) rather than wait for the whole of it.
    pub stream: bool,
    /// How long connecting may take.
    pub connect_timeout: Duration,
    /// How long to wait for the response headers, and then between two reads of the body.
    pub read_timeout: Duration,
}

impl OpenAiConfig {
    /// A streaming configuration with 10 s to connect and 60 s between reads.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        OpenAiConfig {
            base_url: base_url.into(),
            api_key: None,
            model: model.into(),
            stream: true,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
        }
    }
}

/// An OpenAI-compatible chat completions API.
#[derive(Debug, Clone)]
pub struct OpenAiProvider {
    client: reqwest::Client,
    config: OpenAiConfig,
    url: String,
}

impl OpenAiProvider {
    /// A provider for `config` (no request is made yet).
    pub fn new(config: OpenAiConfig) -> Result<Self, LlmError> {
        Self::with_client_builder(config, reqwest::Client::builder())
    }

    /// A provider whose HTTP client starts from `builder` (e.g. one with a DNS resolver that
    /// enforces an address policy); the configuration's timeouts are applied on top.
    pub fn with_client_builder(
        config: OpenAiConfig,
        builder: reqwest::ClientBuilder,
    ) -> Result<Self, LlmError> {
        let client = builder
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .build()
            .map_err(|e| LlmError::Unreachable(format!("cannot build the HTTP client: {e}")))?;
        let url = format!("{}/chat/completions", config.base_url.trim_end_matches('/'));
        Ok(OpenAiProvider {
            client,
            config,
            url,
        })
    }

    /// The configuration this provider was built with.
    pub fn config(&self) -> &OpenAiConfig {
        &self.config
    }

    /// The JSON body sent for `request`.
    pub fn request_body(&self, request: &ChatRequest) -> Result<Value, LlmError> {
        let mut body = json!({
            "model": request.model.as_deref().unwrap_or(&self.config.model),
            "messages": request.messages.iter().map(wire_message).collect::<Vec<_>>(),
        });
        let fields = body.as_object_mut().expect("an object");
        if !request.tools.is_empty() {
            let tools: Vec<Value> = request
                .tools
                .iter()
                .map(|tool| {
                    json!({"type": "function", "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.parameters,
                    }})
                })
                .collect();
            fields.insert("tools".into(), Value::Array(tools));
            let choice = match &request.tool_choice {
                ToolChoice::Auto => json!("auto"),
                ToolChoice::None => json!("none"),
                ToolChoice::Required => json!("required"),
                ToolChoice::Function(name) => {
                    json!({"type": "function", "function": {"name": name}})
                }
            };
            fields.insert("tool_choice".into(), choice);
        }
        if let Some(max_tokens) = request.max_tokens {
            fields.insert("max_tokens".into(), json!(max_tokens));
        }
        if let Some(temperature) = request.temperature {
            fields.insert("temperature".into(), json!(temperature));
        }
        if let Some(seed) = request.seed {
            fields.insert("seed".into(), json!(seed));
        }
        if !request.stop.is_empty() {
            fields.insert("stop".into(), json!(request.stop));
        }
        match &request.constraint {
            None => {}
            Some(OutputConstraint::JsonSchema { name, schema }) => {
                fields.insert(
                    "response_format".into(),
                    json!({"type": "json_schema", "json_schema": {"name": name, "schema": schema}}),
                );
            }
            Some(OutputConstraint::Grammar(_)) => {
                return Err(LlmError::Unsupported(
                    "GBNF grammars need the embedded model; use a JSON schema".into(),
                ))
            }
        }
        if let Some(metadata) = &request.extra_metadata {
            fields.insert("extra_metadata".into(), metadata.clone());
        }
        if self.config.stream {
            fields.insert("stream".into(), json!(true));
            fields.insert("stream_options".into(), json!({"include_usage": true}));
        }
        Ok(body)
    }

    async fn send(&self, body: &Value) -> Result<reqwest::Response, LlmError> {
        let mut builder = self.client.post(&self.url).json(body);
        if let Some(key) = &self.config.api_key {
            builder = builder.bearer_auth(key);
        }
        let response = builder.send().await.map_err(classify)?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        Err(LlmError::UpstreamStatus {
            status: status.as_u16(),
            message: upstream_message(&text),
        })
    }

    async fn complete_whole(
        &self,
        response: reqwest::Response,
        events: &mpsc::Sender<ChatEvent>,
        started: Instant,
        mut timings: Timings,
    ) -> Result<ChatOutcome, LlmError> {
        let bytes = response.bytes().await.map_err(classify)?;
        let parsed: WireResponse = serde_json::from_slice(&bytes)
            .map_err(|e| LlmError::BadResponse(format!("not a chat completion: {e}")))?;
        let choice = parsed
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| LlmError::BadResponse("no choices".into()))?;
        let mut message = ChatMessage::assistant(choice.message.content.unwrap_or_default());
        for call in choice.message.tool_calls.unwrap_or_default() {
            message.tool_calls.push(ToolCall {
                id: call.id.unwrap_or_default(),
                name: call.function.name.unwrap_or_default(),
                arguments: call.function.arguments.unwrap_or_default(),
            });
        }
        if message.tool_calls.iter().any(|c| c.name.is_empty()) {
            return Err(LlmError::BadResponse("a tool call without a name".into()));
        }
        if !message.content.is_empty() {
            timings.first_token = Some(started.elapsed());
            send(events, ChatEvent::ContentDelta(message.content.clone())).await?;
        }
        for (index, call) in message.tool_calls.iter().enumerate() {
            send(
                events,
                ChatEvent::ToolCallDelta {
                    index,
                    id: Some(call.id.clone()),
                    name: Some(call.name.clone()),
                    arguments: call.arguments.clone(),
                },
            )
            .await?;
        }
        let finish_reason = finish_reason(choice.finish_reason.as_deref(), &message);
        Ok(ChatOutcome {
            message,
            finish_reason,
            usage: parsed.usage.map(Usage::from).unwrap_or_default(),
            model: parsed.model.unwrap_or_else(|| self.config.model.clone()),
            timings,
        })
    }

    async fn complete_streamed(
        &self,
        response: reqwest::Response,
        events: &mpsc::Sender<ChatEvent>,
        started: Instant,
        mut timings: Timings,
    ) -> Result<ChatOutcome, LlmError> {
        let mut body = response.bytes_stream();
        let mut decoder = SseDecoder::default();
        let mut content = String::new();
        let mut calls: Vec<ToolCall> = Vec::new();
        let mut finish: Option<String> = None;
        let mut usage = None;
        let mut model = None;
        let mut done = false;
        while !done {
            let chunk = tokio::select! {
                chunk = body.next() => chunk,
                () = events.closed() => return Err(LlmError::Cancelled),
            };
            let Some(chunk) = chunk else { break };
            let chunk = chunk.map_err(classify)?;
            for data in decoder.push(&chunk) {
                if data.trim() == "[DONE]" {
                    done = true;
                    break;
                }
                let parsed: WireChunk = serde_json::from_str(&data).map_err(|e| {
                    LlmError::BadResponse(format!("a stream event is not a chunk: {e}"))
                })?;
                if let Some(error) = parsed.error {
                    return Err(LlmError::BadResponse(format!(
                        "error in the stream: {}",
                        error
                            .get("message")
                            .and_then(Value::as_str)
                            .unwrap_or("unknown")
                    )));
                }
                if parsed.model.is_some() {
                    model = parsed.model;
                }
                if let Some(u) = parsed.usage {
                    usage = Some(Usage::from(u));
                }
                for choice in parsed.choices {
                    if choice.index.unwrap_or(0) != 0 {
                        continue;
                    }
                    if let Some(reason) = choice.finish_reason {
                        finish = Some(reason);
                    }
                    let Some(delta) = choice.delta else { continue };
                    if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                        timings.first_token.get_or_insert_with(|| started.elapsed());
                        content.push_str(&text);
                        send(events, ChatEvent::ContentDelta(text)).await?;
                    }
                    for call in delta.tool_calls.unwrap_or_default() {
                        let index = call.index.unwrap_or(calls.len().saturating_sub(1));
                        if index > calls.len() || index > 128 {
                            return Err(LlmError::BadResponse(format!(
                                "tool call index {index} out of order"
                            )));
                        }
                        if index == calls.len() {
                            calls.push(ToolCall {
                                id: String::new(),
                                name: String::new(),
                                arguments: String::new(),
                            });
                        }
                        let slot = &mut calls[index];
                        let id = call.id.filter(|id| !id.is_empty());
                        let function = call.function.unwrap_or_default();
                        let name = function.name.filter(|n| !n.is_empty());
                        let arguments = function.arguments.unwrap_or_default();
                        if let Some(id) = &id {
                            slot.id.clone_from(id);
                        }
                        if let Some(name) = &name {
                            slot.name.push_str(name);
                        }
                        slot.arguments.push_str(&arguments);
                        timings.first_token.get_or_insert_with(|| started.elapsed());
                        send(
                            events,
                            ChatEvent::ToolCallDelta {
                                index,
                                id,
                                name,
                                arguments,
                            },
                        )
                        .await?;
                    }
                }
            }
        }
        if !done && finish.is_none() {
            return Err(LlmError::BadResponse(
                "the stream ended before the answer did".into(),
            ));
        }
        if calls.iter().any(|c| c.name.is_empty()) {
            return Err(LlmError::BadResponse("a tool call without a name".into()));
        }
        let mut message = ChatMessage::assistant(content);
        message.tool_calls = calls;
        let finish_reason = finish_reason(finish.as_deref(), &message);
        Ok(ChatOutcome {
            message,
            finish_reason,
            usage: usage.unwrap_or_default(),
            model: model.unwrap_or_else(|| self.config.model.clone()),
            timings,
        })
    }
}

#[async_trait]
impl ChatModel for OpenAiProvider {
    fn name(&self) -> &str {
        &self.config.model
    }

    async fn complete(
        &self,
        request: ChatRequest,
        events: mpsc::Sender<ChatEvent>,
    ) -> Result<ChatOutcome, LlmError> {
        let span = tracing::info_span!(
            "llm_call",
            provider = "openai",
            model = request.model.as_deref().unwrap_or(&self.config.model),
            prompt_tokens = tracing::field::Empty,
            completion_tokens = tracing::field::Empty,
            finish_reason = tracing::field::Empty,
        );
        let outcome = self.run(request, &events).instrument(span.clone()).await?;
        span.record("prompt_tokens", outcome.usage.prompt_tokens);
        span.record("completion_tokens", outcome.usage.completion_tokens);
        span.record("finish_reason", outcome.finish_reason.as_str());
        send(&events, ChatEvent::Finished(outcome.clone())).await?;
        Ok(outcome)
    }
}

impl OpenAiProvider {
    async fn run(
        &self,
        request: ChatRequest,
        events: &mpsc::Sender<ChatEvent>,
    ) -> Result<ChatOutcome, LlmError> {
        let started = Instant::now();
        let body = self.request_body(&request)?;
        let response = tokio::select! {
            response = self.send(&body) => response?,
            () = events.closed() => return Err(LlmError::Cancelled),
        };
        let timings = Timings {
            prompt: started.elapsed(),
            ..Timings::default()
        };
        let mut outcome = if self.config.stream {
            self.complete_streamed(response, events, started, timings)
                .await?
        } else {
            self.complete_whole(response, events, started, timings)
                .await?
        };
        outcome.timings.total = started.elapsed();
        Ok(outcome)
    }
}

async fn send(events: &mpsc::Sender<ChatEvent>, event: ChatEvent) -> Result<(), LlmError> {
    events.send(event).await.map_err(|_| LlmError::Cancelled)
}

/// Upstream's finish reason, or one inferred from the message when it sent none.
fn finish_reason(reason: Option<&str>, message: &ChatMessage) -> FinishReason {
    match reason {
        Some(reason) => FinishReason::parse(reason),
        None if !message.tool_calls.is_empty() => FinishReason::ToolCalls,
        None => FinishReason::Stop,
    }
}

fn classify(error: reqwest::Error) -> LlmError {
    if error.is_timeout() {
        LlmError::Timeout
    } else if error.is_connect() {
        LlmError::Unreachable(error_chain(&error))
    } else if error.is_decode() || error.is_body() {
        LlmError::BadResponse(error_chain(&error))
    } else {
        LlmError::Unreachable(error_chain(&error))
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(next) = source {
        text.push_str(": ");
        text.push_str(&next.to_string());
        source = next.source();
    }
    text
}

/// `error.message` of an OpenAI error body, else the start of the body.
fn upstream_message(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| body.chars().take(300).collect())
}

fn wire_message(message: &ChatMessage) -> Value {
    let mut wire = json!({"role": message.role.as_str(), "content": message.content});
    let fields = wire.as_object_mut().expect("an object");
    if !message.tool_calls.is_empty() {
        let calls: Vec<Value> = message
            .tool_calls
            .iter()
            .map(|call| {
                json!({"id": call.id, "type": "function",
                       "function": {"name": call.name, "arguments": call.arguments}})
            })
            .collect();
        fields.insert("tool_calls".into(), Value::Array(calls));
        if message.content.is_empty() {
            fields.insert("content".into(), Value::Null);
        }
    }
    if let (Role::Tool, Some(id)) = (message.role, &message.tool_call_id) {
        fields.insert("tool_call_id".into(), json!(id));
    }
    if let Some(name) = &message.name {
        fields.insert("name".into(), json!(name));
    }
    wire
}

#[derive(Deserialize)]
struct WireResponse {
    model: Option<String>,
    #[serde(default)]
    choices: Vec<WireChoice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChoice {
    message: WireMessage,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireMessage {
    content: Option<String>,
    tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Deserialize)]
struct WireToolCall {
    id: Option<String>,
    function: WireFunction,
}

#[derive(Deserialize, Default)]
struct WireFunction {
    name: Option<String>,
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u32,
    #[serde(default)]
    completion_tokens: u32,
}

impl From<WireUsage> for Usage {
    fn from(usage: WireUsage) -> Self {
        Usage {
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
        }
    }
}

#[derive(Deserialize)]
struct WireChunk {
    model: Option<String>,
    #[serde(default)]
    choices: Vec<WireChunkChoice>,
    usage: Option<WireUsage>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct WireChunkChoice {
    index: Option<usize>,
    delta: Option<WireDelta>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireDelta {
    content: Option<String>,
    tool_calls: Option<Vec<WireToolCallDelta>>,
}

#[derive(Deserialize)]
struct WireToolCallDelta {
    index: Option<usize>,
    id: Option<String>,
    function: Option<WireFunction>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ToolSpec;

    #[test]
    fn the_body_carries_tools_choice_limits_and_schema() {
        let provider = OpenAiProvider::new(OpenAiConfig::new("http://x/v1/", "gpt-test")).unwrap();
        let mut assistant = ChatMessage::assistant("");
        assistant.tool_calls.push(ToolCall {
            id: "call_1".into(),
            name: "lookup".into(),
            arguments: r#"{"q":"a"}"#.into(),
        });
        let request = ChatRequest {
            messages: vec![
                ChatMessage::system("Be brief."),
                assistant,
                ChatMessage::tool("call_1", "found"),
            ],
            tools: vec![ToolSpec {
                name: "lookup".into(),
                description: "Look up".into(),
                parameters: json!({"type": "object"}),
            }],
            tool_choice: ToolChoice::Function("lookup".into()),
            max_tokens: Some(5),
            temperature: Some(0.0),
            stop: vec!["\n".into()],
            constraint: Some(OutputConstraint::JsonSchema {
                name: "answer".into(),
                schema: json!({"type": "object"}),
            }),
            ..ChatRequest::default()
        };
        let body = provider.request_body(&request).unwrap();
        assert_eq!(provider.url, "http://x/v1/chat/completions");
        assert_eq!(body["model"], "gpt-test");
        assert_eq!(body["messages"][1]["content"], Value::Null);
        assert_eq!(
            body["messages"][1]["tool_calls"][0]["function"]["name"],
            "lookup"
        );
        assert_eq!(body["messages"][2]["tool_call_id"], "call_1");
        assert_eq!(body["tools"][0]["function"]["name"], "lookup");
        assert_eq!(body["tool_choice"]["function"]["name"], "lookup");
        assert_eq!(body["max_tokens"], 5);
        assert_eq!(body["stop"][0], "\n");
        assert_eq!(body["response_format"]["json_schema"]["name"], "answer");
        assert_eq!(body["stream"], true);
        assert_eq!(body["stream_options"]["include_usage"], true);

        let grammar = ChatRequest {
            constraint: Some(OutputConstraint::Grammar("root ::= \"a\"".into())),
            ..ChatRequest::default()
        };
        assert!(matches!(
            provider.request_body(&grammar),
            Err(LlmError::Unsupported(_))
        ));
    }

    #[test]
    fn error_bodies_give_their_message() {
        assert_eq!(
            upstream_message(r#"{"error":{"message":"bad key","type":"auth"}}"#),
            "bad key"
        );
        assert_eq!(upstream_message("oops"), "oops");
    }
}
