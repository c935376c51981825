//! Conversations and their messages: `/ai/conversations`.
//!
//! A conversation starts with its first chat message (or `POST /ai/conversations`); its
//! `metadata` is a map of strings, some keys of which the server reserves (`assistant_id`,
//! `assistant_version_id`, `telnyx_conversation_channel`, `ai_disabled`, …).

use crate::serde_util::null_as_default;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// A conversation (`Conversation`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// Its id.
    pub id: String,
    /// Display name, when it was given one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// When it started (RFC 3339).
    pub created_at: String,
    /// When its last message was added (RFC 3339).
    pub last_message_at: String,
    /// String metadata: reserved keys set by the server, and any others set by the caller.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: BTreeMap<String, String>,
    /// Fields this crate does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Body of `POST /ai/conversations`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConversationCreateParams {
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Initial metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
    /// Fields sent as they are, after the typed ones.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Body of `PUT /ai/conversations/{conversation_id}`: metadata merged into the
/// conversation's. `Some` sets a key, `None` (sent as `null`) removes it; keys not named are
/// kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConversationUpdateParams {
    /// The keys to set or remove.
    #[serde(default)]
    pub metadata: BTreeMap<String, Option<String>>,
}

impl ConversationUpdateParams {
    /// Sets `key` to `value`.
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), Some(value.into()));
        self
    }

    /// Removes `key`.
    pub fn remove(mut self, key: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), None);
        self
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MessageRole {
    /// `user`: the person talking to the assistant.
    User,
    /// `assistant`: the assistant's reply, or its tool calls.
    Assistant,
    /// `tool`: the result of a tool call.
    Tool,
    /// `system`: an instruction added to the conversation.
    System,
    /// A role this crate does not know, as sent.
    Other(String),
}

impl MessageRole {
    /// The role as the wire spells it.
    pub fn as_str(&self) -> &str {
        match self {
            MessageRole::User => "user",
            MessageRole::Assistant => "assistant",
            MessageRole::Tool => "tool",
            MessageRole::System => "system",
            MessageRole::Other(role) => role,
        }
    }
}

impl From<&str> for MessageRole {
    fn from(role: &str) -> Self {
        match role {
            "user" => MessageRole::User,
            "assistant" => MessageRole::Assistant,
            "tool" => MessageRole::Tool,
            "system" => MessageRole::System,
            other => MessageRole::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for MessageRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for MessageRole {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for MessageRole {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(MessageRole::from(
            String::deserialize(deserializer)?.as_str(),
        ))
    }
}

/// A tool call an assistant message made (OpenAI's shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Its id; the `tool` message answering it carries it as `tool_call_id`.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type", default = "function_type")]
    pub call_type: String,
    /// The function called.
    pub function: ToolCallFunction,
}

fn function_type() -> String {
    "function".to_owned()
}

impl ToolCall {
    /// A call `id` of the function `name` with `arguments` (JSON text).
    pub fn function(
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            call_type: function_type(),
            function: ToolCallFunction {
                name: name.into(),
                arguments: arguments.into(),
            },
        }
    }
}

/// The function of a [`ToolCall`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCallFunction {
    /// The function's name.
    pub name: String,
    /// Its arguments, as JSON text.
    pub arguments: String,
}

/// A message of a conversation, as `GET /ai/conversations/{id}/messages` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationMessage {
    /// Who wrote it.
    pub role: MessageRole,
    /// Its text (empty for an assistant message that only calls tools).
    #[serde(default, deserialize_with = "null_as_default")]
    pub text: String,
    /// When it was stored (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// When it was sent, as its writer said (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
    /// Metadata: for assistant replies, the trace of the turn (model, tokens, timings).
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Map<String, Value>,
    /// The writer's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The tools an assistant message called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// The call a `tool` message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Fields this crate does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Body of `POST /ai/conversations/{conversation_id}/message`: appends one message without
/// asking the assistant anything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageCreateParams {
    /// Who wrote it.
    pub role: MessageRole,
    /// Its text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The writer's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// When it was sent (RFC 3339); the server's clock when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
    /// Tool calls, on an assistant message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// The call a `tool` message answers (required on one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Metadata of the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    /// Fields sent as they are, after the typed ones (`tool_choice`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl MessageCreateParams {
    /// A message of `role` with `content`, nothing else set.
    pub fn new(role: MessageRole, content: impl Into<String>) -> Self {
        Self {
            role,
            content: Some(content.into()),
            name: None,
            sent_at: None,
            tool_calls: None,
            tool_call_id: None,
            metadata: None,
            extra: Map::new(),
        }
    }

    /// A `user` message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(MessageRole::User, content)
    }

    /// An `assistant` message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(MessageRole::Assistant, content)
    }

    /// A `tool` message answering the call `tool_call_id`.
    pub fn tool(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            tool_call_id: Some(tool_call_id.into()),
            ..Self::new(MessageRole::Tool, content)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_decode_leniently_and_roles_round_trip() {
        let message: ConversationMessage = serde_json::from_value(json!({
            "role": "assistant", "text": "", "created_at": "2025-01-01T00:00:00Z",
            "metadata": null, "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "{}"}}],
            "new_field": 1
        }))
        .unwrap();
        assert_eq!(message.role, MessageRole::Assistant);
        assert_eq!(
            message.tool_calls.as_ref().unwrap()[0].call_type,
            "function"
        );
        assert_eq!(message.extra["new_field"], 1);
        let odd: MessageRole = serde_json::from_value(json!("developer")).unwrap();
        assert_eq!(odd, MessageRole::Other("developer".into()));
        assert_eq!(serde_json::to_value(&odd).unwrap(), json!("developer"));
    }

    #[test]
    fn updates_send_null_for_removed_keys() {
        let params = ConversationUpdateParams::default()
            .set("tier", "gold")
            .remove("old");
        assert_eq!(
            serde_json::to_value(&params).unwrap(),
            json!({"metadata": {"old": null, "tier": "gold"}})
        );
        assert_eq!(
            serde_json::to_value(MessageCreateParams::tool("c1", "42")).unwrap(),
            json!({"role": "tool", "content": "42", "tool_call_id": "c1"})
        );
    }
}
