//! Shared tools — `/ai/tools` and `/ai/assistants/{assistant_id}/tools/{tool_id}`: a webhook
//! tool in the Tools Library, attached to an assistant, renamed, detached and deleted. The
//! Ruby guide has no section for these; the Python SDK calls them `client.ai.tools.*`.
//!
//! `cargo run -p parley-client --example shared_tools -- ASSISTANT_ID [WEBHOOK_URL]`

use futures::TryStreamExt;
use parley_client::types::tools::{SharedToolCreateParams, SharedToolUpdateParams};
use parley_client::Client;
use serde_json::json;
use std::env::args;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;
    let assistant_id = args().nth(1).unwrap_or_else(|| "assistant_id".into());
    let url = args()
        .nth(2)
        .unwrap_or_else(|| "https://api.example.com/orders".into());
    let tools = telnyx.ai().tools();

    let tool = tools
        .create(&SharedToolCreateParams::new(
            "Order status",
            "webhook",
            json!({
                "name": "order_status",
                "description": "Looks up an order by its number.",
                "url": url,
                "method": "GET",
            }),
        ))
        .await?;
    print(&tool)?;

    // Every tool, page after page.
    let all: Vec<_> = tools.list_all(&Default::default()).try_collect().await?;
    println!("{} shared tool(s)", all.len());

    // Attached, the tool shows in the assistant's `tools` with `"shared": true`.
    let assistant = telnyx
        .ai()
        .assistants()
        .tools()
        .add(&assistant_id, &tool.id)
        .await?;
    println!(
        "{} now has {} tool(s)",
        assistant_id,
        assistant["tools"].as_array().map_or(0, Vec::len)
    );

    let renamed = tools
        .update(
            &tool.id,
            &SharedToolUpdateParams {
                display_name: Some("Order lookup".into()),
                ..Default::default()
            },
        )
        .await?;
    print(&renamed)?;

    telnyx
        .ai()
        .assistants()
        .tools()
        .remove(&assistant_id, &tool.id)
        .await?;
    tools.delete(&tool.id).await?;
    println!("deleted shared tool {}", tool.id);
    Ok(())
}

/// Prints a response as JSON, like Ruby's `puts`.
fn print(response: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(response)?);
    Ok(())
}
