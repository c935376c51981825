//! What every provider's mapping shares: the [`Draft`] it fills, variable templates,
//! JSON-Schema clean-up, placeholder secrets and names.

use super::{ImportedAgent, MapContext, MapError, PlaceholderSecret, Provider};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Longest webhook timeout Parley applies.
pub(crate) const MAX_TIMEOUT_MS: u64 = 60_000;
/// HTTP methods a webhook tool may use.
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];
/// Keys providers put in parameter schemas that describe where a value comes from, not what
/// the model should send: removed before the schema reaches the model.
const SCHEMA_ANNOTATIONS: [&str; 6] = [
    "dynamic_variable",
    "constant_value",
    "value_type",
    "is_system_provided",
    "value",
    "is_omitted",
];

/// The string at `pointer` in `value`, if it is a non-empty string.
pub(crate) fn text<'v>(value: &'v Value, pointer: &str) -> Option<&'v str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The array at `pointer`, or an empty slice.
pub(crate) fn array<'v>(value: &'v Value, pointer: &str) -> &'v [Value] {
    value
        .pointer(pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The number at `pointer`.
pub(crate) fn number(value: &Value, pointer: &str) -> Option<f64> {
    value.pointer(pointer).and_then(Value::as_f64)
}

/// The boolean at `pointer`.
pub(crate) fn flag(value: &Value, pointer: &str) -> Option<bool> {
    value.pointer(pointer).and_then(Value::as_bool)
}

/// A valid integration-secret identifier made from `hint` (`[A-Za-z0-9_.-]{1,255}`).
pub(crate) fn secret_identifier(hint: &str) -> String {
    let mut id: String = hint
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    id.truncate(255);
    if id.trim_matches('_').is_empty() {
        "imported_secret".to_owned()
    } else {
        id
    }
}

/// A function name the model accepts (`[A-Za-z0-9_-]{1,64}`).
fn function_name(hint: &str) -> String {
    let mut name: String = hint
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    name.truncate(64);
    if name.trim_matches('_').is_empty() {
        "imported_tool".to_owned()
    } else {
        name
    }
}

/// Whether a header carries a credential (its value is then never copied).
pub(crate) fn sensitive_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(
        name.as_str(),
        "authorization" | "proxy-authorization" | "cookie" | "x-vapi-secret"
    ) || [
        "token", "secret", "api-key", "api_key", "apikey", "password",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// Likely vendors of a model name, most specific first: `gpt-4o` → `openai/gpt-4o`, then
/// `gpt-4o` itself.
pub(crate) fn model_candidates(vendor: Option<&str>, model: &str) -> Vec<String> {
    let model = model.trim();
    let lower = model.to_ascii_lowercase();
    let vendor = vendor.map(str::to_ascii_lowercase).or_else(|| {
        let guess = if lower.starts_with("gpt")
            || lower.starts_with("o1")
            || lower.starts_with("o3")
            || lower.starts_with("o4")
            || lower.starts_with("chatgpt")
        {
            "openai"
        } else if lower.starts_with("claude") {
            "anthropic"
        } else if lower.starts_with("gemini") {
            "google"
        } else if lower.starts_with("grok") {
            "xai"
        } else if lower.starts_with("mistral") || lower.starts_with("mixtral") {
            "mistral"
        } else if lower.starts_with("llama") || lower.starts_with("meta-llama") {
            "meta-llama"
        } else {
            return None;
        };
        Some(guess.to_owned())
    });
    let mut candidates = Vec::new();
    if let Some(vendor) = vendor {
        if !model.contains('/') {
            candidates.push(format!("{vendor}/{model}"));
        }
    }
    candidates.push(model.to_owned());
    candidates
}

/// A JSON-Schema object (`{type: object, properties, required}`) from a provider's parameter
/// schema, with the providers' annotations removed; `None` when it has no properties.
pub(crate) fn object_schema(schema: &Value) -> Option<Value> {
    let properties = schema.get("properties").and_then(Value::as_object)?;
    if properties.is_empty() {
        return None;
    }
    let properties: Map<String, Value> = properties
        .iter()
        .map(|(k, v)| (k.clone(), clean_property(v)))
        .collect();
    let required: Vec<Value> = array(schema, "/required")
        .iter()
        .filter(|r| r.as_str().is_some_and(|r| properties.contains_key(r)))
        .cloned()
        .collect();
    Some(json!({"type": "object", "properties": properties, "required": required}))
}

/// A property schema without provider annotations (recursively).
pub(crate) fn clean_property(property: &Value) -> Value {
    let Value::Object(object) = property else {
        return property.clone();
    };
    let mut out = Map::new();
    for (key, value) in object {
        if SCHEMA_ANNOTATIONS.contains(&key.as_str()) {
            continue;
        }
        let value = match key.as_str() {
            "properties" => match value {
                Value::Object(props) => Value::Object(
                    props
                        .iter()
                        .map(|(k, v)| (k.clone(), clean_property(v)))
                        .collect(),
                ),
                other => other.clone(),
            },
            "items" => clean_property(value),
            // ElevenLabs sends `"enum": null`, `"description": ""` for unset fields.
            _ if value.is_null() => continue,
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    Value::Object(out)
}

/// Merges the properties and requirements of `extra` into `base` (both object schemas).
pub(crate) fn merge_schemas(base: Option<Value>, extra: Option<Value>) -> Option<Value> {
    match (base, extra) {
        (None, other) | (other, None) => other,
        (Some(mut base), Some(extra)) => {
            let extra_props = extra
                .get("properties")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let extra_required = extra
                .get("required")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if let Some(Value::Object(props)) = base.get_mut("properties") {
                props.extend(extra_props);
            }
            if let Some(Value::Array(required)) = base.get_mut("required") {
                for name in extra_required {
                    if !required.contains(&name) {
                        required.push(name);
                    }
                }
            }
            Some(base)
        }
    }
}

/// Rewrites provider-specific variable names in templates to Parley's and collects defaults.
#[derive(Debug)]
pub(crate) struct Vars {
    provider: Provider,
    /// Defaults declared inline (`{{ name | default: "x" }}`, Vapi's Liquid templates).
    pub(crate) defaults: BTreeMap<String, Value>,
    /// Provider system variables Parley has no equivalent for.
    pub(crate) unmapped: BTreeSet<String>,
}

impl Vars {
    fn new(provider: Provider) -> Self {
        Self {
            provider,
            defaults: BTreeMap::new(),
            unmapped: BTreeSet::new(),
        }
    }

    /// Parley's name for the provider's variable `name`; `None` when it is a provider system
    /// variable without equivalent (kept as is and reported).
    fn rename(&self, name: &str) -> Option<String> {
        let mapped = match self.provider {
            Provider::ElevenLabs => match name {
                "system__caller_id" => "telnyx_end_user_target",
                "system__called_number" => "telnyx_agent_target",
                "system__conversation_id" => "telnyx_conversation_id",
                "system__agent_id" | "system__current_agent_id" => "telnyx_assistant_id",
                "system__time_utc" | "system__time" => "telnyx_current_time",
                _ if name.starts_with("system__") => return None,
                _ => name,
            },
            Provider::Vapi => match name {
                "customer.number" => "telnyx_end_user_target",
                "phoneNumber.number" => "telnyx_agent_target",
                "call.id" => "telnyx_conversation_id",
                "assistant.id" => "telnyx_assistant_id",
                "now" | "time" => "telnyx_current_time",
                "date" => "telnyx_current_date",
                "year" => "telnyx_current_year",
                "month" => "telnyx_current_month",
                "day" => "telnyx_current_day",
                _ if name.contains('.') => return None,
                _ => name,
            },
            Provider::Retell => match name {
                "user_number" => "telnyx_end_user_target",
                "agent_number" => "telnyx_agent_target",
                "call_id" => "telnyx_conversation_id",
                "agent_id" => "telnyx_assistant_id",
                "current_time" => "telnyx_current_time",
                _ => {
                    if let Some(zone) = name.strip_prefix("current_time_") {
                        return Some(format!("telnyx_current_time_{zone}"));
                    }
                    if matches!(name, "current_calendar" | "direction" | "call_type") {
                        return None;
                    }
                    name
                }
            },
        };
        Some(mapped.to_owned())
    }

    /// `text` with every `{{ name }}` renamed and every `{{ name | default: "x" }}` reduced to
    /// `{{name}}` (the default recorded).
    pub(crate) fn rewrite(&mut self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            let Some(len) = rest[start + 2..].find("}}") else {
                break;
            };
            out.push_str(&rest[..start]);
            let inner = &rest[start + 2..start + 2 + len];
            out.push_str(&self.placeholder(inner));
            rest = &rest[start + 2 + len + 2..];
        }
        out.push_str(rest);
        out
    }

    fn placeholder(&mut self, inner: &str) -> String {
        let keep = || format!("{{{{{inner}}}}}");
        let trimmed = inner.trim();
        if trimmed.starts_with(['#', '/', '^', '!']) {
            return keep();
        }
        let (name, filters) = match trimmed.split_once('|') {
            Some((name, filters)) => (name.trim(), Some(filters.trim())),
            None => (trimmed, None),
        };
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'));
        if !valid {
            return keep();
        }
        let renamed = match self.rename(name) {
            Some(renamed) => renamed,
            None => {
                self.unmapped.insert(name.to_owned());
                name.to_owned()
            }
        };
        match filters {
            None => format!("{{{{{renamed}}}}}"),
            Some(filters) => match liquid_default(filters) {
                Some(default) => {
                    if !renamed.starts_with(crate::variables::SYSTEM_PREFIX) {
                        self.defaults
                            .entry(renamed.clone())
                            .or_insert(Value::String(default));
                    }
                    format!("{{{{{renamed}}}}}")
                }
                None => format!("{{{{ {renamed} | {filters} }}}}"),
            },
        }
    }
}

/// The value of a lone Liquid `default: "x"` filter.
fn liquid_default(filters: &str) -> Option<String> {
    let argument = filters.strip_prefix("default")?.trim_start();
    let argument = argument.strip_prefix(':')?.trim();
    let quote = argument.chars().next()?;
    if quote != '"' && quote != '\'' {
        return None;
    }
    let body = argument[1..].strip_suffix(quote)?;
    (!body.contains(quote)).then(|| body.to_owned())
}

/// A webhook tool before it is rendered.
#[derive(Debug, Default)]
pub(crate) struct Webhook {
    /// The function name (made unique and valid when added).
    pub name: String,
    /// What the model reads.
    pub description: String,
    /// The URL (`{param}` path placeholders allowed).
    pub url: String,
    /// The HTTP method (`POST` when empty).
    pub method: String,
    /// Headers, values already rendered (secrets as sections).
    pub headers: Vec<(String, String)>,
    /// JSON-Schema object of body parameters.
    pub body: Option<Value>,
    /// JSON-Schema object of query parameters.
    pub query: Option<Value>,
    /// JSON-Schema object of path parameters.
    pub path: Option<Value>,
    /// Body fields the configuration supplies.
    pub preset_body: Map<String, Value>,
    /// Query parameters the configuration supplies.
    pub preset_query: Map<String, Value>,
    /// Response fields stored as dynamic variables: `(variable, dot path)`.
    pub store: Vec<(String, String)>,
    /// Timeout in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Whether the assistant does not wait for the answer.
    pub is_async: bool,
    /// Spoken when the request starts.
    pub start_message: Option<String>,
    /// Spoken when the answer takes longer than the delay (ms).
    pub delayed_message: Option<(String, u64)>,
}

/// The assistant being built from one agent.
pub(crate) struct Draft<'c, 'a> {
    ctx: &'c MapContext<'a>,
    provider: Provider,
    import_id: String,
    name: Option<String>,
    instructions: String,
    greeting: Option<String>,
    model: Option<String>,
    external_llm: Option<Value>,
    /// `voice_settings`.
    pub voice: Map<String, Value>,
    /// `transcription`.
    pub transcription: Map<String, Value>,
    tools: Vec<Value>,
    hangup: Option<Option<String>>,
    transfer_description: Option<String>,
    transfer_targets: Vec<Value>,
    skip_turn: Option<Option<String>>,
    send_dtmf: bool,
    /// `conversation_flow`.
    pub flow: Option<Value>,
    /// `privacy_settings`.
    pub privacy: Map<String, Value>,
    /// `tags`.
    pub tags: Vec<String>,
    /// `dynamic_variables` declared by the provider (inline defaults are added at the end).
    pub variables: BTreeMap<String, Value>,
    vars: Vars,
    notes: Vec<String>,
    lost: Vec<String>,
    knowledge: Vec<String>,
    secrets: Vec<PlaceholderSecret>,
    function_names: HashSet<String>,
}

impl<'c, 'a> Draft<'c, 'a> {
    /// A draft of the agent `import_id`.
    pub(crate) fn new(ctx: &'c MapContext<'a>, provider: Provider, import_id: &str) -> Self {
        Self {
            ctx,
            provider,
            import_id: import_id.to_owned(),
            name: None,
            instructions: String::new(),
            greeting: None,
            model: None,
            external_llm: None,
            voice: Map::new(),
            transcription: Map::new(),
            tools: Vec::new(),
            hangup: None,
            transfer_description: None,
            transfer_targets: Vec::new(),
            skip_turn: None,
            send_dtmf: false,
            flow: None,
            privacy: Map::new(),
            tags: Vec::new(),
            variables: BTreeMap::new(),
            vars: Vars::new(provider),
            notes: Vec::new(),
            lost: Vec::new(),
            knowledge: Vec::new(),
            secrets: Vec::new(),
            function_names: HashSet::new(),
        }
    }

    /// A failure of this agent.
    pub(crate) fn fail(&self, reason: impl Into<String>) -> MapError {
        MapError {
            import_id: self.import_id.clone(),
            reason: reason.into(),
        }
    }

    /// The import's `api_key_ref`.
    pub(crate) fn api_key_ref(&self) -> &str {
        self.ctx.api_key_ref
    }

    /// The name of an ElevenLabs workspace secret.
    pub(crate) fn secret_name(&self, id: &str) -> Option<&str> {
        self.ctx.secret_names.get(id).map(String::as_str)
    }

    /// Sets the name.
    pub(crate) fn name(&mut self, name: Option<&str>) {
        self.name = name.map(str::to_owned);
    }

    /// Sets the instructions (variables rewritten).
    pub(crate) fn instructions(&mut self, text: &str) {
        self.instructions = self.vars.rewrite(text);
    }

    /// Sets the greeting (variables rewritten).
    pub(crate) fn greeting(&mut self, text: Option<&str>) {
        self.greeting = text.map(|t| self.vars.rewrite(t));
    }

    /// Rewrites the variables of any other text.
    pub(crate) fn rewrite(&mut self, text: &str) -> String {
        self.vars.rewrite(text)
    }

    /// Something carried over approximately, or a decision the user should know about.
    pub(crate) fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// A provider setting that has no Parley equivalent.
    pub(crate) fn lose(&mut self, what: impl Into<String>) {
        let what = what.into();
        if !self.lost.contains(&what) {
            self.lost.push(what);
        }
    }

    /// A knowledge base (not imported).
    pub(crate) fn knowledge_base(&mut self, description: impl Into<String>) {
        self.knowledge.push(description.into());
    }

    /// Registers a placeholder integration secret for `origin` and returns its identifier.
    pub(crate) fn placeholder_secret(&mut self, hint: &str, origin: impl Into<String>) -> String {
        let identifier = secret_identifier(hint);
        if !self.secrets.iter().any(|s| s.identifier == identifier) {
            self.secrets.push(PlaceholderSecret {
                identifier: identifier.clone(),
                origin: origin.into(),
            });
        }
        identifier
    }

    /// A header value that holds a credential: replaced by a reference to a placeholder
    /// secret (a leading auth scheme such as `Bearer ` is kept). Values that are only a
    /// variable reference stay variables.
    pub(crate) fn secret_header(&mut self, header: &str, value: &str, hint: &str) -> String {
        let trimmed = value.trim();
        if trimmed.starts_with("{{")
            && trimmed.ends_with("}}")
            && trimmed.matches("{{").count() == 1
        {
            return self.rewrite(trimmed);
        }
        let identifier = self.placeholder_secret(
            hint,
            format!(
                "the {header} header of a {} tool",
                self.provider.display_name()
            ),
        );
        let scheme = ["Bearer ", "Basic ", "Token ", "Bot "]
            .into_iter()
            .find(|s| trimmed.len() > s.len() && trimmed[..s.len()].eq_ignore_ascii_case(s))
            .map(|s| &trimmed[..s.len()])
            .unwrap_or_default();
        format!("{scheme}{{{{#integration_secret}}}}{identifier}{{{{/integration_secret}}}}")
    }

    /// Chooses the model: the first of `candidates` this server serves, else the default
    /// (with a note naming what the provider used).
    pub(crate) fn model(&mut self, original: &str, candidates: &[String]) {
        match candidates.iter().find(|c| (self.ctx.can_serve)(c)) {
            Some(served) => self.model = Some(served.clone()),
            None => {
                self.model = Some(self.ctx.default_model.to_owned());
                self.note(format!(
                    "Model: {} used \"{original}\", which this server does not serve; the \
                     assistant uses \"{}\". Serve it (a [[models]] entry or llm_base_url) and set \
                     `model`, or point `external_llm` at an endpoint that serves it.",
                    self.provider.display_name(),
                    self.ctx.default_model
                ));
            }
        }
    }

    /// Uses an OpenAI-compatible endpoint the agent named (`external_llm`).
    pub(crate) fn external_llm(&mut self, base_url: &str, model: &str, key_ref: Option<String>) {
        let mut llm = Map::new();
        llm.insert("base_url".into(), Value::String(base_url.to_owned()));
        llm.insert("model".into(), Value::String(model.to_owned()));
        if let Some(key) = key_ref {
            llm.insert("llm_api_key_ref".into(), Value::String(key));
        }
        self.external_llm = Some(Value::Object(llm));
        self.model = Some(self.ctx.default_model.to_owned());
    }

    /// Adds a webhook tool; one without a URL is not imported.
    pub(crate) fn webhook(&mut self, webhook: Webhook) {
        let name = self.unique_function_name(&webhook.name);
        if webhook.url.trim().is_empty() {
            self.lose(format!("tool {name} (it has no URL)"));
            return;
        }
        let mut method = webhook.method.trim().to_ascii_uppercase();
        if method.is_empty() {
            method = "POST".into();
        }
        if !METHODS.contains(&method.as_str()) {
            self.note(format!(
                "Tool {name}: method {method} is not supported by webhook tools; it uses POST."
            ));
            method = "POST".into();
        }
        let (mut body, mut query) = (webhook.body, webhook.query);
        let mut preset_body = webhook.preset_body;
        let mut preset_query = webhook.preset_query;
        if method == "GET" {
            // GET sends no body: what the model would have put there goes in the query.
            query = merge_schemas(query, body.take());
            preset_query.append(&mut preset_body);
        }
        let mut object = Map::new();
        object.insert("name".into(), Value::String(name.clone()));
        let description = if webhook.description.trim().is_empty() {
            name.clone()
        } else {
            self.rewrite(&webhook.description)
        };
        object.insert("description".into(), Value::String(description));
        let url = self.rewrite(webhook.url.trim());
        object.insert("url".into(), Value::String(url));
        object.insert("method".into(), Value::String(method));
        if !webhook.headers.is_empty() {
            let headers: Vec<Value> = webhook
                .headers
                .into_iter()
                .map(|(name, value)| json!({"name": name, "value": value}))
                .collect();
            object.insert("headers".into(), Value::Array(headers));
        }
        for (key, schema) in [
            ("body_parameters", body),
            ("query_parameters", query),
            ("path_parameters", webhook.path),
        ] {
            if let Some(schema) = schema {
                object.insert(key.into(), schema);
            }
        }
        for (key, presets) in [
            ("preset_body_fields", preset_body),
            ("preset_query_params", preset_query),
        ] {
            if !presets.is_empty() {
                let presets = presets
                    .into_iter()
                    .map(|(k, v)| match v {
                        Value::String(s) => (k, Value::String(self.rewrite(&s))),
                        other => (k, other),
                    })
                    .collect();
                object.insert(key.into(), Value::Object(presets));
            }
        }
        if !webhook.store.is_empty() {
            let store: Vec<Value> = webhook
                .store
                .into_iter()
                .filter(|(name, path)| !name.is_empty() && !path.is_empty())
                .map(|(name, path)| json!({"name": name, "value_path": path}))
                .collect();
            if !store.is_empty() {
                object.insert("store_fields_as_variables".into(), Value::Array(store));
            }
        }
        if webhook.is_async {
            object.insert("async".into(), Value::Bool(true));
        }
        let mut messages = Vec::new();
        if let Some(content) = webhook.start_message.filter(|c| !c.trim().is_empty()) {
            messages.push(json!({"type": "request_start", "content": content}));
        }
        if let Some((content, timing)) = webhook.delayed_message.filter(|(c, _)| !c.is_empty()) {
            messages.push(
                json!({"type": "request_response_delayed", "content": content, "timing_ms": timing}),
            );
        }
        if !messages.is_empty() {
            object.insert("messages".into(), Value::Array(messages));
        }
        let mut tool = Map::new();
        tool.insert("type".into(), Value::String("webhook".into()));
        tool.insert("webhook".into(), Value::Object(object));
        if let Some(timeout) = webhook.timeout_ms.filter(|t| *t > 0) {
            tool.insert(
                "timeout_ms".into(),
                Value::from(timeout.min(MAX_TIMEOUT_MS)),
            );
        }
        self.tools.push(Value::Object(tool));
    }

    /// Adds a tool run by the client (browser) with its JSON-Schema parameters.
    pub(crate) fn client_tool(&mut self, name: &str, description: &str, parameters: Option<Value>) {
        let name = self.unique_function_name(name);
        let description = if description.trim().is_empty() {
            name.clone()
        } else {
            description.to_owned()
        };
        let parameters = parameters
            .unwrap_or_else(|| json!({"type": "object", "properties": {}, "required": []}));
        self.tools
            .push(json!({"type": "client_side_tool", "client_side_tool": {
            "name": name, "description": description, "parameters": parameters}}));
    }

    /// The agent can end the call (one `hangup` tool however often the provider says so).
    pub(crate) fn hangup(&mut self, description: Option<&str>) {
        let description = description.map(str::trim).filter(|d| !d.is_empty());
        match &mut self.hangup {
            Some(Some(_)) => {}
            slot => *slot = Some(description.map(str::to_owned)),
        }
    }

    /// A transfer destination (all of them go into one `transfer` tool).
    pub(crate) fn transfer_target(&mut self, to: &str, name: Option<&str>, message: Option<&str>) {
        let to = self.rewrite(to.trim());
        if to.is_empty() || self.transfer_targets.iter().any(|t| t["to"] == to.as_str()) {
            return;
        }
        let mut target = Map::new();
        target.insert("to".into(), Value::String(to.clone()));
        let name = name.map(str::trim).filter(|n| !n.is_empty()).unwrap_or(&to);
        target.insert("name".into(), Value::String(name.to_owned()));
        if let Some(message) = message.map(str::trim).filter(|m| !m.is_empty()) {
            let message = self.rewrite(message);
            target.insert("message".into(), Value::String(message));
        }
        self.transfer_targets.push(Value::Object(target));
    }

    /// The description of the transfer tool (the first one given wins).
    pub(crate) fn transfer_description(&mut self, description: Option<&str>) {
        if self.transfer_description.is_none() {
            self.transfer_description = description
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_owned);
        }
    }

    /// The agent may stay silent for a turn.
    pub(crate) fn skip_turn(&mut self, description: Option<&str>) {
        if self.skip_turn.is_none() {
            self.skip_turn = Some(description.map(str::to_owned));
        }
    }

    /// The agent may press keys (DTMF).
    pub(crate) fn send_dtmf(&mut self) {
        self.send_dtmf = true;
    }

    fn unique_function_name(&mut self, hint: &str) -> String {
        let base = function_name(hint);
        let mut name = base.clone();
        let mut n = 2;
        while !self.function_names.insert(name.clone()) {
            let suffix = format!("_{n}");
            let mut stem = base.clone();
            stem.truncate(64 - suffix.len());
            name = format!("{stem}{suffix}");
            n += 1;
        }
        name
    }

    /// The mapped agent.
    pub(crate) fn finish(mut self) -> ImportedAgent {
        let provider = self.provider;
        let mut body = Map::new();
        let name = self.name.take().unwrap_or_else(|| {
            format!(
                "{} {} {}",
                provider.display_name(),
                provider.agent_noun(),
                self.import_id
            )
        });
        body.insert("name".into(), Value::String(name));
        if self.instructions.trim().is_empty() {
            self.note(format!(
                "The {} {} has no prompt; `instructions` is empty.",
                provider.display_name(),
                provider.agent_noun()
            ));
        }
        body.insert(
            "instructions".into(),
            Value::String(std::mem::take(&mut self.instructions)),
        );
        if let Some(greeting) = self.greeting.take().filter(|g| !g.trim().is_empty()) {
            body.insert("greeting".into(), Value::String(greeting));
        }
        let model = self
            .model
            .take()
            .unwrap_or_else(|| self.ctx.default_model.to_owned());
        body.insert("model".into(), Value::String(model));
        if let Some(llm) = self.external_llm.take() {
            body.insert("external_llm".into(), llm);
        }
        if self.voice.contains_key("voice") {
            body.insert(
                "voice_settings".into(),
                Value::Object(std::mem::take(&mut self.voice)),
            );
        }
        if !self.transcription.is_empty() {
            body.insert(
                "transcription".into(),
                Value::Object(std::mem::take(&mut self.transcription)),
            );
        }
        let mut tools = std::mem::take(&mut self.tools);
        if let Some(description) = self.hangup.take() {
            let mut hangup = Map::new();
            if let Some(description) = description {
                hangup.insert("description".into(), Value::String(description));
            }
            tools.push(json!({"type": "hangup", "hangup": hangup}));
        }
        if !self.transfer_targets.is_empty() {
            let mut transfer = Map::new();
            transfer.insert(
                "targets".into(),
                Value::Array(std::mem::take(&mut self.transfer_targets)),
            );
            if let Some(description) = self.transfer_description.take() {
                transfer.insert("description".into(), Value::String(description));
            }
            tools.push(json!({"type": "transfer", "transfer": transfer}));
        }
        if let Some(description) = self.skip_turn.take() {
            let mut skip = Map::new();
            if let Some(description) = description.filter(|d| !d.trim().is_empty()) {
                skip.insert("description".into(), Value::String(description));
            }
            tools.push(json!({"type": "skip_turn", "skip_turn": skip}));
        }
        if self.send_dtmf {
            tools.push(json!({"type": "send_dtmf", "send_dtmf": {}}));
        }
        body.insert("tools".into(), Value::Array(tools));
        let mut variables = std::mem::take(&mut self.variables);
        for (name, value) in std::mem::take(&mut self.vars.defaults) {
            variables.entry(name).or_insert(value);
        }
        let reserved: Vec<String> = variables
            .keys()
            .filter(|k| k.starts_with(crate::variables::SYSTEM_PREFIX))
            .cloned()
            .collect();
        for name in reserved {
            variables.remove(&name);
            self.lose(format!(
                "dynamic variable {name} (the telnyx_ prefix is reserved)"
            ));
        }
        if !variables.is_empty() {
            body.insert(
                "dynamic_variables".into(),
                Value::Object(variables.into_iter().collect()),
            );
        }
        if let Some(flow) = self.flow.take() {
            body.insert("conversation_flow".into(), flow);
        }
        if !self.privacy.is_empty() {
            body.insert(
                "privacy_settings".into(),
                Value::Object(std::mem::take(&mut self.privacy)),
            );
        }
        if !self.tags.is_empty() {
            let mut seen = HashSet::new();
            let tags: Vec<Value> = self
                .tags
                .iter()
                .map(|t| t.trim())
                .filter(|t| !t.is_empty() && seen.insert(t.to_owned()))
                .take(crate::assistant::MAX_TAGS)
                .map(|t| Value::String(t.to_owned()))
                .collect();
            body.insert("tags".into(), Value::Array(tags));
        }

        let mut notes = Vec::new();
        if !self.knowledge.is_empty() {
            notes.push(format!(
                "Knowledge bases are not imported: {}. Recreate them in Parley and attach them \
                 with a retrieval tool.",
                self.knowledge.join("; ")
            ));
        }
        notes.append(&mut self.notes);
        let unmapped = std::mem::take(&mut self.vars.unmapped);
        if !unmapped.is_empty() {
            notes.push(format!(
                "Variables without a Parley equivalent are kept as written and stay empty or \
                 verbatim at run time: {}.",
                unmapped.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        if !self.lost.is_empty() {
            notes.push(format!("Not carried over: {}.", self.lost.join("; ")));
        }
        for secret in &self.secrets {
            notes.push(format!(
                "Integration secret \"{}\" stands for {}; it was created with a placeholder \
                 value if it did not exist: delete it and create it again with the real value.",
                secret.identifier, secret.origin
            ));
        }
        let mut description = format!(
            "Imported from {} {} {}.",
            provider.display_name(),
            provider.agent_noun(),
            self.import_id
        );
        if !notes.is_empty() {
            description.push_str("\n\nImport notes:");
            for note in &notes {
                description.push_str("\n- ");
                description.push_str(note);
            }
        }
        body.insert("description".into(), Value::String(description));
        ImportedAgent {
            provider,
            import_id: self.import_id,
            body,
            notes,
            secrets: self.secrets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_renamed_and_liquid_defaults_collected() {
        let mut vars = Vars::new(Provider::Vapi);
        let out = vars.rewrite(
            "Hi {{ name | default: \"there\" }}, calling {{customer.number}} at {{now}} \
             about {{order_id}} {{customer.email}} {{ date | date: \"%B\" }} {{",
        );
        assert_eq!(
            out,
            "Hi {{name}}, calling {{telnyx_end_user_target}} at {{telnyx_current_time}} about \
             {{order_id}} {{customer.email}} {{ telnyx_current_date | date: \"%B\" }} {{"
        );
        assert_eq!(vars.defaults.get("name"), Some(&json!("there")));
        assert!(vars.unmapped.contains("customer.email"));

        let mut vars = Vars::new(Provider::Retell);
        assert_eq!(
            vars.rewrite("{{current_time_America/New_York}} {{user_number}}"),
            "{{telnyx_current_time_America/New_York}} {{telnyx_end_user_target}}"
        );
        let mut vars = Vars::new(Provider::ElevenLabs);
        assert_eq!(
            vars.rewrite("{{system__caller_id}} {{system__call_sid}}"),
            "{{telnyx_end_user_target}} {{system__call_sid}}"
        );
        assert!(vars.unmapped.contains("system__call_sid"));
    }

    #[test]
    fn names_identifiers_and_models() {
        assert_eq!(secret_identifier("CRM token (prod)"), "CRM_token__prod_");
        assert_eq!(secret_identifier("é"), "imported_secret");
        assert_eq!(function_name("get weather!"), "get_weather_");
        assert_eq!(
            model_candidates(None, "gpt-4o"),
            vec!["openai/gpt-4o", "gpt-4o"]
        );
        assert_eq!(
            model_candidates(Some("groq"), "llama-3.1-8b-instant"),
            vec!["groq/llama-3.1-8b-instant", "llama-3.1-8b-instant"]
        );
        assert_eq!(model_candidates(None, "qwen3-30b"), vec!["qwen3-30b"]);
        assert!(sensitive_header("Authorization") && sensitive_header("X-Api-Key"));
        assert!(!sensitive_header("Content-Type"));
    }

    #[test]
    fn schemas_lose_provider_annotations() {
        let schema = object_schema(&json!({
            "type": "object",
            "required": ["city", "ghost"],
            "properties": {"city": {"type": "string", "description": "City", "dynamic_variable": "", "constant_value": "", "enum": null},
                           "tags": {"type": "array", "items": {"type": "string", "value_type": "llm_prompt"}}}
        }))
        .unwrap();
        assert_eq!(
            schema,
            json!({"type": "object", "required": ["city"], "properties": {
                "city": {"type": "string", "description": "City"},
                "tags": {"type": "array", "items": {"type": "string"}}}})
        );
        assert_eq!(
            object_schema(&json!({"type": "object", "properties": {}})),
            None
        );
    }
}
