//! Create a new assistant test — `POST /ai/assistants/tests`.
//!
//! `cargo run -p parley-client --example create_test -- DESTINATION`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   assistant_test = telnyx.ai.assistants.tests.create(
//     destination: "+15551234567",
//     instructions: "Act as a frustrated customer who received a damaged product. Ask for a refund and escalate if not satisfied with the initial response.",
//     name: "Customer Support Bot Test",
//     rubric: [
//       {criteria: "Assistant responds within 30 seconds", name: "Response Time"},
//       {criteria: "Provides correct product information", name: "Accuracy"}
//     ]
//   )

use parley_client::types::assistant_tests::{Rubric, TestCreateParams};
use parley_client::Client;
use std::env::args;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;
    let destination = args().nth(1).unwrap_or_else(|| "+15551234567".into());

    // For a `web_chat` test (the default channel) the destination is an assistant id.
    let assistant_test = telnyx
        .ai()
        .assistants()
        .tests()
        .create(&TestCreateParams {
            destination,
            instructions: "Act as a frustrated customer who received a damaged product. Ask for \
                           a refund and escalate if not satisfied with the initial response."
                .into(),
            name: "Customer Support Bot Test".into(),
            rubric: vec![
                Rubric {
                    criteria: "Assistant responds within 30 seconds".into(),
                    name: "Response Time".into(),
                },
                Rubric {
                    criteria: "Provides correct product information".into(),
                    name: "Accuracy".into(),
                },
            ],
            ..Default::default()
        })
        .await?;
    print(&assistant_test)
}

/// Prints a response as JSON, like Ruby's `puts`.
fn print(response: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(response)?);
    Ok(())
}
