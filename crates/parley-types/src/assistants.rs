//! The assistants resource: the assistant object (`InferenceEmbedding`), the bodies that
//! create and update assistants and their versions, and the small fixed-shape bodies.
//!
//! Top-level fields are typed. Nested settings objects and tools, whose schemas are deep (about
//! a hundred of them, validated by the server against the contract), are kept as
//! [`serde_json::Value`]. Fields this crate does not know yet are kept in `extra` both ways, so
//! nothing the server sends is lost and a request can carry a field newer than this crate.

use crate::pagination::Meta;
use crate::serde_util::null_as_default;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The assistant object, as create, retrieve, update, clone, promote and the version
/// endpoints return it (the SDKs call it `InferenceEmbedding`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferenceEmbedding {
    /// The assistant's id (`assistant-…`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// When the assistant was created (RFC 3339).
    pub created_at: String,
    /// System instructions; may hold `{{dynamic_variables}}`.
    pub instructions: String,
    /// The model answering when `external_llm` is not set.
    pub model: String,
    /// A2A agents the assistant can delegate to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a2a_agents: Option<Vec<Value>>,
    /// Telnyx avatar settings (beta).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_settings: Option<Value>,
    /// The conversation flow: nodes and edges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_flow: Option<Value>,
    /// Splits the conversation between a frontend and a backend model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegation_settings: Option<Value>,
    /// Free-text description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Dynamic variables and their default values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_variables: Option<Map<String, Value>>,
    /// Timeout of the dynamic-variables webhook, in milliseconds (default 1500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_variables_webhook_timeout_ms: Option<i64>,
    /// Webhook called at the start of a conversation to fill dynamic variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_variables_webhook_url: Option<String>,
    /// Channels the assistant is enabled on: `telephony`, `messaging`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled_features: Option<Vec<String>>,
    /// An OpenAI-compatible model the assistant calls instead of `model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_llm: Option<Value>,
    /// What to use when the primary model fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_config: Option<Value>,
    /// What the assistant says first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greeting: Option<String>,
    /// Where an imported assistant came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_metadata: Option<ImportMetadata>,
    /// Conversation insight settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insight_settings: Option<Value>,
    /// Connected integrations the assistant may use.
    #[serde(default, deserialize_with = "null_as_default")]
    pub integrations: Vec<AssistantIntegration>,
    /// How the assistant handles interruptions and end of turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interruption_settings: Option<Value>,
    /// Integration secret holding the API key of a third-party `model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_api_key_ref: Option<String>,
    /// MCP servers the assistant may use.
    #[serde(default, deserialize_with = "null_as_default")]
    pub mcp_servers: Vec<AssistantMcpServer>,
    /// SMS settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging_settings: Option<Value>,
    /// Observability (tracing) settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observability_settings: Option<Value>,
    /// Post-conversation processing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_conversation_settings: Option<Value>,
    /// Data retention and redaction settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_settings: Option<Value>,
    /// Missions related to this assistant.
    #[serde(default, deserialize_with = "null_as_default")]
    pub related_mission_ids: Vec<String>,
    /// Tags (they belong to the assistant, not to a version).
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    /// Voice call settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telephony_settings: Option<Value>,
    /// The assistant's tools: `{"type": T, T: {...}}` objects, shared tools with
    /// `"shared": true`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tools: Vec<Value>,
    /// Speech-to-text settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcription: Option<Value>,
    /// When this version was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_created_at: Option<String>,
    /// The version this object shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// The version's human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_name: Option<String>,
    /// Text-to-speech settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice_settings: Option<Value>,
    /// Event streaming to a WebSocket server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websocket_settings: Option<Value>,
    /// Web widget settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub widget_settings: Option<Value>,
    /// Fields this crate does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A soft-deleted assistant: the assistant object plus when it was deleted and when it will
/// be erased.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeletedAssistant {
    /// When it was deleted.
    pub deleted_at: String,
    /// When it will be erased for good, unless restored first.
    pub permanently_deleted_at: String,
    /// The assistant as it was.
    #[serde(flatten)]
    pub assistant: InferenceEmbedding,
}

/// `GET /ai/assistants` and `GET /ai/assistants/{id}/versions`: `{"data": [...]}`. Parley adds
/// `meta` to the assistants list; Telnyx does not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssistantsList {
    /// The assistants (or versions, newest first).
    #[serde(deserialize_with = "null_as_default")]
    pub data: Vec<InferenceEmbedding>,
    /// Where this page sits, when the server paginates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// An integration attached to an assistant.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AssistantIntegration {
    /// The catalogue id of the integration.
    pub integration_id: String,
    /// The tools of the integration the assistant may call (all when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_list: Option<Vec<String>>,
}

