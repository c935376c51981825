//! MCP servers an organization registers: what a create or `PUT` body becomes, how an update
//! applies, and the wire object.
//!
//! `type` is a free string in the SDK; Parley accepts the transports it can speak and keeps
//! the spelling the client sent (so a filter on `type` matches what was written):
//!
//! | `type` | transport ([`McpTransport`]) |
//! |---|---|
//! | `http`, `streamable-http`, `streamable_http` | MCP *Streamable HTTP* (protocol 2025-03-26 and later): JSON-RPC POSTed to one endpoint, answers as JSON or an SSE stream |
//! | `sse` | the legacy *HTTP+SSE* transport (protocol 2024-11-05): a GET opens an event stream that names the endpoint to POST to |
//!
//! `api_key_ref` names an integration secret (its identifier); whether it exists is checked by
//! the server, which can reach the store. The outbound address policy
//! ([`crate::network`]) applies when Parley connects, not here: a self-hosted server may
//! register an MCP server on the local network.

use crate::clock::format_timestamp;
use crate::validation::{FieldError, ValidationErrors};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

/// Prefix of MCP server ids (`mcp-<uuid>`).
pub const ID_PREFIX: &str = "mcp-";
/// The `type` values accepted, in the order error messages list them.
pub const SERVER_TYPES: [&str; 4] = ["http", "streamable-http", "streamable_http", "sse"];
/// Longest `name`, in characters.
pub const MAX_NAME_LEN: usize = 255;
/// Longest `url`, in characters.
pub const MAX_URL_LEN: usize = 2048;
/// Most entries of `allowed_tools`.
pub const MAX_ALLOWED_TOOLS: usize = 256;
/// Longest tool name or `api_key_ref`, in characters.
pub const MAX_TOOL_NAME_LEN: usize = 255;

const NUL_MESSAGE: &str = "text must not contain the NUL character (U+0000)";

/// A new MCP server id: `mcp-` and a random UUID.
pub fn generate_id() -> String {
    format!("{ID_PREFIX}{}", uuid::Uuid::new_v4())
}

/// How Parley talks to an MCP server, from its `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McpTransport {
    /// Streamable HTTP (`http`, `streamable-http`, `streamable_http`).
    StreamableHttp,
    /// The legacy HTTP+SSE transport (`sse`).
    Sse,
}

impl McpTransport {
    /// The transport a `type` value names, if Parley knows it.
    pub fn from_type(server_type: &str) -> Option<Self> {
        match server_type {
            "http" | "streamable-http" | "streamable_http" => Some(Self::StreamableHttp),
            "sse" => Some(Self::Sse),
            _ => None,
        }
    }
}

/// The configurable fields of an MCP server, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpServerConfig {
    /// Its name (not empty).
    pub name: String,
    /// `type` as the client spelled it (one of [`SERVER_TYPES`]).
    pub server_type: String,
    /// Absolute `http`/`https` URL of the server.
    pub url: String,
    /// Tools the assistant may call; `None` for all.
    pub allowed_tools: Option<Vec<String>>,
    /// Identifier of the integration secret sent as the server's bearer token.
    pub api_key_ref: Option<String>,
}

impl McpServerConfig {
    /// The transport its `type` names.
    pub fn transport(&self) -> McpTransport {
        McpTransport::from_type(&self.server_type).unwrap_or(McpTransport::StreamableHttp)
    }
}

/// A partial update: `None` leaves a field alone; for the optional fields `Some(None)` clears.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct McpServerUpdate {
    /// New name.
    pub name: Option<String>,
    /// New `type`.
    pub server_type: Option<String>,
    /// New URL.
    pub url: Option<String>,
    /// New allowed tools, or `Some(None)` to allow all again.
    pub allowed_tools: Option<Option<Vec<String>>>,
    /// New secret reference, or `Some(None)` to drop it.
    pub api_key_ref: Option<Option<String>>,
}

impl McpServerUpdate {
    /// `current` with this update applied.
    pub fn apply(&self, current: &McpServerConfig) -> McpServerConfig {
        McpServerConfig {
            name: self.name.clone().unwrap_or_else(|| current.name.clone()),
            server_type: self
                .server_type
                .clone()
                .unwrap_or_else(|| current.server_type.clone()),
            url: self.url.clone().unwrap_or_else(|| current.url.clone()),
            allowed_tools: self
                .allowed_tools
                .clone()
                .unwrap_or_else(|| current.allowed_tools.clone()),
            api_key_ref: self
                .api_key_ref
                .clone()
                .unwrap_or_else(|| current.api_key_ref.clone()),
        }
    }
}

