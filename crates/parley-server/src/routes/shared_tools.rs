//! `/ai/tools`: shared tools (the Tools Library), and `/ai/assistants/{id}/tools/{tool_id}`:
//! attaching them to assistants.
//!
//! Wire shapes (telnyx-python 4.189.0, `resources/ai/tools.py`, `types/ai/shared_tool_response.py`):
//! single objects are a bare `SharedToolResponse` `{id, type, display_name, tool_definition,
//! timeout_ms?, created_at}` where `tool_definition` is the tool as an assistant's `tools`
//! holds it (`{"type": "webhook", "webhook": {…}, "timeout_ms"?}`); the list is paginated
//! `{data, meta}` (`page[number]`, `page[size]` default 20, at most 100) filtered by
//! `filter[name]` (a part of `display_name`, ASCII case-insensitive) and `filter[type]`
//! (exact). `PATCH` is a partial update (`type` may be repeated, not changed; a sent
//! configuration replaces the old one); `DELETE` answers 200 with no body and detaches the
//! tool from every assistant (see [`parley_store::SharedToolStore`]).
//!
//! `PUT`/`DELETE /ai/assistants/{id}/tools/{tool_id}` attach and detach (the SDK reads the
//! answer as an untyped object): each writes a new main version when something changes and
//! answers with the assistant object, whose `tools` lists the shared tools after the inline
//! ones. Both are idempotent; attaching a second tool of a single-instance type is 400
//! (code 10015).
//!
//! Assistants keep ids, never copies: [`render_shared_tools`] and [`resolve_tools`] read the
//! current definitions, so a change to a shared tool reaches every assistant using it. Ids
//! that name no tool (a tool deleted while an update naming it was in flight) are skipped.

use crate::error::{ApiError, ApiResult};
use crate::extract::{require_object, JsonBody, Pagination, Path, QueryParams, DEFAULT_PAGE_SIZE};
use crate::routes::assistants::render_record;
use crate::state::{AppState, Tenant};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use parley_core::assistant::secret_refs;
use parley_core::ids::{AssistantId, OrgId, VersionId};
use parley_core::shared_tools::{self, check_tool_set, SharedToolConfig};
use parley_core::{FieldError, ValidationErrors};
use parley_store::{AttachmentChange, SharedToolChange, SharedToolFilter, SharedToolRecord};
use parley_types::Meta;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// Routes of this resource.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ai/tools", get(list_tools).post(create_tool))
        .route(
            "/ai/tools/{tool_id}",
            get(get_tool).patch(update_tool).delete(delete_tool),
        )
        .route(
            "/ai/assistants/{assistant_id}/tools/{tool_id}",
            put(attach_tool).delete(detach_tool),
        )
}

/// The wire object of a record (`SharedToolResponse`).
pub fn render(record: &SharedToolRecord) -> Value {
    shared_tools::render(&record.id, &record.created_at, &record.config)
}

/// The shared tool `id` does not exist in the caller's organization.
pub fn not_found(id: &str) -> ApiError {
    ApiError::NotFound {
        resource: "Tool",
        id: id.to_owned(),
        pointer: "/tool_id",
    }
}

/// Checks that every integration-secret reference (`*_ref`) in a tool's configuration names
/// a secret of the organization (pointers relative to the body: `/webhook/…`).
async fn check_secret_refs(
    state: &AppState,
    org: &OrgId,
    config: &SharedToolConfig,
) -> ApiResult<()> {
    let mut fields = Map::new();
    fields.insert(
        config.tool_type.clone(),
        Value::Object(config.definition.clone()),
    );
    crate::secrets::check_refs_exist(state, org, &secret_refs(&fields)).await
}

/// `GET /ai/tools`: `{data, meta}`, oldest first.
async fn list_tools(
    State(state): State<AppState>,
    tenant: Tenant,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let page = Pagination::from_query(&query)?.unwrap_or(Pagination {
        number: 1,
        size: DEFAULT_PAGE_SIZE,
    });
    let filter = SharedToolFilter {
        name: query.get("filter[name]").map(str::to_owned),
        tool_type: query.get("filter[type]").map(str::to_owned),
    };
    let (records, total) = state
        .store
        .list_shared_tools(&tenant.org_id, &filter, page.window())
        .await?;
    let data: Vec<Value> = records.iter().map(render).collect();
    Ok(Json(
        json!({ "data": data, "meta": Meta::new(page.number, page.size, total) }),
    ))
}

/// `POST /ai/tools`: 200 with the new tool.
async fn create_tool(
    State(state): State<AppState>,
    tenant: Tenant,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let body = Value::Object(require_object(body)?);
    let config = shared_tools::parse_create(&body)?;
    check_secret_refs(&state, &tenant.org_id, &config).await?;
    let record = state
        .store
        .create_shared_tool(
            &tenant.org_id,
            &shared_tools::generate_id(),
            &config,
            state.clock.now(),
        )
        .await?;
    Ok(Json(render(&record)))
}

/// `GET /ai/tools/{tool_id}`.
async fn get_tool(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let record = state
        .store
        .get_shared_tool(&tenant.org_id, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(render(&record)))
}

/// `PATCH /ai/tools/{tool_id}`: sent fields replace the stored ones.
async fn update_tool(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let body = Value::Object(require_object(body)?);
    let update = shared_tools::parse_update(&body)?;
    if let Some((key, definition)) = &update.definition {
        let mut fields = Map::new();
        fields.insert(key.clone(), Value::Object(definition.clone()));
        crate::secrets::check_refs_exist(&state, &tenant.org_id, &secret_refs(&fields)).await?;
    }
    match state
        .store
        .update_shared_tool(&tenant.org_id, &id, &update)
        .await?
    {
        SharedToolChange::Updated(record) => Ok(Json(render(&record))),
        SharedToolChange::NotFound => Err(not_found(&id)),
        SharedToolChange::Invalid(errors) => Err(errors.into()),
    }
}

