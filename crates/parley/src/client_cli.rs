//! Client commands: `parley assistants|versions|canary|events|tests|tools|kb|numbers|mcp|
//! secrets|integrations|conversations|ai-models …` talk to a running Parley (or to Telnyx)
//! through the Rust SDK, `parley-client`; `parley chat` is an interactive conversation with an
//! assistant ([`chat`]). Scheduled events ([`events`]), assistant tests ([`testing`]), shared
//! tools ([`tools`]), knowledge bases ([`kb`]) and phone numbers ([`numbers`]) have a module
//! each.
//!
//! Every command takes `--base-url` (default `TELNYX_BASE_URL`, else
//! `http://127.0.0.1:8080/v2`), `--api-key` (default `TELNYX_API_KEY`, else `PARLEY_API_KEY`)
//! and `--output table|json`. Bodies come from flags for the common fields and from
//! `--json FILE` (or `-` for standard input) for everything else; flags win. An API error
//! prints the envelope's title and detail on one line and the command exits with status 1.

mod chat;
mod events;
mod kb;
mod numbers;
mod testing;
mod tools;

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use futures::TryStreamExt;
use parley_client::resources::ai::conversations::ConversationListParams;
use parley_client::types::assistants::{
    AssistantCreateParams, AssistantDeleteParams, AssistantUpdateParams, InferenceEmbedding,
    VersionUpdateParams,
};
use parley_client::types::canary_deploys::{
    CanaryDeploy, CanaryDeployParams, CanaryRule, CanaryServe, Clause, ClauseOperator, RolloutSlot,
};
use parley_client::types::conversations::{
    Conversation, ConversationCreateParams, ConversationMessage, ConversationUpdateParams,
};
use parley_client::types::imports::AssistantImportParams;
use parley_client::types::integration_secrets::{
    IntegrationSecretCreateParams, IntegrationSecretListParams, SecretType,
};
use parley_client::types::integrations::IntegrationConnectionCreateParams;
use parley_client::types::mcp_servers::{
    McpServerCreateParams, McpServerListParams, McpServerUpdateParams,
};
use parley_client::types::messaging::AssistantSendSmsParams;
use parley_client::types::PageParams;
use parley_client::Client;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

/// Base URL of the client commands when neither `--base-url` nor `TELNYX_BASE_URL` is given.
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8080/v2";

/// The client command groups, flattened into the top-level `parley` commands.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Assistants on a running server: list, get, create, update, delete, clone, import,
    /// texml, send-sms.
    Assistants {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: AssistantsCommand,
    },
    /// Versions of an assistant: list, get, update, delete, promote.
    Versions {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: VersionsCommand,
    },
    /// The canary deploy of an assistant: get, set, delete.
    Canary {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: CanaryCommand,
    },
    /// Scheduled events of an assistant (texts and calls at a fixed time): list, get,
    /// create, delete.
    Events {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: events::EventsCommand,
    },
    /// Assistant tests: list, get, create, update, delete, suites, runs, and run them
    /// (`run [--suite NAME] [--wait]`).
    Tests {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: testing::TestsCommand,
    },
    /// Shared tools: list, get, create, update, delete; attach, detach and test tools of an
    /// assistant.
    Tools {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: tools::ToolsCommand,
    },
    /// Phone numbers and the assistant that answers texts to each (a Parley extension).
    Numbers {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: numbers::NumbersCommand,
    },
    /// Knowledge bases: upload files to a bucket, embed it, search it.
    Kb {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: kb::KbCommand,
    },
    /// MCP servers: list, get, create, update, delete.
    Mcp {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: McpCommand,
    },
    /// Integration secrets: list, create, delete (values are never shown).
    Secrets {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: SecretsCommand,
    },
    /// The integration catalogue and your connections to it.
    Integrations {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: IntegrationsCommand,
    },
    /// Conversations: list (with filters), get, messages, create, update, delete.
    Conversations {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: ConversationsCommand,
    },
    /// The models a running server can answer with.
    ///
    /// `GET /v2/ai/models`; `parley models` manages the model files of this machine.
    #[command(name = "ai-models")]
    AiModels {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: AiModelsCommand,
    },
    /// Chat with an assistant in the terminal.
    ///
    /// Each line read is one message; the answer streams back as it is written. `/new`
    /// starts a new conversation, `/quit` (or the end of input) leaves. Works with piped
    /// input too. `--output` does not apply.
    Chat {
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        args: chat::ChatArgs,
    },
}

/// Where the API is and how to print what it answers.
#[derive(Debug, Args)]
pub struct Connection {
    /// API base URL, including `/v2`.
    #[arg(long, global = true, env = "TELNYX_BASE_URL", default_value = DEFAULT_BASE_URL)]
    base_url: String,
    /// API key [default: TELNYX_API_KEY, else PARLEY_API_KEY].
    #[arg(long, global = true, env = "TELNYX_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// How to print results.
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    output: Output,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Aligned columns for people.
    Table,
    /// Pretty-printed JSON for programs (lists print an array of items).
    Json,
}

/// Which page of a list to show; without `--page`, every page is fetched.
#[derive(Debug, Args)]
pub struct Paging {
    /// Show only this page (1-based).
    #[arg(long)]
    page: Option<u32>,
    /// Items per page.
    #[arg(long)]
    page_size: Option<u32>,
}

impl Paging {
    fn params(&self) -> PageParams {
        PageParams {
            page_number: self.page,
            page_size: self.page_size,
        }
    }
}

