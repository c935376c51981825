//! The conversation engine: one chat turn, from the request to the stored messages.
//!
//! A turn has two phases:
//!
//! 1. [`prepare`] — everything that can be refused with a 4xx, before a model is asked: the
//!    assistant (404), the conversation (created on first use; `ai_disabled` → 400; one that
//!    another assistant started → 400), the version that serves it (chosen once, when the
//!    conversation starts, by the canary rules — sticky), its dynamic variables (resolved
//!    once at the start: the assistant's defaults overridden by the
//!    `dynamic_variables_webhook_url` answer, plus system variables), and its models.
//! 2. [`run`] — the model loop: the system prompt is the version's `instructions` rendered
//!    with the variables; the history is the stored conversation, oldest turns dropped when it
//!    would not fit the model's context (counted in the trace); the model is asked, and asked
//!    again after tool calls, up to [`LlmSettings::max_tool_rounds`] rounds and within
//!    [`LlmSettings::turn_deadline_ms`]. When the primary model fails before it produced any
//!    text, the `fallback_config` model answers instead.
//!
//! Only a completed turn is written: the user's message, any tool calls and results, and the
//! answer are appended in one transaction (with the conversation itself when the turn starts
//! it). A failed or cancelled turn (upstream error, deadline, client gone) leaves the
//! conversation exactly as it was, so the next chat works.
//!
//! The answer's trace — model, version, token counts, timings, dropped history, fallback —
//! is stored as the assistant message's `metadata` (readable with
//! `GET /v2/ai/conversations/{id}/messages`) and logged.
//!
//! [`LlmSettings::max_tool_rounds`]: crate::settings::LlmSettings::max_tool_rounds
//! [`LlmSettings::turn_deadline_ms`]: crate::settings::LlmSettings::turn_deadline_ms

use crate::error::{ApiError, ApiResult};
use crate::llm::{ModelPlan, ResolvedModel};
use crate::state::AppState;
use crate::tools::{Effect, ToolContext, Toolbox};
use parley_core::canary::{self, RoutingContext};
use parley_core::conversation::{
    self as conv, MessageRole, StoredToolCall, META_AI_DISABLED, META_ASSISTANT_ID,
    META_ASSISTANT_VERSION_ID, META_CHANNEL, META_HANDOFF_ASSISTANT_ID,
};
use parley_core::ids::{AssistantId, OrgId, VersionId};
use parley_core::validation::{FieldError, ValidationErrors};
use parley_core::variables::{self, SystemFacts, VariableContext};
use parley_llm::{ChatEvent, ChatMessage, ChatOutcome, ChatRequest, LlmError, Role, ToolCall};
use parley_store::{AssistantRecord, MessageRecord, NewConversation, NewMessage};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The channel of conversations started by `POST /ai/assistants/{id}/chat`.
pub const WEB_CHAT: &str = "web_chat";
/// Most stored messages a turn loads as history (older ones are never sent to the model).
pub const MAX_HISTORY_MESSAGES: u32 = 400;
/// Default timeout of the dynamic-variables webhook, in milliseconds.
pub const DEFAULT_WEBHOOK_TIMEOUT_MS: u64 = 1500;
/// Tokens reserved per message for the chat template's markup.
const TOKENS_PER_MESSAGE: usize = 8;
/// Longest accepted user message, in bytes.
pub const MAX_CONTENT_BYTES: usize = 100_000;

/// A parsed `POST /ai/assistants/{id}/chat` body.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatInput {
    /// The user's text.
    pub content: String,
    /// The conversation it belongs to.
    pub conversation_id: String,
    /// The user's display name.
    pub name: Option<String>,
    /// Whether the answer is streamed as server-sent events.
    pub stream: bool,
}

/// Parses and validates a chat body: `content` (non-blank string), `conversation_id` (1–200
/// visible characters), optional `name` (string) and `stream` (boolean).
pub fn parse_input(body: Value) -> ApiResult<ChatInput> {
    let Value::Object(mut map) = body else {
        return Err(ApiError::MalformedBody {
            detail: "The request body must be a JSON object".into(),
            pointer: None,
        });
    };
    let mut errors = Vec::new();
    let content = match map.remove("content") {
        Some(Value::String(text)) if text.trim().is_empty() => {
            // Telnyx answers an empty message with 400, not a validation 422.
            return Err(ApiError::MalformedBody {
                detail: "content must not be empty".into(),
                pointer: Some("/content".into()),
            });
        }
        Some(Value::String(text)) if text.len() > MAX_CONTENT_BYTES => {
            errors.push(FieldError::invalid(
                "/content",
                format!("must be at most {MAX_CONTENT_BYTES} bytes"),
            ));
            String::new()
        }
        Some(Value::String(text)) => text,
        None | Some(Value::Null) => {
            errors.push(FieldError::invalid("/content", "is required"));
            String::new()
        }
        Some(_) => {
            errors.push(FieldError::invalid("/content", "must be a string"));
            String::new()
        }
    };
    let conversation_id = match map.remove("conversation_id") {
        Some(Value::String(id)) if conv::valid_conversation_id(&id) => id,
        Some(Value::String(_)) => {
            errors.push(FieldError::invalid(
                "/conversation_id",
                "must be 1 to 200 visible characters without spaces or slashes",
            ));
            String::new()
        }
        None | Some(Value::Null) => {
            errors.push(FieldError::invalid("/conversation_id", "is required"));
            String::new()
        }
        Some(_) => {
            errors.push(FieldError::invalid("/conversation_id", "must be a string"));
            String::new()
        }
    };
    let name = match map.remove("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name),
        Some(_) => {
            errors.push(FieldError::invalid("/name", "must be a string"));
            None
        }
    };
    let stream = match map.remove("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(stream)) => stream,
        Some(_) => {
            errors.push(FieldError::invalid("/stream", "must be a boolean"));
            false
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(ValidationErrors(errors)));
    }
    Ok(ChatInput {
        content,
        conversation_id,
        name,
        stream,
    })
}

