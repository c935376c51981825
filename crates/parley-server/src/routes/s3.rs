//! `/s3`: an S3-compatible object API (path-style), so `aws s3`, boto3 or any S3 SDK can fill
//! knowledge-base buckets with `endpoint_url=http://HOST:PORT/s3`.
//!
//! Operations: ListBuckets, CreateBucket, HeadBucket, GetBucketLocation, DeleteBucket,
//! ListObjects (v1 and v2, with `prefix`, `delimiter`, `max-keys` and continuation),
//! PutObject, GetObject (with `Range`), HeadObject, DeleteObject, DeleteObjects, and
//! multipart uploads (create, upload part, complete, abort). Bodies may be plain or
//! `aws-chunked` (what current SDKs send with checksums); `Content-MD5` is checked when sent.
//! Errors are S3's XML (`<Error><Code>NoSuchBucket</Code>…`), not the Telnyx envelope — S3
//! clients parse nothing else.
//!
//! **Authentication**, as at Telnyx: the access key id is a Parley API key (from the SigV4
//! `Authorization: AWS4-HMAC-SHA256 Credential=<key>/…` header, a presigned URL's
//! `X-Amz-Credential`, or SigV2 `AWS <key>:…`); an unknown key is `InvalidAccessKeyId`. The
//! signature itself is **not verified** (the secret access key can be anything): the key is
//! the credential, exactly as a bearer key is on `/v2`, so use TLS in front of Parley.
//! Buckets are per organization.

use crate::knowledge::blobs::{Incoming, ReceiveError};
use crate::knowledge::new_blob_name;
use crate::state::{AppState, Tenant};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use md5::Digest as _;
use parley_core::apikey;
use parley_core::ids::OrgId;
use parley_core::knowledge::valid_bucket_name;
use parley_store::{
    DeleteBucketOutcome, DeleteObjectOutcome, NewObject, ObjectRecord, PutObjectOutcome,
    UploadRecord,
};
use serde_json::{Map, Value};
use std::collections::HashMap;

const XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
/// Most keys one list returns.
const MAX_KEYS: usize = 1000;
/// Most parts of one multipart upload.
const MAX_PARTS: u32 = 10_000;

/// The S3 routes under `/s3`, with their own authentication; merge them into the router.
pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/s3", any(service))
        .route("/s3/", any(service))
        .route("/s3/{bucket}", any(bucket))
        .route("/s3/{bucket}/", any(bucket))
        .route("/s3/{bucket}/{*key}", any(object))
        .layer(from_fn_with_state(state, authenticate))
}

/// An S3 error response.
#[derive(Debug)]
pub struct S3Error {
    status: StatusCode,
    code: &'static str,
    message: String,
    resource: String,
}

impl S3Error {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            resource: String::new(),
        }
    }

    fn on(mut self, resource: impl Into<String>) -> Self {
        self.resource = resource.into();
        self
    }

    fn no_bucket(bucket: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist",
        )
        .on(format!("/{bucket}"))
    }

    fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "S3 request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "We encountered an internal error. Please try again.",
        )
    }
}

impl From<parley_store::StoreError> for S3Error {
    fn from(error: parley_store::StoreError) -> Self {
        Self::internal(error)
    }
}

impl From<std::io::Error> for S3Error {
    fn from(error: std::io::Error) -> Self {
        Self::internal(error)
    }
}

impl IntoResponse for S3Error {
    fn into_response(self) -> Response {
        let request_id = uuid::Uuid::new_v4().simple().to_string();
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><Resource>{}</Resource><RequestId>{request_id}</RequestId></Error>",
            self.code,
            escape(&self.message),
            escape(&self.resource),
        );
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert("content-type", HeaderValue::from_static("application/xml"));
        if let Ok(id) = HeaderValue::from_str(&request_id) {
            headers.insert("x-amz-request-id", id);
        }
        response
    }
}

type S3Result<T = Response> = Result<T, S3Error>;

/// XML text escaping.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn xml(body: String) -> Response {
    let mut response = (
        StatusCode::OK,
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}"),
    )
        .into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/xml"));
    response
}

