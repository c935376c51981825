//! Get test run history for a specific test — `GET /ai/assistants/tests/{test_id}/runs`.
//!
//! `cargo run -p parley-client --example list_test_runs -- TEST_ID`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   page = telnyx.ai.assistants.tests.runs.list("test_id")

use parley_client::Client;
use std::env::args;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;
    let test_id = args().nth(1).unwrap_or_else(|| "test_id".into());

    let page = telnyx
        .ai()
        .assistants()
        .tests()
        .runs()
        .list(&test_id)
        .await?;
    print(&page)
}

/// Prints a response as JSON, like Ruby's `puts`.
fn print(response: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(response)?);
    Ok(())
}
