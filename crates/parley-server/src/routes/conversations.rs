//! `/ai/conversations`: conversations and their messages.
//!
//! - `GET /ai/conversations` answers `{"data": [Conversation…]}` (no `meta`). Its query is
//!   PostgREST-style ([`parley_core::conversation::parse_query`]): filters on `id`, `name`,
//!   `created_at`, `last_message_at` and `metadata->KEY` (any key), `or=(…)`,
//!   `order=field.asc|desc` (default `created_at.desc`, ties by id ascending) and `limit`
//!   (default 100). The pairs are read in the order sent, so repeated filters all apply. A
//!   parameter that cannot be parsed is a 400 naming it in `source.parameter`.
//! - `GET /ai/conversations/{id}` and `PUT` answer `{"data": Conversation}`; `POST
//!   /ai/conversations` answers the bare `Conversation` (as the SDK types them).
//! - The wire `Conversation` is `{id, name?, created_at, last_message_at, metadata}`:
//!   `metadata` is always an object of strings (`{}` when empty), `name` is omitted when unset;
//!   the stored dynamic variables are never shown.
//! - Metadata values sent to `POST`/`PUT` are strings; numbers and booleans are accepted and
//!   stored as their JSON text (`3` → `"3"`, `true` → `"true"`); objects, arrays (and `null` on
//!   create) are a 422 pointing at `/metadata/KEY`. `PUT` merges: given keys overwrite, a
//!   `null` value removes the key, absent keys are kept.
//! - `GET /ai/conversations/{id}/messages` is paginated `{data, meta}` by `page[number]` /
//!   `page[size]` (default 1 and 20, size at most 100). Messages come in conversation order,
//!   **oldest first** (append order), and `meta` echoes the page served. A message is
//!   `{role, text, created_at, sent_at?, metadata, name?, tool_calls?, tool_call_id?}`.
//! - `POST /ai/conversations/{id}/message` appends one message and answers an empty 200;
//!   `DELETE /ai/conversations/{id}` deletes the conversation with its messages (empty 200).
//! - Unknown ids, ids of another organization and ids that cannot name a conversation
//!   ([`valid_conversation_id`]) are all a 404 pointing at `/conversation_id`.

use crate::error::{ApiError, ApiResult};
use crate::extract::{
    kind_of, require_object, JsonBody, Pagination, Path, QueryParams, DEFAULT_PAGE_SIZE,
};
use crate::state::{AppState, Tenant};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::SubsecRound;
use parley_core::clock::{format_timestamp, parse_timestamp};
use parley_core::conversation::{parse_query, valid_conversation_id, MessageRole, StoredToolCall};
use parley_core::{FieldError, ValidationErrors};
use parley_store::{
    ConversationRecord, CreateConversationOutcome, MessageRecord, NewConversation, NewMessage,
};
use parley_types::Meta;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Routes of this resource.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/ai/conversations",
            get(list_conversations).post(create_conversation),
        )
        .route(
            "/ai/conversations/{conversation_id}",
            get(get_conversation)
                .put(update_conversation)
                .delete(delete_conversation),
        )
        .route(
            "/ai/conversations/{conversation_id}/messages",
            get(list_messages),
        )
        .route(
            "/ai/conversations/{conversation_id}/message",
            post(add_message),
        )
}

/// The conversation `id` does not exist in the caller's organization.
pub fn not_found(id: &str) -> ApiError {
    ApiError::NotFound {
        resource: "Conversation",
        id: id.to_owned(),
        pointer: "/conversation_id",
    }
}

/// The wire `Conversation` of a record: `{id, name?, created_at, last_message_at, metadata}`.
pub fn render_conversation(record: &ConversationRecord) -> Value {
    let mut object = Map::new();
    object.insert("id".into(), Value::String(record.id.clone()));
    if let Some(name) = &record.name {
        object.insert("name".into(), Value::String(name.clone()));
    }
    object.insert(
        "created_at".into(),
        Value::String(format_timestamp(&record.created_at)),
    );
    object.insert(
        "last_message_at".into(),
        Value::String(format_timestamp(&record.last_message_at)),
    );
    let metadata: Map<String, Value> = record
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    object.insert("metadata".into(), Value::Object(metadata));
    Value::Object(object)
}

