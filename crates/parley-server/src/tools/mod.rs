//! Tools an assistant can call during a chat turn.
//!
//! [`Toolbox::build`] turns a version's tools (inline and shared), its MCP servers and its
//! integrations into functions the model is offered; [`Toolbox::call`] runs one call. What is
//! offered on text channels (`web_chat`, `sms_chat`):
//!
//! | type | in chat |
//! |---|---|
//! | `webhook` | calls the owner's HTTP API ([`webhook`]) |
//! | `hangup` | ends the conversation: the model may say goodbye, then later chats on it are refused (400) |
//! | `handoff` | the named assistant takes over the rest of the conversation, from this turn on |
//! | `update_dynamic_variables` | writes the declared variables for later prompts and tools |
//! | `retrieval` | searches the `bucket_ids` knowledge bases ([`crate::knowledge::search`]); the `max_num_results` closest chunks come back numbered, with their sources |
//! | MCP servers | the servers' tools, filtered by `allowed_tools`, named `<server>__<tool>` |
//! | integrations | the connected integration's tools, filtered by `allowed_list` |
//!
//! Not offered on text channels: call-control tools (`transfer`, `refer`, `send_dtmf`,
//! `invite`, `pay`, `skip_turn`, `vision`) and tools executed by a client runtime
//! (`function`, `client_side_tool`) — a REST chat has no client to run them. They are listed
//! in the turn's trace (`tools_not_offered`).
//!
//! Arguments are checked against the function's JSON Schema before anything runs; a call with
//! invalid arguments, an unknown function or a failing service becomes a tool result that says
//! so, which the model can act on — never an API error.

pub mod mcp;
pub mod webhook;

use crate::state::AppState;
use parley_core::ids::OrgId;
use parley_llm::{ToolCall, ToolSpec};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Most characters of a failure description shown by the tool test endpoint.
pub const MAX_RESULT_CHARS: usize = 16_000;

/// `name` as an OpenAI function name: letters, digits, `_` and `-` (others become `_`), at
/// most 64 characters, never empty.
pub fn function_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if cleaned.is_empty() {
        "tool".to_owned()
    } else {
        cleaned
    }
}

/// What a tool does when called.
#[derive(Debug, Clone)]
pub enum ToolKind {
    /// An HTTP call (`webhook` tools and integration tools).
    Webhook {
        /// The webhook configuration (`url`, `method`, parameters, presets, headers, …).
        webhook: Map<String, Value>,
        /// Timeout of one call.
        timeout: Duration,
    },
    /// Ends the conversation.
    Hangup,
    /// Hands the conversation to another assistant: `(id, name)` pairs.
    Handoff(Vec<(String, String)>),
    /// Writes these variables.
    UpdateVariables(BTreeSet<String>),
    /// Similarity search over embedded buckets.
    Retrieval {
        /// The buckets searched (names).
        buckets: Vec<String>,
        /// Chunks returned at most.
        max_results: usize,
    },
    /// A tool of an MCP server.
    Mcp {
        /// The server.
        endpoint: mcp::McpEndpoint,
        /// The tool's name on the server.
        tool: String,
    },
}

/// A function offered to the model and what it does.
#[derive(Debug, Clone)]
pub struct OfferedTool {
    /// The function as the model sees it.
    pub spec: ToolSpec,
    /// What happens when it is called.
    pub kind: ToolKind,
}

/// What a call changes beyond its result text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// The conversation ends after this turn.
    End,
    /// This assistant takes over.
    Handoff(String),
}

/// The result of one call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolRun {
    /// What the model reads.
    pub content: String,
    /// Variables to store on the conversation.
    pub variables: BTreeMap<String, String>,
    /// A change of the conversation's course.
    pub effect: Option<Effect>,
    /// Whether the call succeeded (for the trace).
    pub ok: bool,
}

impl ToolRun {
    fn text(content: impl Into<String>, ok: bool) -> Self {
        ToolRun {
            content: content.into(),
            variables: BTreeMap::new(),
            effect: None,
            ok,
        }
    }
}

