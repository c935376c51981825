//! The S3 object store (`object_store = s3`) against a real S3 API: server A is a plain Parley
//! whose `/s3` holds the bucket; server B keeps its object bytes in that bucket. Objects put
//! through B's own `/s3` (single and multipart, small and above the multipart threshold) are
//! read back whole and ranged, listed, deleted, embedded and searched on B, and their bytes
//! are found in A's bucket under B's prefix. The store is also driven directly (`S3Blobs`), and
//! a wrong bucket or key stops start-up.

mod common;

use common::{s3_as, Backend, S3Reply, TestApp};
use futures::StreamExt;
use parley_server::knowledge::blobs::{BlobStore, Incoming, S3Blobs, S3_MULTIPART_THRESHOLD};
use parley_server::settings::{ModelRoute, ObjectStoreSettings, S3Settings};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The bucket on server A that server B's bytes go to.
const BUCKET: &str = "parley-blobs";
/// B's prefix in that bucket.
const PREFIX: &str = "node-b";

/// A request to `app`'s `/s3` signed (in shape: the signature is not checked) with its key.
async fn s3(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
    headers: &[(&str, &str)],
) -> S3Reply {
    s3_as(app, Some(&app.key), method, path, body, headers).await
}

/// The texts of every `<tag>` element.
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    xml.split(&format!("<{tag}>"))
        .skip(1)
        .filter_map(|rest| rest.split(&format!("</{tag}>")).next())
        .map(str::to_owned)
        .collect()
}

/// `n` bytes that differ from position to position (a shifted range reads different bytes).
fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| ((i * 31 + i / 251) as u8).wrapping_add(seed))
        .collect()
}

/// Server A with the bucket, and S3 settings pointing at it with A's key.
async fn spawn_store(backend: Backend) -> (TestApp, S3Settings) {
    let store = TestApp::spawn(backend).await;
    let created = s3(&store, Method::PUT, &format!("/s3/{BUCKET}"), None, &[]).await;
    assert_eq!(created.status, 200, "{}", created.text());
    let settings = S3Settings {
        bucket: BUCKET.to_owned(),
        endpoint: Some(store.url("/s3")),
        region: "us-east-1".to_owned(),
        access_key_id: Some(store.key.clone()),
        secret_access_key: Some("not-checked".to_owned()),
        prefix: Some(PREFIX.to_owned()),
    };
    (store, settings)
}

/// Every key of A's bucket under `prefix`.
async fn keys_on_store(store: &TestApp, prefix: &str) -> Vec<String> {
    let listing = s3(
        store,
        Method::GET,
        &format!("/s3/{BUCKET}?list-type=2&prefix={prefix}"),
        None,
        &[],
    )
    .await;
    assert_eq!(listing.status, 200, "{}", listing.text());
    xml_values(&listing.text(), "Key")
}

/// A stand-in for an OpenAI-compatible `/embeddings` API: bag-of-words vectors, so texts
/// sharing words are near each other.
async fn embeddings_server() -> String {
    use axum::routing::post;
    async fn embed(axum::Json(body): axum::Json<Value>) -> axum::Json<Value> {
        let inputs: Vec<String> = match &body["input"] {
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().unwrap_or_default().to_owned())
                .collect(),
            other => vec![other.as_str().unwrap_or_default().to_owned()],
        };
        let data: Vec<Value> = inputs
            .iter()
            .enumerate()
            .map(|(index, text)| {
                let mut vector = vec![0.001f32; 128];
                for word in text
                    .to_lowercase()
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| w.len() > 3)
                {
                    let hash = word.bytes().fold(2_166_136_261u32, |h, b| {
                        (h ^ u32::from(b)).wrapping_mul(16_777_619)
                    });
                    vector[hash as usize % 128] += 1.0;
                }
                json!({"object": "embedding", "index": index, "embedding": vector})
            })
            .collect();
        axum::Json(json!({"object": "list", "data": data}))
    }
    let router = axum::Router::new().route("/v1/embeddings", post(embed));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}/v1")
}