/// `DELETE /ai/tools/{tool_id}`: 200 with an empty body; the tool is detached from every
/// assistant.
async fn delete_tool(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if state.store.delete_shared_tool(&tenant.org_id, &id).await? {
        Ok(StatusCode::OK)
    } else {
        Err(not_found(&id))
    }
}

/// The answer to an attach or detach.
async fn attachment_reply(
    state: &AppState,
    tenant: &Tenant,
    assistant: &str,
    tool: &str,
    change: AttachmentChange,
) -> ApiResult<Json<Value>> {
    match change {
        AttachmentChange::Done(record) => Ok(Json(
            render_record(state, &tenant.org_id, &record).await?,
        )),
        AttachmentChange::AssistantNotFound => Err(ApiError::assistant_not_found(assistant)),
        AttachmentChange::ToolNotFound => Err(not_found(tool)),
        AttachmentChange::Duplicate(tool_type) => Err(ValidationErrors::one(FieldError::duplicate(
            "/tool_id",
            format!(
                "assistant {assistant} already holds a `{tool_type}` tool; an assistant can hold only one, counting inline and shared tools"
            ),
        ))
        .into()),
    }
}

/// `PUT /ai/assistants/{assistant_id}/tools/{tool_id}`: attaches a shared tool.
async fn attach_tool(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((assistant, tool)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let change = state
        .store
        .attach_shared_tool(
            &tenant.org_id,
            &AssistantId::from_string(&assistant),
            &tool,
            VersionId::generate(),
            state.clock.now(),
        )
        .await?;
    attachment_reply(&state, &tenant, &assistant, &tool, change).await
}

/// `DELETE /ai/assistants/{assistant_id}/tools/{tool_id}`: detaches a shared tool.
async fn detach_tool(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((assistant, tool)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let change = state
        .store
        .detach_shared_tool(
            &tenant.org_id,
            &AssistantId::from_string(&assistant),
            &tool,
            VersionId::generate(),
            state.clock.now(),
        )
        .await?;
    attachment_reply(&state, &tenant, &assistant, &tool, change).await
}

/// The current shared tools of several configurations at once, by id (one store call).
pub async fn load_shared_tools<'a>(
    state: &AppState,
    org: &OrgId,
    configs: impl IntoIterator<Item = &'a Map<String, Value>>,
) -> ApiResult<HashMap<String, SharedToolConfig>> {
    let mut ids: Vec<String> = Vec::new();
    for config in configs {
        for id in tool_ids(config) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    let tools = state.store.get_shared_tools(org, &ids).await?;
    Ok(tools.into_iter().map(|t| (t.id, t.config)).collect())
}

/// `tool_ids` of a configuration document, in order.
fn tool_ids(config: &Map<String, Value>) -> Vec<String> {
    config
        .get("tool_ids")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|id| id.as_str().map(str::to_owned))
        .collect()
}

/// The shared tools of `config`, as merged into an assistant's `tools` (`shared: true`,
/// `id`, tool-level `timeout_ms`), in `tool_ids` order, picked from `tools`.
pub fn render_shared_tools(
    config: &Map<String, Value>,
    tools: &HashMap<String, SharedToolConfig>,
) -> Vec<Value> {
    tool_ids(config)
        .iter()
        .filter_map(|id| tools.get(id).map(|tool| tool.as_assistant_tool(id)))
        .collect()
}

/// The tools a conversation on this configuration (one version's document) can use: the
/// inline `tools` as stored, then the current definition of each shared tool in `tool_ids`
/// order, each with `"shared": true`, its `"id"` and its tool-level `timeout_ms` when set.
pub async fn resolve_tools(
    state: &AppState,
    org: &OrgId,
    config: &Map<String, Value>,
) -> ApiResult<Vec<Value>> {
    let mut tools: Vec<Value> = config
        .get("tools")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let shared = load_shared_tools(state, org, [config]).await?;
    tools.extend(render_shared_tools(config, &shared));
    Ok(tools)
}

/// Errors for the `tool_ids` of a configuration or update body that name no shared tool of
/// the organization (`/tool_ids/N`, 422). Empty when `fields` has no `tool_ids`.
pub async fn unknown_tool_ids(
    state: &AppState,
    org: &OrgId,
    fields: &Map<String, Value>,
) -> ApiResult<Vec<FieldError>> {
    let ids = tool_ids(fields);
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let found = load_shared_tools(state, org, [fields]).await?;
    Ok(ids
        .iter()
        .enumerate()
        .filter(|(_, id)| !found.contains_key(*id))
        .map(|(i, id)| {
            FieldError::invalid(
                format!("/tool_ids/{i}"),
                format!("shared tool {id:?} not found"),
            )
        })
        .collect())
}

/// Checks that a whole configuration holds at most one tool of each single-instance type,
/// counting its inline `tools` and its shared tools (400, code 10015, at `/tool_ids/N` or
/// `/tools/N`).
pub async fn check_combined_tools(
    state: &AppState,
    org: &OrgId,
    config: &Map<String, Value>,
) -> ApiResult<()> {
    let ids = tool_ids(config);
    if ids.is_empty() {
        return Ok(());
    }
    let found = load_shared_tools(state, org, [config]).await?;
    let shared: Vec<(usize, &str)> = ids
        .iter()
        .enumerate()
        .filter_map(|(i, id)| found.get(id).map(|t| (i, t.tool_type.as_str())))
        .collect();
    check_tool_set(config.get("tools"), &shared).map_err(ApiError::from)
}