/// What a call may need from the conversation.
#[derive(Clone)]
pub struct ToolContext {
    /// The application state.
    pub state: AppState,
    /// The organization.
    pub org: OrgId,
    /// The conversation's variables as they are now.
    pub variables: BTreeMap<String, String>,
    /// The conversation (asynchronous webhook results are appended to it).
    pub conversation_id: String,
}

/// The functions of one turn.
#[derive(Debug, Clone, Default)]
pub struct Toolbox {
    tools: Vec<OfferedTool>,
    /// Tools of the version that are not offered on this channel, as `type:name`.
    pub not_offered: Vec<String>,
    /// MCP servers and integrations whose tools could not be had this turn (down, refused,
    /// not connected), as `mcp:<id>` / `integration:<id>`.
    pub unavailable: Vec<String>,
}

impl Toolbox {
    /// Every function of a version: `tools` (inline and shared, from [`resolve_tools`]), then
    /// its integrations' tools, then its MCP servers' tools (listed concurrently; a server
    /// that is down costs its tools for this turn, nothing more).
    pub async fn for_version(
        state: &AppState,
        org: &OrgId,
        tools: &[Value],
        config: &Map<String, Value>,
    ) -> Toolbox {
        let mut toolbox = Toolbox::build(tools);
        toolbox.add_integrations(state, org, config).await;
        toolbox.add_mcp(state, org, config).await;
        toolbox
    }

