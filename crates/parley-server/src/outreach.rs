//! Outreach: an assistant texting and calling people through the carrier ([`crate::carrier`]).
//!
//! - **Sending an SMS** ([`send_assistant_sms`], `POST /ai/assistants/{id}/chat/sms`): the
//!   text given, else the assistant's greeting on a new conversation, else a message the model
//!   writes; sent first, then recorded as the assistant's message in an `sms_chat`
//!   conversation (`telnyx_agent_target` = from, `telnyx_end_user_target` = to), so a carrier
//!   failure (502) leaves nothing behind.
//! - **Inbound SMS** ([`accept_messaging_event`], then the [`InboundSmsHandler`] job): the
//!   webhook is answered at once; a durable `inbound_sms` job (keyed by the carrier's event
//!   id, written with the event id in one transaction so a redelivery is ignored) runs a chat
//!   turn in the conversation of those two numbers — or a new one when it lapsed
//!   (`conversation_inactivity_minutes`) — and sends the reply. The reply is recorded before
//!   it is sent, so a repeated run re-sends it (same idempotency key) instead of answering
//!   twice.
//! - **Delivery status** (`message.sent`, `message.finalized`): the message's status is
//!   updated, forwarded to the assistant's `messaging_settings.delivery_status_webhook_url`,
//!   and a scheduled SMS event completes (delivered) or fails.
//! - **Scheduled events** ([`ScheduledEventHandler`]): at the due time an `sms_chat` event
//!   sends its text and opens its conversation; a `phone_call` event dials. Carrier failures
//!   that may pass (5xx, timeouts) are retried with back-off, up to
//!   [`MAX_DISPATCH_RETRIES`]; refusals fail the event with the carrier's reason.
//! - **Call progress** ([`accept_call_event`]): `call.answered` records the answer, opens the
//!   `phone_call` conversation and starts the assistant on the call with the event's dynamic
//!   variables; `call.hangup` records the attempt and either completes the event, schedules
//!   the next dial `retry_interval_secs` later (same transaction as the job), or fails it
//!   when the retry budget is spent.
//!
//! Handlers may run more than once (a node can die mid-run): each checks the stored state
//! first, and every carrier request carries an idempotency key derived from what it does.

use crate::carrier::{decode_client_state, encode_client_state, CarrierError};
use crate::chat::{self, ChatInput, ConversationOrigin};
use crate::error::{ApiError, ApiResult};
use crate::jobs::{JobHandler, JobOutcome};
use crate::state::AppState;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use parley_core::conversation::{
    MessageRole, META_AI_DISABLED, META_ASSISTANT_ID, META_ASSISTANT_VERSION_ID,
    META_CALL_CONTROL_ID, META_CHANNEL, META_ENDED_AT,
};
use parley_core::ids::{AssistantId, OrgId};
use parley_core::messaging::{
    continues_conversation, metadata_strings, SendSms, INBOUND_SMS_JOB, PHONE_CALL, SMS_CHAT,
};
use parley_core::scheduled_events::{
    after_call, call_outcome, AfterCall, CallAttempt, EventChannel, EventStatus, JOB_KIND,
};
use parley_store::{
    AssistantRecord, EventEdit, JobRecord, NewConversation, NewJob, NewMessage,
    ScheduledEventRecord, SmsDirection, SmsMessageRecord,
};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Most retries of a dispatch the carrier could not take (5xx, timeout, unreachable) before
/// the event fails.
pub const MAX_DISPATCH_RETRIES: u32 = 5;
/// Most runs of an inbound-SMS job whose model or carrier failed.
pub const MAX_INBOUND_ATTEMPTS: u32 = 5;
/// How long webhook event ids are remembered, in days.
pub const WEBHOOK_EVENT_RETENTION_DAYS: i64 = 7;

/// Back-off before retry `n` (from 1): 10 s doubling, at most 10 minutes.
fn backoff(n: u32) -> Duration {
    Duration::seconds((10i64 << n.saturating_sub(1).min(6)).min(600))
}

