//! The MCP client (`parley_server::tools::mcp`) against real MCP servers and hand-made bad
//! ones, all on 127.0.0.1.
//!
//! Real servers are `tests/fixtures/mcp_server.py` run by the Python MCP SDK, pinned in
//! `tests/fixtures/mcp_requirements.txt` (mcp 2.x) and `mcp_requirements_v1.txt` (mcp 1.x,
//! FastMCP). The first test that needs one creates a virtualenv under the target directory
//! (`target/mcp-venv`, `target/mcp-venv-v1`) with `python3 -m venv` (or `$PYTHON`) and
//! installs the requirements from PyPI; it is reused while the requirements file is unchanged.
//! When that cannot be done the tests fail, saying why — they never skip.
//!
//! Misbehaving servers (garbage, HTTP errors, hanging streams, paginated lists, JSON-RPC
//! errors) are small axum routers in the test process.

mod common;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use parley_core::mcp::McpTransport;
use parley_server::outbound::Outbound;
use parley_server::tools::mcp::{McpConnector, McpEndpoint, McpError};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// The Python MCP servers.

/// Which pinned SDK a server runs on.
#[derive(Debug, Clone, Copy)]
enum Sdk {
    /// mcp 2.x (`MCPServer`).
    Current,
    /// mcp 1.x (`FastMCP`).
    V1,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
    }
}

fn run(command: &mut Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The Python of a virtualenv with `sdk`'s requirements installed (created on first use).
fn python(sdk: Sdk) -> PathBuf {
    static SETUP: Mutex<()> = Mutex::new(());
    let _one_at_a_time = SETUP.lock().unwrap_or_else(|e| e.into_inner());
    let (requirements, venv) = match sdk {
        Sdk::Current => ("mcp_requirements.txt", "mcp-venv"),
        Sdk::V1 => ("mcp_requirements_v1.txt", "mcp-venv-v1"),
    };
    let requirements = fixtures().join(requirements);
    let venv = target_dir().join(venv);
    let python = venv.join("bin/python");
    let wanted = hex::encode(Sha256::digest(
        std::fs::read(&requirements).expect("the requirements fixture exists"),
    ));
    let stamp = venv.join(".requirements.sha256");
    if python.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(&wanted) {
        return python;
    }
    if !python.exists() {
        let base = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
        run(
            Command::new(&base).arg("-m").arg("venv").arg(&venv),
            "creating the MCP test virtualenv (Python 3.10+ with venv is needed; on Debian: \
             apt-get install python3-venv)",
        );
    }
    run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&requirements),
        "installing the MCP SDK from PyPI into the test virtualenv",
    );
    std::fs::write(&stamp, &wanted).expect("the stamp is written");
    python
}

/// A running `mcp_server.py`, killed when dropped.
struct PyServer {
    child: Child,
    port: u16,
    transport: McpTransport,
}

impl PyServer {
    fn start(sdk: Sdk, transport: McpTransport, extra: &[&str]) -> Self {
        let python = python(sdk);
        let name = match transport {
            McpTransport::StreamableHttp => "streamable-http",
            McpTransport::Sse => "sse",
        };
        let mut child = Command::new(&python)
            .arg(fixtures().join("mcp_server.py"))
            .args(["--transport", name])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {python:?}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let (port_tx, port_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line.strip_prefix("PORT=") {
                    let _ = port_tx.send(port.trim().parse::<u16>().ok());
                }
            }
        });
        let log = Arc::new(Mutex::new(String::new()));
        let log_writer = log.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                let mut log = log_writer.lock().unwrap();
                if log.len() < 64 * 1024 {
                    log.push_str(&String::from_utf8_lossy(&buffer[..n]));
                }
            }
        });
        match port_rx.recv_timeout(Duration::from_secs(90)) {
            Ok(Some(port)) => PyServer {
                child,
                port,
                transport,
            },
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "the MCP test server did not start:\n{}",
                    log.lock().unwrap()
                );
            }
        }
    }

    fn url(&self) -> String {
        match self.transport {
            McpTransport::StreamableHttp => format!("http://127.0.0.1:{}/mcp", self.port),
            McpTransport::Sse => format!("http://127.0.0.1:{}/sse", self.port),
        }
    }

    fn endpoint(&self, bearer: Option<&str>) -> McpEndpoint {
        McpEndpoint {
            id: format!("mcp-test-{}", self.port),
            url: self.url(),
            transport: self.transport,
            bearer: bearer.map(str::to_owned),
        }
    }
}