/// `parley assistants …`
#[derive(Debug, Subcommand)]
pub enum AssistantsCommand {
    /// List assistants.
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// Show one assistant.
    Get {
        /// Assistant id.
        id: String,
    },
    /// Create an assistant (`--name` and `--instructions`, or both in `--json`).
    Create {
        #[command(flatten)]
        fields: AssistantFields,
    },
    /// Update an assistant: only the fields given change; each update writes a version.
    Update {
        /// Assistant id.
        id: String,
        #[command(flatten)]
        fields: AssistantFields,
        /// Write a draft version and keep the main one.
        #[arg(long)]
        draft: bool,
        /// Name of the version this update writes.
        #[arg(long)]
        version_name: Option<String>,
    },
    /// Delete an assistant (restorable for 30 days unless `--hard`).
    Delete {
        /// Assistant id.
        id: String,
        /// Erase it for good.
        #[arg(long)]
        hard: bool,
    },
    /// Copy an assistant (without telephony and messaging settings).
    Clone {
        /// Assistant id.
        id: String,
    },
    /// Import the agents of an ElevenLabs, Vapi or Retell account (again: updates them).
    Import {
        /// The provider.
        #[arg(long, value_parser = ["elevenlabs", "vapi", "retell"])]
        provider: String,
        /// The integration secret holding the provider's API key.
        #[arg(long)]
        api_key_ref: String,
        /// Only this agent (the provider's id; repeat for several).
        #[arg(long = "import-id", value_name = "ID")]
        import_ids: Vec<String>,
    },
    /// Print the TeXML document that connects a call to the assistant.
    Texml {
        /// Assistant id.
        id: String,
    },
    /// Have the assistant text someone (the given text, or a message it writes).
    SendSms {
        /// Assistant id.
        id: String,
        /// The assistant's number (E.164).
        #[arg(long, value_name = "NUMBER")]
        from: String,
        /// The recipient (E.164).
        #[arg(long, value_name = "NUMBER")]
        to: String,
        /// The text; without it the assistant writes the message.
        #[arg(long)]
        text: Option<String>,
        /// Start a new conversation even when these numbers have an active one.
        #[arg(long)]
        new_conversation: bool,
    },
}

/// The common fields of an assistant body.
#[derive(Debug, Args)]
pub struct AssistantFields {
    /// Display name.
    #[arg(long)]
    name: Option<String>,
    /// System instructions.
    #[arg(long)]
    instructions: Option<String>,
    /// Model id.
    #[arg(long)]
    model: Option<String>,
    /// What the assistant says first.
    #[arg(long)]
    greeting: Option<String>,
    /// Free-text description.
    #[arg(long)]
    description: Option<String>,
    /// A tag (repeat for several; replaces the tags).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// A JSON file (`-` for standard input) with the whole body; flags override its fields.
    #[arg(long, value_name = "FILE|-")]
    json: Option<PathBuf>,
}

impl AssistantFields {
    /// The body: `--json`, then the flags over it.
    fn body(&self) -> anyhow::Result<Map<String, Value>> {
        let mut body = read_json_object(self.json.as_ref())?;
        let mut set = |key: &str, value: &Option<String>| {
            if let Some(value) = value {
                body.insert(key.to_owned(), Value::String(value.clone()));
            }
        };
        set("name", &self.name);
        set("instructions", &self.instructions);
        set("model", &self.model);
        set("greeting", &self.greeting);
        set("description", &self.description);
        if !self.tags.is_empty() {
            body.insert("tags".into(), json!(self.tags));
        }
        Ok(body)
    }
}

/// `parley versions …`
#[derive(Debug, Subcommand)]
pub enum VersionsCommand {
    /// List an assistant's versions, newest first (`*` marks main).
    List {
        /// Assistant id.
        assistant_id: String,
    },
    /// Show one version.
    Get {
        /// Assistant id.
        assistant_id: String,
        /// Version id.
        version_id: String,
    },
    /// Edit a version that is not main, in place (only the fields given change).
    Update {
        /// Assistant id.
        assistant_id: String,
        /// Version id.
        version_id: String,
        #[command(flatten)]
        fields: AssistantFields,
    },
    /// Delete a version that is neither main nor served by the canary deploy.
    Delete {
        /// Assistant id.
        assistant_id: String,
        /// Version id.
        version_id: String,
    },
    /// Make a version main (removes the canary deploy).
    Promote {
        /// Assistant id.
        assistant_id: String,
        /// Version id.
        version_id: String,
    },
}

/// `parley canary …`
#[derive(Debug, Subcommand)]
pub enum CanaryCommand {
    /// Show the canary deploy.
    Get {
        /// Assistant id.
        assistant_id: String,
    },
    /// Create or replace the canary deploy: one rule from the flags, or `--json` rules.
    Set {
        /// Assistant id.
        assistant_id: String,
        /// Serve this version to every conversation the rule matches.
        #[arg(long, conflicts_with = "rollout")]
        version: Option<String>,
        /// Serve VERSION_ID to WEIGHT percent (repeat for several; the rest goes to main).
        #[arg(long, value_name = "VERSION_ID=WEIGHT")]
        rollout: Vec<String>,
        /// Only conversations whose ATTRIBUTE is one of VALUES (repeat to require several).
        #[arg(long = "match", value_name = "ATTRIBUTE=VALUE[,VALUE…]")]
        matches: Vec<String>,
        /// A JSON file (`-` for standard input) with `{"rules": [...]}`.
        #[arg(long, value_name = "FILE|-", conflicts_with_all = ["version", "rollout", "matches"])]
        json: Option<PathBuf>,
    },
    /// Delete the canary deploy: all traffic goes to main.
    Delete {
        /// Assistant id.
        assistant_id: String,
    },
}

/// `parley mcp …`
#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// List MCP servers.
    List {
        #[command(flatten)]
        paging: Paging,
        /// Only servers of this type.
        #[arg(long = "type")]
        server_type: Option<String>,
        /// Only servers with this URL.
        #[arg(long)]
        url: Option<String>,
    },
    /// Show one MCP server.
    Get {
        /// MCP server id.
        id: String,
    },
    /// Register an MCP server.
    Create {
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Transport: http, streamable-http, streamable_http or sse.
        #[arg(long = "type")]
        server_type: Option<String>,
        /// The server's URL.
        #[arg(long)]
        url: Option<String>,
        /// A tool assistants may call (repeat; default: all).
        #[arg(long = "allowed-tool", value_name = "TOOL")]
        allowed_tools: Vec<String>,
        /// Integration secret sent as the bearer token.
        #[arg(long)]
        api_key_ref: Option<String>,
        /// A JSON file (`-` for standard input) with the whole body; flags override it.
        #[arg(long, value_name = "FILE|-")]
        json: Option<PathBuf>,
    },
    /// Change an MCP server: only what is given changes.
    Update {
        /// MCP server id.
        id: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Transport: http, streamable-http, streamable_http or sse.
        #[arg(long = "type")]
        server_type: Option<String>,
        /// The server's URL.
        #[arg(long)]
        url: Option<String>,
        /// A tool assistants may call (repeat; replaces the list).
        #[arg(long = "allowed-tool", value_name = "TOOL")]
        allowed_tools: Vec<String>,
        /// Integration secret sent as the bearer token.
        #[arg(long)]
        api_key_ref: Option<String>,
        /// A JSON file (`-` for standard input) with the fields; flags override it.
        #[arg(long, value_name = "FILE|-")]
        json: Option<PathBuf>,
    },
    /// Delete an MCP server.
    Delete {
        /// MCP server id.
        id: String,
    },
}

