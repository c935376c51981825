//! Chatting with an assistant: the body of `POST /ai/assistants/{assistant_id}/chat`, its JSON
//! answer, and the data of the server-sent events it streams with `stream: true`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Body of `POST /ai/assistants/{assistant_id}/chat` (`AssistantChatParams`): one user message
/// in a conversation. The conversation is created on its first message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AssistantChatParams {
    /// The user's message (not blank).
    pub content: String,
    /// The conversation it belongs to: 1 to 200 visible characters without spaces or
    /// slashes (a UUID is customary).
    pub conversation_id: String,
    /// The user's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether the answer comes as server-sent events instead of one JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Fields sent as they are, after the typed ones.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AssistantChatParams {
    /// A message `content` in the conversation `conversation_id`, with nothing else set.
    pub fn new(content: impl Into<String>, conversation_id: impl Into<String>) -> Self {
        Self {
            content: content.into(),
            conversation_id: conversation_id.into(),
            ..Self::default()
        }
    }
}

/// The answer to a chat message (`AssistantChatResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssistantChatResponse {
    /// The assistant's reply.
    pub content: String,
    /// Fields this crate does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The data of an `event: delta` of a streamed chat answer: the next piece of the reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatDelta {
    /// Text to append to what came before.
    pub content: String,
}

/// The data of the final `event: done` of a streamed chat answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatDone {
    /// The whole reply (every delta, concatenated).
    pub content: String,
    /// The conversation the turn was stored in.
    pub conversation_id: String,
    /// The WhatsApp template the reply uses, if any (always `null` for web chat).
    #[serde(default)]
    pub whatsapp_template: Option<Value>,
    /// Fields this crate does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
