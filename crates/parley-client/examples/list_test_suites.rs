//! Get all test suite names — `GET /ai/assistants/tests/test-suites`.
//!
//! `cargo run -p parley-client --example list_test_suites`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   test_suites = telnyx.ai.assistants.tests.test_suites.list

use parley_client::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;

    let test_suites = telnyx
        .ai()
        .assistants()
        .tests()
        .test_suites()
        .list()
        .await?;
    print(&test_suites)
}

/// Prints a response as JSON, like Ruby's `puts`.
fn print(response: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(response)?);
    Ok(())
}