/// `parley secrets …`
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// List integration secrets (never their values).
    List {
        #[command(flatten)]
        paging: Paging,
        /// Only secrets of this type.
        #[arg(long = "type", value_enum)]
        secret_type: Option<SecretKind>,
    },
    /// Create a secret; `--json -` reads it from standard input and keeps the value off the
    /// command line.
    Create {
        /// The name `*_ref` fields will use.
        #[arg(long)]
        identifier: Option<String>,
        /// The kind of credentials.
        #[arg(long = "type", value_enum)]
        secret_type: Option<SecretKind>,
        /// The bearer token.
        #[arg(long)]
        token: Option<String>,
        /// The username (basic).
        #[arg(long)]
        username: Option<String>,
        /// The password (basic).
        #[arg(long)]
        password: Option<String>,
        /// A JSON file (`-` for standard input) with the whole body; flags override it.
        #[arg(long, value_name = "FILE|-")]
        json: Option<PathBuf>,
    },
    /// Delete a secret.
    Delete {
        /// Secret id.
        id: String,
    },
}

/// The kinds of integration secret, as flags spell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SecretKind {
    /// A bearer token.
    Bearer,
    /// A username and password.
    Basic,
}

impl From<SecretKind> for SecretType {
    fn from(kind: SecretKind) -> Self {
        match kind {
            SecretKind::Bearer => SecretType::Bearer,
            SecretKind::Basic => SecretType::Basic,
        }
    }
}

/// `parley integrations …`
#[derive(Debug, Subcommand)]
pub enum IntegrationsCommand {
    /// The catalogue, with each integration's status for you.
    List,
    /// One integration of the catalogue, with its tools.
    Get {
        /// Integration id (`hubspot`).
        id: String,
    },
    /// Your connections to catalogue integrations.
    Connections,
    /// Connect an integration (a Parley extension; Telnyx connects them in its portal).
    Connect {
        /// Integration id (`hubspot`).
        id: String,
        /// The integration secret holding the credentials.
        #[arg(long)]
        api_key_ref: String,
        /// A tool assistants may call (repeat; default: all the integration offers).
        #[arg(long = "allowed-tool", value_name = "TOOL")]
        allowed_tools: Vec<String>,
        /// The vendor API's base URL (for integrations on your own subdomain).
        #[arg(long)]
        base_url: Option<String>,
    },
    /// One of your connections.
    Connection {
        /// Connection id.
        id: String,
    },
    /// Delete a connection.
    Disconnect {
        /// Connection id.
        id: String,
    },
}