impl Drop for PyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn connector() -> McpConnector {
    McpConnector::new(
        Outbound::new(true),
        Duration::from_secs(60),
        Duration::from_secs(20),
    )
}

fn names(tools: &[parley_server::tools::mcp::McpTool]) -> Vec<&str> {
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    names
}

/// Lists and calls a real server: the fixture's tools, structured content, `_meta`, `isError`.
async fn lists_and_calls(server: &PyServer) {
    let mcp = connector();
    let endpoint = server.endpoint(None);
    let tools = mcp.list_tools(&endpoint).await.expect("tools are listed");
    assert_eq!(names(&tools), ["add", "echo", "fail", "grow", "sleep"]);
    let add = tools.iter().find(|t| t.name == "add").unwrap();
    assert_eq!(add.description, "Adds two integers.");
    assert_eq!(add.input_schema["type"], "object");
    assert_eq!(add.input_schema["required"], json!(["a", "b"]));
    assert_eq!(add.input_schema["properties"]["a"]["type"], "integer");

    let sum = mcp
        .call_tool(&endpoint, "add", json!({"a": 2, "b": 3}), Value::Null)
        .await
        .expect("add is called");
    assert!(!sum.is_error, "{sum:?}");
    assert_eq!(sum.structured, Some(json!({"sum": 5})));
    assert!(sum.text.contains('5'), "{sum:?}");

    let echo = mcp
        .call_tool(
            &endpoint,
            "echo",
            json!({"text": "hello"}),
            json!({"telnyx_conversation_id": "conv-1"}),
        )
        .await
        .expect("echo is called");
    let structured = echo.structured.expect("echo answers structured content");
    assert_eq!(structured["text"], "hello");
    assert_eq!(structured["meta"]["telnyx_conversation_id"], "conv-1");

    let failed = mcp
        .call_tool(&endpoint, "fail", json!({"message": "boom"}), Value::Null)
        .await
        .expect("a failing tool is still an answer");
    assert!(failed.is_error, "{failed:?}");
    assert!(failed.text.contains("boom"), "{failed:?}");
    assert_eq!(failed.structured, None);
}

#[tokio::test]
async fn streamable_http_lists_and_calls() {
    let server = PyServer::start(Sdk::Current, McpTransport::StreamableHttp, &[]);
    lists_and_calls(&server).await;
}

#[tokio::test]
async fn streamable_http_with_json_answers_lists_and_calls() {
    let server = PyServer::start(
        Sdk::Current,
        McpTransport::StreamableHttp,
        &["--json-response"],
    );
    lists_and_calls(&server).await;
}

#[tokio::test]
async fn legacy_sse_lists_and_calls() {
    let server = PyServer::start(Sdk::Current, McpTransport::Sse, &[]);
    lists_and_calls(&server).await;
}

#[tokio::test]
async fn mcp_v1_servers_list_and_call_over_both_transports() {
    for transport in [McpTransport::StreamableHttp, McpTransport::Sse] {
        let server = PyServer::start(Sdk::V1, transport, &[]);
        lists_and_calls(&server).await;
    }
}

#[tokio::test]
async fn the_bearer_token_is_sent_and_required() {
    for transport in [McpTransport::StreamableHttp, McpTransport::Sse] {
        let server = PyServer::start(Sdk::Current, transport, &["--token", "s3cret"]);
        let mcp = connector();
        for bearer in [None, Some("wrong")] {
            let endpoint = server.endpoint(bearer);
            assert_eq!(
                mcp.list_tools(&endpoint).await.unwrap_err(),
                McpError::Status(401),
                "{transport:?} {bearer:?}"
            );
            assert_eq!(
                mcp.call_tool(&endpoint, "add", json!({"a": 1, "b": 1}), Value::Null)
                    .await
                    .unwrap_err(),
                McpError::Status(401)
            );
        }
        let endpoint = server.endpoint(Some("s3cret"));
        assert_eq!(mcp.list_tools(&endpoint).await.unwrap().len(), 5);
        let sum = mcp
            .call_tool(&endpoint, "add", json!({"a": 1, "b": 1}), Value::Null)
            .await
            .unwrap();
        assert_eq!(sum.structured, Some(json!({"sum": 2})));
    }
}

