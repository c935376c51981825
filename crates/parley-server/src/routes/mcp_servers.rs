//! `/ai/mcp_servers`: MCP servers an organization registers.
//!
//! Single objects are bare `McpServer`s; the list is a bare JSON array paginated by
//! `page[number]`/`page[size]` (default 20, at most 100) that is `[]` past the last page —
//! the SDK keeps asking for the next page until it gets an empty one. `PUT` is a partial
//! update; `DELETE` answers 200 with no body and is refused (400) while a live assistant uses
//! the server. `type` accepts `http`, `streamable-http`, `streamable_http` (MCP Streamable
//! HTTP) and `sse` (legacy HTTP+SSE); see [`parley_core::mcp`].

use crate::error::{ApiError, ApiResult};
use crate::extract::{require_object, JsonBody, Pagination, Path, QueryParams, DEFAULT_PAGE_SIZE};
use crate::secrets::check_refs_exist;
use crate::state::{AppState, Tenant};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use parley_core::ids::OrgId;
use parley_core::mcp::{self, McpServerConfig};
use parley_store::{McpServerDeleteOutcome, McpServerFilter, McpServerRecord};
use serde_json::Value;

/// Routes of this resource.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/ai/mcp_servers",
            get(list_mcp_servers).post(create_mcp_server),
        )
        .route(
            "/ai/mcp_servers/{mcp_server_id}",
            get(get_mcp_server)
                .put(update_mcp_server)
                .delete(delete_mcp_server),
        )
}

/// The wire object of a record.
pub fn render(record: &McpServerRecord) -> Value {
    mcp::render(&record.id, &record.created_at, &record.config)
}

/// The MCP server `id` does not exist in the caller's organization.
pub fn not_found(id: &str) -> ApiError {
    ApiError::NotFound {
        resource: "MCP server",
        id: id.to_owned(),
        pointer: "/mcp_server_id",
    }
}

/// Checks that `api_key_ref`, when set, names an integration secret of the organization.
async fn check_api_key_ref(
    state: &AppState,
    org: &OrgId,
    api_key_ref: Option<&String>,
) -> ApiResult<()> {
    match api_key_ref {
        Some(reference) => {
            check_refs_exist(
                state,
                org,
                &[("/api_key_ref".to_owned(), reference.clone())],
            )
            .await
        }
        None => Ok(()),
    }
}

/// `GET /ai/mcp_servers`: a bare array, oldest first; `type` and `url` filter exactly.
async fn list_mcp_servers(
    State(state): State<AppState>,
    tenant: Tenant,
    query: QueryParams,
) -> ApiResult<Json<Vec<Value>>> {
    let page = Pagination::from_query(&query)?.unwrap_or(Pagination {
        number: 1,
        size: DEFAULT_PAGE_SIZE,
    });
    let filter = McpServerFilter {
        server_type: query.get("type").map(str::to_owned),
        url: query.get("url").map(str::to_owned),
    };
    let records = state
        .store
        .list_mcp_servers(&tenant.org_id, &filter, page.window())
        .await?;
    Ok(Json(records.iter().map(render).collect()))
}

/// `POST /ai/mcp_servers`: 200 with the new server.
async fn create_mcp_server(
    State(state): State<AppState>,
    tenant: Tenant,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let body = Value::Object(require_object(body)?);
    let config: McpServerConfig = mcp::parse_create(&body)?;
    check_api_key_ref(&state, &tenant.org_id, config.api_key_ref.as_ref()).await?;
    let record = state
        .store
        .create_mcp_server(
            &tenant.org_id,
            &mcp::generate_id(),
            &config,
            state.clock.now(),
        )
        .await?;
    Ok(Json(render(&record)))
}

/// `GET /ai/mcp_servers/{id}`.
async fn get_mcp_server(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let record = state
        .store
        .get_mcp_server(&tenant.org_id, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(render(&record)))
}

/// `PUT /ai/mcp_servers/{id}`: fields sent replace the stored ones, `null` clears
/// `allowed_tools`/`api_key_ref`, `id` and `created_at` are ignored.
async fn update_mcp_server(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let body = Value::Object(require_object(body)?);
    let update = mcp::parse_update(&body)?;
    if let Some(reference) = &update.api_key_ref {
        check_api_key_ref(&state, &tenant.org_id, reference.as_ref()).await?;
    }
    let record = state
        .store
        .update_mcp_server(&tenant.org_id, &id, &update)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(render(&record)))
}

/// `DELETE /ai/mcp_servers/{id}`: 200 with an empty body.
async fn delete_mcp_server(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    match state.store.delete_mcp_server(&tenant.org_id, &id).await? {
        McpServerDeleteOutcome::Deleted => Ok(StatusCode::OK),
        McpServerDeleteOutcome::NotFound => Err(not_found(&id)),
        McpServerDeleteOutcome::ReferencedBy(assistants) => Err(ApiError::Refused {
            detail: format!(
                "MCP server {id} cannot be deleted while these assistants use it: {}",
                assistants.join(", ")
            ),
            pointer: Some("/mcp_server_id".into()),
        }),
    }
}
