//! Shared tools (the Tools Library, `/ai/tools`): what a create or `PATCH` body becomes, how
//! an update applies, the wire object, and how shared tools join an assistant's `tools`.
//!
//! A shared tool is one tool of any type the contract knows (`webhook`, `function`, …), kept
//! once per organization and attached to assistants by id (`tool_ids`). The create body is
//! `{display_name*, type*, <type>: {config}, timeout_ms?}` — the configuration sits under a
//! key named like the type, exactly as in an assistant's inline `tools`, and is validated by
//! the same per-type schema. A missing configuration key counts as `{}` (types such as
//! `hangup` need nothing), so the schema names what is missing.
//!
//! An assistant stores the ids, never copies: its rendered `tools` and the conversation
//! engine read the current definition, so editing a shared tool changes it for every
//! assistant using it. Merged into an assistant's `tools`, a shared tool is
//! `{type, <type>: {config}, timeout_ms?, shared: true, id}` (inline tools carry
//! `shared: false` and no `id`).
//!
//! `type` cannot change after creation: a `PATCH` may repeat it but not alter it (a new type
//! could collide with a single-instance tool of an assistant the tool is attached to; create
//! a new tool instead). A `PATCH` that sends the configuration key replaces the whole
//! configuration.

use crate::assistant::MULTI_INSTANCE_TOOL_TYPES;
use crate::clock::format_timestamp;
use crate::schema::contract;
use crate::validation::{FieldError, ValidationErrors};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::collections::HashSet;

/// Prefix of shared tool ids (`tool-<uuid>`).
pub const ID_PREFIX: &str = "tool-";
/// Longest `display_name`, in characters.
pub const MAX_DISPLAY_NAME_LEN: usize = 255;
/// Largest tool-level `timeout_ms` accepted (one hour; webhook calls clamp it further).
pub const MAX_TIMEOUT_MS: u64 = 3_600_000;

/// A tool's configuration as sent: the key it was under (its type) and the object.
pub type KeyedConfig = (String, Map<String, Value>);

/// A new shared tool id: `tool-` and a random UUID.
pub fn generate_id() -> String {
    format!("{ID_PREFIX}{}", uuid::Uuid::new_v4())
}

/// The configurable fields of a shared tool, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedToolConfig {
    /// Its display name (trimmed, not empty).
    pub display_name: String,
    /// Its tool `type` (one the contract knows).
    pub tool_type: String,
    /// The configuration object under the type's key (`{"name", "url", …}` of a webhook).
    pub definition: Map<String, Value>,
    /// Tool-level timeout in milliseconds, beside `type` in the tool.
    pub timeout_ms: Option<u64>,
}

impl SharedToolConfig {
    /// The tool as an assistant's `tools` holds it: `{type, <type>: {config}, timeout_ms?}`.
    pub fn tool_definition(&self) -> Value {
        let mut tool = Map::with_capacity(3);
        tool.insert("type".into(), Value::String(self.tool_type.clone()));
        tool.insert(
            self.tool_type.clone(),
            Value::Object(self.definition.clone()),
        );
        if let Some(timeout) = self.timeout_ms {
            tool.insert("timeout_ms".into(), Value::from(timeout));
        }
        Value::Object(tool)
    }

    /// The tool merged into an assistant's `tools`: [`Self::tool_definition`] plus
    /// `shared: true` and the tool's `id`.
    pub fn as_assistant_tool(&self, id: &str) -> Value {
        let mut tool = self.tool_definition();
        if let Value::Object(object) = &mut tool {
            object.insert("shared".into(), Value::Bool(true));
            object.insert("id".into(), Value::String(id.to_owned()));
        }
        tool
    }

    /// Whether an assistant may hold at most one tool of this type.
    pub fn is_single_instance(&self) -> bool {
        !MULTI_INSTANCE_TOOL_TYPES.contains(&self.tool_type.as_str())
    }
}

/// A partial update (`PATCH`): `None` leaves a field alone; `timeout_ms: Some(None)` clears.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SharedToolUpdate {
    /// New display name.
    pub display_name: Option<String>,
    /// `type` as sent; it must equal the stored type.
    pub tool_type: Option<String>,
    /// A new configuration: the key it was sent under and the object.
    pub definition: Option<KeyedConfig>,
    /// New tool-level timeout, or `Some(None)` to drop it.
    pub timeout_ms: Option<Option<u64>>,
}

