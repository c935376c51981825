//! Integration secrets: values encrypted at rest, referenced by identifier from `*_ref` fields.

use async_trait::async_trait;

/// Integration secrets: values encrypted at rest, referenced by identifier from `*_ref` fields.
#[async_trait]
pub trait SecretStore: Send + Sync + 'static {}
