//! Get MCP Server — `GET /ai/mcp_servers/{mcp_server_id}`.
//!
//! `cargo run -p parley-client --example retrieve_mcp_server -- MCP_SERVER_ID`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   mcp_server = telnyx.ai.mcp_servers.retrieve("mcp_server_id")

use parley_client::Client;
use std::env::args;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;
    let mcp_server_id = args().nth(1).unwrap_or_else(|| "mcp_server_id".into());

    let mcp_server = telnyx.ai().mcp_servers().retrieve(&mcp_server_id).await?;
    print(&mcp_server)
}

/// Prints a response as JSON, like Ruby's `puts`.
fn print(response: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(response)?);
    Ok(())
}