    async fn add_integrations(
        &mut self,
        state: &AppState,
        org: &OrgId,
        config: &Map<String, Value>,
    ) {
        let Some(Value::Array(wanted)) = config.get("integrations") else {
            return;
        };
        if wanted.is_empty() {
            return;
        }
        let connections = match state.store.list_integration_connections(org).await {
            Ok(connections) => connections,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read integration connections");
                return;
            }
        };
        let catalogue = parley_core::integrations::catalogue();
        for entry in wanted {
            let Some(id) = entry.get("integration_id").and_then(Value::as_str) else {
                continue;
            };
            let (Some(integration), Some(connection)) = (
                catalogue.get(id),
                connections.iter().find(|c| c.config.integration_id == id),
            ) else {
                self.unavailable.push(format!("integration:{id}"));
                continue;
            };
            let assistant_list: Option<Vec<&str>> = entry
                .get("allowed_list")
                .and_then(Value::as_array)
                .map(|l| l.iter().filter_map(Value::as_str).collect());
            let base_url = connection.config.effective_base_url(integration);
            for tool in &integration.tools {
                let by_connection = connection.config.allowed_tools.is_empty()
                    || connection.config.allowed_tools.contains(&tool.name);
                let by_assistant = assistant_list
                    .as_ref()
                    .is_none_or(|list| list.contains(&tool.name.as_str()));
                if !(by_connection && by_assistant) {
                    continue;
                }
                let webhook = integration_webhook(
                    integration,
                    tool,
                    &base_url,
                    &connection.config.api_key_ref,
                );
                self.push(OfferedTool {
                    spec: webhook::function_spec(&webhook),
                    kind: ToolKind::Webhook {
                        webhook,
                        timeout: Duration::from_millis(webhook::DEFAULT_TIMEOUT_MS),
                    },
                });
            }
        }
    }

    async fn add_mcp(&mut self, state: &AppState, org: &OrgId, config: &Map<String, Value>) {
        let Some(Value::Array(servers)) = config.get("mcp_servers") else {
            return;
        };
        let mut endpoints = Vec::new();
        for server in servers {
            let Some(id) = server.get("id").and_then(Value::as_str) else {
                continue;
            };
            match mcp_endpoint(state, org, id).await {
                Some((endpoint, name, allowed)) => endpoints.push((endpoint, name, allowed)),
                None => self.unavailable.push(format!("mcp:{id}")),
            }
        }
        let listed = futures::future::join_all(
            endpoints
                .iter()
                .map(|(endpoint, _, _)| state.mcp.list_tools(endpoint)),
        )
        .await;
        for ((endpoint, name, allowed), listed) in endpoints.into_iter().zip(listed) {
            let tools = match listed {
                Ok(tools) => tools,
                Err(e) => {
                    tracing::warn!(server = %endpoint.id, error = %e, "MCP server unavailable; its tools are not offered this turn");
                    self.unavailable.push(format!("mcp:{}", endpoint.id));
                    continue;
                }
            };
            for tool in tools.iter() {
                if allowed
                    .as_ref()
                    .is_some_and(|list| !list.contains(&tool.name))
                {
                    continue;
                }
                let mut parameters = tool.input_schema.clone();
                if !parameters.is_object() {
                    parameters = json!({"type": "object", "properties": {}});
                }
                self.push(OfferedTool {
                    spec: ToolSpec {
                        name: function_name(&format!("{name}__{}", tool.name)),
                        description: tool.description.clone(),
                        parameters,
                    },
                    kind: ToolKind::Mcp {
                        endpoint: endpoint.clone(),
                        tool: tool.name.clone(),
                    },
                });
            }
        }
    }

    /// The functions for `tools` (the version's inline tools and current shared tools) on a
    /// text channel.
    pub fn build(tools: &[Value]) -> Toolbox {
        let mut toolbox = Toolbox::default();
        for tool in tools {
            let kind = tool.get("type").and_then(Value::as_str).unwrap_or_default();
            let config = tool
                .get(kind)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let text = |key: &str| config.get(key).and_then(Value::as_str).map(str::to_owned);
            match kind {
                "webhook" => toolbox.push(OfferedTool {
                    spec: webhook::function_spec(&config),
                    kind: ToolKind::Webhook {
                        timeout: webhook::timeout_of(tool),
                        webhook: config,
                    },
                }),
                "hangup" => toolbox.push(OfferedTool {
                    spec: ToolSpec {
                        name: "hangup".into(),
                        description: text("description").unwrap_or_else(|| {
                            "End the conversation when the user is done or asks to stop.".into()
                        }),
                        parameters: json!({"type": "object", "properties": {}}),
                    },
                    kind: ToolKind::Hangup,
                }),
                "handoff" => {
                    let targets: Vec<(String, String)> = config
                        .get("ai_assistants")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|a| {
                            Some((
                                a.get("id")?.as_str()?.to_owned(),
                                a.get("name")?.as_str()?.to_owned(),
                            ))
                        })
                        .collect();
                    if targets.is_empty() {
                        continue;
                    }
                    let names: Vec<&str> = targets.iter().map(|(_, n)| n.as_str()).collect();
                    toolbox.push(OfferedTool {
                        spec: ToolSpec {
                            name: "handoff".into(),
                            description: format!(
                                "Hand the conversation over to another assistant: {}. The \
                                 chosen assistant continues with the whole conversation.",
                                names.join(", ")
                            ),
                            parameters: json!({
                                "type": "object",
                                "properties": {"assistant": {"type": "string", "enum": names}},
                                "required": ["assistant"],
                            }),
                        },
                        kind: ToolKind::Handoff(targets),
                    });
                }
                "update_dynamic_variables" => {
                    let mut properties = Map::new();
                    let mut allowed = BTreeSet::new();
                    for variable in config
                        .get("updatable_variables")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        let Some(name) = variable.get("name").and_then(Value::as_str) else {
                            continue;
                        };
                        if name.starts_with(parley_core::variables::SYSTEM_PREFIX) {
                            continue;
                        }
                        allowed.insert(name.to_owned());
                        let mut property = Map::new();
                        property.insert("type".into(), json!("string"));
                        if let Some(description) =
                            variable.get("description").and_then(Value::as_str)
                        {
                            property.insert("description".into(), json!(description));
                        }
                        properties.insert(name.to_owned(), Value::Object(property));
                    }
                    toolbox.push(OfferedTool {
                        spec: ToolSpec {
                            name: function_name(
                                &text("name").unwrap_or_else(|| "update_variables".into()),
                            ),
                            description: text("description").unwrap_or_default(),
                            parameters: json!({"type": "object", "properties": properties}),
                        },
                        kind: ToolKind::UpdateVariables(allowed),
                    });
                }
                "retrieval" => {
                    let buckets: Vec<String> = config
                        .get("bucket_ids")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|b| b.as_str().map(str::to_owned))
                        .collect();
                    if buckets.is_empty() {
                        continue;
                    }
                    let max_results = config
                        .get("max_num_results")
                        .and_then(Value::as_u64)
                        .map_or(RETRIEVAL_DEFAULT_RESULTS, |n| n as usize)
                        .clamp(1, 20);
                    toolbox.push(OfferedTool {
                        spec: ToolSpec {
                            name: "retrieval".into(),
                            description: "Search the knowledge base for passages that answer a \
                                          question. Call it before answering questions about \
                                          the business, its products or policies, and answer \
                                          from the passages it returns."
                                .into(),
                            parameters: json!({
                                "type": "object",
                                "properties": {"query": {
                                    "type": "string",
                                    "description": "What to look for, as a question or keywords.",
                                }},
                                "required": ["query"],
                            }),
                        },
                        kind: ToolKind::Retrieval {
                            buckets,
                            max_results,
                        },
                    });
                }
                other => {
                    // Call-control and client-runtime tools (and types this server does not
                    // run in chat) are listed, not offered.
                    let name = text("name").unwrap_or_default();
                    toolbox.not_offered.push(if name.is_empty() {
                        other.to_owned()
                    } else {
                        format!("{other}:{name}")
                    });
                }
            }
        }
        toolbox
    }

    /// Adds a tool, renaming it `name_2`, `name_3`… if its function name is taken.
    pub fn push(&mut self, mut tool: OfferedTool) {
        let base = tool.spec.name.clone();
        let mut n = 1;
        while self.tools.iter().any(|t| t.spec.name == tool.spec.name) {
            n += 1;
            tool.spec.name = format!("{base}_{n}");
        }
        self.tools.push(tool);
    }

    /// The functions, as the model is offered them.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools.iter().map(|t| t.spec.clone()).collect()
    }

    /// Whether there is nothing to offer.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// The offered tools.
    pub fn tools(&self) -> &[OfferedTool] {
        &self.tools
    }

    /// Runs one call. Never fails: every problem is a result the model reads.
    pub async fn call(&self, context: &ToolContext, call: &ToolCall) -> ToolRun {
        let Some(tool) = self.tools.iter().find(|t| t.spec.name == call.name) else {
            let names: Vec<&str> = self.tools.iter().map(|t| t.spec.name.as_str()).collect();
            return ToolRun::text(
                format!(
                    "There is no tool named {:?}. Available tools: {}.",
                    call.name,
                    names.join(", ")
                ),
                false,
            );
        };
        let arguments = match parse_arguments(&call.arguments, &tool.spec.parameters) {
            Ok(arguments) => arguments,
            Err(problem) => return ToolRun::text(problem, false),
        };
        match &tool.kind {
            ToolKind::Hangup => ToolRun {
                effect: Some(Effect::End),
                ..ToolRun::text(
                    "The conversation is ending. Say a short goodbye; no further messages will \
                     be answered.",
                    true,
                )
            },
            ToolKind::Handoff(targets) => {
                let wanted = arguments
                    .get("assistant")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                match targets.iter().find(|(_, name)| name == wanted) {
                    Some((id, name)) => ToolRun {
                        effect: Some(Effect::Handoff(id.clone())),
                        ..ToolRun::text(format!("Handed over to {name}."), true)
                    },
                    None => {
                        ToolRun::text(format!("There is no assistant named {wanted:?}."), false)
                    }
                }
            }
            ToolKind::UpdateVariables(allowed) => {
                let mut variables = BTreeMap::new();
                for (name, value) in &arguments {
                    if allowed.contains(name) {
                        let text = match value {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        variables.insert(name.clone(), text);
                    }
                }
                let names: Vec<&str> = variables.keys().map(String::as_str).collect();
                ToolRun {
                    content: if names.is_empty() {
                        "No variables were updated.".to_owned()
                    } else {
                        format!("Updated: {}.", names.join(", "))
                    },
                    variables,
                    effect: None,
                    ok: true,
                }
            }
            ToolKind::Retrieval {
                buckets,
                max_results,
            } => {
                let query = arguments
                    .get("query")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                run_retrieval(context, buckets, query, *max_results).await
            }
            ToolKind::Webhook { webhook, timeout } => {
                run_webhook(
                    context,
                    call,
                    &tool.spec.name,
                    webhook,
                    &arguments,
                    *timeout,
                )
                .await
            }
            ToolKind::Mcp {
                endpoint,
                tool: name,
            } => {
                let meta = json!({"telnyx_conversation_id": context.variables.get("telnyx_conversation_id")});
                match context
                    .state
                    .mcp
                    .call_tool(endpoint, name, Value::Object(arguments), meta)
                    .await
                {
                    Ok(result) => {
                        let mut text = result.text;
                        if text.is_empty() {
                            if let Some(structured) = &result.structured {
                                text = structured.to_string();
                            }
                        }
                        let text = webhook::truncate_chars(
                            &text,
                            context.state.settings.llm.tool_result_max_chars,
                        );
                        if result.is_error {
                            ToolRun::text(format!("The tool reported an error: {text}"), false)
                        } else {
                            ToolRun::text(text, true)
                        }
                    }
                    Err(e) => ToolRun::text(
                        format!("The {} tool could not be run: {e}", tool.spec.name),
                        false,
                    ),
                }
            }
        }
    }
}

