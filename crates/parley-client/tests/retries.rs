//! The retry policy, timeouts, idempotency keys, headers and pagination, against a local
//! server that answers from a script and records what it was sent.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Router;
use futures::TryStreamExt;
use parley_client::types::assistants::AssistantCreateParams;
use parley_client::types::mcp_servers::McpServerListParams;
use parley_client::types::PageParams;
use parley_client::{Client, ClientBuilder, Error, RequestOptions};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One scripted answer.
enum Reply {
    Respond {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// Never answers (the client must time out).
    Hang,
}

fn reply(status: u16, body: &str) -> Reply {
    Reply::Respond {
        status,
        headers: vec![],
        body: body.to_owned(),
    }
}

fn reply_with(status: u16, headers: &[(&'static str, &str)], body: &str) -> Reply {
    Reply::Respond {
        status,
        headers: headers.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        body: body.to_owned(),
    }
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path_and_query: String,
    headers: HeaderMap,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Default)]
struct Script {
    replies: Mutex<VecDeque<Reply>>,
    seen: Mutex<Vec<Seen>>,
}

struct ScriptedServer {
    script: Arc<Script>,
    base_url: String,
    task: tokio::task::JoinHandle<()>,
}

impl ScriptedServer {
    async fn start(replies: Vec<Reply>) -> Self {
        let script = Arc::new(Script {
            replies: Mutex::new(replies.into()),
            seen: Mutex::default(),
        });
        let app = Router::new().fallback(answer).with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}/v2", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            script,
            base_url,
            task,
        }
    }

    /// A client of this server with a fast back-off, so retries cost milliseconds.
    fn client(&self) -> ClientBuilder {
        Client::builder()
            .api_key("scripted-key")
            .base_url(&self.base_url)
            .retry_backoff(Duration::from_millis(1), Duration::from_millis(5))
    }

    fn seen(&self) -> Vec<Seen> {
        self.script.seen.lock().unwrap().clone()
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.task.abort();
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
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let next = script.replies.lock().unwrap().pop_front();
    match next {
        Some(Reply::Respond {
            status,
            headers,
            body,
        }) => {
            let mut response = Response::builder().status(StatusCode::from_u16(status).unwrap());
            for (name, value) in headers {
                response = response.header(name, value);
            }
            response.body(Body::from(body)).unwrap()
        }
        Some(Reply::Hang) => std::future::pending().await,
        None => Response::builder()
            .status(StatusCode::IM_A_TEAPOT)
            .body(Body::from("the script ran out"))
            .unwrap(),
    }
}

const ASSISTANT: &str = r#"{"id": "assistant-1", "name": "N", "created_at": "2025-01-01T00:00:00Z",
    "instructions": "I", "model": "m"}"#;
const SERVER_ERROR: &str = r#"{"errors": [{"code": "10000", "title": "Internal error"}]}"#;

