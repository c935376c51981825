//! Wire types of the Telnyx AI Assistants API as Parley serves it.
//!
//! This crate holds only data shapes (serde), no behaviour: the error envelope every non-2xx
//! response carries, pagination metadata, and the small fixed-shape bodies. The assistant object
//! itself is a JSON document validated against the embedded OpenAPI contract (see `parley-core`),
//! so that every documented field round-trips without a hand-written twin of each schema.

#![warn(missing_docs)]

pub mod assistants;
pub mod error;
pub mod pagination;

pub use error::{ErrorEnvelope, ErrorObject, ErrorSource};
pub use pagination::{DataList, Meta, Page};
