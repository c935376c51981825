//! Delete a specific assistant version — `DELETE /ai/assistants/{assistant_id}/versions/{version_id}`.
//!
//! `cargo run -p parley-client --example delete_version -- ASSISTANT_ID VERSION_ID`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   result = telnyx.ai.assistants.versions.delete("version_id", assistant_id: "assistant_id")

use parley_client::Client;
use std::env::args;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;
    let assistant_id = args().nth(1).unwrap_or_else(|| "assistant_id".into());
    let version_id = args().nth(2).unwrap_or_else(|| "version_id".into());

    telnyx
        .ai()
        .assistants()
        .versions()
        .delete(&assistant_id, &version_id)
        .await?;
    println!("deleted version {version_id}");
    Ok(())
}