pub use crate::routes::shared_tools::resolve_tools;

/// Chunks a `retrieval` tool returns when it sets no `max_num_results`.
pub const RETRIEVAL_DEFAULT_RESULTS: usize = 3;

/// Searches the embedded ones of `buckets` for `query`; the result lists the passages, most
/// relevant first, each with its source.
async fn run_retrieval(
    context: &ToolContext,
    buckets: &[String],
    query: &str,
    max_results: usize,
) -> ToolRun {
    let state = &context.state;
    let mut searchable = Vec::new();
    for bucket in buckets {
        match state
            .store
            .bucket_vectors_version(&context.org, bucket)
            .await
        {
            Ok(Some(_)) => searchable.push(bucket.clone()),
            Ok(None) => tracing::info!(%bucket, "retrieval: the bucket is not embedded"),
            Err(e) => tracing::warn!(error = %e, %bucket, "retrieval: cannot read the bucket"),
        }
    }
    if searchable.is_empty() {
        return ToolRun::text(
            "The knowledge base is not available (no embedded bucket).",
            false,
        );
    }
    match crate::knowledge::search(state, &context.org, &searchable, query, max_results).await {
        Ok(hits) if hits.is_empty() => {
            ToolRun::text("No passages were found in the knowledge base.", true)
        }
        Ok(hits) => {
            let passages: Vec<String> = hits
                .iter()
                .enumerate()
                .map(|(i, hit)| {
                    format!(
                        "[{}] (source: {}, relevance {:.2})\n{}",
                        i + 1,
                        hit.chunk.source,
                        parley_core::knowledge::vectors::certainty(hit.cosine),
                        hit.chunk.text
                    )
                })
                .collect();
            let text = webhook::truncate_chars(
                &passages.join("\n\n"),
                state.settings.llm.tool_result_max_chars,
            );
            ToolRun::text(text, true)
        }
        Err(e) => ToolRun::text(
            format!("The knowledge base could not be searched: {e}"),
            false,
        ),
    }
}

