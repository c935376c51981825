//! `/ai/mcp_servers`: MCP servers an organization registers.

use crate::state::AppState;
use axum::Router;

/// Routes of this resource.
pub fn routes() -> Router<AppState> {
    Router::new()
}
