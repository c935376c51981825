//! Create an assistant — `POST /ai/assistants`.
//!
//! `cargo run -p parley-client --example create_assistant`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   inference_embedding = telnyx.ai.assistants.create(instructions: "instructions", model: "model", name: "name")

use parley_client::types::assistants::AssistantCreateParams;
use parley_client::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;

    let inference_embedding = telnyx
        .ai()
        .assistants()
        .create(&AssistantCreateParams {
            instructions: "instructions".into(),
            model: Some("model".into()),
            name: "name".into(),
            ..Default::default()
        })
        .await?;
    print(&inference_embedding)
}

/// Prints a response as JSON, like Ruby's `puts`.
fn print(response: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(response)?);
    Ok(())
}
