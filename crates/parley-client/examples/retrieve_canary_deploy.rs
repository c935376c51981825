//! Get Canary Deploy — `GET /ai/assistants/{assistant_id}/canary-deploys`.
//!
//! `cargo run -p parley-client --example retrieve_canary_deploy -- ASSISTANT_ID`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   canary_deploy_response = telnyx.ai.assistants.canary_deploys.retrieve("assistant_id")

use parley_client::Client;
use std::env::args;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;
    let assistant_id = args().nth(1).unwrap_or_else(|| "assistant_id".into());

    let canary_deploy_response = telnyx
        .ai()
        .assistants()
        .canary_deploys()
        .retrieve(&assistant_id)
        .await?;
    print(&canary_deploy_response)
}

/// Prints a response as JSON, like Ruby's `puts`.
fn print(response: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(response)?);
    Ok(())
}
