//! LLM providers for Parley: one trait, [`ChatModel`], with two implementations — the embedded
//! model ([`EmbeddedModel`], llama.cpp in this process) and any OpenAI-compatible HTTP API
//! ([`OpenAiProvider`]) — plus the model catalogue and downloads ([`models`]) and JSON Schema →
//! grammar conversion for constrained decoding ([`grammar`]). Sentence embeddings for knowledge
//! bases are in [`embeddings`] (the local MiniLM through llama.cpp, or an OpenAI-compatible API).
//!
//! Token streaming is the interface: [`ChatModel::complete`] sends [`ChatEvent`]s (text and
//! tool-call deltas, then [`ChatEvent::Finished`]) to a channel while it runs.
#![warn(missing_docs)]

mod embedded;
pub mod embeddings;
mod error;
pub mod grammar;
pub mod models;
mod openai;
mod provider;
mod sse;
#[cfg(feature = "test-support")]
pub mod test_support;
mod types;

pub use embedded::{Completion, EmbeddedConfig, EmbeddedModel, EmbeddedStats};
pub use error::LlmError;
pub use openai::{OpenAiConfig, OpenAiProvider};
pub use provider::ChatModel;
pub use types::{
    ChatEvent, ChatMessage, ChatOutcome, ChatRequest, FinishReason, OutputConstraint, Role,
    Timings, ToolCall, ToolChoice, ToolSpec, Usage,
};
