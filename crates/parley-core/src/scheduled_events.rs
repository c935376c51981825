//! Scheduled events: an assistant texts or calls one person at a fixed time.
//!
//! This module holds the pure rules: what a create body becomes ([`parse_create`]), the
//! channel and status vocabularies, and what happens after a call ends
//! ([`after_call`]) — success, a retry `retry_interval_secs` after the outcome, or failure
//! once the retry budget (`max_retries_client_errors`) is spent.
//!
//! Status moves `pending → in_progress → completed | failed`; a phone event that will be
//! retried goes back to `pending` with a new `scheduled_at_fixed_datetime`.
//!
//! Errors come in two kinds: a value that breaks the contract (type, enum, range, a required
//! field) is [`FieldErrorKind::Invalid`](crate::FieldErrorKind::Invalid) (422); a rule that
//! involves the current time or another field (a time in the past, an SMS without `text`,
//! retry fields on an SMS event, retries without an interval) is
//! [`FieldErrorKind::Rule`](crate::FieldErrorKind::Rule) (400), as Telnyx documents it.

use crate::clock::parse_timestamp;
use crate::validation::{FieldError, ValidationErrors};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// How far in the past `scheduled_at_fixed_datetime` may be (clock skew between client and
/// server); an event due in that window is dispatched at once.
pub const SCHEDULE_SKEW_SECS: i64 = 60;
/// Most retries after client-side call outcomes (busy, no answer, failed, canceled).
pub const MAX_RETRIES_CLIENT_ERRORS: u32 = 10;
/// Lower bound of `retry_interval_secs` in the contract (a server may lower it for tests).
pub const MIN_RETRY_INTERVAL_SECS: u32 = 60;
/// Upper bound of `retry_interval_secs`.
pub const MAX_RETRY_INTERVAL_SECS: u32 = 86_400;
/// Longest `text`, in characters (ten concatenated SMS segments and then some).
pub const MAX_TEXT_CHARS: usize = 1_600;
/// Longest target (a number or SIP URI), in characters.
pub const MAX_TARGET_CHARS: usize = 256;
/// The job kind that dispatches a scheduled event (its key is the event id).
pub const JOB_KIND: &str = "scheduled_event";
/// The `sip_region` values of `call_settings`.
pub const SIP_REGIONS: [&str; 5] = ["US", "Europe", "Canada", "Australia", "Middle East"];

/// The channel of a scheduled event (`ConversationChannelType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventChannel {
    /// An outbound call that the assistant answers for.
    PhoneCall,
    /// An outbound text that opens an SMS conversation.
    SmsChat,
}

impl EventChannel {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PhoneCall => "phone_call",
            Self::SmsChat => "sms_chat",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "phone_call" => Some(Self::PhoneCall),
            "sms_chat" => Some(Self::SmsChat),
            _ => None,
        }
    }
}

/// Where a scheduled event is in its life (`EventStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventStatus {
    /// Waiting for its time (or for a retry).
    Pending,
    /// Dispatched: the text was handed to the carrier, or the call is being placed or is up.
    InProgress,
    /// Done: the text was delivered, or the call was answered and ended.
    Completed,
    /// No further attempts will be made.
    Failed,
}

impl EventStatus {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Self::Pending),
            "in_progress" => Some(Self::InProgress),
            "completed" => Some(Self::Completed),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }

    /// Whether nothing more will happen to the event.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }
}

/// A validated `ScheduledEventCreateParams` body.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledEventSpec {
    /// `telnyx_conversation_channel`.
    pub channel: EventChannel,
    /// `telnyx_agent_target`: the number (or SIP URI) the assistant texts or calls from.
    pub agent_target: String,
    /// `telnyx_end_user_target`: who is texted or called.
    pub end_user_target: String,
    /// `scheduled_at_fixed_datetime`.
    pub scheduled_at: DateTime<Utc>,
    /// `text` (SMS events; required there).
    pub text: Option<String>,
    /// `call_settings` (phone events), as sent.
    pub call_settings: Option<Map<String, Value>>,
    /// `conversation_metadata`: attached to the conversation the event starts.
    pub conversation_metadata: Map<String, Value>,
    /// `dynamic_variables`: the conversation's variables.
    pub dynamic_variables: BTreeMap<String, String>,
    /// `max_retries_client_errors` (0 when not sent).
    pub max_retries_client_errors: u32,
    /// `retry_interval_secs`.
    pub retry_interval_secs: Option<u32>,
}