#[tokio::test]
async fn a_slow_tool_times_out() {
    for transport in [McpTransport::StreamableHttp, McpTransport::Sse] {
        let server = PyServer::start(Sdk::Current, transport, &[]);
        let mcp = McpConnector::new(
            Outbound::new(true),
            Duration::from_secs(60),
            Duration::from_secs(5),
        );
        let endpoint = server.endpoint(None);
        // The server answers quickly otherwise.
        mcp.list_tools(&endpoint).await.expect("tools are listed");
        let quick = mcp
            .call_tool(&endpoint, "sleep", json!({"seconds": 0}), Value::Null)
            .await
            .expect("a quick sleep answers");
        assert_eq!(quick.text, "awake");
        let started = Instant::now();
        let slow = mcp
            .call_tool(&endpoint, "sleep", json!({"seconds": 60}), Value::Null)
            .await;
        assert_eq!(slow.unwrap_err(), McpError::Timeout, "{transport:?}");
        assert!(started.elapsed() < Duration::from_secs(20));
    }
}

/// A host name (not `localhost`, which the policy refuses without a lookup) that resolves to
/// loopback addresses only: `localhost.` or the machine's name.
async fn loopback_name() -> String {
    let mut candidates = vec!["localhost.".to_owned()];
    if let Ok(name) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        candidates.push(name.trim().to_owned());
    }
    for name in &candidates {
        if let Ok(addresses) = tokio::net::lookup_host((name.as_str(), 0)).await {
            let addresses: Vec<_> = addresses.collect();
            if !addresses.is_empty() && addresses.iter().all(|a| a.ip().is_loopback()) {
                return name.clone();
            }
        }
    }
    panic!("none of {candidates:?} resolves to loopback addresses only; the test needs one")
}

#[tokio::test]
async fn the_outbound_policy_applies() {
    let server = PyServer::start(Sdk::Current, McpTransport::StreamableHttp, &[]);
    let strict = McpConnector::new(
        Outbound::new(false),
        Duration::from_secs(60),
        Duration::from_secs(20),
    );
    for transport in [McpTransport::StreamableHttp, McpTransport::Sse] {
        let endpoint = McpEndpoint {
            transport,
            ..server.endpoint(None)
        };
        assert!(
            matches!(
                strict.list_tools(&endpoint).await,
                Err(McpError::Refused(_))
            ),
            "{transport:?}"
        );
        assert!(matches!(
            strict
                .call_tool(&endpoint, "add", json!({"a": 1, "b": 2}), Value::Null)
                .await,
            Err(McpError::Refused(_))
        ));
    }
    // Host names that resolve to loopback are refused when connecting.
    let by_name = McpEndpoint {
        url: format!("http://{}:{}/mcp", loopback_name().await, server.port),
        ..server.endpoint(None)
    };
    let refused = strict.list_tools(&by_name).await.unwrap_err();
    assert!(matches!(refused, McpError::Refused(_)), "{refused:?}");
    for bad in ["ftp://example.com/mcp", "not a url"] {
        let endpoint = McpEndpoint {
            url: bad.into(),
            ..server.endpoint(None)
        };
        assert!(matches!(
            strict.list_tools(&endpoint).await,
            Err(McpError::Refused(_))
        ));
    }
    // The same server is reachable when private networks are allowed.
    let open = McpConnector::new(
        Outbound::new(true),
        Duration::from_secs(60),
        Duration::from_secs(20),
    );
    assert_eq!(
        open.list_tools(&server.endpoint(None)).await.unwrap().len(),
        5
    );
    let localhost = McpEndpoint {
        url: format!("http://localhost:{}/mcp", server.port),
        ..server.endpoint(None)
    };
    assert!(matches!(
        strict.list_tools(&localhost).await,
        Err(McpError::Refused(_))
    ));
    assert_eq!(open.list_tools(&localhost).await.unwrap().len(), 5);
}

