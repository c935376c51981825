//! Import assistants from external provider — `POST /ai/assistants/import`.
//!
//! `cargo run -p parley-client --example import_assistants -- API_KEY_REF PROVIDER`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   assistants_list = telnyx.ai.assistants.imports(api_key_ref: "api_key_ref", provider: :elevenlabs)

use parley_client::types::imports::AssistantImportParams;
use parley_client::Client;
use std::env::args;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;
    let api_key_ref = args().nth(1).unwrap_or_else(|| "api_key_ref".into());
    let provider = args().nth(2).unwrap_or_else(|| "elevenlabs".into());

    let assistants_list = telnyx
        .ai()
        .assistants()
        .imports(&AssistantImportParams {
            api_key_ref,
            provider,
            ..Default::default()
        })
        .await?;
    print(&assistants_list)
}

/// Prints a response as JSON, like Ruby's `puts`.
fn print(response: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(response)?);
    Ok(())
}