/// One dispatch of a phone event and how it ended (`call_attempts[]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CallAttempt {
    /// 1 for the first dial.
    pub attempt_number: u32,
    /// When the call was placed.
    pub attempted_at: DateTime<Utc>,
    /// Its outcome: `ringing`, `in-progress`, `completed`, `busy`, `no-answer`, `failed`,
    /// `canceled`.
    pub call_status: String,
    /// How long it lasted once answered, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_duration: Option<i64>,
    /// The carrier's id of the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telnyx_call_control_id: Option<String>,
}

/// Metadata keys a client may not set on a conversation (the platform writes them).
pub fn is_reserved_metadata_key(key: &str) -> bool {
    key.starts_with("telnyx_") || key == "assistant_id" || key == "assistant_version_id"
}

/// Parses and validates a create body at time `now`. `min_retry_secs` is the server's lower
/// bound for `retry_interval_secs` (the contract's 60 unless lowered for tests).
pub fn parse_create(
    body: &Value,
    now: DateTime<Utc>,
    min_retry_secs: u32,
) -> Result<ScheduledEventSpec, ValidationErrors> {
    let Some(map) = body.as_object() else {
        return Err(FieldError::invalid("", "the body must be a JSON object").into());
    };
    let mut errors = Vec::new();
    let channel = match map.get("telnyx_conversation_channel") {
        None | Some(Value::Null) => {
            errors.push(FieldError::invalid(
                "/telnyx_conversation_channel",
                "is required",
            ));
            None
        }
        Some(Value::String(text)) => match EventChannel::parse(text) {
            Some(channel) => Some(channel),
            None => {
                errors.push(FieldError::invalid(
                    "/telnyx_conversation_channel",
                    format!("must be phone_call or sms_chat, not {text:?}"),
                ));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::invalid(
                "/telnyx_conversation_channel",
                "must be a string: phone_call or sms_chat",
            ));
            None
        }
    };
    let agent_target = target(map, "telnyx_agent_target", &mut errors);
    let end_user_target = target(map, "telnyx_end_user_target", &mut errors);
    let scheduled_at = match map.get("scheduled_at_fixed_datetime") {
        None | Some(Value::Null) => {
            errors.push(FieldError::invalid(
                "/scheduled_at_fixed_datetime",
                "is required",
            ));
            None
        }
        Some(Value::String(text)) => match parse_timestamp(text) {
            Some(at) => {
                if at < now - Duration::seconds(SCHEDULE_SKEW_SECS) {
                    errors.push(FieldError::rule(
                        "/scheduled_at_fixed_datetime",
                        format!("{text} is in the past; scheduled events must be in the future"),
                    ));
                }
                Some(at)
            }
            None => {
                errors.push(FieldError::invalid(
                    "/scheduled_at_fixed_datetime",
                    format!("{text:?} is not an ISO 8601 date-time with a time zone"),
                ));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::invalid(
                "/scheduled_at_fixed_datetime",
                "must be an ISO 8601 date-time string",
            ));
            None
        }
    };
    let text = match map.get("text") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.contains('\0') => {
            errors.push(FieldError::invalid(
                "/text",
                "must not contain the NUL character",
            ));
            None
        }
        Some(Value::String(text)) if text.chars().count() > MAX_TEXT_CHARS => {
            errors.push(FieldError::invalid(
                "/text",
                format!("must be at most {MAX_TEXT_CHARS} characters"),
            ));
            None
        }
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => {
            errors.push(FieldError::invalid("/text", "must be a string"));
            None
        }
    };
    let call_settings = match map.get("call_settings") {
        None | Some(Value::Null) => None,
        Some(Value::Object(settings)) => {
            match settings.get("sip_region") {
                None | Some(Value::Null) => {}
                Some(Value::String(region)) if SIP_REGIONS.contains(&region.as_str()) => {}
                Some(other) => errors.push(FieldError::invalid(
                    "/call_settings/sip_region",
                    format!("must be one of {}, not {other}", SIP_REGIONS.join(", ")),
                )),
            }
            Some(settings.clone())
        }
        Some(_) => {
            errors.push(FieldError::invalid("/call_settings", "must be an object"));
            None
        }
    };
    let conversation_metadata =
        parse_conversation_metadata(map.get("conversation_metadata"), &mut errors);
    let dynamic_variables = match map.get("dynamic_variables") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(variables)) => {
            let mut out = BTreeMap::new();
            for (key, value) in variables {
                match value {
                    Value::String(text) if !text.contains('\0') => {
                        out.insert(key.clone(), text.clone());
                    }
                    _ => errors.push(FieldError::invalid(
                        format!("/dynamic_variables/{}", escape_pointer(key)),
                        "must be a string",
                    )),
                }
            }
            out
        }
        Some(_) => {
            errors.push(FieldError::invalid(
                "/dynamic_variables",
                "must be an object",
            ));
            BTreeMap::new()
        }
    };
    let max_retries_sent = !matches!(
        map.get("max_retries_client_errors"),
        None | Some(Value::Null)
    );
    let max_retries_client_errors = match integer(
        map,
        "max_retries_client_errors",
        0,
        MAX_RETRIES_CLIENT_ERRORS,
        &mut errors,
    ) {
        Ok(value) => value.unwrap_or(0),
        Err(()) => 0,
    };
    let retry_interval_secs = integer(
        map,
        "retry_interval_secs",
        min_retry_secs.min(MIN_RETRY_INTERVAL_SECS),
        MAX_RETRY_INTERVAL_SECS,
        &mut errors,
    )
    .unwrap_or(None);
    match channel {
        Some(EventChannel::SmsChat) => {
            if text.as_deref().is_none_or(|t| t.trim().is_empty()) {
                errors.push(FieldError::rule("/text", "is required for sms_chat events"));
            }
            if max_retries_client_errors > 0 {
                errors.push(FieldError::rule(
                    "/max_retries_client_errors",
                    "applies to phone_call events only",
                ));
            }
            if retry_interval_secs.is_some() {
                errors.push(FieldError::rule(
                    "/retry_interval_secs",
                    "applies to phone_call events only",
                ));
            }
        }
        Some(EventChannel::PhoneCall) => {
            if max_retries_client_errors > 0 && retry_interval_secs.is_none() {
                errors.push(FieldError::rule(
                    "/retry_interval_secs",
                    "is required when max_retries_client_errors is above 0",
                ));
            }
            if retry_interval_secs.is_some() && max_retries_client_errors == 0 {
                errors.push(FieldError::rule(
                    if max_retries_sent {
                        "/max_retries_client_errors"
                    } else {
                        "/retry_interval_secs"
                    },
                    "retry_interval_secs needs max_retries_client_errors above 0",
                ));
            }
        }
        None => {}
    }
    if !errors.is_empty() {
        return Err(ValidationErrors(errors));
    }
    Ok(ScheduledEventSpec {
        channel: channel.expect("checked"),
        agent_target: agent_target.expect("checked"),
        end_user_target: end_user_target.expect("checked"),
        scheduled_at: scheduled_at.expect("checked"),
        text,
        call_settings,
        conversation_metadata,
        dynamic_variables,
        max_retries_client_errors,
        retry_interval_secs,
    })
}

