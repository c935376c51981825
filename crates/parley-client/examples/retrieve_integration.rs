//! List Integration By Id — `GET /ai/integrations/{integration_id}`.
//!
//! `cargo run -p parley-client --example retrieve_integration -- INTEGRATION_ID`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   integration = telnyx.ai.integrations.retrieve("integration_id")

use parley_client::Client;
use std::env::args;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;
    let integration_id = args().nth(1).unwrap_or_else(|| "integration_id".into());

    let integration = telnyx.ai().integrations().retrieve(&integration_id).await?;
    print(&integration)
}

/// Prints a response as JSON, like Ruby's `puts`.
fn print(response: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(response)?);
    Ok(())
}
