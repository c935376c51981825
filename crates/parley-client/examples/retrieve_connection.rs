//! Get User Integration connection By Id — `GET /ai/integrations/connections/{user_connection_id}`.
//!
//! `cargo run -p parley-client --example retrieve_connection -- USER_CONNECTION_ID`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   connection = telnyx.ai.integrations.connections.retrieve("user_connection_id")

use parley_client::Client;
use std::env::args;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;
    let user_connection_id = args().nth(1).unwrap_or_else(|| "user_connection_id".into());

    let connection = telnyx
        .ai()
        .integrations()
        .connections()
        .retrieve(&user_connection_id)
        .await?;
    print(&connection)
}

/// Prints a response as JSON, like Ruby's `puts`.
fn print(response: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(response)?);
    Ok(())
}