/// `conversation_metadata` of an SMS or a scheduled event: an object of strings, integers and
/// booleans, none of them NUL-containing or reserved (`telnyx_*`, `assistant_id`); problems go
/// to `errors` with a pointer to the key. Absent or null is an empty object.
pub fn parse_conversation_metadata(
    value: Option<&Value>,
    errors: &mut Vec<FieldError>,
) -> Map<String, Value> {
    match value {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(metadata)) => {
            for (key, value) in metadata {
                let pointer = format!("/conversation_metadata/{}", escape_pointer(key));
                if !matches!(value, Value::String(_) | Value::Bool(_))
                    && !value.is_i64()
                    && !value.is_u64()
                {
                    errors.push(FieldError::invalid(
                        pointer,
                        "must be a string, an integer or a boolean",
                    ));
                } else if value.as_str().is_some_and(|s| s.contains('\0')) {
                    errors.push(FieldError::invalid(
                        pointer,
                        "must not contain the NUL character",
                    ));
                } else if is_reserved_metadata_key(key) {
                    errors.push(FieldError::rule(
                        pointer,
                        "is reserved (keys starting with telnyx_, and assistant_id, are set by \
                         the platform)",
                    ));
                }
            }
            metadata.clone()
        }
        Some(_) => {
            errors.push(FieldError::invalid(
                "/conversation_metadata",
                "must be an object",
            ));
            Map::new()
        }
    }
}

