//! The wire of the resources added last — SMS, scheduled events, embeddings, object
//! storage — against a local server that answers from a script and records what it was sent:
//! the method, path, query, headers and body of each call, and how the contract's shapes
//! (and S3's XML errors) decode. `outreach.rs` and `knowledge.rs` run the same calls against
//! the real server.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Router;
use futures::{StreamExt, TryStreamExt};
use parley_client::types::embeddings::{
    EmbeddingCreateParams, EmbeddingListParams, EmbeddingUrlParams, SimilaritySearchParams,
};
use parley_client::types::messaging::AssistantSendSmsParams;
use parley_client::types::scheduled_events::{
    ScheduledEventCreateParams, ScheduledEventListParams,
};
use parley_client::{Client, Error};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// A request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path_and_query: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Default)]
struct Script {
    replies: Mutex<VecDeque<(u16, String)>>,
    seen: Mutex<Vec<Seen>>,
}

struct Scripted {
    script: Arc<Script>,
    client: Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Scripted {
    /// A server giving these answers (status, JSON body; a string is sent as it is) in order.
    async fn start(replies: &[(u16, Value)]) -> Self {
        let script = Arc::new(Script {
            replies: Mutex::new(
                replies
                    .iter()
                    .map(|(status, body)| {
                        let text = match body {
                            Value::Null => String::new(),
                            Value::String(raw) => raw.clone(),
                            other => other.to_string(),
                        };
                        (*status, text)
                    })
                    .collect(),
            ),
            seen: Mutex::default(),
        });
        let app = Router::new().fallback(answer).with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}/v2", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        let client = Client::builder()
            .api_key("scripted-key")
            .base_url(base_url)
            .max_retries(0)
            .build()
            .unwrap();
        Self {
            script,
            client,
            task,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.script.seen.lock().unwrap().clone()
    }

    /// `METHOD path?query` of every request, in order.
    fn calls(&self) -> Vec<String> {
        self.seen()
            .iter()
            .map(|s| format!("{} {}", s.method, s.path_and_query))
            .collect()
    }
}

async fn answer(State(script): State<Arc<Script>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    script.seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path_and_query: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        headers: parts.headers,
        body: body.to_vec(),
    });
    let (status, body) = script
        .replies
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or((418, "the script ran out".into()));
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap()
}

fn event(id: &str, channel: &str) -> Value {
    json!({
        "scheduled_event_id": id, "assistant_id": "assistant-1",
        "scheduled_at_fixed_datetime": "2030-04-15T13:07:28.764Z",
        "telnyx_agent_target": "+15550001111", "telnyx_conversation_channel": channel,
        "telnyx_end_user_target": "+15550002222", "status": "pending",
        "text": "See you tomorrow", "created_at": "2030-04-01T00:00:00Z"
    })
}

fn page(data: Value, page_number: u32, total_pages: u32) -> Value {
    json!({"data": data, "meta": {"page_number": page_number, "page_size": 1,
                                  "total_pages": total_pages, "total_results": total_pages}})
}

