//! [`parley_store::SecretStore`] on Sqlite.

use crate::SqliteStore;
use async_trait::async_trait;
use parley_store::SecretStore;

#[async_trait]
impl SecretStore for SqliteStore {}