/// A turn ready to run: the conversation, its version, variables and models resolved.
pub struct PreparedTurn {
    org: OrgId,
    conversation_id: String,
    /// Set when this turn starts the conversation: what it is created with.
    start: Option<NewConversation>,
    /// Metadata to write on an existing conversation (one created through the API that this
    /// turn binds to the assistant).
    bind: BTreeMap<String, Option<String>>,
    version_id: VersionId,
    config: Map<String, Value>,
    tools: Vec<Value>,
    variables: BTreeMap<String, String>,
    history: Vec<MessageRecord>,
    input: ChatInput,
    plan: ModelPlan,
    _lock: tokio::sync::OwnedMutexGuard<()>,
}

impl std::fmt::Debug for PreparedTurn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedTurn")
            .field("conversation_id", &self.conversation_id)
            .field("version_id", &self.version_id)
            .field("starts", &self.start.is_some())
            .finish_non_exhaustive()
    }
}

/// What a completed turn produced.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnOutcome {
    /// The answer.
    pub content: String,
    /// The conversation.
    pub conversation_id: String,
    /// The trace stored on the answer's metadata.
    pub trace: Map<String, Value>,
}

/// Phase one: resolves everything a turn needs, refusing with a 4xx what cannot run. Holds
/// the conversation's lock until the turn ends.
pub async fn prepare(
    state: &AppState,
    org: &OrgId,
    assistant_id: &str,
    input: ChatInput,
) -> ApiResult<PreparedTurn> {
    prepare_pinned(state, org, assistant_id, input, None).await
}

/// [`prepare`], with the version a conversation starts on given instead of chosen by the
/// canary rules (an assistant test run's `destination_version_id`). A version that does not
/// exist is refused (400); a conversation that already started keeps its version.
pub async fn prepare_pinned(
    state: &AppState,
    org: &OrgId,
    assistant_id: &str,
    input: ChatInput,
    pinned: Option<&VersionId>,
) -> ApiResult<PreparedTurn> {
    prepare_turn(state, org, assistant_id, input, pinned, None).await
}

/// [`prepare`] for a turn whose conversation, when it starts, comes from somewhere else than
/// web chat: an SMS, a scheduled event. `origin` gives the new conversation's channel, its two
/// parties and metadata, and dynamic variables that win over the assistant's defaults and the
/// variables webhook. An existing conversation is continued as it is.
pub async fn prepare_from(
    state: &AppState,
    org: &OrgId,
    assistant_id: &str,
    input: ChatInput,
    origin: &ConversationOrigin,
) -> ApiResult<PreparedTurn> {
    prepare_turn(state, org, assistant_id, input, None, Some(origin)).await
}

/// Where a conversation comes from when it is not web chat.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConversationOrigin {
    /// Its channel (`sms_chat`, `phone_call`).
    pub channel: String,
    /// `telnyx_agent_target`: the assistant's number.
    pub agent_target: Option<String>,
    /// `telnyx_end_user_target`: the end user's number.
    pub end_user_target: Option<String>,
    /// More metadata (keys that are not reserved).
    pub metadata: BTreeMap<String, String>,
    /// Dynamic variables given by the caller (a scheduled event's).
    pub variables: BTreeMap<String, String>,
}

impl ConversationOrigin {
    /// The metadata a conversation from here starts with (the channel is added by the turn).
    fn start_metadata(&self) -> BTreeMap<String, String> {
        let mut metadata = self.metadata.clone();
        if let Some(target) = &self.agent_target {
            metadata.insert(conv::META_AGENT_TARGET.to_owned(), target.clone());
        }
        if let Some(target) = &self.end_user_target {
            metadata.insert(conv::META_END_USER_TARGET.to_owned(), target.clone());
        }
        metadata
    }
}

