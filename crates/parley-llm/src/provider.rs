//! `ChatModel`: the trait every provider implements.

use crate::{ChatEvent, ChatOutcome, ChatRequest, LlmError};
use async_trait::async_trait;
use tokio::sync::mpsc;

/// A chat model: something that completes a conversation, streaming as it goes.
///
/// Implemented by [`crate::EmbeddedModel`] (llama.cpp in this process) and
/// [`crate::OpenAiProvider`] (an OpenAI-compatible HTTP API).
#[async_trait]
pub trait ChatModel: Send + Sync {
    /// The provider's name for the model, as reported in [`ChatOutcome::model`].
    fn name(&self) -> &str;

    /// How many tokens the model's context holds (prompt and answer together), when known.
    fn context_tokens(&self) -> Option<u32> {
        None
    }

    /// How many tokens `text` takes; providers without a tokenizer estimate four bytes a
    /// token.
    fn count_tokens(&self, text: &str) -> usize {
        text.len().div_ceil(4)
    }

    /// Completes `request`, sending [`ChatEvent`]s to `events` as they happen and
    /// [`ChatEvent::Finished`] last; returns the same outcome.
    ///
    /// Drain `events` while awaiting this (e.g. `tokio::join!`, or a spawned task): a provider
    /// waits for room in the channel, so a caller that stops reading holds the completion up.
    /// Dropping the receiver, or this future, cancels the completion: the embedded model stops
    /// between two tokens, HTTP providers drop the connection.
    async fn complete(
        &self,
        request: ChatRequest,
        events: mpsc::Sender<ChatEvent>,
    ) -> Result<ChatOutcome, LlmError>;

    /// Completes `request` without looking at the stream: the outcome only.
    async fn complete_buffered(&self, request: ChatRequest) -> Result<ChatOutcome, LlmError> {
        let (sender, mut receiver) = mpsc::channel(64);
        let drain = async move { while receiver.recv().await.is_some() {} };
        let (outcome, ()) = tokio::join!(self.complete(request, sender), drain);
        outcome
    }
}
