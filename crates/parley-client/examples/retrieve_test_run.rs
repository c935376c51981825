//! Get specific test run details — `GET /ai/assistants/tests/{test_id}/runs/{run_id}`.
//!
//! `cargo run -p parley-client --example retrieve_test_run -- TEST_ID RUN_ID`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   test_run_response = telnyx.ai.assistants.tests.runs.retrieve("run_id", test_id: "test_id")

use parley_client::Client;
use std::env::args;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;
    let test_id = args().nth(1).unwrap_or_else(|| "test_id".into());
    let run_id = args().nth(2).unwrap_or_else(|| "run_id".into());

    let test_run_response = telnyx
        .ai()
        .assistants()
        .tests()
        .runs()
        .retrieve(&test_id, &run_id)
        .await?;
    print(&test_run_response)
}

/// Prints a response as JSON, like Ruby's `puts`.
fn print(response: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(response)?);
    Ok(())
}
