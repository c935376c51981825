//! Parley's domain model and pure rules. Nothing in this crate does IO.
//!
//! - [`ids`]: typed identifiers.
//! - [`clock`]: injected time, so tests advance time instead of sleeping.
//! - [`apikey`]: API key generation and hashing (keys are only ever stored hashed).
//! - [`schema`]: the embedded OpenAPI contract, compiled into validators.
//! - [`assistant`]: assistant documents — parsing create/update bodies, applying updates,
//!   cloning, rendering the wire object.
//! - [`network`]: which addresses outbound requests may reach.
//! - [`validation`]: the error type every parser here returns.

#![warn(missing_docs)]

pub mod apikey;
pub mod assistant;
pub mod clock;
pub mod ids;
pub mod network;
pub mod schema;
pub mod validation;

pub use validation::{FieldError, FieldErrorKind, ValidationErrors};
