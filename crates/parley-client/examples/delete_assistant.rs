//! Delete an assistant — `DELETE /ai/assistants/{assistant_id}`.
//!
//! `cargo run -p parley-client --example delete_assistant -- ASSISTANT_ID`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   assistant = telnyx.ai.assistants.delete("assistant_id")

use parley_client::Client;
use std::env::args;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;
    let assistant_id = args().nth(1).unwrap_or_else(|| "assistant_id".into());

    let assistant = telnyx.ai().assistants().delete(&assistant_id).await?;
    print(&assistant)
}

/// Prints a response as JSON, like Ruby's `puts`.
fn print(response: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(response)?);
    Ok(())
}
