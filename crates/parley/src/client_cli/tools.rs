//! `parley tools …`: shared tools (the Tools Library), attaching them to assistants, and
//! testing an assistant's webhook tool once.

use super::{emit, from_body, key_values_json, read_json_object, table, Output, Paging, Printer};
use anyhow::bail;
use clap::Subcommand;
use futures::TryStreamExt;
use parley_client::types::tools::{
    SharedTool, SharedToolCreateParams, SharedToolListParams, SharedToolUpdateParams,
    ToolTestParams, ToolTestResult,
};
use parley_client::Client;
use serde_json::{json, Map, Value};
use std::path::PathBuf;

/// `parley tools …`
#[derive(Debug, Subcommand)]
pub enum ToolsCommand {
    /// List shared tools.
    List {
        #[command(flatten)]
        paging: Paging,
        /// Only tools whose name contains this (case-insensitive).
        #[arg(long)]
        name: Option<String>,
        /// Only tools of this type.
        #[arg(long = "type")]
        tool_type: Option<String>,
    },
    /// Show one shared tool.
    Get {
        /// Tool id.
        id: String,
    },
    /// Create a shared tool: `--name`, `--type` and its configuration (`--config`), or the
    /// whole body in `--json`.
    Create {
        #[command(flatten)]
        fields: ToolFields,
    },
    /// Change a shared tool: only what is given changes; a configuration replaces the old one.
    Update {
        /// Tool id.
        id: String,
        #[command(flatten)]
        fields: ToolFields,
    },
    /// Delete a shared tool (it is detached from every assistant).
    Delete {
        /// Tool id.
        id: String,
    },
    /// Attach a shared tool to an assistant (writes a new main version).
    Attach {
        /// Assistant id.
        assistant_id: String,
        /// Tool id.
        tool_id: String,
    },
    /// Detach a shared tool from an assistant.
    Detach {
        /// Assistant id.
        assistant_id: String,
        /// Tool id.
        tool_id: String,
    },
    /// Call an assistant's webhook tool once, as a chat turn would, and show what happened.
    Test {
        /// Assistant id.
        assistant_id: String,
        /// A shared tool's id, or the name of one of the assistant's webhook tools.
        tool_id: String,
        /// An argument the model would pass (repeat; values that parse as JSON are sent as
        /// JSON).
        #[arg(long = "arg", value_name = "NAME=VALUE")]
        arguments: Vec<String>,
        /// A dynamic variable (repeat).
        #[arg(long = "variable", value_name = "NAME=VALUE")]
        variables: Vec<String>,
    },
}

/// The fields of a shared tool body.
#[derive(Debug, clap::Args)]
pub struct ToolFields {
    /// Display name.
    #[arg(long)]
    name: Option<String>,
    /// Tool type: webhook, function, hangup, handoff, transfer, …
    #[arg(long = "type")]
    tool_type: Option<String>,
    /// A JSON file (`-` for standard input) with the configuration, sent under the type's key.
    #[arg(long, value_name = "FILE|-")]
    config: Option<PathBuf>,
    /// How long a call may take, in milliseconds.
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// A JSON file (`-` for standard input) with the whole body; flags override its fields.
    #[arg(long, value_name = "FILE|-", conflicts_with = "config")]
    json: Option<PathBuf>,
}

impl ToolFields {
    fn body(&self) -> anyhow::Result<Map<String, Value>> {
        let mut body = read_json_object(self.json.as_ref())?;
        if let Some(name) = &self.name {
            body.insert("display_name".into(), json!(name));
        }
        if let Some(tool_type) = &self.tool_type {
            body.insert("type".into(), json!(tool_type));
        }
        if let Some(timeout) = self.timeout_ms {
            body.insert("timeout_ms".into(), json!(timeout));
        }
        if self.config.is_some() {
            let Some(tool_type) = body.get("type").and_then(Value::as_str).map(str::to_owned)
            else {
                bail!("--config needs --type: the configuration goes under the type's key");
            };
            body.insert(
                tool_type,
                Value::Object(read_json_object(self.config.as_ref())?),
            );
        }
        Ok(body)
    }
}

const COLUMNS: &[&str] = &[
    "id",
    "display_name",
    "type",
    "name",
    "timeout_ms",
    "created_at",
];
const DETAILS: &[&str] = &[
    "id",
    "display_name",
    "type",
    "name",
    "timeout_ms",
    "created_at",
    "tool_definition",
];

/// A tool with its function's name (`tool_definition.<type>.name`) beside the other fields.
fn view(tool: &SharedTool) -> Value {
    let mut value = json!(tool);
    let name = tool
        .tool_definition
        .get(&tool.tool_type)
        .and_then(|config| config.get("name"))
        .cloned()
        .unwrap_or(Value::Null);
    value["name"] = name;
    value
}

