//! Streamed chat against a local stub that sends server-sent events exactly as scripted:
//! chunking, line ends, comments and unknown events, a stream cut short, a stall, retries
//! before the stream starts, and what the request carries.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Router;
use futures::{StreamExt, TryStreamExt};
use parley_client::types::chat::AssistantChatParams;
use parley_client::{ChatEvent, Client, Error, RequestOptions};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One scripted answer.
enum Reply {
    /// This status and JSON body.
    Status(u16, &'static str),
    /// A 200 event stream: these chunks, then the end of the body, or a stall when `hang`.
    Events {
        chunks: Vec<&'static str>,
        hang: bool,
    },
}

#[derive(Default)]
struct Script {
    replies: Mutex<VecDeque<Reply>>,
    seen: Mutex<Vec<(HeaderMap, serde_json::Value)>>,
}

async fn answer(State(script): State<Arc<Script>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let json = serde_json::from_slice(&body).unwrap_or_default();
    script.seen.lock().unwrap().push((parts.headers, json));
    let reply = script.replies.lock().unwrap().pop_front();
    match reply {
        Some(Reply::Status(status, body)) => Response::builder()
            .status(StatusCode::from_u16(status).unwrap())
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap(),
        Some(Reply::Events { chunks, hang }) => {
            let chunks = futures::stream::iter(chunks)
                .then(|chunk| async move {
                    // Separate reads on the client's side.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    Ok::<_, Infallible>(chunk)
                })
                .chain(if hang {
                    futures::stream::pending().boxed()
                } else {
                    futures::stream::empty().boxed()
                });
            Response::builder()
                .header("content-type", "text/event-stream")
                .body(Body::from_stream(chunks))
                .unwrap()
        }
        None => Response::builder().status(500).body(Body::empty()).unwrap(),
    }
}

async fn stub(replies: Vec<Reply>) -> (Client, Arc<Script>) {
    let script = Arc::new(Script {
        replies: Mutex::new(replies.into()),
        seen: Mutex::default(),
    });
    let app = Router::new().fallback(answer).with_state(script.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}/v2", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = Client::builder()
        .api_key("key")
        .base_url(base_url)
        .retry_backoff(Duration::from_millis(10), Duration::from_millis(20))
        .build()
        .unwrap();
    (client, script)
}

fn params() -> AssistantChatParams {
    AssistantChatParams::new("hi", "conv-1")
}

#[tokio::test]
async fn events_are_parsed_across_chunks_line_ends_comments_and_unknown_events() {
    let (client, script) = stub(vec![
        Reply::Status(
            503,
            r#"{"errors":[{"code":"10020","title":"Unavailable"}]}"#,
        ),
        Reply::Events {
            chunks: vec![
                ": keep-alive\r\n\r\nevent: del",
                "ta\r\ndata: {\"content\":\"Hel\"}\r",
                "\n\r\nevent: ping\ndata: {}\n\n",
                "event: delta\ndata: {\"content\":\"lo \u{1F600}",
                "\"}\n\nevent: done\ndata: {\"content\":\"Hello \u{1F600}\",",
                "\"conversation_id\":\"conv-1\",\"whatsapp_template\":null}\n\n",
            ],
            hang: true,
        },
    ])
    .await;
    let events: Vec<ChatEvent> = client
        .ai()
        .assistants()
        .chat_stream("assistant-1", &params())
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[0], ChatEvent::Delta("Hel".into()));
    assert_eq!(events[1], ChatEvent::Delta("lo \u{1F600}".into()));
    let ChatEvent::Done(done) = &events[2] else {
        panic!("{events:?}");
    };
    assert_eq!(done.content, "Hello \u{1F600}");
    assert_eq!(done.conversation_id, "conv-1");
    // The stream ended at `done`, although the body never did.

    // The 503 was retried with the same idempotency key; the request asks for events.
    let seen = script.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    let (headers, body) = &seen[1];
    assert_eq!(headers["accept"], "text/event-stream");
    assert_eq!(headers["authorization"], "Bearer key");
    assert_eq!(headers["idempotency-key"], seen[0].0["idempotency-key"]);
    assert_eq!(
        body,
        &serde_json::json!({"content": "hi", "conversation_id": "conv-1", "stream": true})
    );
}

#[tokio::test]
async fn cut_streams_error_events_and_stalls_end_the_stream_with_an_error() {
    let (client, _) = stub(vec![
        Reply::Events {
            chunks: vec!["event: delta\ndata: {\"content\":\"Hal\"}\n\n"],
            hang: false,
        },
        Reply::Events {
            chunks: vec![
                "event: delta\ndata: {\"content\":\"Hal\"}\n\n",
                "event: error\ndata: {\"errors\":[{\"code\":\"10021\",\"title\":\"Upstream timeout\"}]}\n\n",
            ],
            hang: true,
        },
        Reply::Events {
            chunks: vec!["event: delta\ndata: {\"content\":\"Hal\"}\n\n"],
            hang: true,
        },
        Reply::Events {
            chunks: vec!["event: delta\ndata: not json\n\n"],
            hang: true,
        },
    ])
    .await;
    let assistants = client.ai().assistants();

    let mut cut = assistants.chat_stream("a", &params()).await.unwrap();
    assert_eq!(
        cut.next().await.unwrap().unwrap(),
        ChatEvent::Delta("Hal".into())
    );
    let error = cut.next().await.unwrap().unwrap_err();
    assert_eq!(
        error.to_string(),
        "stream failed: the chat stream ended before its done event"
    );
    assert!(cut.next().await.is_none());

    let mut failed = assistants.chat_stream("a", &params()).await.unwrap();
    failed.next().await.unwrap().unwrap();
    let error = failed.next().await.unwrap().unwrap_err();
    assert!(matches!(error, Error::Stream { .. }));
    assert_eq!(error.code(), Some("10021"));
    assert!(failed.next().await.is_none());

    let impatient = client.with_options(RequestOptions {
        timeout: Some(Duration::from_millis(300)),
        ..Default::default()
    });
    let mut stalled = impatient
        .ai()
        .assistants()
        .chat_stream("a", &params())
        .await
        .unwrap();
    stalled.next().await.unwrap().unwrap();
    assert!(matches!(stalled.next().await, Some(Err(Error::Timeout))));
    assert!(stalled.next().await.is_none());

    let mut garbled = assistants.chat_stream("a", &params()).await.unwrap();
    assert!(matches!(garbled.next().await, Some(Err(Error::Decode(_)))));
    assert!(garbled.next().await.is_none());
}

#[tokio::test]
async fn whole_answers_never_ask_for_a_stream() {
    let (client, script) = stub(vec![
        Reply::Status(200, r#"{"content":"Hello!"}"#),
        Reply::Status(404, r#"{"errors":[{"code":"10005","title":"Not found"}]}"#),
    ])
    .await;
    let assistants = client.ai().assistants();
    let streaming = AssistantChatParams {
        stream: Some(true),
        ..params()
    };
    assert_eq!(
        assistants.chat("a", &streaming).await.unwrap().content,
        "Hello!"
    );
    let seen = script.seen.lock().unwrap().clone();
    assert_eq!(seen[0].0["accept"], "application/json");
    assert!(seen[0].1.get("stream").is_none(), "{}", seen[0].1);
    // 404 is not retried; it is the error of the call.
    let error = assistants
        .chat_stream("a", &params())
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(error.is_not_found());
    assert_eq!(script.seen.lock().unwrap().len(), 2);
}