/// An MCP server of the organization as an endpoint (with its secret), its name for
/// namespacing, and its `allowed_tools`; `None` when it does not exist or its secret cannot be
/// read.
async fn mcp_endpoint(
    state: &AppState,
    org: &OrgId,
    id: &str,
) -> Option<(mcp::McpEndpoint, String, Option<Vec<String>>)> {
    let record = match state.store.get_mcp_server(org, id).await {
        Ok(Some(record)) => record,
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!(error = %e, server = id, "cannot read MCP server");
            return None;
        }
    };
    let bearer = match &record.config.api_key_ref {
        Some(reference) => match crate::secrets::resolve_secret(state, org, reference).await {
            Ok(Some(crate::secrets::SecretValue::Bearer { token })) => Some(token),
            Ok(Some(other)) => Some(
                other
                    .authorization()
                    .split_once(' ')
                    .map(|(_, v)| v.to_owned())
                    .unwrap_or_default(),
            ),
            _ => return None,
        },
        None => None,
    };
    let name = record.config.name.clone();
    let allowed = record.config.allowed_tools.clone();
    Some((
        mcp::McpEndpoint {
            id: record.id.clone(),
            url: record.config.url.clone(),
            transport: record.config.transport(),
            bearer,
        },
        name,
        allowed,
    ))
}