/// The wire message of a record: `{role, text, created_at, sent_at?, metadata, name?,
/// tool_calls?, tool_call_id?}`; absent optional fields are omitted.
pub fn render_message(record: &MessageRecord) -> Value {
    let mut object = Map::new();
    object.insert("role".into(), Value::String(record.role.as_str().into()));
    object.insert("text".into(), Value::String(record.text.clone()));
    object.insert(
        "created_at".into(),
        Value::String(format_timestamp(&record.created_at)),
    );
    if let Some(sent_at) = &record.sent_at {
        object.insert("sent_at".into(), Value::String(format_timestamp(sent_at)));
    }
    object.insert("metadata".into(), Value::Object(record.metadata.clone()));
    if let Some(name) = &record.name {
        object.insert("name".into(), Value::String(name.clone()));
    }
    if !record.tool_calls.is_empty() {
        let calls: Vec<Value> = record
            .tool_calls
            .iter()
            .map(|call| {
                json!({
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                })
            })
            .collect();
        object.insert("tool_calls".into(), Value::Array(calls));
    }
    if let Some(tool_call_id) = &record.tool_call_id {
        object.insert("tool_call_id".into(), Value::String(tool_call_id.clone()));
    }
    Value::Object(object)
}

/// The conversation id of a path, or a 404 when it cannot name one.
fn checked_id(id: String) -> ApiResult<String> {
    if valid_conversation_id(&id) {
        Ok(id)
    } else {
        Err(not_found(&id))
    }
}

/// Escapes a key for use as a JSON pointer segment (RFC 6901).
fn pointer_segment(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// A metadata value as stored: strings as they are, numbers and booleans as their JSON text;
/// `None` for `null`. Objects and arrays are refused.
fn metadata_text(key: &str, value: &Value) -> Result<Option<String>, FieldError> {
    match value {
        Value::String(text) => Ok(Some(text.clone())),
        Value::Number(number) => Ok(Some(number.to_string())),
        Value::Bool(flag) => Ok(Some(flag.to_string())),
        Value::Null => Ok(None),
        other => Err(FieldError::invalid(
            format!("/metadata/{}", pointer_segment(key)),
            format!(
                "metadata values must be strings, numbers or booleans, not {}",
                kind_of(other)
            ),
        )),
    }
}

/// Reads `metadata` of a conversation body: absent or `null` is `None`; values map through
/// [`metadata_text`] (`null` values stay `None`, the caller decides what they mean).
fn parse_metadata(
    body: &Map<String, Value>,
    errors: &mut Vec<FieldError>,
) -> Option<BTreeMap<String, Option<String>>> {
    match body.get("metadata") {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => {
            let mut metadata = BTreeMap::new();
            for (key, value) in map {
                match metadata_text(key, value) {
                    Ok(text) => {
                        metadata.insert(key.clone(), text);
                    }
                    Err(error) => errors.push(error),
                }
            }
            Some(metadata)
        }
        Some(other) => {
            errors.push(FieldError::invalid(
                "/metadata",
                format!("must be an object, not {}", kind_of(other)),
            ));
            None
        }
    }
}

/// An optional string field: absent or `null` is `None`, anything but a string is an error.
fn optional_string(
    body: &Map<String, Value>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match body.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(other) => {
            errors.push(FieldError::invalid(
                format!("/{field}"),
                format!("must be a string, not {}", kind_of(other)),
            ));
            None
        }
    }
}

fn finish<T>(value: T, errors: Vec<FieldError>) -> ApiResult<T> {
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(ApiError::Validation(ValidationErrors(errors)))
    }
}

/// `GET /ai/conversations`: `{"data": [...]}` filtered, ordered and limited by the
/// PostgREST-style query.
async fn list_conversations(
    State(state): State<AppState>,
    tenant: Tenant,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::InvalidParameter {
            parameter: "query".into(),
            detail: format!("The query string could not be decoded: {e}"),
        })?;
    let query = parse_query(&pairs).map_err(|errors| {
        let first = errors.0.into_iter().next();
        let (parameter, message) = first
            .map(|e| (e.pointer, e.message))
            .unwrap_or_else(|| ("query".into(), "is not valid".into()));
        ApiError::InvalidParameter {
            detail: format!("`{parameter}`: {message}"),
            parameter,
        }
    })?;
    let records = state
        .store
        .list_conversations(&tenant.org_id, &query)
        .await?;
    let data: Vec<Value> = records.iter().map(render_conversation).collect();
    Ok(Json(json!({ "data": data })))
}