fn iso(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn http_date(at: &DateTime<Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// The access key id of a request.
fn access_key(request: &Request) -> Option<String> {
    if let Some(value) = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(rest) = value.strip_prefix("AWS4-HMAC-SHA256") {
            let credential = rest
                .split(',')
                .map(str::trim)
                .find_map(|part| part.strip_prefix("Credential="))?;
            return credential.split('/').next().map(str::to_owned);
        }
        if let Some(rest) = value.strip_prefix("AWS ") {
            return rest.split(':').next().map(|k| k.trim().to_owned());
        }
        return None;
    }
    let query = request.uri().query().unwrap_or_default();
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    pairs
        .into_iter()
        .find_map(|(name, value)| match name.as_str() {
            "X-Amz-Credential" => value.split('/').next().map(str::to_owned),
            "AWSAccessKeyId" => Some(value),
            _ => None,
        })
}

/// Middleware: the access key id must be a Parley API key.
async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(key) = access_key(&request).filter(|k| !k.is_empty()) else {
        return S3Error::new(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Anonymous access is not allowed; sign requests with a Parley API key as the access key id",
        )
        .into_response();
    };
    let hash = apikey::hash(&key);
    match state.store.find_api_key(&hash).await {
        Ok(Some(found)) if apikey::hashes_match(&found.hash, &hash) => {
            request.extensions_mut().insert(Tenant {
                org_id: found.org_id,
            });
            next.run(request).await
        }
        Ok(_) => S3Error::new(
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        )
        .into_response(),
        Err(e) => S3Error::internal(e).into_response(),
    }
}

/// The query parameters of a request (names without a value map to "").
fn query(request: &Request) -> HashMap<String, String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(request.uri().query().unwrap_or_default())
        .unwrap_or_default()
        .into_iter()
        .collect()
}

fn tenant(request: &Request) -> S3Result<OrgId> {
    request
        .extensions()
        .get::<Tenant>()
        .map(|t| t.org_id.clone())
        .ok_or_else(|| S3Error::internal("S3 route served without authentication"))
}

fn method_not_allowed() -> S3Error {
    S3Error::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "The specified method is not allowed against this resource.",
    )
}

