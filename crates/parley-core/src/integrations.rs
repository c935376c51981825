//! The built-in integration catalogue and connections to it.
//!
//! The catalogue is data kept in the repository, `crates/parley-core/integrations.json`,
//! embedded in the binary and parsed once ([`catalogue`]). Each [`Integration`] is a
//! third-party API (HubSpot, Zendesk, Salesforce, …) with the base URL and authentication
//! style of its public API, and a list of [`IntegrationTool`]s, each one HTTP call:
//!
//! - placeholders in [`IntegrationTool::path`] (`/crm/v3/objects/contacts/{contactId}`) are
//!   filled from the same-named arguments;
//! - for `GET` and `DELETE` the other arguments become the query string, otherwise the JSON
//!   body;
//! - [`IntegrationTool::parameters`] is the JSON Schema of the arguments offered to the model.
//!
//! A connection ([`ConnectionConfig`]) binds an organization to one integration: the
//! integration secret holding the credentials (`api_key_ref`), the tools it allows, and
//! optionally its own base URL (self-hosted or regional instances; required when the
//! catalogue's `default_base_url` has a `{placeholder}` such as Zendesk's subdomain).

use crate::clock::format_timestamp;
use crate::mcp::{check_http_url, kind_of, text};
use crate::validation::{FieldError, ValidationErrors};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

/// The catalogue as shipped.
const CATALOGUE_JSON: &str = include_str!("../integrations.json");
/// Prefix of connection ids (`conn-<uuid>`).
pub const CONNECTION_ID_PREFIX: &str = "conn-";
/// Longest `api_key_ref` or `integration_id` accepted, in characters.
pub const MAX_REF_LEN: usize = 255;
/// Longest `base_url`, in characters.
pub const MAX_BASE_URL_LEN: usize = 2048;

/// A new connection id: `conn-` and a random UUID.
pub fn generate_connection_id() -> String {
    format!("{CONNECTION_ID_PREFIX}{}", uuid::Uuid::new_v4())
}

/// How requests to an integration's API authenticate, from the secret `api_key_ref` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthStyle {
    /// `Authorization: Bearer <token>` (`"bearer"`).
    Bearer,
    /// `Authorization: Basic base64(username:password)` (`"basic"`).
    Basic,
    /// The token in a header of this name (`"header:X-Api-Key"`).
    Header(String),
}

impl TryFrom<String> for AuthStyle {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        match text.as_str() {
            "bearer" => Ok(Self::Bearer),
            "basic" => Ok(Self::Basic),
            other => match other.strip_prefix("header:") {
                Some(name)
                    if !name.is_empty()
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b)) =>
                {
                    Ok(Self::Header(name.to_owned()))
                }
                _ => Err(format!(
                    "auth must be bearer, basic or header:<Name>, not {other:?}"
                )),
            },
        }
    }
}

/// The HTTP method of a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// `GET`: arguments other than path placeholders go to the query string.
    Get,
    /// `POST`: other arguments are the JSON body.
    Post,
    /// `PUT`: other arguments are the JSON body.
    Put,
    /// `PATCH`: other arguments are the JSON body.
    Patch,
    /// `DELETE`: other arguments go to the query string.
    Delete,
}

impl HttpMethod {
    /// The method's name (`"GET"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }

    /// Whether the arguments go to the query string rather than a JSON body.
    pub fn takes_query(self) -> bool {
        matches!(self, Self::Get | Self::Delete)
    }
}

/// One tool of an integration: a single HTTP call to its API.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationTool {
    /// The tool's name, unique in the catalogue (`hubspot_get_contact`).
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// The HTTP method.
    pub method: HttpMethod,
    /// Path template below the base URL, with `{argument}` placeholders.
    pub path: String,
    /// JSON Schema (an object schema) of the arguments.
    pub parameters: Value,
    /// Extra request headers the API needs (an API version header).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

impl IntegrationTool {
    /// Names of the `{placeholders}` of [`Self::path`], in order.
    pub fn path_placeholders(&self) -> Vec<&str> {
        placeholders(&self.path)
    }
}

