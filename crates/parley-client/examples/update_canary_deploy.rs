//! Update Canary Deploy — `PUT /ai/assistants/{assistant_id}/canary-deploys`.
//!
//! `cargo run -p parley-client --example update_canary_deploy -- ASSISTANT_ID VERSION_ID`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   canary_deploy_response = telnyx.ai.assistants.canary_deploys.update(
//     "assistant_id",
//     versions: [{percentage: 1, version_id: "version_id"}]
//   )

use parley_client::types::canary_deploys::{
    CanaryDeployParams, CanaryRule, CanaryServe, RolloutSlot,
};
use parley_client::Client;
use std::env::args;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;
    let assistant_id = args().nth(1).unwrap_or_else(|| "assistant_id".into());
    let version_id = args().nth(2).unwrap_or_else(|| "version_id".into());

    // The contract's body is `rules`: 1 % of conversations get `version_id`, the rest main.
    let canary_deploy_response = telnyx
        .ai()
        .assistants()
        .canary_deploys()
        .update(
            &assistant_id,
            &CanaryDeployParams {
                rules: vec![CanaryRule {
                    serve: CanaryServe::rollout(vec![RolloutSlot {
                        version_id,
                        weight: 1.0,
                    }]),
                    ..Default::default()
                }],
            },
        )
        .await?;
    print(&canary_deploy_response)
}

/// Prints a response as JSON, like Ruby's `puts`.
fn print(response: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(response)?);
    Ok(())
}
