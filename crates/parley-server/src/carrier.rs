//! The carrier: Telnyx's Messaging and Call Control APIs, which Parley texts and calls
//! through with the operator's Telnyx key ([`CarrierSettings`]).
//!
//! - [`Carrier::send_sms`]: `POST {api}/messages` `{from, to, text, messaging_profile_id}`.
//! - [`Carrier::dial`]: `POST {api}/calls` `{connection_id, to, from, client_state,
//!   webhook_url}`; the call's progress comes back as webhooks (`call.answered`,
//!   `call.hangup`) to `POST /v2/webhooks/call-control`.
//! - [`Carrier::start_assistant`]: `POST {api}/calls/{id}/actions/ai_assistant_start`
//!   `{assistant: {id, dynamic_variables}, command_id}` on an answered call.
//!
//! Every POST carries an `Idempotency-Key` (a retried dispatch uses the same one, so the
//! carrier does the work once); commands on a call also carry a `command_id`, which Call
//! Control deduplicates per call. A 4xx answer is [`CarrierError::Refused`] (the carrier's
//! reason kept, not worth retrying); 5xx, timeouts and unreachable hosts are
//! [`CarrierError::Unavailable`] (worth retrying).
//!
//! Inbound webhooks are signed by Telnyx with Ed25519 over `"{telnyx-timestamp}|{body}"`
//! (header `telnyx-signature-ed25519`, base64); [`verify_webhook`] checks that, and that the
//! timestamp is within the tolerance, when a public key is configured.

use crate::error::ApiError;
use crate::settings::CarrierSettings;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// Header of a webhook's Ed25519 signature (base64).
pub const SIGNATURE_HEADER: &str = "telnyx-signature-ed25519";
/// Header of a webhook's signing time (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "telnyx-timestamp";

/// Why a carrier request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CarrierError {
    /// The carrier answered 4xx: the request cannot succeed as it is (bad number, no
    /// permission). Its reason is kept.
    #[error("Telnyx refused the request ({status}): {detail}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The carrier's reason (its error codes, titles and details).
        detail: String,
    },
    /// The carrier failed (5xx), did not answer in time or could not be reached; a retry may
    /// succeed.
    #[error("Telnyx is unavailable: {0}")]
    Unavailable(String),
}

impl CarrierError {
    /// Whether retrying the same request later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

impl From<CarrierError> for ApiError {
    fn from(error: CarrierError) -> Self {
        ApiError::Upstream {
            detail: format!("The carrier did not send the message: {error}"),
        }
    }
}

/// A message the carrier accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// The carrier's message id (delivery webhooks name it).
    pub id: String,
    /// Its first status (`queued`).
    pub status: String,
}

/// A call the carrier is placing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedCall {
    /// The carrier's id of the call (its webhooks name it).
    pub call_control_id: String,
}

/// The Telnyx API client.
#[derive(Debug, Clone)]
pub struct Carrier {
    http: reqwest::Client,
    settings: CarrierSettings,
}

impl Carrier {
    /// A client for the configured API root and key.
    pub fn new(settings: &CarrierSettings) -> Self {
        let timeout = Duration::from_millis(settings.timeout_ms);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .build()
            .unwrap_or_default();
        Self {
            http,
            settings: settings.clone(),
        }
    }

    /// The settings it was made with.
    pub fn settings(&self) -> &CarrierSettings {
        &self.settings
    }

