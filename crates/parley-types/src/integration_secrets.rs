//! Integration secrets: credentials that `*_ref` fields name by `identifier`. Values are
//! write-only: no response carries them, and the `Debug` of a create body hides them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// An integration secret, without its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntegrationSecret {
    /// Its id.
    pub id: String,
    /// The name `*_ref` fields use.
    pub identifier: String,
    /// Always `integration_secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_type: Option<String>,
    /// When it was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// When it was last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// Fields this crate does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The kind of credentials a secret holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretType {
    /// A bearer token (`token`).
    #[default]
    Bearer,
    /// A username and password (`username`, `password`).
    Basic,
}

/// Body of `POST /integration_secrets`. Build it with [`IntegrationSecretCreateParams::bearer`]
/// or [`IntegrationSecretCreateParams::basic`]; `Debug` never shows the values.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IntegrationSecretCreateParams {
    /// The name `*_ref` fields will use: 1 to 255 of `A-Z a-z 0-9 _ . -`.
    pub identifier: String,
    /// The kind of credentials.
    #[serde(rename = "type")]
    pub secret_type: SecretType,
    /// The token, for `bearer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The username, for `basic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The password, for `basic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl IntegrationSecretCreateParams {
    /// A bearer-token secret.
    pub fn bearer(identifier: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            identifier: identifier.into(),
            secret_type: SecretType::Bearer,
            token: Some(token.into()),
            ..Self::default()
        }
    }

    /// A username-and-password secret.
    pub fn basic(
        identifier: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        Self {
            identifier: identifier.into(),
            secret_type: SecretType::Basic,
            username: Some(username.into()),
            password: Some(password.into()),
            ..Self::default()
        }
    }
}

impl fmt::Debug for IntegrationSecretCreateParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |value: &Option<String>| value.as_ref().map(|_| "***");
        f.debug_struct("IntegrationSecretCreateParams")
            .field("identifier", &self.identifier)
            .field("secret_type", &self.secret_type)
            .field("token", &hidden(&self.token))
            .field("username", &self.username)
            .field("password", &hidden(&self.password))
            .finish()
    }
}

/// Query of `GET /integration_secrets`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationSecretListParams {
    /// Only secrets of this type.
    #[serde(
        rename = "filter[type]",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub filter_type: Option<SecretType>,
    /// The 1-based page to fetch.
    #[serde(
        rename = "page[number]",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub page_number: Option<u32>,
    /// Items per page (default 20, at most 100).
    #[serde(
        rename = "page[size]",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub page_size: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_values_and_the_body_carries_them() {
        let params = IntegrationSecretCreateParams::basic("crm", "user", "pa55word");
        let debug = format!("{params:?}");
        assert!(
            debug.contains("user") && !debug.contains("pa55word"),
            "{debug}"
        );
        let body = serde_json::to_value(&params).unwrap();
        assert_eq!(body["type"], "basic");
        assert_eq!(body["password"], "pa55word");
        assert!(body.get("token").is_none());
        let bearer = format!("{:?}", IntegrationSecretCreateParams::bearer("b", "t0k3n"));
        assert!(!bearer.contains("t0k3n"), "{bearer}");
    }
}
