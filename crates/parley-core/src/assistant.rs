//! Assistant documents: what a create or update body becomes, how an update applies to the
//! current version, how a clone is made and how the wire object is rendered.
//!
//! An assistant is a *head* (id, creation time, tags, soft-delete state) pointing at its main
//! *version*: an immutable snapshot of every configurable field, kept as the JSON object the
//! client sent (validated against the contract, unknown fields dropped). Keeping the document
//! rather than a struct per nested schema is what lets every documented field — all 15 tool
//! types, every nested settings object — round-trip exactly.

use crate::clock::format_timestamp;
use crate::schema::contract;
use crate::validation::{FieldError, ValidationErrors};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashSet};

/// `version_name` given to versions nobody named.
pub const DEFAULT_VERSION_NAME: &str = "New assistant";
/// Longest `version_name` the contract allows.
pub const MAX_VERSION_NAME_LEN: usize = 50;
/// Longest tag accepted.
pub const MAX_TAG_LEN: usize = 255;
/// Most tags one assistant may carry.
pub const MAX_TAGS: usize = 100;
/// Suffix appended to the name of a clone.
pub const CLONE_NAME_SUFFIX: &str = " (Clone)";
/// Settings a clone does not copy: they bind the original to its phone numbers and profiles.
pub const CLONE_EXCLUDED_FIELDS: [&str; 2] = ["telephony_settings", "messaging_settings"];
/// Tool types of which an assistant may hold any number; of every other type at most one.
pub const MULTI_INSTANCE_TOOL_TYPES: [&str; 3] = ["function", "webhook", "client_side_tool"];

/// The configurable fields of one version, validated. Never contains `tags` (they live on the
/// head), server-filled fields, or nulls.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AssistantConfig(Map<String, Value>);

impl AssistantConfig {
    /// Wraps a document read back from storage (it was validated when written).
    pub fn from_stored(document: Map<String, Value>) -> Self {
        Self(document)
    }

    /// The document as a JSON object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// Consumes the config, returning the JSON object.
    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }

    /// Ids of the shared tools attached to this configuration (`tool_ids`), in order.
    pub fn tool_ids(&self) -> Vec<String> {
        self.0
            .get("tool_ids")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|id| id.as_str().map(str::to_owned))
            .collect()
    }

    /// The assistant's name.
    pub fn name(&self) -> &str {
        self.0
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// Ids of assistants this configuration hands conversations to (handoff tools and flow
    /// edges), which must not be hard-deleted while referenced.
    pub fn referenced_assistants(&self) -> BTreeSet<String> {
        let mut ids = BTreeSet::new();
        for tool in self
            .0
            .get("tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let targets = tool
                .pointer("/handoff/ai_assistants")
                .and_then(Value::as_array);
            for target in targets.into_iter().flatten() {
                if let Some(id) = target.get("id").and_then(Value::as_str) {
                    ids.insert(id.to_owned());
                }
            }
        }
        let edges = self.0.get("conversation_flow").and_then(|f| f.get("edges"));
        for edge in edges.and_then(Value::as_array).into_iter().flatten() {
            let target = edge.get("target");
            if target.and_then(|t| t.get("type")).and_then(Value::as_str) == Some("assistant") {
                if let Some(id) = target
                    .and_then(|t| t.get("assistant_id"))
                    .and_then(Value::as_str)
                {
                    ids.insert(id.to_owned());
                }
            }
        }
        ids
    }

    /// The configuration of a clone: everything but telephony and messaging settings, and the
    /// name with [`CLONE_NAME_SUFFIX`].
    pub fn for_clone(&self) -> Self {
        let mut document = self.0.clone();
        for field in CLONE_EXCLUDED_FIELDS {
            document.remove(field);
        }
        let name = format!("{}{CLONE_NAME_SUFFIX}", self.name());
        document.insert("name".into(), Value::String(name));
        Self(document)
    }
}

