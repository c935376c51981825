//! The integration catalogue and an organization's connections to it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A catalogue integration (`Integration`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Integration {
    /// Its id.
    pub id: String,
    /// Machine name (`hubspot`).
    pub name: String,
    /// Human name (`HubSpot`).
    pub display_name: String,
    /// What it does.
    pub description: String,
    /// Logo URL.
    pub logo_url: String,
    /// `connected` when the organization has a connection to it, else `disconnected`.
    pub status: String,
    /// Tools it offers.
    pub available_tools: Vec<String>,
    /// Fields this crate does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A connection of the organization to a catalogue integration (`IntegrationConnection`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntegrationConnection {
    /// Its id.
    pub id: String,
    /// The catalogue integration.
    pub integration_id: String,
    /// Tools assistants may call through it.
    pub allowed_tools: Vec<String>,
    /// Integration secret holding the credentials (Parley).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_ref: Option<String>,
    /// The vendor API's base URL, when not the catalogue's default (Parley).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// When it was made (Parley).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Fields this crate does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Body of `POST /ai/integrations/connections`, a Parley extension (Telnyx connects
/// integrations in its portal).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IntegrationConnectionCreateParams {
    /// The catalogue integration to connect.
    pub integration_id: String,
    /// Identifier of the integration secret holding the credentials.
    pub api_key_ref: String,
    /// Tools to allow (default: all the integration offers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_tools: Option<Vec<String>>,
    /// The vendor API's base URL (required for integrations on your own subdomain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
}
