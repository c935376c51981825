//! SMS: sending one for an assistant (`POST /ai/assistants/{assistant_id}/chat/sms`) and
//! Parley's phone-number assignments (`/ai/phone_numbers`, a Parley extension: which
//! assistant answers texts to a number nobody is talking to yet).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Body of `POST /ai/assistants/{assistant_id}/chat/sms` (`AssistantSendSMSParams`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AssistantSendSmsParams {
    /// The assistant's number (E.164).
    pub from: String,
    /// The recipient (E.164).
    pub to: String,
    /// The text; without it the assistant writes the message (its greeting on a new
    /// conversation, else a message from its instructions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Metadata merged into the conversation's (strings, integers, booleans).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_metadata: Option<Map<String, Value>>,
    /// Start a new conversation even when these two numbers have an active one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub should_create_conversation: Option<bool>,
    /// Fields sent as they are, after the typed ones.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The answer to a send (`AssistantSendSMSResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssistantSendSmsResponse {
    /// The conversation the message was recorded in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// Fields this crate does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A phone number assigned to an assistant (Parley extension): texts to it from a number
/// with no active conversation start one with this assistant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhoneNumberAssignment {
    /// The number (E.164).
    pub phone_number: String,
    /// The assistant that answers it.
    pub assistant_id: String,
    /// When it was first assigned.
    pub created_at: String,
    /// When it was last (re)assigned.
    pub updated_at: String,
}

/// Body of `POST /ai/phone_numbers`: assign (or reassign) a number.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhoneNumberAssignParams {
    /// The number (E.164).
    pub phone_number: String,
    /// The assistant that answers it.
    pub assistant_id: String,
}
