//! Connections of an organization to catalogue integrations.

use async_trait::async_trait;

/// Connections of an organization to catalogue integrations.
#[async_trait]
pub trait IntegrationStore: Send + Sync + 'static {}
