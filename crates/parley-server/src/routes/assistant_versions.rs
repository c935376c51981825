//! `/ai/assistants/{assistant_id}/versions`: list, retrieve, edit and delete versions, and
//! promote one to main.
//!
//! Main is never edited in place: editing it is refused (update the assistant instead, which
//! writes a new version). Drafts — versions written with `promote_to_main: false`, or mains
//! since replaced — can be edited in place; tags live on the assistant and are not part of a
//! version edit.

use crate::error::{ApiError, ApiResult};
use crate::extract::{require_object, JsonBody, Path, QueryParams};
use crate::routes::assistants::{render_record, render_records};
use crate::state::{AppState, Tenant};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use parley_core::assistant;
use parley_core::ids::{AssistantId, VersionId};
use parley_store::VersionChange;
use serde_json::{json, Value};

/// Routes of this resource.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ai/assistants/{assistant_id}/versions", get(list_versions))
        .route(
            "/ai/assistants/{assistant_id}/versions/{version_id}",
            get(get_version).post(edit_version).delete(delete_version),
        )
        .route(
            "/ai/assistants/{assistant_id}/versions/{version_id}/promote",
            post(promote_version),
        )
}

fn version_not_found(id: &str) -> ApiError {
    ApiError::NotFound {
        resource: "Version",
        id: id.to_owned(),
        pointer: "/version_id",
    }
}

fn refused(detail: String) -> ApiError {
    ApiError::Refused {
        detail,
        pointer: Some("/version_id".into()),
    }
}

/// `GET …/versions`: every kept version, newest first, as full assistant objects.
async fn list_versions(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let records = state
        .store
        .list_versions(&tenant.org_id, &AssistantId::from_string(&id))
        .await?
        .ok_or_else(|| ApiError::assistant_not_found(&id))?;
    let data = render_records(&state, &tenant.org_id, &records).await?;
    Ok(Json(json!({ "data": data })))
}

/// `GET …/versions/{version_id}`.
async fn get_version(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((id, version)): Path<(String, String)>,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    query.bool("include_mcp_servers", false)?;
    let assistant_id = AssistantId::from_string(&id);
    let record = state
        .store
        .get_version(
            &tenant.org_id,
            &assistant_id,
            &VersionId::from_string(&version),
        )
        .await?;
    match record {
        Some(record) => Ok(Json(render_record(&state, &tenant.org_id, &record).await?)),
        None => Err(missing(&state, &tenant, &id, &version).await?),
    }
}

/// Which of assistant and version is missing.
async fn missing(
    state: &AppState,
    tenant: &Tenant,
    id: &str,
    version: &str,
) -> ApiResult<ApiError> {
    let exists = state
        .store
        .get_assistant(&tenant.org_id, &AssistantId::from_string(id))
        .await?
        .is_some();
    Ok(if exists {
        version_not_found(version)
    } else {
        ApiError::assistant_not_found(id)
    })
}

/// `POST …/versions/{version_id}`: edits a version that is not main, in place.
async fn edit_version(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((id, version)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let mut body = require_object(body)?;
    body.remove("promote_to_main");
    let update = assistant::parse_update(Value::Object(body))?;
    crate::routes::assistants::check_references(&state, &tenant, update.fields()).await?;
    if update.fields().contains_key("tools") || update.fields().contains_key("tool_ids") {
        // Single-instance tool types are counted across inline and shared tools.
        let current = state
            .store
            .get_version(
                &tenant.org_id,
                &AssistantId::from_string(&id),
                &VersionId::from_string(&version),
            )
            .await?;
        if let Some(current) = current {
            let next = update.apply(&current.version.config);
            crate::routes::shared_tools::check_combined_tools(
                &state,
                &tenant.org_id,
                next.as_map(),
            )
            .await?;
        }
    }
    let change = state
        .store
        .edit_version(
            &tenant.org_id,
            &AssistantId::from_string(&id),
            &VersionId::from_string(&version),
            &update,
        )
        .await?;
    match change {
        VersionChange::Done(Some(record)) => {
            Ok(Json(render_record(&state, &tenant.org_id, &record).await?))
        }
        VersionChange::IsMain => Err(refused(format!(
            "Version {version} is the main version and cannot be edited in place; update the assistant instead"
        ))),
        _ => Err(missing(&state, &tenant, &id, &version).await?),
    }
}

/// `DELETE …/versions/{version_id}` → 204.
async fn delete_version(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((id, version)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let change = state
        .store
        .delete_version(
            &tenant.org_id,
            &AssistantId::from_string(&id),
            &VersionId::from_string(&version),
        )
        .await?;
    match change {
        VersionChange::Done(_) => Ok(StatusCode::NO_CONTENT),
        VersionChange::IsMain => Err(refused(format!(
            "Version {version} is the main version and cannot be deleted"
        ))),
        VersionChange::ServedByCanary => Err(refused(format!(
            "Version {version} is served by the canary deploy; change or delete the canary deploy first"
        ))),
        VersionChange::NotFound => Err(missing(&state, &tenant, &id, &version).await?),
    }
}

/// `POST …/versions/{version_id}/promote`: makes it main and removes the canary deploy.
async fn promote_version(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((id, version)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let record = state
        .store
        .promote_version(
            &tenant.org_id,
            &AssistantId::from_string(&id),
            &VersionId::from_string(&version),
        )
        .await?;
    match record {
        Some(record) => Ok(Json(render_record(&state, &tenant.org_id, &record).await?)),
        None => Err(missing(&state, &tenant, &id, &version).await?),
    }
}