/// An integration tool as a webhook configuration: `base_url` + the tool's path, its
/// parameters split into path placeholders and query (GET, DELETE) or body arguments, the
/// integration's auth header naming the connection's secret.
fn integration_webhook(
    integration: &parley_core::integrations::Integration,
    tool: &parley_core::integrations::IntegrationTool,
    base_url: &str,
    secret_ref: &str,
) -> Map<String, Value> {
    use parley_core::integrations::AuthStyle;
    let placeholders: Vec<&str> = tool.path_placeholders();
    let properties = tool
        .parameters
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let required: Vec<Value> = tool
        .parameters
        .get("required")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let group = |in_path: bool| {
        let props: Map<String, Value> = properties
            .iter()
            .filter(|(name, _)| placeholders.contains(&name.as_str()) == in_path)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let req: Vec<Value> = required
            .iter()
            .filter(|n| n.as_str().is_some_and(|n| props.contains_key(n)))
            .cloned()
            .collect();
        json!({"type": "object", "properties": props, "required": req})
    };
    let secret = format!("{{{{#integration_secret}}}}{secret_ref}{{{{/integration_secret}}}}");
    let mut headers: Vec<Value> = tool
        .headers
        .iter()
        .map(|(name, value)| json!({"name": name, "value": value}))
        .collect();
    headers.push(match &integration.auth {
        AuthStyle::Bearer => json!({"name": "Authorization", "value": format!("Bearer {secret}")}),
        AuthStyle::Basic => json!({"name": "Authorization", "value": format!("Basic {secret}")}),
        AuthStyle::Header(name) => json!({"name": name, "value": secret}),
    });
    let rest_group = if tool.method.takes_query() {
        "query_parameters"
    } else {
        "body_parameters"
    };
    let mut webhook = Map::new();
    webhook.insert("name".into(), json!(tool.name));
    webhook.insert("description".into(), json!(tool.description));
    webhook.insert(
        "url".into(),
        json!(format!("{}{}", base_url.trim_end_matches('/'), tool.path)),
    );
    webhook.insert("method".into(), json!(tool.method.as_str()));
    webhook.insert("path_parameters".into(), group(true));
    webhook.insert(rest_group.into(), group(false));
    webhook.insert("headers".into(), Value::Array(headers));
    webhook
}

/// Refuses, with a pointer, webhook tools whose URL has a fixed host that the outbound policy
/// refuses (a private or loopback address): the save-time check of assistant bodies. URLs
/// whose host comes from a variable are checked when called.
pub fn check_static_urls(
    outbound: &crate::outbound::Outbound,
    fields: &Map<String, Value>,
) -> Vec<parley_core::validation::FieldError> {
    let mut errors = Vec::new();
    let Some(Value::Array(tools)) = fields.get("tools") else {
        return errors;
    };
    for (index, tool) in tools.iter().enumerate() {
        let Some(url) = tool
            .get("webhook")
            .and_then(|w| w.get("url"))
            .and_then(Value::as_str)
        else {
            continue;
        };
        let authority = url.split("://").nth(1).unwrap_or(url);
        let authority = authority.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('{') {
            continue;
        }
        let concrete = url.replace(['{', '}'], "");
        if let Err(e @ crate::outbound::OutboundError::PrivateAddress(_)) =
            outbound.check_url(&concrete)
        {
            errors.push(parley_core::validation::FieldError::invalid(
                format!("/tools/{index}/webhook/url"),
                e.to_string(),
            ));
        }
    }
    errors
}

