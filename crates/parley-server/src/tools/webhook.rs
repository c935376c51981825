//! Webhook tools: the assistant calls the owner's HTTP API.
//!
//! The model sees one function named after `webhook.name` whose parameters are the
//! properties of `path_parameters`, `query_parameters` and `body_parameters` merged into one
//! object (a name present in several goes to each). When it calls it:
//!
//! - `{name}` placeholders of the URL take the path arguments (percent-encoded); `{{var}}`
//!   placeholders anywhere in the URL, headers and preset fields take the conversation's
//!   dynamic variables (unresolved ones render empty).
//! - Query arguments and `preset_query_params` form the query string; body arguments and
//!   `preset_body_fields` the JSON body (none for `GET`). Presets are never shown to the model
//!   and override its values.
//! - Header values may name integration secrets: `Bearer
//!   {{#integration_secret}}my-key{{/integration_secret}}`. Secret values never appear in the
//!   `request` echoed by the test endpoint (shown as `***`).
//! - The request goes through the outbound guard ([`crate::outbound`]), with the tool's
//!   `timeout_ms` (default [`DEFAULT_TIMEOUT_MS`], at most [`MAX_TIMEOUT_MS`]); redirects are
//!   re-checked; at most [`MAX_RESPONSE_BYTES`] of the answer are read.
//!
//! Every outcome is a [`WebhookOutcome`]: an answer (any status) or a failure (refused
//! address, timeout, connection error). The chat engine turns both into a tool result the model
//! reads — never an API error.

use crate::error::ApiResult;
use crate::outbound::{self, OutboundError};
use crate::secrets::{resolve_secret, SecretValue};
use crate::state::AppState;
use parley_core::ids::OrgId;
use parley_core::variables::{self, VariableContext};
use parley_llm::ToolSpec;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Timeout of a webhook tool without `timeout_ms`.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
/// Largest accepted `timeout_ms`.
pub const MAX_TIMEOUT_MS: u64 = 60_000;
/// Most bytes of a response that are read.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// How long an `async` webhook is waited for before the model is told "Submitted", when the
/// tool sets no `async_timeout_ms`.
pub const DEFAULT_ASYNC_WAIT_MS: u64 = 300;

/// The function the model sees for a webhook tool's configuration (`{"name", "description",
/// "url", …}`).
pub fn function_spec(webhook: &Map<String, Value>) -> ToolSpec {
    let mut properties = Map::new();
    let mut required: Vec<Value> = Vec::new();
    for group in ["path_parameters", "query_parameters", "body_parameters"] {
        let Some(Value::Object(schema)) = webhook.get(group) else {
            continue;
        };
        if let Some(Value::Object(props)) = schema.get("properties") {
            for (name, property) in props {
                properties.insert(name.clone(), property.clone());
            }
        }
        if let Some(Value::Array(names)) = schema.get("required") {
            for name in names {
                if !required.contains(name) {
                    required.push(name.clone());
                }
            }
        }
    }
    let name = webhook
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("webhook");
    ToolSpec {
        name: super::function_name(name),
        description: webhook
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        parameters: json!({"type": "object", "properties": properties, "required": required}),
    }
}

/// What was (or would have been) sent, for the test endpoint and traces.
#[derive(Debug, Clone, PartialEq)]
pub struct SentRequest {
    /// The HTTP method.
    pub method: String,
    /// The full URL, query included.
    pub url: String,
    /// Headers; values with secrets are `***`.
    pub headers: Vec<(String, String)>,
    /// The JSON body, if any.
    pub body: Option<Value>,
}

impl SentRequest {
    /// As the test endpoint shows it.
    pub fn to_json(&self) -> Value {
        let headers: Map<String, Value> = self
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        json!({"method": self.method, "url": self.url, "headers": headers, "body": self.body})
    }
}

/// An answer from the webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookAnswer {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`, if sent.
    pub content_type: Option<String>,
    /// The body as text (lossy UTF-8), cut at [`MAX_RESPONSE_BYTES`].
    pub body: String,
    /// Whether the body was cut.
    pub truncated: bool,
    /// How long it took.
    pub elapsed: Duration,
}

impl WebhookAnswer {
    /// Whether the status is 2xx.
    pub fn success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Whether the body is text a model can read: no content type, or `text/*`, JSON, XML,
    /// form data or JavaScript.
    pub fn is_text(&self) -> bool {
        let Some(content_type) = &self.content_type else {
            return true;
        };
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        essence.starts_with("text/")
            || essence.ends_with("json")
            || essence.ends_with("xml")
            || essence == "application/x-www-form-urlencoded"
            || essence == "application/javascript"
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }
}