/// `/s3/`: ListBuckets.
async fn service(State(state): State<AppState>, request: Request) -> Response {
    let result: S3Result = async move {
        let org = tenant(&request)?;
        if request.method() != Method::GET {
            return Err(method_not_allowed());
        }
        let buckets = state.store.list_buckets(&org).await?;
        let mut body = format!(
            "<ListAllMyBucketsResult xmlns=\"{XMLNS}\"><Owner><ID>{0}</ID><DisplayName>{0}</DisplayName></Owner><Buckets>",
            escape(org.as_str())
        );
        for bucket in buckets {
            body.push_str(&format!(
                "<Bucket><Name>{}</Name><CreationDate>{}</CreationDate></Bucket>",
                escape(&bucket.name),
                iso(&bucket.created_at)
            ));
        }
        body.push_str("</Buckets></ListAllMyBucketsResult>");
        Ok(xml(body))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `/s3/{bucket}`: bucket operations.
async fn bucket(
    State(state): State<AppState>,
    axum::extract::Path(name): axum::extract::Path<String>,
    request: Request,
) -> Response {
    bucket_operation(&state, &name, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn bucket_operation(state: &AppState, name: &str, request: Request) -> S3Result {
    let org = tenant(&request)?;
    let params = query(&request);
    match request.method().clone() {
        Method::PUT => {
            if !valid_bucket_name(name) {
                return Err(S3Error::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidBucketName",
                    "The specified bucket is not valid.",
                )
                .on(format!("/{name}")));
            }
            if !state
                .store
                .create_bucket(&org, name, state.clock.now())
                .await?
            {
                return Err(S3Error::new(
                    StatusCode::CONFLICT,
                    "BucketAlreadyOwnedByYou",
                    "Your previous request to create the named bucket succeeded and you already own it.",
                )
                .on(format!("/{name}")));
            }
            let mut response = StatusCode::OK.into_response();
            if let Ok(location) = HeaderValue::from_str(&format!("/{name}")) {
                response.headers_mut().insert("location", location);
            }
            Ok(response)
        }
        Method::HEAD => match state.store.get_bucket(&org, name).await? {
            Some(_) => Ok(StatusCode::OK.into_response()),
            None => Err(S3Error::no_bucket(name)),
        },
        Method::DELETE => {
            let (outcome, uploads) = state.store.delete_bucket(&org, name).await?;
            match outcome {
                DeleteBucketOutcome::Deleted => {
                    for upload in uploads {
                        let _ = state
                            .knowledge
                            .blobs
                            .delete_prefix(&upload_prefix(&org, &upload))
                            .await;
                    }
                    Ok(StatusCode::NO_CONTENT.into_response())
                }
                DeleteBucketOutcome::NotFound => Err(S3Error::no_bucket(name)),
                DeleteBucketOutcome::NotEmpty => Err(S3Error::new(
                    StatusCode::CONFLICT,
                    "BucketNotEmpty",
                    "The bucket you tried to delete is not empty",
                )
                .on(format!("/{name}"))),
            }
        }
        Method::GET => {
            if params.contains_key("location") {
                if state.store.get_bucket(&org, name).await?.is_none() {
                    return Err(S3Error::no_bucket(name));
                }
                return Ok(xml(format!("<LocationConstraint xmlns=\"{XMLNS}\"/>")));
            }
            if params.contains_key("uploads") || params.contains_key("versioning") {
                return Err(S3Error::new(
                    StatusCode::NOT_IMPLEMENTED,
                    "NotImplemented",
                    "This bucket operation is not implemented by Parley.",
                ));
            }
            list_objects(state, &org, name, &params).await
        }
        Method::POST if params.contains_key("delete") => {
            let body = read_small_body(request).await?;
            delete_objects(state, &org, name, &body).await
        }
        _ => Err(method_not_allowed()),
    }
}

/// ListObjects (v1) and ListObjectsV2.
async fn list_objects(
    state: &AppState,
    org: &OrgId,
    bucket: &str,
    params: &HashMap<String, String>,
) -> S3Result {
    let v2 = params.get("list-type").map(String::as_str) == Some("2");
    let prefix = params.get("prefix").cloned().unwrap_or_default();
    let delimiter = params.get("delimiter").cloned().filter(|d| !d.is_empty());
    let max_keys = params
        .get("max-keys")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(MAX_KEYS)
        .min(MAX_KEYS);
    let start = if v2 {
        match params.get("continuation-token") {
            Some(token) => Some(
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(token)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        S3Error::new(
                            StatusCode::BAD_REQUEST,
                            "InvalidArgument",
                            "The continuation token provided is incorrect",
                        )
                    })?,
            ),
            None => params.get("start-after").cloned(),
        }
    } else {
        params.get("marker").cloned()
    };
    let mut contents: Vec<ObjectRecord> = Vec::new();
    let mut prefixes: Vec<String> = Vec::new();
    let mut after = start.clone().filter(|s| !s.is_empty());
    let mut last_key: Option<String> = None;
    let mut truncated = false;
    'scan: loop {
        let Some(page) = state
            .store
            .list_objects(org, bucket, &prefix, after.as_deref(), MAX_KEYS)
            .await?
        else {
            return Err(S3Error::no_bucket(bucket));
        };
        for object in &page.objects {
            let common = delimiter.as_ref().and_then(|d| {
                object.key[prefix.len()..]
                    .find(d.as_str())
                    .map(|i| object.key[..prefix.len() + i + d.len()].to_owned())
            });
            if let Some(common) = &common {
                if prefixes.last() == Some(common) {
                    last_key = Some(object.key.clone());
                    continue;
                }
            }
            if contents.len() + prefixes.len() >= max_keys {
                truncated = true;
                break 'scan;
            }
            match common {
                Some(common) => prefixes.push(common),
                None => contents.push(object.clone()),
            }
            last_key = Some(object.key.clone());
        }
        if !page.truncated {
            break;
        }
        after = page.objects.last().map(|o| o.key.clone());
    }
    let mut body = format!(
        "<ListBucketResult xmlns=\"{XMLNS}\"><Name>{}</Name><Prefix>{}</Prefix>",
        escape(bucket),
        escape(&prefix)
    );
    if let Some(d) = &delimiter {
        body.push_str(&format!("<Delimiter>{}</Delimiter>", escape(d)));
    }
    body.push_str(&format!(
        "<MaxKeys>{max_keys}</MaxKeys><IsTruncated>{truncated}</IsTruncated>"
    ));
    if v2 {
        body.push_str(&format!(
            "<KeyCount>{}</KeyCount>",
            contents.len() + prefixes.len()
        ));
        if let Some(token) = params.get("continuation-token") {
            body.push_str(&format!(
                "<ContinuationToken>{}</ContinuationToken>",
                escape(token)
            ));
        }
        if let Some(start_after) = params.get("start-after") {
            body.push_str(&format!("<StartAfter>{}</StartAfter>", escape(start_after)));
        }
        if truncated {
            if let Some(last) = &last_key {
                body.push_str(&format!(
                    "<NextContinuationToken>{}</NextContinuationToken>",
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last)
                ));
            }
        }
    } else {
        body.push_str(&format!(
            "<Marker>{}</Marker>",
            escape(params.get("marker").map_or("", String::as_str))
        ));
        if truncated {
            if let Some(last) = &last_key {
                body.push_str(&format!("<NextMarker>{}</NextMarker>", escape(last)));
            }
        }
    }
    for object in &contents {
        body.push_str(&format!(
            "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>&quot;{}&quot;</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
            escape(&object.key),
            iso(&object.updated_at),
            escape(&object.etag),
            object.size
        ));
    }
    for common in &prefixes {
        body.push_str(&format!(
            "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
            escape(common)
        ));
    }
    body.push_str("</ListBucketResult>");
    Ok(xml(body))
}

