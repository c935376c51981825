//! `POST /ai/embeddings/url`: fetch a page and the pages it links to on the same host (at
//! most [`MAX_DEPTH`] links away, at most `crawl_max_pages` pages), through the outbound guard
//! ([`crate::outbound`]: user-given URLs never reach private addresses unless allowed), and
//! store each as an object of the bucket (key from [`page_object_key`], `source` metadata =
//! its URL), ready to be embedded.

use crate::state::AppState;
use parley_core::ids::OrgId;
use parley_core::knowledge::{html, page_object_key};
use serde_json::{json, Map};
use std::collections::{HashSet, VecDeque};
use std::time::Duration;

/// How many links away from the first page the crawl goes.
pub const MAX_DEPTH: usize = 5;
/// Largest page fetched, in bytes.
pub const MAX_PAGE_BYTES: usize = 5 * 1024 * 1024;
/// Timeout of one page.
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(15);

/// What a crawl did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrawlReport {
    /// Pages stored.
    pub stored: usize,
    /// Pages that could not be fetched.
    pub failed: usize,
    /// Why the first failure failed.
    pub first_error: Option<String>,
}

/// Fetches one page: `(content type, bytes)`.
async fn fetch(state: &AppState, url: &url::Url) -> Result<(Option<String>, Vec<u8>), String> {
    state
        .outbound
        .check_url(url.as_str())
        .map_err(|e| e.to_string())?;
    let call = async {
        let mut response = state
            .outbound
            .client()
            .get(url.as_str())
            .timeout(PAGE_TIMEOUT)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        if !response.status().is_success() {
            return Err(format!("{url} answered {}", response.status()));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
            if bytes.len() + chunk.len() > MAX_PAGE_BYTES {
                return Err(format!("{url} is larger than {MAX_PAGE_BYTES} bytes"));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok((content_type, bytes))
    };
    tokio::time::timeout(PAGE_TIMEOUT, call)
        .await
        .map_err(|_| format!("{url} did not answer in time"))?
}

fn describe(error: &reqwest::Error) -> String {
    if crate::outbound::is_refused(error) {
        "the address is not public; outbound requests to private networks are disabled".into()
    } else if error.is_timeout() {
        "the page did not answer in time".into()
    } else {
        format!("cannot fetch the page: {error}")
    }
}

/// Crawls from `start` and stores the pages in `bucket`. Fails only when storing does.
pub async fn crawl_into_bucket(
    state: &AppState,
    org: &OrgId,
    bucket: &str,
    start: &str,
) -> Result<CrawlReport, String> {
    let mut report = CrawlReport::default();
    let Ok(start) = url::Url::parse(start) else {
        report.failed = 1;
        report.first_error = Some(format!("{start:?} is not a URL"));
        return Ok(report);
    };
    let host = start.host_str().unwrap_or_default().to_owned();
    let limit = state.settings.knowledge.crawl_max_pages.max(1);
    let mut seen: HashSet<String> = HashSet::new();
    let mut queue: VecDeque<(url::Url, usize)> = VecDeque::new();
    seen.insert(start.as_str().to_owned());
    queue.push_back((start, 0));
    while let Some((url, depth)) = queue.pop_front() {
        if report.stored >= limit {
            break;
        }
        let (content_type, bytes) = match fetch(state, &url).await {
            Ok(page) => page,
            Err(reason) => {
                tracing::info!(%url, %reason, "page not fetched");
                report.failed += 1;
                report.first_error.get_or_insert(reason);
                continue;
            }
        };
        let is_html = content_type.as_deref().is_some_and(|t| t.contains("html"))
            || (content_type.is_none() && bytes.starts_with(b"<"));
        if is_html && depth < MAX_DEPTH {
            let page = html::parse(&String::from_utf8_lossy(&bytes));
            for link in page.links {
                let Ok(mut next) = url.join(&link) else {
                    continue;
                };
                next.set_fragment(None);
                if !matches!(next.scheme(), "http" | "https")
                    || next.host_str() != Some(host.as_str())
                {
                    continue;
                }
                if seen.insert(next.as_str().to_owned()) {
                    queue.push_back((next, depth + 1));
                }
            }
        }
        let mut key = page_object_key(&url);
        if is_html && !key.ends_with(".html") && !key.ends_with(".htm") && !key.contains('?') {
            key.push_str(".html");
        }
        let mut metadata = Map::new();
        metadata.insert("source".into(), json!(url.as_str()));
        super::put_object_bytes(state, org, bucket, &key, &bytes, content_type, metadata).await?;
        report.stored += 1;
    }
    Ok(report)
}