/// How a webhook call ended.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookOutcome {
    /// The webhook answered (any status).
    Answered(WebhookAnswer),
    /// The outbound policy refused the address.
    Refused(String),
    /// No answer within the timeout.
    TimedOut(Duration),
    /// Could not connect, or the connection broke.
    Failed(String),
}

impl WebhookOutcome {
    /// The tool result the model reads: the body on success; otherwise a sentence saying what
    /// went wrong (the model can tell the user or try again). At most `max_chars` characters.
    pub fn for_model(&self, name: &str, max_chars: usize) -> String {
        let text = match self {
            WebhookOutcome::Answered(answer) if !answer.is_text() => format!(
                "The {name} service answered HTTP {} with {} content ({} bytes), which is not \
                 text",
                answer.status,
                answer.content_type.as_deref().unwrap_or("unknown"),
                answer.body.len()
            ),
            WebhookOutcome::Answered(answer) if answer.success() => answer.body.clone(),
            WebhookOutcome::Answered(answer) => format!(
                "The {name} service answered HTTP {}: {}",
                answer.status, answer.body
            ),
            WebhookOutcome::Refused(why) => {
                format!("The {name} service cannot be called: {why}")
            }
            WebhookOutcome::TimedOut(after) => format!(
                "The {name} service did not answer within {} ms",
                after.as_millis()
            ),
            WebhookOutcome::Failed(why) => {
                format!("The {name} service could not be reached: {why}")
            }
        };
        truncate_chars(&text, max_chars)
    }
}

/// `text` cut to `max` characters, with a marker when cut.
pub fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}… [truncated]", &text[..at]),
        None => text.to_owned(),
    }
}

/// A request ready to send.
#[derive(Debug, Clone)]
pub struct PreparedRequest {
    method: reqwest::Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Value>,
    /// What is shown (secrets masked).
    pub shown: SentRequest,
}

/// Builds the request a call makes: `arguments` from the model, `values` the conversation's
/// variables.
pub async fn prepare(
    state: &AppState,
    org: &OrgId,
    webhook: &Map<String, Value>,
    arguments: &Map<String, Value>,
    values: &BTreeMap<String, String>,
) -> ApiResult<PreparedRequest> {
    let context = VariableContext {
        values,
        now: state.clock.now(),
    };
    let method_name = webhook
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or("POST")
        .to_ascii_uppercase();
    let method =
        reqwest::Method::from_bytes(method_name.as_bytes()).unwrap_or(reqwest::Method::POST);
    let names_in = |group: &str| -> Vec<String> {
        webhook
            .get(group)
            .and_then(|g| g.get("properties"))
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    };

    // URL: {{variables}} first, then {path} arguments, percent-encoded.
    let mut url = variables::render_or_empty(
        webhook
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or_default(),
        &context,
    );
    for name in names_in("path_parameters") {
        if let Some(value) = arguments.get(&name) {
            let text = scalar_text(value);
            url = url.replace(
                &format!("{{{name}}}"),
                &url::form_urlencoded::byte_serialize(text.as_bytes())
                    .collect::<String>()
                    .replace('+', "%20"),
            );
        }
    }

    // Query: model arguments, then presets (which win).
    let mut query: Vec<(String, String)> = Vec::new();
    for name in names_in("query_parameters") {
        if let Some(value) = arguments.get(&name) {
            query.push((name, scalar_text(value)));
        }
    }
    if let Some(Value::Object(presets)) = webhook.get("preset_query_params") {
        for (name, value) in presets {
            query.retain(|(n, _)| n != name);
            query.push((name.clone(), render_value_text(value, &context)));
        }
    }
    if !query.is_empty() {
        let encoded: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query.iter())
            .finish();
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&encoded);
    }

    // Body: model arguments, then presets; none for GET.
    let body = if method == reqwest::Method::GET {
        None
    } else {
        let mut body = Map::new();
        for name in names_in("body_parameters") {
            if let Some(value) = arguments.get(&name) {
                body.insert(name, value.clone());
            }
        }
        if let Some(Value::Object(presets)) = webhook.get("preset_body_fields") {
            for (name, value) in presets {
                body.insert(name.clone(), render_value(value, &context));
            }
        }
        Some(Value::Object(body))
    };

    // Headers: templated, secrets resolved.
    let mut headers = Vec::new();
    let mut shown_headers = Vec::new();
    if let Some(Value::Array(list)) = webhook.get("headers") {
        for header in list {
            let (Some(name), Some(value)) = (
                header.get("name").and_then(Value::as_str),
                header.get("value").and_then(Value::as_str),
            ) else {
                continue;
            };
            let (value, secret) = resolve_secret_sections(state, org, value).await?;
            let value = variables::render_or_empty(&value, &context);
            shown_headers.push((
                name.to_owned(),
                if secret {
                    "***".to_owned()
                } else {
                    value.clone()
                },
            ));
            headers.push((name.to_owned(), value));
        }
    }
    if let Some(id) = values.get("telnyx_conversation_id") {
        headers.push(("x-telnyx-conversation-id".into(), id.clone()));
        shown_headers.push(("x-telnyx-conversation-id".into(), id.clone()));
    }
    if let Some(id) = values.get("call_control_id") {
        headers.push(("x-telnyx-call-control-id".into(), id.clone()));
        shown_headers.push(("x-telnyx-call-control-id".into(), id.clone()));
    }
    let shown = SentRequest {
        method: method.to_string(),
        url: url.clone(),
        headers: shown_headers,
        body: body.clone(),
    };
    Ok(PreparedRequest {
        method,
        url,
        headers,
        body,
        shown,
    })
}

