//! Knowledge bases end to end, on a fresh SQLite file and a fresh PostgreSQL database: the
//! S3-compatible API (buckets, objects, listing, ranges, `aws-chunked` bodies, multipart
//! uploads, authentication, tenancy), embedding tasks over a bucket with the real local model
//! (loaders, failures per file, re-embedding after changes, deletions), crawling a site served
//! by a local HTTP server, similarity search, and a chat whose scripted model calls the
//! `retrieval` tool.

mod common;

use common::{assert_error, s3_as, Backend, S3Reply, TestApp};
use parley_llm::test_support::Reply as LlmReply;
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Digest;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/knowledge");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
}

/// The app with the local embedding model available (pulled into the models directory if
/// missing).
async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with_settings(backend, with_models).await
}

fn with_models(settings: &mut parley_server::Settings) {
    settings.llm.models_dir = parley_llm::models::default_models_dir(std::env::vars());
    settings.llm.pull_models = true;
}

async fn s3(app: &TestApp, method: Method, path: &str, body: Option<&[u8]>) -> S3Reply {
    s3_as(
        app,
        Some(&app.key),
        method,
        path,
        body.map(<[u8]>::to_vec),
        &[],
    )
    .await
}

fn assert_s3_error(reply: &S3Reply, status: u16, code: &str) {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.text());
    assert!(
        reply.text().contains(&format!("<Code>{code}</Code>")),
        "expected {code}: {}",
        reply.text()
    );
}

/// The texts of every `<tag>` element.
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    xml.split(&format!("<{tag}>"))
        .skip(1)
        .filter_map(|rest| rest.split(&format!("</{tag}>")).next())
        .map(str::to_owned)
        .collect()
}

