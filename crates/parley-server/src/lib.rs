//! Parley's HTTP server: the Telnyx-compatible API under `/v2`.
//!
//! - [`settings`]: configuration, parsed once and validated.
//! - [`startup`]: [`Application`] — opens the store, binds, serves until told to stop.
//! - [`error`]: [`ApiError`], the single place where a failure becomes the Telnyx envelope.
//! - [`extract`]: request extractors whose rejections are [`ApiError`]s.
//! - [`auth`], [`idempotency`]: middleware of every `/v2` route.
//! - [`metrics`]: per-route request counters and latencies, `GET /metrics`.
//! - [`routes`]: one module per resource, mirroring the URL.
//! - [`secrets`]: the master key, resolving integration secrets, checking `*_ref` fields.
//! - [`outbound`]: HTTP to user-configured URLs behind the private-address policy.
//! - [`llm`]: which language model serves an assistant; the embedded model.
//! - [`tools`]: what an assistant can call in a chat turn (webhooks, MCP, integrations…).
//! - [`chat`]: the conversation engine — one chat turn from prompt to stored messages.
//! - [`carrier`]: Telnyx's Messaging and Call Control APIs; webhook signatures.
//! - [`outreach`]: SMS turns, inbound texts, scheduled events and call progress (job handlers).
//! - [`knowledge`]: knowledge bases — object bytes, embedding tasks, similarity search.
//! - [`evaluation`]: assistant test runs — a simulated user, the chat engine, an LLM judge.

#![warn(missing_docs)]

pub mod auth;
pub mod carrier;
pub mod chat;
pub mod error;
pub mod evaluation;
pub mod extract;
pub mod idempotency;
pub mod jobs;
pub mod knowledge;
pub mod llm;
pub mod metrics;
pub mod outbound;
pub mod outreach;
pub mod routes;
pub mod secrets;
pub mod settings;
pub mod startup;
pub mod state;
pub mod tools;

pub use error::ApiError;
pub use settings::Settings;
pub use startup::{open_store, Application};