/// A key as a JSON pointer segment.
fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn target(map: &Map<String, Value>, name: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let pointer = format!("/{name}");
    match map.get(name) {
        None | Some(Value::Null) => {
            errors.push(FieldError::invalid(pointer, "is required"));
            None
        }
        Some(Value::String(text)) => {
            let text = text.trim();
            if text.is_empty() {
                errors.push(FieldError::invalid(pointer, "must not be empty"));
                None
            } else if text.chars().count() > MAX_TARGET_CHARS
                || text.chars().any(|c| c.is_control() || c.is_whitespace())
            {
                errors.push(FieldError::invalid(
                    pointer,
                    format!(
                        "must be a phone number (E.164, like +13125550100) or a SIP URI of at \
                         most {MAX_TARGET_CHARS} characters without spaces"
                    ),
                ));
                None
            } else {
                Some(text.to_owned())
            }
        }
        Some(_) => {
            errors.push(FieldError::invalid(pointer, "must be a string"));
            None
        }
    }
}

/// An optional integer field within `min..=max`; `Err` when present but invalid (recorded).
fn integer(
    map: &Map<String, Value>,
    name: &str,
    min: u32,
    max: u32,
    errors: &mut Vec<FieldError>,
) -> Result<Option<u32>, ()> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match value.as_u64() {
            Some(n) if n >= u64::from(min) && n <= u64::from(max) => Ok(Some(n as u32)),
            _ => {
                errors.push(FieldError::invalid(
                    format!("/{name}"),
                    format!("must be an integer from {min} to {max}"),
                ));
                Err(())
            }
        },
    }
}

/// How a call the scheduler placed ended, from the carrier's `call.hangup` (Telnyx
/// `hangup_cause`) and whether it was answered first: `completed` when answered; otherwise
/// `busy` (`user_busy`), `no-answer` (`timeout`, `no_answer`), `canceled`
/// (`originator_cancel`) or `failed` (anything else).
pub fn call_outcome(hangup_cause: Option<&str>, answered: bool) -> &'static str {
    if answered {
        return "completed";
    }
    match hangup_cause.unwrap_or_default() {
        "user_busy" | "busy" => "busy",
        "timeout" | "no_answer" | "no-answer" => "no-answer",
        "originator_cancel" | "canceled" | "cancelled" => "canceled",
        _ => "failed",
    }
}

/// Whether a call outcome counts against `max_retries_client_errors` (and may be retried).
pub fn is_retryable_outcome(call_status: &str) -> bool {
    matches!(call_status, "busy" | "no-answer" | "failed" | "canceled")
}

/// What to do with a phone event after a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterCall {
    /// The call was answered: the event is `completed`.
    Completed,
    /// Dial again at this time (`pending`, `retry_count` + 1).
    RetryAt(DateTime<Utc>),
    /// The retry budget is spent: `failed`, with this error.
    Failed(String),
}

