//! Tools outside an assistant's document: shared tools (`/ai/tools`, the Tools Library, which
//! assistants attach by id) and the tool test endpoint
//! (`POST /ai/assistants/{assistant_id}/tools/{tool_id}/test`).
//!
//! A tool's configuration sits under its type's key, as in an assistant's `tools`:
//! `{"type": "webhook", "webhook": {...}}`. The create and update bodies carry that key in
//! `extra`; [`SharedToolCreateParams::new`] puts it there.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A shared tool (`SharedToolResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SharedTool {
    /// Its id.
    pub id: String,
    /// The tool type: `webhook`, `function`, `handoff`, ….
    #[serde(rename = "type")]
    pub tool_type: String,
    /// The tool as an assistant's `tools` holds it: `{"type": T, T: {...}}`.
    #[serde(default)]
    pub tool_definition: Map<String, Value>,
    /// Its name in the library.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// How long a call of it may take, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// When it was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Fields this crate does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Body of `POST /ai/tools`: a name, a type and the configuration under the type's key.
///
/// ```
/// use parley_types::tools::SharedToolCreateParams;
/// use serde_json::json;
///
/// let params = SharedToolCreateParams::new(
///     "Order status",
///     "webhook",
///     json!({"name": "order_status", "description": "Looks up an order.",
///            "url": "https://api.example.com/orders"}),
/// );
/// assert_eq!(serde_json::to_value(&params).unwrap()["webhook"]["name"], "order_status");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SharedToolCreateParams {
    /// Its name in the library.
    pub display_name: String,
    /// The tool type.
    #[serde(rename = "type")]
    pub tool_type: String,
    /// How long a call of it may take, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// The configuration under the type's key, and any other field, sent as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl SharedToolCreateParams {
    /// A tool of type `tool_type` with `config` under the `tool_type` key.
    pub fn new(
        display_name: impl Into<String>,
        tool_type: impl Into<String>,
        config: Value,
    ) -> Self {
        let tool_type = tool_type.into();
        let mut extra = Map::new();
        extra.insert(tool_type.clone(), config);
        Self {
            display_name: display_name.into(),
            tool_type,
            timeout_ms: None,
            extra,
        }
    }
}

/// Body of `PATCH /ai/tools/{tool_id}`: unset fields stay as they are; a configuration sent
/// (in `extra`, under the type's key) replaces the old one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SharedToolUpdateParams {
    /// A new name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The tool type (it may be repeated, not changed).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub tool_type: Option<String>,
    /// A new timeout, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// The configuration under the type's key, and any other field, sent as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Query of `GET /ai/tools`: pagination and filters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedToolListParams {
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
    /// Only tools whose display name contains this (case-insensitive).
    #[serde(
        rename = "filter[name]",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    /// Only tools of this type.
    #[serde(
        rename = "filter[type]",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub tool_type: Option<String>,
}

/// Body of `POST /ai/assistants/{assistant_id}/tools/{tool_id}/test` (`ToolTestParams`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolTestParams {
    /// The arguments the model would pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Map<String, Value>>,
    /// Dynamic variables, over the assistant's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_variables: Option<Map<String, Value>>,
    /// Fields sent as they are, after the typed ones.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The outcome of a tool test (`ToolTestResponseData`, inside `{"data": …}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolTestResult {
    /// Whether the webhook answered 2xx.
    pub success: bool,
    /// The webhook's status; none when it did not answer (timeout, refused address, …).
    #[serde(default)]
    pub status_code: Option<u16>,
    /// The answer's content type.
    #[serde(default)]
    pub content_type: Option<String>,
    /// The answer's body, or what happened instead.
    #[serde(default)]
    pub response: String,
    /// The request that was sent: method, URL, headers (secret values as `***`), body.
    #[serde(default)]
    pub request: Map<String, Value>,
    /// Fields this crate does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_bodies_carry_the_config_under_the_type_and_updates_only_what_is_set() {
        let mut params =
            SharedToolCreateParams::new("Hang up", "hangup", json!({"description": "Bye"}));
        params.timeout_ms = Some(5000);
        assert_eq!(
            serde_json::to_value(&params).unwrap(),
            json!({"display_name": "Hang up", "type": "hangup", "timeout_ms": 5000,
                   "hangup": {"description": "Bye"}})
        );
        assert_eq!(
            serde_json::to_value(SharedToolUpdateParams::default()).unwrap(),
            json!({})
        );
    }

    #[test]
    fn tool_test_results_read_failures_without_a_status() {
        let result: ToolTestResult = serde_json::from_value(json!({
            "success": false, "status_code": null, "content_type": null,
            "response": "timed out", "request": {"method": "GET"}, "new": 1
        }))
        .unwrap();
        assert_eq!(result.status_code, None);
        assert_eq!(result.extra["new"], 1);
    }
}
