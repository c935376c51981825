//! [`parley_store::McpStore`] on Sqlite.

use crate::SqliteStore;
use async_trait::async_trait;
use parley_store::McpStore;

#[async_trait]
impl McpStore for SqliteStore {}
