//! [`parley_store::McpStore`] on PostgreSQL.

use crate::PostgresStore;
use async_trait::async_trait;
use parley_store::McpStore;

#[async_trait]
impl McpStore for PostgresStore {}