/// One integration of the catalogue.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Integration {
    /// Its id, used in URLs, connections and assistants' `integrations[].integration_id`.
    pub id: String,
    /// Machine name.
    pub name: String,
    /// Name shown to people.
    pub display_name: String,
    /// What it offers.
    pub description: String,
    /// Its logo.
    pub logo_url: String,
    /// The public API's base URL; a `{placeholder}` (tenant subdomain) means every connection
    /// must give its own `base_url`.
    pub default_base_url: String,
    /// How requests authenticate.
    #[serde(deserialize_with = "auth_style")]
    pub auth: AuthStyle,
    /// What secret a connection needs, in words.
    pub credentials: String,
    /// Its tools.
    pub tools: Vec<IntegrationTool>,
}

fn auth_style<'de, D: serde::Deserializer<'de>>(d: D) -> Result<AuthStyle, D::Error> {
    AuthStyle::try_from(String::deserialize(d)?).map_err(serde::de::Error::custom)
}

impl Integration {
    /// Names of its tools, in catalogue order (the wire object's `available_tools`).
    pub fn available_tools(&self) -> Vec<String> {
        self.tools.iter().map(|t| t.name.clone()).collect()
    }

    /// Its tool named `name`.
    pub fn tool(&self, name: &str) -> Option<&IntegrationTool> {
        self.tools.iter().find(|t| t.name == name)
    }

    /// Whether a connection must give its own `base_url` (the default has a placeholder).
    pub fn requires_base_url(&self) -> bool {
        self.default_base_url.contains('{')
    }
}

/// The whole catalogue.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Catalogue {
    /// Every integration, in display order.
    pub integrations: Vec<Integration>,
}

impl Catalogue {
    /// Parses and checks a catalogue document: ids and tool names unique, parameters object
    /// schemas, every path placeholder a required parameter, base URLs absolute http(s).
    pub fn from_json(text: &str) -> Result<Self, String> {
        let catalogue: Self =
            serde_json::from_str(text).map_err(|e| format!("integration catalogue: {e}"))?;
        catalogue.check()?;
        Ok(catalogue)
    }

    /// The integration with this id.
    pub fn get(&self, id: &str) -> Option<&Integration> {
        self.integrations.iter().find(|i| i.id == id)
    }

