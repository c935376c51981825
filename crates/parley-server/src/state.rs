//! What every handler can reach.

use crate::settings::Settings;
use parley_core::clock::Clock;
use parley_core::ids::OrgId;
use parley_core::secrets::SecretCipher;
use parley_store::Store;
use std::sync::Arc;

/// Shared application state.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The settings the process started with.
    pub settings: Arc<Settings>,
    /// Seals and opens integration secrets (see [`crate::secrets`]).
    pub cipher: Arc<SecretCipher>,
}

/// The organization a request acts for, put in the request's extensions by [`crate::auth`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// The organization.
    pub org_id: OrgId,
}