impl SharedToolUpdate {
    /// `current` with this update applied, validated as a whole. Fails when `type` or the
    /// configuration key names another type than the stored one, or when the new
    /// configuration breaks the type's schema.
    pub fn apply(&self, current: &SharedToolConfig) -> Result<SharedToolConfig, ValidationErrors> {
        let mut errors = Vec::new();
        if let Some(tool_type) = &self.tool_type {
            if *tool_type != current.tool_type {
                errors.push(FieldError::invalid(
                    "/type",
                    format!(
                        "the type of a shared tool cannot change (it is `{}`); create a new tool instead",
                        current.tool_type
                    ),
                ));
            }
        }
        let mut definition = current.definition.clone();
        if let Some((key, object)) = &self.definition {
            if *key == current.tool_type {
                definition = object.clone();
            } else if self.tool_type.is_none() {
                errors.push(FieldError::invalid(
                    format!("/{key}"),
                    format!(
                        "this is a `{0}` tool: send its configuration under `{0}`",
                        current.tool_type
                    ),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(ValidationErrors(errors));
        }
        let config = SharedToolConfig {
            display_name: self
                .display_name
                .clone()
                .unwrap_or_else(|| current.display_name.clone()),
            tool_type: current.tool_type.clone(),
            definition,
            timeout_ms: self.timeout_ms.unwrap_or(current.timeout_ms),
        };
        let mut errors = Vec::new();
        contract().validate_tool("", &config.tool_definition_for_validation(), &mut errors);
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(ValidationErrors(errors))
        }
    }
}

impl SharedToolConfig {
    /// `{type, <type>: {config}}`, what the per-type schema validates (`timeout_ms` is
    /// checked apart: only the webhook schema declares it, any type may carry it here).
    fn tool_definition_for_validation(&self) -> Value {
        json!({ "type": self.tool_type, self.tool_type.clone(): self.definition })
    }
}

/// Parses and validates a create body. Unknown fields (`id`, `created_at`,
/// `tool_definition`, …) are ignored.
pub fn parse_create(body: &Value) -> Result<SharedToolConfig, ValidationErrors> {
    let object = as_object(body)?;
    let mut errors = Vec::new();
    find_nul(body, "", &mut errors);
    if !errors.is_empty() {
        return Err(ValidationErrors(errors));
    }
    let display_name = match object.get("display_name") {
        None | Some(Value::Null) => {
            errors.push(FieldError::invalid(
                "/display_name",
                "`display_name` is required",
            ));
            None
        }
        Some(value) => push_err(check_display_name(value), &mut errors),
    };
    let tool_type = match object.get("type") {
        None | Some(Value::Null) => {
            errors.push(FieldError::invalid("/type", "`type` is required"));
            None
        }
        Some(value) => push_err(check_type(value), &mut errors),
    };
    let timeout_ms = match object.get("timeout_ms") {
        None | Some(Value::Null) => None,
        Some(value) => push_err(check_timeout(value), &mut errors),
    };
    let definition = push_err(config_key(object), &mut errors);
    let (Some(display_name), Some(tool_type)) = (display_name, tool_type) else {
        return Err(ValidationErrors(errors));
    };
    let definition = match definition.flatten() {
        Some((key, _)) if key != tool_type => {
            errors.push(FieldError::invalid(
                format!("/{key}"),
                format!("`type` is `{tool_type}`: send the configuration under `{tool_type}`, not `{key}`"),
            ));
            Map::new()
        }
        Some((_, definition)) => definition,
        None => Map::new(),
    };
    if !errors.is_empty() {
        return Err(ValidationErrors(errors));
    }
    let config = SharedToolConfig {
        display_name,
        tool_type,
        definition,
        timeout_ms,
    };
    contract().validate_tool("", &config.tool_definition_for_validation(), &mut errors);
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(ValidationErrors(errors))
    }
}

/// Parses a `PATCH` body: every field optional; `display_name` and `type` cannot be cleared,
/// `timeout_ms: null` clears the timeout. Whether `type` and the configuration fit the
/// stored tool is checked by [`SharedToolUpdate::apply`].
pub fn parse_update(body: &Value) -> Result<SharedToolUpdate, ValidationErrors> {
    let object = as_object(body)?;
    let mut errors = Vec::new();
    find_nul(body, "", &mut errors);
    if !errors.is_empty() {
        return Err(ValidationErrors(errors));
    }
    let mut not_null = |field: &str| match object.get(field) {
        Some(Value::Null) => {
            errors.push(FieldError::invalid(
                format!("/{field}"),
                format!("`{field}` cannot be cleared"),
            ));
            None
        }
        other => other,
    };
    let display_name = not_null("display_name");
    let tool_type = not_null("type");
    let display_name = display_name.and_then(|v| push_err(check_display_name(v), &mut errors));
    let tool_type = tool_type.and_then(|v| push_err(check_type(v), &mut errors));
    let timeout_ms = match object.get("timeout_ms") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(value) => push_err(check_timeout(value), &mut errors).map(Some),
    };
    let definition = push_err(config_key(object), &mut errors).flatten();
    if let (Some(tool_type), Some((key, _))) = (&tool_type, &definition) {
        if key != tool_type {
            errors.push(FieldError::invalid(
                format!("/{key}"),
                format!("`type` is `{tool_type}`: send the configuration under `{tool_type}`, not `{key}`"),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ValidationErrors(errors));
    }
    Ok(SharedToolUpdate {
        display_name,
        tool_type,
        definition,
        timeout_ms,
    })
}

/// The wire object `SharedToolResponse`: `{id, type, display_name, tool_definition,
/// timeout_ms?, created_at}`.
pub fn render(id: &str, created_at: &DateTime<Utc>, config: &SharedToolConfig) -> Value {
    let mut object = json!({
        "id": id,
        "type": config.tool_type,
        "display_name": config.display_name,
        "tool_definition": config.tool_definition(),
        "created_at": format_timestamp(created_at),
    });
    if let Some(timeout) = config.timeout_ms {
        object["timeout_ms"] = json!(timeout);
    }
    object
}

/// Checks that an assistant holds at most one tool of each single-instance type, counting
/// its inline `tools` (as stored) and its shared tools (`(position in tool_ids, type)`).
/// A shared tool that repeats a type already held is reported at `/tool_ids/N`; a repeated
/// inline tool at `/tools/N`. Errors are [`crate::FieldErrorKind::Duplicate`].
pub fn check_tool_set(
    inline: Option<&Value>,
    shared: &[(usize, &str)],
) -> Result<(), ValidationErrors> {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut errors = Vec::new();
    for (i, tool) in inline
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let tool_type = tool.get("type").and_then(Value::as_str).unwrap_or_default();
        if !MULTI_INSTANCE_TOOL_TYPES.contains(&tool_type) && !seen.insert(tool_type) {
            errors.push(FieldError::duplicate(
                format!("/tools/{i}"),
                format!("an assistant can hold only one `{tool_type}` tool"),
            ));
        }
    }
    for (i, tool_type) in shared {
        if !MULTI_INSTANCE_TOOL_TYPES.contains(tool_type) && !seen.insert(tool_type) {
            errors.push(FieldError::duplicate(
                format!("/tool_ids/{i}"),
                format!(
                    "an assistant can hold only one `{tool_type}` tool, counting inline `tools` and shared tools"
                ),
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors(errors))
    }
}

fn as_object(body: &Value) -> Result<&Map<String, Value>, ValidationErrors> {
    body.as_object()
        .ok_or_else(|| FieldError::invalid("", "the request body must be a JSON object").into())
}

fn push_err<T>(result: Result<T, FieldError>, errors: &mut Vec<FieldError>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(error) => {
            errors.push(error);
            None
        }
    }
}

fn check_display_name(value: &Value) -> Result<String, FieldError> {
    let Value::String(name) = value else {
        return Err(FieldError::invalid(
            "/display_name",
            "`display_name` must be a string",
        ));
    };
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_DISPLAY_NAME_LEN {
        return Err(FieldError::invalid(
            "/display_name",
            format!("`display_name` must be 1 to {MAX_DISPLAY_NAME_LEN} characters"),
        ));
    }
    Ok(name.to_owned())
}

fn check_type(value: &Value) -> Result<String, FieldError> {
    let known: Vec<&str> = contract().tool_types().collect();
    match value {
        Value::String(tool_type) if known.contains(&tool_type.as_str()) => Ok(tool_type.clone()),
        Value::String(tool_type) => Err(FieldError::invalid(
            "/type",
            format!(
                "unknown tool type {tool_type:?}; expected one of {}",
                known.join(", ")
            ),
        )),
        _ => Err(FieldError::invalid("/type", "`type` must be a string")),
    }
}

fn check_timeout(value: &Value) -> Result<u64, FieldError> {
    match value.as_u64() {
        Some(ms) if (1..=MAX_TIMEOUT_MS).contains(&ms) => Ok(ms),
        _ => Err(FieldError::invalid(
            "/timeout_ms",
            format!("`timeout_ms` must be a whole number from 1 to {MAX_TIMEOUT_MS}"),
        )),
    }
}

/// The configuration key of a body: the one non-null key named like a known tool type, with
/// its object. `Ok(None)` when there is none; an error when there are several or it is not
/// an object.
fn config_key(object: &Map<String, Value>) -> Result<Option<KeyedConfig>, FieldError> {
    let mut found: Option<KeyedConfig> = None;
    for tool_type in contract().tool_types() {
        match object.get(tool_type) {
            None | Some(Value::Null) => {}
            Some(Value::Object(config)) => {
                if let Some((first, _)) = &found {
                    return Err(FieldError::invalid(
                        format!("/{tool_type}"),
                        format!("a shared tool has one configuration; `{first}` was sent too"),
                    ));
                }
                found = Some((tool_type.to_owned(), config.clone()));
            }
            Some(_) => {
                return Err(FieldError::invalid(
                    format!("/{tool_type}"),
                    format!("`{tool_type}` must be an object"),
                ))
            }
        }
    }
    Ok(found)
}

/// Text may not contain U+0000 (see [`crate::assistant`]).
fn find_nul(value: &Value, pointer: &str, errors: &mut Vec<FieldError>) {
    const MESSAGE: &str = "text must not contain the NUL character (U+0000)";
    match value {
        Value::String(text) if text.contains('\0') => {
            errors.push(FieldError::invalid(pointer, MESSAGE));
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                find_nul(item, &format!("{pointer}/{i}"), errors);
            }
        }
        Value::Object(object) => {
            for (key, item) in object {
                let child = format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
                if key.contains('\0') {
                    errors.push(FieldError::invalid(child.clone(), MESSAGE));
                }
                find_nul(item, &child, errors);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FieldErrorKind;

    fn webhook() -> Value {
        json!({"display_name": " Weather ", "type": "webhook", "timeout_ms": 4000,
               "webhook": {"name": "weather", "description": "Looks up the weather", "url": "https://api.example.com/w"},
               "id": "ignored"})
    }

    #[test]
    fn create_keeps_the_config_under_the_type_key() {
        let config = parse_create(&webhook()).unwrap();
        assert_eq!(config.display_name, "Weather");
        assert_eq!(config.tool_type, "webhook");
        assert_eq!(config.timeout_ms, Some(4000));
        assert_eq!(
            config.tool_definition(),
            json!({"type": "webhook", "timeout_ms": 4000,
                   "webhook": {"name": "weather", "description": "Looks up the weather", "url": "https://api.example.com/w"}})
        );
        let merged = config.as_assistant_tool("tool-1");
        assert_eq!(merged["shared"], json!(true));
        assert_eq!(merged["id"], json!("tool-1"));
        let wire = render("tool-1", &Utc::now(), &config);
        assert_eq!(wire["tool_definition"], config.tool_definition());
        assert_eq!(wire["display_name"], "Weather");
    }

    #[test]
    fn a_missing_config_is_empty_and_the_schema_says_what_is_missing() {
        let hangup = parse_create(&json!({"display_name": "Bye", "type": "hangup"})).unwrap();
        assert_eq!(hangup.definition, Map::new());
        assert!(hangup.is_single_instance());
        let err = parse_create(&json!({"display_name": "W", "type": "webhook"})).unwrap_err();
        let pointers: Vec<&str> = err.0.iter().map(|e| e.pointer.as_str()).collect();
        assert!(pointers.contains(&"/webhook/url"), "{pointers:?}");
    }

    #[test]
    fn create_errors_point_at_the_field() {
        let cases = [
            (json!({"type": "hangup"}), "/display_name"),
            (
                json!({"display_name": " ", "type": "hangup"}),
                "/display_name",
            ),
            (json!({"display_name": "x"}), "/type"),
            (json!({"display_name": "x", "type": "teleport"}), "/type"),
            (
                json!({"display_name": "x", "type": "hangup", "function": {"name": "f"}}),
                "/function",
            ),
            (
                json!({"display_name": "x", "type": "hangup", "timeout_ms": 0}),
                "/timeout_ms",
            ),
            (
                json!({"display_name": "x", "type": "webhook", "webhook": {"name": "n", "description": "d", "url": "https://x", "method": "FETCH"}}),
                "/webhook/method",
            ),
            (
                json!({"display_name": "x\u{0}", "type": "hangup"}),
                "/display_name",
            ),
        ];
        for (body, pointer) in cases {
            let err = parse_create(&body).unwrap_err();
            assert_eq!(err.0[0].pointer, pointer, "{body}: {err}");
        }
    }

    #[test]
    fn update_replaces_sent_fields_and_keeps_the_type() {
        let current = parse_create(&webhook()).unwrap();
        let update =
            parse_update(&json!({"display_name": "Forecast", "timeout_ms": null})).unwrap();
        let next = update.apply(&current).unwrap();
        assert_eq!(next.display_name, "Forecast");
        assert_eq!(next.timeout_ms, None);
        assert_eq!(next.definition, current.definition);

        let update = parse_update(&json!({"type": "webhook", "webhook": {"name": "n", "description": "d", "url": "https://new.example"}})).unwrap();
        let next = update.apply(&current).unwrap();
        assert_eq!(next.definition["url"], json!("https://new.example"));
        assert!(
            !next.definition.contains_key("async"),
            "the config is replaced whole"
        );

        let err = parse_update(&json!({"type": "hangup"}))
            .unwrap()
            .apply(&current)
            .unwrap_err();
        assert_eq!(err.0[0].pointer, "/type");
        let err = parse_update(&json!({"function": {"name": "f"}}))
            .unwrap()
            .apply(&current)
            .unwrap_err();
        assert_eq!(err.0[0].pointer, "/function");
        let err = parse_update(&json!({"webhook": {"name": "n"}}))
            .unwrap()
            .apply(&current)
            .unwrap_err();
        assert!(err.0.iter().any(|e| e.pointer == "/webhook/url"), "{err}");
        assert_eq!(
            parse_update(&json!({"display_name": null})).unwrap_err().0[0].pointer,
            "/display_name"
        );
    }

    #[test]
    fn assistants_keep_tool_ids_deduplicated_and_do_not_render_them() {
        use crate::assistant::{parse_create, parse_update, render, AssistantView};
        let config = parse_create(
            json!({"name": "a", "instructions": "b", "tool_ids": ["tool-1", "tool-2", "tool-1"]}),
            "m",
        )
        .unwrap()
        .config;
        assert_eq!(config.tool_ids(), vec!["tool-1", "tool-2"]);
        let now = Utc::now();
        let rendered = render(
            AssistantView {
                id: "assistant-1",
                created_at: &now,
                tags: &[],
                import_metadata: None,
                version_id: "v",
                version_name: "n",
                version_created_at: &now,
                config: &config,
                deleted_at: None,
            },
            "m",
        );
        assert!(rendered.get("tool_ids").is_none());
        assert_eq!(rendered["tools"], json!([]));
        let cleared = parse_update(json!({"tool_ids": null}))
            .unwrap()
            .apply(&config);
        assert!(cleared.tool_ids().is_empty());
        let replaced = parse_update(json!({"tool_ids": ["tool-3"]}))
            .unwrap()
            .apply(&config);
        assert_eq!(replaced.tool_ids(), vec!["tool-3"]);
        let kept = parse_update(json!({"greeting": "hi"}))
            .unwrap()
            .apply(&config);
        assert_eq!(kept.tool_ids(), vec!["tool-1", "tool-2"]);
        let attach = crate::assistant::AssistantUpdate::with_tool_ids(vec!["tool-9".into()]);
        assert!(attach.promote_to_main);
        assert_eq!(attach.apply(&config).tool_ids(), vec!["tool-9"]);
    }

    #[test]
    fn single_instance_types_are_counted_across_inline_and_shared() {
        let inline = json!([{"type": "hangup", "hangup": {}}, {"type": "webhook", "webhook": {}}]);
        assert!(check_tool_set(Some(&inline), &[(0, "webhook"), (1, "transfer")]).is_ok());
        let err = check_tool_set(Some(&inline), &[(0, "webhook"), (1, "hangup")]).unwrap_err();
        assert_eq!(err.0[0].pointer, "/tool_ids/1");
        assert_eq!(err.0[0].kind, FieldErrorKind::Duplicate);
        let err = check_tool_set(None, &[(0, "refer"), (1, "refer")]).unwrap_err();
        assert_eq!(err.0[0].pointer, "/tool_ids/1");
    }
}