/// The text of every `<tag>…</tag>` in `xml`, in order.
fn elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else {
            break;
        };
        found.push(&after[..end]);
        rest = &after[end + close.len()..];
    }
    found
}

fn unescape(text: &str) -> String {
    parley_core::knowledge::html::decode_entities(text)
}

/// DeleteObjects: `<Delete><Object><Key>…</Key></Object>…<Quiet>true</Quiet></Delete>`.
async fn delete_objects(state: &AppState, org: &OrgId, bucket: &str, body: &str) -> S3Result {
    let quiet = elements(body, "Quiet").first().map(|q| q.trim()) == Some("true");
    let keys: Vec<String> = elements(body, "Object")
        .into_iter()
        .filter_map(|object| elements(object, "Key").first().map(|k| unescape(k)))
        .collect();
    if keys.len() > MAX_KEYS {
        return Err(S3Error::new(
            StatusCode::BAD_REQUEST,
            "MalformedXML",
            "At most 1000 keys can be deleted at once",
        ));
    }
    let mut result = format!("<DeleteResult xmlns=\"{XMLNS}\">");
    for key in keys {
        delete_one(state, org, bucket, &key).await?;
        if !quiet {
            result.push_str(&format!("<Deleted><Key>{}</Key></Deleted>", escape(&key)));
        }
    }
    result.push_str("</DeleteResult>");
    Ok(xml(result))
}

async fn delete_one(state: &AppState, org: &OrgId, bucket: &str, key: &str) -> S3Result<()> {
    let now = state.clock.now();
    match state
        .store
        .delete_object(org, bucket, key, now + crate::knowledge::sync_delay())
        .await?
    {
        DeleteObjectOutcome::NoSuchBucket => Err(S3Error::no_bucket(bucket)),
        DeleteObjectOutcome::Deleted { blob } => {
            if let Some(blob) = blob {
                let _ = state.knowledge.blobs.delete(&blob).await;
                state.jobs.wake();
            }
            Ok(())
        }
    }
}

