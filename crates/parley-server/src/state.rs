//! What every handler can reach.

use crate::carrier::Carrier;
use crate::jobs::Jobs;
use crate::llm::LlmRouter;
use crate::outbound::Outbound;
use crate::settings::Settings;
use crate::tools::mcp::McpConnector;
use parley_core::clock::Clock;
use parley_core::ids::OrgId;
use parley_core::secrets::SecretCipher;
use parley_store::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

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
    /// Outbound HTTP to user-configured URLs, behind the address policy.
    pub outbound: Outbound,
    /// Resolves assistants' models; owns the embedded model.
    pub llm: Arc<LlmRouter>,
    /// One chat turn at a time per conversation.
    pub conversation_locks: Arc<ConversationLocks>,
    /// Talks to MCP servers (tool lists cached).
    pub mcp: Arc<McpConnector>,
    /// This node's side of the job queue: lease owner name, worker wake-up.
    pub jobs: Arc<Jobs>,
    /// Knowledge bases: object bytes, embedding models, the vector cache.
    pub knowledge: Arc<crate::knowledge::Knowledge>,
    /// Telnyx's Messaging and Call Control APIs (texts and calls).
    pub carrier: Arc<Carrier>,
    /// Per-route request counters and latencies (`GET /metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// API keys this node verified recently (`auth_cache_ms`).
    pub keys: Arc<crate::auth::KeyCache>,
}

/// Per-conversation locks: turns of one conversation run one after another (in this process),
/// so each sees the previous one's messages.
#[derive(Debug, Default)]
pub struct ConversationLocks {
    locks: Mutex<HashMap<ConversationKey, Weak<tokio::sync::Mutex<()>>>>,
}

/// An organization and one of its conversation ids.
type ConversationKey = (OrgId, String);

impl ConversationLocks {
    /// Waits for, and takes, the lock of conversation `id` of `org`.
    pub async fn lock(&self, org: &OrgId, id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().expect("conversation lock table");
            let key = (org.clone(), id.to_owned());
            match locks.get(&key).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    if locks.len() >= 1024 {
                        locks.retain(|_, weak| weak.strong_count() > 0);
                    }
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    locks.insert(key, Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }
}

/// The organization a request acts for, put in the request's extensions by [`crate::auth`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// The organization.
    pub org_id: OrgId,
}