async fn s3_api_stores_lists_and_deletes_objects(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(s3(&app, Method::PUT, "/s3/docs", None).await.status, 200);
    assert_s3_error(
        &s3(&app, Method::PUT, "/s3/docs", None).await,
        409,
        "BucketAlreadyOwnedByYou",
    );
    assert_s3_error(
        &s3(&app, Method::PUT, "/s3/Bad_Name", None).await,
        400,
        "InvalidBucketName",
    );
    let listing = s3(&app, Method::GET, "/s3/", None).await;
    assert_eq!(xml_values(&listing.text(), "Name"), ["docs"]);
    assert_eq!(s3(&app, Method::HEAD, "/s3/docs", None).await.status, 200);

    let put = s3_as(
        &app,
        Some(&app.key),
        Method::PUT,
        "/s3/docs/a/one.txt",
        Some(b"hello world".to_vec()),
        &[
            ("content-type", "text/plain"),
            ("x-amz-meta-source", "https://example.com/one"),
        ],
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.text());
    assert_eq!(put.headers["etag"], "\"5eb63bbbe01eeed093cb22bb8f5acdc3\"");
    for key in ["a/two.txt", "b.txt", "c/d/e.txt"] {
        let reply = s3(
            &app,
            Method::PUT,
            &format!("/s3/docs/{key}"),
            Some(key.as_bytes()),
        )
        .await;
        assert_eq!(reply.status, 200);
    }

    let head = s3(&app, Method::HEAD, "/s3/docs/a/one.txt", None).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.headers["content-length"], "11");
    assert_eq!(head.headers["content-type"], "text/plain");
    assert_eq!(head.headers["x-amz-meta-source"], "https://example.com/one");
    assert!(head.body.is_empty());
    let ranged = s3_as(
        &app,
        Some(&app.key),
        Method::GET,
        "/s3/docs/a/one.txt",
        None,
        &[("range", "bytes=6-10")],
    )
    .await;
    assert_eq!(ranged.status, 206);
    assert_eq!(ranged.body, b"world");
    assert_eq!(ranged.headers["content-range"], "bytes 6-10/11");
    assert_s3_error(
        &s3(&app, Method::GET, "/s3/docs/nope.txt", None).await,
        404,
        "NoSuchKey",
    );

    // Listing: delimiter, prefix, pages.
    let folders = s3(&app, Method::GET, "/s3/docs?list-type=2&delimiter=/", None).await;
    let text = folders.text();
    assert_eq!(xml_values(&text, "Key"), ["b.txt"]);
    assert_eq!(xml_values(&text, "Prefix")[1..], ["a/", "c/"]);
    assert_eq!(xml_values(&text, "KeyCount"), ["3"]);
    let prefixed = s3(&app, Method::GET, "/s3/docs?list-type=2&prefix=a/", None).await;
    assert_eq!(
        xml_values(&prefixed.text(), "Key"),
        ["a/one.txt", "a/two.txt"]
    );
    let first = s3(&app, Method::GET, "/s3/docs?list-type=2&max-keys=3", None).await;
    let first = first.text();
    assert_eq!(xml_values(&first, "IsTruncated"), ["true"]);
    assert_eq!(xml_values(&first, "Key").len(), 3);
    let token = &xml_values(&first, "NextContinuationToken")[0];
    let rest = s3(
        &app,
        Method::GET,
        &format!("/s3/docs?list-type=2&max-keys=3&continuation-token={token}"),
        None,
    )
    .await;
    assert_eq!(xml_values(&rest.text(), "Key"), ["c/d/e.txt"]);
    assert_eq!(xml_values(&rest.text(), "IsTruncated"), ["false"]);
    let v1 = s3(&app, Method::GET, "/s3/docs?marker=a/two.txt", None).await;
    assert_eq!(xml_values(&v1.text(), "Key"), ["b.txt", "c/d/e.txt"]);

    // What current SDKs send: aws-chunked bodies with a checksum trailer; Content-MD5.
    let chunked = s3_as(
        &app,
        Some(&app.key),
        Method::PUT,
        "/s3/docs/chunked.txt",
        Some(b"5\r\nhello\r\n7\r\n, there\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n".to_vec()),
        &[
            ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "12"),
        ],
    )
    .await;
    assert_eq!(chunked.status, 200, "{}", chunked.text());
    assert_eq!(
        s3(&app, Method::GET, "/s3/docs/chunked.txt", None)
            .await
            .body,
        b"hello, there"
    );
    let bad_digest = s3_as(
        &app,
        Some(&app.key),
        Method::PUT,
        "/s3/docs/x.txt",
        Some(b"abc".to_vec()),
        &[("content-md5", "AAAAAAAAAAAAAAAAAAAAAA==")],
    )
    .await;
    assert_s3_error(&bad_digest, 400, "BadDigest");

    // Multipart upload.
    let created = s3(&app, Method::POST, "/s3/docs/big.bin?uploads", None).await;
    let upload = xml_values(&created.text(), "UploadId").remove(0);
    let mut etags = Vec::new();
    for (number, part) in [(1, b"abc".as_slice()), (2, b"def".as_slice())] {
        let reply = s3(
            &app,
            Method::PUT,
            &format!("/s3/docs/big.bin?partNumber={number}&uploadId={upload}"),
            Some(part),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        etags.push(reply.headers["etag"].to_str().unwrap().to_owned());
    }
    let complete = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{}</ETag></Part>\
         <Part><PartNumber>2</PartNumber><ETag>{}</ETag></Part></CompleteMultipartUpload>",
        etags[0], etags[1]
    );
    let done = s3(
        &app,
        Method::POST,
        &format!("/s3/docs/big.bin?uploadId={upload}"),
        Some(complete.as_bytes()),
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.text());
    assert!(xml_values(&done.text(), "ETag")[0].ends_with("-2&quot;"));
    assert_eq!(
        s3(&app, Method::GET, "/s3/docs/big.bin", None).await.body,
        b"abcdef"
    );
    assert_s3_error(
        &s3(
            &app,
            Method::POST,
            &format!("/s3/docs/big.bin?uploadId={upload}"),
            Some(complete.as_bytes()),
        )
        .await,
        404,
        "NoSuchUpload",
    );

    // Authentication and tenancy.
    assert_s3_error(
        &s3_as(&app, Some("KEYnotakey"), Method::GET, "/s3/", None, &[]).await,
        403,
        "InvalidAccessKeyId",
    );
    assert_s3_error(
        &s3_as(&app, None, Method::GET, "/s3/", None, &[]).await,
        403,
        "AccessDenied",
    );
    let other = app.key_for_new_org("other-org").await;
    assert_s3_error(
        &s3_as(&app, Some(&other), Method::GET, "/s3/docs/b.txt", None, &[]).await,
        404,
        "NoSuchBucket",
    );
    let theirs = s3_as(&app, Some(&other), Method::GET, "/s3/", None, &[]).await;
    assert!(xml_values(&theirs.text(), "Name").is_empty());

    // Deleting.
    assert_s3_error(
        &s3(&app, Method::DELETE, "/s3/docs", None).await,
        409,
        "BucketNotEmpty",
    );
    assert_eq!(
        s3(&app, Method::DELETE, "/s3/docs/b.txt", None)
            .await
            .status,
        204
    );
    let all = s3(&app, Method::GET, "/s3/docs?list-type=2", None).await;
    let keys = xml_values(&all.text(), "Key");
    let delete: String = keys
        .iter()
        .map(|k| format!("<Object><Key>{k}</Key></Object>"))
        .collect();
    let deleted = s3(
        &app,
        Method::POST,
        "/s3/docs?delete",
        Some(format!("<Delete>{delete}</Delete>").as_bytes()),
    )
    .await;
    assert_eq!(xml_values(&deleted.text(), "Key").len(), keys.len());
    assert_eq!(s3(&app, Method::DELETE, "/s3/docs", None).await.status, 204);
    assert_s3_error(
        &s3(&app, Method::GET, "/s3/docs?list-type=2", None).await,
        404,
        "NoSuchBucket",
    );
    app.stop().await;
}