/// An MCP server attached to an assistant.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AssistantMcpServer {
    /// The MCP server's id.
    pub id: String,
    /// The tools of the server the assistant may call (all when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_tools: Option<Vec<String>>,
}

/// Where an imported assistant came from.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ImportMetadata {
    /// The assistant's id at the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_id: Option<String>,
    /// `elevenlabs`, `vapi` or `retell`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_provider: Option<String>,
}

/// Declares a request body: the given fields, then every optional writable field of the
/// assistant object, then `extra`. Every field is skipped when unset, so a partial update
/// sends only what was set.
macro_rules! assistant_params {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$field_meta:meta])*
                pub $field:ident: $ty:ty,
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            $(
                $(#[$field_meta])*
                pub $field: $ty,
            )*
            /// ID of the model to use (the server's default model when never set).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub model: Option<String>,
            /// A2A agents the assistant can delegate to.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub a2a_agents: Option<Vec<Value>>,
            /// Telnyx avatar settings (beta).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub avatar_settings: Option<Value>,
            /// The conversation flow: `{start_node_id, nodes, edges}`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub conversation_flow: Option<Value>,
            /// Splits the conversation between a frontend and a backend model.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub delegation_settings: Option<Value>,
            /// Free-text description.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub description: Option<String>,
            /// Dynamic variables and their default values.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub dynamic_variables: Option<Map<String, Value>>,
            /// Timeout of the dynamic-variables webhook, in milliseconds (1 to 10000).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub dynamic_variables_webhook_timeout_ms: Option<i64>,
            /// Webhook called at the start of a conversation to fill dynamic variables.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub dynamic_variables_webhook_url: Option<String>,
            /// Channels to enable: `telephony`, `messaging`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub enabled_features: Option<Vec<String>>,
            /// An OpenAI-compatible model to call instead of `model`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub external_llm: Option<Value>,
            /// What to use when the primary model fails.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub fallback_config: Option<Value>,
            /// What the assistant says first.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub greeting: Option<String>,
            /// Conversation insight settings.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub insight_settings: Option<Value>,
            /// Connected integrations the assistant may use.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub integrations: Option<Vec<AssistantIntegration>>,
            /// How the assistant handles interruptions and end of turn.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub interruption_settings: Option<Value>,
            /// Integration secret holding the API key of a third-party `model`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub llm_api_key_ref: Option<String>,
            /// MCP servers the assistant may use.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub mcp_servers: Option<Vec<AssistantMcpServer>>,
            /// SMS settings.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub messaging_settings: Option<Value>,
            /// Observability (tracing) settings.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub observability_settings: Option<Value>,
            /// Post-conversation processing.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub post_conversation_settings: Option<Value>,
            /// Data retention and redaction settings.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub privacy_settings: Option<Value>,
            /// Tags.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub tags: Option<Vec<String>>,
            /// Voice call settings.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub telephony_settings: Option<Value>,
            /// Ids of shared tools (`/ai/tools`) to attach.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub tool_ids: Option<Vec<String>>,
            /// Inline tools, each `{"type": T, T: {...}}`; replaces the inline tools on update.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub tools: Option<Vec<Value>>,
            /// Speech-to-text settings.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub transcription: Option<Value>,
            /// Text-to-speech settings.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub voice_settings: Option<Value>,
            /// Event streaming to a WebSocket server.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub websocket_settings: Option<Value>,
            /// Web widget settings.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub widget_settings: Option<Value>,
            /// Fields sent as they are, after the typed ones: a field newer than this crate, or
            /// `null` under a field's name to clear it on update (Parley: `null` clears).
            #[serde(flatten)]
            pub extra: Map<String, Value>,
        }
    };
}

assistant_params! {
    /// Body of `POST /ai/assistants`: `name` and `instructions` are required, everything else
    /// is optional.
    ///
    /// ```
    /// use parley_types::assistants::AssistantCreateParams;
    ///
    /// let params = AssistantCreateParams {
    ///     name: "Support".into(),
    ///     instructions: "You help customers with billing.".into(),
    ///     greeting: Some("Hi! How can I help?".into()),
    ///     ..Default::default()
    /// };
    /// let body = serde_json::to_value(&params).unwrap();
    /// assert_eq!(body["greeting"], "Hi! How can I help?");
    /// assert!(body.get("model").is_none(), "unset fields are not sent");
    /// ```
    pub struct AssistantCreateParams {
        /// Display name.
        pub name: String,
        /// System instructions.
        pub instructions: String,
    }
}

