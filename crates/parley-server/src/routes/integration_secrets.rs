//! `/integration_secrets`: secrets referenced by `*_ref` fields.

use crate::state::AppState;
use axum::Router;

/// Routes of this resource.
pub fn routes() -> Router<AppState> {
    Router::new()
}