async fn prepare_turn(
    state: &AppState,
    org: &OrgId,
    assistant_id: &str,
    input: ChatInput,
    pinned: Option<&VersionId>,
    origin: Option<&ConversationOrigin>,
) -> ApiResult<PreparedTurn> {
    // The assistant is read while the turn waits for its conversation and reads the history:
    // two independent round trips at once.
    let id = AssistantId::from_string(assistant_id);
    let (assistant, (lock, existing)) = tokio::join!(state.store.get_assistant(org, &id), async {
        let lock = state
            .conversation_locks
            .lock(org, &input.conversation_id)
            .await;
        let existing = state
            .store
            .conversation_history(org, &input.conversation_id, MAX_HISTORY_MESSAGES)
            .await;
        (lock, existing)
    });
    let assistant = assistant?.ok_or_else(|| ApiError::assistant_not_found(assistant_id))?;
    let existing = existing?;
    let (start, bind, version, variables, history) = match existing {
        Some((conversation, history)) => {
            if conversation
                .metadata
                .get(META_AI_DISABLED)
                .map(String::as_str)
                == Some("true")
            {
                return Err(ApiError::Refused {
                    detail: format!(
                        "AI replies are disabled for conversation {} (metadata ai_disabled); \
                         set it to false to resume",
                        conversation.id
                    ),
                    pointer: Some("/conversation_id".into()),
                });
            }
            if let Some(at) = conversation.metadata.get(conv::META_ENDED_AT) {
                return Err(ApiError::Refused {
                    detail: format!(
                        "conversation {} ended at {at} (the assistant hung up); start a new \
                         conversation",
                        conversation.id
                    ),
                    pointer: Some("/conversation_id".into()),
                });
            }
            match conversation.metadata.get(META_ASSISTANT_ID) {
                Some(owner) if owner != assistant_id => {
                    return Err(ApiError::Refused {
                        detail: format!(
                            "conversation {} belongs to assistant {owner}",
                            conversation.id
                        ),
                        pointer: Some("/conversation_id".into()),
                    })
                }
                Some(_) => {
                    let handed = match conversation.metadata.get(META_HANDOFF_ASSISTANT_ID) {
                        Some(target) => {
                            state
                                .store
                                .get_assistant(org, &AssistantId::from_string(target))
                                .await?
                        }
                        None => None,
                    };
                    let version =
                        match (handed, conversation.metadata.get(META_ASSISTANT_VERSION_ID)) {
                            (Some(target), _) => target,
                            (None, Some(id)) => stored_version(state, org, &assistant, id).await?,
                            (None, None) => assistant.clone(),
                        };
                    (
                        None,
                        BTreeMap::new(),
                        version,
                        conversation.variables,
                        history,
                    )
                }
                None => {
                    // Created through POST /ai/conversations: this turn binds it.
                    let mut metadata = conversation.metadata.clone();
                    let version = match pinned {
                        Some(id) => pinned_version(state, org, &assistant, id).await?,
                        None => route_version(state, org, &assistant, &input, &metadata).await?,
                    };
                    let (variables, extra) = start_variables(
                        state,
                        &assistant,
                        &version,
                        &input.conversation_id,
                        channel_of(&metadata),
                        None,
                    )
                    .await;
                    let mut bind = BTreeMap::new();
                    for (key, value) in extra {
                        metadata.entry(key.clone()).or_insert_with(|| {
                            bind.insert(key, Some(value.clone()));
                            value
                        });
                    }
                    bind.insert(META_ASSISTANT_ID.into(), Some(assistant_id.to_owned()));
                    bind.insert(
                        META_ASSISTANT_VERSION_ID.into(),
                        Some(version.version.id.as_str().to_owned()),
                    );
                    if !metadata.contains_key(META_CHANNEL) {
                        bind.insert(META_CHANNEL.into(), Some(WEB_CHAT.into()));
                    }
                    let variables = if conversation.variables.is_empty() {
                        variables
                    } else {
                        conversation.variables
                    };
                    (None, bind, version, variables, history)
                }
            }
        }
        None => {
            let channel = origin.map_or(WEB_CHAT, |o| o.channel.as_str());
            let mut metadata = origin
                .map(ConversationOrigin::start_metadata)
                .unwrap_or_default();
            metadata.insert(META_CHANNEL.to_owned(), channel.to_owned());
            let version = match pinned {
                Some(id) => pinned_version(state, org, &assistant, id).await?,
                None => route_version(state, org, &assistant, &input, &metadata).await?,
            };
            let (variables, extra) = start_variables(
                state,
                &assistant,
                &version,
                &input.conversation_id,
                channel,
                origin,
            )
            .await;
            for (key, value) in extra {
                metadata.entry(key).or_insert(value);
            }
            metadata.insert(META_ASSISTANT_ID.to_owned(), assistant_id.to_owned());
            metadata.insert(
                META_ASSISTANT_VERSION_ID.to_owned(),
                version.version.id.as_str().to_owned(),
            );
            let start = NewConversation {
                name: None,
                metadata,
                variables: variables.clone(),
            };
            (Some(start), BTreeMap::new(), version, variables, Vec::new())
        }
    };
    let config = version.version.config.as_map().clone();
    let plan = state.llm.plan(state, org, &config).await?;
    let tools = crate::tools::resolve_tools(state, org, &config).await?;
    Ok(PreparedTurn {
        org: org.clone(),
        conversation_id: input.conversation_id.clone(),
        start,
        bind,
        version_id: version.version.id.clone(),
        config,
        tools,
        variables,
        history,
        input,
        plan,
        _lock: lock,
    })
}

fn channel_of(metadata: &BTreeMap<String, String>) -> &str {
    metadata
        .get(META_CHANNEL)
        .map(String::as_str)
        .unwrap_or(WEB_CHAT)
}

/// The version a conversation was started on; the main version when that one was deleted
/// since (logged).
async fn stored_version(
    state: &AppState,
    org: &OrgId,
    assistant: &AssistantRecord,
    version_id: &str,
) -> ApiResult<AssistantRecord> {
    if version_id == assistant.version.id.as_str() {
        return Ok(assistant.clone());
    }
    match state
        .store
        .get_version(org, &assistant.id, &VersionId::from_string(version_id))
        .await?
    {
        Some(version) => Ok(version),
        None => {
            tracing::warn!(
                assistant = %assistant.id,
                version = version_id,
                "the conversation's version no longer exists; serving the main version"
            );
            Ok(assistant.clone())
        }
    }
}

/// The version `id` of `assistant`, which must exist.
async fn pinned_version(
    state: &AppState,
    org: &OrgId,
    assistant: &AssistantRecord,
    id: &VersionId,
) -> ApiResult<AssistantRecord> {
    if *id == assistant.version.id {
        return Ok(assistant.clone());
    }
    state
        .store
        .get_version(org, &assistant.id, id)
        .await?
        .ok_or_else(|| ApiError::Refused {
            detail: format!("version {id} of assistant {} does not exist", assistant.id),
            pointer: Some("/destination_version_id".into()),
        })
}