/// `/s3/{bucket}/{key}`: object operations.
async fn object(
    State(state): State<AppState>,
    axum::extract::Path((bucket, key)): axum::extract::Path<(String, String)>,
    request: Request,
) -> Response {
    object_operation(&state, &bucket, &key, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn object_operation(state: &AppState, bucket: &str, key: &str, request: Request) -> S3Result {
    let org = tenant(&request)?;
    let params = query(&request);
    if key.is_empty() {
        return bucket_operation(state, bucket, request).await;
    }
    match request.method().clone() {
        Method::PUT if params.contains_key("uploadId") => {
            upload_part(state, &org, bucket, key, &params, request).await
        }
        Method::PUT if request.headers().contains_key("x-amz-copy-source") => Err(S3Error::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "CopyObject is not implemented by Parley.",
        )),
        Method::PUT => put_object(state, &org, bucket, key, request).await,
        Method::GET | Method::HEAD => {
            let head = request.method() == Method::HEAD;
            get_object(state, &org, bucket, key, request.headers(), head).await
        }
        Method::DELETE if params.contains_key("uploadId") => {
            let upload = &params["uploadId"];
            if !state.store.delete_upload(&org, bucket, upload).await? {
                return Err(no_upload(upload));
            }
            let _ = state
                .knowledge
                .blobs
                .delete_prefix(&upload_prefix(&org, upload))
                .await;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Method::DELETE => {
            delete_one(state, &org, bucket, key).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Method::POST if params.contains_key("uploads") => {
            create_upload(state, &org, bucket, key, request.headers()).await
        }
        Method::POST if params.contains_key("uploadId") => {
            let upload = params["uploadId"].clone();
            let body = read_small_body(request).await?;
            complete_upload(state, &org, bucket, key, &upload, &body).await
        }
        _ => Err(method_not_allowed()),
    }
}

/// `Content-Type` and `x-amz-meta-*` of a request.
fn object_headers(headers: &HeaderMap) -> (Option<String>, Map<String, Value>) {
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut metadata = Map::new();
    for (name, value) in headers {
        if let (Some(name), Ok(value)) = (name.as_str().strip_prefix("x-amz-meta-"), value.to_str())
        {
            metadata.insert(name.to_owned(), Value::String(value.to_owned()));
        }
    }
    (content_type, metadata)
}

/// Decodes `aws-chunked` bodies: `<hex size>[;chunk-signature=…]\r\n<data>\r\n…0\r\n<trailers>`.
#[derive(Default)]
struct ChunkDecoder {
    line: Vec<u8>,
    remaining: usize,
    /// Bytes of the `\r\n` after a chunk's data still to skip.
    skip: usize,
    done: bool,
}

impl ChunkDecoder {
    fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), S3Error> {
        while !input.is_empty() && !self.done {
            if self.skip > 0 {
                let n = self.skip.min(input.len());
                self.skip -= n;
                input = &input[n..];
            } else if self.remaining > 0 {
                let n = self.remaining.min(input.len());
                out.extend_from_slice(&input[..n]);
                self.remaining -= n;
                input = &input[n..];
                if self.remaining == 0 {
                    self.skip = 2;
                }
            } else {
                let Some(newline) = input.iter().position(|b| *b == b'\n') else {
                    self.line.extend_from_slice(input);
                    if self.line.len() > 4096 {
                        return Err(bad_chunk());
                    }
                    return Ok(());
                };
                self.line.extend_from_slice(&input[..newline]);
                input = &input[newline + 1..];
                let line = String::from_utf8_lossy(&self.line).trim().to_owned();
                self.line.clear();
                let size = line.split(';').next().unwrap_or_default().trim();
                let size = usize::from_str_radix(size, 16).map_err(|_| bad_chunk())?;
                if size == 0 {
                    self.done = true;
                } else {
                    self.remaining = size;
                }
            }
        }
        Ok(())
    }
}

fn bad_chunk() -> S3Error {
    S3Error::new(
        StatusCode::BAD_REQUEST,
        "IncompleteBody",
        "The aws-chunked body is malformed",
    )
}

/// Receives a request body into a temporary file (decoding `aws-chunked`), checking the size
/// limit and `Content-MD5`.
async fn receive(
    state: &AppState,
    request: Request,
) -> S3Result<(crate::knowledge::blobs::Received, Incoming)> {
    let headers = request.headers();
    let chunked = headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("STREAMING-"))
        || headers
            .get(http::header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("aws-chunked"));
    let content_md5 = headers
        .get("content-md5")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let limit = state.settings.knowledge.s3_max_object_bytes;
    let mut incoming = Incoming::create(state.knowledge.blobs.incoming_dir(), limit).await?;
    let mut decoder = chunked.then(ChunkDecoder::default);
    let mut stream = request.into_body().into_data_stream();
    let mut decoded = Vec::new();
    while let Some(frame) = stream.next().await {
        let frame: Bytes = frame.map_err(|e| {
            S3Error::new(
                StatusCode::BAD_REQUEST,
                "IncompleteBody",
                format!("The body could not be read: {e}"),
            )
        })?;
        let data: &[u8] = match &mut decoder {
            Some(decoder) => {
                decoded.clear();
                decoder.feed(&frame, &mut decoded)?;
                &decoded
            }
            None => &frame,
        };
        incoming.write(data).await.map_err(|e| match e {
            ReceiveError::TooLarge(limit) => S3Error::new(
                StatusCode::BAD_REQUEST,
                "EntityTooLarge",
                format!("Your proposed upload exceeds the maximum allowed size of {limit} bytes"),
            ),
            ReceiveError::Io(e) => S3Error::internal(e),
        })?;
    }
    let (received, incoming) = incoming.finish().await?;
    if let Some(expected) = content_md5 {
        let actual = base64::engine::general_purpose::STANDARD
            .encode(hex::decode(&received.md5).unwrap_or_default());
        if actual != expected.trim() {
            incoming.discard();
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "BadDigest",
                "The Content-MD5 you specified did not match what we received.",
            ));
        }
    }
    Ok((received, incoming))
}