#[tokio::test]
async fn tool_lists_are_cached_for_their_ttl() {
    let server = PyServer::start(Sdk::Current, McpTransport::StreamableHttp, &[]);
    let endpoint = server.endpoint(None);
    let cached = connector();
    let first = cached.list_tools(&endpoint).await.unwrap();
    assert_eq!(first.len(), 5);
    let grown = cached
        .call_tool(&endpoint, "grow", json!({"name": "extra"}), Value::Null)
        .await
        .unwrap();
    assert_eq!(grown.text, "added extra");

    // Within the TTL the list is not asked for again: the new tool is not seen.
    let second = cached.list_tools(&endpoint).await.unwrap();
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(second.len(), 5);

    // Another endpoint id, another bearer token or another connector asks again.
    let renamed = McpEndpoint {
        id: "mcp-other".into(),
        ..endpoint.clone()
    };
    assert_eq!(cached.list_tools(&renamed).await.unwrap().len(), 6);
    let with_token = server.endpoint(Some("token"));
    assert_eq!(cached.list_tools(&with_token).await.unwrap().len(), 6);
    assert_eq!(connector().list_tools(&endpoint).await.unwrap().len(), 6);
    assert_eq!(cached.list_tools(&endpoint).await.unwrap().len(), 5);

    // A zero TTL caches nothing.
    let uncached = McpConnector::new(Outbound::new(true), Duration::ZERO, Duration::from_secs(20));
    let a = uncached.list_tools(&endpoint).await.unwrap();
    cached
        .call_tool(&endpoint, "grow", json!({"name": "more"}), Value::Null)
        .await
        .unwrap();
    let b = uncached.list_tools(&endpoint).await.unwrap();
    assert_eq!((a.len(), b.len()), (6, 7));

    // After the TTL the list is asked for again.
    let short = McpConnector::new(
        Outbound::new(true),
        Duration::from_millis(300),
        Duration::from_secs(20),
    );
    assert_eq!(short.list_tools(&endpoint).await.unwrap().len(), 7);
    cached
        .call_tool(&endpoint, "grow", json!({"name": "most"}), Value::Null)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(short.list_tools(&endpoint).await.unwrap().len(), 8);
}

// ---------------------------------------------------------------------------------------------
// Servers in the test process.