/// The version a new conversation is served by: the canary rules' choice (sticky per end user
/// or conversation), else main.
async fn route_version(
    state: &AppState,
    org: &OrgId,
    assistant: &AssistantRecord,
    input: &ChatInput,
    metadata: &BTreeMap<String, String>,
) -> ApiResult<AssistantRecord> {
    let rules = state
        .store
        .get_canary(org, &assistant.id)
        .await?
        .flatten()
        .map(|canary| canary.rules);
    let Some(rules) = rules else {
        return Ok(assistant.clone());
    };
    let context = RoutingContext {
        conversation_id: input.conversation_id.clone(),
        telnyx_end_user_target: metadata.get(conv::META_END_USER_TARGET).cloned(),
        telnyx_agent_target: metadata.get(conv::META_AGENT_TARGET).cloned(),
        telnyx_conversation_channel: metadata.get(META_CHANNEL).cloned(),
        metadata: metadata.clone(),
    };
    let chosen = canary::route(
        assistant.id.as_str(),
        &assistant.version.id,
        Some(&rules),
        &context,
    );
    stored_version(state, org, assistant, chosen.as_str()).await
}

/// The variables of a new conversation and the metadata the webhook asked to store on it.
async fn start_variables(
    state: &AppState,
    assistant: &AssistantRecord,
    version: &AssistantRecord,
    conversation_id: &str,
    channel: &str,
    origin: Option<&ConversationOrigin>,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let config = version.version.config.as_map();
    let defaults = variables::from_json(config.get("dynamic_variables"));
    let facts = SystemFacts {
        channel,
        conversation_id,
        assistant_id: assistant.id.as_str(),
        agent_target: origin.and_then(|o| o.agent_target.as_deref()),
        end_user_target: origin.and_then(|o| o.end_user_target.as_deref()),
        ..SystemFacts::default()
    };
    let (from_webhook, metadata) = match config
        .get("dynamic_variables_webhook_url")
        .and_then(Value::as_str)
        .filter(|url| !url.is_empty())
    {
        Some(url) => {
            let timeout = config
                .get("dynamic_variables_webhook_timeout_ms")
                .and_then(Value::as_u64)
                .unwrap_or(DEFAULT_WEBHOOK_TIMEOUT_MS);
            fetch_webhook_variables(state, url, Duration::from_millis(timeout), &facts).await
        }
        None => (BTreeMap::new(), BTreeMap::new()),
    };
    let given = origin.map(|o| o.variables.clone()).unwrap_or_default();
    let mut values = variables::merge([&defaults, &from_webhook, &given]);
    values.extend(variables::system_variables(&facts));
    (values, metadata)
}

/// Calls the dynamic-variables webhook (`assistant.initialization`). Any failure — refused
/// address, timeout, non-2xx, a body without `dynamic_variables` — is logged and yields no
/// values: the conversation proceeds with the defaults.
async fn fetch_webhook_variables(
    state: &AppState,
    url: &str,
    timeout: Duration,
    facts: &SystemFacts<'_>,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let empty = || (BTreeMap::new(), BTreeMap::new());
    if let Err(e) = state.outbound.check_url(url) {
        tracing::warn!(error = %e, "dynamic variables webhook refused; using defaults");
        return empty();
    }
    let body = json!({"data": {
        "record_type": "event",
        "id": uuid::Uuid::new_v4().to_string(),
        "event_type": "assistant.initialization",
        "occurred_at": parley_core::clock::format_timestamp(&state.clock.now()),
        "payload": {
            "telnyx_conversation_channel": facts.channel,
            "telnyx_agent_target": facts.agent_target,
            "telnyx_end_user_target": facts.end_user_target,
            "telnyx_end_user_target_verified": false,
            "call_control_id": facts.call_control_id,
            "assistant_id": facts.assistant_id,
            "conversation_id": facts.conversation_id,
            "telnyx_conversation_id": facts.conversation_id,
        }
    }});
    let started = Instant::now();
    let call = async {
        let response = state
            .outbound
            .client()
            .post(url)
            .json(&body)
            .send()
            .await?
            .error_for_status()?;
        response.json::<Value>().await
    };
    let answer = match tokio::time::timeout(timeout, call).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "dynamic variables webhook failed; using defaults");
            return empty();
        }
        Err(_) => {
            tracing::warn!(
                timeout_ms = timeout.as_millis() as u64,
                "dynamic variables webhook timed out; using defaults"
            );
            return empty();
        }
    };
    let values = variables::from_json(answer.get("dynamic_variables"));
    let metadata = variables::from_json(answer.get("conversation").and_then(|c| c.get("metadata")))
        .into_iter()
        .filter(|(key, _)| !is_reserved_metadata(key))
        .collect();
    tracing::debug!(
        variables = values.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "dynamic variables webhook answered"
    );
    (values, metadata)
}

fn is_reserved_metadata(key: &str) -> bool {
    matches!(
        key,
        META_ASSISTANT_ID
            | META_ASSISTANT_VERSION_ID
            | META_CHANNEL
            | META_AI_DISABLED
            | conv::META_AGENT_TARGET
            | conv::META_END_USER_TARGET
            | conv::META_CALL_CONTROL_ID
    )
}

/// A stored message as the model sees it.
fn to_chat_message(record: &MessageRecord) -> ChatMessage {
    let role = match record.role {
        MessageRole::User => Role::User,
        MessageRole::Assistant => Role::Assistant,
        MessageRole::Tool => Role::Tool,
        MessageRole::System => Role::System,
    };
    ChatMessage {
        role,
        content: record.text.clone(),
        tool_calls: record
            .tool_calls
            .iter()
            .map(|c| ToolCall {
                id: c.id.clone(),
                name: c.name.clone(),
                arguments: c.arguments.clone(),
            })
            .collect(),
        tool_call_id: record.tool_call_id.clone(),
        name: record.name.clone(),
    }
}

