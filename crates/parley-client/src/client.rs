//! The client: configuration, and sending one request with retries, timeouts and
//! idempotency keys. Resources (`crate::resources`) build requests; this module sends them.

use crate::error::{Error, Result};
use crate::retry::{self, Backoff};
use parley_types::ErrorEnvelope;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Where requests go when neither the builder nor `TELNYX_BASE_URL` says otherwise.
pub const DEFAULT_BASE_URL: &str = "https://api.telnyx.com/v2";
/// How long one attempt may take, connection to last byte of the body.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long establishing a connection may take.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Retries after the first attempt.
pub const DEFAULT_MAX_RETRIES: u32 = 2;

/// A client of the Telnyx AI Assistants API — Parley's or Telnyx's.
///
/// Cheap to clone: clones share one connection pool. Start from [`Client::ai`] or
/// [`Client::integration_secrets`]:
///
/// ```no_run
/// # async fn run() -> parley_client::Result<()> {
/// let client = parley_client::Client::from_env()?;
/// let assistants = client.ai().assistants().list().await?;
/// for assistant in &assistants.data {
///     println!("{} {}", assistant.id, assistant.name);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    options: RequestOptions,
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    api_key: Option<String>,
    headers: HeaderMap,
    backoff: Backoff,
}

/// Per-call settings, applied with [`Client::with_options`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestOptions {
    /// Retries after the first attempt.
    pub max_retries: Option<u32>,
    /// How long one attempt may take.
    pub timeout: Option<Duration>,
    /// The `Idempotency-Key` to send with POSTs instead of a generated one. The server
    /// replays the first response to a repeated key, so use a client carrying one key for one
    /// call only.
    pub idempotency_key: Option<String>,
}

impl Client {
    /// A client with this API key, configured otherwise as [`Client::from_env`]: the base URL
    /// from `TELNYX_BASE_URL` (default [`DEFAULT_BASE_URL`]), the default timeout and retries.
    ///
    /// # Panics
    ///
    /// When `TELNYX_BASE_URL` or `TELNYX_CUSTOM_HEADERS` is invalid, or the TLS backend cannot
    /// be initialised; [`ClientBuilder::build`] returns these as errors instead.
    pub fn new(api_key: impl Into<String>) -> Self {
        match ClientBuilder::from_env().api_key(api_key).build() {
            Ok(client) => client,
            Err(e) => panic!("cannot build the Telnyx client: {e}"),
        }
    }

    /// A client configured from the environment: `TELNYX_API_KEY` (without it no
    /// `Authorization` header is sent), `TELNYX_BASE_URL` (default [`DEFAULT_BASE_URL`]) and
    /// `TELNYX_CUSTOM_HEADERS` (`Name: value` lines).
    pub fn from_env() -> Result<Self> {
        ClientBuilder::from_env().build()
    }

    /// A builder with the defaults, reading nothing from the environment.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// The base URL requests are sent under, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// A client sharing this one's connections, with some settings replaced for the calls
    /// made through it.
    ///
    /// ```no_run
    /// # async fn run(client: parley_client::Client) -> parley_client::Result<()> {
    /// use parley_client::RequestOptions;
    /// let once = client.with_options(RequestOptions { max_retries: Some(0), ..Default::default() });
    /// once.ai().assistants().retrieve("assistant-123").await?;
    /// # Ok(()) }
    /// ```
    pub fn with_options(&self, options: RequestOptions) -> Self {
        Self {
            inner: self.inner.clone(),
            options: RequestOptions {
                max_retries: options.max_retries.or(self.options.max_retries),
                timeout: options.timeout.or(self.options.timeout),
                idempotency_key: options
                    .idempotency_key
                    .or_else(|| self.options.idempotency_key.clone()),
            },
        }
    }

    fn max_retries(&self) -> u32 {
        self.options.max_retries.unwrap_or(DEFAULT_MAX_RETRIES)
    }

