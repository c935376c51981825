//! The MCP client: lists the tools of an organization's MCP servers and calls them.
//!
//! Both MCP transports are spoken, by a small hand-written JSON-RPC client (the protocol
//! subset a tool user needs: `initialize`, `notifications/initialized`, `tools/list` followed
//! through its cursors, and `tools/call`):
//!
//! - **Streamable HTTP** (protocol 2025-03-26 and later): every message is POSTed to the
//!   server's URL with `Accept: application/json, text/event-stream`; the answer to a request
//!   is a JSON body or an SSE stream that carries it. The `Mcp-Session-Id` the server returns
//!   from `initialize` and the negotiated `MCP-Protocol-Version` go with every later request.
//! - **Legacy HTTP+SSE** (protocol 2024-11-05): a GET opens an event stream whose first
//!   `endpoint` event names the URL to POST messages to (resolved against the stream's URL and
//!   required to be on the same origin, so the bearer token never goes elsewhere); answers
//!   arrive on the stream, matched by their JSON-RPC id.
//!
//! A server's `ping` requests are answered; other requests from the server (sampling,
//! elicitation, roots — capabilities this client does not declare) get "method not found";
//! notifications (progress, logging) are ignored.
//!
//! **Sessions.** Every [`McpConnector::list_tools`] (on a cache miss) and
//! [`McpConnector::call_tool`] opens its own session — `initialize`, then
//! `notifications/initialized`, then the request — and ends it afterwards (a streamable HTTP
//! session is closed with a `DELETE` in the background; a legacy stream is dropped). That
//! costs two extra round trips per call but keeps the connector stateless: no session can go
//! stale, be shared across conversations, or outlive a server restart. Tool lists, which are
//! asked for on every chat turn, are cached instead: per endpoint id, URL, transport and
//! bearer token (its SHA-256 digest, never the token) for the connector's `list_ttl`. Failures
//! are not cached.
//!
//! **Outbound policy.** Every URL — the server's and a legacy `endpoint` — is checked with
//! [`Outbound::check_url`] and every connection goes through a client built from
//! [`Outbound::builder`], whose resolver refuses private addresses unless they are allowed;
//! refusals are [`McpError::Refused`].
//!
//! **Robustness.** Each JSON-RPC request — from sending it to reading its answer, or opening a
//! legacy stream until its `endpoint` event — has the connector's `timeout`
//! ([`McpError::Timeout`]); at most [`MAX_MESSAGE_BYTES`] of a message are read; a server that
//! is down, answers with an HTTP error, garbage, or a JSON-RPC error yields an [`McpError`].
//! Resuming a broken SSE stream (`Last-Event-ID`) is not attempted: the request fails.

use crate::outbound::{Outbound, OutboundError};
use parley_core::mcp::McpTransport;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{StatusCode, Url};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The protocol version asked for in `initialize`; the server may answer with another one,
/// which is then used (the subset spoken here is the same in every version).
pub const PROTOCOL_VERSION: &str = "2025-06-18";
/// Most bytes of one message (a JSON body or one SSE event) that are read.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// Most `tools/list` pages followed.
pub const MAX_LIST_PAGES: usize = 100;
/// Longest connection attempt, whatever the request timeout.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Most entries kept in the tool-list cache (expired ones are dropped first).
const MAX_CACHE_ENTRIES: usize = 4096;

const SESSION_HEADER: HeaderName = HeaderName::from_static("mcp-session-id");
const PROTOCOL_HEADER: HeaderName = HeaderName::from_static("mcp-protocol-version");
const EVENT_STREAM: &str = "text/event-stream";

/// How to reach one MCP server.
#[derive(Clone)]
pub struct McpEndpoint {
    /// The server's id (`mcp-…`); part of the tool-list cache key.
    pub id: String,
    /// The server's URL: the streamable HTTP endpoint, or the legacy SSE stream.
    pub url: String,
    /// Which transport the server speaks.
    pub transport: McpTransport,
    /// Sent as `Authorization: Bearer <bearer>` when set.
    pub bearer: Option<String>,
}

