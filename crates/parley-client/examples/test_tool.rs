//! Test Assistant Tool — `POST /ai/assistants/{assistant_id}/tools/{tool_id}/test`.
//!
//! `cargo run -p parley-client --example test_tool -- ASSISTANT_ID TOOL_ID`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   response = telnyx.ai.assistants.tools.test_("tool_id", assistant_id: "assistant_id")

use parley_client::types::tools::ToolTestParams;
use parley_client::Client;
use std::env::args;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;
    let assistant_id = args().nth(1).unwrap_or_else(|| "assistant_id".into());
    let tool_id = args().nth(2).unwrap_or_else(|| "tool_id".into());

    // TOOL_ID is a shared tool's id, or the `name` of one of the assistant's webhook tools.
    let response = telnyx
        .ai()
        .assistants()
        .tools()
        .test(&assistant_id, &tool_id, &ToolTestParams::default())
        .await?;
    print(&response)
}

/// Prints a response as JSON, like Ruby's `puts`.
fn print(response: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(response)?);
    Ok(())
}
