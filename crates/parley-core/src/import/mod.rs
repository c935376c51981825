//! Importing agents from other platforms (`POST /ai/assistants/import`): what an ElevenLabs
//! agent, a Vapi assistant or a Retell agent becomes as a Parley assistant.
//!
//! Pure: the server fetches the provider's objects ([`ProviderObjects`]) and hands them to
//! [`map`], which returns an assistant create body ([`ImportedAgent::body`]) plus what could
//! not be carried over. The body is meant to go through
//! [`crate::assistant::parse_create`] like any client body, so an imported assistant is valid
//! by construction.
//!
//! Rules every provider follows:
//! - The provider's words are kept: prompt → `instructions`, first message → `greeting`,
//!   tool names, descriptions, parameter schemas, URLs, methods and headers.
//! - Credentials are never copied. A secret the agent refers to (an ElevenLabs workspace
//!   secret, a Vapi credential, a header such as `Authorization`) becomes a *placeholder*
//!   integration secret ([`PlaceholderSecret`]) that the tool refers to with
//!   `{{#integration_secret}}identifier{{/integration_secret}}`; the user re-creates it with
//!   the real value.
//! - Whatever is lost — knowledge bases, a model this server cannot serve, settings with no
//!   Parley equivalent — is listed in [`ImportedAgent::notes`], which end up in the
//!   assistant's `description`.
//! - One agent that cannot be mapped at all is a [`MapError`]; the others still import.

mod common;
pub mod elevenlabs;
pub mod retell;
pub mod vapi;

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// A platform agents can be imported from (`provider` / `import_provider` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    /// ElevenLabs Agents (Conversational AI).
    ElevenLabs,
    /// Vapi.
    Vapi,
    /// Retell AI.
    Retell,
}

impl Provider {
    /// Every provider, in the contract's order.
    pub const ALL: [Provider; 3] = [Provider::ElevenLabs, Provider::Vapi, Provider::Retell];

    /// The wire spelling: `elevenlabs`, `vapi` or `retell`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ElevenLabs => "elevenlabs",
            Self::Vapi => "vapi",
            Self::Retell => "retell",
        }
    }

    /// Reads the wire spelling.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// The product name, for messages.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::ElevenLabs => "ElevenLabs",
            Self::Vapi => "Vapi",
            Self::Retell => "Retell",
        }
    }

    /// What the provider calls one of its agents.
    pub fn agent_noun(self) -> &'static str {
        match self {
            Self::ElevenLabs | Self::Retell => "agent",
            Self::Vapi => "assistant",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything fetched from the provider for one agent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderObjects {
    /// The agent as its get endpoint returned it.
    pub agent: Value,
    /// Tools the agent refers to by id, as their get endpoint returned them (ElevenLabs
    /// `tool_ids` → `GET /v1/convai/tools/{id}`, Vapi `model.toolIds` → `GET /tool/{id}`).
    pub tools: Vec<Value>,
    /// Ids of referenced tools that could not be fetched.
    pub unavailable_tools: Vec<String>,
    /// Retell: the Retell LLM response engine (`GET /get-retell-llm/{llm_id}`).
    pub llm: Option<Value>,
}

/// What the mapping needs to know about this server and the request.
pub struct MapContext<'a> {
    /// The `api_key_ref` of the import (an ElevenLabs key also works for ElevenLabs voices).
    pub api_key_ref: &'a str,
    /// The model assistants get when theirs cannot be served here.
    pub default_model: &'a str,
    /// Whether this server can serve a model name.
    pub can_serve: &'a (dyn Fn(&str) -> bool + Sync),
    /// ElevenLabs workspace secrets, id → name, for naming placeholders (may be empty).
    pub secret_names: &'a BTreeMap<String, String>,
}

/// An integration secret to create (if the organization has none of that identifier) with a
/// placeholder value, because an imported tool or setting refers to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceholderSecret {
    /// The identifier (`[A-Za-z0-9_.-]{1,255}`).
    pub identifier: String,
    /// What it stands for at the provider, for the note.
    pub origin: String,
}

/// One agent, mapped.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedAgent {
    /// Where it came from.
    pub provider: Provider,
    /// The provider's id of the agent.
    pub import_id: String,
    /// An assistant create body (with `tags` when the provider had any). Its `description`
    /// states the origin and lists [`ImportedAgent::notes`].
    pub body: Map<String, Value>,
    /// What was not carried over, or carried over approximately.
    pub notes: Vec<String>,
    /// Integration secrets the body refers to that must exist.
    pub secrets: Vec<PlaceholderSecret>,
}

