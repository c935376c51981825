//! `/ai/assistants`: create, list, retrieve, update, delete (soft and hard), clone, restore,
//! deleted views and tags.

use crate::error::{ApiError, ApiResult};
use crate::extract::Path;
use crate::extract::{require_object, JsonBody, Pagination, QueryParams};
use crate::routes::shared_tools;
use crate::state::{AppState, Tenant};
use axum::extract::State;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use parley_core::assistant::{self, AssistantView, DEFAULT_VERSION_NAME};
use parley_core::ids::{AssistantId, OrgId, VersionId};
use parley_core::{FieldError, ValidationErrors};
use parley_store::{AssistantRecord, DeleteMode, DeleteOutcome, NewAssistantRecord};
use parley_types::assistants::{AssistantDeleteResponse, TagsResponse};
use parley_types::Meta;
use serde_json::{json, Value};

/// Routes of this resource.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/ai/assistants",
            get(list_assistants).post(create_assistant),
        )
        .route("/ai/assistants/tags", get(list_tags))
        .route("/ai/assistants/deleted", get(list_deleted_assistants))
        .route(
            "/ai/assistants/{assistant_id}",
            get(get_assistant)
                .post(update_assistant)
                .patch(update_assistant)
                .delete(delete_assistant),
        )
        .route("/ai/assistants/{assistant_id}/clone", post(clone_assistant))
        .route("/ai/assistants/{assistant_id}/texml", get(get_texml))
        .route(
            "/ai/assistants/{assistant_id}/restore",
            post(restore_assistant),
        )
        .route(
            "/ai/assistants/{assistant_id}/deleted",
            get(get_deleted_assistant),
        )
        .route("/ai/assistants/{assistant_id}/tags", post(add_tag))
        .route(
            "/ai/assistants/{assistant_id}/tags/{tag}",
            delete(remove_tag),
        )
}

/// Renders a record as the wire object, its shared tools (read now) after the inline ones.
pub async fn render_record(
    state: &AppState,
    org: &OrgId,
    record: &AssistantRecord,
) -> ApiResult<Value> {
    let mut rendered = render_records(state, org, std::slice::from_ref(record)).await?;
    Ok(rendered.pop().unwrap_or_default())
}

/// Renders records as wire objects, reading the shared tools of all of them at once.
pub async fn render_records(
    state: &AppState,
    org: &OrgId,
    records: &[AssistantRecord],
) -> ApiResult<Vec<Value>> {
    let shared = shared_tools::load_shared_tools(
        state,
        org,
        records.iter().map(|r| r.version.config.as_map()),
    )
    .await?;
    Ok(records
        .iter()
        .map(|record| {
            let mut object = render_inline(state, record);
            let merged = shared_tools::render_shared_tools(record.version.config.as_map(), &shared);
            if let Some(Value::Array(tools)) = object.get_mut("tools") {
                tools.extend(merged);
            }
            object
        })
        .collect())
}

/// The wire object with the inline tools only.
fn render_inline(state: &AppState, record: &AssistantRecord) -> Value {
    assistant::render(
        AssistantView {
            id: record.id.as_str(),
            created_at: &record.created_at,
            tags: &record.tags,
            import_metadata: record.import_metadata.as_ref(),
            version_id: record.version.id.as_str(),
            version_name: &record.version.name,
            version_created_at: &record.version.created_at,
            config: &record.version.config,
            deleted_at: record.deleted_at.as_ref(),
        },
        &state.settings.default_model,
    )
}

async fn page_body(
    state: &AppState,
    org: &OrgId,
    records: &[AssistantRecord],
    meta: Meta,
) -> ApiResult<Value> {
    let data = render_records(state, org, records).await?;
    Ok(json!({ "data": data, "meta": meta }))
}

/// `GET /ai/assistants`: every assistant of the organization, oldest first, as
/// `{data, meta}`. `page[number]`/`page[size]` narrow it to one page.
async fn list_assistants(
    State(state): State<AppState>,
    tenant: Tenant,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let page = Pagination::from_query(&query)?;
    let window = page.map(Pagination::window).unwrap_or_default();
    let (records, total) = state.store.list_assistants(&tenant.org_id, window).await?;
    let meta = match page {
        Some(p) => Meta::new(p.number, p.size, total),
        None => {
            let size = u32::try_from(total.max(1)).unwrap_or(u32::MAX);
            Meta::new(1, size, total)
        }
    };
    Ok(Json(
        page_body(&state, &tenant.org_id, &records, meta).await?,
    ))
}

/// `POST /ai/assistants`.
async fn create_assistant(
    State(state): State<AppState>,
    tenant: Tenant,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let body = Value::Object(require_object(body)?);
    let new = assistant::parse_create(body, &state.settings.default_model)?;
    check_references(&state, &tenant, new.config.as_map()).await?;
    shared_tools::check_combined_tools(&state, &tenant.org_id, new.config.as_map()).await?;
    insert_assistant(&state, &tenant, new.config, new.tags).await
}

