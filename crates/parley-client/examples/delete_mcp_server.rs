//! Delete MCP Server — `DELETE /ai/mcp_servers/{mcp_server_id}`.
//!
//! `cargo run -p parley-client --example delete_mcp_server -- MCP_SERVER_ID`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   result = telnyx.ai.mcp_servers.delete("mcp_server_id")

use parley_client::Client;
use std::env::args;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;
    let mcp_server_id = args().nth(1).unwrap_or_else(|| "mcp_server_id".into());

    telnyx.ai().mcp_servers().delete(&mcp_server_id).await?;
    println!("deleted MCP server {mcp_server_id}");
    Ok(())
}