/// A small XML body (delete lists, part lists), at most 1 MiB.
async fn read_small_body(request: Request) -> S3Result<String> {
    let bytes = axum::body::to_bytes(request.into_body(), 1024 * 1024)
        .await
        .map_err(|_| {
            S3Error::new(
                StatusCode::BAD_REQUEST,
                "MalformedXML",
                "The XML body is missing or too large",
            )
        })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn etag_header(etag: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{etag}\"")).unwrap_or(HeaderValue::from_static("\"\""))
}

/// Stores an object whose bytes are in `incoming`; answers with its ETag.
#[allow(clippy::too_many_arguments)]
async fn store_object(
    state: &AppState,
    org: &OrgId,
    bucket: &str,
    key: &str,
    incoming: Incoming,
    size: u64,
    etag: String,
    sha256: String,
    headers: (Option<String>, Map<String, Value>),
) -> S3Result {
    let blobs = &state.knowledge.blobs;
    let blob = new_blob_name(org);
    blobs.put(&blob, incoming).await?;
    let now = state.clock.now();
    let outcome = state
        .store
        .put_object(
            org,
            bucket,
            NewObject {
                key: key.to_owned(),
                blob: blob.clone(),
                size,
                etag: etag.clone(),
                sha256,
                content_type: headers.0,
                metadata: headers.1,
            },
            now,
            now + crate::knowledge::sync_delay(),
        )
        .await;
    match outcome {
        Ok(PutObjectOutcome::Stored { replaced_blob }) => {
            if let Some(old) = replaced_blob {
                let _ = blobs.delete(&old).await;
            }
            state.jobs.wake();
            let mut response = StatusCode::OK.into_response();
            response.headers_mut().insert("etag", etag_header(&etag));
            Ok(response)
        }
        Ok(PutObjectOutcome::NoSuchBucket) => {
            let _ = blobs.delete(&blob).await;
            Err(S3Error::no_bucket(bucket))
        }
        Err(e) => {
            let _ = blobs.delete(&blob).await;
            Err(e.into())
        }
    }
}