/// An id derived from `parts` (a UUID in form), so a repeated run names the same thing.
fn derived_id(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// An assistant's `messaging_settings`.
fn messaging_settings(assistant: &AssistantRecord) -> Option<&Value> {
    assistant.version.config.as_map().get("messaging_settings")
}

/// The messaging profile an assistant's texts are sent with, if it names one.
fn messaging_profile(assistant: &AssistantRecord) -> Option<String> {
    messaging_settings(assistant)
        .and_then(|s| s.get("default_messaging_profile_id"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The conversation a text between `agent` and `end_user` continues for `assistant`: the
/// newest conversation of those two numbers in the organization, if it is the assistant's,
/// has not ended and has not lapsed (`conversation_inactivity_minutes`).
async fn active_sms_conversation(
    state: &AppState,
    org: &OrgId,
    assistant: &AssistantRecord,
    agent: &str,
    end_user: &str,
) -> ApiResult<Option<String>> {
    let Some(thread) = state.store.find_sms_thread(agent, end_user).await? else {
        return Ok(None);
    };
    let Some(id) = thread.conversation_id.filter(|_| thread.org_id == *org) else {
        return Ok(None);
    };
    let Some(conversation) = state.store.get_conversation(org, &id).await? else {
        return Ok(None);
    };
    let owner = conversation.metadata.get(META_ASSISTANT_ID);
    if owner.map(String::as_str) != Some(assistant.id.as_str())
        || conversation.metadata.contains_key(META_ENDED_AT)
        || !continues_conversation(
            messaging_settings(assistant),
            conversation.last_message_at,
            state.clock.now(),
        )
    {
        return Ok(None);
    }
    Ok(Some(id))
}

fn sms_origin(agent: &str, end_user: &str) -> ConversationOrigin {
    ConversationOrigin {
        channel: SMS_CHAT.to_owned(),
        agent_target: Some(agent.to_owned()),
        end_user_target: Some(end_user.to_owned()),
        ..ConversationOrigin::default()
    }
}

/// An outbound message as recorded before or after it is sent.
#[allow(clippy::too_many_arguments)]
fn outbound_message(
    org: &OrgId,
    assistant: &AssistantId,
    agent: &str,
    end_user: &str,
    text: &str,
    conversation_id: &str,
    now: DateTime<Utc>,
) -> SmsMessageRecord {
    SmsMessageRecord {
        id: uuid::Uuid::new_v4().to_string(),
        org_id: org.clone(),
        direction: SmsDirection::Outbound,
        carrier_message_id: None,
        agent_number: agent.to_owned(),
        end_user_number: end_user.to_owned(),
        assistant_id: assistant.clone(),
        conversation_id: Some(conversation_id.to_owned()),
        scheduled_event_id: None,
        in_reply_to: None,
        text: text.to_owned(),
        status: "queued".to_owned(),
        errors: Vec::new(),
        created_at: now,
        updated_at: now,
    }
}

/// `POST /ai/assistants/{id}/chat/sms`: sends one SMS as the assistant and records it;
/// returns the conversation's id.
pub async fn send_assistant_sms(
    state: &AppState,
    org: &OrgId,
    assistant_id: &str,
    input: SendSms,
) -> ApiResult<String> {
    let assistant = state
        .store
        .get_assistant(org, &AssistantId::from_string(assistant_id))
        .await?
        .ok_or_else(|| ApiError::assistant_not_found(assistant_id))?;
    let existing = if input.should_create_conversation {
        None
    } else {
        active_sms_conversation(state, org, &assistant, &input.from, &input.to).await?
    };
    let conversation_id = existing
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let metadata: BTreeMap<String, String> = metadata_strings(&input.conversation_metadata)
        .into_iter()
        .collect();
    let mut origin = sms_origin(&input.from, &input.to);
    origin.metadata = metadata.clone();
    let turn = chat::prepare_from(
        state,
        org,
        assistant_id,
        ChatInput {
            content: String::new(),
            conversation_id: conversation_id.clone(),
            name: None,
            stream: false,
        },
        &origin,
    )
    .await?;
    let now = state.clock.now();
    let greeting = if turn.starts_conversation() {
        turn.greeting(now)
    } else {
        None
    };
    let mut generated = match (input.text, greeting) {
        (Some(text), _) => turn.answer_with(text, now),
        (None, Some(greeting)) => turn.answer_with(greeting, now),
        (None, None) => chat::generate(state, turn, None).await?,
    };
    let text = generated.content().trim().to_owned();
    if text.is_empty() {
        return Err(ApiError::Upstream {
            detail: "The assistant wrote an empty message; nothing was sent".into(),
        });
    }
    let sent = state
        .carrier
        .send_sms(
            &input.from,
            &input.to,
            &text,
            messaging_profile(&assistant).as_deref(),
            &format!("parley-sms-{}", uuid::Uuid::new_v4()),
        )
        .await?;
    generated.annotate("carrier_message_id", json!(sent.id));
    let outcome = generated.store(state).await?;
    let mut record = outbound_message(
        org,
        &assistant.id,
        &input.from,
        &input.to,
        &text,
        &outcome.conversation_id,
        state.clock.now(),
    );
    record.carrier_message_id = Some(sent.id);
    record.status = sent.status;
    state.store.insert_sms_message(&record).await?;
    if existing.is_some() && !metadata.is_empty() {
        let update = metadata.into_iter().map(|(k, v)| (k, Some(v))).collect();
        state
            .store
            .update_conversation_metadata(org, &outcome.conversation_id, &update)
            .await?;
    }
    Ok(outcome.conversation_id)
}

// ---------------------------------------------------------------------------------------
// Inbound SMS and delivery status
// ---------------------------------------------------------------------------------------

/// What became of a webhook event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Work was queued or done.
    Accepted,
    /// The event id was seen before.
    Duplicate,
    /// Nothing here is about it (no assistant for the number, an unknown message or call, an
    /// event type Parley does not act on).
    Ignored,
}

impl WebhookOutcome {
    /// As the webhook's answer says it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Duplicate => "duplicate",
            Self::Ignored => "ignored",
        }
    }
}

fn malformed(detail: &str) -> ApiError {
    ApiError::MalformedBody {
        detail: detail.to_owned(),
        pointer: Some("/data".into()),
    }
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A phone number as a webhook gives it: a string, or `{phone_number}`.
fn number_of(value: Option<&Value>) -> Option<&str> {
    match value? {
        Value::String(number) => Some(number.as_str()),
        Value::Array(items) => number_of(items.first()),
        other => other.get("phone_number").and_then(Value::as_str),
    }
}

/// Handles a `POST /v2/webhooks/messaging` event (`{data: {id, event_type, payload}}`).
pub async fn accept_messaging_event(state: &AppState, body: &Value) -> ApiResult<WebhookOutcome> {
    let data = body.get("data").ok_or_else(|| malformed("no data"))?;
    let event_type = str_at(data, "/event_type").ok_or_else(|| malformed("no event_type"))?;
    let payload = data.get("payload").ok_or_else(|| malformed("no payload"))?;
    let now = state.clock.now();
    match event_type {
        "message.received" => {
            let message_id = str_at(payload, "/id").ok_or_else(|| malformed("no payload.id"))?;
            let event_id = str_at(data, "/id").unwrap_or(message_id);
            let from = number_of(payload.get("from"))
                .ok_or_else(|| malformed("no payload.from.phone_number"))?;
            let to = number_of(payload.get("to"))
                .ok_or_else(|| malformed("no payload.to[0].phone_number"))?;
            let text = payload
                .get("text")
                .and_then(Value::as_str)
                .unwrap_or_default();
            // Which organization and assistant: the thread of these two numbers, else the
            // number's assignment.
            let route = match state.store.find_sms_thread(to, from).await? {
                Some(thread) => Some((thread.org_id, thread.assistant_id)),
                None => state
                    .store
                    .find_phone_number(to)
                    .await?
                    .map(|n| (n.org_id, n.assistant_id)),
            };
            let Some((org, assistant)) = route else {
                tracing::info!(to, "inbound SMS to a number no assistant answers; ignored");
                state
                    .store
                    .accept_webhook_event(event_id, now, None)
                    .await?;
                return Ok(WebhookOutcome::Ignored);
            };
            let job = NewJob {
                org_id: org,
                kind: INBOUND_SMS_JOB.to_owned(),
                key: event_id.to_owned(),
                payload: json!({
                    "assistant_id": assistant.as_str(),
                    "from": from,
                    "to": to,
                    "text": text,
                    "message_id": message_id,
                }),
                due_at: now,
            };
            if !state
                .store
                .accept_webhook_event(event_id, now, Some(&job))
                .await?
            {
                return Ok(WebhookOutcome::Duplicate);
            }
            state.jobs.wake();
            Ok(WebhookOutcome::Accepted)
        }
        "message.sent" | "message.finalized" | "message.delivered" | "message.failed" => {
            let message_id = str_at(payload, "/id").ok_or_else(|| malformed("no payload.id"))?;
            if let Some(event_id) = str_at(data, "/id") {
                if !state
                    .store
                    .accept_webhook_event(event_id, now, None)
                    .await?
                {
                    return Ok(WebhookOutcome::Duplicate);
                }
            }
            let status = str_at(payload, "/to/0/status")
                .or_else(|| str_at(payload, "/status"))
                .unwrap_or(match event_type {
                    "message.sent" => "sent",
                    _ => "delivery_unconfirmed",
                });
            let errors: Vec<String> = payload
                .get("errors")
                .and_then(Value::as_array)
                .map(|errors| errors.iter().map(describe_carrier_error).collect())
                .unwrap_or_default();
            let Some(message) = state
                .store
                .update_sms_status(message_id, status, &errors, now)
                .await?
            else {
                return Ok(WebhookOutcome::Ignored);
            };
            if let Some(event_id) = &message.scheduled_event_id {
                if event_type != "message.sent" {
                    finish_sms_event(state, &message.org_id, event_id, status, &errors).await?;
                }
            }
            forward_delivery_status(state, &message, body.clone()).await?;
            Ok(WebhookOutcome::Accepted)
        }
        _ => Ok(WebhookOutcome::Ignored),
    }
}

fn describe_carrier_error(error: &Value) -> String {
    let text = |k: &str| error.get(k).and_then(Value::as_str).unwrap_or_default();
    let code = match error.get("code") {
        Some(Value::String(c)) => c.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let head = [code.as_str(), text("title")]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    match (head.is_empty(), text("detail")) {
        (_, "") => head,
        (true, detail) => detail.to_owned(),
        (false, detail) => format!("{head}: {detail}"),
    }
}

/// A delivery report finalized a scheduled SMS event's message: `delivered` completes the
/// event, anything else fails it.
async fn finish_sms_event(
    state: &AppState,
    org: &OrgId,
    event_id: &str,
    status: &str,
    errors: &[String],
) -> ApiResult<()> {
    let (status, errors, now) = (status.to_owned(), errors.to_vec(), state.clock.now());
    state
        .store
        .edit_scheduled_event(
            org,
            event_id,
            Box::new(move |current| {
                if current.status != EventStatus::InProgress {
                    return EventEdit::Unchanged;
                }
                let mut next = current.clone();
                if status == "delivered" {
                    next.status = EventStatus::Completed;
                } else {
                    next.status = EventStatus::Failed;
                    let mut error = format!("SMS {status}");
                    if !errors.is_empty() {
                        error.push_str(": ");
                        error.push_str(&errors.join("; "));
                    }
                    next.errors.push(error);
                }
                next.updated_at = now;
                EventEdit::Save(Box::new(next), None)
            }),
        )
        .await?;
    Ok(())
}

/// Forwards a delivery report to the assistant's `delivery_status_webhook_url`, in the
/// background (the carrier's webhook is answered at once). The URL is user-configured, so it
/// goes through the outbound address policy.
async fn forward_delivery_status(
    state: &AppState,
    message: &SmsMessageRecord,
    body: Value,
) -> ApiResult<()> {
    let Some(assistant) = state
        .store
        .get_assistant(&message.org_id, &message.assistant_id)
        .await?
    else {
        return Ok(());
    };
    let Some(url) = messaging_settings(&assistant)
        .and_then(|s| s.get("delivery_status_webhook_url"))
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
    else {
        return Ok(());
    };
    if let Err(e) = state.outbound.check_url(&url) {
        tracing::warn!(error = %e, "delivery status webhook refused");
        return Ok(());
    }
    let client = state.outbound.client().clone();
    tokio::spawn(async move {
        let sent = client
            .post(&url)
            .timeout(std::time::Duration::from_secs(10))
            .json(&body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {}
            Ok(response) => tracing::warn!(
                status = response.status().as_u16(),
                "delivery status webhook answered with an error"
            ),
            Err(e) => tracing::warn!(error = %e, "delivery status webhook failed"),
        }
    });
    Ok(())
}

/// Answers inbound texts (jobs of kind [`INBOUND_SMS_JOB`]).
#[derive(Debug, Default)]
pub struct InboundSmsHandler;

#[async_trait]
impl JobHandler for InboundSmsHandler {
    async fn run(&self, state: &AppState, job: &JobRecord) -> JobOutcome {
        match answer_inbound(state, job).await {
            Ok(outcome) => outcome,
            Err(e) => retry_or_fail(state, job, e.to_string()),
        }
    }
}

fn retry_or_fail(state: &AppState, job: &JobRecord, error: String) -> JobOutcome {
    if job.attempts < MAX_INBOUND_ATTEMPTS {
        JobOutcome::RetryAt {
            due_at: state.clock.now() + backoff(job.attempts),
            error,
        }
    } else {
        JobOutcome::Failed(error)
    }
}

async fn answer_inbound(state: &AppState, job: &JobRecord) -> ApiResult<JobOutcome> {
    let org = &job.org_id;
    let field = |name: &str| {
        job.payload
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (end_user, agent, text, message_id) = (
        field("from"),
        field("to"),
        field("text"),
        field("message_id"),
    );
    // A repeated run: the reply was recorded; send it if it was not sent.
    if let Some(reply) = state.store.find_sms_reply(org, &message_id).await? {
        if reply.carrier_message_id.is_some() || reply.status == "sending_failed" {
            return Ok(JobOutcome::Done);
        }
        let assistant = state.store.get_assistant(org, &reply.assistant_id).await?;
        let profile = assistant.as_ref().and_then(messaging_profile);
        return send_reply(state, job, &reply, profile.as_deref()).await;
    }
    let mut assistant_id = AssistantId::from_string(field("assistant_id"));
    let Some(mut assistant) = state.store.get_assistant(org, &assistant_id).await? else {
        return Ok(JobOutcome::Failed(format!(
            "assistant {assistant_id} no longer exists"
        )));
    };
    let mut conversation =
        active_sms_conversation(state, org, &assistant, &agent, &end_user).await?;
    if conversation.is_none() {
        // A new conversation goes to the assistant the number is assigned to, if any.
        if let Some(assigned) = state.store.find_phone_number(&agent).await? {
            if assigned.org_id == *org && assigned.assistant_id != assistant_id {
                if let Some(found) = state
                    .store
                    .get_assistant(org, &assigned.assistant_id)
                    .await?
                {
                    assistant_id = assigned.assistant_id;
                    assistant = found;
                    conversation =
                        active_sms_conversation(state, org, &assistant, &agent, &end_user).await?;
                }
            }
        }
    }
    let conversation_id = conversation.unwrap_or_else(|| derived_id(&["inbound", &message_id]));
    // Human takeover: the message is recorded, the assistant stays quiet.
    if let Some(existing) = state.store.get_conversation(org, &conversation_id).await? {
        if existing.metadata.get(META_AI_DISABLED).map(String::as_str) == Some("true") {
            let mut message = NewMessage::new(MessageRole::User, text.clone());
            message.sent_at = Some(state.clock.now());
            state
                .store
                .append_messages(org, &conversation_id, None, &[message], state.clock.now())
                .await?;
            record_inbound(
                state,
                org,
                &assistant_id,
                &agent,
                &end_user,
                &text,
                &message_id,
                &conversation_id,
            )
            .await;
            return Ok(JobOutcome::Done);
        }
    }
    let turn = chat::prepare_from(
        state,
        org,
        assistant_id.as_str(),
        ChatInput {
            content: if text.trim().is_empty() {
                "(empty message)".to_owned()
            } else {
                text.clone()
            },
            conversation_id: conversation_id.clone(),
            name: None,
            stream: false,
        },
        &sms_origin(&agent, &end_user),
    )
    .await;
    let turn = match turn {
        Ok(turn) => turn,
        Err(e) if e.status().is_client_error() => {
            return Ok(JobOutcome::Failed(format!("the turn was refused: {e}")))
        }
        Err(e) => return Err(e),
    };
    let mut generated = chat::generate(state, turn, None).await?;
    generated.annotate("in_reply_to", json!(message_id));
    let reply_text = generated.content().trim().to_owned();
    let outcome = generated.store(state).await?;
    record_inbound(
        state,
        org,
        &assistant_id,
        &agent,
        &end_user,
        &text,
        &message_id,
        &outcome.conversation_id,
    )
    .await;
    if reply_text.is_empty() {
        return Ok(JobOutcome::Done);
    }
    let mut reply = outbound_message(
        org,
        &assistant_id,
        &agent,
        &end_user,
        &reply_text,
        &outcome.conversation_id,
        state.clock.now(),
    );
    reply.in_reply_to = Some(message_id.clone());
    state.store.insert_sms_message(&reply).await?;
    send_reply(state, job, &reply, messaging_profile(&assistant).as_deref()).await
}

/// Records the inbound message itself (so the thread is found again); a repeat is ignored.
#[allow(clippy::too_many_arguments)]
async fn record_inbound(
    state: &AppState,
    org: &OrgId,
    assistant: &AssistantId,
    agent: &str,
    end_user: &str,
    text: &str,
    message_id: &str,
    conversation_id: &str,
) {
    let mut inbound = outbound_message(
        org,
        assistant,
        agent,
        end_user,
        text,
        conversation_id,
        state.clock.now(),
    );
    inbound.direction = SmsDirection::Inbound;
    inbound.carrier_message_id = Some(message_id.to_owned());
    inbound.status = "received".to_owned();
    if let Err(e) = state.store.insert_sms_message(&inbound).await {
        tracing::debug!(error = %e, "inbound message already recorded");
    }
}

async fn send_reply(
    state: &AppState,
    job: &JobRecord,
    reply: &SmsMessageRecord,
    profile: Option<&str>,
) -> ApiResult<JobOutcome> {
    let key = format!(
        "parley-reply-{}",
        reply.in_reply_to.as_deref().unwrap_or(&reply.id)
    );
    let now = state.clock.now();
    let result = state
        .carrier
        .send_sms(
            &reply.agent_number,
            &reply.end_user_number,
            &reply.text,
            profile,
            &key,
        )
        .await;
    match result {
        Ok(sent) => {
            state
                .store
                .set_sms_sent(
                    &reply.org_id,
                    &reply.id,
                    Some(&sent.id),
                    &sent.status,
                    None,
                    now,
                )
                .await?;
            Ok(JobOutcome::Done)
        }
        Err(e) if e.is_retryable() && job.attempts < MAX_INBOUND_ATTEMPTS => {
            state
                .store
                .set_sms_sent(
                    &reply.org_id,
                    &reply.id,
                    None,
                    "queued",
                    Some(&e.to_string()),
                    now,
                )
                .await?;
            Ok(JobOutcome::RetryAt {
                due_at: now + backoff(job.attempts),
                error: e.to_string(),
            })
        }
        Err(e) => {
            state
                .store
                .set_sms_sent(
                    &reply.org_id,
                    &reply.id,
                    None,
                    "sending_failed",
                    Some(&e.to_string()),
                    now,
                )
                .await?;
            Ok(JobOutcome::Failed(e.to_string()))
        }
    }
}

// ---------------------------------------------------------------------------------------
// Scheduled events
// ---------------------------------------------------------------------------------------

/// The job that dispatches a scheduled event at its due time.
pub fn scheduled_event_job(event: &ScheduledEventRecord) -> NewJob {
    NewJob {
        org_id: event.org_id.clone(),
        kind: JOB_KIND.to_owned(),
        key: event.id.clone(),
        payload: json!({"assistant_id": event.assistant_id.as_str()}),
        due_at: event.spec.scheduled_at,
    }
}

/// Dispatches scheduled events (jobs of kind [`JOB_KIND`]).
#[derive(Debug, Default)]
pub struct ScheduledEventHandler;

#[async_trait]
impl JobHandler for ScheduledEventHandler {
    async fn run(&self, state: &AppState, job: &JobRecord) -> JobOutcome {
        match dispatch(state, job).await {
            Ok(outcome) => outcome,
            Err(e) => JobOutcome::RetryAt {
                due_at: state.clock.now() + backoff(job.attempts),
                error: e.to_string(),
            },
        }
    }
}

async fn dispatch(state: &AppState, job: &JobRecord) -> ApiResult<JobOutcome> {
    let assistant_id = AssistantId::from_string(
        job.payload
            .get("assistant_id")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    );
    let Some(event) = state
        .store
        .get_scheduled_event(&job.org_id, &assistant_id, &job.key)
        .await?
    else {
        return Ok(JobOutcome::Done); // deleted since
    };
    if event.status != EventStatus::Pending {
        return Ok(JobOutcome::Done); // dispatched already (a repeated run)
    }
    let now = state.clock.now();
    if event.spec.scheduled_at > now {
        return Ok(JobOutcome::RetryAt {
            due_at: event.spec.scheduled_at,
            error: "not due yet".into(),
        });
    }
    let Some(assistant) = state
        .store
        .get_assistant(&job.org_id, &assistant_id)
        .await?
    else {
        let error = format!("assistant {assistant_id} no longer exists");
        fail_event(state, &event, &error).await?;
        return Ok(JobOutcome::Failed(error));
    };
    tracing::info!(
        event = %event.id,
        channel = event.spec.channel.as_str(),
        lag_ms = (now - event.spec.scheduled_at).num_milliseconds(),
        "dispatching scheduled event"
    );
    match event.spec.channel {
        EventChannel::SmsChat => dispatch_sms(state, &event, &assistant).await,
        EventChannel::PhoneCall => dispatch_call(state, &event).await,
    }
}

/// Marks an event failed with `error`.
async fn fail_event(state: &AppState, event: &ScheduledEventRecord, error: &str) -> ApiResult<()> {
    let (error, now) = (error.to_owned(), state.clock.now());
    state
        .store
        .edit_scheduled_event(
            &event.org_id,
            &event.id,
            Box::new(move |current| {
                if current.status.is_final() {
                    return EventEdit::Unchanged;
                }
                let mut next = current.clone();
                next.status = EventStatus::Failed;
                next.errors.push(error);
                next.updated_at = now;
                EventEdit::Save(Box::new(next), None)
            }),
        )
        .await?;
    Ok(())
}

/// The carrier could not take a dispatch: count a retry and run again after a back-off, or
/// fail the event once [`MAX_DISPATCH_RETRIES`] are spent.
async fn dispatch_failed(
    state: &AppState,
    event: &ScheduledEventRecord,
    error: CarrierError,
) -> ApiResult<JobOutcome> {
    let message = error.to_string();
    if !error.is_retryable() || event.retry_count >= MAX_DISPATCH_RETRIES {
        fail_event(state, event, &message).await?;
        return Ok(JobOutcome::Failed(message));
    }
    let now = state.clock.now();
    let due = now + backoff(event.retry_count + 1);
    let text = message.clone();
    state
        .store
        .edit_scheduled_event(
            &event.org_id,
            &event.id,
            Box::new(move |current| {
                let mut next = current.clone();
                next.retry_count += 1;
                next.errors.push(text);
                next.updated_at = now;
                EventEdit::Save(Box::new(next), None)
            }),
        )
        .await?;
    Ok(JobOutcome::RetryAt {
        due_at: due,
        error: message,
    })
}

async fn dispatch_sms(
    state: &AppState,
    event: &ScheduledEventRecord,
    assistant: &AssistantRecord,
) -> ApiResult<JobOutcome> {
    let spec = &event.spec;
    let conversation_id = derived_id(&["scheduled-event", event.org_id.as_str(), &event.id]);
    let mut origin = sms_origin(&spec.agent_target, &spec.end_user_target);
    origin.metadata = metadata_strings(&spec.conversation_metadata)
        .into_iter()
        .collect();
    origin.variables = spec.dynamic_variables.clone();
    let turn = chat::prepare_from(
        state,
        &event.org_id,
        event.assistant_id.as_str(),
        ChatInput {
            content: String::new(),
            conversation_id,
            name: None,
            stream: false,
        },
        &origin,
    )
    .await;
    let turn = match turn {
        Ok(turn) => turn,
        Err(e) if e.status().is_client_error() => {
            let error = format!("the conversation could not start: {e}");
            fail_event(state, event, &error).await?;
            return Ok(JobOutcome::Failed(error));
        }
        Err(e) => return Err(e),
    };
    let now = state.clock.now();
    // The event's text is a template over the conversation's variables (the event's
    // `dynamic_variables` included), like the assistant's greeting.
    let text = turn.render(spec.text.as_deref().unwrap_or_default(), now);
    let mut generated = turn.answer_with(text.clone(), now);
    let sent = match state
        .carrier
        .send_sms(
            &spec.agent_target,
            &spec.end_user_target,
            &text,
            messaging_profile(assistant).as_deref(),
            &format!("parley-scheduled-event-{}", event.id),
        )
        .await
    {
        Ok(sent) => sent,
        Err(e) => {
            drop(generated);
            return dispatch_failed(state, event, e).await;
        }
    };
    generated.annotate("carrier_message_id", json!(sent.id));
    generated.annotate("scheduled_event_id", json!(event.id));
    let stored = generated.store(state).await;
    let conversation_id = match &stored {
        Ok(outcome) => Some(outcome.conversation_id.clone()),
        Err(e) => {
            tracing::warn!(error = %e, event = %event.id, "the sent SMS could not be recorded");
            None
        }
    };
    let mut record = outbound_message(
        &event.org_id,
        &event.assistant_id,
        &spec.agent_target,
        &spec.end_user_target,
        &text,
        conversation_id.as_deref().unwrap_or_default(),
        now,
    );
    record.conversation_id = conversation_id.clone();
    record.carrier_message_id = Some(sent.id.clone());
    record.status = sent.status.clone();
    record.scheduled_event_id = Some(event.id.clone());
    state.store.insert_sms_message(&record).await?;
    state
        .store
        .edit_scheduled_event(
            &event.org_id,
            &event.id,
            Box::new(move |current| {
                if current.status != EventStatus::Pending {
                    return EventEdit::Unchanged;
                }
                let mut next = current.clone();
                next.status = EventStatus::InProgress;
                next.dispatched_at = Some(now);
                next.conversation_id = conversation_id;
                next.updated_at = now;
                EventEdit::Save(Box::new(next), None)
            }),
        )
        .await?;
    Ok(JobOutcome::Done)
}

/// The `client_state` of a scheduled call: the event and its organization.
fn call_state(event: &ScheduledEventRecord) -> String {
    let mut state = Map::new();
    state.insert("parley_event".into(), json!(event.id));
    state.insert("org".into(), json!(event.org_id.as_str()));
    encode_client_state(&state)
}

async fn dispatch_call(state: &AppState, event: &ScheduledEventRecord) -> ApiResult<JobOutcome> {
    let attempt = event.call_attempts.len() + 1;
    let placed = state
        .carrier
        .dial(
            &event.spec.agent_target,
            &event.spec.end_user_target,
            &call_state(event),
            &format!("parley-scheduled-event-{}-dial-{attempt}", event.id),
        )
        .await;
    let call = match placed {
        Ok(call) => call.call_control_id,
        Err(e) => return dispatch_failed(state, event, e).await,
    };
    let now = state.clock.now();
    state
        .store
        .edit_scheduled_event(
            &event.org_id,
            &event.id,
            Box::new(move |current| {
                let mut next = current.clone();
                next.updated_at = now;
                if current
                    .call_attempts
                    .iter()
                    .any(|a| a.telnyx_call_control_id.as_deref() == Some(call.as_str()))
                {
                    // The call ended (its webhook came first); only the dispatch time is new.
                    if next.dispatched_at.is_some() {
                        return EventEdit::Unchanged;
                    }
                    next.dispatched_at = Some(now);
                    return EventEdit::Save(Box::new(next), None);
                }
                if current.status.is_final() {
                    return EventEdit::Unchanged;
                }
                let answered = current.call_control_id.as_deref() == Some(call.as_str())
                    && current.call_status.as_deref() == Some("in-progress");
                next.status = EventStatus::InProgress;
                next.call_control_id = Some(call);
                next.dispatched_at = Some(now);
                next.call_duration = None;
                if !answered {
                    next.call_status = Some("ringing".into());
                }
                EventEdit::Save(Box::new(next), None)
            }),
        )
        .await?;
    Ok(JobOutcome::Done)
}

// ---------------------------------------------------------------------------------------
// Call progress
// ---------------------------------------------------------------------------------------

/// Whether a call webhook is about `current`'s call (the current call, or — when the webhook
/// beat the dispatcher's write — the event it names, still pending) and not one already
/// recorded.
fn is_current_call(current: &ScheduledEventRecord, call: &str) -> bool {
    let recorded = current
        .call_attempts
        .iter()
        .any(|a| a.telnyx_call_control_id.as_deref() == Some(call));
    let live = current.status == EventStatus::InProgress
        && current.call_control_id.as_deref() == Some(call);
    !recorded && (live || current.status == EventStatus::Pending)
}

/// Handles a `POST /v2/webhooks/call-control` event (`{data: {id, event_type, payload}}`).
pub async fn accept_call_event(state: &AppState, body: &Value) -> ApiResult<WebhookOutcome> {
    let data = body.get("data").ok_or_else(|| malformed("no data"))?;
    let event_type = str_at(data, "/event_type").ok_or_else(|| malformed("no event_type"))?;
    let payload = data.get("payload").ok_or_else(|| malformed("no payload"))?;
    if !matches!(event_type, "call.answered" | "call.hangup") {
        return Ok(WebhookOutcome::Ignored);
    }
    let call = str_at(payload, "/call_control_id")
        .ok_or_else(|| malformed("no payload.call_control_id"))?
        .to_owned();
    let now = state.clock.now();
    if let Some(event_id) = str_at(data, "/id") {
        if !state
            .store
            .accept_webhook_event(event_id, now, None)
            .await?
        {
            return Ok(WebhookOutcome::Duplicate);
        }
    }
    let named = str_at(payload, "/client_state")
        .and_then(decode_client_state)
        .and_then(|s| {
            let event = s.get("parley_event")?.as_str()?.to_owned();
            let org = s.get("org")?.as_str()?.to_owned();
            Some((OrgId::from_string(org), event))
        });
    let (org, event_id) = match named {
        Some(found) => found,
        None => match state.store.find_scheduled_event_by_call(&call).await? {
            Some(event) => (event.org_id, event.id),
            None => return Ok(WebhookOutcome::Ignored),
        },
    };
    match event_type {
        "call.answered" => call_answered(state, &org, &event_id, call, now).await,
        _ => {
            let cause = str_at(payload, "/hangup_cause").map(str::to_owned);
            let duration = match (
                str_at(payload, "/start_time").and_then(parley_core::clock::parse_timestamp),
                str_at(payload, "/end_time").and_then(parley_core::clock::parse_timestamp),
            ) {
                (Some(start), Some(end)) if end >= start => Some((end - start).num_seconds()),
                _ => None,
            };
            call_ended(state, &org, &event_id, call, cause, duration, now).await
        }
    }
}

async fn call_answered(
    state: &AppState,
    org: &OrgId,
    event_id: &str,
    call: String,
    now: DateTime<Utc>,
) -> ApiResult<WebhookOutcome> {
    let conversation_id = derived_id(&["scheduled-call", org.as_str(), event_id, &call]);
    let (call_id, conversation) = (call.clone(), conversation_id.clone());
    let after = state
        .store
        .edit_scheduled_event(
            org,
            event_id,
            Box::new(move |current| {
                if !is_current_call(current, &call_id)
                    || current.call_status.as_deref() == Some("in-progress")
                {
                    return EventEdit::Unchanged;
                }
                let mut next = current.clone();
                next.status = EventStatus::InProgress;
                next.call_control_id = Some(call_id);
                next.call_status = Some("in-progress".into());
                next.conversation_id = Some(conversation);
                next.updated_at = now;
                EventEdit::Save(Box::new(next), None)
            }),
        )
        .await?;
    let Some(event) = after.filter(|e| {
        e.call_control_id.as_deref() == Some(call.as_str())
            && e.conversation_id.as_deref() == Some(conversation_id.as_str())
    }) else {
        return Ok(WebhookOutcome::Ignored);
    };
    // The conversation of the call, as a Telnyx call's would be.
    let assistant = state.store.get_assistant(org, &event.assistant_id).await?;
    let mut metadata: BTreeMap<String, String> =
        metadata_strings(&event.spec.conversation_metadata)
            .into_iter()
            .collect();
    metadata.insert(META_CHANNEL.into(), PHONE_CALL.into());
    metadata.insert(META_ASSISTANT_ID.into(), event.assistant_id.as_str().into());
    if let Some(assistant) = &assistant {
        metadata.insert(
            META_ASSISTANT_VERSION_ID.into(),
            assistant.version.id.as_str().into(),
        );
    }
    metadata.insert(
        parley_core::conversation::META_AGENT_TARGET.into(),
        event.spec.agent_target.clone(),
    );
    metadata.insert(
        parley_core::conversation::META_END_USER_TARGET.into(),
        event.spec.end_user_target.clone(),
    );
    metadata.insert(META_CALL_CONTROL_ID.into(), call.clone());
    metadata.insert("scheduled_event_id".into(), event.id.clone());
    state
        .store
        .create_conversation(
            org,
            &conversation_id,
            &NewConversation {
                name: None,
                metadata,
                variables: event.spec.dynamic_variables.clone(),
            },
            now,
        )
        .await?;
    // Start the assistant on the call in the background: the webhook is answered at once.
    let (state, org) = (state.clone(), org.clone());
    tokio::spawn(async move {
        let command = format!("parley-start-{}-{call}", event.id);
        if let Err(e) = state
            .carrier
            .start_assistant(
                &call,
                event.assistant_id.as_str(),
                &event.spec.dynamic_variables,
                &command,
            )
            .await
        {
            tracing::warn!(error = %e, event = %event.id, "starting the assistant on the call failed");
            let (error, now) = (
                format!("starting the assistant failed: {e}"),
                state.clock.now(),
            );
            let _ = state
                .store
                .edit_scheduled_event(
                    &org,
                    &event.id,
                    Box::new(move |current| {
                        let mut next = current.clone();
                        next.errors.push(error);
                        next.updated_at = now;
                        EventEdit::Save(Box::new(next), None)
                    }),
                )
                .await;
        }
    });
    Ok(WebhookOutcome::Accepted)
}

async fn call_ended(
    state: &AppState,
    org: &OrgId,
    event_id: &str,
    call: String,
    hangup_cause: Option<String>,
    duration: Option<i64>,
    now: DateTime<Utc>,
) -> ApiResult<WebhookOutcome> {
    let org_for_job = org.clone();
    let call_id = call.clone();
    let after = state
        .store
        .edit_scheduled_event(
            org,
            event_id,
            Box::new(move |current| {
                if !is_current_call(current, &call_id) {
                    return EventEdit::Unchanged;
                }
                let answered = current.call_control_id.as_deref() == Some(call_id.as_str())
                    && current.call_status.as_deref() == Some("in-progress");
                let outcome = call_outcome(hangup_cause.as_deref(), answered);
                let duration = if answered { duration } else { None };
                let mut next = current.clone();
                next.call_attempts.push(CallAttempt {
                    attempt_number: current.call_attempts.len() as u32 + 1,
                    attempted_at: current.dispatched_at.unwrap_or(now),
                    call_status: outcome.to_owned(),
                    call_duration: duration,
                    telnyx_call_control_id: Some(call_id.clone()),
                });
                next.call_control_id = Some(call_id);
                next.call_status = Some(outcome.to_owned());
                next.call_duration = duration;
                next.updated_at = now;
                let mut job = None;
                match after_call(
                    outcome,
                    current.call_attempts.len() as u32,
                    current.spec.max_retries_client_errors,
                    current.spec.retry_interval_secs,
                    now,
                ) {
                    AfterCall::Completed => next.status = EventStatus::Completed,
                    AfterCall::RetryAt(at) => {
                        next.status = EventStatus::Pending;
                        next.retry_count += 1;
                        next.spec.scheduled_at = at;
                        next.errors.push(format!(
                            "call ended: {outcome}; retrying at {}",
                            parley_core::clock::format_timestamp(&at)
                        ));
                        job = Some(NewJob {
                            org_id: org_for_job,
                            kind: JOB_KIND.to_owned(),
                            key: current.id.clone(),
                            payload: json!({"assistant_id": current.assistant_id.as_str()}),
                            due_at: at,
                        });
                    }
                    AfterCall::Failed(error) => {
                        next.status = EventStatus::Failed;
                        next.errors.push(error);
                    }
                }
                EventEdit::Save(Box::new(next), job)
            }),
        )
        .await?;
    match after {
        Some(event)
            if event
                .call_attempts
                .last()
                .and_then(|a| a.telnyx_call_control_id.as_deref())
                == Some(call.as_str()) =>
        {
            if event.status == EventStatus::Pending {
                state.jobs.wake();
            }
            Ok(WebhookOutcome::Accepted)
        }
        _ => Ok(WebhookOutcome::Ignored),
    }
}

/// Forgets webhook event ids older than [`WEBHOOK_EVENT_RETENTION_DAYS`].
pub async fn purge_webhook_events(state: &AppState) -> ApiResult<u64> {
    let cutoff = state.clock.now() - Duration::days(WEBHOOK_EVENT_RETENTION_DAYS);
    Ok(state.store.purge_webhook_events(cutoff).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), Duration::seconds(10));
        assert_eq!(backoff(2), Duration::seconds(20));
        assert_eq!(backoff(30), Duration::seconds(600));
    }

    #[test]
    fn derived_ids_are_stable_uuids() {
        let a = derived_id(&["x", "y"]);
        assert_eq!(a, derived_id(&["x", "y"]));
        assert_ne!(a, derived_id(&["xy"]));
        assert!(uuid::Uuid::parse_str(&a).is_ok());
    }
}
