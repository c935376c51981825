//! `GET /ai/models`: the models this server can serve, as an OpenAI-compatible list
//! (`{"object": "list", "data": [{"id", "object": "model", "created", "owned_by"}]}`).
//! The embedded model is owned by `parley`; table entries and the catch-all upstream (`*`)
//! by `upstream`. The default model of new assistants carries `"recommended_for_assistants":
//! true`. Also served at `/ai/openai/models`, the path Telnyx documents.

use crate::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

/// Routes of this resource.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ai/models", get(list_models))
        .route("/ai/openai/models", get(list_models))
}

async fn list_models(State(state): State<AppState>) -> Json<Value> {
    let data: Vec<Value> = state
        .llm
        .list()
        .into_iter()
        .map(|entry| {
            json!({
                "id": entry.id,
                "object": "model",
                "created": 0,
                "owned_by": entry.owned_by,
                "recommended_for_assistants": entry.default,
            })
        })
        .collect();
    Json(json!({ "object": "list", "data": data }))
}