/// PutObject.
async fn put_object(
    state: &AppState,
    org: &OrgId,
    bucket: &str,
    key: &str,
    request: Request,
) -> S3Result {
    if state.store.get_bucket(org, bucket).await?.is_none() {
        return Err(S3Error::no_bucket(bucket));
    }
    let headers = object_headers(request.headers());
    let (received, incoming) = receive(state, request).await?;
    store_object(
        state,
        org,
        bucket,
        key,
        incoming,
        received.size,
        received.md5,
        received.sha256,
        headers,
    )
    .await
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n` against an object of `size` bytes.
fn parse_range(value: &str, size: u64) -> Option<(u64, u64)> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let (start, end) = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().ok()?;
            (size.saturating_sub(n), size.checked_sub(1)?)
        }
        (start, "") => (start.parse().ok()?, size.checked_sub(1)?),
        (start, end) => (
            start.parse().ok()?,
            end.parse::<u64>().ok()?.min(size.checked_sub(1)?),
        ),
    };
    (start <= end && start < size).then_some((start, end))
}

/// GetObject and HeadObject.
async fn get_object(
    state: &AppState,
    org: &OrgId,
    bucket: &str,
    key: &str,
    headers: &HeaderMap,
    head: bool,
) -> S3Result {
    let Some(object) = state.store.get_object(org, bucket, key).await? else {
        if state.store.get_bucket(org, bucket).await?.is_none() {
            return Err(S3Error::no_bucket(bucket));
        }
        return Err(S3Error::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        )
        .on(format!("/{bucket}/{key}")));
    };
    let quoted = format!("\"{}\"", object.etag);
    if let Some(none_match) = headers.get("if-none-match").and_then(|v| v.to_str().ok()) {
        if none_match
            .split(',')
            .any(|t| t.trim() == quoted || t.trim() == "*")
        {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            response
                .headers_mut()
                .insert("etag", etag_header(&object.etag));
            return Ok(response);
        }
    }
    let range = match headers
        .get(http::header::RANGE)
        .and_then(|v| v.to_str().ok())
    {
        Some(value) => match parse_range(value, object.size) {
            Some(range) => Some(range),
            None => {
                return Err(S3Error::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "InvalidRange",
                    "The requested range is not satisfiable",
                ))
            }
        },
        None => None,
    };
    let (offset, length) = match range {
        Some((start, end)) => (start, end - start + 1),
        None => (0, object.size),
    };
    let mut response = if head {
        Response::new(Body::empty())
    } else {
        let stream = state
            .knowledge
            .blobs
            .open(&object.blob, offset, Some(length))
            .await?
            .ok_or_else(|| S3Error::internal(format!("blob {} is missing", object.blob)))?;
        Response::new(Body::from_stream(stream))
    };
    *response.status_mut() = if range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let out = response.headers_mut();
    out.insert("etag", etag_header(&object.etag));
    out.insert("accept-ranges", HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&length.to_string()) {
        out.insert(http::header::CONTENT_LENGTH, v);
    }
    if let Ok(v) = HeaderValue::from_str(&http_date(&object.updated_at)) {
        out.insert(http::header::LAST_MODIFIED, v);
    }
    let content_type = object
        .content_type
        .as_deref()
        .unwrap_or("application/octet-stream");
    if let Ok(v) = HeaderValue::from_str(content_type) {
        out.insert(http::header::CONTENT_TYPE, v);
    }
    if let Some((start, end)) = range {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{}", object.size)) {
            out.insert(http::header::CONTENT_RANGE, v);
        }
    }
    for (name, value) in &object.metadata {
        if let (Ok(name), Some(Ok(value))) = (
            http::HeaderName::from_bytes(format!("x-amz-meta-{name}").as_bytes()),
            value.as_str().map(HeaderValue::from_str),
        ) {
            out.insert(name, value);
        }
    }
    Ok(response)
}

/// Where the parts of an upload are kept.
fn upload_prefix(org: &OrgId, upload: &str) -> String {
    format!("uploads/{}/{upload}", org.as_str())
}

fn no_upload(upload: &str) -> S3Error {
    S3Error::new(
        StatusCode::NOT_FOUND,
        "NoSuchUpload",
        "The specified multipart upload does not exist.",
    )
    .on(upload.to_owned())
}

/// CreateMultipartUpload.
async fn create_upload(
    state: &AppState,
    org: &OrgId,
    bucket: &str,
    key: &str,
    headers: &HeaderMap,
) -> S3Result {
    let (content_type, metadata) = object_headers(headers);
    let upload = UploadRecord {
        id: uuid::Uuid::new_v4().simple().to_string(),
        key: key.to_owned(),
        content_type,
        metadata,
        created_at: state.clock.now(),
    };
    if !state.store.create_upload(org, bucket, &upload).await? {
        return Err(S3Error::no_bucket(bucket));
    }
    Ok(xml(format!(
        "<InitiateMultipartUploadResult xmlns=\"{XMLNS}\"><Bucket>{}</Bucket><Key>{}</Key><UploadId>{}</UploadId></InitiateMultipartUploadResult>",
        escape(bucket),
        escape(key),
        upload.id
    )))
}

/// UploadPart.
async fn upload_part(
    state: &AppState,
    org: &OrgId,
    bucket: &str,
    key: &str,
    params: &HashMap<String, String>,
    request: Request,
) -> S3Result {
    let upload = &params["uploadId"];
    let number: u32 = params
        .get("partNumber")
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=MAX_PARTS).contains(n))
        .ok_or_else(|| {
            S3Error::new(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                "Part number must be an integer between 1 and 10000, inclusive",
            )
        })?;
    match state.store.get_upload(org, bucket, upload).await? {
        Some(record) if record.key == key => {}
        _ => return Err(no_upload(upload)),
    }
    let (received, incoming) = receive(state, request).await?;
    state
        .knowledge
        .blobs
        .put(
            &format!("{}/{number}", upload_prefix(org, upload)),
            incoming,
        )
        .await?;
    let mut response = StatusCode::OK.into_response();
    response
        .headers_mut()
        .insert("etag", etag_header(&received.md5));
    Ok(response)
}

/// CompleteMultipartUpload: the parts, in the order listed, become the object.
async fn complete_upload(
    state: &AppState,
    org: &OrgId,
    bucket: &str,
    key: &str,
    upload: &str,
    body: &str,
) -> S3Result {
    let record = match state.store.get_upload(org, bucket, upload).await? {
        Some(record) if record.key == key => record,
        _ => return Err(no_upload(upload)),
    };
    let invalid_part =
        |message: &str| S3Error::new(StatusCode::BAD_REQUEST, "InvalidPart", message.to_owned());
    let mut parts: Vec<(u32, String)> = Vec::new();
    for part in elements(body, "Part") {
        let number = elements(part, "PartNumber")
            .first()
            .and_then(|n| n.trim().parse::<u32>().ok())
            .ok_or_else(|| invalid_part("A part has no PartNumber"))?;
        let etag = elements(part, "ETag")
            .first()
            .map(|e| unescape(e).trim().trim_matches('"').to_owned())
            .unwrap_or_default();
        if parts.last().is_some_and(|(last, _)| *last >= number) {
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "InvalidPartOrder",
                "The list of parts was not in ascending order.",
            ));
        }
        parts.push((number, etag));
    }
    if parts.is_empty() {
        return Err(S3Error::new(
            StatusCode::BAD_REQUEST,
            "MalformedXML",
            "The XML you provided did not list any part",
        ));
    }
    let blobs = &state.knowledge.blobs;
    let prefix = upload_prefix(org, upload);
    let mut incoming = Incoming::create(blobs.incoming_dir(), u64::MAX).await?;
    let mut part_digests = Vec::with_capacity(parts.len() * 16);
    for (number, etag) in &parts {
        let Some(mut stream) = blobs.open(&format!("{prefix}/{number}"), 0, None).await? else {
            return Err(invalid_part(
                "One or more of the specified parts could not be found.",
            ));
        };
        let mut md5 = md5::Md5::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            md5.update(&chunk);
            incoming.write(&chunk).await.map_err(S3Error::internal)?;
        }
        let digest = md5.finalize();
        if !etag.is_empty() && hex::encode(digest) != *etag {
            return Err(invalid_part(
                "One or more of the specified parts could not be found.",
            ));
        }
        part_digests.extend_from_slice(&digest);
    }
    let (received, incoming) = incoming.finish().await?;
    let etag = format!(
        "{}-{}",
        hex::encode(md5::Md5::digest(&part_digests)),
        parts.len()
    );
    let response = store_object(
        state,
        org,
        bucket,
        key,
        incoming,
        received.size,
        etag.clone(),
        received.sha256,
        (record.content_type, record.metadata),
    )
    .await?;
    drop(response);
    state.store.delete_upload(org, bucket, upload).await?;
    let _ = blobs.delete_prefix(&prefix).await;
    Ok(xml(format!(
        "<CompleteMultipartUploadResult xmlns=\"{XMLNS}\"><Location>/{0}/{1}</Location><Bucket>{0}</Bucket><Key>{1}</Key><ETag>&quot;{etag}&quot;</ETag></CompleteMultipartUploadResult>",
        escape(bucket),
        escape(key)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_chunked_bodies_are_decoded_across_frames() {
        let body = b"5;chunk-signature=abc\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:AAAA\r\n\r\n";
        for split in [1usize, 3, 7, 20, body.len()] {
            let mut decoder = ChunkDecoder::default();
            let mut out = Vec::new();
            for piece in body.chunks(split) {
                decoder.feed(piece, &mut out).unwrap();
            }
            assert_eq!(out, b"hello world", "split {split}");
        }
    }

    #[test]
    fn ranges_follow_rfc_7233() {
        assert_eq!(parse_range("bytes=0-4", 10), Some((0, 4)));
        assert_eq!(parse_range("bytes=5-", 10), Some((5, 9)));
        assert_eq!(parse_range("bytes=-3", 10), Some((7, 9)));
        assert_eq!(parse_range("bytes=8-100", 10), Some((8, 9)));
        assert_eq!(parse_range("bytes=10-", 10), None);
        assert_eq!(parse_range("bytes=0-1,3-4", 10), None);
    }

    #[test]
    fn xml_elements_are_found_in_order() {
        let body = "<Delete><Object><Key>a&amp;b</Key></Object><Object><Key>c</Key></Object><Quiet>true</Quiet></Delete>";
        let keys: Vec<String> = elements(body, "Object")
            .into_iter()
            .map(|o| unescape(elements(o, "Key")[0]))
            .collect();
        assert_eq!(keys, ["a&b", "c"]);
    }
}