/// Stores a new assistant (fresh ids, first version named [`DEFAULT_VERSION_NAME`]) and
/// renders it: the tail of create and clone.
async fn insert_assistant(
    state: &AppState,
    tenant: &Tenant,
    config: parley_core::assistant::AssistantConfig,
    tags: Vec<String>,
) -> ApiResult<Json<Value>> {
    let record = state
        .store
        .create_assistant_with_version(
            &tenant.org_id,
            NewAssistantRecord {
                id: AssistantId::generate(),
                tags,
                import_metadata: None,
                version_id: VersionId::generate(),
                version_name: DEFAULT_VERSION_NAME.to_owned(),
                config,
            },
            state.clock.now(),
        )
        .await?;
    Ok(Json(render_record(state, &tenant.org_id, &record).await?))
}

/// `GET /ai/assistants/{id}`. The dynamic-variable query parameters are checked here and
/// used by the conversation engine.
async fn get_assistant(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    query.bool("fetch_dynamic_variables_from_webhook", false)?;
    let record = state
        .store
        .get_assistant(&tenant.org_id, &AssistantId::from_string(&id))
        .await?
        .ok_or_else(|| ApiError::assistant_not_found(&id))?;
    Ok(Json(render_record(&state, &tenant.org_id, &record).await?))
}

/// `POST /ai/assistants/{id}`: partial update writing a new version.
async fn update_assistant(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let body = Value::Object(require_object(body)?);
    let update = assistant::parse_update(body)?;
    check_references(&state, &tenant, update.fields()).await?;
    if update.fields().contains_key("tools") || update.fields().contains_key("tool_ids") {
        // Single-instance types are counted across the inline and shared tools the update
        // leaves the assistant with.
        let current = state
            .store
            .get_assistant(&tenant.org_id, &AssistantId::from_string(&id))
            .await?
            .ok_or_else(|| ApiError::assistant_not_found(&id))?;
        let next = update.apply(&current.version.config);
        shared_tools::check_combined_tools(&state, &tenant.org_id, next.as_map()).await?;
    }
    let record = state
        .store
        .update_assistant(
            &tenant.org_id,
            &AssistantId::from_string(&id),
            &update,
            VersionId::generate(),
            state.clock.now(),
        )
        .await?
        .ok_or_else(|| ApiError::assistant_not_found(&id))?;
    Ok(Json(render_record(&state, &tenant.org_id, &record).await?))
}

