//! Per-route HTTP metrics, rendered in Prometheus' text exposition format at `GET /metrics`.
//!
//! [`track`] records every request once its handler has answered: a counter
//! `parley_http_requests_total{method,route,status}` and a latency histogram
//! `parley_http_request_duration_seconds{method,route}` with the fixed [`BUCKETS`]. The route
//! is axum's template (`/v2/ai/assistants/{assistant_id}`), never the path as sent; requests no
//! route matched share the route [`UNMATCHED`], and methods outside the standard ones are
//! `OTHER`, so the number of series is bounded by the router, not by clients. Labels hold no
//! ids and no tenant data, which is why `/metrics` needs no API key (`PARLEY_METRICS=false`
//! turns it and the recording off).
//!
//! The latency is the time until the response head: a streamed body (`stream: true` chats)
//! is not waited for.

use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Upper bounds of the latency histogram's buckets, in seconds (`+Inf` is implied).
pub const BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The route label of requests no route matched (404s of unknown paths).
pub const UNMATCHED: &str = "unmatched";

/// The `Content-Type` of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Counters and histograms of one process, by route template and method.
#[derive(Debug, Default)]
pub struct Metrics {
    routes: Mutex<HashMap<String, HashMap<&'static str, RouteSeries>>>,
}

/// What one method of one route has answered so far.
#[derive(Debug, Default, Clone)]
struct RouteSeries {
    /// Requests by status code.
    statuses: BTreeMap<u16, u64>,
    /// Requests per bucket (not cumulative): index `i` counts latencies in
    /// `(BUCKETS[i-1], BUCKETS[i]]`, the last index those above every bound.
    buckets: [u64; BUCKETS.len() + 1],
    /// Sum of the latencies, in seconds.
    sum: f64,
    /// Number of requests.
    count: u64,
}

/// One series of `parley_http_requests_total`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestSeries {
    /// The method (`GET`, …, or `OTHER`).
    pub method: String,
    /// The route template, or [`UNMATCHED`].
    pub route: String,
    /// The response's status code.
    pub status: u16,
}

impl Metrics {
    /// Empty metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one answered request.
    pub fn record(&self, method: &Method, route: &str, status: u16, elapsed: Duration) {
        let method = method_label(method);
        let seconds = elapsed.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BUCKETS.len());
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let methods = match routes.get_mut(route) {
            Some(methods) => methods,
            None => routes.entry(route.to_owned()).or_default(),
        };
        let series = methods.entry(method).or_default();
        *series.statuses.entry(status).or_default() += 1;
        series.buckets[bucket] += 1;
        series.sum += seconds;
        series.count += 1;
    }

    /// Every `parley_http_requests_total` series and its count, in order.
    pub fn requests(&self) -> BTreeMap<RequestSeries, u64> {
        let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let mut requests = BTreeMap::new();
        for (route, methods) in routes.iter() {
            for (method, series) in methods {
                for (status, count) in &series.statuses {
                    requests.insert(
                        RequestSeries {
                            method: (*method).to_owned(),
                            route: route.clone(),
                            status: *status,
                        },
                        *count,
                    );
                }
            }
        }
        requests
    }

    /// The metrics in Prometheus' text exposition format (series sorted by route, method and
    /// status).
    pub fn render(&self) -> String {
        let snapshot: BTreeMap<(String, &'static str), RouteSeries> = {
            let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
            routes
                .iter()
                .flat_map(|(route, methods)| {
                    methods
                        .iter()
                        .map(|(method, series)| ((route.clone(), *method), series.clone()))
                })
                .collect()
        };
        let mut out = String::new();
        out.push_str(
            "# HELP parley_http_requests_total HTTP requests answered, by method, route \
             template and status.\n# TYPE parley_http_requests_total counter\n",
        );
        for ((route, method), series) in &snapshot {
            let route = escape(route);
            for (status, count) in &series.statuses {
                let _ = writeln!(
                    out,
                    "parley_http_requests_total{{method=\"{method}\",route=\"{route}\",\
                     status=\"{status}\"}} {count}"
                );
            }
        }
        out.push_str(
            "# HELP parley_http_request_duration_seconds Time until the response head, by \
             method and route template.\n\
             # TYPE parley_http_request_duration_seconds histogram\n",
        );
        for ((route, method), series) in &snapshot {
            let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
            let mut cumulative = 0;
            for (bound, count) in BUCKETS.iter().zip(series.buckets) {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "parley_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} \
                     {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "parley_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                series.count
            );
            let _ = writeln!(
                out,
                "parley_http_request_duration_seconds_sum{{{labels}}} {}",
                series.sum
            );
            let _ = writeln!(
                out,
                "parley_http_request_duration_seconds_count{{{labels}}} {}",
                series.count
            );
        }
        out
    }
}

/// The method label: the standard methods by name, anything else `OTHER`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// A label value as the text format writes it (`\`, `"` and line feeds escaped).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Middleware: times the request and records it under its route template.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let response = next.run(request).await;
    metrics.record(
        &method,
        route.as_deref().unwrap_or(UNMATCHED),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// `GET /metrics`: the text exposition format; needs no key.
pub async fn render_metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        state.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_per_series_and_timed_into_buckets() {
        let metrics = Metrics::new();
        let route = "/v2/ai/assistants/{assistant_id}";
        metrics.record(&Method::GET, route, 200, Duration::from_millis(3));
        metrics.record(&Method::GET, route, 200, Duration::from_millis(30));
        metrics.record(&Method::GET, route, 404, Duration::from_secs(20));
        metrics.record(
            &Method::from_bytes(b"BREW").unwrap(),
            UNMATCHED,
            404,
            Duration::ZERO,
        );
        let requests: Vec<(String, String, u16, u64)> = metrics
            .requests()
            .into_iter()
            .map(|(s, n)| (s.method, s.route, s.status, n))
            .collect();
        assert_eq!(
            requests,
            [
                ("GET".into(), route.into(), 200, 2),
                ("GET".into(), route.into(), 404, 1),
                ("OTHER".into(), UNMATCHED.into(), 404, 1),
            ]
        );
        let text = metrics.render();
        let line = |prefix: &str| {
            text.lines()
                .find(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("no line {prefix} in\n{text}"))
                .rsplit_once(' ')
                .unwrap()
                .1
                .to_owned()
        };
        let labels = format!("method=\"GET\",route=\"{route}\"");
        let bucket = |le: &str| {
            line(&format!(
                "parley_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}}"
            ))
        };
        assert_eq!(bucket("0.001"), "0");
        assert_eq!(bucket("0.005"), "1");
        assert_eq!(bucket("0.05"), "2");
        assert_eq!(bucket("10"), "2");
        assert_eq!(bucket("+Inf"), "3");
        assert_eq!(
            line(&format!(
                "parley_http_request_duration_seconds_count{{{labels}}}"
            )),
            "3"
        );
        let sum: f64 = line(&format!(
            "parley_http_request_duration_seconds_sum{{{labels}}}"
        ))
        .parse()
        .unwrap();
        assert!((sum - 20.033).abs() < 1e-9, "{sum}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
