//! `{origin}/s3`: the S3-compatible object storage where the files of a knowledge base go
//! before [`super::ai::embeddings::Embeddings::create`] embeds them. The origin is the base URL
//! without its `/v2` (`http://127.0.0.1:8080` for `http://127.0.0.1:8080/v2`); paths are
//! path-style (`/s3/{bucket}/{key}`).
//!
//! Buckets are created, listed and filled; objects are put whole (retried) or streamed (sent
//! once). Requests are signed with AWS Signature Version 4, the API key as the access key id (and as
//! the secret), which is how Parley — and Telnyx's Cloud Storage — take the credential. S3
//! answers errors in XML (`<Error><Code>NoSuchBucket</Code><Message>…`); they come back as
//! [`crate::Error::Api`] with an envelope made from the code and message.

use crate::client::{segment, ApiRequest};
use crate::error::{Error, Result};
use crate::sigv4::{self, Signing};
use crate::Client;
use futures::Stream;
use parley_types::{ErrorEnvelope, ErrorObject};
use std::time::SystemTime;

/// The object storage.
#[derive(Debug)]
pub struct Storage<'a> {
    client: &'a Client,
}

/// An object of a bucket, as a listing shows it (ListObjectsV2 `Contents`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// Its key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written (ISO 8601), when the server says.
    pub last_modified: Option<String>,
}

/// The five XML entities decoded.
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Every `<name>…</name>` element of an XML document, in order.
fn elements<'a>(xml: &'a str, name: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        found.push(&after[..end]);
        rest = &after[end + close.len()..];
    }
    found
}

/// A query string as SigV4 signs it: names and values encoded, pairs sorted.
fn canonical_query(pairs: &[(String, String)]) -> Result<String> {
    let encode = |text: &str| -> Result<String> {
        if text.is_empty() {
            Ok(String::new())
        } else {
            segment(text, "a query parameter")
        }
    };
    let mut encoded = pairs
        .iter()
        .map(|(name, value)| Ok((encode(name)?, encode(value)?)))
        .collect::<Result<Vec<_>>>()?;
    encoded.sort();
    Ok(encoded
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&"))
}

/// The path of a bucket.
fn bucket_path(bucket: &str) -> Result<String> {
    Ok(format!("s3/{}", segment(bucket, "bucket")?))
}

/// The path of an object: the bucket, then each `/`-separated part of the key, encoded.
fn object_path(bucket: &str, key: &str) -> Result<String> {
    let key = key.trim_start_matches('/');
    if key.is_empty() {
        return Err(Error::InvalidArgument("key must not be empty".into()));
    }
    let parts = key
        .split('/')
        .map(|part| segment(part, "a part of the key"))
        .collect::<Result<Vec<_>>>()?;
    Ok(format!("{}/{}", bucket_path(bucket)?, parts.join("/")))
}

/// The text of the first `<name>…</name>` element of an XML document.
fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(&xml[start..end])
}

/// An S3 XML error as an API error with an envelope (`code` and `title`: the S3 code,
/// `detail`: its message).
fn s3_error(error: Error) -> Error {
    match error {
        Error::Api {
            status,
            envelope: None,
            body,
        } => {
            let envelope = element(&body, "Error").and_then(|inner| {
                let code = element(inner, "Code")?.to_owned();
                Some(ErrorEnvelope::single(ErrorObject {
                    title: code.clone(),
                    code,
                    detail: element(inner, "Message").map(str::to_owned),
                    source: None,
                    meta: None,
                }))
            });
            Error::Api {
                status,
                envelope,
                body,
            }
        }
        other => other,
    }
}