/// Drops the oldest turns of `history` (a turn starts at a user message) until the system
/// prompt, the history and the new message fit `budget` tokens; returns how many messages were
/// dropped. Tool messages never lose the assistant message that called them.
fn fit_history(
    history: &mut Vec<ChatMessage>,
    fixed_tokens: usize,
    budget: usize,
    count: impl Fn(&ChatMessage) -> usize,
) -> usize {
    let sizes: Vec<usize> = history.iter().map(&count).collect();
    let mut total: usize = fixed_tokens + sizes.iter().sum::<usize>();
    let mut cut = 0;
    while total > budget && cut < history.len() {
        // Drop through the end of the oldest turn: up to the next user message.
        let mut end = cut + 1;
        while end < history.len() && history[end].role != Role::User {
            end += 1;
        }
        total -= sizes[cut..end].iter().sum::<usize>();
        cut = end;
    }
    history.drain(..cut);
    cut
}

/// The system note added when a turn used up its tool rounds.
const TOOL_LIMIT_NOTE: &str = "You have used the maximum number of tool calls for this turn. \
    Answer the user now, without calling tools.";

/// Phase two: runs the model loop and stores the turn. Text deltas of the answer go to
/// `deltas` as they are generated (a closed receiver cancels the turn).
pub async fn run(
    state: &AppState,
    turn: PreparedTurn,
    deltas: Option<mpsc::Sender<String>>,
) -> ApiResult<TurnOutcome> {
    generate(state, turn, deltas).await?.store(state).await
}

/// The note that asks the model for a message of its own (a turn whose input has no text: an
/// SMS the assistant writes, opening a conversation or following up).
const OPENING_NOTE: &str = "Write your next message to the user now, without waiting for \
    them: short, in your role, as a text message.";

