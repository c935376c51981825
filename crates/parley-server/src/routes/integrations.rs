//! `/ai/integrations`: the integration catalogue and connections.

use crate::state::AppState;
use axum::Router;

/// Routes of this resource.
pub fn routes() -> Router<AppState> {
    Router::new()
}