/// `POST /ai/conversations`: creates a conversation with a new UUID; answers the bare object.
async fn create_conversation(
    State(state): State<AppState>,
    tenant: Tenant,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let body = require_object(body)?;
    let mut errors = Vec::new();
    let name = optional_string(&body, "name", &mut errors);
    let mut metadata = BTreeMap::new();
    for (key, value) in parse_metadata(&body, &mut errors).unwrap_or_default() {
        match value {
            Some(text) => {
                metadata.insert(key, text);
            }
            None => errors.push(FieldError::invalid(
                format!("/metadata/{}", pointer_segment(&key)),
                "metadata values must be strings, numbers or booleans, not null",
            )),
        }
    }
    let new = finish(
        NewConversation {
            name,
            metadata,
            variables: BTreeMap::new(),
        },
        errors,
    )?;
    // A plain UUID, as Telnyx gives conversation ids.
    let id = uuid::Uuid::new_v4().to_string();
    match state
        .store
        .create_conversation(&tenant.org_id, &id, &new, state.clock.now())
        .await?
    {
        CreateConversationOutcome::Created(record) => Ok(Json(render_conversation(&record))),
        CreateConversationOutcome::Exists(_) => Err(ApiError::Internal(format!(
            "a freshly generated conversation id {id} already exists"
        ))),
    }
}

/// `GET /ai/conversations/{id}`: `{"data": Conversation}`.
async fn get_conversation(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = checked_id(id)?;
    let record = state
        .store
        .get_conversation(&tenant.org_id, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(json!({ "data": render_conversation(&record) })))
}

/// `PUT /ai/conversations/{id}`: merges `metadata` (a `null` value removes the key; absent or
/// `null` `metadata` changes nothing); answers `{"data": Conversation}`.
async fn update_conversation(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let id = checked_id(id)?;
    let body = require_object(body)?;
    let mut errors = Vec::new();
    let metadata = parse_metadata(&body, &mut errors).unwrap_or_default();
    let metadata = finish(metadata, errors)?;
    let record = state
        .store
        .update_conversation_metadata(&tenant.org_id, &id, &metadata)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(json!({ "data": render_conversation(&record) })))
}

/// `DELETE /ai/conversations/{id}`: 200 with an empty body; the messages go with it.
async fn delete_conversation(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = checked_id(id)?;
    if state.store.delete_conversation(&tenant.org_id, &id).await? {
        Ok(StatusCode::OK)
    } else {
        Err(not_found(&id))
    }
}

/// `GET /ai/conversations/{id}/messages`: `{data, meta}`, oldest first.
async fn list_messages(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let id = checked_id(id)?;
    let page = Pagination::from_query(&query)?.unwrap_or(Pagination {
        number: 1,
        size: DEFAULT_PAGE_SIZE,
    });
    let (records, total) = state
        .store
        .list_messages(&tenant.org_id, &id, page.window())
        .await?
        .ok_or_else(|| not_found(&id))?;
    let data: Vec<Value> = records.iter().map(render_message).collect();
    Ok(Json(json!({
        "data": data,
        "meta": Meta::new(page.number, page.size, total),
    })))
}

/// `POST /ai/conversations/{id}/message`: appends one message; 200 with an empty body.
async fn add_message(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<StatusCode> {
    let id = checked_id(id)?;
    let body = require_object(body)?;
    let message = parse_message(&body)?;
    state
        .store
        .append_messages(
            &tenant.org_id,
            &id,
            None,
            std::slice::from_ref(&message),
            state.clock.now(),
        )
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(StatusCode::OK)
}

/// Reads the body of `POST /ai/conversations/{id}/message`, collecting every problem.
fn parse_message(body: &Map<String, Value>) -> ApiResult<NewMessage> {
    let mut errors = Vec::new();
    let role = match body.get("role") {
        None | Some(Value::Null) => {
            errors.push(FieldError::invalid("/role", "is required"));
            None
        }
        Some(Value::String(text)) => {
            let role = MessageRole::parse(text);
            if role.is_none() {
                errors.push(FieldError::invalid(
                    "/role",
                    format!("must be user, assistant, tool or system, not {text:?}"),
                ));
            }
            role
        }
        Some(other) => {
            errors.push(FieldError::invalid(
                "/role",
                format!("must be a string, not {}", kind_of(other)),
            ));
            None
        }
    };
    let text = optional_string(body, "content", &mut errors).unwrap_or_default();
    let name = optional_string(body, "name", &mut errors);
    let tool_call_id = optional_string(body, "tool_call_id", &mut errors);
    let sent_at = match body.get("sent_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => match parse_timestamp(text) {
            Some(at) => Some(at.trunc_subsecs(6)),
            None => {
                errors.push(FieldError::invalid(
                    "/sent_at",
                    format!("{text:?} is not a date-time (RFC 3339)"),
                ));
                None
            }
        },
        Some(other) => {
            errors.push(FieldError::invalid(
                "/sent_at",
                format!(
                    "must be an RFC 3339 date-time string, not {}",
                    kind_of(other)
                ),
            ));
            None
        }
    };
    let metadata = match body.get("metadata") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(other) => {
            errors.push(FieldError::invalid(
                "/metadata",
                format!("must be an object, not {}", kind_of(other)),
            ));
            Map::new()
        }
    };
    let tool_calls = parse_tool_calls(body.get("tool_calls"), &mut errors);
    // `tool_choice` is accepted and ignored: it steers a model, and nothing runs here.
    match role {
        Some(MessageRole::Tool) if tool_call_id.as_deref().is_none_or(str::is_empty) => {
            errors.push(FieldError::invalid(
                "/tool_call_id",
                "is required on a tool message (the id of the call it answers)",
            ));
        }
        Some(role) if role != MessageRole::Tool && tool_call_id.is_some() => {
            errors.push(FieldError::invalid(
                "/tool_call_id",
                "is only allowed on a tool message",
            ));
        }
        _ => {}
    }
    if matches!(role, Some(r) if r != MessageRole::Assistant) && !tool_calls.is_empty() {
        errors.push(FieldError::invalid(
            "/tool_calls",
            "are only allowed on an assistant message",
        ));
    }
    let Some(role) = role else {
        return Err(ApiError::Validation(ValidationErrors(errors)));
    };
    finish(
        NewMessage {
            role,
            text,
            name,
            tool_calls,
            tool_call_id,
            metadata,
            sent_at,
        },
        errors,
    )
}