/// Every integration-secret reference (`llm_api_key_ref`, `external_llm.certificate_ref`,
/// `voice_settings.api_key_ref`, …: any string field whose name ends in `_ref`) in a
/// configuration document, as `(JSON pointer, identifier)`.
pub fn secret_refs(fields: &Map<String, Value>) -> Vec<(String, String)> {
    fn walk(value: &Value, pointer: &str, out: &mut Vec<(String, String)>) {
        match value {
            Value::Object(object) => {
                for (key, child) in object {
                    let here = format!("{pointer}/{}", escape_pointer(key));
                    match child {
                        Value::String(identifier) if key.ends_with("_ref") => {
                            out.push((here, identifier.clone()));
                        }
                        _ => walk(child, &here, out),
                    }
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, &format!("{pointer}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    let mut refs = Vec::new();
    walk(&Value::Object(fields.clone()), "", &mut refs);
    refs
}

/// `(JSON pointer, id)` of every `mcp_servers[].id` in a configuration document.
pub fn mcp_server_refs(fields: &Map<String, Value>) -> Vec<(String, String)> {
    list_refs(fields, "mcp_servers", "id")
}

/// `(JSON pointer, id)` of every `integrations[].integration_id` in a configuration document.
pub fn integration_refs(fields: &Map<String, Value>) -> Vec<(String, String)> {
    list_refs(fields, "integrations", "integration_id")
}

fn list_refs(fields: &Map<String, Value>, list: &str, key: &str) -> Vec<(String, String)> {
    fields
        .get(list)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, item)| {
            item.get(key)
                .and_then(Value::as_str)
                .map(|id| (format!("/{list}/{i}/{key}"), id.to_owned()))
        })
        .collect()
}

/// A parsed create body.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAssistant {
    /// The first version's configuration.
    pub config: AssistantConfig,
    /// Tags for the head.
    pub tags: Vec<String>,
}

/// A parsed update body.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AssistantUpdate {
    set: Map<String, Value>,
    clear: Vec<String>,
    /// New tags for the head, if the body had `tags`.
    pub tags: Option<Vec<String>>,
    /// Name of the version this update writes, if given.
    pub version_name: Option<String>,
    /// Whether the new version becomes main (`promote_to_main`, default true).
    pub promote_to_main: bool,
}

impl AssistantUpdate {
    /// An update that sets only `tool_ids` (attaching or detaching a shared tool) and
    /// promotes the version it writes.
    pub fn with_tool_ids(ids: Vec<String>) -> Self {
        let mut set = Map::new();
        set.insert(
            "tool_ids".into(),
            Value::Array(ids.into_iter().map(Value::String).collect()),
        );
        Self {
            set,
            promote_to_main: true,
            ..Self::default()
        }
    }

    /// The configuration after this update: every field sent replaces the current one
    /// (`tools` replaces the inline tools as a whole), `null` clears a field, every field not
    /// sent stays as it was.
    pub fn apply(&self, current: &AssistantConfig) -> AssistantConfig {
        let mut document = current.0.clone();
        for field in &self.clear {
            document.remove(field);
        }
        for (field, value) in &self.set {
            document.insert(field.clone(), value.clone());
        }
        AssistantConfig(document)
    }

    /// The fields this update sets, as sent (validated).
    pub fn fields(&self) -> &Map<String, Value> {
        &self.set
    }

    /// Whether the body changed no configuration field (only tags, or nothing at all).
    pub fn changes_nothing(&self) -> bool {
        self.set.is_empty() && self.clear.is_empty()
    }
}

/// Parses and validates a create body. `default_model` fills `model` when it is absent.
pub fn parse_create(body: Value, default_model: &str) -> Result<NewAssistant, ValidationErrors> {
    let known = contract().assistant_create_fields();
    let (mut fields, _cleared) = known_fields(body, known)?;
    contract().validate_assistant_create(&fields)?;
    check_rules(&fields)?;
    let tags = take_tags(&mut fields)?.unwrap_or_default();
    dedup_tool_ids(&mut fields);
    fields
        .entry("model")
        .or_insert_with(|| Value::String(default_model.to_owned()));
    Ok(NewAssistant {
        config: AssistantConfig(fields),
        tags,
    })
}

/// Parses and validates an update body (`{}` is a valid update that changes nothing).
pub fn parse_update(body: Value) -> Result<AssistantUpdate, ValidationErrors> {
    let known = contract().assistant_update_fields();
    let (mut fields, clear) = known_fields(body, known)?;
    for required in ["name", "instructions"] {
        if clear.iter().any(|f| f == required) {
            return Err(FieldError::invalid(
                format!("/{required}"),
                format!("`{required}` cannot be cleared"),
            )
            .into());
        }
    }
    contract().validate_assistant_update(&fields)?;
    check_rules(&fields)?;
    let mut tags = take_tags(&mut fields)?;
    if clear.iter().any(|f| f == "tags") {
        tags = Some(Vec::new());
    }
    let version_name = match fields.remove("version_name") {
        Some(Value::String(name)) => Some(check_version_name(name)?),
        _ => None,
    };
    let promote_to_main = fields
        .remove("promote_to_main")
        .and_then(|v| v.as_bool())
        .unwrap_or(true);
    dedup_tool_ids(&mut fields);
    let clear = clear
        .into_iter()
        .filter(|f| !matches!(f.as_str(), "tags" | "version_name" | "promote_to_main"))
        .collect();
    Ok(AssistantUpdate {
        set: fields,
        clear,
        tags,
        version_name,
        promote_to_main,
    })
}

/// Normalizes one tag (trimmed, non-empty, at most [`MAX_TAG_LEN`] characters).
pub fn normalize_tag(tag: &str, pointer: &str) -> Result<String, FieldError> {
    let tag = tag.trim();
    if tag.is_empty() {
        return Err(FieldError::invalid(pointer, "a tag must not be empty"));
    }
    if tag.contains('\0') {
        return Err(FieldError::invalid(
            pointer,
            "text must not contain the NUL character (U+0000)",
        ));
    }
    if tag.chars().count() > MAX_TAG_LEN {
        return Err(FieldError::invalid(
            pointer,
            format!("a tag is at most {MAX_TAG_LEN} characters"),
        ));
    }
    Ok(tag.to_owned())
}

fn check_version_name(name: String) -> Result<String, FieldError> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_VERSION_NAME_LEN {
        return Err(FieldError::invalid(
            "/version_name",
            format!("`version_name` must be 1 to {MAX_VERSION_NAME_LEN} characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// Keeps the contract's fields of an object body; nulls are returned apart as fields to clear.
fn known_fields(
    body: Value,
    known: &BTreeSet<String>,
) -> Result<(Map<String, Value>, Vec<String>), ValidationErrors> {
    let Value::Object(object) = body else {
        return Err(FieldError::invalid("", "the request body must be a JSON object").into());
    };
    let mut nul_errors = Vec::new();
    for (key, value) in &object {
        if known.contains(key) {
            find_nul_characters(value, &format!("/{}", escape_pointer(key)), &mut nul_errors);
        }
    }
    if !nul_errors.is_empty() {
        return Err(ValidationErrors(nul_errors));
    }
    let mut fields = Map::new();
    let mut cleared = Vec::new();
    for (key, value) in object {
        if !known.contains(&key) {
            continue;
        }
        if value.is_null() {
            cleared.push(key);
        } else {
            fields.insert(key, value);
        }
    }
    Ok((fields, cleared))
}

/// Escapes a key for use as a JSON pointer segment.
fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Text may not contain U+0000: no database stores it faithfully, so it is refused at the
/// edge instead of being stored on one backend and failing on another.
fn find_nul_characters(value: &Value, pointer: &str, errors: &mut Vec<FieldError>) {
    const MESSAGE: &str = "text must not contain the NUL character (U+0000)";
    match value {
        Value::String(text) if text.contains('\0') => {
            errors.push(FieldError::invalid(pointer, MESSAGE));
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                find_nul_characters(item, &format!("{pointer}/{i}"), errors);
            }
        }
        Value::Object(object) => {
            for (key, item) in object {
                let child = format!("{pointer}/{}", escape_pointer(key));
                if key.contains('\0') {
                    errors.push(FieldError::invalid(child.clone(), MESSAGE));
                }
                find_nul_characters(item, &child, errors);
            }
        }
        _ => {}
    }
}

fn take_tags(fields: &mut Map<String, Value>) -> Result<Option<Vec<String>>, ValidationErrors> {
    let Some(Value::Array(values)) = fields.remove("tags") else {
        return Ok(None);
    };
    if values.len() > MAX_TAGS {
        return Err(FieldError::invalid("/tags", format!("at most {MAX_TAGS} tags")).into());
    }
    let mut seen = HashSet::new();
    let mut tags = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let tag = normalize_tag(value.as_str().unwrap_or_default(), &format!("/tags/{i}"))?;
        if seen.insert(tag.clone()) {
            tags.push(tag);
        }
    }
    Ok(Some(tags))
}

/// Drops repeated ids from `tool_ids`, keeping the first of each.
fn dedup_tool_ids(fields: &mut Map<String, Value>) {
    if let Some(Value::Array(ids)) = fields.get_mut("tool_ids") {
        let mut seen = HashSet::new();
        ids.retain(|id| seen.insert(id.as_str().unwrap_or_default().to_owned()));
    }
}

/// Rules the schema cannot express.
fn check_rules(fields: &Map<String, Value>) -> Result<(), ValidationErrors> {
    let mut errors = Vec::new();
    if let Some(Value::Array(tools)) = fields.get("tools") {
        let mut seen: HashSet<&str> = HashSet::new();
        for (i, tool) in tools.iter().enumerate() {
            let tool_type = tool.get("type").and_then(Value::as_str).unwrap_or_default();
            if !MULTI_INSTANCE_TOOL_TYPES.contains(&tool_type) && !seen.insert(tool_type) {
                errors.push(FieldError::duplicate(
                    format!("/tools/{i}"),
                    format!("an assistant can hold only one `{tool_type}` tool"),
                ));
            }
        }
    }
    if let Some(Value::Array(ids)) = fields.get("tool_ids") {
        // Whether each names a shared tool of the organization is the server's check.
        for (i, id) in ids.iter().enumerate() {
            if id.as_str().is_some_and(|id| id.trim().is_empty()) {
                errors.push(FieldError::invalid(
                    format!("/tool_ids/{i}"),
                    "a shared tool id must not be empty",
                ));
            }
        }
    }
    if let Some(flow) = fields.get("conversation_flow") {
        check_flow(flow, &mut errors);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors(errors))
    }
}

/// Save-time checks of a conversation flow: unique ids, and every referenced node exists.
fn check_flow(flow: &Value, errors: &mut Vec<FieldError>) {
    let mut nodes = HashSet::new();
    for (i, node) in flow
        .get("nodes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let id = node.get("id").and_then(Value::as_str).unwrap_or_default();
        if !nodes.insert(id) {
            errors.push(FieldError::invalid(
                format!("/conversation_flow/nodes/{i}/id"),
                format!("node id {id:?} is used twice"),
            ));
        }
    }
    let start = flow
        .get("start_node_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !nodes.contains(start) {
        errors.push(FieldError::invalid(
            "/conversation_flow/start_node_id",
            format!("start node {start:?} is not a node of the flow"),
        ));
    }
    let mut edges = HashSet::new();
    for (i, edge) in flow
        .get("edges")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let id = edge.get("id").and_then(Value::as_str).unwrap_or_default();
        if !edges.insert(id) {
            errors.push(FieldError::invalid(
                format!("/conversation_flow/edges/{i}/id"),
                format!("edge id {id:?} is used twice"),
            ));
        }
        let from = edge
            .get("start_node_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !nodes.contains(from) {
            errors.push(FieldError::invalid(
                format!("/conversation_flow/edges/{i}/start_node_id"),
                format!("edge starts at unknown node {from:?}"),
            ));
        }
        let target = edge.get("target");
        if target.and_then(|t| t.get("type")).and_then(Value::as_str) == Some("node") {
            let to = target
                .and_then(|t| t.get("node_id"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !nodes.contains(to) {
                errors.push(FieldError::invalid(
                    format!("/conversation_flow/edges/{i}/target/node_id"),
                    format!("edge leads to unknown node {to:?}"),
                ));
            }
        }
    }
}

/// TeXML that connects a call to assistant `id`. Everything interpolated is XML-escaped.
pub fn texml(id: &str) -> String {
    let mut escaped = String::with_capacity(id.len());
    for c in id.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            c => escaped.push(c),
        }
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Connect><AIAssistant id=\"{escaped}\"/></Connect></Response>"
    )
}

/// Everything needed to render one assistant object.
#[derive(Debug, Clone, Copy)]
pub struct AssistantView<'a> {
    /// The assistant's id.
    pub id: &'a str,
    /// When the assistant was created.
    pub created_at: &'a DateTime<Utc>,
    /// Tags of the head.
    pub tags: &'a [String],
    /// Where the assistant was imported from, if it was.
    pub import_metadata: Option<&'a Value>,
    /// The version shown.
    pub version_id: &'a str,
    /// Its name.
    pub version_name: &'a str,
    /// When it was written.
    pub version_created_at: &'a DateTime<Utc>,
    /// Its configuration.
    pub config: &'a AssistantConfig,
    /// When the assistant was soft-deleted, for the deleted views.
    pub deleted_at: Option<&'a DateTime<Utc>>,
}

