//! Delete an assistant test — `DELETE /ai/assistants/tests/{test_id}`.
//!
//! `cargo run -p parley-client --example delete_test -- TEST_ID`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   result = telnyx.ai.assistants.tests.delete("test_id")

use parley_client::Client;
use std::env::args;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;
    let test_id = args().nth(1).unwrap_or_else(|| "test_id".into());

    telnyx.ai().assistants().tests().delete(&test_id).await?;
    println!("deleted test {test_id}");
    Ok(())
}