/// A valid PDF of 12-point Helvetica text, one page per entry of `pages`.
fn pdf(pages: &[&str]) -> Vec<u8> {
    let pages: Vec<[&str; 1]> = pages.iter().map(|page| [*page]).collect();
    let pages: Vec<&[&str]> = pages.iter().map(|page| &page[..]).collect();
    parley_core::knowledge::pdf::write_text_pdf(&pages)
}

/// The pages of `manual.pdf`.
const MANUAL_PAGES: [&str; 2] = [
    "Tyre pressure for the gravel bike: 2.8 bar at the front and 3.0 bar at the back.",
    "Clean the chain every 300 kilometres and wax it with Harbor chain wax.",
];

/// Creates bucket `name` and puts the fixtures, a PDF, a broken PDF and a binary file into it.
async fn fill_bucket(app: &TestApp, name: &str) {
    assert_eq!(
        s3(app, Method::PUT, &format!("/s3/{name}"), None)
            .await
            .status,
        200
    );
    for file in [
        "returns.md",
        "shipping.html",
        "warranty.txt",
        "products.csv",
        "faq.json",
    ] {
        let reply = s3(
            app,
            Method::PUT,
            &format!("/s3/{name}/{file}"),
            Some(&fixture(file)),
        )
        .await;
        assert_eq!(reply.status, 200, "{file}: {}", reply.text());
    }
    s3(
        app,
        Method::PUT,
        &format!("/s3/{name}/manual.pdf"),
        Some(&pdf(&MANUAL_PAGES)),
    )
    .await;
    let broken = pdf(&MANUAL_PAGES);
    s3(
        app,
        Method::PUT,
        &format!("/s3/{name}/broken.pdf"),
        Some(&broken[..broken.len() / 2]),
    )
    .await;
    s3(
        app,
        Method::PUT,
        &format!("/s3/{name}/photo.bin"),
        Some(&[0u8, 159, 146, 150]),
    )
    .await;
}

