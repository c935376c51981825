//! [`parley_store::IntegrationStore`] on PostgreSQL.

use crate::PostgresStore;
use async_trait::async_trait;
use parley_store::IntegrationStore;

#[async_trait]
impl IntegrationStore for PostgresStore {}
