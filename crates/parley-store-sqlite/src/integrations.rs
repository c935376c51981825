//! [`parley_store::IntegrationStore`] on Sqlite.

use crate::SqliteStore;
use async_trait::async_trait;
use parley_store::IntegrationStore;

#[async_trait]
impl IntegrationStore for SqliteStore {}