    fn timeout(&self) -> Duration {
        self.options.timeout.unwrap_or(DEFAULT_TIMEOUT)
    }

    /// Sends a request and decodes a JSON body.
    pub(crate) async fn json<T: DeserializeOwned>(&self, request: ApiRequest) -> Result<T> {
        let (body, _) = self.send(request).await?;
        serde_json::from_slice(&body).map_err(Error::Decode)
    }

    /// Sends a request and decodes a JSON body; the response headers too.
    pub(crate) async fn json_with_headers<T: DeserializeOwned>(
        &self,
        request: ApiRequest,
    ) -> Result<(T, HeaderMap)> {
        let (body, headers) = self.send(request).await?;
        let value = serde_json::from_slice(&body).map_err(Error::Decode)?;
        Ok((value, headers))
    }

    /// Sends a request once (no retries: a streamed body cannot be replayed) with this body;
    /// the response body.
    pub(crate) async fn send_once_with_body(
        &self,
        request: ApiRequest,
        body: reqwest::Body,
    ) -> Result<Vec<u8>> {
        let url = self.url_of(&request);
        let response = self
            .attempt(&request, &url, None)
            .body(body)
            .timeout(self.timeout())
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        let body = response.bytes().await.map_err(transport_error)?;
        if status.is_success() {
            Ok(body.to_vec())
        } else {
            Err(api_error(status.as_u16(), &body))
        }
    }

    /// The URL of a request: under the base URL, or under its origin (the base URL without
    /// its `/v2`) for requests outside the API.
    fn url_of(&self, request: &ApiRequest) -> String {
        if request.outside_api {
            format!("{}/{}", self.origin(), request.path)
        } else {
            format!("{}/{}", self.inner.base_url, request.path)
        }
    }

    /// The API key, if the client has one.
    pub(crate) fn api_key(&self) -> Option<&str> {
        self.inner.api_key.as_deref()
    }

    /// The base URL without its trailing `/v2`: where Parley serves what is not the API
    /// (object storage under `/s3`).
    pub fn origin(&self) -> &str {
        let base = self.inner.base_url.as_str();
        base.strip_suffix("/v2").unwrap_or(base)
    }

    /// Sends a request whose response body, if any, carries nothing.
    pub(crate) async fn empty(&self, request: ApiRequest) -> Result<()> {
        self.send(request).await.map(drop)
    }