/// Reads OpenAI-style `tool_calls`: `[{id, type: "function", function: {name, arguments}}]`
/// (`type` may be omitted; `arguments` is the JSON text of the arguments).
fn parse_tool_calls(value: Option<&Value>, errors: &mut Vec<FieldError>) -> Vec<StoredToolCall> {
    let items = match value {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(items)) => items,
        Some(other) => {
            errors.push(FieldError::invalid(
                "/tool_calls",
                format!("must be an array, not {}", kind_of(other)),
            ));
            return Vec::new();
        }
    };
    let mut calls = Vec::new();
    let mut seen = BTreeSet::new();
    for (index, item) in items.iter().enumerate() {
        let at = format!("/tool_calls/{index}");
        let Value::Object(call) = item else {
            errors.push(FieldError::invalid(
                at,
                format!("must be an object, not {}", kind_of(item)),
            ));
            continue;
        };
        let before = errors.len();
        let id = required_string(call, "id", &at, errors);
        if let Some(id) = &id {
            if !seen.insert(id.clone()) {
                errors.push(FieldError::invalid(
                    format!("{at}/id"),
                    format!("{id:?} is used by another tool call of this message"),
                ));
            }
        }
        match call.get("type") {
            None | Some(Value::Null) => {}
            Some(Value::String(kind)) if kind == "function" => {}
            Some(other) => errors.push(FieldError::invalid(
                format!("{at}/type"),
                format!("must be \"function\", not {other}"),
            )),
        }
        let (name, arguments) = match call.get("function") {
            Some(Value::Object(function)) => {
                let at = format!("{at}/function");
                let name = required_string(function, "name", &at, errors);
                let arguments = match function.get("arguments") {
                    Some(Value::String(text)) => Some(text.clone()),
                    None | Some(Value::Null) => {
                        errors.push(FieldError::invalid(
                            format!("{at}/arguments"),
                            "is required (the arguments as JSON text)",
                        ));
                        None
                    }
                    Some(other) => {
                        errors.push(FieldError::invalid(
                            format!("{at}/arguments"),
                            format!("must be a string holding JSON text, not {}", kind_of(other)),
                        ));
                        None
                    }
                };
                (name, arguments)
            }
            None | Some(Value::Null) => {
                errors.push(FieldError::invalid(format!("{at}/function"), "is required"));
                (None, None)
            }
            Some(other) => {
                errors.push(FieldError::invalid(
                    format!("{at}/function"),
                    format!("must be an object, not {}", kind_of(other)),
                ));
                (None, None)
            }
        };
        if let (Some(id), Some(name), Some(arguments), true) =
            (id, name, arguments, errors.len() == before)
        {
            calls.push(StoredToolCall {
                id,
                name,
                arguments,
            });
        }
    }
    calls
}

/// A non-empty string field of `object`; records an error (pointer `at/field`) otherwise.
fn required_string(
    object: &Map<String, Value>,
    field: &str,
    at: &str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match object.get(field) {
        Some(Value::String(text)) if !text.is_empty() => Some(text.clone()),
        Some(Value::String(_)) => {
            errors.push(FieldError::invalid(
                format!("{at}/{field}"),
                "must not be empty",
            ));
            None
        }
        None | Some(Value::Null) => {
            errors.push(FieldError::invalid(format!("{at}/{field}"), "is required"));
            None
        }
        Some(other) => {
            errors.push(FieldError::invalid(
                format!("{at}/{field}"),
                format!("must be a string, not {}", kind_of(other)),
            ));
            None
        }
    }
}
