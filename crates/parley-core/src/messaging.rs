//! SMS: the body of `POST /ai/assistants/{id}/chat/sms`, phone numbers, and the channel name
//! of text conversations.
//!
//! A conversation over SMS is keyed by its two numbers: the assistant's
//! (`telnyx_agent_target`, the `from` of what the assistant sends) and the end user's
//! (`telnyx_end_user_target`). A reply from the end user continues the newest conversation
//! of those two numbers unless it has been quiet for longer than the assistant's
//! `messaging_settings.conversation_inactivity_minutes` ([`continues_conversation`]).

use crate::scheduled_events::parse_conversation_metadata;
use crate::validation::{FieldError, ValidationErrors};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};

/// The channel of SMS conversations (`telnyx_conversation_channel`).
pub const SMS_CHAT: &str = "sms_chat";
/// The channel of conversations a scheduled phone call starts.
pub const PHONE_CALL: &str = "phone_call";
/// Longest SMS text Parley sends, in characters.
pub const MAX_SMS_CHARS: usize = 1_600;
/// The job kind that answers an inbound SMS (its key is the carrier's event id).
pub const INBOUND_SMS_JOB: &str = "inbound_sms";

/// A parsed `AssistantSendSMSParams` body.
#[derive(Debug, Clone, PartialEq)]
pub struct SendSms {
    /// The assistant's number (E.164).
    pub from: String,
    /// The recipient (E.164).
    pub to: String,
    /// The text to send; without it the assistant writes the message.
    pub text: Option<String>,
    /// Metadata merged into the conversation's.
    pub conversation_metadata: Map<String, Value>,
    /// Start a new conversation even if one of these two numbers is active.
    pub should_create_conversation: bool,
}

/// Whether `number` is an E.164 phone number: `+`, then 2 to 15 digits, the first not 0.
pub fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// Parses and validates a send-SMS body. `from` and `to` must be E.164 numbers; `text`, when
/// given, must not be blank.
pub fn parse_send_sms(body: &Value) -> Result<SendSms, ValidationErrors> {
    let Some(map) = body.as_object() else {
        return Err(FieldError::invalid("", "the body must be a JSON object").into());
    };
    let mut errors = Vec::new();
    let mut number = |name: &str| match map.get(name) {
        None | Some(Value::Null) => {
            errors.push(FieldError::invalid(format!("/{name}"), "is required"));
            String::new()
        }
        Some(Value::String(text)) if is_e164(text.trim()) => text.trim().to_owned(),
        Some(_) => {
            errors.push(FieldError::invalid(
                format!("/{name}"),
                "must be a phone number in E.164 form, like +13125550100",
            ));
            String::new()
        }
    };
    let from = number("from");
    let to = number("to");
    let text = match map.get("text") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.trim().is_empty() => {
            errors.push(FieldError::invalid(
                "/text",
                "must not be blank (leave it out to have the assistant write the message)",
            ));
            None
        }
        Some(Value::String(text)) if text.contains('\0') => {
            errors.push(FieldError::invalid(
                "/text",
                "must not contain the NUL character",
            ));
            None
        }
        Some(Value::String(text)) if text.chars().count() > MAX_SMS_CHARS => {
            errors.push(FieldError::invalid(
                "/text",
                format!("must be at most {MAX_SMS_CHARS} characters"),
            ));
            None
        }
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => {
            errors.push(FieldError::invalid("/text", "must be a string"));
            None
        }
    };
    let conversation_metadata =
        parse_conversation_metadata(map.get("conversation_metadata"), &mut errors);
    let should_create_conversation = match map.get("should_create_conversation") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errors.push(FieldError::invalid(
                "/should_create_conversation",
                "must be a boolean",
            ));
            false
        }
    };
    if !errors.is_empty() {
        return Err(ValidationErrors(errors));
    }
    Ok(SendSms {
        from,
        to,
        text,
        conversation_metadata,
        should_create_conversation,
    })
}

/// Conversation metadata values as the conversation stores them (strings): booleans and
/// integers are written out.
pub fn metadata_strings(metadata: &Map<String, Value>) -> Vec<(String, String)> {
    metadata
        .iter()
        .map(|(key, value)| {
            let text = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            (key.clone(), text)
        })
        .collect()
}

/// Whether a conversation whose last message was at `last_message_at` is still the one a
/// message at `now` belongs to, given the assistant's `messaging_settings` (its
/// `conversation_inactivity_minutes`; without it a conversation never lapses).
pub fn continues_conversation(
    messaging_settings: Option<&Value>,
    last_message_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> bool {
    match messaging_settings
        .and_then(|s| s.get("conversation_inactivity_minutes"))
        .and_then(Value::as_i64)
    {
        Some(minutes) => now - last_message_at <= Duration::minutes(minutes),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FieldErrorKind;
    use serde_json::json;

    #[test]
    fn e164() {
        assert!(is_e164("+13125550100"));
        assert!(!is_e164("13125550100"));
        assert!(!is_e164("+0123"));
        assert!(!is_e164("+1 312"));
        assert!(!is_e164("+1234567890123456"));
    }

    #[test]
    fn send_sms_bodies() {
        let ok = parse_send_sms(&json!({"from": "+13125550100", "to": "+13125550101"})).unwrap();
        assert_eq!(ok.text, None);
        assert!(!ok.should_create_conversation);
        let err = parse_send_sms(&json!({"from": "x", "text": 3})).unwrap_err();
        let pointers: Vec<&str> = err.0.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, ["/from", "/to", "/text"]);
        let err = parse_send_sms(&json!({
            "from": "+13125550100", "to": "+13125550101",
            "conversation_metadata": {"telnyx_agent_target": "+1"}
        }))
        .unwrap_err();
        assert_eq!(err.0[0].kind, FieldErrorKind::Rule);
    }

    #[test]
    fn inactivity() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let settings = json!({"conversation_inactivity_minutes": 10});
        assert!(continues_conversation(
            Some(&settings),
            t,
            t + Duration::minutes(10)
        ));
        assert!(!continues_conversation(
            Some(&settings),
            t,
            t + Duration::minutes(11)
        ));
        assert!(continues_conversation(None, t, t + Duration::days(400)));
    }
}