#[tokio::test]
async fn a_dead_server_fails_quickly() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mcp = connector();
    for (transport, path) in [
        (McpTransport::StreamableHttp, "mcp"),
        (McpTransport::Sse, "sse"),
    ] {
        let endpoint = McpEndpoint {
            id: "mcp-dead".into(),
            url: format!("http://127.0.0.1:{port}/{path}"),
            transport,
            bearer: None,
        };
        let started = Instant::now();
        let error = mcp.list_tools(&endpoint).await.unwrap_err();
        assert!(matches!(error, McpError::Unreachable(_)), "{error:?}");
        let error = mcp
            .call_tool(&endpoint, "x", json!({}), Value::Null)
            .await
            .unwrap_err();
        assert!(matches!(error, McpError::Unreachable(_)), "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

/// What the fake server saw: `METHOD json-rpc-method` lines.
type Seen = Arc<Mutex<Vec<String>>>;

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(async move { axum::serve(listener, router).await });
    base
}

fn rpc_result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// A streamable HTTP server that pages its tool list, answers in several shapes and checks
/// the session headers. Returns its URL and how many sessions were deleted.
async fn paging_server(seen: Seen) -> (String, Arc<Mutex<usize>>) {
    let handler = move |headers: HeaderMap, Json(message): Json<Value>| {
        let seen = seen.clone();
        async move {
            let method = message["method"].as_str().unwrap_or_default().to_owned();
            seen.lock().unwrap().push(format!("POST {method}"));
            let id = message["id"].clone();
            if method == "initialize" {
                assert_eq!(message["params"]["protocolVersion"], "2025-06-18");
                let body = rpc_result(
                    &id,
                    json!({"protocolVersion": "2025-03-26", "capabilities": {"tools": {}},
                           "serverInfo": {"name": "fake", "version": "1"}}),
                );
                return ([("mcp-session-id", "session-1")], Json(body)).into_response();
            }
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
            if header("mcp-session-id") != Some("session-1")
                || header("mcp-protocol-version") != Some("2025-03-26")
            {
                return StatusCode::BAD_REQUEST.into_response();
            }
            let tool = |name: &str| json!({"name": name, "inputSchema": {"type": "object"}});
            match (method.as_str(), message["params"]["cursor"].as_str()) {
                ("notifications/initialized", _) => StatusCode::ACCEPTED.into_response(),
                ("tools/list", None) => Json(rpc_result(
                    &id,
                    json!({"tools": [tool("a"), {"description": "no name"}], "nextCursor": "p2"}),
                ))
                .into_response(),
                // A batch, with a notification first.
                ("tools/list", Some("p2")) => Json(json!([
                    {"jsonrpc": "2.0", "method": "notifications/message", "params": {}},
                    rpc_result(&id, json!({"tools": [tool("b")], "nextCursor": "p3"}))
                ]))
                .into_response(),
                // An event stream with CRLF line ends, a ping and another notification first.
                ("tools/list", Some("p3")) => {
                    let answer = rpc_result(&id, json!({"tools": [tool("c")]}));
                    let body = format!(
                        ": hello\r\n\r\nevent: message\r\ndata: {}\r\n\r\ndata: {}\r\n\r\ndata: {answer}\r\n\r\n",
                        json!({"jsonrpc": "2.0", "id": "srv-1", "method": "ping"}),
                        json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {}}),
                    );
                    ([("content-type", "text/event-stream")], body).into_response()
                }
                ("tools/call", _) if message["params"]["name"] == "missing" => Json(json!({
                    "jsonrpc": "2.0", "id": id,
                    "error": {"code": -32602, "message": "Unknown tool: missing"}
                }))
                .into_response(),
                ("tools/call", _) => Json(rpc_result(
                    &id,
                    json!({"content": [
                        {"type": "text", "text": format!("args={}", message["params"]["arguments"])},
                        {"type": "image", "data": "AAAA", "mimeType": "image/png"}
                    ]}),
                ))
                .into_response(),
                // The client's answer to the ping.
                ("", _) if message["id"] == "srv-1" => StatusCode::ACCEPTED.into_response(),
                _ => StatusCode::NOT_FOUND.into_response(),
            }
        }
    };
    let deletes = Arc::new(Mutex::new(0));
    let router = Router::new().route(
        "/mcp",
        post(handler).delete({
            let deletes = deletes.clone();
            move |headers: HeaderMap| async move {
                assert_eq!(headers["mcp-session-id"], "session-1");
                *deletes.lock().unwrap() += 1;
                StatusCode::OK
            }
        }),
    );
    (serve(router).await, deletes)
}