/// [`run`] without the write: the model loop, giving the answer and what would be stored.
/// The caller stores it with [`GeneratedTurn::store`] (an SMS turn sends the answer first, so
/// a carrier failure leaves nothing). A turn whose input text is empty has no user message:
/// the model writes the conversation's opening message.
pub async fn generate(
    state: &AppState,
    turn: PreparedTurn,
    deltas: Option<mpsc::Sender<String>>,
) -> ApiResult<GeneratedTurn> {
    let settings = &state.settings.llm;
    let deadline = Duration::from_millis(settings.turn_deadline_ms);
    let started = Instant::now();
    let now = state.clock.now();
    let mut values = turn.variables.clone();
    let system = render_instructions(&turn.config, &values, now);
    let opening = turn.input.content.is_empty();
    let mut user = ChatMessage::user(turn.input.content.clone());
    user.name = turn.input.name.clone();
    let mut history: Vec<ChatMessage> = turn.history.iter().map(to_chat_message).collect();

    let mut plan = turn.plan.clone();
    let mut toolbox = Toolbox::for_version(state, &turn.org, &turn.tools, &turn.config).await;
    let primary = &turn.plan.primary;
    let max_output = settings
        .max_output_tokens
        .min(primary.context_tokens / 2)
        .max(1);
    let count = |m: &ChatMessage| {
        primary.provider.count_tokens(&m.content)
            + m.tool_calls
                .iter()
                .map(|c| primary.provider.count_tokens(&c.arguments) + 4)
                .sum::<usize>()
            + TOKENS_PER_MESSAGE
    };
    let tools_tokens: usize = toolbox
        .specs()
        .iter()
        .map(|t| primary.provider.count_tokens(&t.parameters.to_string()) + 16)
        .sum();
    let fixed = count(&ChatMessage::system(system.clone())) + count(&user) + tools_tokens;
    let budget = (primary.context_tokens as usize).saturating_sub(max_output as usize);
    if fixed > budget {
        return Err(ApiError::Validation(ValidationErrors::one(
            FieldError::invalid(
                "/content",
                format!(
                    "the instructions and this message take about {fixed} tokens; the model \
                     {} has room for {budget} (context {} minus {max_output} for the answer)",
                    primary.label, primary.context_tokens
                ),
            ),
        )));
    }
    let dropped = fit_history(&mut history, fixed, budget, count);
    if dropped > 0 {
        tracing::info!(
            conversation = %turn.conversation_id,
            dropped,
            "history trimmed to fit the model's context"
        );
    }
    let mut messages = Vec::with_capacity(history.len() + 2);
    if !system.is_empty() {
        messages.push(ChatMessage::system(system));
    }
    messages.extend(history);
    if opening {
        messages.push(ChatMessage::system(OPENING_NOTE));
    } else {
        messages.push(user.clone());
    }

    let mut appended: Vec<NewMessage> = Vec::new();
    let mut rounds = 0u32;
    let mut tool_calls_made = 0usize;
    let mut tool_limit_reached = false;
    let mut fallback_used = false;
    let mut model_used = plan.primary.label.clone();
    let mut usage = (0u32, 0u32);
    let mut first_token: Option<Duration> = None;
    let mut ended = false;
    let mut handed_to: Option<String> = None;
    let mut version_served = turn.version_id.as_str().to_owned();
    let mut changed_variables = BTreeMap::new();
    let loop_result = tokio::time::timeout(deadline, async {
        loop {
            rounds += 1;
            let offer = !ended && !tool_limit_reached && rounds <= settings.max_tool_rounds;
            let tools = if offer { toolbox.specs() } else { Vec::new() };
            let extra_metadata = Value::Object(
                values
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            );
            let (outcome, used_fallback) = ask(
                &plan,
                |model| ChatRequest {
                    messages: messages.clone(),
                    tools: tools.clone(),
                    max_tokens: Some(max_output),
                    extra_metadata: model.forward_metadata.then(|| extra_metadata.clone()),
                    ..ChatRequest::default()
                },
                deltas.as_ref(),
                started,
                &mut first_token,
            )
            .await?;
            fallback_used |= used_fallback;
            model_used = match (&plan.fallback, used_fallback) {
                (Some(fallback), true) => fallback.label.clone(),
                _ => plan.primary.label.clone(),
            };
            usage.0 += outcome.usage.prompt_tokens;
            usage.1 += outcome.usage.completion_tokens;
            if outcome.message.tool_calls.is_empty() || tools.is_empty() {
                return Ok::<ChatOutcome, LlmError>(outcome);
            }

            // A tool round: record the calls, run them concurrently, record the results.
            let calls = outcome.message.tool_calls.clone();
            tool_calls_made += calls.len();
            let mut call_message = NewMessage::new(
                MessageRole::Assistant,
                outcome.message.content.trim().to_owned(),
            );
            call_message.tool_calls = stored_calls(&calls);
            appended.push(call_message);
            messages.push(outcome.message.clone());
            let context = ToolContext {
                state: state.clone(),
                org: turn.org.clone(),
                variables: values.clone(),
                conversation_id: turn.conversation_id.clone(),
            };
            let runs =
                futures::future::join_all(calls.iter().map(|call| toolbox.call(&context, call)))
                    .await;
            let mut switch_to = None;
            for (call, run) in calls.iter().zip(runs) {
                let mut content = run.content;
                match run.effect {
                    Some(Effect::End) => ended = true,
                    Some(Effect::Handoff(target)) => {
                        match handoff_target(state, &turn.org, &target).await {
                            Ok(Some(found)) => switch_to = Some(found),
                            Ok(None) | Err(_) => {
                                content = format!("The assistant {target} is not available.");
                            }
                        }
                    }
                    None => {}
                }
                for (name, value) in run.variables {
                    values.insert(name.clone(), value.clone());
                    changed_variables.insert(name, value);
                }
                tracing::debug!(tool = %call.name, ok = run.ok, "tool call");
                let mut result = NewMessage::new(MessageRole::Tool, content.clone());
                result.tool_call_id = Some(call.id.clone());
                result.name = Some(call.name.clone());
                appended.push(result);
                let mut message = ChatMessage::tool(call.id.clone(), content);
                message.name = Some(call.name.clone());
                messages.push(message);
            }
            if let Some((assistant, target_plan, target_tools)) = switch_to {
                // The new assistant answers from here on, with its own prompt and tools.
                let config = assistant.version.config.as_map();
                let system = render_instructions(config, &values, now);
                match messages.first_mut() {
                    Some(first) if first.role == Role::System => first.content = system,
                    _ => messages.insert(0, ChatMessage::system(system)),
                }
                toolbox = Toolbox::for_version(state, &turn.org, &target_tools, config).await;
                plan = target_plan;
                version_served = assistant.version.id.as_str().to_owned();
                handed_to = Some(assistant.id.as_str().to_owned());
            }
            if rounds >= settings.max_tool_rounds && !ended {
                tool_limit_reached = true;
                messages.push(ChatMessage::system(TOOL_LIMIT_NOTE));
            }
        }
    })
    .await;
    let outcome = match loop_result {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) => return Err(ApiError::Llm(e)),
        Err(_) => return Err(ApiError::Llm(LlmError::Timeout)),
    };
    let content = outcome.message.content.trim().to_owned();

    let mut trace = Map::new();
    trace.insert("model".into(), json!(model_used));
    trace.insert("assistant_version_id".into(), json!(version_served));
    trace.insert("prompt_tokens".into(), json!(usage.0));
    trace.insert("completion_tokens".into(), json!(usage.1));
    trace.insert(
        "latency_ms".into(),
        json!(started.elapsed().as_millis() as u64),
    );
    if let Some(first) = first_token {
        trace.insert(
            "time_to_first_token_ms".into(),
            json!(first.as_millis() as u64),
        );
    }
    trace.insert(
        "finish_reason".into(),
        json!(outcome.finish_reason.as_str()),
    );
    trace.insert("llm_rounds".into(), json!(rounds));
    trace.insert("tool_calls".into(), json!(tool_calls_made));
    if tool_limit_reached {
        trace.insert("tool_limit_reached".into(), json!(true));
    }
    if !toolbox.not_offered.is_empty() {
        trace.insert("tools_not_offered".into(), json!(toolbox.not_offered));
    }
    if !toolbox.unavailable.is_empty() {
        trace.insert("tools_unavailable".into(), json!(toolbox.unavailable));
    }
    trace.insert("history_dropped_messages".into(), json!(dropped));
    trace.insert("fallback_used".into(), json!(fallback_used));
    if let Some(target) = &handed_to {
        trace.insert("handed_off_to".into(), json!(target));
    }

    Ok(GeneratedTurn {
        turn,
        content,
        trace,
        appended,
        ended,
        handed_to,
        changed_variables,
        now,
        log: TurnLog {
            model: model_used,
            version: version_served,
            prompt_tokens: usage.0,
            completion_tokens: usage.1,
            tool_calls: tool_calls_made,
            fallback_used,
            started,
        },
    })
}

/// What the log line of a stored turn says.
#[derive(Debug)]
struct TurnLog {
    model: String,
    version: String,
    prompt_tokens: u32,
    completion_tokens: u32,
    tool_calls: usize,
    fallback_used: bool,
    started: Instant,
}

