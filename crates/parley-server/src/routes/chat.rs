//! `POST /ai/assistants/{assistant_id}/chat`: one turn of a conversation with an assistant
//! (see [`crate::chat`] for what a turn does).
//!
//! Without `stream` (or `stream: false`) the answer is `{"content": "…"}`. With
//! `stream: true` it is `text/event-stream`:
//!
//! ```text
//! event: delta
//! data: {"content":"Hel"}
//!
//! event: delta
//! data: {"content":"lo!"}
//!
//! event: done
//! data: {"content":"Hello!","conversation_id":"c1","whatsapp_template":null}
//! ```
//!
//! A failure after the stream started is one `event: error` whose data is the error envelope
//! (`{"errors":[…]}`), and the stream ends; nothing of that turn is stored. A failure before
//! the first token is an ordinary JSON error response with its status (404, 400, 502, …).
//! Closing the connection cancels the turn.

use crate::chat::{self, TurnOutcome};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Path};
use crate::state::{AppState, Tenant};
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use futures::stream::{self, Stream, StreamExt};
use serde_json::json;
use std::convert::Infallible;
use tokio::sync::mpsc;

/// Routes of this resource.
pub fn routes() -> Router<AppState> {
    Router::new().route("/ai/assistants/{assistant_id}/chat", post(chat))
}

/// What the turn task sends to the response stream.
enum Item {
    Delta(String),
    Done(TurnOutcome),
    Failed(ApiError),
}

/// Aborts the turn task when the response (stream) is dropped — the client went away.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn chat(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(assistant_id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let input = chat::parse_input(body)?;
    let stream = input.stream;
    let turn = chat::prepare(&state, &tenant.org_id, &assistant_id, input).await?;
    if !stream {
        let outcome = chat::run(&state, turn, None).await?;
        return Ok(Json(json!({ "content": outcome.content })).into_response());
    }
    let (items, mut receiver) = mpsc::channel::<Item>(64);
    let task = tokio::spawn(async move {
        let (deltas, mut delta_receiver) = mpsc::channel::<String>(64);
        let forward_items = items.clone();
        let forward = async move {
            while let Some(delta) = delta_receiver.recv().await {
                if forward_items.send(Item::Delta(delta)).await.is_err() {
                    break;
                }
            }
        };
        let (result, ()) = tokio::join!(chat::run(&state, turn, Some(deltas)), forward);
        let _ = items
            .send(match result {
                Ok(outcome) => Item::Done(outcome),
                Err(error) => Item::Failed(error),
            })
            .await;
    });
    let guard = AbortOnDrop(task.abort_handle());
    // Hold the response until the first item: an error before any text is a plain JSON error
    // with its status.
    let first = match receiver.recv().await {
        Some(Item::Failed(error)) => return Err(error),
        Some(item) => item,
        None => {
            return Err(ApiError::Internal(
                "the chat turn ended without a result".into(),
            ))
        }
    };
    let rest = stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    });
    let events = stream::once(async move { first })
        .chain(rest)
        .map(move |item| {
            let _keep = &guard;
            Ok::<Event, Infallible>(to_event(item))
        });
    Ok(sse(events).into_response())
}

fn sse(
    events: impl Stream<Item = Result<Event, Infallible>> + Send + 'static,
) -> impl IntoResponse {
    Sse::new(events).keep_alive(KeepAlive::default())
}

fn to_event(item: Item) -> Event {
    let (name, data) = match item {
        Item::Delta(text) => ("delta", json!({ "content": text })),
        Item::Done(outcome) => (
            "done",
            json!({
                "content": outcome.content,
                "conversation_id": outcome.conversation_id,
                "whatsapp_template": null,
            }),
        ),
        Item::Failed(error) => (
            "error",
            serde_json::to_value(error.envelope()).unwrap_or_else(|_| json!({})),
        ),
    };
    Event::default().event(name).data(data.to_string())
}
