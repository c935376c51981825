//! Conversations and their messages.
//!
//! A conversation is created by the first chat turn that names it (or by
//! `POST /ai/conversations`); a chat turn's messages — the user's, the assistant's, tool calls
//! and results — are appended in one transaction, together with the creation when the turn
//! starts the conversation, so a failed turn leaves nothing behind.

use crate::{PageRequest, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parley_core::conversation::{ConversationQuery, MessageRole, StoredToolCall};
use parley_core::ids::OrgId;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A conversation as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationRecord {
    /// Its id (a UUID, or any id a client chose; unique per organization).
    pub id: String,
    /// Optional display name.
    pub name: Option<String>,
    /// Metadata (reserved keys in [`parley_core::conversation`]).
    pub metadata: BTreeMap<String, String>,
    /// The dynamic variables resolved when it started, plus those tools stored since. Not
    /// part of the wire object.
    pub variables: BTreeMap<String, String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its last message was appended (its creation time until then).
    pub last_message_at: DateTime<Utc>,
}

/// What a new conversation starts with.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewConversation {
    /// Display name.
    pub name: Option<String>,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
    /// Resolved dynamic variables.
    pub variables: BTreeMap<String, String>,
}

/// A message as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRecord {
    /// Position in the conversation, from 1, strictly increasing in append order.
    pub seq: i64,
    /// Who wrote it.
    pub role: MessageRole,
    /// Its text (empty for an assistant message that only calls tools).
    pub text: String,
    /// Author name (the user's `name`, or the tool's name on tool messages).
    pub name: Option<String>,
    /// Tool calls of an assistant message.
    pub tool_calls: Vec<StoredToolCall>,
    /// On a tool message: the call it answers.
    pub tool_call_id: Option<String>,
    /// Free-form metadata (a JSON object).
    pub metadata: Map<String, Value>,
    /// When the author says it was sent, if given.
    pub sent_at: Option<DateTime<Utc>>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

/// A message to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    /// Who wrote it.
    pub role: MessageRole,
    /// Its text.
    pub text: String,
    /// Author name.
    pub name: Option<String>,
    /// Tool calls of an assistant message.
    pub tool_calls: Vec<StoredToolCall>,
    /// On a tool message: the call it answers.
    pub tool_call_id: Option<String>,
    /// Free-form metadata.
    pub metadata: Map<String, Value>,
    /// When the author says it was sent.
    pub sent_at: Option<DateTime<Utc>>,
}

impl NewMessage {
    /// A message with a role and text, nothing else.
    pub fn new(role: MessageRole, text: impl Into<String>) -> Self {
        NewMessage {
            role,
            text: text.into(),
            name: None,
            tool_calls: Vec::new(),
            tool_call_id: None,
            metadata: Map::new(),
            sent_at: None,
        }
    }
}

/// What creating a conversation did.
#[derive(Debug, Clone, PartialEq)]
pub enum CreateConversationOutcome {
    /// Created.
    Created(ConversationRecord),
    /// A conversation with this id already exists in the organization (returned unchanged).
    Exists(ConversationRecord),
}

/// Conversations and their messages.
#[async_trait]
pub trait ConversationStore: Send + Sync + 'static {
    /// Creates conversation `id`, unless the organization already has one by that id.
    async fn create_conversation(
        &self,
        org: &OrgId,
        id: &str,
        new: &NewConversation,
        now: DateTime<Utc>,
    ) -> StoreResult<CreateConversationOutcome>;

    /// A conversation of the organization.
    async fn get_conversation(
        &self,
        org: &OrgId,
        id: &str,
    ) -> StoreResult<Option<ConversationRecord>>;

    /// The organization's conversations matching `query` (all conditions, in its order, ties
    /// by id ascending), at most `query.limit`.
    async fn list_conversations(
        &self,
        org: &OrgId,
        query: &ConversationQuery,
    ) -> StoreResult<Vec<ConversationRecord>>;

    /// Merges `metadata` into the conversation's (given keys overwrite; a `None` value removes
    /// the key); `None` when there is no such conversation.
    async fn update_conversation_metadata(
        &self,
        org: &OrgId,
        id: &str,
        metadata: &BTreeMap<String, Option<String>>,
    ) -> StoreResult<Option<ConversationRecord>>;

    /// Merges `variables` into the conversation's stored variables; `false` when there is no
    /// such conversation.
    async fn update_conversation_variables(
        &self,
        org: &OrgId,
        id: &str,
        variables: &BTreeMap<String, String>,
    ) -> StoreResult<bool>;

    /// Deletes a conversation and its messages; `false` when there was none.
    async fn delete_conversation(&self, org: &OrgId, id: &str) -> StoreResult<bool>;

    /// Appends `messages` (in order) to conversation `id` and sets its `last_message_at` to
    /// `now`, in one transaction. When the conversation does not exist it is created from
    /// `start` in the same transaction; without `start` nothing is written and the result is
    /// `None`. Returns the conversation after the append (for an existing conversation, `start`
    /// is ignored).
    async fn append_messages(
        &self,
        org: &OrgId,
        id: &str,
        start: Option<&NewConversation>,
        messages: &[NewMessage],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ConversationRecord>>;

    /// A window of the conversation's messages in append order, and the total count; `None`
    /// when there is no such conversation.
    async fn list_messages(
        &self,
        org: &OrgId,
        id: &str,
        page: PageRequest,
    ) -> StoreResult<Option<(Vec<MessageRecord>, u64)>>;

    /// The conversation and its newest `max_messages` messages (in append order) — what a
    /// chat turn needs; `None` when there is no such conversation.
    async fn conversation_history(
        &self,
        org: &OrgId,
        id: &str,
        max_messages: u32,
    ) -> StoreResult<Option<(ConversationRecord, Vec<MessageRecord>)>>;
}