/// How long a soft-deleted assistant can be restored.
pub const RESTORE_WINDOW_DAYS: i64 = 30;

/// Renders the wire object (`InferenceEmbedding`, plus `deleted_at`/`permanently_deleted_at`
/// for a deleted assistant). Server-filled fields are always present; contract defaults fill
/// fields the configuration leaves out; inline tools carry `shared: false`. `tool_ids` is
/// request-only and not rendered: the caller appends the shared tools it names to `tools`
/// (see [`crate::shared_tools::SharedToolConfig::as_assistant_tool`]).
pub fn render(view: AssistantView<'_>, default_model: &str) -> Value {
    let config = view.config.as_map();
    let mut out = Map::with_capacity(config.len() + 12);
    out.insert("id".into(), Value::String(view.id.to_owned()));
    out.insert(
        "name".into(),
        config.get("name").cloned().unwrap_or_default(),
    );
    out.insert(
        "created_at".into(),
        Value::String(format_timestamp(view.created_at)),
    );
    for (key, value) in config {
        if key == "tools" {
            out.insert(key.clone(), render_tools(value));
        } else if key != "name" && key != "tool_ids" {
            out.insert(key.clone(), value.clone());
        }
    }
    out.entry("model")
        .or_insert_with(|| Value::String(default_model.to_owned()));
    out.entry("tools")
        .or_insert_with(|| Value::Array(Vec::new()));
    out.entry("dynamic_variables_webhook_timeout_ms")
        .or_insert_with(|| Value::from(1500));
    for list in ["integrations", "mcp_servers", "related_mission_ids"] {
        out.entry(list).or_insert_with(|| Value::Array(Vec::new()));
    }
    out.insert(
        "tags".into(),
        Value::Array(view.tags.iter().cloned().map(Value::String).collect()),
    );
    if let Some(meta) = view.import_metadata {
        out.insert("import_metadata".into(), meta.clone());
    }
    out.insert(
        "version_id".into(),
        Value::String(view.version_id.to_owned()),
    );
    out.insert(
        "version_name".into(),
        Value::String(view.version_name.to_owned()),
    );
    out.insert(
        "version_created_at".into(),
        Value::String(format_timestamp(view.version_created_at)),
    );
    if let Some(deleted_at) = view.deleted_at {
        let purge_at = *deleted_at + chrono::Duration::days(RESTORE_WINDOW_DAYS);
        out.insert(
            "deleted_at".into(),
            Value::String(format_timestamp(deleted_at)),
        );
        out.insert(
            "permanently_deleted_at".into(),
            Value::String(format_timestamp(&purge_at)),
        );
    }
    Value::Object(out)
}