impl fmt::Debug for McpEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpEndpoint")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("transport", &self.transport)
            .field("bearer", &self.bearer.as_ref().map(|_| "***"))
            .finish()
    }
}

/// A tool a server lists.
#[derive(Debug, Clone, PartialEq)]
pub struct McpTool {
    /// Its name, as `tools/call` wants it.
    pub name: String,
    /// Its description (empty when the server gives none).
    pub description: String,
    /// The JSON Schema of its arguments (`{"type": "object", "properties": {}}` when the
    /// server gives none).
    pub input_schema: Value,
}

/// The result of a call: text content joined, structured content if any, and the server's
/// `isError` flag.
#[derive(Debug, Clone, PartialEq)]
pub struct McpCallResult {
    /// The `text` items of `content`, joined with newlines; other items are summarized
    /// (`[image: image/png]`, `[audio: …]`, `[resource: uri]`, the text of an embedded text
    /// resource). When there is no content but structured content, its JSON.
    pub text: String,
    /// `structuredContent`, if the server sent it.
    pub structured: Option<Value>,
    /// `isError`: the tool ran and failed (the text says why).
    pub is_error: bool,
}

/// Why talking to an MCP server failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum McpError {
    /// The outbound policy refused the URL (not `http(s)`, or a non-public address while
    /// private networks are not allowed).
    #[error("refused: {0}")]
    Refused(String),
    /// No connection could be made, or it broke.
    #[error("MCP server unreachable: {0}")]
    Unreachable(String),
    /// A request was not answered within the timeout.
    #[error("MCP server did not answer in time")]
    Timeout,
    /// The server's answer was not the MCP it should be.
    #[error("MCP protocol error: {0}")]
    Protocol(String),
    /// The server answered with this HTTP status.
    #[error("MCP server answered with HTTP status {0}")]
    Status(u16),
    /// The server answered with a JSON-RPC error (e.g. an unknown tool or bad arguments).
    #[error("MCP server error {code}: {message}")]
    Rpc {
        /// The JSON-RPC error code.
        code: i64,
        /// Its message.
        message: String,
    },
    /// `arguments` was not a JSON object.
    #[error("tool arguments must be a JSON object")]
    BadArguments,
}

/// Lists and calls MCP servers' tools over either transport, behind the outbound policy, with
/// a cache of tool lists. Cheap to share (`Arc` it); safe to use concurrently.
pub struct McpConnector {
    outbound: Outbound,
    client: reqwest::Client,
    list_ttl: Duration,
    timeout: Duration,
    cache: Mutex<HashMap<CacheKey, CacheEntry>>,
}

impl fmt::Debug for McpConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpConnector")
            .field("outbound", &self.outbound)
            .field("list_ttl", &self.list_ttl)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    id: String,
    url: String,
    streamable: bool,
    bearer_digest: Option<String>,
}

impl CacheKey {
    fn of(endpoint: &McpEndpoint) -> Self {
        CacheKey {
            id: endpoint.id.clone(),
            url: endpoint.url.clone(),
            streamable: endpoint.transport == McpTransport::StreamableHttp,
            bearer_digest: endpoint
                .bearer
                .as_ref()
                .map(|b| hex::encode(Sha256::digest(b.as_bytes()))),
        }
    }
}

#[derive(Debug)]
struct CacheEntry {
    fetched: Instant,
    tools: Arc<Vec<McpTool>>,
}