impl<'a> Storage<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// The URL of an object.
    pub fn object_url(&self, bucket: &str, key: &str) -> Result<String> {
        Ok(format!(
            "{}/{}",
            self.client.origin(),
            object_path(bucket, key)?
        ))
    }

    /// A request to `path` (under the origin), signed.
    fn signed(&self, method: reqwest::Method, path: String) -> Result<ApiRequest> {
        self.signed_with_query(method, path, Vec::new())
    }

    /// A request to `path` (under the origin) with these query parameters, signed.
    fn signed_with_query(
        &self,
        method: reqwest::Method,
        path: String,
        query: Vec<(String, String)>,
    ) -> Result<ApiRequest> {
        let url = reqwest::Url::parse(&format!("{}/{path}", self.client.origin()))
            .map_err(|e| Error::InvalidArgument(format!("invalid storage URL: {e}")))?;
        let host = match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => return Err(Error::InvalidArgument("the base URL has no host".into())),
        };
        let amz_date = sigv4::amz_date(SystemTime::now());
        let key = self.client.api_key().unwrap_or_default();
        let authorization = sigv4::authorization(
            key,
            key,
            sigv4::REGION,
            &Signing {
                method: method.as_str(),
                canonical_uri: url.path(),
                canonical_query: &canonical_query(&query)?,
                headers: &[
                    ("host", &host),
                    ("x-amz-content-sha256", sigv4::UNSIGNED_PAYLOAD),
                    ("x-amz-date", &amz_date),
                ],
                payload_hash: sigv4::UNSIGNED_PAYLOAD,
                amz_date: &amz_date,
            },
        );
        Ok(ApiRequest::new(method, path)
            .pairs(query)
            .outside_api()
            .header("authorization", authorization)
            .header("x-amz-content-sha256", sigv4::UNSIGNED_PAYLOAD.to_owned())
            .header("x-amz-date", amz_date))
    }

    /// `PUT /s3/{bucket}` (CreateBucket); a bucket you already own is no error.
    pub async fn create_bucket(&self, bucket: &str) -> Result<()> {
        let request = self.signed(reqwest::Method::PUT, bucket_path(bucket)?)?;
        match self.client.empty(request).await.map_err(s3_error) {
            Err(error) if error.code() == Some("BucketAlreadyOwnedByYou") => Ok(()),
            other => other,
        }
    }

    /// `GET /s3/{bucket}?list-type=2` (ListObjectsV2): every object of the bucket, in key
    /// order, page after page.
    pub async fn list_objects(&self, bucket: &str) -> Result<Vec<StoredObject>> {
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("list-type".to_owned(), "2".to_owned())];
            if let Some(token) = &token {
                query.push(("continuation-token".to_owned(), token.clone()));
            }
            let request =
                self.signed_with_query(reqwest::Method::GET, bucket_path(bucket)?, query)?;
            let xml = self.client.text(request).await.map_err(s3_error)?;
            for contents in elements(&xml, "Contents") {
                objects.push(StoredObject {
                    key: element(contents, "Key").map(unescape).unwrap_or_default(),
                    size: element(contents, "Size")
                        .and_then(|s| s.trim().parse().ok())
                        .unwrap_or(0),
                    last_modified: element(contents, "LastModified").map(unescape),
                });
            }
            token = (element(&xml, "IsTruncated") == Some("true"))
                .then(|| element(&xml, "NextContinuationToken").map(unescape))
                .flatten();
            if token.is_none() {
                return Ok(objects);
            }
        }
    }

    /// `PUT /s3/{bucket}/{key}` (PutObject): stores `body` under `key`, replacing what was
    /// there; retried like any call.
    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<()> {
        let request = self
            .signed(reqwest::Method::PUT, object_path(bucket, key)?)?
            .raw_body(body, content_type);
        self.client.empty(request).await.map_err(s3_error)
    }

    /// `PUT /s3/{bucket}/{key}` with a body read from `chunks` as it is sent (`length` bytes
    /// in all), so a caller can follow the upload. Sent once: a body already read cannot be
    /// sent again, so failures are not retried.
    pub async fn put_object_stream<S>(
        &self,
        bucket: &str,
        key: &str,
        chunks: S,
        length: u64,
        content_type: &str,
    ) -> Result<()>
    where
        S: Stream<Item = std::io::Result<Vec<u8>>> + Send + 'static,
    {
        let request = self
            .signed(reqwest::Method::PUT, object_path(bucket, key)?)?
            .content_type(content_type)
            .content_length(length);
        let body = reqwest::Body::wrap_stream(chunks);
        self.client
            .send_once_with_body(request, body)
            .await
            .map(drop)
            .map_err(s3_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_their_slashes_and_encode_the_rest() {
        assert_eq!(
            object_path("kb", "docs/FAQ v2.md").unwrap(),
            "s3/kb/docs/FAQ%20v2.md"
        );
        assert!(object_path("kb", "").is_err());
        assert!(object_path("", "a").is_err());
        let client = Client::builder()
            .base_url("http://127.0.0.1:9/v2")
            .build()
            .unwrap();
        assert_eq!(
            client.storage().object_url("kb", "/a.txt").unwrap(),
            "http://127.0.0.1:9/s3/kb/a.txt"
        );
    }

    #[test]
    fn listings_and_queries_are_read_and_signed_as_s3_does() {
        let xml = "<ListBucketResult><Name>kb</Name><IsTruncated>true</IsTruncated>\
                   <Contents><Key>a &amp; b.md</Key><LastModified>2030-01-01T00:00:00.000Z\
                   </LastModified><Size>12</Size></Contents><Contents><Key>c.txt</Key>\
                   <Size>3</Size></Contents><NextContinuationToken>t+1</NextContinuationToken>\
                   </ListBucketResult>";
        let contents = elements(xml, "Contents");
        assert_eq!(contents.len(), 2);
        assert_eq!(
            element(contents[0], "Key").map(unescape).unwrap(),
            "a & b.md"
        );
        assert_eq!(element(contents[1], "Size"), Some("3"));
        assert_eq!(
            canonical_query(&[
                ("list-type".into(), "2".into()),
                ("continuation-token".into(), "t+1 /".into()),
            ])
            .unwrap(),
            "continuation-token=t%2B1%20%2F&list-type=2"
        );
    }

    #[test]
    fn s3_xml_errors_become_envelopes() {
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchBucket</Code>\
                    <Message>The specified bucket does not exist</Message>\
                    <Resource>/s3/kb</Resource></Error>";
        let error = s3_error(Error::Api {
            status: 404,
            envelope: None,
            body: body.into(),
        });
        assert_eq!(error.code(), Some("NoSuchBucket"));
        assert_eq!(
            error.to_string(),
            "404 NoSuchBucket: The specified bucket does not exist"
        );
        let plain = s3_error(Error::Api {
            status: 502,
            envelope: None,
            body: "bad gateway".into(),
        });
        assert_eq!(plain.to_string(), "HTTP 502: bad gateway");
    }
}
