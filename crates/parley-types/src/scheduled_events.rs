//! Scheduled events: an assistant texts or calls someone at a fixed time
//! (`/ai/assistants/{assistant_id}/scheduled_events`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Body of `POST /ai/assistants/{assistant_id}/scheduled_events`
/// (`ScheduledEventCreateParams`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScheduledEventCreateParams {
    /// When to text or call (ISO 8601, in the future).
    pub scheduled_at_fixed_datetime: String,
    /// The number (or SIP URI) the assistant texts or calls from.
    pub telnyx_agent_target: String,
    /// `phone_call` or `sms_chat`.
    pub telnyx_conversation_channel: String,
    /// Who is texted or called.
    pub telnyx_end_user_target: String,
    /// The text of an SMS event (required there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Per-call settings (`sip_region`) of a phone event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_settings: Option<Map<String, Value>>,
    /// Metadata of the conversation the event starts (strings, integers, booleans).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_metadata: Option<Map<String, Value>>,
    /// Dynamic variables of that conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_variables: Option<BTreeMap<String, String>>,
    /// Retries after busy / no answer / failed / canceled calls (0 to 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries_client_errors: Option<u32>,
    /// Seconds between those retries (60 to 86,400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_interval_secs: Option<u32>,
    /// Fields sent as they are, after the typed ones.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One dial of a phone event (`ScheduledPhoneCallEventResponseCallAttempt`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallAttempt {
    /// 1 for the first dial.
    pub attempt_number: u32,
    /// When it was placed.
    pub attempted_at: String,
    /// How it ended (`completed`, `busy`, `no-answer`, `failed`, `canceled`, or `ringing` /
    /// `in-progress` while it lasts).
    pub call_status: String,
    /// Seconds it lasted once answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_duration: Option<i64>,
    /// The carrier's call id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telnyx_call_control_id: Option<String>,
}

/// A scheduled event (`ScheduledEventResponse`: `ScheduledSMSEventResponse` for `sms_chat`,
/// `ScheduledPhoneCallEventResponse` for `phone_call`; fields of the other kind are absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledEvent {
    /// Its id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_event_id: Option<String>,
    /// The assistant.
    pub assistant_id: String,
    /// When it is due (moved forward when a call is retried).
    pub scheduled_at_fixed_datetime: String,
    /// The assistant's number.
    pub telnyx_agent_target: String,
    /// `phone_call` or `sms_chat`.
    pub telnyx_conversation_channel: String,
    /// The end user's number.
    pub telnyx_end_user_target: String,
    /// `pending`, `in_progress`, `completed` or `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The text (SMS events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The conversation it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// Metadata given to that conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_metadata: Option<Map<String, Value>>,
    /// Its dynamic variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_variables: Option<BTreeMap<String, String>>,
    /// What went wrong, oldest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<String>>,
    /// Retries made (of the call, or of the carrier request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_count: Option<u32>,
    /// When it was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// When the text was sent or the call placed (the last dispatch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatched_at: Option<String>,
    /// Every dial and its outcome (phone events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_attempts: Option<Vec<CallAttempt>>,
    /// Seconds the answered call lasted (phone events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_duration: Option<i64>,
    /// Per-call settings (phone events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_settings: Option<Map<String, Value>>,
    /// The last call's status (phone events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_status: Option<String>,
    /// The retry budget (phone events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries_client_errors: Option<u32>,
    /// Dials made so far (phone events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_attempts: Option<u32>,
    /// Seconds between retries (phone events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_interval_secs: Option<u32>,
    /// Fields this crate does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Query of `GET /ai/assistants/{assistant_id}/scheduled_events`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledEventListParams {
    /// Only this channel (`phone_call` or `sms_chat`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_channel: Option<String>,
    /// Only events due at or after this time (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_date: Option<String>,
    /// Only events due at or before this time (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_date: Option<String>,
    /// The 1-based page to fetch.
    #[serde(
        rename = "page[number]",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub page_number: Option<u32>,
    /// Items per page (1 to 100).
    #[serde(
        rename = "page[size]",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub page_size: Option<u32>,
}
