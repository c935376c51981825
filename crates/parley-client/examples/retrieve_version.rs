//! Get a specific assistant version — `GET /ai/assistants/{assistant_id}/versions/{version_id}`.
//!
//! `cargo run -p parley-client --example retrieve_version -- ASSISTANT_ID VERSION_ID`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   inference_embedding = telnyx.ai.assistants.versions.retrieve("version_id", assistant_id: "assistant_id")

use parley_client::Client;
use std::env::args;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;
    let assistant_id = args().nth(1).unwrap_or_else(|| "assistant_id".into());
    let version_id = args().nth(2).unwrap_or_else(|| "version_id".into());

    let inference_embedding = telnyx
        .ai()
        .assistants()
        .versions()
        .retrieve(&assistant_id, &version_id)
        .await?;
    print(&inference_embedding)
}

/// Prints a response as JSON, like Ruby's `puts`.
fn print(response: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(response)?);
    Ok(())
}
