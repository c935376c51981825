//! List assistant tests with pagination — `GET /ai/assistants/tests`.
//!
//! `cargo run -p parley-client --example list_tests`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   page = telnyx.ai.assistants.tests.list

use parley_client::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;

    let page = telnyx.ai().assistants().tests().list().await?;
    print(&page)
}

/// Prints a response as JSON, like Ruby's `puts`.
fn print(response: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(response)?);
    Ok(())
}