/// Parses a create body: `name`, `type` and `url` are required; `allowed_tools` and
/// `api_key_ref` are optional (null = unset). Unknown fields (`id`, `created_at`, …) are
/// ignored.
pub fn parse_create(body: &Value) -> Result<McpServerConfig, ValidationErrors> {
    let object = as_object(body)?;
    let mut errors = Vec::new();
    let name = required(object, "name", &mut errors, check_name);
    let server_type = required(object, "type", &mut errors, check_type);
    let url = required(object, "url", &mut errors, check_url);
    let allowed_tools = optional(object, "allowed_tools", &mut errors, check_allowed_tools);
    let api_key_ref = optional(object, "api_key_ref", &mut errors, check_api_key_ref);
    match (name, server_type, url) {
        (Some(name), Some(server_type), Some(url)) if errors.is_empty() => Ok(McpServerConfig {
            name,
            server_type,
            url,
            allowed_tools: allowed_tools.flatten(),
            api_key_ref: api_key_ref.flatten(),
        }),
        _ => Err(ValidationErrors(errors)),
    }
}

/// Parses a `PUT` body: every field optional; `name`, `type` and `url` cannot be cleared;
/// `null` clears `allowed_tools` or `api_key_ref`. `id` and `created_at` are ignored.
pub fn parse_update(body: &Value) -> Result<McpServerUpdate, ValidationErrors> {
    let object = as_object(body)?;
    let mut errors = Vec::new();
    let mut not_null = |field: &str, check: fn(&str, &Value) -> Result<String, FieldError>| {
        match object.get(field) {
            None => None,
            Some(Value::Null) => {
                errors.push(FieldError::invalid(
                    format!("/{field}"),
                    format!("`{field}` cannot be cleared"),
                ));
                None
            }
            Some(value) => match check(&format!("/{field}"), value) {
                Ok(v) => Some(v),
                Err(e) => {
                    errors.push(e);
                    None
                }
            },
        }
    };
    let name = not_null("name", check_name);
    let server_type = not_null("type", check_type);
    let url = not_null("url", check_url);
    let allowed_tools = optional(object, "allowed_tools", &mut errors, check_allowed_tools);
    let api_key_ref = optional(object, "api_key_ref", &mut errors, check_api_key_ref);
    if !errors.is_empty() {
        return Err(ValidationErrors(errors));
    }
    Ok(McpServerUpdate {
        name,
        server_type,
        url,
        allowed_tools,
        api_key_ref,
    })
}

/// The wire object `McpServer`: `{id, created_at, name, type, url, allowed_tools?,
/// api_key_ref?}` (unset optional fields are omitted).
pub fn render(id: &str, created_at: &DateTime<Utc>, config: &McpServerConfig) -> Value {
    let mut object = json!({
        "id": id,
        "created_at": format_timestamp(created_at),
        "name": config.name,
        "type": config.server_type,
        "url": config.url,
    });
    if let Some(tools) = &config.allowed_tools {
        object["allowed_tools"] = json!(tools);
    }
    if let Some(reference) = &config.api_key_ref {
        object["api_key_ref"] = json!(reference);
    }
    object
}

/// Checks that `text` is an absolute `http` or `https` URL with a host: no white space or
/// control characters, a valid port if any. Returns what is wrong.
pub fn check_http_url(text: &str) -> Result<(), String> {
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain white space or control characters".into());
    }
    let lower = text.to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &text["https://".len()..]
    } else if lower.starts_with("http://") {
        &text["http://".len()..]
    } else {
        return Err("must be an absolute URL starting with http:// or https://".into());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        let Some((v6, after)) = bracketed.split_once(']') else {
            return Err("has an unterminated IPv6 address".into());
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err("has an invalid IPv6 address".into());
        }
        match after {
            "" => (v6, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (v6, Some(port)),
                None => return Err("has an invalid host".into()),
            },
        }
    } else {
        match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err("has no host".into());
    }
    if !host_port.starts_with('[')
        && !host
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '%'))
    {
        return Err(format!("has an invalid host {host:?}"));
    }
    if let Some(port) = port {
        if port.is_empty()
            || !port.chars().all(|c| c.is_ascii_digit())
            || port.parse::<u16>().is_err()
        {
            return Err(format!("has an invalid port {port:?}"));
        }
    }
    Ok(())
}

