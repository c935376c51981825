//! `GET /metrics`: requests counted under their route template with their status, the text
//! exposition format line by line, and the setting that turns it off.

mod common;

use common::{Backend, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// One sample line: metric name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// Parses the text format, checking every line: comments are `# HELP name text` or
/// `# TYPE name counter|histogram`, samples `name{label="value",…} number`, and every sample
/// belongs to a family declared before it.
fn parse(text: &str) -> Vec<Sample> {
    let mut declared = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(!help.is_empty(), "{line}");
            declared.entry(name.to_owned()).or_insert(None);
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(matches!(kind, "counter" | "histogram"), "{line}");
            declared.insert(name.to_owned(), Some(kind.to_owned()));
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "stray line {line:?}"
        );
        let (series, value) = line.rsplit_once(' ').expect("a value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("number in {line}"));
        let (name, labels) = series
            .strip_suffix('}')
            .and_then(|s| s.split_once('{'))
            .unwrap_or_else(|| panic!("labels in {line}"));
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .filter(|family| declared.get(*family) == Some(&Some("histogram".to_owned())))
            .unwrap_or(name);
        assert!(
            declared.get(family).is_some_and(Option::is_some),
            "{name} has no # TYPE before it"
        );
        let mut parsed = BTreeMap::new();
        let mut rest = labels;
        while !rest.is_empty() {
            let (key, after) = rest.split_once("=\"").expect("label=\"value\"");
            let end = after.find('"').expect("closing quote");
            parsed.insert(key.to_owned(), after[..end].to_owned());
            rest = after[end + 1..].trim_start_matches(',');
        }
        samples.push((name.to_owned(), parsed, value));
    }
    samples
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn value(samples: &[Sample], name: &str, wanted: &[(&str, &str)]) -> Option<f64> {
    let wanted = labels(wanted);
    samples
        .iter()
        .find(|(n, l, _)| n == name && *l == wanted)
        .map(|(_, _, v)| *v)
}

async fn scrape(app: &TestApp) -> (StatusCode, Option<String>, String) {
    let response = app.http.get(app.url("/metrics")).send().await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, content_type, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_counted_under_their_route_template_and_status() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let created = app
        .create_assistant(json!({"name": "Counted", "instructions": "Count me."}))
        .await;
    let id = created["id"].as_str().unwrap();
    for _ in 0..2 {
        assert_eq!(
            app.get(&format!("/v2/ai/assistants/{id}")).await.status,
            200
        );
    }
    let missing = app.get("/v2/ai/assistants/assistant-missing").await;
    assert_eq!(missing.status, 404);
    let invalid = app.post("/v2/ai/assistants", &json!({"name": 7})).await;
    assert_eq!(invalid.status, 422);
    let unmatched = app.get(&format!("/v2/no/such/{id}")).await;
    assert_eq!(unmatched.status, 404);
    let wrong_method = app
        .send(Method::PATCH, "/v2/ai/models", None, Some(&app.key))
        .await;
    assert_eq!(wrong_method.status, 405);

    // No key needed; no id in the text.
    let (status, content_type, text) = scrape(&app).await;
    assert_eq!(status, 200);
    assert_eq!(
        content_type.as_deref(),
        Some(parley_server::metrics::CONTENT_TYPE)
    );
    assert!(!text.contains(id), "{text}");
    assert!(!text.contains("assistant-missing"), "{text}");
    assert!(!text.contains("/no/such"), "{text}");

    let samples = parse(&text);
    let template = "/v2/ai/assistants/{assistant_id}";
    let count = |method: &str, route: &str, status: &str| {
        value(
            &samples,
            "parley_http_requests_total",
            &[("method", method), ("route", route), ("status", status)],
        )
    };
    assert_eq!(count("GET", template, "200"), Some(2.0), "{text}");
    assert_eq!(count("GET", template, "404"), Some(1.0), "{text}");
    assert_eq!(count("POST", "/v2/ai/assistants", "200"), Some(1.0));
    assert_eq!(count("POST", "/v2/ai/assistants", "422"), Some(1.0));
    assert_eq!(count("GET", "unmatched", "404"), Some(1.0), "{text}");
    assert_eq!(count("PATCH", "/v2/ai/models", "405"), Some(1.0), "{text}");

    // The histogram: cumulative buckets ending in +Inf = count, a sum, per method and route.
    let histogram = labels(&[("method", "GET"), ("route", template)]);
    let buckets: Vec<(String, f64)> = samples
        .iter()
        .filter(|(name, l, _)| {
            name == "parley_http_request_duration_seconds_bucket"
                && l.iter().filter(|(k, _)| *k != "le").eq(histogram.iter())
        })
        .map(|(_, l, v)| (l["le"].clone(), *v))
        .collect();
    assert_eq!(
        buckets.len(),
        parley_server::metrics::BUCKETS.len() + 1,
        "{text}"
    );
    assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{buckets:?}");
    assert_eq!(buckets.last().unwrap(), &("+Inf".to_owned(), 3.0));
    let with = |name: &str| value(&samples, name, &[("method", "GET"), ("route", template)]);
    assert_eq!(
        with("parley_http_request_duration_seconds_count"),
        Some(3.0)
    );
    assert!(with("parley_http_request_duration_seconds_sum").unwrap() > 0.0);

    // The same series, read in-process; `/metrics` itself is counted too.
    let requests = app.state.metrics.requests();
    let routes: BTreeSet<(&str, &str, u16)> = requests
        .keys()
        .map(|s| (s.method.as_str(), s.route.as_str(), s.status))
        .collect();
    assert!(routes.contains(&("GET", template, 404)), "{routes:?}");
    assert!(routes.contains(&("GET", "/metrics", 200)), "{routes:?}");
    assert!(routes.iter().all(|(_, route, _)| !route.contains(id)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_be_turned_off() {
    let app =
        TestApp::spawn_with_settings(Backend::Sqlite, |settings| settings.metrics = false).await;
    assert_eq!(app.get("/v2/ai/assistants").await.status, 200);
    let (status, _, _) = scrape(&app).await;
    assert_eq!(status, 404);
    assert!(app.state.metrics.requests().is_empty());
}