async fn search(app: &TestApp, bucket: &str, query: &str, n: u32) -> common::Reply {
    app.post(
        "/v2/ai/embeddings/similarity-search",
        &json!({"bucket_name": bucket, "query": query, "num_of_docs": n}),
    )
    .await
}

fn now_plus(seconds: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() + chrono::Duration::seconds(seconds)
}

async fn buckets_are_embedded_searched_and_kept_in_sync(backend: Backend) {
    let app = spawn(backend).await;
    fill_bucket(&app, "harbor").await;
    let missing = app
        .post("/v2/ai/embeddings", &json!({"bucket_name": "nope"}))
        .await;
    assert_eq!(
        assert_error(&missing, 404, "10005")["source"]["pointer"],
        "/bucket_name"
    );
    let invalid = app
        .post(
            "/v2/ai/embeddings",
            &json!({"bucket_name": "harbor", "embedding_model": "openai/ada"}),
        )
        .await;
    assert_error(&invalid, 422, "10016");

    let created = app
        .post(
            "/v2/ai/embeddings",
            &json!({"bucket_name": "harbor", "document_chunk_size": 400, "document_chunk_overlap_size": 80}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let task = created.body["data"].clone();
    assert_eq!(task["status"], "queued");
    assert_eq!(task["task_name"], "embed_bucket");
    let task_id = task["task_id"].as_str().unwrap().to_owned();
    let listed = app.get("/v2/ai/embeddings").await;
    assert_eq!(listed.body["data"][0]["task_id"], task_id.as_str());
    assert_eq!(listed.body["data"][0]["bucket"], "harbor");
    assert_eq!(
        app.get("/v2/ai/embeddings?status=success").await.body["data"],
        json!([])
    );

    assert!(app.tick_jobs(chrono::Utc::now()).await >= 1);
    let done = app.get(&format!("/v2/ai/embeddings/{task_id}")).await.body["data"].clone();
    assert_eq!(done["status"], "partial_success", "{done}");
    assert!(done["finished_at"].is_string());
    assert_eq!(app.get("/v2/ai/embeddings").await.body["data"], json!([]));
    let finished = app
        .get("/v2/ai/embeddings?status=success,partial_success")
        .await;
    assert_eq!(finished.body["data"].as_array().unwrap().len(), 1);
    let repeated = app
        .get("/v2/ai/embeddings?status=success&status=partial_success")
        .await;
    assert_eq!(repeated.body["data"].as_array().unwrap().len(), 1);
    assert_error(
        &app.get("/v2/ai/embeddings?status=done").await,
        400,
        "10003",
    );

    assert_eq!(
        app.get("/v2/ai/embeddings/buckets").await.body,
        json!({"data": {"buckets": ["harbor"]}})
    );
    let files = app.get("/v2/ai/embeddings/buckets/harbor").await.body["data"].clone();
    let by_name = |name: &str| {
        files
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["filename"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} missing from {files}"))
    };
    assert_eq!(files.as_array().unwrap().len(), 8);
    assert_eq!(by_name("warranty.txt")["status"], "success");
    assert!(by_name("warranty.txt")["last_embedded_at"].is_string());
    assert_eq!(by_name("manual.pdf")["status"], "success", "{files}");
    assert_eq!(by_name("broken.pdf")["status"], "failed");
    assert!(by_name("broken.pdf")["error_reason"]
        .as_str()
        .unwrap()
        .contains("PDF"));
    assert!(by_name("photo.bin")["error_reason"]
        .as_str()
        .unwrap()
        .contains("unsupported"));

    // Search: ascending distance, metadata, the right passage first.
    let found = search(
        &app,
        "harbor",
        "How long is the warranty on an aluminium frame?",
        3,
    )
    .await;
    assert_eq!(found.status, 200, "{}", found.body);
    let hits = found.body["data"].as_array().unwrap().clone();
    assert_eq!(hits.len(), 3);
    assert!(
        hits[0]["document_chunk"]
            .as_str()
            .unwrap()
            .contains("lifetime warranty"),
        "{hits:?}"
    );
    let distances: Vec<f64> = hits
        .iter()
        .map(|h| h["distance"].as_f64().unwrap())
        .collect();
    assert!(distances.windows(2).all(|w| w[0] <= w[1]), "{distances:?}");
    let metadata = &hits[0]["metadata"];
    assert_eq!(metadata["filename"], "warranty.txt");
    assert_eq!(metadata["source"], "harbor/warranty.txt");
    assert_eq!(
        metadata["checksum"],
        hex::encode(sha2::Sha256::digest(fixture("warranty.txt")))
    );
    assert_eq!(
        metadata["embedding"],
        "sentence-transformers/all-MiniLM-L6-v2"
    );
    let certainty = metadata["certainty"].as_f64().unwrap();
    assert!(certainty > 0.5 && certainty <= 1.0, "{certainty}");
    let csv = search(&app, "harbor", "How heavy is the carbon road bike?", 1).await;
    assert!(csv.body["data"][0]["document_chunk"]
        .as_str()
        .unwrap()
        .contains("7.9 kg"));
    // The PDF is read: both pages are found.
    for (query, page) in [
        (
            "What tyre pressure does the gravel bike need?",
            MANUAL_PAGES[0],
        ),
        (
            "How often should I clean and wax the chain?",
            MANUAL_PAGES[1],
        ),
    ] {
        let found = search(&app, "harbor", query, 1).await;
        let hit = &found.body["data"][0];
        assert_eq!(hit["metadata"]["filename"], "manual.pdf", "{query}: {hit}");
        assert!(
            hit["document_chunk"].as_str().unwrap().contains(page),
            "{query}: {hit}"
        );
    }
    assert_error(&search(&app, "nope", "anything", 3).await, 404, "10005");
    let no_query = app
        .post(
            "/v2/ai/embeddings/similarity-search",
            &json!({"bucket_name": "harbor"}),
        )
        .await;
    assert_error(&no_query, 422, "10016");

    // Embeddings follow the bucket: a changed file is embedded again, a deleted one dropped.
    let warranty_before = by_name("warranty.txt")["last_embedded_at"].clone();
    let mut returns = fixture("returns.md");
    returns
        .extend_from_slice(b"\n\nReturned bikes must show the frame number ABC-123 on the form.\n");
    assert_eq!(
        s3(&app, Method::PUT, "/s3/harbor/returns.md", Some(&returns))
            .await
            .status,
        200
    );
    assert_eq!(
        s3(&app, Method::DELETE, "/s3/harbor/faq.json", None)
            .await
            .status,
        204
    );
    assert!(app.tick_jobs(now_plus(5)).await >= 1, "the sync job runs");
    let changed = search(
        &app,
        "harbor",
        "Which frame number must returned bikes show?",
        5,
    )
    .await;
    let hits = changed.body["data"].as_array().unwrap();
    assert!(
        hits[0]["document_chunk"]
            .as_str()
            .unwrap()
            .contains("ABC-123"),
        "{hits:?}"
    );
    assert_eq!(
        hits[0]["metadata"]["checksum"],
        hex::encode(sha2::Sha256::digest(&returns))
    );
    let opening = search(&app, "harbor", "When are the stores open?", 10).await;
    assert!(opening.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|h| h["metadata"]["filename"] != "faq.json"));
    let files = app.get("/v2/ai/embeddings/buckets/harbor").await.body["data"].clone();
    assert_eq!(files.as_array().unwrap().len(), 7, "{files}");

    // A second task skips unchanged files.
    let again = app
        .post(
            "/v2/ai/embeddings",
            &json!({"bucket_name": "harbor", "document_chunk_size": 400, "document_chunk_overlap_size": 80}),
        )
        .await;
    let again_id = again.body["data"]["task_id"].as_str().unwrap().to_owned();
    app.tick_jobs(now_plus(10)).await;
    assert_eq!(
        app.get(&format!("/v2/ai/embeddings/{again_id}")).await.body["data"]["status"],
        "partial_success"
    );
    let files = app.get("/v2/ai/embeddings/buckets/harbor").await.body["data"].clone();
    let warranty = files
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["filename"] == "warranty.txt")
        .unwrap();
    assert_eq!(
        warranty["last_embedded_at"], warranty_before,
        "unchanged, not re-embedded"
    );

    // Another organization sees none of it.
    let other = app.key_for_new_org("other-org").await;
    let theirs = app
        .send(
            Method::GET,
            &format!("/v2/ai/embeddings/{task_id}"),
            None,
            Some(&other),
        )
        .await;
    assert_error(&theirs, 404, "10005");
    let theirs = app
        .send(Method::GET, "/v2/ai/embeddings/buckets", None, Some(&other))
        .await;
    assert_eq!(theirs.body["data"]["buckets"], json!([]));
    let theirs = app
        .send(
            Method::POST,
            "/v2/ai/embeddings/similarity-search",
            Some(&json!({"bucket_name": "harbor", "query": "warranty"})),
            Some(&other),
        )
        .await;
    assert_error(&theirs, 404, "10005");

    // Deleting the embeddings keeps the objects.
    let deleted = app.delete("/v2/ai/embeddings/buckets/harbor").await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body, Value::Null);
    assert_error(
        &app.delete("/v2/ai/embeddings/buckets/harbor").await,
        404,
        "10005",
    );
    assert_eq!(
        app.get("/v2/ai/embeddings/buckets").await.body["data"]["buckets"],
        json!([])
    );
    assert_error(&search(&app, "harbor", "warranty", 3).await, 404, "10005");
    assert_error(
        &app.get("/v2/ai/embeddings/buckets/harbor").await,
        404,
        "10005",
    );
    assert_eq!(
        s3(&app, Method::GET, "/s3/harbor/warranty.txt", None)
            .await
            .body,
        fixture("warranty.txt")
    );
    app.stop().await;
}

