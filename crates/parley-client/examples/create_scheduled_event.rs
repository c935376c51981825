//! Create a scheduled event — `POST /ai/assistants/{assistant_id}/scheduled_events`.
//!
//! `cargo run -p parley-client --example create_scheduled_event -- ASSISTANT_ID SCHEDULED_AT CHANNEL AGENT_TARGET END_USER_TARGET`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   scheduled_event_response = telnyx.ai.assistants.scheduled_events.create(
//     "assistant_id",
//     scheduled_at_fixed_datetime: "2025-04-15T13:07:28.764Z",
//     telnyx_agent_target: "telnyx_agent_target",
//     telnyx_conversation_channel: :phone_call,
//     telnyx_end_user_target: "telnyx_end_user_target"
//   )

use parley_client::types::scheduled_events::ScheduledEventCreateParams;
use parley_client::Client;
use std::env::args;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;
    let assistant_id = args().nth(1).unwrap_or_else(|| "assistant_id".into());
    let scheduled_at = args()
        .nth(2)
        .unwrap_or_else(|| "2025-04-15T13:07:28.764Z".into());
    let channel = args().nth(3).unwrap_or_else(|| "phone_call".into());
    let agent_target = args()
        .nth(4)
        .unwrap_or_else(|| "telnyx_agent_target".into());
    let end_user_target = args()
        .nth(5)
        .unwrap_or_else(|| "telnyx_end_user_target".into());

    // An SMS event (`sms_chat`) also needs its `text`.
    let text = (channel == "sms_chat").then(|| "Your appointment is tomorrow at 10.".to_owned());

    let scheduled_event_response = telnyx
        .ai()
        .assistants()
        .scheduled_events()
        .create(
            &assistant_id,
            &ScheduledEventCreateParams {
                scheduled_at_fixed_datetime: scheduled_at,
                telnyx_agent_target: agent_target,
                telnyx_conversation_channel: channel,
                telnyx_end_user_target: end_user_target,
                text,
                ..Default::default()
            },
        )
        .await?;
    print(&scheduled_event_response)
}

/// Prints a response as JSON, like Ruby's `puts`.
fn print(response: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(response)?);
    Ok(())
}