    /// Sends a request and returns the body as text, decoding it when it is a JSON string.
    pub(crate) async fn text(&self, request: ApiRequest) -> Result<String> {
        let (body, _) = self.send(request).await?;
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::String(text)) => Ok(text),
            _ => Ok(String::from_utf8_lossy(&body).into_owned()),
        }
    }

    /// The `Idempotency-Key` a call sends: on POSTs, the one of the options, else a generated
    /// one when retries are on; none when the client's headers already carry one.
    fn idempotency_key_for(&self, request: &ApiRequest, max_retries: u32) -> Option<String> {
        (request.method == Method::POST && !self.inner.headers.contains_key("idempotency-key"))
            .then(|| match &self.options.idempotency_key {
                Some(key) => Some(key.clone()),
                None => (max_retries > 0).then(retry::idempotency_key),
            })
            .flatten()
    }

    /// One attempt of a request, without its timeout.
    fn attempt(
        &self,
        request: &ApiRequest,
        url: &str,
        idempotency_key: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut headers = self.inner.headers.clone();
        if let Some(accept) = request.accept {
            headers.insert(reqwest::header::ACCEPT, HeaderValue::from_static(accept));
        }
        let mut builder = self
            .inner
            .http
            .request(request.method.clone(), url)
            .headers(headers);
        if let (Some(key), false) = (&self.inner.api_key, request.outside_api) {
            builder = builder.bearer_auth(key);
        }
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if !request.query.is_empty() {
            builder = builder.query(&request.query);
        }
        if let Some(key) = idempotency_key {
            builder = builder.header("idempotency-key", key);
        }
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        if let Some(length) = request.content_length {
            builder = builder.header(reqwest::header::CONTENT_LENGTH, length);
        }
        if request.body.is_some() || request.content_type.is_some() {
            let content_type = request
                .content_type
                .as_deref()
                .unwrap_or("application/json");
            builder = builder.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        builder
    }

    /// Sends a request, retrying as [`crate::retry`] describes; the body and headers of a 2xx
    /// response.
    async fn send(&self, request: ApiRequest) -> Result<(Vec<u8>, HeaderMap)> {
        let url = self.url_of(&request);
        let max_retries = self.max_retries();
        let timeout = self.timeout();
        let idempotency_key = self.idempotency_key_for(&request, max_retries);
        let mut retries_taken = 0;
        loop {
            let builder = self
                .attempt(&request, &url, idempotency_key.as_deref())
                .timeout(timeout);
            let can_retry = retries_taken < max_retries;
            let failure = match builder.send().await {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    match response.bytes().await {
                        Ok(body) if status.is_success() => return Ok((body.to_vec(), headers)),
                        Ok(body) => {
                            let error = api_error(status.as_u16(), &body);
                            if !can_retry || !retry::should_retry(status.as_u16(), &headers) {
                                return Err(error);
                            }
                            retry::retry_after(&headers, SystemTime::now())
                        }
                        Err(e) if can_retry && retryable(&e) => None,
                        Err(e) => return Err(transport_error(e)),
                    }
                }
                Err(e) if can_retry && retryable(&e) => None,
                Err(e) => return Err(transport_error(e)),
            };
            self.wait_before_retry(retries_taken, failure).await;
            retries_taken += 1;
        }
    }

    /// Sends a request whose 2xx body is read as it arrives (server-sent events). Retries as
    /// [`Client::send`] does until a 2xx status arrives, and never after: the timeout bounds
    /// the wait for the status line, then each wait for the next chunk of the body.
    pub(crate) async fn send_streaming(&self, request: ApiRequest) -> Result<BodyStream> {
        let url = self.url_of(&request);
        let max_retries = self.max_retries();
        let timeout = self.timeout();
        let idempotency_key = self.idempotency_key_for(&request, max_retries);
        let mut retries_taken = 0;
        loop {
            let builder = self.attempt(&request, &url, idempotency_key.as_deref());
            let can_retry = retries_taken < max_retries;
            let failure = match tokio::time::timeout(timeout, builder.send()).await {
                Ok(Ok(response)) if response.status().is_success() => {
                    return Ok(BodyStream {
                        response,
                        idle_timeout: timeout,
                    })
                }
                Ok(Ok(response)) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    match tokio::time::timeout(timeout, response.bytes()).await {
                        Ok(Ok(body)) => {
                            let error = api_error(status.as_u16(), &body);
                            if !can_retry || !retry::should_retry(status.as_u16(), &headers) {
                                return Err(error);
                            }
                            retry::retry_after(&headers, SystemTime::now())
                        }
                        Ok(Err(e)) if can_retry && retryable(&e) => None,
                        Ok(Err(e)) => return Err(transport_error(e)),
                        Err(_) if can_retry => None,
                        Err(_) => return Err(Error::Timeout),
                    }
                }
                Ok(Err(e)) if can_retry && retryable(&e) => None,
                Ok(Err(e)) => return Err(transport_error(e)),
                Err(_) if can_retry => None,
                Err(_) => return Err(Error::Timeout),
            };
            self.wait_before_retry(retries_taken, failure).await;
            retries_taken += 1;
        }
    }

    /// Sleeps before retry number `retries_taken + 1`; `asked` is what the server asked for.
    async fn wait_before_retry(&self, retries_taken: u32, asked: Option<Duration>) {
        let wait = retry::delay(
            self.inner.backoff,
            retries_taken,
            asked,
            retry::random_unit(),
        );
        tokio::time::sleep(wait).await;
    }
}

