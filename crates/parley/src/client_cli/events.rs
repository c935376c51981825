//! `parley events …`: scheduled events — an assistant texts or calls someone at a fixed
//! time.

use super::{from_body, key_values, key_values_json, read_json_object, Output, Paging, Printer};
use anyhow::bail;
use clap::{Subcommand, ValueEnum};
use futures::TryStreamExt;
use parley_client::types::scheduled_events::{
    ScheduledEvent, ScheduledEventCreateParams, ScheduledEventListParams,
};
use parley_client::Client;
use serde_json::{json, Value};
use std::path::PathBuf;

/// The channels of a scheduled event, as flags spell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EventChannel {
    /// A text message (`sms_chat`; needs `--text`).
    Sms,
    /// A phone call (`phone_call`).
    Call,
}

impl EventChannel {
    fn wire(self) -> &'static str {
        match self {
            EventChannel::Sms => "sms_chat",
            EventChannel::Call => "phone_call",
        }
    }
}

/// `parley events …`
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// List an assistant's scheduled events.
    List {
        /// Assistant id.
        assistant_id: String,
        #[command(flatten)]
        paging: Paging,
        /// Only events on this channel.
        #[arg(long, value_enum)]
        channel: Option<EventChannel>,
        /// Only events due at or after this time (ISO 8601).
        #[arg(long, value_name = "DATETIME")]
        from_date: Option<String>,
        /// Only events due at or before this time (ISO 8601).
        #[arg(long, value_name = "DATETIME")]
        to_date: Option<String>,
    },
    /// Show one scheduled event.
    Get {
        /// Assistant id.
        assistant_id: String,
        /// Event id.
        event_id: String,
    },
    /// Schedule a text or a call.
    Create {
        /// Assistant id.
        assistant_id: String,
        /// When (ISO 8601, in the future): `2030-04-15T13:00:00Z`.
        #[arg(long, value_name = "DATETIME")]
        at: Option<String>,
        /// Text or call.
        #[arg(long, value_enum)]
        channel: Option<EventChannel>,
        /// The assistant's number (E.164).
        #[arg(long, value_name = "NUMBER")]
        from: Option<String>,
        /// Who is texted or called (E.164).
        #[arg(long, value_name = "NUMBER")]
        to: Option<String>,
        /// The text of an SMS event.
        #[arg(long)]
        text: Option<String>,
        /// A dynamic variable of the conversation it starts (repeat).
        #[arg(long = "variable", value_name = "NAME=VALUE")]
        variables: Vec<String>,
        /// A metadata entry of that conversation (repeat).
        #[arg(long, value_name = "KEY=VALUE")]
        metadata: Vec<String>,
        /// A JSON file (`-` for standard input) with the whole body; flags override it.
        #[arg(long, value_name = "FILE|-")]
        json: Option<PathBuf>,
    },
    /// Delete a scheduled event (a pending one is never sent).
    Delete {
        /// Assistant id.
        assistant_id: String,
        /// Event id.
        event_id: String,
    },
}

const COLUMNS: &[&str] = &[
    "scheduled_event_id",
    "channel",
    "scheduled_at_fixed_datetime",
    "telnyx_end_user_target",
    "status",
    "text",
];
const DETAILS: &[&str] = &[
    "scheduled_event_id",
    "assistant_id",
    "channel",
    "scheduled_at_fixed_datetime",
    "telnyx_agent_target",
    "telnyx_end_user_target",
    "status",
    "text",
    "conversation_id",
    "call_status",
    "retry_count",
    "errors",
    "created_at",
    "dispatched_at",
];

/// An event with its channel as the flags spell it.
fn view(event: &ScheduledEvent) -> Value {
    let mut value = json!(event);
    value["channel"] = json!(match event.telnyx_conversation_channel.as_str() {
        "sms_chat" => "sms",
        "phone_call" => "call",
        other => other,
    });
    value
}

/// Runs `parley events …`.
pub async fn run(client: &Client, out: &Printer, command: EventsCommand) -> anyhow::Result<()> {
    let events = client.ai().assistants().scheduled_events();
    match command {
        EventsCommand::List {
            assistant_id,
            paging,
            channel,
            from_date,
            to_date,
        } => {
            let params = ScheduledEventListParams {
                conversation_channel: channel.map(|c| c.wire().to_owned()),
                from_date,
                to_date,
                page_number: paging.page,
                page_size: paging.page_size,
            };
            let items: Vec<ScheduledEvent> = if paging.page.is_some() {
                events.list_with(&assistant_id, &params).await?.data
            } else {
                events
                    .list_all(&assistant_id, &params)
                    .try_collect()
                    .await?
            };
            if out.output == Output::Json {
                return out.json(&items);
            }
            let rows: Vec<Value> = items.iter().map(view).collect();
            out.list(&rows, COLUMNS)
        }
        EventsCommand::Get {
            assistant_id,
            event_id,
        } => details(out, &events.retrieve(&assistant_id, &event_id).await?),
        EventsCommand::Create {
            assistant_id,
            at,
            channel,
            from,
            to,
            text,
            variables,
            metadata,
            json,
        } => {
            let mut body = read_json_object(json.as_ref())?;
            for (key, value) in [
                ("scheduled_at_fixed_datetime", at),
                (
                    "telnyx_conversation_channel",
                    channel.map(|c| c.wire().to_owned()),
                ),
                ("telnyx_agent_target", from),
                ("telnyx_end_user_target", to),
                ("text", text),
            ] {
                if let Some(value) = value {
                    body.insert(key.into(), Value::String(value));
                }
            }
            if !variables.is_empty() {
                body.insert(
                    "dynamic_variables".into(),
                    json!(key_values(&variables, "--variable")?),
                );
            }
            if !metadata.is_empty() {
                body.insert(
                    "conversation_metadata".into(),
                    Value::Object(key_values_json(&metadata, "--metadata")?),
                );
            }
            for (required, flag) in [
                ("scheduled_at_fixed_datetime", "--at"),
                ("telnyx_conversation_channel", "--channel"),
                ("telnyx_agent_target", "--from"),
                ("telnyx_end_user_target", "--to"),
            ] {
                if !body.get(required).is_some_and(Value::is_string) {
                    bail!("{flag} is required (or `{required}` in --json)");
                }
            }
            let params: ScheduledEventCreateParams = from_body(body)?;
            details(out, &events.create(&assistant_id, &params).await?)
        }
        EventsCommand::Delete {
            assistant_id,
            event_id,
        } => {
            events.delete(&assistant_id, &event_id).await?;
            out.done(
                &json!({"assistant_id": assistant_id, "scheduled_event_id": event_id, "deleted": true}),
                &format!("deleted scheduled event {event_id}"),
            )
        }
    }
}

fn details(out: &Printer, event: &ScheduledEvent) -> anyhow::Result<()> {
    if out.output == Output::Json {
        return out.json(event);
    }
    out.details(&view(event), DETAILS)
}
