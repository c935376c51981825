//! Texting (`send_sms`), scheduled events and phone-number assignments through the SDK,
//! against the real server on SQLite and on PostgreSQL. The carrier is a local server
//! answering `POST /v2/messages` as Telnyx does; a scripted model stands behind the
//! assistant.

mod common;

use axum::Router;
use common::fixtures::{
    assign_agent_number, page_of_one, recording_post, scheduled_text, serve, telnyx_message,
    text_order_shipped, text_to, LocalServer, Recorded, AGENT, USER,
};
use common::{assert_api_error, Backend, TestServer};
use futures::TryStreamExt;
use parley_client::types::assistants::AssistantCreateParams;
use parley_client::types::messaging::{AssistantSendSmsParams, PhoneNumberAssignParams};
use parley_client::types::scheduled_events::ScheduledEventListParams;
use parley_client::types::PageParams;

/// The carrier's messaging API; records each message.
struct Carrier {
    api_url: String,
    sent: Recorded,
    _server: LocalServer,
}

async fn carrier() -> Carrier {
    let sent = Recorded::default();
    let app = Router::new().route("/v2/messages", recording_post(sent.clone(), telnyx_message));
    let server = serve(app).await;
    Carrier {
        api_url: format!("{}/v2", server.base_url),
        sent,
        _server: server,
    }
}

async fn spawn(backend: Backend, carrier: &Carrier) -> TestServer {
    let api_url = carrier.api_url.clone();
    TestServer::spawn_echoing(backend, |settings| {
        settings.carrier.api_url = api_url;
        settings.carrier.api_key = Some("KEY-telnyx".into());
        settings.carrier.messaging_profile_id = Some("profile-default".into());
    })
    .await
}

async fn texts_events_and_numbers(server: TestServer, carrier: &Carrier) {
    let assistants = server.client.ai().assistants();
    let assistant = assistants
        .create(&AssistantCreateParams {
            name: "Texter".into(),
            instructions: "Be brief.".into(),
            ..Default::default()
        })
        .await
        .unwrap();

    // A text with the given words: sent through the carrier, recorded in a conversation.
    let conversation = text_order_shipped(&server, &assistant.id).await;
    assert_eq!(
        carrier.sent.lock().unwrap()[0]["text"],
        "Your order shipped."
    );
    let messages = server
        .client
        .ai()
        .conversations()
        .messages(&conversation)
        .list(&PageParams::default())
        .await
        .unwrap();
    assert_eq!(messages.data[0].text, "Your order shipped.");
    let fresh = assistants
        .send_sms(
            &assistant.id,
            &AssistantSendSmsParams {
                should_create_conversation: Some(true),
                ..text_to(USER, "New topic")
            },
        )
        .await
        .unwrap();
    assert_ne!(
        fresh.conversation_id.as_deref(),
        Some(conversation.as_str())
    );
    assert_api_error(
        assistants
            .send_sms(&assistant.id, &text_to("not a number", "x"))
            .await,
        422,
        "10016",
    );

    // Scheduled events: created, listed with filters and page by page, read, deleted.
    let events = assistants.scheduled_events();
    let first = events
        .create(&assistant.id, &scheduled_text("2099-04-15T13:00:00Z"))
        .await
        .unwrap();
    let first_id = first.scheduled_event_id.clone().unwrap();
    assert_eq!(first.status.as_deref(), Some("pending"));
    assert_eq!(first.text.as_deref(), Some("See you tomorrow"));
    let second = events
        .create(&assistant.id, &scheduled_text("2099-05-01T09:30:00Z"))
        .await
        .unwrap();
    let mut call = scheduled_text("2099-06-01T09:30:00Z");
    call.telnyx_conversation_channel = "phone_call".into();
    call.text = None;
    let call = events.create(&assistant.id, &call).await.unwrap();
    assert_eq!(call.telnyx_conversation_channel, "phone_call");
    assert_eq!(call.text, None);

    let page = events.list(&assistant.id).await.unwrap();
    assert_eq!(page.meta.total_results, 3);
    let texts = events
        .list_with(
            &assistant.id,
            &ScheduledEventListParams {
                conversation_channel: Some("sms_chat".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(texts.data.len(), 2);
    let may = events
        .list_with(
            &assistant.id,
            &ScheduledEventListParams {
                from_date: Some("2099-04-20T00:00:00Z".into()),
                to_date: Some("2099-05-20T00:00:00Z".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(may.data.len(), 1);
    assert_eq!(may.data[0].scheduled_event_id, second.scheduled_event_id);
    let all: Vec<_> = events
        .list_all(&assistant.id, &one_per_page!(ScheduledEventListParams))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(
        events.retrieve(&assistant.id, &first_id).await.unwrap(),
        first
    );
    events.delete(&assistant.id, &first_id).await.unwrap();
    assert_api_error(
        events.retrieve(&assistant.id, &first_id).await,
        404,
        "10005",
    );
    let past = events
        .create(&assistant.id, &scheduled_text("2001-01-01T00:00:00Z"))
        .await;
    assert!(matches!(past.unwrap_err().status(), Some(400 | 422)));
    let mut no_text = scheduled_text("2099-04-15T13:00:00Z");
    no_text.text = None;
    assert!(events.create(&assistant.id, &no_text).await.is_err());

    // Phone numbers (a Parley extension).
    let numbers = server.client.ai().phone_numbers();
    assign_agent_number(&server, &assistant.id).await;
    numbers
        .assign(&PhoneNumberAssignParams {
            phone_number: USER.into(),
            assistant_id: assistant.id.clone(),
        })
        .await
        .unwrap();
    let listed: Vec<String> = numbers
        .list_all(&page_of_one())
        .map_ok(|n| n.phone_number)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed, [AGENT, USER]);
    assert_eq!(numbers.list().await.unwrap().meta.total_results, 2);
    numbers.delete(AGENT).await.unwrap();
    assert!(numbers.retrieve(AGENT).await.unwrap_err().is_not_found());
}

on_both_backends_with!(carrier, spawn: texts_events_and_numbers);
