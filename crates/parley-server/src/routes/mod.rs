//! The router: `/health`, `/metrics` (per-route counters, no key), the carrier's webhooks
//! under `/v2/webhooks` (signed, not authenticated by key), and the API under `/v2` behind
//! authentication and idempotency.
//! One module per resource, mirroring the URL.

pub mod assistant_tests;
pub mod assistant_versions;
pub mod assistants;
pub mod canary_deploys;
pub mod chat;
pub mod conversations;
pub mod embeddings;
pub mod health;
pub mod import;
pub mod integration_secrets;
pub mod integrations;
pub mod mcp_servers;
pub mod models;
pub mod phone_numbers;
pub mod s3;
pub mod scheduled_events;
pub mod shared_tools;
pub mod sms;
pub mod tool_test;
pub mod webhooks;

use crate::auth::require_api_key;
use crate::error::ApiError;
use crate::extract::drain_body;
use crate::idempotency::idempotent_post;
use crate::metrics;
use crate::state::AppState;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// The whole application's routes.
pub fn router(state: AppState) -> Router {
    let v2 = Router::new()
        .merge(assistants::routes())
        .merge(assistant_tests::routes())
        .merge(assistant_versions::routes())
        .merge(import::routes())
        .merge(canary_deploys::routes())
        .merge(chat::routes())
        .merge(conversations::routes())
        .merge(embeddings::routes())
        .merge(integration_secrets::routes())
        .merge(integrations::routes())
        .merge(mcp_servers::routes())
        .merge(models::routes())
        .merge(shared_tools::routes())
        .merge(tool_test::routes())
        .merge(sms::routes())
        .merge(scheduled_events::routes())
        .merge(phone_numbers::routes())
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(state.clone(), idempotent_post))
        .layer(from_fn_with_state(state.clone(), require_api_key));
    let mut app = Router::new().route("/health", get(health::health));
    if state.settings.metrics {
        app = app.route("/metrics", get(metrics::render_metrics));
    }
    let app = app
        .merge(webhooks::routes())
        .nest("/v2", v2)
        .merge(s3::routes(state.clone()))
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(CatchPanicLayer::custom(panic_response));
    // Every route's own layer (so the matched route is known), outside the panic catcher (so
    // a panic counts as the 500 it becomes).
    let app = if state.settings.metrics {
        app.layer(from_fn_with_state(state.metrics.clone(), metrics::track))
    } else {
        app
    };
    app.layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                let id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                tracing::info_span!("request", %id, method = %request.method(), path = %request.uri().path())
            }),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// A handler that panicked still answers with the envelope (a 500); the panic is logged.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    axum::response::IntoResponse::into_response(ApiError::Internal(format!(
        "handler panicked: {message}"
    )))
}

async fn route_not_found(State(state): State<AppState>, request: Request) -> ApiError {
    let error = ApiError::RouteNotFound(request.uri().path().to_owned());
    drain_body(request.into_body(), state.settings.max_body_bytes).await;
    error
}

async fn method_not_allowed(State(state): State<AppState>, request: Request) -> ApiError {
    let error = ApiError::MethodNotAllowed(request.method().to_string());
    drain_body(request.into_body(), state.settings.max_body_bytes).await;
    error
}
