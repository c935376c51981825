//! The contract of [`crate::KnowledgeStore`]: buckets per organization; objects listed in byte
//! order of their keys with prefix, start and page size; a replaced object's blob handed back;
//! only empty buckets deleted; tasks and their compare-and-set status; a file's chunks
//! replaced whole with the vectors version growing; another model replacing every vector;
//! writes to an embedded bucket queueing its sync job; embeddings removed on request.

use super::{new_org, ok};
use crate::{
    DeleteBucketOutcome, DeleteObjectOutcome, EmbeddedFile, NewChunk, NewEmbeddingTask, NewObject,
    PutObjectOutcome, Store,
};
use chrono::{DateTime, Utc};
use parley_core::ids::OrgId;
use parley_core::knowledge::{TaskStatus, BUCKET_SYNC_JOB};
use serde_json::{json, Map};
use std::sync::Arc;

fn object(key: &str, blob: &str) -> NewObject {
    NewObject {
        key: key.into(),
        blob: blob.into(),
        size: 3,
        etag: "etag".into(),
        sha256: format!("sha-{blob}"),
        content_type: Some("text/plain".into()),
        metadata: Map::new(),
    }
}

fn file(name: &str) -> EmbeddedFile {
    EmbeddedFile {
        filename: name.into(),
        checksum: format!("sum-{name}"),
        fingerprint: "m1|1024|512|default".into(),
        source: format!("docs/{name}"),
    }
}

fn chunk(text: &str, x: f32) -> NewChunk {
    let mut metadata = Map::new();
    metadata.insert("heading".into(), json!(text));
    NewChunk {
        text: text.into(),
        vector: [x, 1.0 - x].iter().flat_map(|v| v.to_le_bytes()).collect(),
        metadata,
    }
}

