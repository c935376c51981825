//! The router: `/health`, and the API under `/v2` behind authentication and idempotency.
//! One module per resource, mirroring the URL.

pub mod assistants;
pub mod health;

use crate::auth::require_api_key;
use crate::error::ApiError;
use crate::extract::drain_body;
use crate::idempotency::idempotent_post;
use crate::state::AppState;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use axum::Router;
use tower_http::trace::TraceLayer;

/// The whole application's routes.
pub fn router(state: AppState) -> Router {
    let v2 = Router::new()
        .merge(assistants::routes())
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(state.clone(), idempotent_post))
        .layer(from_fn_with_state(state.clone(), require_api_key));
    Router::new()
        .route("/health", get(health::health))
        .nest("/v2", v2)
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
            }),
        )
        .with_state(state)
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