/// Parses the model's arguments and validates them against `schema`; the error is a sentence
/// for the model.
fn parse_arguments(text: &str, schema: &Value) -> Result<Map<String, Value>, String> {
    let trimmed = text.trim();
    let value: Value = if trimmed.is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_str(trimmed).map_err(|e| {
            format!(
                "The arguments are not valid JSON ({e}); call the tool again with a JSON object."
            )
        })?
    };
    let Value::Object(arguments) = value else {
        return Err("The arguments must be a JSON object; call the tool again.".into());
    };
    let validator = jsonschema::validator_for(schema)
        .map_err(|e| format!("The tool's parameter schema is invalid: {e}"))?;
    let problems: Vec<String> = validator
        .iter_errors(&Value::Object(arguments.clone()))
        .map(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() {
                e.to_string()
            } else {
                format!("{at}: {e}")
            }
        })
        .collect();
    if problems.is_empty() {
        Ok(arguments)
    } else {
        Err(format!(
            "Invalid arguments: {}. Fix them and call the tool again.",
            problems.join("; ")
        ))
    }
}

async fn run_webhook(
    context: &ToolContext,
    call: &ToolCall,
    name: &str,
    config: &Map<String, Value>,
    arguments: &Map<String, Value>,
    timeout: Duration,
) -> ToolRun {
    let state = &context.state;
    let request =
        match webhook::prepare(state, &context.org, config, arguments, &context.variables).await {
            Ok(request) => request,
            Err(e) => {
                tracing::warn!(error = %e, tool = name, "webhook request could not be built");
                return ToolRun::text(format!("The {name} tool could not be prepared."), false);
            }
        };
    let is_async = config.get("async").and_then(Value::as_bool) == Some(true);
    if !is_async {
        let outcome = webhook::send(state, &request, timeout).await;
        return webhook_run(
            state.settings.llm.tool_result_max_chars,
            name,
            config,
            &outcome,
        );
    }
    // Asynchronous: wait briefly; if the answer is not there yet, the model is told it was
    // submitted and the answer is appended to the conversation when it arrives.
    let wait = Duration::from_millis(
        config
            .get("async_timeout_ms")
            .and_then(Value::as_u64)
            .unwrap_or(webhook::DEFAULT_ASYNC_WAIT_MS),
    );
    let background_state = state.clone();
    let mut task =
        tokio::spawn(async move { webhook::send(&background_state, &request, timeout).await });
    match tokio::time::timeout(wait, &mut task).await {
        Ok(Ok(outcome)) => webhook_run(
            state.settings.llm.tool_result_max_chars,
            name,
            config,
            &outcome,
        ),
        Ok(Err(_)) => ToolRun::text(format!("The {name} tool failed."), false),
        Err(_) => {
            let context = context.clone();
            let call_id = call.id.clone();
            let name = name.to_owned();
            let config = config.clone();
            tokio::spawn(async move {
                let Ok(outcome) = task.await else { return };
                deliver_async_result(&context, &call_id, &name, &config, &outcome).await;
            });
            ToolRun::text(
                "Submitted. The result will be added to the conversation when it arrives.",
                true,
            )
        }
    }
}

fn webhook_run(
    max_chars: usize,
    name: &str,
    config: &Map<String, Value>,
    outcome: &webhook::WebhookOutcome,
) -> ToolRun {
    let ok = matches!(outcome, webhook::WebhookOutcome::Answered(a) if a.success());
    let variables = match outcome {
        webhook::WebhookOutcome::Answered(answer) if answer.success() => answer
            .json()
            .map(|json| webhook::stored_variables(config, &json))
            .unwrap_or_default(),
        _ => BTreeMap::new(),
    };
    ToolRun {
        content: outcome.for_model(name, max_chars),
        variables,
        effect: None,
        ok,
    }
}