impl McpConnector {
    /// A connector whose traffic follows `outbound`, caching tool lists for `list_ttl` (zero:
    /// no caching) and giving each request `timeout`.
    pub fn new(outbound: Outbound, list_ttl: Duration, timeout: Duration) -> Self {
        let client = outbound
            .builder()
            .connect_timeout(timeout.min(MAX_CONNECT_TIMEOUT))
            .build()
            // Building only fails when the TLS backend cannot start; the shared client has
            // the same guard.
            .unwrap_or_else(|_| outbound.client().clone());
        McpConnector {
            outbound,
            client,
            list_ttl,
            timeout,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Lists the server's tools (paginated `tools/list` followed to the end), cached per
    /// (endpoint id, url, bearer digest) — and transport — for `list_ttl`. Tools without a
    /// name are left out.
    pub async fn list_tools(&self, endpoint: &McpEndpoint) -> Result<Arc<Vec<McpTool>>, McpError> {
        let key = CacheKey::of(endpoint);
        if let Some(tools) = self.cached(&key) {
            return Ok(tools);
        }
        let tools = Arc::new(self.fetch_tools(endpoint).await?);
        if !self.list_ttl.is_zero() {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            let ttl = self.list_ttl;
            cache.retain(|_, entry| entry.fetched.elapsed() < ttl);
            if cache.len() >= MAX_CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(
                key,
                CacheEntry {
                    fetched: Instant::now(),
                    tools: tools.clone(),
                },
            );
        }
        Ok(tools)
    }

    /// Calls a tool with `arguments` (a JSON object; `null` is sent as `{}`); `meta` goes into
    /// `params._meta` (the engine sends `{"telnyx_conversation_id": …}`; `null` or an empty
    /// object sends none).
    pub async fn call_tool(
        &self,
        endpoint: &McpEndpoint,
        name: &str,
        arguments: Value,
        meta: Value,
    ) -> Result<McpCallResult, McpError> {
        let arguments = match arguments {
            Value::Null => Value::Object(Map::new()),
            Value::Object(map) => Value::Object(map),
            _ => return Err(McpError::BadArguments),
        };
        let mut params = json!({"name": name, "arguments": arguments});
        match meta {
            Value::Object(map) if !map.is_empty() => params["_meta"] = Value::Object(map),
            _ => {}
        }
        let mut session = self.open(endpoint).await?;
        let outcome = session.request("tools/call", Some(params)).await;
        session.close(self.timeout);
        parse_call_result(outcome?)
    }

    fn cached(&self, key: &CacheKey) -> Option<Arc<Vec<McpTool>>> {
        if self.list_ttl.is_zero() {
            return None;
        }
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(key)
            .filter(|entry| entry.fetched.elapsed() < self.list_ttl)
            .map(|entry| entry.tools.clone())
    }

    async fn fetch_tools(&self, endpoint: &McpEndpoint) -> Result<Vec<McpTool>, McpError> {
        let mut session = self.open(endpoint).await?;
        let outcome = list_all(&mut session).await;
        session.close(self.timeout);
        outcome
    }

    /// Opens an initialized session with the server.
    async fn open(&self, endpoint: &McpEndpoint) -> Result<Session, McpError> {
        let url = self.outbound.check_url(&endpoint.url).map_err(refused)?;
        let mut headers = HeaderMap::new();
        if let Some(bearer) = &endpoint.bearer {
            let mut value = HeaderValue::from_str(&format!("Bearer {bearer}")).map_err(|_| {
                McpError::Protocol("the bearer token is not a valid header value".into())
            })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let target = PostTarget {
            client: self.client.clone(),
            url,
            headers,
        };
        let mut session = match endpoint.transport {
            McpTransport::StreamableHttp => Session {
                target,
                stream: None,
                next_id: 0,
                timeout: self.timeout,
            },
            McpTransport::Sse => {
                let opened =
                    tokio::time::timeout(self.timeout, open_legacy(&self.outbound, target))
                        .await
                        .map_err(|_| McpError::Timeout)??;
                let (target, stream) = opened;
                Session {
                    target,
                    stream: Some(stream),
                    next_id: 0,
                    timeout: self.timeout,
                }
            }
        };
        let initialized = session
            .request(
                "initialize",
                Some(json!({
                    "protocolVersion": PROTOCOL_VERSION,
                    "capabilities": {},
                    "clientInfo": {"name": "parley", "version": env!("CARGO_PKG_VERSION")},
                })),
            )
            .await;
        let result = match initialized {
            Ok(result) => result,
            Err(e) => {
                session.close(self.timeout);
                return Err(e);
            }
        };
        let Some(version) = result.get("protocolVersion").and_then(Value::as_str) else {
            session.close(self.timeout);
            return Err(McpError::Protocol(
                "the initialize result has no protocolVersion".into(),
            ));
        };
        if session.stream.is_none() {
            if let Ok(value) = HeaderValue::from_str(version) {
                session.target.headers.insert(PROTOCOL_HEADER, value);
            }
        }
        if let Err(e) = session.notify("notifications/initialized").await {
            session.close(self.timeout);
            return Err(e);
        }
        Ok(session)
    }
}

/// Follows `tools/list` through its cursors.
async fn list_all(session: &mut Session) -> Result<Vec<McpTool>, McpError> {
    let mut tools = Vec::new();
    let mut cursor: Option<String> = None;
    let mut seen = HashSet::new();
    for _ in 0..MAX_LIST_PAGES {
        let params = cursor.as_ref().map(|c| json!({"cursor": c}));
        let result = session.request("tools/list", params).await?;
        let Some(items) = result.get("tools").and_then(Value::as_array) else {
            return Err(McpError::Protocol(
                "the tools/list result has no tools array".into(),
            ));
        };
        tools.extend(items.iter().filter_map(parse_tool));
        match result.get("nextCursor").and_then(Value::as_str) {
            Some(next) if !next.is_empty() => {
                if !seen.insert(next.to_owned()) {
                    return Err(McpError::Protocol(
                        "tools/list returned a cursor twice".into(),
                    ));
                }
                cursor = Some(next.to_owned());
            }
            _ => return Ok(tools),
        }
    }
    Err(McpError::Protocol(format!(
        "tools/list has more than {MAX_LIST_PAGES} pages"
    )))
}

fn parse_tool(item: &Value) -> Option<McpTool> {
    let name = item.get("name").and_then(Value::as_str).unwrap_or_default();
    if name.is_empty() {
        tracing::debug!("MCP server listed a tool without a name; skipped");
        return None;
    }
    let description = item
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let input_schema = match item.get("inputSchema") {
        Some(Value::Object(schema)) => Value::Object(schema.clone()),
        _ => json!({"type": "object", "properties": {}}),
    };
    Some(McpTool {
        name: name.to_owned(),
        description,
        input_schema,
    })
}

fn parse_call_result(result: Value) -> Result<McpCallResult, McpError> {
    let Value::Object(result) = result else {
        return Err(McpError::Protocol(
            "the tools/call result is not an object".into(),
        ));
    };
    let parts: Vec<String> = result
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(describe_content)
        .collect();
    let structured = result
        .get("structuredContent")
        .filter(|v| !v.is_null())
        .cloned();
    let mut text = parts.join("\n");
    if text.is_empty() {
        if let Some(structured) = &structured {
            text = structured.to_string();
        }
    }
    Ok(McpCallResult {
        text,
        structured,
        is_error: result
            .get("isError")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// One `content` item as text.
fn describe_content(item: &Value) -> Option<String> {
    let field = |name: &str| item.get(name).and_then(Value::as_str);
    let kind = field("type").unwrap_or_default();
    Some(match kind {
        "text" => field("text")?.to_owned(),
        "image" | "audio" => format!("[{kind}: {}]", field("mimeType").unwrap_or("unknown")),
        "resource" => {
            let resource = item.get("resource")?;
            if let Some(text) = resource.get("text").and_then(Value::as_str) {
                text.to_owned()
            } else {
                let uri = resource.get("uri").and_then(Value::as_str).unwrap_or("");
                match resource.get("mimeType").and_then(Value::as_str) {
                    Some(mime) => format!("[resource: {uri} ({mime})]"),
                    None => format!("[resource: {uri}]"),
                }
            }
        }
        "resource_link" => format!("[resource link: {}]", field("uri").unwrap_or("")),
        "" => return None,
        other => format!("[{other}]"),
    })
}

/// Where messages are POSTed: the streamable HTTP endpoint or the legacy `endpoint`, with
/// the headers every message carries.
struct PostTarget {
    client: reqwest::Client,
    url: Url,
    headers: HeaderMap,
}

impl PostTarget {
    fn post(&self, message: &Value) -> reqwest::RequestBuilder {
        self.client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(message.to_string())
    }

    /// POSTs a message whose answer, if any, is not in the POST's response (notifications,
    /// replies to the server, and every message on the legacy transport).
    async fn send(&self, message: &Value) -> Result<(), McpError> {
        let response = self
            .post(message)
            .header(ACCEPT, "application/json, text/event-stream")
            .send()
            .await
            .map_err(from_reqwest)?;
        check_status(response.status())
    }
}

/// One initialized conversation with a server.
struct Session {
    target: PostTarget,
    /// The legacy transport's event stream; `None` for streamable HTTP.
    stream: Option<EventStream>,
    next_id: i64,
    timeout: Duration,
}

impl Session {
    /// Sends a request and waits (at most the timeout) for its result.
    async fn request(&mut self, method: &str, params: Option<Value>) -> Result<Value, McpError> {
        let id = self.next_id;
        self.next_id += 1;
        let mut message = json!({"jsonrpc": "2.0", "id": id, "method": method});
        if let Some(params) = params {
            message["params"] = params;
        }
        let timeout = self.timeout;
        let exchange = async {
            match &mut self.stream {
                Some(stream) => {
                    let target = &self.target;
                    let (_, answer) =
                        tokio::try_join!(target.send(&message), stream.answer(target, id))?;
                    Ok(answer)
                }
                None => streamable_request(&mut self.target, &message, id).await,
            }
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| McpError::Timeout)?
    }

    /// Sends a notification (at most the timeout).
    async fn notify(&mut self, method: &str) -> Result<(), McpError> {
        let message = json!({"jsonrpc": "2.0", "method": method});
        tokio::time::timeout(self.timeout, self.target.send(&message))
            .await
            .map_err(|_| McpError::Timeout)?
    }

    /// Ends the session: a streamable HTTP session with an id is deleted in the background;
    /// a legacy stream is dropped.
    fn close(self, timeout: Duration) {
        if self.stream.is_some() || !self.target.headers.contains_key(SESSION_HEADER) {
            return;
        }
        let request = self
            .target
            .client
            .delete(self.target.url.clone())
            .headers(self.target.headers.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = tokio::time::timeout(timeout, request.send()).await;
            });
        }
    }
}

/// One request over streamable HTTP: the answer is the POST's JSON body or comes on the SSE
/// stream it opens. Keeps the session id the server assigns.
async fn streamable_request(
    target: &mut PostTarget,
    message: &Value,
    id: i64,
) -> Result<Value, McpError> {
    let response = target
        .post(message)
        .header(ACCEPT, "application/json, text/event-stream")
        .send()
        .await
        .map_err(from_reqwest)?;
    check_status(response.status())?;
    if let Some(session) = response.headers().get(SESSION_HEADER) {
        if !target.headers.contains_key(SESSION_HEADER) && session.to_str().is_ok() {
            target.headers.insert(SESSION_HEADER, session.clone());
        }
    }
    if response.status() == StatusCode::ACCEPTED || response.status() == StatusCode::NO_CONTENT {
        return Err(McpError::Protocol(format!(
            "HTTP {} without an answer to the request",
            response.status().as_u16()
        )));
    }
    if essence(response.headers()) == EVENT_STREAM {
        let mut stream = EventStream::new(response);
        let target: &PostTarget = target;
        return stream.answer(target, id).await;
    }
    let body = read_limited(response).await?;
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| McpError::Protocol(format!("the answer is not JSON: {e}")))?;
    let messages = match value {
        Value::Array(batch) => batch,
        single => vec![single],
    };
    for message in messages {
        if let Some(answer) = answer_of(&message, id) {
            return answer;
        }
    }
    Err(McpError::Protocol(
        "the JSON body holds no answer to the request".into(),
    ))
}

/// Opens a legacy SSE stream and reads its `endpoint` event; returns where to POST and the
/// stream.
async fn open_legacy(
    outbound: &Outbound,
    target: PostTarget,
) -> Result<(PostTarget, EventStream), McpError> {
    let response = target
        .client
        .get(target.url.clone())
        .headers(target.headers.clone())
        .header(ACCEPT, EVENT_STREAM)
        .send()
        .await
        .map_err(from_reqwest)?;
    check_status(response.status())?;
    if essence(response.headers()) != EVENT_STREAM {
        return Err(McpError::Protocol(format!(
            "the SSE endpoint answered with {:?}, not an event stream",
            essence(response.headers())
        )));
    }
    let mut stream = EventStream::new(response);
    loop {
        let Some(event) = stream.next().await? else {
            return Err(McpError::Protocol(
                "the event stream ended before its endpoint event".into(),
            ));
        };
        if event.event != "endpoint" {
            continue;
        }
        let post_url = target
            .url
            .join(event.data.trim())
            .map_err(|_| McpError::Protocol(format!("bad endpoint {:?}", event.data.trim())))?;
        if post_url.origin() != target.url.origin() {
            return Err(McpError::Protocol(format!(
                "the endpoint {post_url} is not on the server's origin"
            )));
        }
        let post_url = outbound.check_url(post_url.as_str()).map_err(refused)?;
        return Ok((
            PostTarget {
                url: post_url,
                ..target
            },
            stream,
        ));
    }
}

fn check_status(status: StatusCode) -> Result<(), McpError> {
    if status.is_success() {
        Ok(())
    } else {
        Err(McpError::Status(status.as_u16()))
    }
}

/// The media type of a response, lower case, without parameters.
fn essence(headers: &HeaderMap) -> String {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, McpError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(from_reqwest)? {
        if body.len() + chunk.len() > MAX_MESSAGE_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn too_large() -> McpError {
    McpError::Protocol(format!(
        "a message is larger than {MAX_MESSAGE_BYTES} bytes"
    ))
}

/// If `message` answers request `id`: its result, or its error.
fn answer_of(message: &Value, id: i64) -> Option<Result<Value, McpError>> {
    if message.get("id") != Some(&json!(id)) || message.get("method").is_some() {
        return None;
    }
    if let Some(error) = message.get("error") {
        return Some(Err(McpError::Rpc {
            code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
            message: error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        }));
    }
    Some(
        message
            .get("result")
            .cloned()
            .ok_or_else(|| McpError::Protocol("an answer without result or error".into())),
    )
}

fn refused(error: OutboundError) -> McpError {
    McpError::Refused(error.to_string())
}

/// A reqwest failure as an [`McpError`]; the URL is left out of the message.
fn from_reqwest(error: reqwest::Error) -> McpError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(e) = source {
        if let Some(refusal) = e.downcast_ref::<OutboundError>() {
            return McpError::Refused(refusal.to_string());
        }
        source = e.source();
    }
    if error.is_timeout() {
        return McpError::Timeout;
    }
    let error = error.without_url();
    let mut parts: Vec<String> = vec![error.to_string()];
    let mut source = std::error::Error::source(&error);
    while let Some(e) = source {
        let text = e.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = e.source();
    }
    McpError::Unreachable(parts.join(": "))
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SseEvent {
    /// The event type (`message` when the server names none).
    event: String,
    /// Its data lines joined with `\n`.
    data: String,
}

/// Parses the `text/event-stream` format incrementally (lines ending in LF, CRLF or CR;
/// comments; multi-line data). `id` and `retry` are ignored.
#[derive(Debug, Default)]
struct SseParser {
    buffer: Vec<u8>,
    event: String,
    data: String,
    has_data: bool,
    /// The last byte seen ended a line with CR: an LF that comes next belongs to it.
    after_cr: bool,
}

impl SseParser {
    /// Adds bytes; returns the events they complete.
    fn feed(&mut self, mut bytes: &[u8]) -> Result<Vec<SseEvent>, McpError> {
        if std::mem::take(&mut self.after_cr) {
            if let Some(rest) = bytes.strip_prefix(b"\n") {
                bytes = rest;
            }
        }
        self.buffer.extend_from_slice(bytes);
        let mut events = Vec::new();
        let mut start = 0;
        while let Some(offset) = self.buffer[start..]
            .iter()
            .position(|b| *b == b'\n' || *b == b'\r')
        {
            let end = start + offset;
            let next = if self.buffer[end] == b'\r' {
                match self.buffer.get(end + 1) {
                    // A CR at the end of what arrived: the line ends, and an LF that may
                    // follow in the next bytes is skipped.
                    None => {
                        self.after_cr = true;
                        end + 1
                    }
                    Some(b'\n') => end + 2,
                    Some(_) => end + 1,
                }
            } else {
                end + 1
            };
            let line = String::from_utf8_lossy(&self.buffer[start..end]).into_owned();
            self.line(&line, &mut events);
            start = next;
        }
        self.buffer.drain(..start);
        if self.buffer.len() > MAX_MESSAGE_BYTES || self.data.len() > MAX_MESSAGE_BYTES {
            return Err(too_large());
        }
        Ok(events)
    }

    fn line(&mut self, line: &str, events: &mut Vec<SseEvent>) {
        if line.is_empty() {
            let event = std::mem::take(&mut self.event);
            let data = std::mem::take(&mut self.data);
            if std::mem::take(&mut self.has_data) {
                events.push(SseEvent {
                    event: if event.is_empty() {
                        "message".into()
                    } else {
                        event
                    },
                    data,
                });
            }
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field.trim_start_matches('\u{feff}') {
            "event" => self.event = value.to_owned(),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            _ => {}
        }
    }
}

/// The events of an SSE response.
struct EventStream {
    response: reqwest::Response,
    parser: SseParser,
    pending: VecDeque<SseEvent>,
    done: bool,
}

impl EventStream {
    fn new(response: reqwest::Response) -> Self {
        EventStream {
            response,
            parser: SseParser::default(),
            pending: VecDeque::new(),
            done: false,
        }
    }

    /// The next event; `None` when the stream ended (an unfinished event is dropped).
    async fn next(&mut self) -> Result<Option<SseEvent>, McpError> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(Some(event));
            }
            if self.done {
                return Ok(None);
            }
            match self.response.chunk().await.map_err(from_reqwest)? {
                Some(chunk) => self.pending.extend(self.parser.feed(&chunk)?),
                None => self.done = true,
            }
        }
    }

    /// Reads `message` events until the answer to request `id`; answers the server's
    /// requests through `target` on the way.
    async fn answer(&mut self, target: &PostTarget, id: i64) -> Result<Value, McpError> {
        while let Some(event) = self.next().await? {
            if event.event != "message" || event.data.trim().is_empty() {
                continue;
            }
            let message: Value = serde_json::from_str(&event.data)
                .map_err(|e| McpError::Protocol(format!("an event is not JSON: {e}")))?;
            if let Some(answer) = answer_of(&message, id) {
                return answer;
            }
            if let (Some(request_id), Some(method)) = (
                message.get("id"),
                message.get("method").and_then(Value::as_str),
            ) {
                let reply = if method == "ping" {
                    json!({"jsonrpc": "2.0", "id": request_id, "result": {}})
                } else {
                    json!({"jsonrpc": "2.0", "id": request_id,
                           "error": {"code": -32601, "message": "method not supported by this client"}})
                };
                target.send(&reply).await?;
            }
        }
        Err(McpError::Protocol(
            "the event stream ended before the answer".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = SseParser::default();
        chunks
            .iter()
            .flat_map(|c| parser.feed(c).unwrap())
            .collect()
    }

    fn event(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
        }
    }

    #[test]
    fn sse_parsing_handles_line_endings_splits_and_comments() {
        assert_eq!(
            events(&[b"event: endpoint\r\ndata: /messages?s=1\r\n\r\n"]),
            [event("endpoint", "/messages?s=1")]
        );
        assert_eq!(
            events(&[
                b": ping\n\ndata: {\"a\"",
                b":1}\n",
                b"data:2\n\nevent: x\n\n"
            ]),
            [event("message", "{\"a\":1}\n2")]
        );
        // A CR split from its LF across chunks is one line end, not two; a CR at the end
        // of a chunk ends its line at once.
        assert_eq!(
            events(&[b"data: a\r", b"\ndata: b\r", b"\r"]),
            [event("message", "a\nb")]
        );
        assert_eq!(
            events(&[b"data: a\r", b"\r", b"\n", b"data: b\n\n"]),
            [event("message", "a"), event("message", "b")]
        );
        assert_eq!(events(&[b"data\rdata\r\r"]), [event("message", "\n")]);
        assert!(events(&[b"data: unfinished"]).is_empty());
    }

    #[test]
    fn answers_match_ids_and_errors() {
        assert_eq!(
            answer_of(&json!({"jsonrpc": "2.0", "id": 3, "result": {"x": 1}}), 3),
            Some(Ok(json!({"x": 1})))
        );
        assert_eq!(
            answer_of(&json!({"jsonrpc": "2.0", "id": 2, "result": {}}), 3),
            None
        );
        assert_eq!(
            answer_of(&json!({"jsonrpc": "2.0", "id": 3, "method": "ping"}), 3),
            None
        );
        assert_eq!(
            answer_of(
                &json!({"jsonrpc": "2.0", "id": 3, "error": {"code": -32602, "message": "no"}}),
                3
            ),
            Some(Err(McpError::Rpc {
                code: -32602,
                message: "no".into()
            }))
        );
    }

    #[test]
    fn call_results_join_text_and_summarize_the_rest() {
        let result = parse_call_result(json!({
            "content": [
                {"type": "text", "text": "one"},
                {"type": "image", "data": "AAAA", "mimeType": "image/png"},
                {"type": "resource", "resource": {"uri": "file:///a.txt", "text": "inside"}},
                {"type": "resource", "resource": {"uri": "file:///b.bin", "blob": "AA", "mimeType": "application/octet-stream"}},
                {"type": "resource_link", "uri": "https://example.com/x", "name": "x"},
                {"type": "text", "text": "two"}
            ],
            "isError": true
        }))
        .unwrap();
        assert_eq!(
            result.text,
            "one\n[image: image/png]\ninside\n[resource: file:///b.bin (application/octet-stream)]\n[resource link: https://example.com/x]\ntwo"
        );
        assert!(result.is_error);
        assert_eq!(result.structured, None);
        let structured =
            parse_call_result(json!({"content": [], "structuredContent": {"a": 1}})).unwrap();
        assert_eq!(structured.text, r#"{"a":1}"#);
        assert_eq!(structured.structured, Some(json!({"a": 1})));
        assert!(!structured.is_error);
        assert!(parse_call_result(json!([])).is_err());
    }

    #[test]
    fn tools_get_defaults_and_nameless_ones_are_skipped() {
        assert_eq!(
            parse_tool(&json!({"name": "t"})),
            Some(McpTool {
                name: "t".into(),
                description: String::new(),
                input_schema: json!({"type": "object", "properties": {}}),
            })
        );
        assert_eq!(parse_tool(&json!({"description": "x"})), None);
    }

    #[test]
    fn the_futures_can_be_spawned() {
        fn send<T: Send + 'static>(_: T) {}
        let connector = Arc::new(McpConnector::new(
            Outbound::new(false),
            Duration::from_secs(1),
            Duration::from_secs(1),
        ));
        let endpoint = McpEndpoint {
            id: "mcp-1".into(),
            url: "https://mcp.example.com/mcp".into(),
            transport: McpTransport::Sse,
            bearer: None,
        };
        let (c, e) = (connector.clone(), endpoint.clone());
        send(async move { c.list_tools(&e).await });
        send(async move {
            connector
                .call_tool(&endpoint, "t", Value::Null, Value::Null)
                .await
        });
    }

    #[test]
    fn cache_keys_hide_the_bearer_and_debug_redacts_it() {
        let endpoint = McpEndpoint {
            id: "mcp-1".into(),
            url: "https://mcp.example.com/mcp".into(),
            transport: McpTransport::StreamableHttp,
            bearer: Some("secret-token".into()),
        };
        let key = CacheKey::of(&endpoint);
        assert!(!format!("{key:?}").contains("secret-token"));
        assert!(!format!("{endpoint:?}").contains("secret-token"));
        let other = McpEndpoint {
            bearer: Some("other".into()),
            ..endpoint.clone()
        };
        assert_ne!(key, CacheKey::of(&other));
    }
}