fn as_object(body: &Value) -> Result<&Map<String, Value>, ValidationErrors> {
    body.as_object()
        .ok_or_else(|| FieldError::invalid("", "the request body must be a JSON object").into())
}

/// A required field: missing or null is an error.
fn required<T>(
    object: &Map<String, Value>,
    field: &str,
    errors: &mut Vec<FieldError>,
    check: fn(&str, &Value) -> Result<T, FieldError>,
) -> Option<T> {
    let pointer = format!("/{field}");
    match object.get(field) {
        None | Some(Value::Null) => {
            errors.push(FieldError::invalid(
                pointer,
                format!("`{field}` is required"),
            ));
            None
        }
        Some(value) => check(&pointer, value).map_err(|e| errors.push(e)).ok(),
    }
}

/// An optional, clearable field: absent → `None`, null → `Some(None)`.
fn optional<T>(
    object: &Map<String, Value>,
    field: &str,
    errors: &mut Vec<FieldError>,
    check: fn(&str, &Value) -> Result<T, FieldError>,
) -> Option<Option<T>> {
    let pointer = format!("/{field}");
    match object.get(field) {
        None => None,
        Some(Value::Null) => Some(None),
        Some(value) => check(&pointer, value)
            .map(Some)
            .map_err(|e| errors.push(e))
            .ok(),
    }
}

pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A string without NUL characters, at most `max` characters, not blank.
pub(crate) fn text(
    pointer: &str,
    value: &Value,
    what: &str,
    max: usize,
) -> Result<String, FieldError> {
    let Value::String(text) = value else {
        return Err(FieldError::invalid(
            pointer,
            format!("{what} must be a string, not {}", kind_of(value)),
        ));
    };
    if text.contains('\0') {
        return Err(FieldError::invalid(pointer, NUL_MESSAGE));
    }
    if text.trim().is_empty() {
        return Err(FieldError::invalid(
            pointer,
            format!("{what} must not be empty"),
        ));
    }
    if text.chars().count() > max {
        return Err(FieldError::invalid(
            pointer,
            format!("{what} is at most {max} characters"),
        ));
    }
    Ok(text.clone())
}

fn check_name(pointer: &str, value: &Value) -> Result<String, FieldError> {
    text(pointer, value, "`name`", MAX_NAME_LEN)
}

fn check_type(pointer: &str, value: &Value) -> Result<String, FieldError> {
    let server_type = text(pointer, value, "`type`", MAX_NAME_LEN)?;
    if McpTransport::from_type(&server_type).is_none() {
        return Err(FieldError::invalid(
            pointer,
            format!(
                "`type` must be one of {}, not {server_type:?}",
                SERVER_TYPES.join(", ")
            ),
        ));
    }
    Ok(server_type)
}

fn check_url(pointer: &str, value: &Value) -> Result<String, FieldError> {
    let url = text(pointer, value, "`url`", MAX_URL_LEN)?;
    check_http_url(&url).map_err(|why| FieldError::invalid(pointer, format!("`url` {why}")))?;
    Ok(url)
}

fn check_api_key_ref(pointer: &str, value: &Value) -> Result<String, FieldError> {
    text(pointer, value, "`api_key_ref`", MAX_TOOL_NAME_LEN)
}

