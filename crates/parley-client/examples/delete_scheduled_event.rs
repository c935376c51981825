//! Delete a scheduled event — `DELETE /ai/assistants/{assistant_id}/scheduled_events/{event_id}`.
//!
//! `cargo run -p parley-client --example delete_scheduled_event -- ASSISTANT_ID EVENT_ID`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   result = telnyx.ai.assistants.scheduled_events.delete("event_id", assistant_id: "assistant_id")

use parley_client::Client;
use std::env::args;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;
    let assistant_id = args().nth(1).unwrap_or_else(|| "assistant_id".into());
    let event_id = args().nth(2).unwrap_or_else(|| "event_id".into());

    telnyx
        .ai()
        .assistants()
        .scheduled_events()
        .delete(&assistant_id, &event_id)
        .await?;
    println!("deleted scheduled event {event_id}");
    Ok(())
}
