//! Trigger test suite execution — `POST /ai/assistants/tests/test-suites/{suite_name}/runs`.
//!
//! `cargo run -p parley-client --example trigger_test_suite_runs -- SUITE_NAME`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   test_run_responses = telnyx.ai.assistants.tests.test_suites.runs.trigger("suite_name")

use parley_client::Client;
use std::env::args;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;
    let suite_name = args().nth(1).unwrap_or_else(|| "suite_name".into());

    let test_run_responses = telnyx
        .ai()
        .assistants()
        .tests()
        .test_suites()
        .runs()
        .trigger(&suite_name)
        .await?;
    print(&test_run_responses)
}

/// Prints a response as JSON, like Ruby's `puts`.
fn print(response: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(response)?);
    Ok(())
}
