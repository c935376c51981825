//! [`parley_store::SecretStore`] on PostgreSQL.

use crate::PostgresStore;
use async_trait::async_trait;
use parley_store::SecretStore;

#[async_trait]
impl SecretStore for PostgresStore {}