#[tokio::test]
async fn sms_is_sent_with_the_from_key_and_its_conversation_read() {
    let server = Scripted::start(&[
        (200, json!({"conversation_id": "conv-1"})),
        (
            422,
            json!({"errors": [{"code": "10015", "title": "Invalid value",
                                 "detail": "`to` must be E.164", "source": {"pointer": "/to"}}]}),
        ),
    ])
    .await;
    let assistants = server.client.ai().assistants();
    let sent = assistants
        .send_sms(
            "assistant-1",
            &AssistantSendSmsParams {
                from: "+15550001111".into(),
                to: "+15550002222".into(),
                text: Some("Hello!".into()),
                should_create_conversation: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(sent.conversation_id.as_deref(), Some("conv-1"));
    let error = assistants
        .send_sms("assistant-1", &AssistantSendSmsParams::default())
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(422));
    assert_eq!(
        error.to_string(),
        "422 Invalid value: `to` must be E.164 (at /to)"
    );

    let seen = server.seen();
    assert_eq!(
        server.calls(),
        [
            "POST /v2/ai/assistants/assistant-1/chat/sms",
            "POST /v2/ai/assistants/assistant-1/chat/sms"
        ]
    );
    assert_eq!(
        seen[0].json(),
        json!({"from": "+15550001111", "to": "+15550002222", "text": "Hello!",
               "should_create_conversation": true})
    );
    assert!(matches!(
        assistants.send_sms("", &Default::default()).await,
        Err(Error::InvalidArgument(_))
    ));
}

#[tokio::test]
async fn scheduled_events_are_created_listed_page_by_page_read_and_deleted() {
    let server = Scripted::start(&[
        (201, event("ev-1", "sms_chat")),
        (200, page(json!([event("ev-1", "sms_chat")]), 1, 2)),
        (200, page(json!([event("ev-2", "phone_call")]), 2, 2)),
        (200, page(json!([event("ev-1", "sms_chat")]), 1, 2)),
        (200, event("ev-2", "phone_call")),
        (200, Value::Null),
    ])
    .await;
    let events = server.client.ai().assistants().scheduled_events();
    let created = events
        .create(
            "assistant-1",
            &ScheduledEventCreateParams {
                scheduled_at_fixed_datetime: "2030-04-15T13:07:28.764Z".into(),
                telnyx_agent_target: "+15550001111".into(),
                telnyx_conversation_channel: "sms_chat".into(),
                telnyx_end_user_target: "+15550002222".into(),
                text: Some("See you tomorrow".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(created.scheduled_event_id.as_deref(), Some("ev-1"));
    assert_eq!(created.status.as_deref(), Some("pending"));

    let ids: Vec<String> = events
        .list_all(
            "assistant-1",
            &ScheduledEventListParams {
                conversation_channel: Some("sms_chat".into()),
                page_size: Some(1),
                ..Default::default()
            },
        )
        .map_ok(|e| e.scheduled_event_id.unwrap())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids, ["ev-1", "ev-2"]);
    let first = events.list("assistant-1").await.unwrap();
    assert_eq!(first.meta.total_pages, 2);
    let phone = events.retrieve("assistant-1", "ev-2").await.unwrap();
    assert_eq!(phone.telnyx_conversation_channel, "phone_call");
    events.delete("assistant-1", "ev-2").await.unwrap();

    assert_eq!(
        server.calls(),
        [
            "POST /v2/ai/assistants/assistant-1/scheduled_events",
            "GET /v2/ai/assistants/assistant-1/scheduled_events?conversation_channel=sms_chat&page%5Bnumber%5D=1&page%5Bsize%5D=1",
            "GET /v2/ai/assistants/assistant-1/scheduled_events?conversation_channel=sms_chat&page%5Bnumber%5D=2&page%5Bsize%5D=1",
            "GET /v2/ai/assistants/assistant-1/scheduled_events",
            "GET /v2/ai/assistants/assistant-1/scheduled_events/ev-2",
            "DELETE /v2/ai/assistants/assistant-1/scheduled_events/ev-2",
        ]
    );
    assert_eq!(
        server.seen()[0].json(),
        json!({"scheduled_at_fixed_datetime": "2030-04-15T13:07:28.764Z",
               "telnyx_agent_target": "+15550001111", "telnyx_conversation_channel": "sms_chat",
               "telnyx_end_user_target": "+15550002222", "text": "See you tomorrow"})
    );
}

fn task(status: &str) -> Value {
    json!({"data": {"task_id": "6d3c5b4a-0000-4000-8000-000000000001",
                    "task_name": "create_embeddings_from_bucket", "status": status,
                    "created_at": "2030-01-01T00:00:00Z", "user_id": "u-1"}})
}

#[tokio::test]
async fn embeddings_tasks_buckets_and_search_speak_the_contract() {
    let server = Scripted::start(&[
        (200, task("queued")),
        (200, task("queued")),
        (
            200,
            json!({"data": [{"task_id": "t-1", "task_name": "n", "status": "processing",
                               "user_id": "u", "created_at": "c", "bucket": "kb"}]}),
        ),
        (200, task("success")),
        (200, json!({"data": {"buckets": ["kb", "faq"]}})),
        (
            200,
            json!({"data": [{"filename": "refunds.md", "status": "success",
                               "created_at": "2030-01-01T00:00:00Z"},
                              {"filename": "broken.pdf", "status": "failed",
                               "created_at": "2030-01-01T00:00:00Z",
                               "error_reason": "not a PDF"}]}),
        ),
        (
            200,
            json!({"data": [{"distance": 0.18, "document_chunk": "Refunds take 5 days.",
                               "metadata": {"checksum": "abc", "embedding": "thenlper/gte-large",
                                            "filename": "refunds.md", "source": "kb/refunds.md",
                                            "certainty": 0.91}}]}),
        ),
        (200, Value::Null),
    ])
    .await;
    let embeddings = server.client.ai().embeddings();
    let created = embeddings
        .create(&EmbeddingCreateParams {
            bucket_name: "kb".into(),
            document_chunk_size: Some(512),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(created.status.as_deref(), Some("queued"));
    assert!(!created.is_finished());
    embeddings
        .url(&EmbeddingUrlParams {
            bucket_name: "kb".into(),
            url: "https://example.com/help".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let listed = embeddings
        .list_with(&EmbeddingListParams {
            status: Some(vec!["queued".into(), "processing".into()]),
        })
        .await
        .unwrap();
    assert_eq!(listed.data[0].bucket.as_deref(), Some("kb"));
    let done = embeddings.retrieve(&created.task_id).await.unwrap();
    assert!(done.is_finished());
    assert_eq!(
        embeddings.buckets().list().await.unwrap().buckets,
        ["kb", "faq"]
    );
    let files = embeddings.buckets().retrieve("kb").await.unwrap();
    assert_eq!(files.data[1].error_reason.as_deref(), Some("not a PDF"));
    let found = embeddings
        .similarity_search(&SimilaritySearchParams {
            bucket_name: "kb".into(),
            query: "refund".into(),
            num_of_docs: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found.data[0].metadata.filename, "refunds.md");
    assert_eq!(found.data[0].distance, 0.18);
    embeddings.buckets().delete("kb").await.unwrap();

    assert_eq!(
        server.calls(),
        [
            "POST /v2/ai/embeddings",
            "POST /v2/ai/embeddings/url",
            "GET /v2/ai/embeddings?status=queued%2Cprocessing",
            "GET /v2/ai/embeddings/6d3c5b4a-0000-4000-8000-000000000001",
            "GET /v2/ai/embeddings/buckets",
            "GET /v2/ai/embeddings/buckets/kb",
            "POST /v2/ai/embeddings/similarity-search",
            "DELETE /v2/ai/embeddings/buckets/kb",
        ]
    );
    let seen = server.seen();
    assert_eq!(
        seen[0].json(),
        json!({"bucket_name": "kb", "document_chunk_size": 512})
    );
    assert_eq!(
        seen[1].json(),
        json!({"bucket_name": "kb", "url": "https://example.com/help"})
    );
    assert_eq!(
        seen[6].json(),
        json!({"bucket_name": "kb", "query": "refund", "num_of_docs": 1})
    );
}

#[tokio::test]
async fn objects_are_put_under_the_origin_whole_or_streamed_and_signed() {
    let xml_error = |code: &str, message: &str| {
        Value::String(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
             <Message>{message}</Message><Resource>/s3/kb</Resource></Error>"
        ))
    };
    let server = Scripted::start(&[
        (200, Value::Null),
        (
            409,
            xml_error("BucketAlreadyOwnedByYou", "You already own it."),
        ),
        (200, Value::Null),
        (200, Value::Null),
        (
            404,
            xml_error("NoSuchBucket", "The specified bucket does not exist"),
        ),
    ])
    .await;
    let storage = server.client.storage();
    storage.create_bucket("kb").await.unwrap();
    storage.create_bucket("kb").await.unwrap();
    storage
        .put_object("kb", "docs/FAQ v2.md", b"# FAQ\n".to_vec(), "text/markdown")
        .await
        .unwrap();
    let chunks = futures::stream::iter([b"hello ".to_vec(), b"world".to_vec()]).map(Ok);
    storage
        .put_object_stream("kb", "hello.txt", chunks, 11, "text/plain")
        .await
        .unwrap();
    let error = storage
        .put_object("gone", "x.txt", b"x".to_vec(), "text/plain")
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(404));
    assert_eq!(error.code(), Some("NoSuchBucket"));
    assert_eq!(
        error.to_string(),
        "404 NoSuchBucket: The specified bucket does not exist"
    );

    assert_eq!(
        server.calls(),
        [
            "PUT /s3/kb",
            "PUT /s3/kb",
            "PUT /s3/kb/docs/FAQ%20v2.md",
            "PUT /s3/kb/hello.txt",
            "PUT /s3/gone/x.txt"
        ]
    );
    let seen = server.seen();
    assert_eq!(seen[2].body, b"# FAQ\n");
    assert_eq!(seen[2].header("content-type"), Some("text/markdown"));
    // SigV4 with the API key as the access key id; never the bearer key.
    let authorization = seen[2].header("authorization").unwrap();
    assert!(
        authorization.starts_with("AWS4-HMAC-SHA256 Credential=scripted-key/")
            && authorization.contains(
                "/us-east-1/s3/aws4_request, \
                 SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature="
            ),
        "{authorization}"
    );
    assert_eq!(
        seen[2].header("x-amz-content-sha256"),
        Some("UNSIGNED-PAYLOAD")
    );
    assert_eq!(seen[2].header("x-amz-date").map(str::len), Some(16));
    assert_eq!(seen[3].body, b"hello world");
    assert_eq!(seen[3].header("content-length"), Some("11"));
    assert_eq!(seen[3].header("content-type"), Some("text/plain"));
}

#[tokio::test]
async fn objects_are_listed_page_after_page() {
    let page = |contents: &str, next: Option<&str>| {
        let truncated = match next {
            Some(token) => format!(
                "<IsTruncated>true</IsTruncated><NextContinuationToken>{token}</NextContinuationToken>"
            ),
            None => "<IsTruncated>false</IsTruncated>".to_owned(),
        };
        Value::String(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult><Name>kb</Name>\
             {truncated}{contents}</ListBucketResult>"
        ))
    };
    let server = Scripted::start(&[
        (
            200,
            page(
                "<Contents><Key>a.md</Key><LastModified>2030-01-01T00:00:00.000Z</LastModified>\
                 <Size>12</Size></Contents>",
                Some("next/1"),
            ),
        ),
        (
            200,
            page(
                "<Contents><Key>b &amp; c.txt</Key><Size>3</Size></Contents>",
                None,
            ),
        ),
    ])
    .await;
    let objects = server.client.storage().list_objects("kb").await.unwrap();
    let listed: Vec<(&str, u64, Option<&str>)> = objects
        .iter()
        .map(|o| (o.key.as_str(), o.size, o.last_modified.as_deref()))
        .collect();
    assert_eq!(
        listed,
        [
            ("a.md", 12, Some("2030-01-01T00:00:00.000Z")),
            ("b & c.txt", 3, None)
        ]
    );
    assert_eq!(
        server.calls(),
        [
            "GET /s3/kb?list-type=2",
            "GET /s3/kb?list-type=2&continuation-token=next%2F1"
        ]
    );
}