#[tokio::test]
async fn pages_are_followed_and_sessions_kept() {
    let seen: Seen = Arc::default();
    let (base, deletes) = paging_server(seen.clone()).await;
    let endpoint = McpEndpoint {
        id: "mcp-fake".into(),
        url: format!("{base}/mcp"),
        transport: McpTransport::StreamableHttp,
        bearer: None,
    };
    let mcp = connector();
    let tools = mcp.list_tools(&endpoint).await.unwrap();
    assert_eq!(names(&tools), ["a", "b", "c"]);
    assert_eq!(tools[0].description, "");
    let post_lines: Vec<String> = seen.lock().unwrap().clone();
    assert_eq!(
        post_lines,
        [
            "POST initialize",
            "POST notifications/initialized",
            "POST tools/list",
            "POST tools/list",
            "POST tools/list",
            "POST ", // the answer to the server's ping
        ]
    );
    // The session is deleted afterwards, in the background.
    let started = Instant::now();
    while *deletes.lock().unwrap() == 0 {
        assert!(started.elapsed() < Duration::from_secs(5), "no DELETE");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let result = mcp
        .call_tool(&endpoint, "anything", json!({"q": 1}), json!({}))
        .await
        .unwrap();
    assert_eq!(result.text, "args={\"q\":1}\n[image: image/png]");
    assert_eq!(
        mcp.call_tool(&endpoint, "missing", Value::Null, Value::Null)
            .await
            .unwrap_err(),
        McpError::Rpc {
            code: -32602,
            message: "Unknown tool: missing".into()
        }
    );
    assert_eq!(
        mcp.call_tool(&endpoint, "anything", json!([1]), Value::Null)
            .await
            .unwrap_err(),
        McpError::BadArguments
    );
}

/// Servers that answer badly or not at all.
async fn bad_server() -> String {
    let initialize = |Json(message): Json<Value>| async move {
        rpc_result(
            &message["id"],
            json!({"protocolVersion": "2025-06-18", "capabilities": {}}),
        )
    };
    let never = || async {
        Response::builder()
            .header("content-type", "text/event-stream")
            .body(Body::from_stream(futures::stream::pending::<
                Result<Vec<u8>, std::io::Error>,
            >()))
            .unwrap()
    };
    let router = Router::new()
        .route(
            "/html",
            post(|| async { ([("content-type", "text/html")], "<html>hello</html>") }),
        )
        .route(
            "/broken-json",
            post(|| async { ([("content-type", "application/json")], "{\"jsonrpc\": ") }),
        )
        .route(
            "/wrong-id",
            post(|| async { Json(json!({"jsonrpc": "2.0", "id": 99, "result": {}})) }),
        )
        .route(
            "/no-version",
            post(|Json(message): Json<Value>| async move {
                Json(rpc_result(&message["id"], json!({"capabilities": {}})))
            }),
        )
        .route(
            "/error",
            post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "oops") }),
        )
        .route("/hang", post(move || async move { never().await }))
        .route(
            "/garbage-list",
            post(move |Json(message): Json<Value>| async move {
                match message["method"].as_str() {
                    Some("initialize") => Json(initialize(Json(message)).await).into_response(),
                    Some("tools/list") => {
                        Json(rpc_result(&message["id"], json!({"tools": "no"}))).into_response()
                    }
                    _ => StatusCode::ACCEPTED.into_response(),
                }
            }),
        )
        .route(
            "/endless-list",
            post(move |Json(message): Json<Value>| async move {
                match message["method"].as_str() {
                    Some("initialize") => Json(initialize(Json(message)).await).into_response(),
                    Some("tools/list") => Json(rpc_result(
                        &message["id"],
                        json!({"tools": [], "nextCursor": "same"}),
                    ))
                    .into_response(),
                    _ => StatusCode::ACCEPTED.into_response(),
                }
            }),
        )
        .route("/sse-hang", get(move || async move { never().await }))
        .route(
            "/sse-not-a-stream",
            get(|| async { Json(json!({"hello": "world"})) }),
        )
        .route(
            "/sse-foreign",
            get(|| async {
                (
                    [("content-type", "text/event-stream")],
                    "event: endpoint\ndata: http://127.0.0.2:9/messages\n\n",
                )
            }),
        )
        .route(
            "/sse-ends",
            get(|| async {
                (
                    [("content-type", "text/event-stream")],
                    "event: endpoint\ndata: /sse-post\n\n",
                )
            }),
        )
        .route("/sse-post", post(|| async { StatusCode::ACCEPTED }));
    serve(router).await
}