/// Replaces `{{#integration_secret}}id{{/integration_secret}}` sections with the secret's
/// value (a bearer token, or `user:password` base64-encoded for basic secrets); tells whether
/// there was one. An unknown secret renders empty.
async fn resolve_secret_sections(
    state: &AppState,
    org: &OrgId,
    template: &str,
) -> ApiResult<(String, bool)> {
    const OPEN: &str = "{{#integration_secret}}";
    const CLOSE: &str = "{{/integration_secret}}";
    let mut out = String::new();
    let mut rest = template;
    let mut found = false;
    while let Some(start) = rest.find(OPEN) {
        let after = &rest[start + OPEN.len()..];
        let Some(end) = after.find(CLOSE) else { break };
        out.push_str(&rest[..start]);
        let identifier = after[..end].trim();
        found = true;
        match resolve_secret(state, org, identifier).await? {
            Some(SecretValue::Bearer { token }) => out.push_str(&token),
            Some(basic @ SecretValue::Basic { .. }) => {
                let header = basic.authorization();
                out.push_str(header.strip_prefix("Basic ").unwrap_or(&header));
            }
            None => tracing::warn!(identifier, "webhook header names an unknown secret"),
        }
        rest = &after[end + CLOSE.len()..];
    }
    out.push_str(rest);
    Ok((out, found))
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn render_value(value: &Value, context: &VariableContext<'_>) -> Value {
    match value {
        Value::String(s) => Value::String(variables::render_or_empty(s, context)),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| render_value(v, context)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), render_value(v, context)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn render_value_text(value: &Value, context: &VariableContext<'_>) -> String {
    scalar_text(&render_value(value, context))
}

/// Sends a prepared request with `timeout`.
pub async fn send(
    state: &AppState,
    request: &PreparedRequest,
    timeout: Duration,
) -> WebhookOutcome {
    if let Err(e) = state.outbound.check_url(&request.url) {
        return match e {
            OutboundError::PrivateAddress(_) => WebhookOutcome::Refused(e.to_string()),
            OutboundError::BadUrl(_) => WebhookOutcome::Failed(e.to_string()),
        };
    }
    let started = Instant::now();
    let mut builder = state
        .outbound
        .client()
        .request(request.method.clone(), &request.url)
        .timeout(timeout);
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    if let Some(body) = &request.body {
        builder = builder.json(body);
    }
    let call = async {
        let mut response = builder.send().await?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut bytes = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = response.chunk().await? {
            let room = MAX_RESPONSE_BYTES - bytes.len();
            if chunk.len() > room {
                bytes.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok::<_, reqwest::Error>(WebhookAnswer {
            status,
            content_type,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            truncated,
            elapsed: started.elapsed(),
        })
    };
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(answer)) => WebhookOutcome::Answered(answer),
        Ok(Err(e)) if outbound::is_refused(&e) => WebhookOutcome::Refused(
            "the address is not public; outbound requests to private networks are disabled".into(),
        ),
        Ok(Err(e)) if e.is_timeout() => WebhookOutcome::TimedOut(timeout),
        Ok(Err(e)) => WebhookOutcome::Failed(describe(&e)),
        Err(_) => WebhookOutcome::TimedOut(timeout),
    }
}

/// A short description of a transport error, without the URL's query (it may hold values).
fn describe(error: &reqwest::Error) -> String {
    if error.is_connect() {
        "connection refused or failed".to_owned()
    } else if error.is_redirect() {
        "too many or refused redirects".to_owned()
    } else if error.is_body() || error.is_decode() {
        "the response broke off".to_owned()
    } else {
        "the request failed".to_owned()
    }
}

/// The tool's timeout: its `timeout_ms` (beside `type`), clamped.
pub fn timeout_of(tool: &Value) -> Duration {
    let ms = tool
        .get("timeout_ms")
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_TIMEOUT_MS)
        .clamp(1, MAX_TIMEOUT_MS);
    Duration::from_millis(ms)
}

/// The variables `store_fields_as_variables` takes out of a JSON answer (`value_path` is a
/// dot path; array items by index, `items.0.id`). Values that are not strings are stored as
/// JSON text.
pub fn stored_variables(webhook: &Map<String, Value>, answer: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(Value::Array(fields)) = webhook.get("store_fields_as_variables") else {
        return out;
    };
    for field in fields {
        let (Some(name), Some(path)) = (
            field.get("name").and_then(Value::as_str),
            field.get("value_path").and_then(Value::as_str),
        ) else {
            continue;
        };
        let mut at = answer;
        let mut found = true;
        for part in path.trim_start_matches("$.").split('.') {
            let next = match at {
                Value::Object(map) => map.get(part),
                Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            };
            match next {
                Some(value) => at = value,
                None => {
                    found = false;
                    break;
                }
            }
        }
        if found && !at.is_null() && !name.starts_with(variables::SYSTEM_PREFIX) {
            out.insert(name.to_owned(), scalar_text(at));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_function_merges_parameter_groups() {
        let webhook = json!({
            "name": "book table", "description": "Books a table", "url": "https://x/{id}",
            "path_parameters": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
            "query_parameters": {"type": "object", "properties": {"when": {"type": "string"}}},
            "body_parameters": {"type": "object", "properties": {"guests": {"type": "integer"}}, "required": ["guests", "id"]},
        });
        let spec = function_spec(webhook.as_object().unwrap());
        assert_eq!(spec.name, "book_table");
        assert_eq!(spec.description, "Books a table");
        assert_eq!(spec.parameters["properties"].as_object().unwrap().len(), 3);
        assert_eq!(spec.parameters["required"], json!(["id", "guests"]));
    }

    #[test]
    fn stored_fields_follow_dot_paths() {
        let webhook = json!({"store_fields_as_variables": [
            {"name": "customer_name", "value_path": "customer.name"},
            {"name": "first_item", "value_path": "items.0.id"},
            {"name": "count", "value_path": "count"},
            {"name": "missing", "value_path": "nope.here"},
            {"name": "telnyx_agent_target", "value_path": "count"},
        ]});
        let answer = json!({"customer": {"name": "Ada"}, "items": [{"id": "i1"}], "count": 3});
        let stored = stored_variables(webhook.as_object().unwrap(), &answer);
        assert_eq!(
            stored,
            BTreeMap::from([
                ("customer_name".to_owned(), "Ada".to_owned()),
                ("first_item".to_owned(), "i1".to_owned()),
                ("count".to_owned(), "3".to_owned()),
            ])
        );
    }

    #[test]
    fn outcomes_read_as_sentences() {
        let answer = |status| {
            WebhookOutcome::Answered(WebhookAnswer {
                status,
                content_type: None,
                body: "{\"ok\":true}".into(),
                truncated: false,
                elapsed: Duration::ZERO,
            })
        };
        assert_eq!(answer(200).for_model("booking", 100), "{\"ok\":true}");
        assert_eq!(
            answer(503).for_model("booking", 100),
            "The booking service answered HTTP 503: {\"ok\":true}"
        );
        assert_eq!(
            WebhookOutcome::TimedOut(Duration::from_millis(50)).for_model("booking", 100),
            "The booking service did not answer within 50 ms"
        );
        assert_eq!(truncate_chars("abcdef", 3), "abc… [truncated]");
        let image = WebhookOutcome::Answered(WebhookAnswer {
            status: 200,
            content_type: Some("image/png".into()),
            body: "\u{89}PNG".into(),
            truncated: false,
            elapsed: Duration::ZERO,
        });
        assert!(image.for_model("camera", 100).contains("image/png content"));
    }
}