    fn check(&self) -> Result<(), String> {
        let mut ids = BTreeSet::new();
        let mut tool_names = BTreeSet::new();
        for integration in &self.integrations {
            let id = &integration.id;
            if id.is_empty() || !ids.insert(id.as_str()) {
                return Err(format!("integration id {id:?} is empty or repeated"));
            }
            for (field, value) in [
                ("name", &integration.name),
                ("display_name", &integration.display_name),
                ("description", &integration.description),
            ] {
                if value.trim().is_empty() {
                    return Err(format!("integration {id}: {field} is empty"));
                }
            }
            check_http_url(&integration.logo_url)
                .map_err(|why| format!("integration {id}: logo_url {why}"))?;
            let sample_base = placeholders(&integration.default_base_url)
                .iter()
                .fold(integration.default_base_url.clone(), |url, p| {
                    url.replace(&format!("{{{p}}}"), "tenant")
                });
            check_http_url(&sample_base)
                .map_err(|why| format!("integration {id}: default_base_url {why}"))?;
            if integration.tools.is_empty() {
                return Err(format!("integration {id} has no tools"));
            }
            for tool in &integration.tools {
                let name = &tool.name;
                if name.is_empty() || !tool_names.insert(name.as_str()) {
                    return Err(format!("tool name {name:?} is empty or repeated"));
                }
                if tool.description.trim().is_empty() || !tool.path.starts_with('/') {
                    return Err(format!(
                        "tool {name}: needs a description and a path starting with /"
                    ));
                }
                let schema = tool.parameters.as_object();
                if schema.and_then(|s| s.get("type")) != Some(&json!("object")) {
                    return Err(format!("tool {name}: parameters must be an object schema"));
                }
                let properties = schema
                    .and_then(|s| s.get("properties"))
                    .and_then(Value::as_object);
                let required: BTreeSet<&str> = schema
                    .and_then(|s| s.get("required"))
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                for placeholder in tool.path_placeholders() {
                    let declared = properties.is_some_and(|p| p.contains_key(placeholder));
                    if !declared || !required.contains(placeholder) {
                        return Err(format!(
                            "tool {name}: path placeholder {{{placeholder}}} must be a required parameter"
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// `{name}` placeholders of a template, in order.
fn placeholders(template: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else { break };
        found.push(&after[..end]);
        rest = &after[end + 1..];
    }
    found
}

/// The built-in catalogue, parsed on first use. The embedded document is checked by this
/// crate's tests, so it cannot fail at run time.
pub fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        Catalogue::from_json(CATALOGUE_JSON)
            .unwrap_or_else(|e| panic!("the embedded integration catalogue is invalid: {e}"))
    })
}

/// The wire object `Integration`: `{id, name, display_name, description, logo_url, status,
/// available_tools}`; `status` is `connected` when the organization has a connection to it.
pub fn render_integration(integration: &Integration, connected: bool) -> Value {
    json!({
        "id": integration.id,
        "name": integration.name,
        "display_name": integration.display_name,
        "description": integration.description,
        "logo_url": integration.logo_url,
        "status": if connected { "connected" } else { "disconnected" },
        "available_tools": integration.available_tools(),
    })
}

/// What a connection is made of, validated against the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionConfig {
    /// The catalogue integration.
    pub integration_id: String,
    /// Identifier of the integration secret holding the credentials.
    pub api_key_ref: String,
    /// Tools the connection allows (a non-empty subset of the integration's, in the order
    /// given, without repeats).
    pub allowed_tools: Vec<String>,
    /// The API's base URL when not the catalogue's default (no trailing `/`).
    pub base_url: Option<String>,
}

impl ConnectionConfig {
    /// The base URL requests go to: its own, else the catalogue's default.
    pub fn effective_base_url(&self, integration: &Integration) -> String {
        self.base_url
            .clone()
            .unwrap_or_else(|| integration.default_base_url.clone())
    }
}

/// Parses `POST /ai/integrations/connections` (a Parley extension): `integration_id`* (a
/// catalogue id), `api_key_ref`* (a secret identifier; its existence is the caller's check),
/// `allowed_tools` (default: every tool), `base_url` (absolute http(s) URL without query or
/// fragment; required when the integration's default has a placeholder).
pub fn parse_connection_create(body: &Value) -> Result<ConnectionConfig, ValidationErrors> {
    let Some(object) = body.as_object() else {
        return Err(FieldError::invalid("", "the request body must be a JSON object").into());
    };
    let mut errors = Vec::new();
    let integration = match present(object, "integration_id") {
        None => {
            errors.push(FieldError::invalid(
                "/integration_id",
                "`integration_id` is required",
            ));
            None
        }
        Some(value) => match text("/integration_id", value, "`integration_id`", MAX_REF_LEN) {
            Err(e) => {
                errors.push(e);
                None
            }
            Ok(id) => match catalogue().get(&id) {
                Some(integration) => Some(integration),
                None => {
                    errors.push(FieldError::invalid(
                        "/integration_id",
                        format!(
                            "no integration {id:?} in the catalogue (GET /ai/integrations lists them)"
                        ),
                    ));
                    None
                }
            },
        },
    };
    let api_key_ref = match present(object, "api_key_ref") {
        None => {
            errors.push(FieldError::invalid(
                "/api_key_ref",
                "`api_key_ref` is required",
            ));
            None
        }
        Some(value) => text("/api_key_ref", value, "`api_key_ref`", MAX_REF_LEN)
            .map_err(|e| errors.push(e))
            .ok(),
    };
    let allowed_tools = match (present(object, "allowed_tools"), integration) {
        (None, integration) => integration.map(Integration::available_tools),
        (Some(value), integration) => check_allowed_tools(value, integration, &mut errors),
    };
    let base_url = match present(object, "base_url") {
        None => None,
        Some(value) => check_base_url(value).map_err(|e| errors.push(e)).ok(),
    };
    if let (Some(integration), None) = (integration, &base_url) {
        if integration.requires_base_url() {
            errors.push(FieldError::invalid(
                "/base_url",
                format!(
                    "`base_url` is required for {}: {}",
                    integration.display_name, integration.default_base_url
                ),
            ));
        }
    }
    match (integration, api_key_ref, allowed_tools) {
        (Some(integration), Some(api_key_ref), Some(allowed_tools)) if errors.is_empty() => {
            Ok(ConnectionConfig {
                integration_id: integration.id.clone(),
                api_key_ref,
                allowed_tools,
                base_url,
            })
        }
        _ => Err(ValidationErrors(errors)),
    }
}

/// A field that is there and not null.
fn present<'a>(object: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    object.get(field).filter(|v| !v.is_null())
}

fn check_allowed_tools(
    value: &Value,
    integration: Option<&Integration>,
    errors: &mut Vec<FieldError>,
) -> Option<Vec<String>> {
    let Value::Array(items) = value else {
        errors.push(FieldError::invalid(
            "/allowed_tools",
            format!(
                "`allowed_tools` must be an array of tool names, not {}",
                kind_of(value)
            ),
        ));
        return None;
    };
    if items.is_empty() {
        errors.push(FieldError::invalid(
            "/allowed_tools",
            "`allowed_tools` must name at least one tool; omit it to allow every tool",
        ));
        return None;
    }
    let before = errors.len();
    let mut tools: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let pointer = format!("/allowed_tools/{i}");
        match text(&pointer, item, "a tool name", MAX_REF_LEN) {
            Err(e) => errors.push(e),
            Ok(name) => match integration {
                Some(integration) if integration.tool(&name).is_none() => {
                    errors.push(FieldError::invalid(
                        pointer,
                        format!(
                            "{} has no tool {name:?}; its tools are {}",
                            integration.display_name,
                            integration.available_tools().join(", ")
                        ),
                    ));
                }
                _ => {
                    if !tools.contains(&name) {
                        tools.push(name);
                    }
                }
            },
        }
    }
    (errors.len() == before).then_some(tools)
}

fn check_base_url(value: &Value) -> Result<String, FieldError> {
    let url = text("/base_url", value, "`base_url`", MAX_BASE_URL_LEN)?;
    check_http_url(&url)
        .map_err(|why| FieldError::invalid("/base_url", format!("`base_url` {why}")))?;
    if url.contains(['?', '#']) {
        return Err(FieldError::invalid(
            "/base_url",
            "`base_url` must not have a query or a fragment",
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// The wire object `IntegrationConnection` `{id, integration_id, allowed_tools}`, with
/// Parley's extra fields `api_key_ref`, `base_url` (when set) and `created_at`.
pub fn render_connection(id: &str, created_at: &DateTime<Utc>, config: &ConnectionConfig) -> Value {
    let mut object = json!({
        "id": id,
        "integration_id": config.integration_id,
        "allowed_tools": config.allowed_tools,
        "api_key_ref": config.api_key_ref,
        "created_at": format_timestamp(created_at),
    });
    if let Some(base_url) = &config.base_url {
        object["base_url"] = json!(base_url);
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pointers(result: Result<ConnectionConfig, ValidationErrors>) -> Vec<String> {
        result
            .expect_err("should be invalid")
            .0
            .into_iter()
            .map(|e| e.pointer)
            .collect()
    }

    #[test]
    fn the_embedded_catalogue_is_valid_and_complete() {
        let catalogue = catalogue();
        for id in [
            "hubspot",
            "zendesk",
            "salesforce",
            "google_calendar",
            "cal_com",
            "jira",
        ] {
            let integration = catalogue.get(id).unwrap_or_else(|| panic!("{id} missing"));
            assert!(integration.tools.len() >= 3, "{id} has few tools");
        }
        let hubspot = catalogue.get("hubspot").unwrap();
        assert_eq!(hubspot.auth, AuthStyle::Bearer);
        assert!(!hubspot.requires_base_url());
        let contact = hubspot.tool("hubspot_get_contact").unwrap();
        assert_eq!(contact.method, HttpMethod::Get);
        assert_eq!(contact.path_placeholders(), ["contactId"]);
        assert_eq!(catalogue.get("jira").unwrap().auth, AuthStyle::Basic);
        assert!(catalogue.get("zendesk").unwrap().requires_base_url());
    }

    #[test]
    fn catalogue_checks_catch_broken_entries() {
        let entry = |auth: &str, path: &str, required: Value| {
            json!({"integrations": [{
                "id": "x", "name": "x", "display_name": "X", "description": "d",
                "logo_url": "https://x.example/logo.png", "default_base_url": "https://{tenant}.x.example",
                "auth": auth, "credentials": "a token",
                "tools": [{"name": "x_get", "description": "d", "method": "GET", "path": path,
                           "parameters": {"type": "object", "properties": {"id": {"type": "string"}},
                                          "required": required}}]
            }]})
            .to_string()
        };
        let ok =
            Catalogue::from_json(&entry("header:X-Api-Key", "/items/{id}", json!(["id"]))).unwrap();
        assert_eq!(
            ok.integrations[0].auth,
            AuthStyle::Header("X-Api-Key".into())
        );
        assert!(Catalogue::from_json(&entry("oauth", "/items/{id}", json!(["id"]))).is_err());
        assert!(Catalogue::from_json(&entry("header:", "/items/{id}", json!(["id"]))).is_err());
        assert!(Catalogue::from_json(&entry("bearer", "/items/{id}", json!([]))).is_err());
        assert!(Catalogue::from_json(&entry("bearer", "/items/{other}", json!(["id"]))).is_err());
        assert!(Catalogue::from_json(&entry("bearer", "items", json!(["id"]))).is_err());
    }

    #[test]
    fn connection_defaults_to_every_tool() {
        let config =
            parse_connection_create(&json!({"integration_id": "hubspot", "api_key_ref": "hs"}))
                .unwrap();
        assert_eq!(
            config.allowed_tools,
            catalogue().get("hubspot").unwrap().available_tools()
        );
        assert_eq!(config.base_url, None);
        let picked = parse_connection_create(&json!({
            "integration_id": "zendesk", "api_key_ref": "zd",
            "allowed_tools": ["zendesk_get_ticket", "zendesk_get_ticket"],
            "base_url": "https://acme.zendesk.com/"
        }))
        .unwrap();
        assert_eq!(picked.allowed_tools, ["zendesk_get_ticket"]);
        assert_eq!(picked.base_url.as_deref(), Some("https://acme.zendesk.com"));
    }

    #[test]
    fn connection_fields_are_checked() {
        assert_eq!(
            pointers(parse_connection_create(&json!({}))),
            ["/integration_id", "/api_key_ref"]
        );
        assert_eq!(
            pointers(parse_connection_create(
                &json!({"integration_id": "nope", "api_key_ref": ""})
            )),
            ["/integration_id", "/api_key_ref"]
        );
        assert_eq!(
            pointers(parse_connection_create(&json!({
                "integration_id": "hubspot", "api_key_ref": "k",
                "allowed_tools": ["hubspot_get_contact", "jira_get_issue"], "base_url": "ftp://x"
            }))),
            ["/allowed_tools/1", "/base_url"]
        );
        assert_eq!(
            pointers(parse_connection_create(
                &json!({"integration_id": "jira", "api_key_ref": "k", "allowed_tools": []})
            )),
            ["/allowed_tools", "/base_url"]
        );
        assert_eq!(
            pointers(parse_connection_create(&json!({
                "integration_id": "hubspot", "api_key_ref": "k", "base_url": "https://h.example/?a=b"
            }))),
            ["/base_url"]
        );
    }

    #[test]
    fn wire_objects_have_the_sdk_fields() {
        let hubspot = catalogue().get("hubspot").unwrap();
        let wire = render_integration(hubspot, false);
        for field in [
            "id",
            "name",
            "display_name",
            "description",
            "logo_url",
            "status",
            "available_tools",
        ] {
            assert!(wire.get(field).is_some(), "{field}");
        }
        assert_eq!(wire["status"], "disconnected");
        assert_eq!(render_integration(hubspot, true)["status"], "connected");
        let config =
            parse_connection_create(&json!({"integration_id": "hubspot", "api_key_ref": "hs"}))
                .unwrap();
        let at = Utc::now();
        let connection = render_connection("conn-1", &at, &config);
        assert_eq!(connection["integration_id"], "hubspot");
        assert!(connection.get("base_url").is_none());
        assert!(generate_connection_id().starts_with(CONNECTION_ID_PREFIX));
    }
}