fn check_allowed_tools(pointer: &str, value: &Value) -> Result<Vec<String>, FieldError> {
    let Value::Array(items) = value else {
        return Err(FieldError::invalid(
            pointer,
            format!(
                "`allowed_tools` must be an array of tool names, not {}",
                kind_of(value)
            ),
        ));
    };
    if items.len() > MAX_ALLOWED_TOOLS {
        return Err(FieldError::invalid(
            pointer,
            format!("`allowed_tools` holds at most {MAX_ALLOWED_TOOLS} names"),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            text(
                &format!("{pointer}/{i}"),
                item,
                "a tool name",
                MAX_TOOL_NAME_LEN,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pointers(result: Result<impl std::fmt::Debug, ValidationErrors>) -> Vec<String> {
        result
            .expect_err("should be invalid")
            .0
            .into_iter()
            .map(|e| e.pointer)
            .collect()
    }

    #[test]
    fn create_keeps_the_fields_and_ignores_server_ones() {
        let config = parse_create(&json!({
            "name": "Docs", "type": "sse", "url": "https://mcp.example.com/sse",
            "allowed_tools": ["search"], "api_key_ref": "docs_key", "id": "x", "created_at": "y"
        }))
        .unwrap();
        assert_eq!(config.name, "Docs");
        assert_eq!(config.transport(), McpTransport::Sse);
        assert_eq!(config.allowed_tools, Some(vec!["search".to_owned()]));
        assert_eq!(config.api_key_ref.as_deref(), Some("docs_key"));
        let plain = parse_create(&json!({
            "name": "N", "type": "streamable-http", "url": "http://localhost:8000/mcp",
            "allowed_tools": null, "api_key_ref": null
        }))
        .unwrap();
        assert_eq!(plain.transport(), McpTransport::StreamableHttp);
        assert_eq!((plain.allowed_tools, plain.api_key_ref), (None, None));
    }

    #[test]
    fn create_reports_every_bad_field() {
        assert_eq!(
            pointers(parse_create(&json!({}))),
            ["/name", "/type", "/url"]
        );
        assert_eq!(
            pointers(parse_create(&json!({
                "name": " ", "type": "websocket", "url": "ftp://x",
                "allowed_tools": ["ok", ""], "api_key_ref": 3
            }))),
            ["/name", "/type", "/url", "/allowed_tools/1", "/api_key_ref"]
        );
        assert_eq!(
            pointers(parse_create(&json!({
                "name": "a\u{0}b", "type": "http", "url": "https://e.com", "allowed_tools": "all"
            }))),
            ["/name", "/allowed_tools"]
        );
        assert!(parse_create(&json!([])).is_err());
    }

    #[test]
    fn update_is_partial_and_clears_only_optional_fields() {
        let current = parse_create(&json!({
            "name": "N", "type": "http", "url": "https://a.example", "allowed_tools": ["t"],
            "api_key_ref": "k"
        }))
        .unwrap();
        let update = parse_update(&json!({"url": "https://b.example", "allowed_tools": null,
                                          "id": "ignored", "created_at": "ignored"}))
        .unwrap();
        let next = update.apply(&current);
        assert_eq!(next.url, "https://b.example");
        assert_eq!(next.allowed_tools, None);
        assert_eq!(next.api_key_ref.as_deref(), Some("k"));
        assert_eq!(next.name, "N");
        assert_eq!(
            parse_update(&json!({})).unwrap(),
            McpServerUpdate::default()
        );
        assert_eq!(
            pointers(parse_update(
                &json!({"name": null, "type": null, "url": "nope"})
            )),
            ["/name", "/type", "/url"]
        );
    }

    #[test]
    fn urls_must_be_absolute_http() {
        for good in [
            "http://localhost:8080/mcp",
            "https://mcp.example.com",
            "HTTPS://Example.com/a?b=c#d",
            "http://user:pass@10.0.0.1:1/x",
            "http://[::1]:3000/mcp",
            "https://bücher.example/",
        ] {
            assert_eq!(check_http_url(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "mcp.example.com",
            "ftp://example.com",
            "https://",
            "https:///path",
            "http://exa mple.com",
            "http://example.com:99999",
            "http://example.com:",
            "http://[::1",
            "http://[zz]/",
            "http://a\u{7f}b",
            "http://host:80x/",
            "https://a<b>.com/",
        ] {
            assert!(check_http_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn render_omits_unset_fields() {
        let at = DateTime::parse_from_rfc3339("2025-01-02T03:04:05.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        let config =
            parse_create(&json!({"name": "N", "type": "http", "url": "https://a.example"}))
                .unwrap();
        assert_eq!(
            render("mcp-1", &at, &config),
            json!({"id": "mcp-1", "created_at": "2025-01-02T03:04:05.123456Z", "name": "N",
                   "type": "http", "url": "https://a.example"})
        );
        assert!(generate_id().starts_with(ID_PREFIX));
    }
}
