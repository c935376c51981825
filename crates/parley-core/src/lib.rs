//! Parley's domain model and pure rules. Nothing in this crate does IO.
//!
//! - [`ids`]: typed identifiers.
//! - [`canary`]: canary deploy rules and the sticky routing function.
//! - [`conversation`]: message roles, reserved metadata keys, the conversation list query.
//! - [`clock`]: injected time, so tests advance time instead of sleeping.
//! - [`apikey`]: API key generation and hashing (keys are only ever stored hashed).
//! - [`schema`]: the embedded OpenAPI contract, compiled into validators.
//! - [`assistant`]: assistant documents — parsing create/update bodies, applying updates,
//!   cloning, rendering the wire object.
//! - [`assistant_tests`]: assistant tests (scenario and rubric) and the statuses of their runs.
//! - [`network`]: which addresses outbound requests may reach.
//! - [`import`]: what agents imported from ElevenLabs, Vapi and Retell become.
//! - [`mcp`]: MCP server configurations — parsing create/`PUT` bodies, the `type` mapping.
//! - [`messaging`]: SMS — the send body, phone numbers, when a reply continues a conversation.
//! - [`scheduled_events`]: texts and calls at a fixed time — the create body, statuses, retries.
//! - [`integrations`]: the built-in integration catalogue and connections to it.
//! - [`knowledge`]: knowledge bases — embedding task bodies, loaders, chunking, vector search.
//! - [`secrets`]: the master key and the cipher integration secrets are sealed with.
//! - [`shared_tools`]: shared tools (the Tools Library) and how they join assistants' tools.
//! - [`variables`]: `{{dynamic variable}}` templates, system variables, precedence.
//! - [`validation`]: the error type every parser here returns.

#![warn(missing_docs)]

pub mod apikey;
pub mod assistant;
pub mod assistant_tests;
pub mod canary;
pub mod clock;
pub mod conversation;
pub mod ids;
pub mod import;
pub mod integrations;
pub mod knowledge;
pub mod mcp;
pub mod messaging;
pub mod network;
pub mod scheduled_events;
pub mod schema;
pub mod secrets;
pub mod shared_tools;
pub mod validation;
pub mod variables;

pub use validation::{FieldError, FieldErrorKind, ValidationErrors};
