//! `POST /ai/assistants/{assistant_id}/chat/sms`: the assistant texts someone now (see
//! [`crate::outreach::send_assistant_sms`]). Answers `{"conversation_id": …}`; a carrier
//! failure is a 502 whose detail is the carrier's reason, and nothing is recorded.

use crate::error::ApiResult;
use crate::extract::{JsonBody, Path};
use crate::state::{AppState, Tenant};
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use parley_core::messaging::parse_send_sms;
use parley_types::messaging::AssistantSendSmsResponse;
use serde_json::Map;

/// Routes of this resource.
pub fn routes() -> Router<AppState> {
    Router::new().route("/ai/assistants/{assistant_id}/chat/sms", post(send_sms))
}

async fn send_sms(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(assistant_id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<AssistantSendSmsResponse>> {
    let input = parse_send_sms(&body)?;
    let conversation_id =
        crate::outreach::send_assistant_sms(&state, &tenant.org_id, &assistant_id, input).await?;
    Ok(Json(AssistantSendSmsResponse {
        conversation_id: Some(conversation_id),
        extra: Map::new(),
    }))
}
