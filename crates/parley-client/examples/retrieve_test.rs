//! Get assistant test by ID — `GET /ai/assistants/tests/{test_id}`.
//!
//! `cargo run -p parley-client --example retrieve_test -- TEST_ID`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   assistant_test = telnyx.ai.assistants.tests.retrieve("test_id")

use parley_client::Client;
use std::env::args;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;
    let test_id = args().nth(1).unwrap_or_else(|| "test_id".into());

    let assistant_test = telnyx.ai().assistants().tests().retrieve(&test_id).await?;
    print(&assistant_test)
}

/// Prints a response as JSON, like Ruby's `puts`.
fn print(response: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(response)?);
    Ok(())
}