/// `DELETE /ai/assistants/{id}[?hard_delete=true]`.
async fn delete_assistant(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<AssistantDeleteResponse>> {
    let mode = if query.bool("hard_delete", false)? {
        DeleteMode::Hard
    } else {
        DeleteMode::Soft
    };
    let outcome = state
        .store
        .delete_assistant(
            &tenant.org_id,
            &AssistantId::from_string(&id),
            mode,
            state.clock.now(),
        )
        .await?;
    match outcome {
        DeleteOutcome::Deleted => Ok(Json(AssistantDeleteResponse {
            id,
            object: "assistant".into(),
            deleted: true,
        })),
        DeleteOutcome::NotFound => Err(ApiError::assistant_not_found(&id)),
        DeleteOutcome::ReferencedBy(by) => Err(ApiError::Refused {
            detail: format!(
                "Assistant {id} cannot be deleted while these assistants hand conversations to it: {}",
                by.join(", ")
            ),
            pointer: Some("/assistant_id".into()),
        }),
    }
}

/// `POST /ai/assistants/{id}/clone`: a new assistant with the same configuration, except
/// telephony and messaging settings, named `"<name> (Clone)"`, with the same tags.
async fn clone_assistant(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let original = state
        .store
        .get_assistant(&tenant.org_id, &AssistantId::from_string(&id))
        .await?
        .ok_or_else(|| ApiError::assistant_not_found(&id))?;
    insert_assistant(
        &state,
        &tenant,
        original.version.config.for_clone(),
        original.tags,
    )
    .await
}

/// `GET /ai/assistants/{id}/texml`: TeXML that connects a call to the assistant, as a JSON
/// string (the contract declares `application/json`).
async fn get_texml(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    state
        .store
        .get_assistant(&tenant.org_id, &AssistantId::from_string(&id))
        .await?
        .ok_or_else(|| ApiError::assistant_not_found(&id))?;
    Ok(Json(Value::String(assistant::texml(&id))))
}

/// Checks that what a configuration refers to exists in the caller's organization: every
/// `*_ref` names an integration secret, every `mcp_servers[].id` an MCP server, every
/// `integrations[].integration_id` a catalogue integration, every `tool_ids` entry a shared
/// tool.
pub async fn check_references(
    state: &AppState,
    tenant: &Tenant,
    fields: &serde_json::Map<String, Value>,
) -> ApiResult<()> {
    let mut errors = state.llm.check(fields);
    errors.extend(crate::tools::check_static_urls(&state.outbound, fields));
    match crate::secrets::check_refs_exist(state, &tenant.org_id, &assistant::secret_refs(fields))
        .await
    {
        Ok(()) => {}
        Err(ApiError::Validation(missing)) => errors.extend(missing.0),
        Err(other) => return Err(other),
    }
    let servers = assistant::mcp_server_refs(fields);
    if !servers.is_empty() {
        let ids: Vec<String> = servers.iter().map(|(_, id)| id.clone()).collect();
        let existing = state
            .store
            .existing_mcp_server_ids(&tenant.org_id, &ids)
            .await?;
        for (pointer, id) in servers.into_iter().filter(|(_, id)| !existing.contains(id)) {
            errors.push(FieldError::invalid(
                pointer,
                format!("MCP server {id:?} not found"),
            ));
        }
    }
    errors.extend(shared_tools::unknown_tool_ids(state, &tenant.org_id, fields).await?);
    let catalogue = parley_core::integrations::catalogue();
    for (pointer, id) in assistant::integration_refs(fields) {
        if catalogue.get(&id).is_none() {
            errors.push(FieldError::invalid(
                pointer,
                format!("integration {id:?} is not in the catalogue"),
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors(errors).into())
    }
}

fn deleted_assistant_not_found(id: &str) -> ApiError {
    ApiError::NotFound {
        resource: "Deleted assistant",
        id: id.to_owned(),
        pointer: "/assistant_id",
    }
}

/// `POST /ai/assistants/{id}/restore`: undoes a soft delete.
async fn restore_assistant(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let record = state
        .store
        .restore_assistant(&tenant.org_id, &AssistantId::from_string(&id))
        .await?
        .ok_or_else(|| deleted_assistant_not_found(&id))?;
    Ok(Json(render_record(&state, &tenant.org_id, &record).await?))
}

/// `GET /ai/assistants/deleted`: soft-deleted assistants, paginated `{data, meta}`.
async fn list_deleted_assistants(
    State(state): State<AppState>,
    tenant: Tenant,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let page = Pagination::from_query(&query)?.unwrap_or(Pagination {
        number: 1,
        size: crate::extract::DEFAULT_PAGE_SIZE,
    });
    let (records, total) = state
        .store
        .list_deleted_assistants(&tenant.org_id, page.window())
        .await?;
    Ok(Json(
        page_body(
            &state,
            &tenant.org_id,
            &records,
            Meta::new(page.number, page.size, total),
        )
        .await?,
    ))
}

/// `GET /ai/assistants/{id}/deleted`: a read-only view of a soft-deleted assistant.
async fn get_deleted_assistant(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let record = state
        .store
        .get_deleted_assistant(&tenant.org_id, &AssistantId::from_string(&id))
        .await?
        .ok_or_else(|| deleted_assistant_not_found(&id))?;
    Ok(Json(render_record(&state, &tenant.org_id, &record).await?))
}

/// `GET /ai/assistants/tags`: distinct tags of the organization's assistants.
async fn list_tags(State(state): State<AppState>, tenant: Tenant) -> ApiResult<Json<TagsResponse>> {
    let tags = state.store.list_assistant_tags(&tenant.org_id).await?;
    Ok(Json(TagsResponse { tags }))
}

/// `POST /ai/assistants/{id}/tags` with `{"tag": "…"}`: the assistant's tags after adding.
async fn add_tag(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<TagsResponse>> {
    let body = require_object(body)?;
    let tag = match body.get("tag") {
        Some(Value::String(tag)) => {
            assistant::normalize_tag(tag, "/tag").map_err(parley_core::ValidationErrors::one)?
        }
        Some(other) => {
            return Err(
                parley_core::ValidationErrors::one(parley_core::FieldError::invalid(
                    "/tag",
                    format!(
                        "`tag` must be a string, not {}",
                        crate::extract::kind_of(other)
                    ),
                ))
                .into(),
            )
        }
        None => {
            return Err(
                parley_core::ValidationErrors::one(parley_core::FieldError::invalid(
                    "/tag",
                    "`tag` is required",
                ))
                .into(),
            )
        }
    };
    let tags = state
        .store
        .add_assistant_tag(&tenant.org_id, &AssistantId::from_string(&id), &tag)
        .await?
        .ok_or_else(|| ApiError::assistant_not_found(&id))?;
    Ok(Json(TagsResponse { tags }))
}

/// `DELETE /ai/assistants/{id}/tags/{tag}`: the assistant's tags after removing.
async fn remove_tag(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<Json<TagsResponse>> {
    let tags = state
        .store
        .remove_assistant_tag(&tenant.org_id, &AssistantId::from_string(&id), &tag)
        .await?
        .ok_or_else(|| ApiError::assistant_not_found(&id))?;
    Ok(Json(TagsResponse { tags }))
}
