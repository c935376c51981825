//! `POST /ai/assistants/{assistant_id}/tools/{tool_id}/test`: runs one webhook tool of the
//! assistant once, with sample `arguments` and `dynamic_variables`, exactly as a chat turn
//! would (same request building, outbound guard and timeout).
//!
//! `tool_id` is the id of a shared tool attached to the assistant, or the `name` of one of its
//! inline webhook tools. The answer is always 200 when the tool exists:
//! `{"data": {"success", "status_code", "content_type", "response", "request"}}` — `success`
//! is false for a non-2xx answer, a timeout, a refused address or a connection error (then
//! no HTTP answer exists: `status_code` is 0, `content_type` is `text/plain` and `response` is
//! the sentence saying what happened, as the model would see it). Both fields are never null,
//! as the contract requires: an answer without a `Content-Type` header shows `""`. `request` shows the method, URL,
//! headers (secret values as `***`) and body that were sent.

use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Path};
use crate::state::{AppState, Tenant};
use crate::tools::webhook::{self, WebhookOutcome};
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use parley_core::ids::AssistantId;
use parley_core::validation::{FieldError, ValidationErrors};
use parley_core::variables;
use serde_json::{json, Map, Value};

/// Routes of this resource.
pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/ai/assistants/{assistant_id}/tools/{tool_id}/test",
        post(test_tool),
    )
}

async fn test_tool(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((assistant_id, tool_id)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let body = match body {
        Value::Null => Map::new(),
        Value::Object(map) => map,
        _ => {
            return Err(ApiError::MalformedBody {
                detail: "The request body must be a JSON object".into(),
                pointer: None,
            })
        }
    };
    let mut errors = Vec::new();
    let arguments = match body.get("arguments") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => {
            errors.push(FieldError::invalid("/arguments", "must be an object"));
            Map::new()
        }
    };
    let overrides = match body.get("dynamic_variables") {
        None | Some(Value::Null) => None,
        Some(value @ Value::Object(_)) => Some(value.clone()),
        Some(_) => {
            errors.push(FieldError::invalid(
                "/dynamic_variables",
                "must be an object",
            ));
            None
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(ValidationErrors(errors)));
    }
    let assistant = state
        .store
        .get_assistant(&tenant.org_id, &AssistantId::from_string(&assistant_id))
        .await?
        .ok_or_else(|| ApiError::assistant_not_found(&assistant_id))?;
    let config = assistant.version.config.as_map();
    let tools = crate::tools::resolve_tools(&state, &tenant.org_id, config).await?;
    let tool = tools
        .iter()
        .find(|tool| {
            tool.get("id").and_then(Value::as_str) == Some(tool_id.as_str())
                || (tool.get("type").and_then(Value::as_str) == Some("webhook")
                    && tool
                        .get("webhook")
                        .and_then(|w| w.get("name"))
                        .and_then(Value::as_str)
                        == Some(tool_id.as_str()))
        })
        .ok_or_else(|| ApiError::NotFound {
            resource: "Tool",
            id: tool_id.clone(),
            pointer: "/tool_id",
        })?;
    let Some(Value::Object(config_of_tool)) = tool.get("webhook") else {
        return Err(ApiError::Refused {
            detail: format!(
                "tool {tool_id} is a {} tool; only webhook tools can be tested",
                tool.get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
            ),
            pointer: Some("/tool_id".into()),
        });
    };
    let defaults = variables::from_json(config.get("dynamic_variables"));
    let given = variables::from_json(overrides.as_ref());
    let values = variables::merge([&defaults, &given]);
    let request =
        webhook::prepare(&state, &tenant.org_id, config_of_tool, &arguments, &values).await?;
    let outcome = webhook::send(&state, &request, webhook::timeout_of(tool)).await;
    let (success, status, content_type, response) = match &outcome {
        WebhookOutcome::Answered(answer) => (
            answer.success(),
            json!(answer.status),
            json!(answer.content_type.as_deref().unwrap_or_default()),
            answer.body.clone(),
        ),
        other => (
            false,
            json!(0),
            json!("text/plain"),
            other.for_model("webhook", crate::tools::MAX_RESULT_CHARS),
        ),
    };
    Ok(Json(json!({"data": {
        "success": success,
        "status_code": status,
        "content_type": content_type,
        "response": response,
        "request": request.shown.to_json(),
    }})))
}