/// A turn whose answer is ready but not stored yet (see [`generate`]). It still holds the
/// conversation's lock.
#[derive(Debug)]
pub struct GeneratedTurn {
    turn: PreparedTurn,
    content: String,
    trace: Map<String, Value>,
    appended: Vec<NewMessage>,
    ended: bool,
    handed_to: Option<String>,
    changed_variables: BTreeMap<String, String>,
    now: chrono::DateTime<chrono::Utc>,
    log: TurnLog,
}

impl GeneratedTurn {
    /// The answer.
    pub fn content(&self) -> &str {
        &self.content
    }

    /// The conversation.
    pub fn conversation_id(&self) -> &str {
        &self.turn.conversation_id
    }

    /// Adds `key` to the metadata stored on the answer (a carrier's message id).
    pub fn annotate(&mut self, key: &str, value: Value) {
        self.trace.insert(key.to_owned(), value);
    }

    /// Stores the turn — the user's message (unless the turn has none), tool calls and
    /// results, the answer — in one transaction, with the conversation when the turn starts it.
    pub async fn store(self, state: &AppState) -> ApiResult<TurnOutcome> {
        let GeneratedTurn {
            turn,
            content,
            trace,
            mut appended,
            ended,
            handed_to,
            changed_variables,
            now,
            log,
        } = self;
        let mut to_store = Vec::with_capacity(appended.len() + 2);
        if !turn.input.content.is_empty() {
            let mut user_message = NewMessage::new(MessageRole::User, turn.input.content.clone());
            user_message.name = turn.input.name.clone();
            user_message.sent_at = Some(now);
            to_store.push(user_message);
        }
        let mut answer = NewMessage::new(MessageRole::Assistant, content.clone());
        answer.metadata = trace.clone();
        to_store.append(&mut appended);
        to_store.push(answer);

        let mut metadata = turn.bind.clone();
        if ended {
            metadata.insert(
                conv::META_ENDED_AT.into(),
                Some(parley_core::clock::format_timestamp(&now)),
            );
        }
        if let Some(target) = &handed_to {
            metadata.insert(META_HANDOFF_ASSISTANT_ID.into(), Some(target.clone()));
        }
        let mut start = turn.start.clone();
        if let Some(start) = start.as_mut() {
            for (key, value) in std::mem::take(&mut metadata) {
                if let Some(value) = value {
                    start.metadata.insert(key, value);
                }
            }
            start.variables.extend(changed_variables.clone());
        }
        if !metadata.is_empty() {
            state
                .store
                .update_conversation_metadata(&turn.org, &turn.conversation_id, &metadata)
                .await?;
        }
        let stored = state
            .store
            .append_messages(
                &turn.org,
                &turn.conversation_id,
                start.as_ref(),
                &to_store,
                state.clock.now(),
            )
            .await?;
        if stored.is_none() {
            // Deleted between prepare and now: the turn has nowhere to go.
            return Err(ApiError::NotFound {
                resource: "Conversation",
                id: turn.conversation_id.clone(),
                pointer: "/conversation_id",
            });
        }
        if start.is_none() && !changed_variables.is_empty() {
            state
                .store
                .update_conversation_variables(&turn.org, &turn.conversation_id, &changed_variables)
                .await?;
        }
        tracing::info!(
            conversation = %turn.conversation_id,
            model = %log.model,
            version = %log.version,
            prompt_tokens = log.prompt_tokens,
            completion_tokens = log.completion_tokens,
            tool_calls = log.tool_calls,
            latency_ms = log.started.elapsed().as_millis() as u64,
            fallback_used = log.fallback_used,
            "chat turn"
        );
        Ok(TurnOutcome {
            content,
            conversation_id: turn.conversation_id,
            trace,
        })
    }
}

impl PreparedTurn {
    /// The conversation.
    pub fn conversation_id(&self) -> &str {
        &self.conversation_id
    }

    /// Whether this turn starts its conversation (nothing stored yet).
    pub fn starts_conversation(&self) -> bool {
        self.start.is_some() || self.history.is_empty()
    }

    /// The assistant's `greeting`, rendered with the conversation's variables, when it has one.
    pub fn greeting(&self, now: chrono::DateTime<chrono::Utc>) -> Option<String> {
        let greeting = self.config.get("greeting").and_then(Value::as_str)?;
        let text = self.render(greeting, now);
        let text = text.trim();
        (!text.is_empty()).then(|| text.to_owned())
    }

    /// `template` with the conversation's `{{variables}}` filled in (unknown ones kept
    /// verbatim), as instructions and greetings are.
    pub fn render(&self, template: &str, now: chrono::DateTime<chrono::Utc>) -> String {
        variables::render(
            template,
            &VariableContext {
                values: &self.variables,
                now,
            },
        )
    }

    /// The turn answered with `text` instead of the model (an SMS sent on the assistant's
    /// behalf): storing it appends the user's message, if the turn has one, and `text` as the
    /// assistant's.
    pub fn answer_with(self, text: String, now: chrono::DateTime<chrono::Utc>) -> GeneratedTurn {
        let mut trace = Map::new();
        trace.insert(
            "assistant_version_id".into(),
            json!(self.version_id.as_str()),
        );
        trace.insert("written_by".into(), json!("caller"));
        let log = TurnLog {
            model: String::new(),
            version: self.version_id.as_str().to_owned(),
            prompt_tokens: 0,
            completion_tokens: 0,
            tool_calls: 0,
            fallback_used: false,
            started: Instant::now(),
        };
        GeneratedTurn {
            turn: self,
            content: text,
            trace,
            appended: Vec::new(),
            ended: false,
            handed_to: None,
            changed_variables: BTreeMap::new(),
            now,
            log,
        }
    }
}

