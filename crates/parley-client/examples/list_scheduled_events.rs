//! List scheduled events — `GET /ai/assistants/{assistant_id}/scheduled_events`.
//!
//! `cargo run -p parley-client --example list_scheduled_events -- ASSISTANT_ID`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   page = telnyx.ai.assistants.scheduled_events.list("assistant_id")

use parley_client::Client;
use std::env::args;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;
    let assistant_id = args().nth(1).unwrap_or_else(|| "assistant_id".into());

    let page = telnyx
        .ai()
        .assistants()
        .scheduled_events()
        .list(&assistant_id)
        .await?;
    print(&page)
}

/// Prints a response as JSON, like Ruby's `puts`.
fn print(response: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(response)?);
    Ok(())
}