/// Runs `parley tools …`.
pub async fn run(client: &Client, out: &Printer, command: ToolsCommand) -> anyhow::Result<()> {
    let tools = client.ai().tools();
    match command {
        ToolsCommand::List {
            paging,
            name,
            tool_type,
        } => {
            let params = SharedToolListParams {
                page_number: paging.page,
                page_size: paging.page_size,
                name,
                tool_type,
            };
            let items: Vec<SharedTool> = if paging.page.is_some() {
                tools.list_with(&params).await?.data
            } else {
                tools.list_all(&params).try_collect().await?
            };
            if out.output == Output::Json {
                return out.json(&items);
            }
            let rows: Vec<Value> = items.iter().map(view).collect();
            out.list(&rows, COLUMNS)
        }
        ToolsCommand::Get { id } => tool_details(out, &tools.retrieve(&id).await?),
        ToolsCommand::Create { fields } => {
            let body = fields.body()?;
            for (required, flag) in [("display_name", "--name"), ("type", "--type")] {
                if !body.get(required).is_some_and(Value::is_string) {
                    bail!("{flag} is required (or `{required}` in --json)");
                }
            }
            let params: SharedToolCreateParams = from_body(body)?;
            tool_details(out, &tools.create(&params).await?)
        }
        ToolsCommand::Update { id, fields } => {
            let body = fields.body()?;
            if body.is_empty() {
                bail!(
                    "nothing to change: give --name, --type with --config, --timeout-ms or --json"
                );
            }
            let params: SharedToolUpdateParams = from_body(body)?;
            tool_details(out, &tools.update(&id, &params).await?)
        }
        ToolsCommand::Delete { id } => {
            tools.delete(&id).await?;
            out.done(
                &json!({"id": id, "deleted": true}),
                &format!("deleted {id}"),
            )
        }
        ToolsCommand::Attach {
            assistant_id,
            tool_id,
        } => {
            let assistant = client
                .ai()
                .assistants()
                .tools()
                .add(&assistant_id, &tool_id)
                .await?;
            attachment(
                out,
                &assistant,
                &format!("attached {tool_id} to {assistant_id}"),
            )
        }
        ToolsCommand::Detach {
            assistant_id,
            tool_id,
        } => {
            let assistant = client
                .ai()
                .assistants()
                .tools()
                .remove(&assistant_id, &tool_id)
                .await?;
            attachment(
                out,
                &assistant,
                &format!("detached {tool_id} from {assistant_id}"),
            )
        }
        ToolsCommand::Test {
            assistant_id,
            tool_id,
            arguments,
            variables,
        } => {
            let params = ToolTestParams {
                arguments: Some(key_values_json(&arguments, "--arg")?),
                dynamic_variables: (!variables.is_empty())
                    .then(|| key_values_json(&variables, "--variable"))
                    .transpose()?,
                ..Default::default()
            };
            let result = client
                .ai()
                .assistants()
                .tools()
                .test(&assistant_id, &tool_id, &params)
                .await?;
            tool_test(out, &result)
        }
    }
}

fn tool_details(out: &Printer, tool: &SharedTool) -> anyhow::Result<()> {
    if out.output == Output::Json {
        return out.json(tool);
    }
    out.details(&view(tool), DETAILS)
}

/// After an attach or detach: a sentence and the assistant's tools, or the assistant as JSON.
fn attachment(out: &Printer, assistant: &Value, message: &str) -> anyhow::Result<()> {
    if out.output == Output::Json {
        return out.json(assistant);
    }
    let rows = assistant["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|tool| {
            let kind = tool["type"].as_str().unwrap_or_default();
            let name = tool[kind]["name"].as_str().unwrap_or_default();
            let shared = if tool["shared"] == true { "yes" } else { "no" };
            vec![
                kind.to_owned(),
                name.to_owned(),
                shared.to_owned(),
                tool["id"].as_str().unwrap_or_default().to_owned(),
            ]
        })
        .collect();
    emit(&format!(
        "{message}\n\n{}",
        table(&["type", "name", "shared", "id"], rows)
    ))
}

/// The outcome of a tool test: the request sent, then the answer.
fn tool_test(out: &Printer, result: &ToolTestResult) -> anyhow::Result<()> {
    if out.output == Output::Json {
        return out.json(result);
    }
    let request = &result.request;
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let mut rows = vec![
        vec![
            "success".to_owned(),
            if result.success { "yes" } else { "no" }.to_owned(),
        ],
        vec![
            "status_code".to_owned(),
            result
                .status_code
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into()),
        ],
    ];
    if let Some(content_type) = &result.content_type {
        rows.push(vec!["content_type".into(), content_type.clone()]);
    }
    rows.push(vec![
        "request".into(),
        format!(
            "{} {}",
            text(request.get("method")),
            text(request.get("url"))
        )
        .trim()
        .to_owned(),
    ]);
    if let Some(body) = request.get("body").filter(|b| !b.is_null()) {
        rows.push(vec!["request_body".into(), text(Some(body))]);
    }
    rows.push(vec![
        "response".into(),
        result
            .response
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
    ]);
    emit(&table(&[], rows))
}