assistant_params! {
    /// Body of `POST /ai/assistants/{id}`: a partial update. Fields set replace the stored
    /// ones; unset fields are not sent and stay as they are. Each update writes a version.
    pub struct AssistantUpdateParams {
        /// New display name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub name: Option<String>,
        /// New system instructions.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub instructions: Option<String>,
        /// `false` writes a draft version and keeps the main one (default `true`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub promote_to_main: Option<bool>,
        /// Name of the version this update writes (at most 50 characters).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub version_name: Option<String>,
    }
}

assistant_params! {
    /// Body of `POST /ai/assistants/{id}/versions/{version_id}`: edits a version that is not
    /// main, in place. Partial, like [`AssistantUpdateParams`].
    pub struct VersionUpdateParams {
        /// New display name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub name: Option<String>,
        /// New system instructions.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub instructions: Option<String>,
        /// New version name (at most 50 characters).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub version_name: Option<String>,
    }
}

/// Query of `GET /ai/assistants/{id}`: values used to resolve dynamic variables.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AssistantRetrieveParams {
    /// The call this lookup is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_control_id: Option<String>,
    /// Call the dynamic-variables webhook to fill the variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch_dynamic_variables_from_webhook: Option<bool>,
    /// The caller's number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The called number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// Query of `DELETE /ai/assistants/{id}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssistantDeleteParams {
    /// `true` erases the assistant; otherwise it is soft-deleted and restorable for 30 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard_delete: Option<bool>,
}

/// Query of `GET /ai/assistants/{id}/versions/{version_id}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRetrieveParams {
    /// Include the attached MCP servers' details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_mcp_servers: Option<bool>,
}

/// Response of `DELETE /ai/assistants/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssistantDeleteResponse {
    /// The deleted assistant's id.
    pub id: String,
    /// Always `"assistant"`.
    pub object: String,
    /// Always `true`.
    pub deleted: bool,
}

/// Response of the tag endpoints: `{"tags": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagsResponse {
    /// Tags, sorted.
    pub tags: Vec<String>,
}

/// Body of `POST /ai/assistants/{id}/tags`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddTagRequest {
    /// The tag to add.
    pub tag: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_assistant_object_keeps_unknown_fields_and_reads_null_lists_as_empty() {
        let wire = json!({
            "id": "assistant-1", "name": "N", "created_at": "2025-01-01T00:00:00Z",
            "instructions": "I", "model": "m", "tags": null, "tools": [{"type": "hangup", "hangup": {}}],
            "mcp_servers": [{"id": "mcp-1"}], "brand_new_field": {"x": 1}
        });
        let assistant: InferenceEmbedding = serde_json::from_value(wire).unwrap();
        assert!(assistant.tags.is_empty());
        assert_eq!(assistant.mcp_servers[0].id, "mcp-1");
        assert_eq!(assistant.extra["brand_new_field"], json!({"x": 1}));
        let back = serde_json::to_value(&assistant).unwrap();
        assert_eq!(back["brand_new_field"], json!({"x": 1}));
        assert!(back.get("greeting").is_none());
    }

    #[test]
    fn a_deleted_assistant_is_the_assistant_and_two_dates() {
        let wire = json!({
            "id": "assistant-1", "name": "N", "created_at": "c", "instructions": "I",
            "model": "m", "deleted_at": "d", "permanently_deleted_at": "p"
        });
        let deleted: DeletedAssistant = serde_json::from_value(wire).unwrap();
        assert_eq!(deleted.deleted_at, "d");
        assert_eq!(deleted.assistant.id, "assistant-1");
        assert!(
            deleted.assistant.extra.is_empty(),
            "{:?}",
            deleted.assistant.extra
        );
    }

    #[test]
    fn update_params_send_only_what_is_set_and_extra_can_clear() {
        let mut params = AssistantUpdateParams {
            greeting: Some("Hello".into()),
            promote_to_main: Some(false),
            ..Default::default()
        };
        params.extra.insert("description".into(), Value::Null);
        assert_eq!(
            serde_json::to_value(&params).unwrap(),
            json!({"promote_to_main": false, "greeting": "Hello", "description": null})
        );
        assert_eq!(
            serde_json::to_value(AssistantUpdateParams::default()).unwrap(),
            json!({})
        );
    }
}