/// Appends a late asynchronous webhook result to the conversation as a `system` message
/// (`Result of <tool> (call <id>): …`, metadata `tool_call_id`, `tool_name`, `async: true`)
/// and stores its variables. It waits for the turn that made the call to finish (the
/// conversation's lock), so it lands after that turn's messages; the next turn's model sees it.
async fn deliver_async_result(
    context: &ToolContext,
    call_id: &str,
    name: &str,
    config: &Map<String, Value>,
    outcome: &webhook::WebhookOutcome,
) {
    let state = &context.state;
    let _turn = state
        .conversation_locks
        .lock(&context.org, &context.conversation_id)
        .await;
    let run = webhook_run(
        state.settings.llm.tool_result_max_chars,
        name,
        config,
        outcome,
    );
    let mut message = parley_store::NewMessage::new(
        parley_core::conversation::MessageRole::System,
        format!("Result of {name} (call {call_id}): {}", run.content),
    );
    message
        .metadata
        .insert("tool_call_id".into(), json!(call_id));
    message.metadata.insert("tool_name".into(), json!(name));
    message.metadata.insert("async".into(), json!(true));
    let appended = state
        .store
        .append_messages(
            &context.org,
            &context.conversation_id,
            None,
            &[message],
            state.clock.now(),
        )
        .await;
    match appended {
        Ok(Some(_)) => {
            if !run.variables.is_empty() {
                if let Err(e) = state
                    .store
                    .update_conversation_variables(
                        &context.org,
                        &context.conversation_id,
                        &run.variables,
                    )
                    .await
                {
                    tracing::warn!(error = %e, "storing asynchronous webhook variables failed");
                }
            }
        }
        Ok(None) => tracing::info!(
            conversation = %context.conversation_id,
            "asynchronous webhook result dropped: the conversation no longer exists"
        ),
        Err(e) => tracing::warn!(error = %e, "appending an asynchronous webhook result failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names_are_openai_safe() {
        assert_eq!(function_name("book table!"), "book_table_");
        assert_eq!(function_name(""), "tool");
        assert_eq!(function_name(&"x".repeat(80)).len(), 64);
    }

    #[test]
    fn text_channels_offer_what_has_a_text_meaning() {
        let tools = vec![
            json!({"type": "webhook", "webhook": {"name": "lookup", "description": "d", "url": "https://x"}}),
            json!({"type": "webhook", "webhook": {"name": "lookup", "description": "d2", "url": "https://y"}}),
            json!({"type": "hangup", "hangup": {}}),
            json!({"type": "transfer", "transfer": {"from": "+1", "targets": []}}),
            json!({"type": "function", "function": {"name": "f"}}),
            json!({"type": "retrieval", "retrieval": {"bucket_ids": []}}),
            json!({"type": "handoff", "handoff": {"ai_assistants": [{"id": "assistant-2", "name": "Billing"}]}}),
            json!({"type": "update_dynamic_variables", "update_dynamic_variables": {
                "name": "remember", "description": "Remember facts",
                "updatable_variables": [{"name": "city"}, {"name": "telnyx_agent_target"}]}}),
        ];
        let toolbox = Toolbox::build(&tools);
        let names: Vec<String> = toolbox.specs().into_iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            ["lookup", "lookup_2", "hangup", "handoff", "remember"]
        );
        assert_eq!(toolbox.not_offered, ["transfer", "function:f"]);
        let remember = &toolbox.specs()[4];
        assert_eq!(
            remember.parameters["properties"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["city"]
        );
    }

    #[test]
    fn arguments_are_validated() {
        let schema = json!({"type": "object", "properties": {"guests": {"type": "integer"}}, "required": ["guests"]});
        assert!(parse_arguments(r#"{"guests": 2}"#, &schema).is_ok());
        let missing = parse_arguments("{}", &schema).unwrap_err();
        assert!(missing.contains("guests"), "{missing}");
        let wrong = parse_arguments(r#"{"guests": "two"}"#, &schema).unwrap_err();
        assert!(wrong.contains("/guests"), "{wrong}");
        assert!(parse_arguments("not json", &schema)
            .unwrap_err()
            .contains("not valid JSON"));
        assert!(parse_arguments("[1]", &schema)
            .unwrap_err()
            .contains("JSON object"));
    }
}
