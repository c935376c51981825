//! Create MCP Server — `POST /ai/mcp_servers`.
//!
//! `cargo run -p parley-client --example create_mcp_server -- NAME TYPE URL`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   mcp_server = telnyx.ai.mcp_servers.create(name: "name", type: "type", url: "url")

use parley_client::types::mcp_servers::McpServerCreateParams;
use parley_client::Client;
use std::env::args;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;
    let name = args().nth(1).unwrap_or_else(|| "name".into());
    let r#type = args().nth(2).unwrap_or_else(|| "type".into());
    let url = args().nth(3).unwrap_or_else(|| "url".into());

    let mcp_server = telnyx
        .ai()
        .mcp_servers()
        .create(&McpServerCreateParams {
            name,
            server_type: r#type,
            url,
            ..Default::default()
        })
        .await?;
    print(&mcp_server)
}

/// Prints a response as JSON, like Ruby's `puts`.
fn print(response: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(response)?);
    Ok(())
}