async fn objects_put_through_one_server_live_in_the_other_ones_bucket(backend: Backend) {
    let (store, s3_settings) = spawn_store(backend).await;
    let embeddings = embeddings_server().await;
    let node = TestApp::spawn_with_settings(backend, |settings| {
        settings.knowledge.object_store = ObjectStoreSettings::S3(s3_settings);
        settings.knowledge.embedding_models = vec![ModelRoute {
            name: "thenlper/gte-large".into(),
            base_url: embeddings,
            model: None,
            api_key: None,
            context_tokens: None,
        }];
    })
    .await;
    let org = node
        .store
        .find_api_key(&parley_core::apikey::hash(&node.key))
        .await
        .unwrap()
        .unwrap()
        .org_id;
    let blob_of = |key: &'static str| {
        let store = node.store.clone();
        let org = org.clone();
        async move {
            let object = store
                .get_object(&org, "docs", key)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{key} has no row"));
            format!("{PREFIX}/{}", object.blob)
        }
    };
    assert_eq!(
        s3(&node, Method::PUT, "/s3/docs", None, &[]).await.status,
        200
    );

    // A small object: one PUT to the store.
    let put = s3(
        &node,
        Method::PUT,
        "/s3/docs/notes/hello.txt",
        Some(b"hello world".to_vec()),
        &[("content-type", "text/plain")],
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.text());
    assert_eq!(put.headers["etag"], "\"5eb63bbbe01eeed093cb22bb8f5acdc3\"");
    let small_blob = blob_of("notes/hello.txt").await;
    let on_store = s3(
        &store,
        Method::GET,
        &format!("/s3/{BUCKET}/{small_blob}"),
        None,
        &[],
    )
    .await;
    assert_eq!(on_store.status, 200, "{}", on_store.text());
    assert_eq!(on_store.body, b"hello world");

    // A large object in one PUT: a multipart upload to the store.
    let large = pattern(S3_MULTIPART_THRESHOLD as usize + 1_500_000, 7);
    let put = s3(
        &node,
        Method::PUT,
        "/s3/docs/large.bin",
        Some(large.clone()),
        &[],
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.text());
    let large_blob = blob_of("large.bin").await;
    let on_store = s3(
        &store,
        Method::GET,
        &format!("/s3/{BUCKET}/{large_blob}"),
        None,
        &[],
    )
    .await;
    assert_eq!(on_store.body.len(), large.len());
    assert!(on_store.body == large, "the store holds the same bytes");
    assert!(
        on_store.headers["etag"].to_str().unwrap().ends_with("-2\""),
        "stored in two parts: {:?}",
        on_store.headers["etag"]
    );

    // A multipart upload to the node: parts are blobs too, then one object.
    let created = s3(&node, Method::POST, "/s3/docs/parts.bin?uploads", None, &[]).await;
    assert_eq!(created.status, 200, "{}", created.text());
    let upload = xml_values(&created.text(), "UploadId").remove(0);
    let parts = [pattern(6 * 1024 * 1024, 1), pattern(3 * 1024 * 1024, 2)];
    let mut etags = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let reply = s3(
            &node,
            Method::PUT,
            &format!("/s3/docs/parts.bin?partNumber={}&uploadId={upload}", i + 1),
            Some(part.clone()),
            &[],
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        etags.push(reply.headers["etag"].to_str().unwrap().to_owned());
    }
    assert_eq!(
        keys_on_store(&store, &format!("{PREFIX}/uploads/"))
            .await
            .len(),
        2,
        "the parts wait in the store"
    );
    let complete = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{}</ETag></Part>\
         <Part><PartNumber>2</PartNumber><ETag>{}</ETag></Part></CompleteMultipartUpload>",
        etags[0], etags[1]
    );
    let done = s3(
        &node,
        Method::POST,
        &format!("/s3/docs/parts.bin?uploadId={upload}"),
        Some(complete.into_bytes()),
        &[],
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.text());
    assert!(
        keys_on_store(&store, &format!("{PREFIX}/uploads/"))
            .await
            .is_empty(),
        "completed parts are deleted from the store"
    );
    let whole: Vec<u8> = parts.concat();
    let got = s3(&node, Method::GET, "/s3/docs/parts.bin", None, &[]).await;
    assert_eq!(got.status, 200);
    assert!(got.body == whole, "the parts, in order");

    // Reading back through the node: whole, ranged (across the store's part boundary),
    // suffix ranges, HEAD.
    let got = s3(&node, Method::GET, "/s3/docs/large.bin", None, &[]).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.headers["content-length"], large.len().to_string());
    assert!(got.body == large);
    let boundary = S3_MULTIPART_THRESHOLD as usize;
    let range = format!("bytes={}-{}", boundary - 10, boundary + 9);
    let ranged = s3(
        &node,
        Method::GET,
        "/s3/docs/large.bin",
        None,
        &[("range", &range)],
    )
    .await;
    assert_eq!(ranged.status, 206);
    assert_eq!(ranged.body, &large[boundary - 10..boundary + 10]);
    assert_eq!(
        ranged.headers["content-range"],
        format!("bytes {}-{}/{}", boundary - 10, boundary + 9, large.len())
    );
    let suffix = s3(
        &node,
        Method::GET,
        "/s3/docs/notes/hello.txt",
        None,
        &[("range", "bytes=-5")],
    )
    .await;
    assert_eq!(suffix.body, b"world");
    let open_ended = s3(
        &node,
        Method::GET,
        "/s3/docs/notes/hello.txt",
        None,
        &[("range", "bytes=6-")],
    )
    .await;
    assert_eq!(open_ended.body, b"world");
    let head = s3(&node, Method::HEAD, "/s3/docs/large.bin", None, &[]).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.headers["content-length"], large.len().to_string());
    assert!(head.body.is_empty());
    let empty = s3(
        &node,
        Method::PUT,
        "/s3/docs/empty.txt",
        Some(Vec::new()),
        &[],
    )
    .await;
    assert_eq!(empty.status, 200, "{}", empty.text());
    let got = s3(&node, Method::GET, "/s3/docs/empty.txt", None, &[]).await;
    assert_eq!((got.status, got.body.len()), (StatusCode::OK, 0));

    let listing = s3(&node, Method::GET, "/s3/docs?list-type=2", None, &[]).await;
    assert_eq!(
        xml_values(&listing.text(), "Key"),
        ["empty.txt", "large.bin", "notes/hello.txt", "parts.bin"]
    );
    assert_eq!(
        keys_on_store(&store, &format!("{PREFIX}/")).await.len(),
        4,
        "one blob per object"
    );

    // Deleting through the node deletes the bytes in the store.
    assert_eq!(
        s3(&node, Method::DELETE, "/s3/docs/large.bin", None, &[])
            .await
            .status,
        204
    );
    let gone = s3(
        &store,
        Method::GET,
        &format!("/s3/{BUCKET}/{large_blob}"),
        None,
        &[],
    )
    .await;
    assert_eq!(gone.status, 404);
    let deleted = s3(
        &node,
        Method::POST,
        "/s3/docs?delete",
        Some(
            b"<Delete><Object><Key>parts.bin</Key></Object><Object><Key>empty.txt</Key></Object></Delete>"
                .to_vec(),
        ),
        &[],
    )
    .await;
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    assert_eq!(
        keys_on_store(&store, &format!("{PREFIX}/")).await,
        std::slice::from_ref(&small_blob)
    );
    // Replacing an object deletes the old bytes.
    s3(
        &node,
        Method::PUT,
        "/s3/docs/notes/hello.txt",
        Some(b"hello again".to_vec()),
        &[],
    )
    .await;
    let replaced = keys_on_store(&store, &format!("{PREFIX}/")).await;
    assert_eq!(replaced.len(), 1);
    assert_ne!(replaced[0], small_blob);

    // Embedding reads the objects from the store; search finds them.
    for (key, text) in [
        (
            "bikes.txt",
            "Cargo bikes carry two children in the front box. Every cargo bike has a rain cover.",
        ),
        (
            "repairs.txt",
            "Punctures are repaired while you wait. Brake adjustments take fifteen minutes.",
        ),
        (
            "hours.txt",
            "The workshop opens at eight in the morning and closes at six in the evening.",
        ),
    ] {
        let reply = s3(
            &node,
            Method::PUT,
            &format!("/s3/docs/{key}"),
            Some(text.as_bytes().to_vec()),
            &[("content-type", "text/plain")],
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    let created = node
        .post(
            "/v2/ai/embeddings",
            &json!({"bucket_name": "docs", "document_chunk_size": 200, "document_chunk_overlap_size": 20}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let task = created.body["data"]["task_id"].as_str().unwrap().to_owned();
    assert!(node.tick_jobs(chrono::Utc::now()).await >= 1);
    let status = node.get(&format!("/v2/ai/embeddings/{task}")).await.body["data"].clone();
    assert_eq!(status["status"], "success", "{status}");
    let found = node
        .post(
            "/v2/ai/embeddings/similarity-search",
            &json!({"bucket_name": "docs", "query": "When does the workshop open in the morning?", "num_of_docs": 2}),
        )
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(
        found.body["data"][0]["metadata"]["filename"], "hours.txt",
        "{}",
        found.body
    );
    assert!(found.body["data"][0]["document_chunk"]
        .as_str()
        .unwrap()
        .contains("eight in the morning"));

    node.stop().await;
    store.stop().await;
}

/// Puts `bytes` as blob `name`.
async fn put_blob(blobs: &S3Blobs, name: &str, bytes: &[u8]) {
    let mut incoming = Incoming::create(blobs.incoming_dir(), u64::MAX)
        .await
        .unwrap();
    for piece in bytes.chunks(1 << 20) {
        incoming.write(piece).await.unwrap();
    }
    let (_, incoming) = incoming.finish().await.unwrap();
    blobs.put(name, incoming).await.unwrap();
}

/// All the bytes of a stream.
async fn collect(blobs: &S3Blobs, name: &str, offset: u64, length: Option<u64>) -> Option<Vec<u8>> {
    let mut stream = blobs.open(name, offset, length).await.unwrap()?;
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.unwrap());
    }
    Some(bytes)
}

async fn the_store_puts_reads_ranges_and_deletes_blobs(backend: Backend) {
    let (store, settings) = spawn_store(backend).await;
    let incoming = tempfile::tempdir().unwrap();
    let blobs = S3Blobs::new(&settings, incoming.path().to_owned()).unwrap();
    blobs.check().await.unwrap();

    put_blob(&blobs, "org/a", b"hello world").await;
    assert_eq!(
        blobs.read_all("org/a").await.unwrap().unwrap(),
        b"hello world"
    );
    assert_eq!(collect(&blobs, "org/a", 6, Some(3)).await.unwrap(), b"wor");
    assert_eq!(collect(&blobs, "org/a", 6, None).await.unwrap(), b"world");
    assert_eq!(collect(&blobs, "org/a", 0, Some(0)).await.unwrap(), b"");
    assert_eq!(
        collect(&blobs, "org/a", 8, Some(100)).await.unwrap(),
        b"rld",
        "a length past the end reads to the end"
    );
    assert!(blobs.open("org/missing", 0, None).await.unwrap().is_none());
    assert!(blobs
        .open("org/missing", 0, Some(0))
        .await
        .unwrap()
        .is_none());
    assert!(blobs
        .open("org/missing", 3, Some(2))
        .await
        .unwrap()
        .is_none());
    let on_store = s3(
        &store,
        Method::GET,
        &format!("/s3/{BUCKET}/{PREFIX}/org/a"),
        None,
        &[],
    )
    .await;
    assert_eq!(on_store.body, b"hello world");

    let large = pattern(S3_MULTIPART_THRESHOLD as usize * 2 + 12_345, 3);
    put_blob(&blobs, "org/large", &large).await;
    assert!(blobs.read_all("org/large").await.unwrap().unwrap() == large);
    let start = S3_MULTIPART_THRESHOLD as usize * 2 - 5;
    assert_eq!(
        collect(&blobs, "org/large", start as u64, Some(10))
            .await
            .unwrap(),
        &large[start..start + 10]
    );
    let head = s3(
        &store,
        Method::HEAD,
        &format!("/s3/{BUCKET}/{PREFIX}/org/large"),
        None,
        &[],
    )
    .await;
    assert!(head.headers["etag"].to_str().unwrap().ends_with("-3\""));
    assert!(
        std::fs::read_dir(incoming.path()).unwrap().next().is_none(),
        "received files are removed once uploaded"
    );

    blobs.delete("org/a").await.unwrap();
    blobs.delete("org/a").await.unwrap();
    assert!(blobs.read_all("org/a").await.unwrap().is_none());
    assert!(blobs.delete("../a").await.is_err());

    for name in ["up/1/a", "up/1/b", "up/1/c/d", "up/12/a"] {
        put_blob(&blobs, name, name.as_bytes()).await;
    }
    blobs.delete_prefix("up/1").await.unwrap();
    blobs.delete_prefix("up/nothing").await.unwrap();
    assert_eq!(
        keys_on_store(&store, &format!("{PREFIX}/up/")).await,
        [format!("{PREFIX}/up/12/a")]
    );
    assert_eq!(
        keys_on_store(&store, &format!("{PREFIX}/")).await,
        [format!("{PREFIX}/org/large"), format!("{PREFIX}/up/12/a")]
    );
    store.stop().await;
}

async fn a_wrong_bucket_or_key_stops_start_up(backend: Backend) {
    let (store, settings) = spawn_store(backend).await;
    for (wrong, expected) in [
        (
            S3Settings {
                bucket: "no-such-bucket".into(),
                ..settings.clone()
            },
            ["no-such-bucket", "NoSuchBucket"],
        ),
        (
            S3Settings {
                access_key_id: Some("KEYnotakey".into()),
                ..settings.clone()
            },
            [BUCKET, "InvalidAccessKeyId"],
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let built = parley_server::Application::build(parley_server::Settings {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_owned(),
            knowledge: parley_server::settings::KnowledgeSettings {
                object_store: ObjectStoreSettings::S3(wrong),
                ..Default::default()
            },
            llm: parley_server::settings::LlmSettings {
                embedded: false,
                upstream_base_url: Some("http://127.0.0.1:9/v1".into()),
                ..Default::default()
            },
            ..parley_server::Settings::default()
        })
        .await;
        let error = format!("{:#}", built.err().expect("start-up fails"));
        assert!(
            error.contains("cannot open the object store")
                && expected.iter().all(|e| error.contains(e)),
            "{error}"
        );
    }
    store.stop().await;
}

on_both!(
    objects_put_through_one_server_live_in_the_other_ones_bucket,
    the_store_puts_reads_ranges_and_deletes_blobs,
    a_wrong_bucket_or_key_stops_start_up,
);
