//! List User Integrations — `GET /ai/integrations/connections`.
//!
//! `cargo run -p parley-client --example list_connections`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   connections = telnyx.ai.integrations.connections.list

use parley_client::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;

    let connections = telnyx.ai().integrations().connections().list().await?;
    print(&connections)
}

/// Prints a response as JSON, like Ruby's `puts`.
fn print(response: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(response)?);
    Ok(())
}