/// The body of a 2xx response, read chunk by chunk.
pub(crate) struct BodyStream {
    response: reqwest::Response,
    idle_timeout: Duration,
}

impl BodyStream {
    /// The next chunk of the body; `None` at its end. Waiting longer than the timeout for a
    /// chunk is an [`Error::Timeout`].
    pub(crate) async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        match tokio::time::timeout(self.idle_timeout, self.response.chunk()).await {
            Ok(Ok(chunk)) => Ok(chunk.map(|c| c.to_vec())),
            Ok(Err(e)) => Err(transport_error(e)),
            Err(_) => Err(Error::Timeout),
        }
    }
}

/// Whether a transport failure may go away on a new attempt.
fn retryable(error: &reqwest::Error) -> bool {
    !(error.is_builder() || error.is_redirect() || error.is_decode())
}

fn transport_error(error: reqwest::Error) -> Error {
    if error.is_timeout() {
        Error::Timeout
    } else if error.is_builder() {
        Error::InvalidArgument(format!("cannot build the request: {error}"))
    } else {
        Error::Transport(error)
    }
}

fn api_error(status: u16, body: &[u8]) -> Error {
    let envelope = serde_json::from_slice::<ErrorEnvelope>(body)
        .ok()
        .filter(|e| !e.errors.is_empty());
    Error::Api {
        status,
        envelope,
        body: String::from_utf8_lossy(body).into_owned(),
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base_url)
            .field("api_key", &self.inner.api_key.as_ref().map(|_| "***"))
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Client`].
///
/// ```
/// use std::time::Duration;
/// let client = parley_client::Client::builder()
///     .api_key("local-dev-key")
///     .base_url("http://127.0.0.1:8080/v2")
///     .timeout(Duration::from_secs(10))
///     .max_retries(0)
///     .header("x-team", "support")
///     .build()
///     .unwrap();
/// assert_eq!(client.base_url(), "http://127.0.0.1:8080/v2");
/// ```
#[derive(Clone)]
pub struct ClientBuilder {
    api_key: Option<String>,
    base_url: String,
    timeout: Duration,
    connect_timeout: Duration,
    max_retries: u32,
    headers: Vec<(String, String)>,
    backoff: Backoff,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientBuilder {
    /// The defaults: [`DEFAULT_BASE_URL`], no API key, [`DEFAULT_TIMEOUT`],
    /// [`DEFAULT_MAX_RETRIES`], back-off from 0.5 s to 8 s.
    pub fn new() -> Self {
        Self {
            api_key: None,
            base_url: DEFAULT_BASE_URL.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_retries: DEFAULT_MAX_RETRIES,
            headers: Vec::new(),
            backoff: Backoff::default(),
        }
    }

    /// The defaults, then `TELNYX_API_KEY`, `TELNYX_BASE_URL` and `TELNYX_CUSTOM_HEADERS`
    /// (`Name: value` lines) from the environment; empty variables are ignored.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let mut builder = Self::new().api_key_opt(var("TELNYX_API_KEY"));
        if let Some(url) = var("TELNYX_BASE_URL") {
            builder = builder.base_url(url);
        }
        for line in var("TELNYX_CUSTOM_HEADERS").unwrap_or_default().lines() {
            if let Some((name, value)) = line.split_once(':') {
                builder = builder.header(name.trim(), value.trim());
            }
        }
        builder
    }

    /// The API key, sent as `Authorization: Bearer <key>`.
    pub fn api_key(self, api_key: impl Into<String>) -> Self {
        self.api_key_opt(Some(api_key.into()))
    }

    /// The API key, or none: then no `Authorization` header is sent.
    pub fn api_key_opt(mut self, api_key: Option<String>) -> Self {
        self.api_key = api_key;
        self
    }

    /// The base URL, including the `/v2` prefix (`http://127.0.0.1:8080/v2`).
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// How long one attempt may take, connection to last byte of the body.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long establishing a connection may take.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Retries after the first attempt (0 disables retries and automatic idempotency keys).
    pub fn max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// A header sent with every request.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The wait before the first retry and the longest wait (defaults 0.5 s and 8 s); waits
    /// double in between, less up to 25 % of jitter.
    pub fn retry_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff = Backoff { initial, max };
        self
    }

    /// Builds the client; fails on an invalid base URL or header.
    pub fn build(self) -> Result<Client> {
        let base_url = self.base_url.trim().trim_end_matches('/').to_owned();
        match reqwest::Url::parse(&base_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {}
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "the base URL must be an absolute http(s) URL, not {base_url:?}"
                )))
            }
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        for (name, value) in &self.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| Error::InvalidArgument(format!("invalid header name {name:?}")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| Error::InvalidArgument(format!("invalid value for header {name}")))?;
            headers.append(name, value);
        }
        if let Some(key) = &self.api_key {
            if HeaderValue::from_str(&format!("Bearer {key}")).is_err() {
                return Err(Error::InvalidArgument(
                    "the API key contains characters a header cannot carry".into(),
                ));
            }
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("parley-client/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(self.connect_timeout)
            .build()
            .map_err(|e| Error::InvalidArgument(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base_url,
                api_key: self.api_key,
                headers,
                backoff: self.backoff,
            }),
            options: RequestOptions {
                max_retries: Some(self.max_retries),
                timeout: Some(self.timeout),
                idempotency_key: None,
            },
        })
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

