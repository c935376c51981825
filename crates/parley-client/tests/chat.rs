//! Chat (whole and streamed) and the models list against the real server, with a scripted
//! OpenAI-compatible server playing the model, on SQLite and on PostgreSQL.

mod common;

use common::{assert_api_error, Backend, TestServer};
use futures::{StreamExt, TryStreamExt};
use parley_client::types::assistants::AssistantCreateParams;
use parley_client::types::chat::AssistantChatParams;
use parley_client::types::PageParams;
use parley_client::{new_conversation_id, ChatEvent, Error, RequestOptions};
use parley_llm::test_support::Reply;

async fn scripted_assistant(server: &TestServer) -> String {
    server
        .client
        .ai()
        .assistants()
        .create(&AssistantCreateParams {
            name: "Chatty".into(),
            instructions: "You are terse.".into(),
            model: Some("scripted/model".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .id
}

/// The deltas (concatenated) and the done event of a whole stream.
async fn collect(
    events: futures::stream::BoxStream<'static, parley_client::Result<ChatEvent>>,
) -> (Vec<String>, parley_client::types::chat::ChatDone) {
    let events: Vec<ChatEvent> = events.try_collect().await.unwrap();
    let (last, deltas) = events.split_last().expect("events");
    let ChatEvent::Done(done) = last.clone() else {
        panic!("the last event is not done: {events:?}");
    };
    let deltas = deltas
        .iter()
        .map(|e| match e {
            ChatEvent::Delta(text) => text.clone(),
            other => panic!("done before the end: {other:?}"),
        })
        .collect();
    (deltas, done)
}

async fn chat_turns_are_answered_whole_and_streamed(server: TestServer) {
    let llm = server.llm.as_ref().unwrap();
    llm.push(Reply::text("Hi! How can I help?"));
    llm.push(Reply::text("Streaming works just fine"));
    let id = scripted_assistant(&server).await;
    let assistants = server.client.ai().assistants();
    let conversation = new_conversation_id();

    let reply = assistants
        .chat(&id, &AssistantChatParams::new("Hello", &conversation))
        .await
        .unwrap();
    assert_eq!(reply.content, "Hi! How can I help?");

    let events = assistants
        .chat_stream(
            &id,
            &AssistantChatParams {
                name: Some("Ada".into()),
                ..AssistantChatParams::new("Stream please", &conversation)
            },
        )
        .await
        .unwrap();
    let (deltas, done) = collect(events).await;
    assert!(deltas.len() >= 3, "{deltas:?}");
    assert_eq!(deltas.concat(), "Streaming works just fine");
    assert_eq!(done.content, "Streaming works just fine");
    assert_eq!(done.conversation_id, conversation);

    // The second turn saw the first: system, user, assistant, user.
    let requests = llm.requests();
    let roles: Vec<&str> = requests[1].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert_eq!(requests[1].body["stream"], true);

    let messages = server
        .client
        .ai()
        .conversations()
        .messages(&conversation)
        .list(&PageParams::default())
        .await
        .unwrap();
    let texts: Vec<(&str, &str)> = messages
        .data
        .iter()
        .map(|m| (m.role.as_str(), m.text.as_str()))
        .collect();
    assert_eq!(
        texts,
        [
            ("user", "Hello"),
            ("assistant", "Hi! How can I help?"),
            ("user", "Stream please"),
            ("assistant", "Streaming works just fine"),
        ]
    );
    assert_eq!(messages.data[2].name.as_deref(), Some("Ada"));
}

async fn failures_map_to_errors_before_and_during_the_stream(server: TestServer) {
    let id = scripted_assistant(&server).await;
    let llm = server.llm.as_ref().unwrap();
    let assistants = server.client.ai().assistants();
    let once = server.client.with_options(RequestOptions {
        max_retries: Some(0),
        ..Default::default()
    });
    let conversation = new_conversation_id();
    let params = AssistantChatParams::new("Hello", &conversation);

    // Unknown assistant: 404, whole or streamed.
    assert_api_error(
        assistants.chat("assistant-missing", &params).await,
        404,
        "10005",
    );
    let error = assistants
        .chat_stream("assistant-missing", &params)
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(error.is_not_found(), "{error}");
    assert_eq!(error.code(), Some("10005"));

    // A blank message: 400.
    let blank = AssistantChatParams::new("  ", &conversation);
    assert_api_error(assistants.chat(&id, &blank).await, 400, "10002");
    let error = assistants
        .chat_stream(&id, &blank)
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!((error.status(), error.code()), (Some(400), Some("10002")));
    // Empty ids are refused before anything is sent.
    assert!(matches!(
        assistants.chat("", &params).await,
        Err(Error::InvalidArgument(_))
    ));

    // The model fails before the first token: 502, without retries...
    llm.push(Reply::Status(500, r#"{"error":{"message":"boom"}}"#.into()));
    llm.push(Reply::Status(500, r#"{"error":{"message":"boom"}}"#.into()));
    assert_api_error(
        once.ai().assistants().chat(&id, &params).await,
        502,
        "10019",
    );
    let error = once
        .ai()
        .assistants()
        .chat_stream(&id, &params)
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!((error.status(), error.code()), (Some(502), Some("10019")));
    // ...and retried by default: the second attempt is answered.
    llm.push(Reply::Status(500, "overloaded".into()));
    llm.push(Reply::text("Second time lucky"));
    let (_, done) = collect(assistants.chat_stream(&id, &params).await.unwrap()).await;
    assert_eq!(done.content, "Second time lucky");

    // The model stalls after one token: the stream ends with an error event, nothing stored.
    llm.push(Reply::Stalled("Half".into()));
    let mut events = assistants
        .chat_stream(&id, &AssistantChatParams::new("again", &conversation))
        .await
        .unwrap();
    assert_eq!(
        events.next().await.unwrap().unwrap(),
        ChatEvent::Delta("Half".into())
    );
    let error = events.next().await.unwrap().unwrap_err();
    assert!(matches!(error, Error::Stream { .. }), "{error:?}");
    assert_eq!(error.code(), Some("10021"));
    assert!(error.to_string().starts_with("stream failed: "), "{error}");
    assert!(events.next().await.is_none());
    let stored = server
        .client
        .ai()
        .conversations()
        .messages(&conversation)
        .list(&PageParams::default())
        .await
        .unwrap();
    assert_eq!(stored.meta.total_results, 2);

    // The conversation is bound to its assistant: another one is refused with 400.
    let other = scripted_assistant(&server).await;
    assert_api_error(assistants.chat(&other, &params).await, 400, "10018");
}

async fn models_are_listed(server: TestServer) {
    let models = server.client.ai().models().list().await.unwrap();
    assert_eq!(models.object, "list");
    assert!(!models.data.is_empty());
    assert!(models.data.iter().all(|m| m.object == "model"));
    let recommended: Vec<_> = models
        .data
        .iter()
        .filter(|m| m.recommended_for_assistants == Some(true))
        .collect();
    assert_eq!(recommended.len(), 1, "{models:?}");
    assert_eq!(recommended[0].id, "HuggingFaceTB/SmolLM2-135M-Instruct");
    assert_eq!(recommended[0].owned_by, "parley");
}

/// Generates `sqlite` and `postgres` tests from a scenario that needs the scripted model.
macro_rules! with_llm_on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$scenario(TestServer::spawn_with_llm(Backend::Sqlite, vec![]).await)
                        .await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$scenario(TestServer::spawn_with_llm(Backend::Postgres, vec![]).await)
                        .await;
                }
            }
        )*
    };
}

with_llm_on_both_backends!(
    chat_turns_are_answered_whole_and_streamed,
    failures_map_to_errors_before_and_during_the_stream,
);
on_both_backends!(models_are_listed);