    /// Sends a text from `from` to `to`. `messaging_profile_id` falls back to the configured
    /// one; without either, Telnyx uses the profile `from` is assigned to.
    pub async fn send_sms(
        &self,
        from: &str,
        to: &str,
        text: &str,
        messaging_profile_id: Option<&str>,
        idempotency_key: &str,
    ) -> Result<SentMessage, CarrierError> {
        let mut body = json!({"from": from, "to": to, "text": text, "type": "SMS"});
        if let Some(profile) =
            messaging_profile_id.or(self.settings.messaging_profile_id.as_deref())
        {
            body["messaging_profile_id"] = json!(profile);
        }
        let answer = self.post("/messages", &body, idempotency_key).await?;
        let data = answer.get("data").unwrap_or(&answer);
        let id = data
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| CarrierError::Unavailable("the answer carries no message id".into()))?;
        let status = data
            .get("to")
            .and_then(|to| to.get(0))
            .and_then(|to| to.get("status"))
            .and_then(Value::as_str)
            .unwrap_or("queued");
        Ok(SentMessage {
            id: id.to_owned(),
            status: status.to_owned(),
        })
    }

    /// Places a call from `from` to `to` with the configured Call Control application.
    /// `client_state` comes back on every webhook of the call.
    pub async fn dial(
        &self,
        from: &str,
        to: &str,
        client_state: &str,
        idempotency_key: &str,
    ) -> Result<PlacedCall, CarrierError> {
        let Some(connection_id) = self.settings.connection_id.as_deref() else {
            return Err(CarrierError::Refused {
                status: 0,
                detail: "no Call Control application is configured (set \
                         PARLEY_TELNYX_CONNECTION_ID)"
                    .into(),
            });
        };
        let mut body = json!({
            "connection_id": connection_id,
            "to": to,
            "from": from,
            "client_state": client_state,
        });
        if let Some(url) = &self.settings.public_url {
            body["webhook_url"] = json!(format!("{url}/v2/webhooks/call-control"));
        }
        let answer = self.post("/calls", &body, idempotency_key).await?;
        let data = answer.get("data").unwrap_or(&answer);
        let id = data
            .get("call_control_id")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                CarrierError::Unavailable("the answer carries no call_control_id".into())
            })?;
        Ok(PlacedCall {
            call_control_id: id.to_owned(),
        })
    }

    /// Starts the assistant on an answered call, with the conversation's dynamic variables.
    pub async fn start_assistant(
        &self,
        call_control_id: &str,
        assistant_id: &str,
        dynamic_variables: &BTreeMap<String, String>,
        command_id: &str,
    ) -> Result<Value, CarrierError> {
        let body = json!({
            "assistant": {"id": assistant_id, "dynamic_variables": dynamic_variables},
            "command_id": command_id,
        });
        let path = format!(
            "/calls/{}/actions/ai_assistant_start",
            url_segment(call_control_id)
        );
        self.post(&path, &body, command_id).await
    }

    async fn post(
        &self,
        path: &str,
        body: &Value,
        idempotency_key: &str,
    ) -> Result<Value, CarrierError> {
        let url = format!("{}{path}", self.settings.api_url);
        let mut request = self
            .http
            .post(&url)
            .header("Idempotency-Key", idempotency_key)
            .json(body);
        if let Some(key) = &self.settings.api_key {
            request = request.bearer_auth(key);
        }
        let started = std::time::Instant::now();
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                CarrierError::Unavailable(format!("{path} timed out"))
            } else {
                CarrierError::Unavailable(format!("{path} could not be reached"))
            }
        })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| CarrierError::Unavailable(format!("{path}: reading the answer: {e}")))?;
        tracing::debug!(
            path,
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "carrier request"
        );
        let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(answer);
        }
        let detail = describe_errors(&answer).unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("no reason given")
                .to_owned()
        });
        if status.is_client_error() {
            Err(CarrierError::Refused {
                status: status.as_u16(),
                detail,
            })
        } else {
            Err(CarrierError::Unavailable(format!(
                "{path} answered {}: {detail}",
                status.as_u16()
            )))
        }
    }
}

