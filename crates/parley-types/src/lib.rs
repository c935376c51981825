//! Wire types of the Telnyx AI Assistants API as Parley serves it.
//!
//! This crate holds only data shapes (serde), no behaviour: the error envelope every non-2xx
//! response carries, pagination metadata and parameters, and the request and response bodies
//! of each resource. The server validates assistant documents against the embedded OpenAPI
//! contract (see `parley-core`) rather than through these types; the SDK (`parley-client`)
//! speaks in them. Deep nested settings objects stay `serde_json::Value`, and every object
//! keeps fields it does not know in `extra`, so nothing is lost either way.

#![warn(missing_docs)]

pub mod assistant_tests;
pub mod assistants;
pub mod canary_deploys;
pub mod chat;
pub mod conversations;
pub mod embeddings;
pub mod error;
pub mod imports;
pub mod integration_secrets;
pub mod integrations;
pub mod mcp_servers;
pub mod messaging;
pub mod models;
pub mod pagination;
pub mod scheduled_events;
mod serde_util;
pub mod tools;

pub use error::{ErrorEnvelope, ErrorObject, ErrorSource};
pub use pagination::{Data, DataList, Meta, Page, PageParams};