async fn keys(
    store: &Arc<dyn Store>,
    org: &OrgId,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> (Vec<String>, bool) {
    let page = ok(
        "list_objects",
        store.list_objects(org, "docs", prefix, after, limit).await,
    )
    .expect("the bucket exists");
    (
        page.objects.into_iter().map(|o| o.key).collect(),
        page.truncated,
    )
}

/// Runs the checks.
pub(super) async fn run(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "knowledge", t0).await;
    let other = new_org(store, "knowledge-other", t0).await;
    assert!(ok(
        "create_bucket",
        store.create_bucket(&org, "docs", t0).await
    ));
    assert!(!ok(
        "create_bucket again",
        store.create_bucket(&org, "docs", t0).await
    ));
    assert!(
        ok(
            "create_bucket elsewhere",
            store.create_bucket(&other, "docs", t0).await
        ),
        "bucket names are per organization"
    );

    // Objects.
    assert_eq!(
        ok(
            "put_object",
            store
                .put_object(&org, "nope", object("x", "b0"), t0, t0)
                .await
        ),
        PutObjectOutcome::NoSuchBucket
    );
    for (key, blob) in [("b", "b1"), ("a/2", "b2"), ("é", "b3"), ("a/1", "b4")] {
        let stored = ok(
            "put_object",
            store
                .put_object(&org, "docs", object(key, blob), t0, t0)
                .await,
        );
        assert_eq!(
            stored,
            PutObjectOutcome::Stored {
                replaced_blob: None
            }
        );
    }
    assert_eq!(
        ok(
            "replace",
            store
                .put_object(&org, "docs", object("b", "b5"), t0, t0)
                .await
        ),
        PutObjectOutcome::Stored {
            replaced_blob: Some("b1".into())
        },
        "a replaced object's blob comes back"
    );
    let got = ok("get_object", store.get_object(&org, "docs", "b").await).unwrap();
    assert_eq!((got.blob.as_str(), got.sha256.as_str()), ("b5", "sha-b5"));
    assert!(ok(
        "get_object other",
        store.get_object(&other, "docs", "b").await
    )
    .is_none());
    assert_eq!(
        keys(store, &org, "", None, 10).await,
        (
            vec!["a/1".into(), "a/2".into(), "b".into(), "é".into()],
            false
        )
    );
    assert_eq!(keys(store, &org, "a/", None, 10).await.0, ["a/1", "a/2"]);
    assert_eq!(
        keys(store, &org, "", Some("a/2"), 1).await,
        (vec!["b".into()], true)
    );
    assert_eq!(
        keys(store, &other, "", None, 10).await.0,
        Vec::<String>::new()
    );
    assert!(ok(
        "list missing",
        store.list_objects(&org, "nope", "", None, 10).await
    )
    .is_none());
    assert_eq!(
        ok("delete_bucket", store.delete_bucket(&org, "docs").await).0,
        DeleteBucketOutcome::NotEmpty
    );
    assert_eq!(
        ok("delete missing", store.delete_bucket(&org, "nope").await).0,
        DeleteBucketOutcome::NotFound
    );

    // Tasks.
    let task = |id: &str, bucket: &str| NewEmbeddingTask {
        id: id.into(),
        bucket: bucket.into(),
        task_name: "embed_bucket".into(),
        payload: json!({"document_chunk_size": 1024}),
    };
    assert!(ok(
        "task on missing bucket",
        store
            .create_embedding_task(&org, task("t0", "nope"), t0)
            .await
    )
    .is_none());
    let created = ok(
        "create task",
        store
            .create_embedding_task(&org, task("t1", "docs"), t0)
            .await,
    )
    .unwrap();
    assert_eq!(created.status, TaskStatus::Queued);
    let queued = ok(
        "list tasks",
        store
            .list_embedding_tasks(&org, &[TaskStatus::Queued])
            .await,
    );
    assert_eq!(queued.len(), 1);
    assert!(ok("list other", store.list_embedding_tasks(&other, &[]).await).is_empty());
    assert!(
        !ok(
            "cas",
            store
                .update_embedding_task(
                    &org,
                    "t1",
                    &[TaskStatus::Processing],
                    TaskStatus::Success,
                    None,
                    t0
                )
                .await
        ),
        "a status change names what it expects"
    );
    assert!(ok(
        "start",
        store
            .update_embedding_task(
                &org,
                "t1",
                &[TaskStatus::Queued],
                TaskStatus::Processing,
                None,
                t0
            )
            .await
    ));
    assert!(ok(
        "finish",
        store
            .update_embedding_task(
                &org,
                "t1",
                &[TaskStatus::Processing],
                TaskStatus::Failure,
                Some("no model"),
                t0
            )
            .await
    ));
    let done = ok("get task", store.get_embedding_task(&org, "t1").await).unwrap();
    assert_eq!(
        (done.status, done.error.as_deref(), done.finished_at),
        (TaskStatus::Failure, Some("no model"), Some(t0))
    );
    assert!(ok("get other", store.get_embedding_task(&other, "t1").await).is_none());

    // Embedding.
    assert!(ok(
        "version before",
        store.bucket_vectors_version(&org, "docs").await
    )
    .is_none());
    assert!(ok(
        "start embedding",
        store
            .start_bucket_embedding(&org, "docs", "m1", &json!({"a": 1}), t0)
            .await
    ));
    let v0 = ok("version", store.bucket_vectors_version(&org, "docs").await).expect("embedded");
    ok(
        "replace chunks",
        store
            .replace_file_chunks(
                &org,
                "docs",
                &file("a/1"),
                "m1",
                vec![chunk("one", 0.1), chunk("two", 0.2)],
                t0,
            )
            .await,
    );
    ok(
        "replace chunks",
        store
            .replace_file_chunks(
                &org,
                "docs",
                &file("a/2"),
                "m1",
                vec![chunk("three", 0.3)],
                t0,
            )
            .await,
    );
    ok(
        "fail file",
        store
            .fail_embedded_file(&org, "docs", &file("é"), "binary", t0)
            .await,
    );
    let v1 = ok("version", store.bucket_vectors_version(&org, "docs").await).unwrap();
    assert!(v1 > v0, "writing chunks bumps the version");
    let vectors = ok("bucket_vectors", store.bucket_vectors(&org, "docs").await).unwrap();
    assert_eq!(
        (
            vectors.version,
            vectors.model.as_str(),
            vectors.vectors.len()
        ),
        (v1, "m1", 3)
    );
    let ids: Vec<i64> = vectors.vectors.iter().map(|(id, _)| *id).collect();
    let chunks = ok("get_chunks", store.get_chunks(&org, &ids).await);
    assert_eq!(chunks.len(), 3);
    let one = chunks.iter().find(|c| c.text == "one").unwrap();
    assert_eq!(
        (
            one.filename.as_str(),
            one.source.as_str(),
            one.checksum.as_str()
        ),
        ("a/1", "docs/a/1", "sum-a/1")
    );
    assert_eq!(one.metadata["heading"], "one");
    assert!(ok("get_chunks other", store.get_chunks(&other, &ids).await).is_empty());
    let files = ok("list files", store.list_embedded_files(&org, "docs").await);
    let summary: Vec<(&str, &str, u32)> = files
        .iter()
        .map(|f| (f.filename.as_str(), f.status.as_str(), f.chunks))
        .collect();
    assert_eq!(
        summary,
        [
            ("a/1", "success", 2),
            ("a/2", "success", 1),
            ("é", "failed", 0)
        ]
    );
    assert_eq!(files[2].error_reason.as_deref(), Some("binary"));
    assert!(files[0].last_embedded_at.is_some() && files[2].last_embedded_at.is_none());

    // Replacing one file's chunks leaves the others; removing a file drops its chunks.
    ok(
        "replace again",
        store
            .replace_file_chunks(
                &org,
                "docs",
                &file("a/1"),
                "m1",
                vec![chunk("uno", 0.5)],
                t0,
            )
            .await,
    );
    ok(
        "remove",
        store
            .remove_embedded_files(&org, "docs", &["a/2".to_owned()])
            .await,
    );
    let texts: Vec<String> = {
        let vectors = ok("bucket_vectors", store.bucket_vectors(&org, "docs").await).unwrap();
        let ids: Vec<i64> = vectors.vectors.iter().map(|(id, _)| *id).collect();
        let mut texts: Vec<String> = ok("get_chunks", store.get_chunks(&org, &ids).await)
            .into_iter()
            .map(|c| c.text)
            .collect();
        texts.sort();
        texts
    };
    assert_eq!(texts, ["uno"]);

    // Writes to an embedded bucket queue its sync job.
    ok(
        "put embedded",
        store
            .put_object(&org, "docs", object("c", "b6"), t0, t0)
            .await,
    );
    let sync_key = format!("{}/docs", org.as_str());
    assert!(ok(
        "sync job",
        store.get_job(&org, BUCKET_SYNC_JOB, &sync_key).await
    )
    .is_some());
    ok(
        "cancel",
        store.cancel_job(&org, BUCKET_SYNC_JOB, &sync_key).await,
    );
    assert_eq!(
        ok(
            "delete object",
            store.delete_object(&org, "docs", "c", t0).await
        ),
        DeleteObjectOutcome::Deleted {
            blob: Some("b6".into())
        }
    );
    assert!(ok(
        "sync job",
        store.get_job(&org, BUCKET_SYNC_JOB, &sync_key).await
    )
    .is_some());

    // Another model replaces every vector.
    assert!(ok(
        "switch model",
        store
            .start_bucket_embedding(&org, "docs", "m2", &json!({}), t0)
            .await
    ));
    assert!(ok(
        "files after switch",
        store.list_embedded_files(&org, "docs").await
    )
    .is_empty());
    let vectors = ok("bucket_vectors", store.bucket_vectors(&org, "docs").await).unwrap();
    assert_eq!((vectors.model.as_str(), vectors.vectors.len()), ("m2", 0));

    // Removing the embeddings makes it a plain bucket again.
    assert!(ok(
        "delete embeddings",
        store.delete_bucket_embeddings(&org, "docs").await
    ));
    assert!(!ok(
        "again",
        store.delete_bucket_embeddings(&org, "docs").await
    ));
    assert!(ok(
        "version after",
        store.bucket_vectors_version(&org, "docs").await
    )
    .is_none());
    assert!(ok("get_bucket", store.get_bucket(&org, "docs").await)
        .unwrap()
        .embedding
        .is_none());
    assert!(ok(
        "sync job gone",
        store.get_job(&org, BUCKET_SYNC_JOB, &sync_key).await
    )
    .is_none());

    // An empty bucket is deleted with its tasks.
    for key in ["a/1", "a/2", "b", "é"] {
        ok(
            "delete object",
            store.delete_object(&org, "docs", key, t0).await,
        );
    }
    assert_eq!(
        ok("delete bucket", store.delete_bucket(&org, "docs").await).0,
        DeleteBucketOutcome::Deleted
    );
    assert!(ok("task gone", store.get_embedding_task(&org, "t1").await).is_none());
    assert!(ok("other bucket stays", store.get_bucket(&other, "docs").await).is_some());
}