/// The rule after a call of a phone event ended with `call_status` at `now`, when
/// `retries_done` retries were made already: answered calls complete the event; a retryable
/// outcome is retried `retry_interval_secs` from now while
/// `retries_done < max_retries_client_errors`; otherwise the event fails.
pub fn after_call(
    call_status: &str,
    retries_done: u32,
    max_retries_client_errors: u32,
    retry_interval_secs: Option<u32>,
    now: DateTime<Utc>,
) -> AfterCall {
    if call_status == "completed" {
        return AfterCall::Completed;
    }
    match retry_interval_secs {
        Some(interval)
            if is_retryable_outcome(call_status) && retries_done < max_retries_client_errors =>
        {
            AfterCall::RetryAt(now + Duration::seconds(i64::from(interval)))
        }
        _ if max_retries_client_errors == 0 => {
            AfterCall::Failed(format!("call ended: {call_status}"))
        }
        _ => AfterCall::Failed(format!(
            "call ended: {call_status}; retry budget exhausted after {} attempts",
            retries_done + 1
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FieldErrorKind;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        parse_timestamp("2026-01-01T12:00:00Z").unwrap()
    }

    fn sms(extra: Value) -> Value {
        let mut body = json!({
            "telnyx_conversation_channel": "sms_chat",
            "telnyx_agent_target": "+13125550100",
            "telnyx_end_user_target": "+13125550101",
            "scheduled_at_fixed_datetime": "2026-01-01T13:00:00Z",
            "text": "Hello",
        });
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body
    }

    fn first_error(body: Value) -> FieldError {
        parse_create(&body, now(), 60).unwrap_err().0[0].clone()
    }

    #[test]
    fn a_valid_sms_event_parses() {
        let spec = parse_create(
            &sms(json!({"dynamic_variables": {"name": "Ada"}})),
            now(),
            60,
        )
        .unwrap();
        assert_eq!(spec.channel, EventChannel::SmsChat);
        assert_eq!(spec.text.as_deref(), Some("Hello"));
        assert_eq!(spec.dynamic_variables["name"], "Ada");
        assert_eq!(spec.max_retries_client_errors, 0);
    }

    #[test]
    fn rules_are_400_and_contract_breaks_are_422() {
        let e = first_error(sms(
            json!({"scheduled_at_fixed_datetime": "2025-12-31T00:00:00Z"}),
        ));
        assert_eq!(
            (e.pointer.as_str(), e.kind),
            ("/scheduled_at_fixed_datetime", FieldErrorKind::Rule)
        );
        // Within the skew: accepted.
        assert!(parse_create(
            &sms(json!({"scheduled_at_fixed_datetime": "2026-01-01T11:59:30Z"})),
            now(),
            60
        )
        .is_ok());
        let e = first_error(sms(json!({"text": null})));
        assert_eq!(
            (e.pointer.as_str(), e.kind),
            ("/text", FieldErrorKind::Rule)
        );
        let e = first_error(sms(json!({"telnyx_conversation_channel": "fax"})));
        assert_eq!(
            (e.pointer.as_str(), e.kind),
            ("/telnyx_conversation_channel", FieldErrorKind::Invalid)
        );
        let e = first_error(sms(json!({"retry_interval_secs": 120})));
        assert_eq!(
            (e.pointer.as_str(), e.kind),
            ("/retry_interval_secs", FieldErrorKind::Rule)
        );
        let e = first_error(sms(
            json!({"telnyx_conversation_channel": "phone_call", "max_retries_client_errors": 11}),
        ));
        assert_eq!(
            (e.pointer.as_str(), e.kind),
            ("/max_retries_client_errors", FieldErrorKind::Invalid)
        );
        let e = first_error(sms(
            json!({"telnyx_conversation_channel": "phone_call", "retry_interval_secs": 30}),
        ));
        assert_eq!(e.kind, FieldErrorKind::Invalid);
        let e = first_error(sms(
            json!({"telnyx_conversation_channel": "phone_call", "max_retries_client_errors": 2}),
        ));
        assert_eq!(
            (e.pointer.as_str(), e.kind),
            ("/retry_interval_secs", FieldErrorKind::Rule)
        );
        let e = first_error(sms(json!({"conversation_metadata": {"telnyx_x": "1"}})));
        assert_eq!(e.kind, FieldErrorKind::Rule);
        let e = first_error(sms(json!({"conversation_metadata": {"a": [1]}})));
        assert_eq!(e.pointer, "/conversation_metadata/a");
        let e = first_error(sms(json!({"telnyx_agent_target": ""})));
        assert_eq!(e.pointer, "/telnyx_agent_target");
        let e = first_error(sms(json!({"call_settings": {"sip_region": "Mars"}})));
        assert_eq!(e.pointer, "/call_settings/sip_region");
    }

    #[test]
    fn a_lower_configured_bound_admits_shorter_intervals() {
        let body = sms(json!({
            "telnyx_conversation_channel": "phone_call",
            "max_retries_client_errors": 2,
            "retry_interval_secs": 1,
        }));
        assert!(parse_create(&body, now(), 60).is_err());
        assert_eq!(
            parse_create(&body, now(), 1).unwrap().retry_interval_secs,
            Some(1)
        );
    }

    #[test]
    fn call_outcomes_and_retries() {
        assert_eq!(call_outcome(Some("normal_clearing"), true), "completed");
        assert_eq!(call_outcome(Some("user_busy"), false), "busy");
        assert_eq!(call_outcome(Some("timeout"), false), "no-answer");
        assert_eq!(call_outcome(Some("originator_cancel"), false), "canceled");
        assert_eq!(call_outcome(Some("call_rejected"), false), "failed");
        let t = now();
        assert_eq!(
            after_call("completed", 0, 2, Some(60), t),
            AfterCall::Completed
        );
        assert_eq!(
            after_call("no-answer", 0, 2, Some(60), t),
            AfterCall::RetryAt(t + Duration::seconds(60))
        );
        assert_eq!(
            after_call("busy", 1, 2, Some(60), t),
            AfterCall::RetryAt(t + Duration::seconds(60))
        );
        assert!(matches!(
            after_call("busy", 2, 2, Some(60), t),
            AfterCall::Failed(e) if e.contains("exhausted after 3 attempts")
        ));
        assert!(matches!(
            after_call("failed", 0, 0, None, t),
            AfterCall::Failed(_)
        ));
    }
}