#[tokio::test]
async fn bad_servers_are_errors_not_panics() {
    let base = bad_server().await;
    let mcp = McpConnector::new(
        Outbound::new(true),
        Duration::from_secs(60),
        Duration::from_secs(2),
    );
    let endpoint = |path: &str, transport| McpEndpoint {
        id: format!("mcp-{path}"),
        url: format!("{base}/{path}"),
        transport,
        bearer: None,
    };
    let streamable = McpTransport::StreamableHttp;
    let sse = McpTransport::Sse;
    let protocol = |e: &McpError| matches!(e, McpError::Protocol(_));
    for (path, transport, expected) in [
        ("html", streamable, protocol as fn(&McpError) -> bool),
        ("broken-json", streamable, protocol),
        ("wrong-id", streamable, protocol),
        ("no-version", streamable, protocol),
        ("garbage-list", streamable, protocol),
        ("endless-list", streamable, protocol),
        ("error", streamable, |e| *e == McpError::Status(500)),
        ("nowhere", streamable, |e| *e == McpError::Status(404)),
        ("hang", streamable, |e| *e == McpError::Timeout),
        ("sse-hang", sse, |e| *e == McpError::Timeout),
        ("sse-not-a-stream", sse, protocol),
        ("sse-foreign", sse, protocol),
        ("sse-ends", sse, protocol),
    ] {
        let started = Instant::now();
        let error = mcp
            .list_tools(&endpoint(path, transport))
            .await
            .unwrap_err();
        assert!(expected(&error), "{path}: {error:?}");
        assert!(started.elapsed() < Duration::from_secs(10), "{path}");
    }
}

// ---------------------------------------------------------------------------------------------
// MCP tools in a chat turn.

/// An assistant with two MCP servers — a real one behind a bearer token, with
/// `allowed_tools`, and a dead one — chats through a scripted model that calls a tool: the
/// live server's allowed tools are offered as `<server>__<tool>`, the call reaches it with the
/// secret and the conversation id in `_meta`, and the dead server only costs its tools.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_tools_are_offered_and_called_in_chat() {
    use parley_llm::test_support::{Reply, ScriptedServer};
    let server = PyServer::start(
        Sdk::Current,
        McpTransport::StreamableHttp,
        &["--token", "mcp-secret"],
    );
    let llm = ScriptedServer::start(vec![
        Reply::tool_call("Calc__add", json!({"a": 2, "b": 3})),
        Reply::text("2 + 3 = 5"),
    ])
    .await;
    let base_url = llm.base_url();
    let app = common::TestApp::spawn_with(
        common::Backend::Sqlite,
        Arc::new(parley_core::clock::SystemClock),
        |s| {
            s.llm.embedded = false;
            s.llm.upstream_base_url = Some(base_url);
            s.allow_private_network = true;
        },
    )
    .await;
    let secret = app
        .post(
            "/v2/integration_secrets",
            &json!({"identifier": "mcp_token", "type": "bearer", "token": "mcp-secret"}),
        )
        .await;
    assert_eq!(secret.status, 201, "{}", secret.body);
    let live = app
        .post(
            "/v2/ai/mcp_servers",
            &json!({"name": "Calc", "type": "streamable-http", "url": server.url(),
                    "api_key_ref": "mcp_token", "allowed_tools": ["add", "echo"]}),
        )
        .await;
    assert_eq!(live.status, 200, "{}", live.body);
    let dead = app
        .post(
            "/v2/ai/mcp_servers",
            &json!({"name": "Gone", "type": "sse", "url": "http://127.0.0.1:9/sse"}),
        )
        .await;
    assert_eq!(dead.status, 200, "{}", dead.body);
    let assistant = app
        .create_assistant(json!({
            "name": "MCP", "instructions": "Use tools.", "model": "scripted/model",
            "mcp_servers": [{"id": live.body["id"]}, {"id": dead.body["id"]}],
        }))
        .await;
    let id = assistant["id"].as_str().unwrap();
    let reply = app
        .post(
            &format!("/v2/ai/assistants/{id}/chat"),
            &json!({"content": "what is 2 + 3?", "conversation_id": "conv-mcp"}),
        )
        .await;
    assert_eq!(
        reply.body,
        json!({"content": "2 + 3 = 5"}),
        "{}",
        reply.body
    );
    let requests = llm.requests();
    let mut offered: Vec<&str> = requests[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    offered.sort_unstable();
    assert_eq!(offered, ["Calc__add", "Calc__echo"]);
    let result = requests[1].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(result.contains('5'), "{result}");
    let messages = app.get("/v2/ai/conversations/conv-mcp/messages").await.body;
    let trace = &messages["data"].as_array().unwrap().last().unwrap()["metadata"];
    assert_eq!(
        trace["tools_unavailable"],
        json!([format!("mcp:{}", dead.body["id"].as_str().unwrap())])
    );
    app.stop().await;
}
