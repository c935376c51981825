//! List Integrations — `GET /ai/integrations`.
//!
//! `cargo run -p parley-client --example list_integrations`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   integrations = telnyx.ai.integrations.list

use parley_client::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;

    let integrations = telnyx.ai().integrations().list().await?;
    print(&integrations)
}

/// Prints a response as JSON, like Ruby's `puts`.
fn print(response: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(response)?);
    Ok(())
}
