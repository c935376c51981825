//! Texting (`send_sms`), scheduled events and phone-number assignments through the SDK,
//! against the real server on SQLite and on PostgreSQL. The carrier is a local server
//! answering `POST /v2/messages` as Telnyx does; a scripted model stands behind the
//! assistant.

mod common;

use axum::routing::post;
use axum::{Json, Router};
use common::{assert_api_error, Backend, TestServer};
use futures::TryStreamExt;
use parley_client::types::assistants::AssistantCreateParams;
use parley_client::types::messaging::{AssistantSendSmsParams, PhoneNumberAssignParams};
use parley_client::types::scheduled_events::{
    ScheduledEventCreateParams, ScheduledEventListParams,
};
use parley_client::types::PageParams;
use parley_llm::test_support::{Reply, ScriptedServer};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

const AGENT: &str = "+13125550100";
const USER: &str = "+13125550199";

/// The carrier's messaging API; records each message.
struct Carrier {
    api_url: String,
    sent: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Carrier {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn carrier() -> Carrier {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let recorded = sent.clone();
    let app = Router::new().route(
        "/v2/messages",
        post(move |Json(body): Json<Value>| {
            let recorded = recorded.clone();
            async move {
                recorded.lock().unwrap().push(body.clone());
                Json(json!({"data": {
                    "record_type": "message", "direction": "outbound",
                    "id": format!("msg-{}", uuid::Uuid::new_v4()), "type": "SMS",
                    "from": {"phone_number": body["from"]},
                    "to": [{"phone_number": body["to"], "status": "queued"}],
                    "text": body["text"], "parts": 1,
                }}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_url = format!("http://{}/v2", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Carrier {
        api_url,
        sent,
        task,
    }
}

async fn spawn(backend: Backend, carrier: &Carrier) -> TestServer {
    let api_url = carrier.api_url.clone();
    let llm = ScriptedServer::start(vec![]).await;
    llm.repeat(Reply::Echo);
    let llm_url = llm.base_url();
    let mut server = TestServer::spawn_with(backend, |settings| {
        settings.llm.embedded = false;
        settings.llm.upstream_base_url = Some(llm_url);
        settings.allow_private_network = true;
        settings.carrier.api_url = api_url;
        settings.carrier.api_key = Some("KEY-telnyx".into());
        settings.carrier.messaging_profile_id = Some("profile-default".into());
    })
    .await;
    server.llm = Some(llm);
    server
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
    let sent = assistants
        .send_sms(
            &assistant.id,
            &AssistantSendSmsParams {
                from: AGENT.into(),
                to: USER.into(),
                text: Some("Your order shipped.".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let conversation = sent.conversation_id.clone().unwrap();
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
                from: AGENT.into(),
                to: USER.into(),
                text: Some("New topic".into()),
                should_create_conversation: Some(true),
                ..Default::default()
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
            .send_sms(
                &assistant.id,
                &AssistantSendSmsParams {
                    from: AGENT.into(),
                    to: "not a number".into(),
                    text: Some("x".into()),
                    ..Default::default()
                },
            )
            .await,
        422,
        "10016",
    );

    // Scheduled events: created, listed with filters and page by page, read, deleted.
    let events = assistants.scheduled_events();
    let sms = |at: &str| ScheduledEventCreateParams {
        scheduled_at_fixed_datetime: at.into(),
        telnyx_agent_target: AGENT.into(),
        telnyx_conversation_channel: "sms_chat".into(),
        telnyx_end_user_target: USER.into(),
        text: Some("See you tomorrow".into()),
        ..Default::default()
    };
    let first = events
        .create(&assistant.id, &sms("2099-04-15T13:00:00Z"))
        .await
        .unwrap();
    let first_id = first.scheduled_event_id.clone().unwrap();
    assert_eq!(first.status.as_deref(), Some("pending"));
    assert_eq!(first.text.as_deref(), Some("See you tomorrow"));
    let second = events
        .create(&assistant.id, &sms("2099-05-01T09:30:00Z"))
        .await
        .unwrap();
    let mut call = sms("2099-06-01T09:30:00Z");
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
        .list_all(
            &assistant.id,
            &ScheduledEventListParams {
                page_size: Some(1),
                ..Default::default()
            },
        )
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
        .create(&assistant.id, &sms("2001-01-01T00:00:00Z"))
        .await;
    assert!(matches!(past.unwrap_err().status(), Some(400 | 422)));
    let mut no_text = sms("2099-04-15T13:00:00Z");
    no_text.text = None;
    assert!(events.create(&assistant.id, &no_text).await.is_err());

    // Phone numbers (a Parley extension).
    let numbers = server.client.ai().phone_numbers();
    let assigned = numbers
        .assign(&PhoneNumberAssignParams {
            phone_number: AGENT.into(),
            assistant_id: assistant.id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(assigned.assistant_id, assistant.id);
    assert_eq!(numbers.retrieve(AGENT).await.unwrap(), assigned);
    numbers
        .assign(&PhoneNumberAssignParams {
            phone_number: USER.into(),
            assistant_id: assistant.id.clone(),
        })
        .await
        .unwrap();
    let listed: Vec<String> = numbers
        .list_all(&PageParams {
            page_size: Some(1),
            ..Default::default()
        })
        .map_ok(|n| n.phone_number)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed, [AGENT, USER]);
    assert_eq!(numbers.list().await.unwrap().meta.total_results, 2);
    numbers.delete(AGENT).await.unwrap();
    assert!(numbers.retrieve(AGENT).await.unwrap_err().is_not_found());
}

macro_rules! with_carrier_on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let carrier = carrier().await;
                    super::$scenario(spawn(Backend::Sqlite, &carrier).await, &carrier).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let carrier = carrier().await;
                    super::$scenario(spawn(Backend::Postgres, &carrier).await, &carrier).await;
                }
            }
        )*
    };
}

with_carrier_on_both_backends!(texts_events_and_numbers);