/// The version's instructions rendered with `values`.
fn render_instructions(
    config: &Map<String, Value>,
    values: &BTreeMap<String, String>,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let instructions = config
        .get("instructions")
        .and_then(Value::as_str)
        .unwrap_or_default();
    variables::render(instructions, &VariableContext { values, now })
}

/// The assistant a handoff names (its main version) and its models; `None` when it does not
/// exist in the organization.
async fn handoff_target(
    state: &AppState,
    org: &OrgId,
    id: &str,
) -> ApiResult<Option<(AssistantRecord, ModelPlan, Vec<Value>)>> {
    let Some(assistant) = state
        .store
        .get_assistant(org, &AssistantId::from_string(id))
        .await?
    else {
        return Ok(None);
    };
    let config = assistant.version.config.as_map();
    let plan = state.llm.plan(state, org, config).await?;
    let tools = crate::tools::resolve_tools(state, org, config).await?;
    Ok(Some((assistant, plan, tools)))
}

/// Asks the primary model; when it fails before any text reached the caller and a fallback
/// exists, asks the fallback. Returns the outcome and whether the fallback answered.
async fn ask(
    plan: &ModelPlan,
    request: impl Fn(&ResolvedModel) -> ChatRequest,
    deltas: Option<&mpsc::Sender<String>>,
    started: Instant,
    first_token: &mut Option<Duration>,
) -> Result<(ChatOutcome, bool), LlmError> {
    let mut streamed = false;
    match complete(
        &plan.primary,
        request(&plan.primary),
        deltas,
        &mut streamed,
        started,
        first_token,
    )
    .await
    {
        Ok(outcome) => Ok((outcome, false)),
        Err(LlmError::Cancelled) => Err(LlmError::Cancelled),
        Err(e) => match &plan.fallback {
            Some(fallback) if !streamed => {
                tracing::warn!(
                    error = %e,
                    primary = %plan.primary.label,
                    fallback = %fallback.label,
                    "primary model failed; asking the fallback"
                );
                let outcome = complete(
                    fallback,
                    request(fallback),
                    deltas,
                    &mut streamed,
                    started,
                    first_token,
                )
                .await?;
                Ok((outcome, true))
            }
            _ => Err(e),
        },
    }
}

/// One completion, forwarding its text deltas.
async fn complete(
    model: &ResolvedModel,
    request: ChatRequest,
    deltas: Option<&mpsc::Sender<String>>,
    streamed: &mut bool,
    started: Instant,
    first_token: &mut Option<Duration>,
) -> Result<ChatOutcome, LlmError> {
    let (sender, mut receiver) = mpsc::channel(64);
    let forward = async {
        let mut cancelled = false;
        while let Some(event) = receiver.recv().await {
            if let ChatEvent::ContentDelta(text) = event {
                if text.is_empty() {
                    continue;
                }
                first_token.get_or_insert_with(|| started.elapsed());
                *streamed = true;
                if let Some(deltas) = deltas {
                    if deltas.send(text).await.is_err() {
                        cancelled = true;
                        break;
                    }
                }
            }
        }
        cancelled
    };
    let (outcome, cancelled) = tokio::join!(model.provider.complete(request, sender), forward);
    if cancelled {
        return Err(LlmError::Cancelled);
    }
    outcome
}

/// The tool calls of a stored answer (kept for the tool loop).
pub fn stored_calls(calls: &[ToolCall]) -> Vec<StoredToolCall> {
    calls
        .iter()
        .map(|c| StoredToolCall {
            id: c.id.clone(),
            name: c.name.clone(),
            arguments: c.arguments.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(m: &ChatMessage) -> usize {
        m.content.split_whitespace().count()
    }

    #[test]
    fn history_drops_whole_oldest_turns() {
        let mut history = vec![
            ChatMessage::user("one two"),
            ChatMessage::assistant("three four"),
            ChatMessage::user("five"),
            ChatMessage::assistant("six"),
        ];
        // 6 words of history + 2 fixed; budget 5 → the first turn (4 words) goes.
        let dropped = fit_history(&mut history, 2, 5, words);
        assert_eq!(dropped, 2);
        assert_eq!(history[0].content, "five");
        let mut all_fit = vec![ChatMessage::user("a")];
        assert_eq!(fit_history(&mut all_fit, 0, 10, words), 0);
        let mut nothing_fits = vec![ChatMessage::user("a b c"), ChatMessage::assistant("d")];
        assert_eq!(fit_history(&mut nothing_fits, 5, 5, words), 2);
        assert!(nothing_fits.is_empty());
    }

    #[test]
    fn input_validation() {
        assert!(matches!(
            parse_input(json!({"content": " ", "conversation_id": "c1"})),
            Err(ApiError::MalformedBody { .. })
        ));
        let ok = parse_input(json!({"content": "hi", "conversation_id": "c1"})).unwrap();
        assert!(!ok.stream);
        for (body, pointer) in [
            (json!({"conversation_id": "c1"}), "/content"),
            (json!({"content": 3, "conversation_id": "c1"}), "/content"),
            (json!({"content": "hi"}), "/conversation_id"),
            (
                json!({"content": "hi", "conversation_id": "a b"}),
                "/conversation_id",
            ),
            (
                json!({"content": "hi", "conversation_id": "c", "stream": "yes"}),
                "/stream",
            ),
            (
                json!({"content": "hi", "conversation_id": "c", "name": 1}),
                "/name",
            ),
        ] {
            match parse_input(body) {
                Err(ApiError::Validation(errors)) => assert_eq!(errors.0[0].pointer, pointer),
                other => panic!("{other:?}"),
            }
        }
    }
}