impl ImportedAgent {
    /// `{import_provider, import_id}`.
    pub fn import_metadata(&self) -> Value {
        serde_json::json!({
            "import_provider": self.provider.as_str(),
            "import_id": self.import_id,
        })
    }

    /// The body of the update a re-import applies to the assistant imported before: every
    /// field the import owns ([`OWNED_FIELDS`]) is set, or cleared (`null`) when the agent no
    /// longer has it; [`SET_ONLY_FIELDS`] are set when the agent has them; `tags` is
    /// `existing_tags` plus the provider's; everything else the user configured in Parley
    /// stays as it is.
    pub fn update_body(&self, existing_tags: &[String], version_name: &str) -> Value {
        let mut body = self.body.clone();
        let provider_tags: Vec<String> = match body.remove("tags") {
            Some(Value::Array(tags)) => tags
                .into_iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        for field in OWNED_FIELDS {
            body.entry(field).or_insert(Value::Null);
        }
        let mut tags: Vec<String> = existing_tags.to_vec();
        for tag in provider_tags {
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        body.insert(
            "tags".into(),
            Value::Array(tags.into_iter().map(Value::String).collect()),
        );
        body.insert("version_name".into(), Value::String(version_name.into()));
        Value::Object(body)
    }
}

/// Fields an import owns: a re-import sets them or clears them.
pub const OWNED_FIELDS: [&str; 11] = [
    "name",
    "instructions",
    "greeting",
    "description",
    "model",
    "external_llm",
    "voice_settings",
    "transcription",
    "tools",
    "dynamic_variables",
    "conversation_flow",
];

/// Fields a re-import sets when the agent has them and otherwise leaves alone.
pub const SET_ONLY_FIELDS: [&str; 1] = ["privacy_settings"];

/// Why one agent could not be imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapError {
    /// The provider's id of the agent.
    pub import_id: String,
    /// What is wrong, for the user.
    pub reason: String,
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.import_id, self.reason)
    }
}

impl std::error::Error for MapError {}

/// Maps one agent of `provider`.
pub fn map(
    provider: Provider,
    objects: &ProviderObjects,
    context: &MapContext<'_>,
) -> Result<ImportedAgent, MapError> {
    match provider {
        Provider::ElevenLabs => elevenlabs::map(objects, context),
        Provider::Vapi => vapi::map(objects, context),
        Provider::Retell => retell::map(objects, context),
    }
}

/// The provider's id of an agent object (`agent_id` for ElevenLabs and Retell, `id` for
/// Vapi), if it has one.
pub fn agent_id(provider: Provider, agent: &Value) -> Option<&str> {
    let key = match provider {
        Provider::ElevenLabs | Provider::Retell => "agent_id",
        Provider::Vapi => "id",
    };
    agent
        .get(key)
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn providers_round_trip_their_wire_names() {
        for provider in Provider::ALL {
            assert_eq!(Provider::parse(provider.as_str()), Some(provider));
        }
        assert_eq!(Provider::parse("bland"), None);
    }

    #[test]
    fn the_update_body_clears_owned_fields_the_agent_lost_and_merges_tags() {
        let agent = ImportedAgent {
            provider: Provider::Vapi,
            import_id: "a-1".into(),
            body: json!({"name": "n", "instructions": "i", "model": "m", "tools": [], "tags": ["vip", "old"]})
                .as_object()
                .unwrap()
                .clone(),
            notes: vec![],
            secrets: vec![],
        };
        let body = agent.update_body(&["old".into(), "mine".into()], "Imported from Vapi");
        assert_eq!(body["greeting"], Value::Null);
        assert_eq!(body["voice_settings"], Value::Null);
        assert_eq!(body["name"], "n");
        assert_eq!(body["tags"], json!(["old", "mine", "vip"]));
        assert_eq!(body["version_name"], "Imported from Vapi");
        assert!(body.get("privacy_settings").is_none());
        let update = crate::assistant::parse_update(body).expect("a valid update");
        assert!(!update.changes_nothing());
        assert_eq!(
            agent.import_metadata(),
            json!({"import_provider": "vapi", "import_id": "a-1"})
        );
    }
}
