//! List assistants — `GET /ai/assistants`.
//!
//! `cargo run -p parley-client --example list_assistants`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   assistants_list = telnyx.ai.assistants.list

use parley_client::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;

    let assistants_list = telnyx.ai().assistants().list().await?;
    print(&assistants_list)
}

/// Prints a response as JSON, like Ruby's `puts`.
fn print(response: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(response)?);
    Ok(())
}