/// `parley conversations …`
#[derive(Debug, Subcommand)]
pub enum ConversationsCommand {
    /// List conversations, newest first (at most 100 unless `--limit`).
    List {
        /// Only conversations of this assistant.
        #[arg(long, value_name = "ASSISTANT_ID")]
        assistant: Option<String>,
        /// A PostgREST filter (repeat; all must hold): `metadata->tier=eq.gold`,
        /// `created_at=gte.2025-01-01`, `name=ilike.*vip*`, `or=(id.eq.a,id.eq.b)`.
        #[arg(long, value_name = "NAME=OPERATOR.VALUE")]
        filter: Vec<String>,
        /// Sort order: `last_message_at.desc`, `name.asc,created_at.desc`, …
        #[arg(long, value_name = "FIELD.asc|desc")]
        order: Option<String>,
        /// At most this many (1 to 1000).
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Show one conversation.
    Get {
        /// Conversation id.
        id: String,
    },
    /// List the messages of a conversation, oldest first.
    Messages {
        /// Conversation id.
        id: String,
        #[command(flatten)]
        paging: Paging,
    },
    /// Create an empty conversation (its first chat message binds it to an assistant).
    Create {
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// A metadata entry (repeat).
        #[arg(long, value_name = "KEY=VALUE")]
        metadata: Vec<String>,
    },
    /// Change the metadata of a conversation: given keys are set, `--remove` keys removed,
    /// the others kept.
    Update {
        /// Conversation id.
        id: String,
        /// A metadata entry to set (repeat).
        #[arg(long, value_name = "KEY=VALUE")]
        metadata: Vec<String>,
        /// A metadata key to remove (repeat).
        #[arg(long, value_name = "KEY")]
        remove: Vec<String>,
    },
    /// Delete a conversation and its messages.
    Delete {
        /// Conversation id.
        id: String,
    },
}

/// `parley ai-models …`
#[derive(Debug, Subcommand)]
pub enum AiModelsCommand {
    /// List the models assistants can name (`*` marks the default of new assistants).
    List,
}

/// Runs a client command.
pub async fn run(command: ClientCommand) -> anyhow::Result<()> {
    let (connection, run) = match command {
        ClientCommand::Assistants {
            connection,
            command,
        } => (connection, Run::Assistants(command)),
        ClientCommand::Versions {
            connection,
            command,
        } => (connection, Run::Versions(command)),
        ClientCommand::Canary {
            connection,
            command,
        } => (connection, Run::Canary(command)),
        ClientCommand::Events {
            connection,
            command,
        } => (connection, Run::Events(command)),
        ClientCommand::Tests {
            connection,
            command,
        } => (connection, Run::Tests(command)),
        ClientCommand::Tools {
            connection,
            command,
        } => (connection, Run::Tools(command)),
        ClientCommand::Kb {
            connection,
            command,
        } => (connection, Run::Kb(command)),
        ClientCommand::Numbers {
            connection,
            command,
        } => (connection, Run::Numbers(command)),
        ClientCommand::Mcp {
            connection,
            command,
        } => (connection, Run::Mcp(command)),
        ClientCommand::Secrets {
            connection,
            command,
        } => (connection, Run::Secrets(command)),
        ClientCommand::Integrations {
            connection,
            command,
        } => (connection, Run::Integrations(command)),
        ClientCommand::Conversations {
            connection,
            command,
        } => (connection, Run::Conversations(command)),
        ClientCommand::AiModels {
            connection,
            command,
        } => (connection, Run::AiModels(command)),
        ClientCommand::Chat { connection, args } => (connection, Run::Chat(args)),
    };
    let api_key = connection
        .api_key
        .clone()
        .filter(|k| !k.is_empty())
        .or_else(|| {
            std::env::var("PARLEY_API_KEY")
                .ok()
                .filter(|k| !k.is_empty())
        });
    let keyless = api_key.is_none();
    let client = Client::builder()
        .base_url(&connection.base_url)
        .api_key_opt(api_key)
        .build()
        .map_err(|e| anyhow!("{e}"))?;
    let out = Printer {
        output: connection.output,
    };
    let result = match run {
        Run::Assistants(command) => assistants(&client, &out, command).await,
        Run::Versions(command) => versions(&client, &out, command).await,
        Run::Canary(command) => canary(&client, &out, command).await,
        Run::Events(command) => events::run(&client, &out, command).await,
        Run::Tests(command) => testing::run(&client, &out, command).await,
        Run::Tools(command) => tools::run(&client, &out, command).await,
        Run::Kb(command) => kb::run(&client, &out, command).await,
        Run::Numbers(command) => numbers::run(&client, &out, command).await,
        Run::Mcp(command) => mcp(&client, &out, command).await,
        Run::Secrets(command) => secrets(&client, &out, command).await,
        Run::Integrations(command) => integrations(&client, &out, command).await,
        Run::Conversations(command) => conversations(&client, &out, command).await,
        Run::AiModels(command) => ai_models(&client, &out, command).await,
        Run::Chat(args) => chat::run(&client, args, keyless).await,
    };
    result.map_err(|e| match e.downcast::<parley_client::Error>() {
        // The SDK's message is one line and names its causes: print it alone.
        Ok(error) => anyhow!("{}", describe(&error, keyless)),
        Err(other) => other,
    })
}

/// An SDK error as one line, with a hint when a 401 may come from a missing key.
fn describe(error: &parley_client::Error, keyless: bool) -> String {
    if keyless && error.status() == Some(401) {
        format!("{error} (no API key given: use --api-key, TELNYX_API_KEY or PARLEY_API_KEY)")
    } else {
        error.to_string()
    }
}

enum Run {
    Assistants(AssistantsCommand),
    Versions(VersionsCommand),
    Canary(CanaryCommand),
    Events(events::EventsCommand),
    Tests(testing::TestsCommand),
    Tools(tools::ToolsCommand),
    Kb(kb::KbCommand),
    Numbers(numbers::NumbersCommand),
    Mcp(McpCommand),
    Secrets(SecretsCommand),
    Integrations(IntegrationsCommand),
    Conversations(ConversationsCommand),
    AiModels(AiModelsCommand),
    Chat(chat::ChatArgs),
}

/// The columns of an assistant in a list, and its rows in a detail view.
const ASSISTANT_COLUMNS: &[&str] = &["id", "name", "model", "tags", "created_at"];
const ASSISTANT_DETAILS: &[&str] = &[
    "id",
    "name",
    "model",
    "instructions",
    "greeting",
    "description",
    "tags",
    "tools",
    "version_id",
    "version_name",
    "created_at",
    "version_created_at",
];

async fn assistants(
    client: &Client,
    out: &Printer,
    command: AssistantsCommand,
) -> anyhow::Result<()> {
    let assistants = client.ai().assistants();
    match command {
        AssistantsCommand::List { paging } => {
            let items: Vec<InferenceEmbedding> = if paging.page.is_some() {
                assistants.list_with(&paging.params()).await?.data
            } else {
                assistants.list_all(&paging.params()).try_collect().await?
            };
            out.list(&items, ASSISTANT_COLUMNS)
        }
        AssistantsCommand::Get { id } => {
            out.details(&assistants.retrieve(&id).await?, ASSISTANT_DETAILS)
        }
        AssistantsCommand::Create { fields } => {
            let body = fields.body()?;
            for required in ["name", "instructions"] {
                if !body.get(required).is_some_and(Value::is_string) {
                    bail!("--{required} is required (or `{required}` in --json)");
                }
            }
            let params: AssistantCreateParams = from_body(body)?;
            out.details(&assistants.create(&params).await?, ASSISTANT_DETAILS)
        }
        AssistantsCommand::Update {
            id,
            fields,
            draft,
            version_name,
        } => {
            let mut body = fields.body()?;
            if draft {
                body.insert("promote_to_main".into(), Value::Bool(false));
            }
            if let Some(name) = version_name {
                body.insert("version_name".into(), Value::String(name));
            }
            let mut params: AssistantUpdateParams = from_body(body.clone())?;
            keep_nulls(&mut params.extra, &body);
            out.details(&assistants.update(&id, &params).await?, ASSISTANT_DETAILS)
        }
        AssistantsCommand::Delete { id, hard } => {
            let params = AssistantDeleteParams {
                hard_delete: hard.then_some(true),
            };
            let deleted = assistants.delete_with(&id, &params).await?;
            let how = if hard {
                "erased"
            } else {
                "deleted (restorable for 30 days)"
            };
            out.done(&deleted, &format!("{how} {}", deleted.id))
        }
        AssistantsCommand::Clone { id } => {
            out.details(&assistants.clone(&id).await?, ASSISTANT_DETAILS)
        }
        AssistantsCommand::Import {
            provider,
            api_key_ref,
            import_ids,
        } => {
            let outcome = assistants
                .imports_with_failures(&AssistantImportParams {
                    provider,
                    api_key_ref,
                    import_ids: (!import_ids.is_empty()).then_some(import_ids),
                    ..Default::default()
                })
                .await?;
            if out.output == Output::Json {
                return out.json(&json!({
                    "data": outcome.assistants.data,
                    "failures": outcome.failures,
                }));
            }
            out.list(
                &outcome.assistants.data,
                &["id", "name", "model", "created_at"],
            )?;
            for failure in &outcome.failures {
                eprintln!(
                    "not imported: {}: {}",
                    failure.import_id,
                    failure
                        .reason
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
            Ok(())
        }
        AssistantsCommand::Texml { id } => {
            let texml = assistants.get_texml(&id).await?;
            match out.output {
                Output::Json => out.json(&texml),
                Output::Table => emit(&format!("{}\n", texml.trim_end())),
            }
        }
        AssistantsCommand::SendSms {
            id,
            from,
            to,
            text,
            new_conversation,
        } => {
            let sent = assistants
                .send_sms(
                    &id,
                    &AssistantSendSmsParams {
                        from: from.clone(),
                        to: to.clone(),
                        text,
                        should_create_conversation: new_conversation.then_some(true),
                        ..Default::default()
                    },
                )
                .await?;
            let conversation = sent.conversation_id.as_deref().unwrap_or("-");
            out.done(
                &sent,
                &format!("sent from {from} to {to} (conversation {conversation})"),
            )
        }
    }
}

async fn versions(client: &Client, out: &Printer, command: VersionsCommand) -> anyhow::Result<()> {
    let assistants = client.ai().assistants();
    let versions = assistants.versions();
    match command {
        VersionsCommand::List { assistant_id } => {
            let list = versions.list(&assistant_id).await?;
            if out.output == Output::Json {
                return out.json(&list.data);
            }
            let main = assistants.retrieve(&assistant_id).await?.version_id;
            let rows = list
                .data
                .iter()
                .map(|v| {
                    let is_main = v.version_id.is_some() && v.version_id == main;
                    vec![
                        if is_main { "*" } else { "" }.to_owned(),
                        v.version_id.clone().unwrap_or_default(),
                        v.version_name.clone().unwrap_or_default(),
                        v.version_created_at.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            emit(&table(
                &["main", "version_id", "version_name", "version_created_at"],
                rows,
            ))
        }
        VersionsCommand::Get {
            assistant_id,
            version_id,
        } => out.details(
            &versions.retrieve(&assistant_id, &version_id).await?,
            ASSISTANT_DETAILS,
        ),
        VersionsCommand::Update {
            assistant_id,
            version_id,
            fields,
        } => {
            let body = fields.body()?;
            let mut params: VersionUpdateParams = from_body(body.clone())?;
            keep_nulls(&mut params.extra, &body);
            out.details(
                &versions.update(&assistant_id, &version_id, &params).await?,
                ASSISTANT_DETAILS,
            )
        }
        VersionsCommand::Delete {
            assistant_id,
            version_id,
        } => {
            versions.delete(&assistant_id, &version_id).await?;
            out.done(
                &json!({"assistant_id": assistant_id, "version_id": version_id, "deleted": true}),
                &format!("deleted version {version_id} of {assistant_id}"),
            )
        }
        VersionsCommand::Promote {
            assistant_id,
            version_id,
        } => out.details(
            &versions.promote(&assistant_id, &version_id).await?,
            ASSISTANT_DETAILS,
        ),
    }
}

async fn canary(client: &Client, out: &Printer, command: CanaryCommand) -> anyhow::Result<()> {
    let canary = client.ai().assistants().canary_deploys();
    match command {
        CanaryCommand::Get { assistant_id } => out.canary(&canary.retrieve(&assistant_id).await?),
        CanaryCommand::Set {
            assistant_id,
            version,
            rollout,
            matches,
            json,
        } => {
            let params = match json {
                Some(path) => from_body(read_json_object(Some(&path))?)?,
                None => canary_from_flags(version, &rollout, &matches)?,
            };
            out.canary(&canary.create(&assistant_id, &params).await?)
        }
        CanaryCommand::Delete { assistant_id } => {
            canary.delete(&assistant_id).await?;
            out.done(
                &json!({"assistant_id": assistant_id, "deleted": true}),
                &format!("deleted the canary deploy of {assistant_id}"),
            )
        }
    }
}

/// One rule from `--version`/`--rollout` and `--match` flags.
fn canary_from_flags(
    version: Option<String>,
    rollout: &[String],
    matches: &[String],
) -> anyhow::Result<CanaryDeployParams> {
    let serve = match version {
        Some(version) => CanaryServe::version(version),
        None if rollout.is_empty() => bail!("give --version, --rollout or --json"),
        None => CanaryServe::rollout(
            rollout
                .iter()
                .map(|slot| {
                    let (version_id, weight) = slot
                        .rsplit_once('=')
                        .with_context(|| format!("--rollout {slot:?} is not VERSION_ID=WEIGHT"))?;
                    let weight = weight.parse().with_context(|| {
                        format!("--rollout {slot:?}: the weight is not a number")
                    })?;
                    Ok(RolloutSlot {
                        version_id: version_id.to_owned(),
                        weight,
                    })
                })
                .collect::<anyhow::Result<_>>()?,
        ),
    };
    let matches = matches
        .iter()
        .map(|clause| {
            let (attribute, values) = clause
                .split_once('=')
                .with_context(|| format!("--match {clause:?} is not ATTRIBUTE=VALUE[,VALUE…]"))?;
            Ok(Clause {
                attribute: attribute.to_owned(),
                operator: ClauseOperator::In,
                values: values.split(',').map(str::to_owned).collect(),
            })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(CanaryDeployParams {
        rules: vec![CanaryRule { matches, serve }],
    })
}

async fn mcp(client: &Client, out: &Printer, command: McpCommand) -> anyhow::Result<()> {
    const COLUMNS: &[&str] = &["id", "name", "type", "url", "allowed_tools", "api_key_ref"];
    const DETAILS: &[&str] = &[
        "id",
        "name",
        "type",
        "url",
        "allowed_tools",
        "api_key_ref",
        "created_at",
    ];
    let servers = client.ai().mcp_servers();
    match command {
        McpCommand::List {
            paging,
            server_type,
            url,
        } => {
            let params = McpServerListParams {
                page_number: paging.page,
                page_size: paging.page_size,
                server_type,
                url,
            };
            let items = if paging.page.is_some() {
                servers.list_with(&params).await?
            } else {
                servers.list_all(&params).try_collect().await?
            };
            out.list(&items, COLUMNS)
        }
        McpCommand::Get { id } => out.details(&servers.retrieve(&id).await?, DETAILS),
        McpCommand::Create {
            name,
            server_type,
            url,
            allowed_tools,
            api_key_ref,
            json,
        } => {
            let mut body = read_json_object(json.as_ref())?;
            for (key, value) in [
                ("name", name),
                ("type", server_type),
                ("url", url),
                ("api_key_ref", api_key_ref),
            ] {
                if let Some(value) = value {
                    body.insert(key.into(), Value::String(value));
                }
            }
            if !allowed_tools.is_empty() {
                body.insert("allowed_tools".into(), json!(allowed_tools));
            }
            for (required, flag) in [("name", "--name"), ("type", "--type"), ("url", "--url")] {
                if !body.get(required).is_some_and(Value::is_string) {
                    bail!("{flag} is required (or `{required}` in --json)");
                }
            }
            let params: McpServerCreateParams = from_body(body)?;
            out.details(&servers.create(&params).await?, DETAILS)
        }
        McpCommand::Update {
            id,
            name,
            server_type,
            url,
            allowed_tools,
            api_key_ref,
            json,
        } => {
            let mut body = read_json_object(json.as_ref())?;
            for (key, value) in [
                ("name", name),
                ("type", server_type),
                ("url", url),
                ("api_key_ref", api_key_ref),
            ] {
                if let Some(value) = value {
                    body.insert(key.into(), Value::String(value));
                }
            }
            if !allowed_tools.is_empty() {
                body.insert("allowed_tools".into(), json!(allowed_tools));
            }
            if body.is_empty() {
                bail!("nothing to change: give a field flag or --json");
            }
            let mut params: McpServerUpdateParams = from_body(body.clone())?;
            keep_nulls(&mut params.extra, &body);
            out.details(&servers.update(&id, &params).await?, DETAILS)
        }
        McpCommand::Delete { id } => {
            servers.delete(&id).await?;
            out.done(
                &json!({"id": id, "deleted": true}),
                &format!("deleted {id}"),
            )
        }
    }
}

async fn secrets(client: &Client, out: &Printer, command: SecretsCommand) -> anyhow::Result<()> {
    const COLUMNS: &[&str] = &["id", "identifier", "created_at", "updated_at"];
    let secrets = client.integration_secrets();
    match command {
        SecretsCommand::List {
            paging,
            secret_type,
        } => {
            let params = IntegrationSecretListParams {
                filter_type: secret_type.map(SecretType::from),
                page_number: paging.page,
                page_size: paging.page_size,
            };
            let items = if paging.page.is_some() {
                secrets.list_with(&params).await?.data
            } else {
                secrets.list_all(&params).try_collect().await?
            };
            out.list(&items, COLUMNS)
        }
        SecretsCommand::Create {
            identifier,
            secret_type,
            token,
            username,
            password,
            json,
        } => {
            let mut body = read_json_object(json.as_ref())?;
            if let Some(kind) = secret_type {
                body.insert("type".into(), serde_json::to_value(SecretType::from(kind))?);
            }
            for (key, value) in [
                ("identifier", identifier),
                ("token", token),
                ("username", username),
                ("password", password),
            ] {
                if let Some(value) = value {
                    body.insert(key.into(), Value::String(value));
                }
            }
            for (required, flag) in [("identifier", "--identifier"), ("type", "--type")] {
                if !body.get(required).is_some_and(Value::is_string) {
                    bail!("{flag} is required (or `{required}` in --json)");
                }
            }
            let params: IntegrationSecretCreateParams = from_body(body)?;
            out.details(&secrets.create(&params).await?, COLUMNS)
        }
        SecretsCommand::Delete { id } => {
            secrets.delete(&id).await?;
            out.done(
                &json!({"id": id, "deleted": true}),
                &format!("deleted {id}"),
            )
        }
    }
}

/// The fields of a connection, in a list and in a detail view.
const CONNECTION_FIELDS: &[&str] = &[
    "id",
    "integration_id",
    "allowed_tools",
    "api_key_ref",
    "base_url",
    "created_at",
];

async fn integrations(
    client: &Client,
    out: &Printer,
    command: IntegrationsCommand,
) -> anyhow::Result<()> {
    let integrations = client.ai().integrations();
    match command {
        IntegrationsCommand::List => out.list(
            &integrations.list().await?.data,
            &["id", "display_name", "status", "available_tools"],
        ),
        IntegrationsCommand::Get { id } => out.details(
            &integrations.retrieve(&id).await?,
            &[
                "id",
                "display_name",
                "description",
                "status",
                "available_tools",
            ],
        ),
        IntegrationsCommand::Connections => out.list(
            &integrations.connections().list().await?.data,
            CONNECTION_FIELDS,
        ),
        IntegrationsCommand::Connect {
            id,
            api_key_ref,
            allowed_tools,
            base_url,
        } => out.details(
            &integrations
                .connections()
                .create(&IntegrationConnectionCreateParams {
                    integration_id: id,
                    api_key_ref,
                    allowed_tools: (!allowed_tools.is_empty()).then_some(allowed_tools),
                    base_url,
                })
                .await?,
            CONNECTION_FIELDS,
        ),
        IntegrationsCommand::Connection { id } => out.details(
            &integrations.connections().retrieve(&id).await?,
            CONNECTION_FIELDS,
        ),
        IntegrationsCommand::Disconnect { id } => {
            integrations.connections().delete(&id).await?;
            out.done(
                &json!({"id": id, "deleted": true}),
                &format!("deleted connection {id}"),
            )
        }
    }
}

/// The columns of a conversation in a list, and its rows in a detail view.
const CONVERSATION_COLUMNS: &[&str] = &["id", "name", "created_at", "last_message_at", "metadata"];

async fn conversations(
    client: &Client,
    out: &Printer,
    command: ConversationsCommand,
) -> anyhow::Result<()> {
    let conversations = client.ai().conversations();
    match command {
        ConversationsCommand::List {
            assistant,
            filter,
            order,
            limit,
        } => {
            let mut params = ConversationListParams::new();
            if let Some(assistant) = assistant {
                params = params.assistant_id(assistant);
            }
            for pair in &filter {
                let (name, value) = pair
                    .split_once('=')
                    .filter(|(name, _)| !name.is_empty())
                    .with_context(|| {
                        format!(
                            "--filter {pair:?} is not NAME=OPERATOR.VALUE \
                             (e.g. metadata->tier=eq.gold)"
                        )
                    })?;
                params = params.pair(name, value);
            }
            if let Some(order) = order {
                params = params.pair("order", order);
            }
            if let Some(limit) = limit {
                params = params.limit(limit);
            }
            let list = conversations.list(&params).await?;
            if out.output == Output::Json {
                return out.json(&list.data);
            }
            let rows: Vec<Value> = list.data.iter().map(conversation_view).collect();
            out.list(&rows, CONVERSATION_COLUMNS)
        }
        ConversationsCommand::Get { id } => {
            let conversation = conversations.retrieve(&id).await?;
            out.conversation(&conversation)
        }
        ConversationsCommand::Messages { id, paging } => {
            let messages = conversations.messages(&id);
            let items: Vec<ConversationMessage> = if paging.page.is_some() {
                messages.list(&paging.params()).await?.data
            } else {
                messages.list_all(&paging.params()).try_collect().await?
            };
            if out.output == Output::Json {
                return out.json(&items);
            }
            let rows: Vec<Value> = items.iter().map(message_view).collect();
            out.list(&rows, &["created_at", "role", "name", "text"])
        }
        ConversationsCommand::Create { name, metadata } => {
            let metadata = key_values(&metadata, "--metadata")?;
            let params = ConversationCreateParams {
                name,
                metadata: (!metadata.is_empty()).then_some(metadata),
                ..Default::default()
            };
            out.conversation(&conversations.create(&params).await?)
        }
        ConversationsCommand::Update {
            id,
            metadata,
            remove,
        } => {
            if metadata.is_empty() && remove.is_empty() {
                bail!("give --metadata KEY=VALUE or --remove KEY (repeat for several)");
            }
            let mut params = ConversationUpdateParams::default();
            for key in remove {
                params = params.remove(key);
            }
            for (key, value) in key_values(&metadata, "--metadata")? {
                params = params.set(key, value);
            }
            out.conversation(&conversations.update(&id, &params).await?)
        }
        ConversationsCommand::Delete { id } => {
            conversations.delete(&id).await?;
            out.done(
                &json!({"id": id, "deleted": true}),
                &format!("deleted {id}"),
            )
        }
    }
}

async fn ai_models(client: &Client, out: &Printer, command: AiModelsCommand) -> anyhow::Result<()> {
    match command {
        AiModelsCommand::List => {
            let models = client.ai().models().list().await?;
            if out.output == Output::Json {
                return out.json(&models.data);
            }
            let rows = models
                .data
                .iter()
                .map(|m| {
                    let default = if m.recommended_for_assistants == Some(true) {
                        "*"
                    } else {
                        ""
                    };
                    vec![default.to_owned(), m.id.clone(), m.owned_by.clone()]
                })
                .collect();
            emit(&table(&["", "id", "owned_by"], rows))
        }
    }
}

/// `KEY=VALUE` arguments as a JSON object: values that parse as JSON (`42`, `true`,
/// `{"a": 1}`) are sent as such, others as strings; `flag` names them in errors.
fn key_values_json(items: &[String], flag: &str) -> anyhow::Result<Map<String, Value>> {
    Ok(key_values(items, flag)?
        .into_iter()
        .map(|(key, value)| {
            let value = serde_json::from_str(&value).unwrap_or(Value::String(value));
            (key, value)
        })
        .collect())
}

/// `KEY=VALUE` arguments as a map; `flag` names them in errors.
fn key_values(items: &[String], flag: &str) -> anyhow::Result<BTreeMap<String, String>> {
    items
        .iter()
        .map(|item| match item.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
            _ => bail!("{flag} {item:?} is not KEY=VALUE"),
        })
        .collect()
}

/// A conversation for a table: its metadata as `key=value` pairs.
fn conversation_view(conversation: &Conversation) -> Value {
    let metadata = conversation
        .metadata
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ");
    json!({
        "id": conversation.id,
        "name": conversation.name,
        "created_at": conversation.created_at,
        "last_message_at": conversation.last_message_at,
        "metadata": metadata,
    })
}

/// A message for a table: tool calls written out after the text, the call a tool message
/// answers before it.
fn message_view(message: &ConversationMessage) -> Value {
    let mut text = message.text.clone();
    if let Some(id) = &message.tool_call_id {
        text = format!("[{id}] {text}");
    }
    for call in message.tool_calls.iter().flatten() {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(&format!(
            "→ {}({})",
            call.function.name, call.function.arguments
        ));
    }
    json!({
        "created_at": message.created_at,
        "role": message.role,
        "name": message.name,
        "text": text,
    })
}

/// Reads a JSON object from a file, or standard input for `-`; an empty object without one.
fn read_json_object(path: Option<&PathBuf>) -> anyhow::Result<Map<String, Value>> {
    let Some(path) = path else {
        return Ok(Map::new());
    };
    let text = if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read standard input")?;
        text
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
    };
    match serde_json::from_str(&text) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => bail!("{} must hold a JSON object", path.display()),
        Err(e) => bail!("{} is not valid JSON: {e}", path.display()),
    }
}

/// A request body from a JSON object.
fn from_body<T: DeserializeOwned>(body: Map<String, Value>) -> anyhow::Result<T> {
    serde_json::from_value(Value::Object(body)).context("invalid request body")
}

/// Puts the `null`s of `body` back into `extra`: typed fields read `null` as unset, but on
/// update `null` means "clear this field".
fn keep_nulls(extra: &mut Map<String, Value>, body: &Map<String, Value>) {
    for (key, value) in body {
        if value.is_null() {
            extra.insert(key.clone(), Value::Null);
        }
    }
}

/// Prints results as tables or JSON.
struct Printer {
    output: Output,
}

impl Printer {
    fn json(&self, value: &impl Serialize) -> anyhow::Result<()> {
        emit(&format!("{}\n", serde_json::to_string_pretty(value)?))
    }

    /// A list: one row per item with these columns.
    fn list<T: Serialize>(&self, items: &[T], columns: &[&str]) -> anyhow::Result<()> {
        if self.output == Output::Json {
            return self.json(&items);
        }
        let rows = items
            .iter()
            .map(|item| {
                let value = serde_json::to_value(item)?;
                Ok(columns
                    .iter()
                    .map(|c| truncate(&cell(value.get(*c)), 60))
                    .collect())
            })
            .collect::<anyhow::Result<Vec<Vec<String>>>>()?;
        emit(&table(columns, rows))
    }

    /// One object: a `field value` row for each of these fields it has.
    fn details(&self, item: &impl Serialize, fields: &[&str]) -> anyhow::Result<()> {
        if self.output == Output::Json {
            return self.json(item);
        }
        let value = serde_json::to_value(item)?;
        let rows = fields
            .iter()
            .filter_map(|f| {
                let text = cell(value.get(*f));
                (!text.is_empty()).then(|| vec![(*f).to_owned(), text])
            })
            .collect();
        emit(&table(&[], rows))
    }

    /// A canary deploy: its dates, then one row per rule.
    fn canary(&self, deploy: &CanaryDeploy) -> anyhow::Result<()> {
        if self.output == Output::Json {
            return self.json(deploy);
        }
        self.details(deploy, &["assistant_id", "created_at", "updated_at"])?;
        let rows = deploy
            .rules
            .iter()
            .enumerate()
            .map(|(i, rule)| {
                let matches = rule
                    .matches
                    .iter()
                    .map(|c| {
                        let operator = serde_json::to_value(c.operator)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default();
                        format!("{} {operator} {}", c.attribute, c.values.join(","))
                    })
                    .collect::<Vec<_>>()
                    .join(" and ");
                let serve = match (&rule.serve.version_id, &rule.serve.rollout) {
                    (Some(version), _) => version.clone(),
                    (None, Some(slots)) => {
                        let total: f64 = slots.iter().map(|s| s.weight).sum();
                        let mut parts: Vec<String> = slots
                            .iter()
                            .map(|s| format!("{} {}%", s.version_id, s.weight))
                            .collect();
                        parts.push(format!("main {}%", 100.0 - total));
                        parts.join(", ")
                    }
                    (None, None) => String::new(),
                };
                let matches = if matches.is_empty() {
                    "*".to_owned()
                } else {
                    matches
                };
                vec![(i + 1).to_string(), matches, serve]
            })
            .collect();
        emit(&format!("\n{}", table(&["rule", "match", "serve"], rows)))
    }

    /// One conversation: its fields, then one row per metadata entry.
    fn conversation(&self, conversation: &Conversation) -> anyhow::Result<()> {
        if self.output == Output::Json {
            return self.json(conversation);
        }
        let mut rows: Vec<Vec<String>> = ["id", "name", "created_at", "last_message_at"]
            .iter()
            .zip([
                Some(&conversation.id),
                conversation.name.as_ref(),
                Some(&conversation.created_at),
                Some(&conversation.last_message_at),
            ])
            .filter_map(|(field, value)| {
                Some(vec![(*field).to_owned(), cell(Some(&json!(value?)))])
            })
            .collect();
        rows.extend(
            conversation
                .metadata
                .iter()
                .map(|(k, v)| vec![format!("metadata.{k}"), cell(Some(&json!(v)))]),
        );
        emit(&table(&[], rows))
    }

    /// A command without an object to show: a sentence, or the response as JSON.
    fn done(&self, response: &impl Serialize, message: &str) -> anyhow::Result<()> {
        match self.output {
            Output::Json => self.json(response),
            Output::Table => emit(&format!("{message}\n")),
        }
    }
}

/// Writes to standard output; a closed pipe (`parley … | head`) ends the output quietly.
fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("cannot write to standard output"))
        }
        _ => Ok(()),
    }
}

/// A value as one table cell: strings as they are, lists of strings joined, tools by type,
/// anything else as compact JSON; white space collapsed to single spaces.
fn cell(value: Option<&Value>) -> String {
    let text = match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => text.clone(),
                Value::Object(object) if object.get("type").is_some_and(Value::is_string) => {
                    object["type"].as_str().unwrap_or_default().to_owned()
                }
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Some(other) => other.to_string(),
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

/// Aligned columns, two spaces apart; a header row when `headers` is not empty.
fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut all: Vec<Vec<String>> = Vec::with_capacity(rows.len() + 1);
    if !headers.is_empty() {
        all.push(headers.iter().map(|h| (*h).to_owned()).collect());
    }
    all.extend(rows);
    let columns = all.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            all.iter()
                .filter_map(|row| row.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &all {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 < row.len() {
                line.push_str(cell);
                line.push_str(&" ".repeat(widths[c] - cell.chars().count() + 2));
            } else {
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_and_cells_are_one_line() {
        let rows = vec![
            vec!["assistant-1".into(), "Support".into()],
            vec!["a".into(), "".into()],
        ];
        assert_eq!(
            table(&["id", "name"], rows),
            "id           name\nassistant-1  Support\na\n"
        );
        assert_eq!(cell(Some(&json!("two\nlines  here"))), "two lines here");
        assert_eq!(cell(Some(&json!(["a", "b"]))), "a, b");
        assert_eq!(
            cell(Some(
                &json!([{"type": "hangup", "hangup": {}}, {"type": "webhook"}])
            )),
            "hangup, webhook"
        );
        assert_eq!(cell(Some(&json!(1500))), "1500");
        assert_eq!(truncate("abcdef", 4), "abc…");
    }

    #[test]
    fn canary_flags_make_one_rule() {
        let params = canary_from_flags(
            None,
            &["v1=25".into(), "v2=5.5".into()],
            &["tier=gold,silver".into()],
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(&params).unwrap(),
            json!({"rules": [{"match": [{"attribute": "tier", "operator": "in", "values": ["gold", "silver"]}],
                              "serve": {"rollout": [{"version_id": "v1", "weight": 25.0},
                                                    {"version_id": "v2", "weight": 5.5}]}}]})
        );
        assert!(canary_from_flags(None, &[], &[]).is_err());
        assert!(canary_from_flags(None, &["v1".into()], &[]).is_err());
        assert!(canary_from_flags(Some("v".into()), &[], &["tier".into()]).is_err());
    }

    #[test]
    fn update_bodies_keep_nulls_that_clear_fields() {
        let body = json!({"greeting": null, "name": "N", "unknown": null});
        let body = body.as_object().unwrap().clone();
        let mut params: AssistantUpdateParams = from_body(body.clone()).unwrap();
        keep_nulls(&mut params.extra, &body);
        assert_eq!(
            serde_json::to_value(&params).unwrap(),
            json!({"name": "N", "greeting": null, "unknown": null})
        );
    }
}