/// One request, as resources describe it.
#[derive(Debug)]
pub(crate) struct ApiRequest {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    content_type: Option<String>,
    content_length: Option<u64>,
    accept: Option<&'static str>,
    outside_api: bool,
    headers: Vec<(String, String)>,
}

impl ApiRequest {
    /// A request without query or body; `path` is relative to the base URL.
    pub(crate) fn new(method: Method, path: String) -> Self {
        Self {
            method,
            path,
            query: Vec::new(),
            body: None,
            content_type: None,
            content_length: None,
            accept: None,
            outside_api: false,
            headers: Vec::new(),
        }
    }

    /// `GET path`.
    pub(crate) fn get(path: String) -> Self {
        Self::new(Method::GET, path)
    }

    /// `POST path` (no body until [`ApiRequest::body`]).
    pub(crate) fn post(path: String) -> Self {
        Self::new(Method::POST, path)
    }

    /// `PUT path`.
    pub(crate) fn put(path: String) -> Self {
        Self::new(Method::PUT, path)
    }

    /// `PATCH path`.
    pub(crate) fn patch(path: String) -> Self {
        Self::new(Method::PATCH, path)
    }

    /// `DELETE path`.
    pub(crate) fn delete(path: String) -> Self {
        Self::new(Method::DELETE, path)
    }

    /// The path is relative to the base URL's origin (without `/v2`), not to the API, and
    /// the request carries no bearer key (it brings its own `Authorization`).
    pub(crate) fn outside_api(mut self) -> Self {
        self.outside_api = true;
        self
    }

    /// A header of this request only.
    pub(crate) fn header(mut self, name: &str, value: String) -> Self {
        self.headers.push((name.to_owned(), value));
        self
    }

    /// A body sent as it is, with this content type.
    pub(crate) fn raw_body(mut self, body: Vec<u8>, content_type: &str) -> Self {
        self.body = Some(body);
        self.content_type = Some(content_type.to_owned());
        self
    }

    /// The content type of a body given separately ([`Client::send_once_with_body`]).
    pub(crate) fn content_type(mut self, content_type: &str) -> Self {
        self.content_type = Some(content_type.to_owned());
        self
    }

    /// The length of a body given separately, sent as `Content-Length` (instead of a chunked
    /// body).
    pub(crate) fn content_length(mut self, length: u64) -> Self {
        self.content_length = Some(length);
        self
    }