fn render_tools(tools: &Value) -> Value {
    let Value::Array(tools) = tools else {
        return tools.clone();
    };
    Value::Array(
        tools
            .iter()
            .map(|tool| {
                let mut tool = tool.clone();
                if let Value::Object(object) = &mut tool {
                    object.entry("shared").or_insert(Value::Bool(false));
                }
                tool
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_drops_unknown_fields_keeps_known_ones_and_fills_the_model() {
        let new = parse_create(
            json!({"name": "a", "instructions": "b", "id": "x", "bogus": 1, "greeting": "hi", "tags": [" t ", "t", "u"]}),
            "local/model",
        )
        .unwrap();
        let doc = new.config.as_map();
        assert_eq!(doc.get("greeting"), Some(&json!("hi")));
        assert_eq!(doc.get("model"), Some(&json!("local/model")));
        assert!(!doc.contains_key("id") && !doc.contains_key("bogus") && !doc.contains_key("tags"));
        assert_eq!(new.tags, vec!["t", "u"]);
    }

    #[test]
    fn a_second_single_instance_tool_is_a_duplicate() {
        let err = parse_create(
            json!({"name": "a", "instructions": "b", "tools": [
                {"type": "hangup", "hangup": {}},
                {"type": "webhook", "webhook": {"name": "w", "description": "d", "url": "https://e.com"}},
                {"type": "webhook", "webhook": {"name": "v", "description": "d", "url": "https://e.com"}},
                {"type": "hangup", "hangup": {"description": "again"}}
            ]}),
            "m",
        )
        .unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert_eq!(err.0[0].pointer, "/tools/3");
        assert_eq!(err.0[0].kind, crate::FieldErrorKind::Duplicate);
    }

    #[test]
    fn update_replaces_sent_fields_clears_nulls_and_keeps_the_rest() {
        let current = parse_create(
            json!({"name": "a", "instructions": "b", "greeting": "hi", "description": "d"}),
            "m",
        )
        .unwrap()
        .config;
        let update = parse_update(
            json!({"greeting": "hello", "description": null, "promote_to_main": false}),
        )
        .unwrap();
        assert!(!update.promote_to_main);
        let next = update.apply(&current);
        assert_eq!(next.as_map().get("greeting"), Some(&json!("hello")));
        assert_eq!(next.as_map().get("instructions"), Some(&json!("b")));
        assert!(!next.as_map().contains_key("description"));
    }

    #[test]
    fn update_cannot_clear_required_fields_or_take_a_long_version_name() {
        assert_eq!(
            parse_update(json!({"name": null})).unwrap_err().0[0].pointer,
            "/name"
        );
        let long = "x".repeat(51);
        assert_eq!(
            parse_update(json!({"version_name": long})).unwrap_err().0[0].pointer,
            "/version_name"
        );
        assert!(parse_update(json!({})).unwrap().changes_nothing());
    }

    #[test]
    fn nul_characters_are_refused_where_they_are() {
        let err = parse_create(
            json!({"name": "a", "instructions": "b\u{0}c", "dynamic_variables": {"k\u{0}": "v"}}),
            "m",
        )
        .unwrap_err();
        let pointers: Vec<&str> = err.0.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, vec!["/instructions", "/dynamic_variables/k\u{0}"]);
        assert!(normalize_tag("a\u{0}b", "/tag").is_err());
    }

    #[test]
    fn texml_escapes_the_id() {
        assert_eq!(
            texml("a\"<&>'b"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Connect><AIAssistant id=\"a&quot;&lt;&amp;&gt;&apos;b\"/></Connect></Response>"
        );
    }

    #[test]
    fn references_are_found_with_their_pointers() {
        let fields = parse_create(
            json!({"name": "a", "instructions": "b", "llm_api_key_ref": "k1",
                   "external_llm": {"base_url": "https://x", "model": "m", "certificate_ref": "c1"},
                   "observability_settings": {"public_key_ref": "p", "secret_key_ref": "s"},
                   "mcp_servers": [{"id": "mcp-1"}], "integrations": [{"integration_id": "hubspot"}]}),
            "m",
        )
        .unwrap()
        .config
        .into_map();
        let mut refs = secret_refs(&fields);
        refs.sort();
        assert_eq!(
            refs,
            vec![
                ("/external_llm/certificate_ref".to_owned(), "c1".to_owned()),
                ("/llm_api_key_ref".to_owned(), "k1".to_owned()),
                (
                    "/observability_settings/public_key_ref".to_owned(),
                    "p".to_owned()
                ),
                (
                    "/observability_settings/secret_key_ref".to_owned(),
                    "s".to_owned()
                ),
            ]
        );
        assert_eq!(
            mcp_server_refs(&fields),
            vec![("/mcp_servers/0/id".to_owned(), "mcp-1".to_owned())]
        );
        assert_eq!(
            integration_refs(&fields),
            vec![(
                "/integrations/0/integration_id".to_owned(),
                "hubspot".to_owned()
            )]
        );
    }

    #[test]
    fn null_tags_clear_the_tags() {
        assert_eq!(
            parse_update(json!({"tags": null})).unwrap().tags,
            Some(vec![])
        );
        assert_eq!(parse_update(json!({})).unwrap().tags, None);
    }

    #[test]
    fn clone_drops_telephony_and_messaging_and_renames() {
        let config = parse_create(
            json!({"name": "a", "instructions": "b", "telephony_settings": {"time_limit_secs": 60}, "messaging_settings": {}}),
            "m",
        )
        .unwrap()
        .config
        .for_clone();
        assert_eq!(config.name(), "a (Clone)");
        assert!(!config.as_map().contains_key("telephony_settings"));
        assert!(!config.as_map().contains_key("messaging_settings"));
    }

    #[test]
    fn flow_with_dangling_edge_is_refused() {
        let err = parse_create(
            json!({"name": "a", "instructions": "b", "conversation_flow": {
                "start_node_id": "n1",
                "nodes": [{"id": "n1", "instructions": "x"}],
                "edges": [{"id": "e1", "start_node_id": "n1", "condition": {"type": "default"}, "target": {"type": "node", "node_id": "n9"}}]
            }}),
            "m",
        )
        .unwrap_err();
        assert_eq!(
            err.0[0].pointer,
            "/conversation_flow/edges/0/target/node_id"
        );
    }

    #[test]
    fn references_come_from_handoff_tools_and_flow_edges() {
        let config = parse_create(
            json!({"name": "a", "instructions": "b",
                "tools": [{"type": "handoff", "handoff": {"ai_assistants": [{"id": "assistant-1", "name": "one"}]}}],
                "conversation_flow": {"start_node_id": "n1", "nodes": [{"id": "n1", "instructions": "x"}],
                    "edges": [{"id": "e", "start_node_id": "n1", "condition": {"type": "llm", "prompt": "p"}, "target": {"type": "assistant", "assistant_id": "assistant-2"}}]}}),
            "m",
        )
        .unwrap()
        .config;
        let ids: Vec<String> = config.referenced_assistants().into_iter().collect();
        assert_eq!(ids, vec!["assistant-1", "assistant-2"]);
    }
}