fn create_params() -> AssistantCreateParams {
    AssistantCreateParams {
        name: "N".into(),
        instructions: "I".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn server_errors_are_retried_twice_with_back_off_and_one_idempotency_key() {
    let server = ScriptedServer::start(vec![
        reply(500, SERVER_ERROR),
        reply(502, "bad gateway"),
        reply(200, ASSISTANT),
    ])
    .await;
    // The default back-off: 0.5 s then 1 s, each less up to 25 % of jitter.
    let client = Client::builder()
        .api_key("scripted-key")
        .base_url(&server.base_url)
        .build()
        .unwrap();
    let started = Instant::now();
    let created = client
        .ai()
        .assistants()
        .create(&create_params())
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(created.id, "assistant-1");
    assert!(
        elapsed >= Duration::from_millis(1125) && elapsed < Duration::from_secs(10),
        "{elapsed:?}"
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    let key = seen[0].header("idempotency-key").unwrap().to_owned();
    assert!(key.starts_with("parley-rust-retry-"), "{key}");
    for attempt in &seen {
        assert_eq!(attempt.method, "POST");
        assert_eq!(attempt.path_and_query, "/v2/ai/assistants");
        assert_eq!(attempt.header("idempotency-key"), Some(key.as_str()));
        assert_eq!(attempt.body, r#"{"name":"N","instructions":"I"}"#);
    }

    // The next call gets a new key.
    let server = ScriptedServer::start(vec![reply(200, ASSISTANT)]).await;
    server
        .client()
        .build()
        .unwrap()
        .ai()
        .assistants()
        .create(&create_params())
        .await
        .unwrap();
    assert_ne!(
        server.seen()[0].header("idempotency-key"),
        Some(key.as_str())
    );
}

#[tokio::test]
async fn the_last_failure_is_returned_once_retries_run_out() {
    let server = ScriptedServer::start(vec![
        reply(500, SERVER_ERROR),
        reply(503, SERVER_ERROR),
        reply(500, SERVER_ERROR),
        reply(200, ASSISTANT),
    ])
    .await;
    let client = server.client().build().unwrap();
    let error = client
        .ai()
        .assistants()
        .retrieve("assistant-1")
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(500));
    assert_eq!(error.code(), Some("10000"));
    assert_eq!(error.to_string(), "500 Internal error");
    assert_eq!(server.seen().len(), 3, "the first attempt and two retries");

    let server = ScriptedServer::start((0..6).map(|_| reply(500, SERVER_ERROR)).collect()).await;
    let five = server.client().max_retries(5).build().unwrap();
    assert!(five.ai().assistants().list().await.is_err());
    assert_eq!(server.seen().len(), 6);
}

#[tokio::test]
async fn rate_limits_honour_retry_after() {
    let server = ScriptedServer::start(vec![
        reply_with(429, &[("retry-after-ms", "40")], SERVER_ERROR),
        reply_with(429, &[("retry-after", "0.05")], SERVER_ERROR),
        reply(200, r#"{"data": []}"#),
    ])
    .await;
    // A back-off of 30 s would fail the test: only the server's retry-after is waited.
    let client = server
        .client()
        .retry_backoff(Duration::from_secs(30), Duration::from_secs(30))
        .build()
        .unwrap();
    let started = Instant::now();
    let list = client.ai().assistants().list().await.unwrap();
    let elapsed = started.elapsed();
    assert!(list.data.is_empty());
    assert!(
        elapsed >= Duration::from_millis(90) && elapsed < Duration::from_secs(10),
        "{elapsed:?}"
    );
    assert_eq!(server.seen().len(), 3);
    assert!(server
        .seen()
        .iter()
        .all(|s| s.header("idempotency-key").is_none()));
}

#[tokio::test]
async fn x_should_retry_overrides_the_status() {
    let server = ScriptedServer::start(vec![
        reply_with(503, &[("x-should-retry", "false")], SERVER_ERROR),
        reply(200, ASSISTANT),
    ])
    .await;
    let client = server.client().build().unwrap();
    let error = client.ai().assistants().retrieve("a").await.unwrap_err();
    assert_eq!(error.status(), Some(503));
    assert_eq!(server.seen().len(), 1);

    let server = ScriptedServer::start(vec![
        reply_with(400, &[("x-should-retry", "true")], SERVER_ERROR),
        reply(200, ASSISTANT),
    ])
    .await;
    let client = server.client().build().unwrap();
    assert_eq!(
        client.ai().assistants().retrieve("a").await.unwrap().id,
        "assistant-1"
    );
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn client_errors_are_not_retried_but_408_and_409_are() {
    for status in [400, 401, 403, 404, 422] {
        let server =
            ScriptedServer::start(vec![reply(status, SERVER_ERROR), reply(200, ASSISTANT)]).await;
        let client = server.client().build().unwrap();
        let error = client.ai().assistants().retrieve("a").await.unwrap_err();
        assert_eq!(error.status(), Some(status));
        assert_eq!(server.seen().len(), 1, "{status}");
    }
    for status in [408, 409] {
        let server =
            ScriptedServer::start(vec![reply(status, SERVER_ERROR), reply(200, ASSISTANT)]).await;
        let client = server.client().build().unwrap();
        client.ai().assistants().retrieve("a").await.unwrap();
        assert_eq!(server.seen().len(), 2, "{status}");
    }
}

#[tokio::test]
async fn idempotency_keys_only_on_posts_with_retries_or_when_given() {
    let server = ScriptedServer::start(vec![
        reply(200, ASSISTANT),
        reply(200, ASSISTANT),
        reply(200, ASSISTANT),
        reply(200, ASSISTANT),
    ])
    .await;
    let no_retries = server.client().max_retries(0).build().unwrap();
    no_retries
        .ai()
        .assistants()
        .create(&create_params())
        .await
        .unwrap();
    let given = no_retries.with_options(RequestOptions {
        idempotency_key: Some("my-key".into()),
        ..Default::default()
    });
    given
        .ai()
        .assistants()
        .create(&create_params())
        .await
        .unwrap();
    let client = server.client().build().unwrap();
    client
        .ai()
        .assistants()
        .update("assistant-1", &Default::default())
        .await
        .unwrap();
    client
        .ai()
        .assistants()
        .retrieve("assistant-1")
        .await
        .unwrap();
    let seen = server.seen();
    let keys: Vec<Option<&str>> = seen.iter().map(|s| s.header("idempotency-key")).collect();
    assert_eq!(keys[0], None);
    assert_eq!(keys[1], Some("my-key"));
    assert!(keys[2].is_some_and(|k| k.starts_with("parley-rust-retry-")));
    assert_eq!(keys[3], None, "GETs carry none");
    assert_eq!(seen[2].body, "{}", "an empty update sends {{}}");
}

#[tokio::test]
async fn every_request_carries_auth_accept_user_agent_and_extra_headers() {
    let server =
        ScriptedServer::start(vec![reply(200, ASSISTANT), reply(200, r#""<Response/>""#)]).await;
    let client = server.client().header("x-team", "support").build().unwrap();
    client.ai().assistants().retrieve("a b/c").await.unwrap();
    let texml = client.ai().assistants().get_texml("a").await.unwrap();
    assert_eq!(texml, "<Response/>", "the JSON string is decoded");
    let seen = server.seen();
    assert_eq!(seen[0].path_and_query, "/v2/ai/assistants/a%20b%2Fc");
    assert_eq!(seen[0].header("authorization"), Some("Bearer scripted-key"));
    assert_eq!(seen[0].header("accept"), Some("application/json"));
    assert_eq!(seen[0].header("x-team"), Some("support"));
    assert!(seen[0]
        .header("user-agent")
        .is_some_and(|ua| ua.starts_with("parley-client/")));

    // Without a key, no Authorization header at all.
    let server = ScriptedServer::start(vec![reply(401, SERVER_ERROR)]).await;
    let anonymous = Client::builder()
        .base_url(&server.base_url)
        .build()
        .unwrap();
    assert_eq!(
        anonymous
            .ai()
            .assistants()
            .list()
            .await
            .unwrap_err()
            .status(),
        Some(401)
    );
    assert!(server.seen()[0].header("authorization").is_none());
}

#[tokio::test]
async fn timeouts_are_retried_then_reported() {
    let server = ScriptedServer::start(vec![Reply::Hang, Reply::Hang, reply(200, ASSISTANT)]).await;
    let client = server
        .client()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    assert_eq!(
        client.ai().assistants().retrieve("a").await.unwrap().id,
        "assistant-1"
    );
    assert_eq!(server.seen().len(), 3);

    let server = ScriptedServer::start(vec![Reply::Hang, Reply::Hang]).await;
    let client = server
        .client()
        .timeout(Duration::from_millis(200))
        .max_retries(1)
        .build()
        .unwrap();
    let error = client.ai().assistants().retrieve("a").await.unwrap_err();
    assert!(matches!(error, Error::Timeout), "{error:?}");
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn connection_failures_are_retried_then_reported() {
    // A port nothing listens on: bound, then released.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = Client::builder()
        .base_url(format!("http://{addr}/v2"))
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(5))
        .build()
        .unwrap();
    let error = client.ai().assistants().list().await.unwrap_err();
    assert!(matches!(error, Error::Transport(_)), "{error:?}");
    assert!(error.to_string().starts_with("request failed"), "{error}");
}

#[tokio::test]
async fn unexpected_bodies_are_decode_errors_and_foreign_errors_keep_their_body() {
    let server = ScriptedServer::start(vec![
        reply(200, "not json"),
        reply(502, "<html>bad gateway</html>"),
    ])
    .await;
    let client = server.client().max_retries(0).build().unwrap();
    let error = client.ai().assistants().retrieve("a").await.unwrap_err();
    assert!(matches!(error, Error::Decode(_)), "{error:?}");
    match client.ai().assistants().retrieve("a").await.unwrap_err() {
        Error::Api {
            status,
            envelope,
            body,
        } => {
            assert_eq!(status, 502);
            assert!(envelope.is_none());
            assert_eq!(body, "<html>bad gateway</html>");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn streams_follow_meta_and_bare_arrays_repeating_the_query() {
    let page = |n: u32, names: &[&str]| {
        let data: Vec<String> = names
            .iter()
            .map(|name| ASSISTANT.replace("\"N\"", &format!("\"{name}\"")))
            .collect();
        reply(
            200,
            &format!(
                r#"{{"data": [{}], "meta": {{"page_number": {n}, "page_size": 2, "total_pages": 3, "total_results": 5}}}}"#,
                data.join(",")
            ),
        )
    };
    let server = ScriptedServer::start(vec![
        page(1, &["a", "b"]),
        page(2, &["c", "d"]),
        page(3, &["e"]),
    ])
    .await;
    let client = server.client().build().unwrap();
    let names: Vec<String> = client
        .ai()
        .assistants()
        .list_all(&PageParams {
            page_size: Some(2),
            ..Default::default()
        })
        .map_ok(|a| a.name)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(names, ["a", "b", "c", "d", "e"]);
    let queries: Vec<String> = server
        .seen()
        .into_iter()
        .map(|s| s.path_and_query)
        .collect();
    assert_eq!(
        queries,
        [
            "/v2/ai/assistants?page%5Bnumber%5D=1&page%5Bsize%5D=2",
            "/v2/ai/assistants?page%5Bnumber%5D=2&page%5Bsize%5D=2",
            "/v2/ai/assistants?page%5Bnumber%5D=3&page%5Bsize%5D=2",
        ]
    );

    let mcp = |id: &str| {
        format!(
            r#"{{"id": "{id}", "name": "n", "type": "sse", "url": "https://x", "created_at": "c"}}"#
        )
    };
    let server = ScriptedServer::start(vec![
        reply(200, &format!("[{}]", mcp("mcp-1"))),
        reply(200, &format!("[{}]", mcp("mcp-2"))),
        reply(200, "[]"),
    ])
    .await;
    let client = server.client().build().unwrap();
    let ids: Vec<String> = client
        .ai()
        .mcp_servers()
        .list_all(&McpServerListParams {
            server_type: Some("sse".into()),
            ..Default::default()
        })
        .map_ok(|s| s.id)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids, ["mcp-1", "mcp-2"]);
    let queries: Vec<String> = server
        .seen()
        .into_iter()
        .map(|s| s.path_and_query)
        .collect();
    assert_eq!(
        queries,
        [
            "/v2/ai/mcp_servers?page%5Bnumber%5D=1&type=sse",
            "/v2/ai/mcp_servers?page%5Bnumber%5D=2&type=sse",
            "/v2/ai/mcp_servers?page%5Bnumber%5D=3&type=sse",
        ]
    );

    // A failing page ends the stream with the error.
    let server = ScriptedServer::start(vec![page(1, &["a"]), reply(404, SERVER_ERROR)]).await;
    let client = server.client().build().unwrap();
    let result: Result<Vec<_>, _> = client
        .ai()
        .assistants()
        .list_all(&PageParams::default())
        .try_collect()
        .await;
    assert_eq!(result.unwrap_err().status(), Some(404));
}
