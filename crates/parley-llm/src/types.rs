//! The provider-neutral shapes of a chat completion: request, messages, tools, streamed events
//! and the final outcome.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the model.
    System,
    /// The end user.
    User,
    /// The model (earlier turns, including its tool calls).
    Assistant,
    /// The result of a tool call, answering the assistant message that asked for it.
    Tool,
}

impl Role {
    /// The role as OpenAI and chat templates spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// A function call the model asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Identifies the call; the tool's answer carries it as [`ChatMessage::tool_call_id`].
    pub id: String,
    /// The function's name, one of [`ChatRequest::tools`].
    pub name: String,
    /// The arguments as JSON text, exactly as the model produced it (it may not parse: callers
    /// validate it against the tool's schema).
    pub arguments: String,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: Role,
    /// The text (may be empty, e.g. an assistant message that only calls tools).
    pub content: String,
    /// The tool calls of an assistant message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For [`Role::Tool`]: the [`ToolCall::id`] this message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// An optional name of the author (a participant, or the tool that answered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl ChatMessage {
    /// A message with only a role and text.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        ChatMessage {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
        }
    }

    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new(Role::System, content)
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(Role::User, content)
    }

    /// An assistant message with text only.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(Role::Assistant, content)
    }

    /// A tool's answer to the call `tool_call_id`.
    pub fn tool(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            tool_call_id: Some(tool_call_id.into()),
            ..Self::new(Role::Tool, content)
        }
    }
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// The function name (`[A-Za-z0-9_-]`, as OpenAI requires).
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// A JSON Schema of the arguments object.
    pub parameters: serde_json::Value,
}

/// Whether and which tool the model must call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides (the default).
    #[default]
    Auto,
    /// Never call a tool, even if tools are given.
    None,
    /// Call one of the tools.
    Required,
    /// Call this tool.
    Function(String),
}

/// A constraint on the shape of the answer.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputConstraint {
    /// The answer is a JSON document matching this schema. The embedded model enforces it with
    /// a grammar ([`crate::grammar::json_schema_to_gbnf`]); OpenAI-compatible providers get
    /// `response_format: {type: "json_schema"}`.
    JsonSchema {
        /// A short name for the schema (OpenAI requires one).
        name: String,
        /// The schema.
        schema: serde_json::Value,
    },
    /// The answer matches this GBNF grammar (root rule `root`). Embedded model only:
    /// OpenAI-compatible providers refuse it with [`crate::LlmError::Unsupported`].
    Grammar(String),
}

/// One chat completion to run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatRequest {
    /// The model to ask for, when a provider serves several; `None` uses the provider's own.
    /// The embedded provider serves one model and ignores it.
    pub model: Option<String>,
    /// The conversation so far, oldest first.
    pub messages: Vec<ChatMessage>,
    /// Functions the model may call.
    pub tools: Vec<ToolSpec>,
    /// Whether and which tool to call (ignored without tools).
    pub tool_choice: ToolChoice,
    /// The most tokens to generate; `None` leaves it to the provider (the embedded model fills
    /// the rest of its context).
    pub max_tokens: Option<u32>,
    /// Sampling temperature; `0` is greedy. `None` uses the provider's default.
    pub temperature: Option<f32>,
    /// Seed for sampling, for reproducible answers where the provider supports it.
    pub seed: Option<u32>,
    /// A constraint on the answer's shape.
    pub constraint: Option<OutputConstraint>,
    /// Stop generating when one of these strings appears; it is not part of the answer.
    pub stop: Vec<String>,
    /// Sent to OpenAI-compatible providers as the top-level `extra_metadata` object (an
    /// external LLM's `forward_metadata`); the embedded model ignores it.
    pub extra_metadata: Option<serde_json::Value>,
}

impl ChatRequest {
    /// A request with these messages and defaults for everything else.
    pub fn new(messages: Vec<ChatMessage>) -> Self {
        ChatRequest {
            messages,
            ..ChatRequest::default()
        }
    }
}

/// Why generation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinishReason {
    /// The model ended its answer, or a stop string appeared.
    Stop,
    /// `max_tokens`, or the context, ran out.
    Length,
    /// The model called tools ([`ChatMessage::tool_calls`]).
    ToolCalls,
    /// The provider filtered the answer.
    ContentFilter,
    /// A reason this crate does not know, as the provider spelled it.
    Other(String),
}

impl FinishReason {
    /// The reason as OpenAI spells it.
    pub fn as_str(&self) -> &str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::Other(other) => other,
        }
    }

    /// Parses OpenAI's spelling.
    pub fn parse(value: &str) -> Self {
        match value {
            "stop" => FinishReason::Stop,
            "length" => FinishReason::Length,
            "tool_calls" | "function_call" => FinishReason::ToolCalls,
            "content_filter" => FinishReason::ContentFilter,
            other => FinishReason::Other(other.to_owned()),
        }
    }
}

/// Token counts of one completion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens of the prompt (the rendered conversation).
    pub prompt_tokens: u32,
    /// Tokens generated.
    pub completion_tokens: u32,
}

impl Usage {
    /// Prompt and completion tokens together.
    pub fn total_tokens(&self) -> u32 {
        self.prompt_tokens + self.completion_tokens
    }
}

/// Where the time of one completion went, as the provider measured it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// Waiting for a free context (embedded) — zero for HTTP providers.
    pub queued: Duration,
    /// Evaluating the prompt (embedded), or waiting for the response headers (HTTP).
    pub prompt: Duration,
    /// From the call to the first generated token (or first content from upstream), if any.
    pub first_token: Option<Duration>,
    /// From the call to the end.
    pub total: Duration,
}

/// The result of a completion.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatOutcome {
    /// The assistant's message: its text and any tool calls.
    pub message: ChatMessage,
    /// Why generation ended.
    pub finish_reason: FinishReason,
    /// Token counts (from the provider; zero where it reported none).
    pub usage: Usage,
    /// The model that answered, as the provider names it.
    pub model: String,
    /// Where the time went.
    pub timings: Timings,
}

/// What a provider streams while it completes a request.
///
/// Deltas come in generation order; [`ChatEvent::Finished`] comes last, with the same outcome
/// `complete` returns.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    /// More text of the answer.
    ContentDelta(String),
    /// Part of a tool call. The first delta of a call carries its `id` and `name`; the
    /// `arguments` fragments of one `index`, concatenated, are the call's arguments.
    ToolCallDelta {
        /// Position of the call in [`ChatMessage::tool_calls`].
        index: usize,
        /// The call's id (first delta of the call only).
        id: Option<String>,
        /// The function's name (first delta of the call only).
        name: Option<String>,
        /// A fragment of the arguments JSON text.
        arguments: String,
    },
    /// The end: the whole message, usage and finish reason.
    Finished(ChatOutcome),
}