/// A small site: `/` links to `/returns`, to a page that is missing, and to another host.
async fn site() -> String {
    use axum::response::Html;
    use axum::routing::get;
    let router = axum::Router::new()
        .route(
            "/",
            get(|| async {
                Html(
                    "<html><head><title>Harbor</title></head><body><h1>Harbor Bikes</h1>\
                     <p>We sell city bikes and cargo bikes.</p>\
                     <a href=\"/returns\">Returns</a> <a href=\"/gone\">Old page</a> \
                     <a href=\"https://elsewhere.example/\">Elsewhere</a></body></html>",
                )
            }),
        )
        .route(
            "/returns",
            get(|| async {
                Html(
                    "<html><body><h1>Returns</h1><p>Parcels go back through the blue \
                     lockers at every train station, free of charge.</p>\
                     <a href=\"/\">Home</a></body></html>",
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}")
}

async fn url_tasks_crawl_pages_into_the_bucket(backend: Backend) {
    let base = site().await;
    let guarded = TestApp::spawn_with_settings(backend, with_models).await;
    assert_eq!(s3(&guarded, Method::PUT, "/s3/web", None).await.status, 200);
    let refused = guarded
        .post(
            "/v2/ai/embeddings/url",
            &json!({"bucket_name": "web", "url": base}),
        )
        .await;
    assert_eq!(
        assert_error(&refused, 422, "10016")["source"]["pointer"],
        "/url"
    );
    guarded.stop().await;

    let app = TestApp::spawn_with_settings(backend, |settings| {
        with_models(settings);
        settings.allow_private_network = true;
    })
    .await;
    let missing = app
        .post(
            "/v2/ai/embeddings/url",
            &json!({"bucket_name": "web", "url": base}),
        )
        .await;
    assert_error(&missing, 404, "10005");
    assert_eq!(s3(&app, Method::PUT, "/s3/web", None).await.status, 200);
    let created = app
        .post(
            "/v2/ai/embeddings/url",
            &json!({"bucket_name": "web", "url": base}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(created.body["data"]["task_name"], "embed_url");
    let id = created.body["data"]["task_id"].as_str().unwrap().to_owned();
    app.tick_jobs(chrono::Utc::now()).await;
    let task = app.get(&format!("/v2/ai/embeddings/{id}")).await.body["data"].clone();
    assert_eq!(
        task["status"], "partial_success",
        "one linked page is missing: {task}"
    );

    let listing = s3(&app, Method::GET, "/s3/web?list-type=2", None).await;
    assert_eq!(
        xml_values(&listing.text(), "Key"),
        ["127.0.0.1/index.html", "127.0.0.1/returns.html"]
    );
    let found = search(&app, "web", "How do I send a parcel back?", 1).await;
    let hit = &found.body["data"][0];
    assert!(
        hit["document_chunk"]
            .as_str()
            .unwrap()
            .contains("blue lockers"),
        "{hit}"
    );
    assert_eq!(hit["metadata"]["source"], format!("{base}/returns"));
    assert_eq!(hit["metadata"]["filename"], "127.0.0.1/returns.html");
    app.stop().await;
}

async fn chat_answers_with_the_retrieval_tool(backend: Backend) {
    let (app, llm) = TestApp::spawn_with_llm_and(
        backend,
        vec![
            LlmReply::tool_call("retrieval", json!({"query": "carbon frame crash damage"})),
            LlmReply::text("Crash damage is not covered, but you get 40% off a new frame."),
        ],
        with_models,
    )
    .await;
    fill_bucket(&app, "harbor").await;
    let created = app
        .post("/v2/ai/embeddings", &json!({"bucket_name": "harbor", "document_chunk_size": 400, "document_chunk_overlap_size": 80}))
        .await;
    assert_eq!(created.status, 200);
    app.tick_jobs(chrono::Utc::now()).await;
    let assistant = app
        .create_assistant(json!({
            "name": "Support",
            "model": "scripted/model",
            "instructions": "Answer from the knowledge base.",
            "tools": [
                {"type": "retrieval", "retrieval": {"bucket_ids": ["harbor", "not-embedded"], "max_num_results": 2}}
            ],
        }))
        .await;
    let id = assistant["id"].as_str().unwrap();
    let reply = app
        .post(
            &format!("/v2/ai/assistants/{id}/chat"),
            &json!({"content": "Is crash damage on my carbon frame covered?", "conversation_id": "harbor-chat"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.body["content"],
        "Crash damage is not covered, but you get 40% off a new frame."
    );
    let offered = &llm.requests()[0].body["tools"][0]["function"];
    assert_eq!(offered["name"], "retrieval");
    assert_eq!(offered["parameters"]["required"], json!(["query"]));
    let results: Vec<String> = llm.requests()[1].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(results.len(), 1);
    assert!(
        results[0].contains("40% crash replacement discount"),
        "{}",
        results[0]
    );
    assert!(
        results[0].contains("[1] (source: harbor/warranty.txt"),
        "{}",
        results[0]
    );
    assert!(
        !results[0].contains("[3]"),
        "at most max_num_results passages"
    );
    app.stop().await;
}

on_both!(
    s3_api_stores_lists_and_deletes_objects,
    buckets_are_embedded_searched_and_kept_in_sync,
    url_tasks_crawl_pages_into_the_bucket,
    chat_answers_with_the_retrieval_tool,
);