    /// A JSON body.
    pub(crate) fn body(mut self, body: &impl Serialize) -> Result<Self> {
        let bytes = serde_json::to_vec(body).map_err(|e| {
            Error::InvalidArgument(format!("the request body cannot be encoded: {e}"))
        })?;
        self.body = Some(bytes);
        Ok(self)
    }

    /// Query parameters as name–value pairs, sent in this order (names may repeat).
    pub(crate) fn pairs(mut self, pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        self.query.extend(pairs);
        self
    }

    /// The `Accept` header, instead of `application/json`.
    pub(crate) fn accept(mut self, accept: &'static str) -> Self {
        self.accept = Some(accept);
        self
    }

    /// Query parameters from a struct: unset (`null`) fields are left out, arrays are sent
    /// comma-separated, as the Telnyx SDKs send them.
    pub(crate) fn query(mut self, params: &impl Serialize) -> Result<Self> {
        let value = serde_json::to_value(params).map_err(|e| {
            Error::InvalidArgument(format!("the query parameters cannot be encoded: {e}"))
        })?;
        let Value::Object(fields) = value else {
            return Ok(self);
        };
        for (name, value) in fields {
            let text = match value {
                Value::Null => continue,
                Value::String(text) => text,
                Value::Array(items) => items
                    .iter()
                    .map(|item| match item {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(","),
                other => other.to_string(),
            };
            self.query.push((name, text));
        }
        Ok(self)
    }
}

/// A path segment from a caller-supplied id: refused when empty, percent-encoded otherwise.
pub(crate) fn segment(value: &str, what: &str) -> Result<String> {
    if value.is_empty() {
        return Err(Error::InvalidArgument(format!("{what} must not be empty")));
    }
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    Ok(encoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn segments_are_encoded_and_never_empty() {
        assert_eq!(
            segment("assistant-1_a.b~", "id").unwrap(),
            "assistant-1_a.b~"
        );
        assert_eq!(segment("a/b c?é", "id").unwrap(), "a%2Fb%20c%3F%C3%A9");
        assert!(
            matches!(segment("", "assistant_id"), Err(Error::InvalidArgument(m)) if m.contains("assistant_id"))
        );
    }

    #[test]
    fn query_parameters_skip_nulls_and_join_arrays_with_commas() {
        let request = ApiRequest::get("x".into())
            .query(&json!({"page[number]": 2, "status": ["a", "b"], "gone": null, "flag": true}))
            .unwrap();
        assert_eq!(
            request.query,
            vec![
                ("page[number]".to_owned(), "2".to_owned()),
                ("status".to_owned(), "a,b".to_owned()),
                ("flag".to_owned(), "true".to_owned()),
            ]
        );
    }

    #[test]
    fn the_builder_refuses_bad_urls_and_headers_and_hides_the_key() {
        assert!(Client::builder()
            .base_url("api.telnyx.com")
            .build()
            .is_err());
        assert!(Client::builder().base_url("ftp://x/v2").build().is_err());
        assert!(Client::builder().header("bad header", "v").build().is_err());
        assert!(Client::builder()
            .header("x-ok", "line\nbreak")
            .build()
            .is_err());
        let client = Client::builder()
            .api_key("sk-secret-value")
            .base_url("http://127.0.0.1:1/v2/")
            .build()
            .unwrap();
        assert_eq!(client.base_url(), "http://127.0.0.1:1/v2");
        let debug = format!("{client:?}");
        assert!(!debug.contains("sk-secret-value"), "{debug}");
    }

    #[test]
    fn options_layer_over_the_client() {
        let client = Client::builder().max_retries(5).build().unwrap();
        assert_eq!(client.max_retries(), 5);
        let once = client.with_options(RequestOptions {
            max_retries: Some(0),
            ..Default::default()
        });
        assert_eq!(once.max_retries(), 0);
        assert_eq!(once.timeout(), DEFAULT_TIMEOUT);
        assert_eq!(client.max_retries(), 5);
    }
}
