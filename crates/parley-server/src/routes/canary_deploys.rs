//! `/ai/assistants/{assistant_id}/canary-deploys`: the assistant's one canary deploy.
//! POST and PUT both create or replace it (200); DELETE removes it (204), sending all traffic
//! to main.

use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Path};
use crate::state::{AppState, Tenant};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use parley_core::canary;
use parley_core::clock::format_timestamp;
use parley_core::ids::AssistantId;
use parley_core::{FieldError, ValidationErrors};
use parley_store::{CanaryChange, CanaryRecord};
use serde_json::{json, Value};

/// Routes of this resource.
pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/ai/assistants/{assistant_id}/canary-deploys",
        get(get_canary_deploy)
            .post(save_canary_deploy)
            .put(save_canary_deploy)
            .delete(delete_canary_deploy),
    )
}

fn render(record: &CanaryRecord) -> Value {
    json!({
        "assistant_id": record.assistant_id.as_str(),
        "rules": record.rules.as_json(),
        "created_at": format_timestamp(&record.created_at),
        "updated_at": format_timestamp(&record.updated_at),
    })
}

fn no_canary(id: &str) -> ApiError {
    ApiError::NotFound {
        resource: "Canary deploy of assistant",
        id: id.to_owned(),
        pointer: "/assistant_id",
    }
}

/// `GET`: 404 when none is configured.
async fn get_canary_deploy(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    match state
        .store
        .get_canary(&tenant.org_id, &AssistantId::from_string(&id))
        .await?
    {
        None => Err(ApiError::assistant_not_found(&id)),
        Some(None) => Err(no_canary(&id)),
        Some(Some(record)) => Ok(Json(render(&record))),
    }
}

/// `POST`/`PUT`: validates the rules and that every version they serve belongs to the
/// assistant, then creates or replaces the deploy.
async fn save_canary_deploy(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let rules = canary::parse_rules(&body)?;
    let change = state
        .store
        .save_canary(
            &tenant.org_id,
            &AssistantId::from_string(&id),
            &rules,
            state.clock.now(),
        )
        .await?;
    match change {
        CanaryChange::Saved(record) => Ok(Json(render(&record))),
        CanaryChange::AssistantNotFound => Err(ApiError::assistant_not_found(&id)),
        CanaryChange::UnknownVersions(unknown) => {
            let errors = pointers_to(rules.as_json(), &unknown)
                .into_iter()
                .map(|(pointer, version)| {
                    FieldError::invalid(
                        pointer,
                        format!("version {version} is not a version of assistant {id}"),
                    )
                })
                .collect();
            Err(ValidationErrors(errors).into())
        }
    }
}

/// JSON pointers of every place the rules name one of `versions`.
fn pointers_to(rules: &Value, versions: &[String]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (i, rule) in rules.as_array().into_iter().flatten().enumerate() {
        let serve = &rule["serve"];
        if let Some(v) = serve.get("version_id").and_then(Value::as_str) {
            if versions.iter().any(|u| u == v) {
                found.push((format!("/rules/{i}/serve/version_id"), v.to_owned()));
            }
        }
        for (j, slot) in serve
            .get("rollout")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(v) = slot.get("version_id").and_then(Value::as_str) {
                if versions.iter().any(|u| u == v) {
                    found.push((
                        format!("/rules/{i}/serve/rollout/{j}/version_id"),
                        v.to_owned(),
                    ));
                }
            }
        }
    }
    found
}

/// `DELETE` → 204; 404 when none is configured.
async fn delete_canary_deploy(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    match state
        .store
        .delete_canary(&tenant.org_id, &AssistantId::from_string(&id))
        .await?
    {
        None => Err(ApiError::assistant_not_found(&id)),
        Some(false) => Err(no_canary(&id)),
        Some(true) => Ok(StatusCode::NO_CONTENT),
    }
}
