//! The Rust SDK for the Telnyx AI Assistants API, as Parley and Telnyx serve it.
//!
//! The resource tree reads like the official SDKs:
//!
//! ```no_run
//! use parley_client::types::assistants::{AssistantCreateParams, AssistantUpdateParams};
//! use parley_client::Client;
//!
//! # async fn run() -> parley_client::Result<()> {
//! // TELNYX_API_KEY, and TELNYX_BASE_URL=http://127.0.0.1:8080/v2 for a local Parley.
//! let client = Client::from_env()?;
//! let assistants = client.ai().assistants();
//! let assistant = assistants
//!     .create(&AssistantCreateParams {
//!         name: "Support".into(),
//!         instructions: "You help customers with billing.".into(),
//!         ..Default::default()
//!     })
//!     .await?;
//! let draft = assistants
//!     .update(
//!         &assistant.id,
//!         &AssistantUpdateParams {
//!             greeting: Some("Hi! How can I help?".into()),
//!             promote_to_main: Some(false),
//!             ..Default::default()
//!         },
//!     )
//!     .await?;
//! let version = draft.version_id.as_deref().unwrap_or_default();
//! assistants.versions().promote(&assistant.id, version).await?;
//! assistants.delete(&assistant.id).await?;
//! # Ok(()) }
//! ```
//!
//! - [`Client`] holds the configuration ([`ClientBuilder`]: base URL, API key, timeout,
//!   retries, extra headers) and one connection pool; [`Client::with_options`] changes them
//!   for some calls.
//! - Every call returns [`Result`]; the one [`Error`] says whether the server answered with an
//!   error (with its Telnyx envelope), the transport failed, the call timed out, or the
//!   response was not what the endpoint returns.
//! - Failed attempts are retried like the official SDKs do (see [`retry`]), and every POST
//!   carries an `Idempotency-Key` (generated once per call) when retries are on, so a retried
//!   create is not done twice.
//! - Lists come back one page at a time (`list`, `list_with`) or as a [`futures::Stream`] of
//!   every item (`list_all`).
//! - Chat answers come whole ([`resources::ai::assistants::Assistants::chat`]) or as a
//!   stream of [`ChatEvent`]s parsed from server-sent events
//!   ([`resources::ai::assistants::Assistants::chat_stream`]); conversations are listed with
//!   typed PostgREST filters ([`resources::ai::conversations::ConversationListParams`]).
//! - Long work happens in the background and is polled: test runs
//!   ([`resources::ai::assistants::tests`]), embedding tasks ([`resources::ai::embeddings`]).
//!   Knowledge-base files go to the S3-compatible object storage ([`resources::storage`]),
//!   signed with AWS Signature Version 4.
//! - Request and response bodies are the wire types of [`parley_types`], re-exported as
//!   [`types`].

#![warn(missing_docs)]

mod client;
mod error;
mod pagination;
pub mod resources;
pub mod retry;
mod sigv4;
mod sse;

pub use client::{
    Client, ClientBuilder, RequestOptions, DEFAULT_BASE_URL, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT,
};
pub use error::{Error, Result};
pub use futures::stream::BoxStream;
pub use parley_types as types;
pub use resources::ai::assistants::ChatEvent;
pub use resources::ai::conversations::new_conversation_id;