/// The carrier's error envelope (`{"errors": [{code, title, detail}]}`) as one line.
fn describe_errors(answer: &Value) -> Option<String> {
    let errors = answer.get("errors")?.as_array()?;
    let parts: Vec<String> = errors
        .iter()
        .map(|e| {
            let text = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default();
            let code = match e.get("code") {
                Some(Value::String(c)) => c.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => String::new(),
            };
            let mut line = [code.as_str(), text("title")]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ");
            if !text("detail").is_empty() {
                if !line.is_empty() {
                    line.push_str(": ");
                }
                line.push_str(text("detail"));
            }
            line
        })
        .filter(|line| !line.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Percent-encodes a path segment (call control ids contain `:`).
fn url_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~:".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Encodes what a call's webhooks must lead back to (the event and its organization) as the
/// base64 `client_state` Call Control wants.
pub fn encode_client_state(state: &Map<String, Value>) -> String {
    base64::engine::general_purpose::STANDARD.encode(Value::Object(state.clone()).to_string())
}

/// Decodes a `client_state` made by [`encode_client_state`]; `None` for anything else.
pub fn decode_client_state(text: &str) -> Option<Map<String, Value>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// Why a webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A header is missing.
    #[error("the {0} header is missing")]
    Missing(&'static str),
    /// The timestamp is not a number or too far from now.
    #[error("the webhook's timestamp is outside the {0} s tolerance")]
    Stale(u64),
    /// The signature does not verify.
    #[error("the webhook's signature does not verify")]
    Invalid,
}

/// Checks a webhook's Ed25519 signature over `"{timestamp}|{body}"` with `public_key`, and
/// that `timestamp` (Unix seconds) is within `tolerance_secs` of `now`.
pub fn verify_webhook(
    public_key: &[u8],
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance_secs: u64,
) -> Result<(), SignatureError> {
    let signature = signature.ok_or(SignatureError::Missing(SIGNATURE_HEADER))?;
    let timestamp = timestamp.ok_or(SignatureError::Missing(TIMESTAMP_HEADER))?;
    let at: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::Stale(tolerance_secs))?;
    if now.timestamp().abs_diff(at) > tolerance_secs {
        return Err(SignatureError::Stale(tolerance_secs));
    }
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| SignatureError::Invalid)?;
    let mut message = Vec::with_capacity(timestamp.len() + 1 + body.len());
    message.extend_from_slice(timestamp.trim().as_bytes());
    message.push(b'|');
    message.extend_from_slice(body);
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public_key)
        .verify(&message, &signature)
        .map_err(|_| SignatureError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    #[test]
    fn signatures_verify_over_timestamp_and_body() {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let public = pair.public_key().as_ref().to_vec();
        let now = Utc::now();
        let timestamp = now.timestamp().to_string();
        let body = br#"{"data":{}}"#;
        let message = [timestamp.as_bytes(), b"|", body].concat();
        let signature = base64::engine::general_purpose::STANDARD.encode(pair.sign(&message));
        let check = |sig: Option<&str>, ts: Option<&str>, body: &[u8]| {
            verify_webhook(&public, sig, ts, body, now, 300)
        };
        assert_eq!(check(Some(&signature), Some(&timestamp), body), Ok(()));
        assert_eq!(
            check(Some(&signature), Some(&timestamp), b"{}"),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            check(None, Some(&timestamp), body),
            Err(SignatureError::Missing(SIGNATURE_HEADER))
        );
        let old = (now.timestamp() - 301).to_string();
        assert_eq!(
            check(Some(&signature), Some(&old), body),
            Err(SignatureError::Stale(300))
        );
    }

    #[test]
    fn carrier_errors_read_as_one_line() {
        let answer = json!({"errors": [{"code": "40310", "title": "Invalid 'to' address", "detail": "The 'to' address is not a valid number"}]});
        assert_eq!(
            describe_errors(&answer).unwrap(),
            "40310 Invalid 'to' address: The 'to' address is not a valid number"
        );
        assert_eq!(describe_errors(&json!({})), None);
        let state = Map::from_iter([("event".to_owned(), json!("e1"))]);
        assert_eq!(
            decode_client_state(&encode_client_state(&state)),
            Some(state)
        );
        assert_eq!(url_segment("v3:a/b"), "v3:a%2Fb");
    }
}
