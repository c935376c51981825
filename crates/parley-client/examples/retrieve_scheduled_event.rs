//! Get a scheduled event — `GET /ai/assistants/{assistant_id}/scheduled_events/{event_id}`.
//!
//! `cargo run -p parley-client --example retrieve_scheduled_event -- ASSISTANT_ID EVENT_ID`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   scheduled_event_response = telnyx.ai.assistants.scheduled_events.retrieve("event_id", assistant_id: "assistant_id")

use parley_client::Client;
use std::env::args;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;
    let assistant_id = args().nth(1).unwrap_or_else(|| "assistant_id".into());
    let event_id = args().nth(2).unwrap_or_else(|| "event_id".into());

    let scheduled_event_response = telnyx
        .ai()
        .assistants()
        .scheduled_events()
        .retrieve(&assistant_id, &event_id)
        .await?;
    print(&scheduled_event_response)
}

/// Prints a response as JSON, like Ruby's `puts`.
fn print(response: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(response)?);
    Ok(())
}
