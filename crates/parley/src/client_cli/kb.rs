//! `parley kb …`: knowledge bases. `upload` puts files into a bucket of the S3-compatible
//! object storage (creating the bucket if needed, then `PUT {origin}/s3/{bucket}/{key}` per
//! file), `embed` starts an embedding task on the
//! bucket and follows it, `search` asks for the chunks nearest a query; `buckets`, `files`,
//! `tasks` and `delete` show and remove what is there.
//!
//! Uploads and embedding tasks show progress bars (indicatif) on a terminal; otherwise a line
//! per file uploaded and per status change goes to standard error.

use super::{emit, table, truncate, Output, Printer};
use anyhow::{anyhow, bail, Context};
use clap::Subcommand;
use futures::stream;
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use parley_client::types::embeddings::{
    BucketFile, EmbeddingCreateParams, EmbeddingListParams, EmbeddingTask, EmbeddingUrlParams,
    SimilaritySearchParams,
};
use parley_client::Client;
use serde_json::json;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Bytes per chunk of an upload (the progress bar moves by this much).
const CHUNK: usize = 64 * 1024;

/// `parley kb …`
#[derive(Debug, Subcommand)]
pub enum KbCommand {
    /// Upload files (and the files under directories) into a bucket.
    Upload {
        /// Bucket name.
        bucket: String,
        /// Files or directories.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Put the files under this key prefix (`docs/`).
        #[arg(long, default_value = "")]
        prefix: String,
    },
    /// Embed the files of a bucket and follow the task until it ends.
    Embed {
        /// Bucket name.
        bucket: String,
        /// Characters per chunk (server default 1024).
        #[arg(long)]
        chunk_size: Option<u32>,
        /// Characters neighbouring chunks share (server default 512).
        #[arg(long)]
        chunk_overlap: Option<u32>,
        /// Embedding model.
        #[arg(long)]
        model: Option<String>,
        /// Document loader (default, intercom).
        #[arg(long)]
        loader: Option<String>,
        /// Start the task and print it without waiting.
        #[arg(long)]
        no_wait: bool,
        /// Give up waiting after this many seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
        timeout: u64,
        /// How often to ask for the task's status, in milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 1000, hide = true)]
        poll_ms: u64,
    },
    /// Embed a web page (and the pages below it) into a bucket and follow the task.
    EmbedUrl {
        /// Bucket name.
        bucket: String,
        /// The page to start from.
        url: String,
        /// Start the task and print it without waiting.
        #[arg(long)]
        no_wait: bool,
        /// Give up waiting after this many seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
        timeout: u64,
        /// How often to ask for the task's status, in milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 1000, hide = true)]
        poll_ms: u64,
    },
    /// The chunks of a bucket nearest a query, nearest first.
    Search {
        /// Bucket name.
        bucket: String,
        /// What to look for.
        query: String,
        /// How many chunks (server default 3).
        #[arg(long, short = 'n')]
        num: Option<u32>,
    },
    /// The files stored in a bucket (embedded or not).
    Objects {
        /// Bucket name.
        bucket: String,
    },
    /// The embedded buckets.
    Buckets,
    /// The embedded files of a bucket and their status.
    Files {
        /// Bucket name.
        bucket: String,
    },
    /// Embedding tasks (default: the queued and processing ones).
    Tasks {
        /// Only tasks in this status (repeat): queued, processing, success, failure,
        /// partial_success.
        #[arg(long)]
        status: Vec<String>,
    },
    /// Delete a bucket's embeddings (its files stay in storage).
    Delete {
        /// Bucket name.
        bucket: String,
    },
}

/// Runs `parley kb …`.
pub async fn run(client: &Client, out: &Printer, command: KbCommand) -> anyhow::Result<()> {
    let embeddings = client.ai().embeddings();
    match command {
        KbCommand::Upload {
            bucket,
            files,
            prefix,
        } => upload(client, out, &bucket, &files, &prefix).await,
        KbCommand::Embed {
            bucket,
            chunk_size,
            chunk_overlap,
            model,
            loader,
            no_wait,
            timeout,
            poll_ms,
        } => {
            let task = embeddings
                .create(&EmbeddingCreateParams {
                    bucket_name: bucket.clone(),
                    document_chunk_size: chunk_size,
                    document_chunk_overlap_size: chunk_overlap,
                    embedding_model: model,
                    loader,
                    ..Default::default()
                })
                .await?;
            let wait = (!no_wait).then(|| Waiting {
                timeout: Duration::from_secs(timeout),
                every: Duration::from_millis(poll_ms.max(10)),
            });
            finish_task(client, out, &bucket, task, wait).await
        }
        KbCommand::EmbedUrl {
            bucket,
            url,
            no_wait,
            timeout,
            poll_ms,
        } => {
            let task = embeddings
                .url(&EmbeddingUrlParams {
                    bucket_name: bucket.clone(),
                    url,
                    ..Default::default()
                })
                .await?;
            let wait = (!no_wait).then(|| Waiting {
                timeout: Duration::from_secs(timeout),
                every: Duration::from_millis(poll_ms.max(10)),
            });
            finish_task(client, out, &bucket, task, wait).await
        }
        KbCommand::Search { bucket, query, num } => {
            let results = embeddings
                .similarity_search(&SimilaritySearchParams {
                    bucket_name: bucket,
                    query,
                    num_of_docs: num,
                    ..Default::default()
                })
                .await?
                .data;
            if out.output == Output::Json {
                return out.json(&results);
            }
            let rows = results
                .iter()
                .map(|r| {
                    let chunk = r.document_chunk.split_whitespace().collect::<Vec<_>>();
                    vec![
                        format!("{:.3}", r.distance),
                        r.metadata.filename.clone(),
                        truncate(&chunk.join(" "), 80),
                    ]
                })
                .collect();
            emit(&table(&["distance", "file", "chunk"], rows))
        }
        KbCommand::Objects { bucket } => {
            let objects = client.storage().list_objects(&bucket).await?;
            if out.output == Output::Json {
                let objects: Vec<_> = objects
                    .iter()
                    .map(
                        |o| json!({"key": o.key, "size": o.size, "last_modified": o.last_modified}),
                    )
                    .collect();
                return out.json(&objects);
            }
            let rows = objects
                .iter()
                .map(|o| {
                    vec![
                        o.key.clone(),
                        HumanBytes(o.size).to_string(),
                        o.last_modified.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            emit(&table(&["key", "size", "last_modified"], rows))
        }
        KbCommand::Buckets => {
            let buckets = embeddings.buckets().list().await?.buckets;
            if out.output == Output::Json {
                return out.json(&buckets);
            }
            emit(&table(
                &["bucket"],
                buckets.into_iter().map(|b| vec![b]).collect(),
            ))
        }
        KbCommand::Files { bucket } => {
            let files = embeddings.buckets().retrieve(&bucket).await?.data;
            out.list(
                &files,
                &["filename", "status", "error_reason", "last_embedded_at"],
            )
        }
        KbCommand::Tasks { status } => {
            let params = EmbeddingListParams {
                status: (!status.is_empty()).then_some(status),
            };
            let tasks = embeddings.list_with(&params).await?.data;
            out.list(
                &tasks,
                &["task_id", "bucket", "status", "created_at", "finished_at"],
            )
        }
        KbCommand::Delete { bucket } => {
            embeddings.buckets().delete(&bucket).await?;
            out.done(
                &json!({"bucket": bucket, "deleted": true}),
                &format!("deleted the embeddings of {bucket}"),
            )
        }
    }
}

/// A file to upload and the key it goes under.
struct Upload {
    path: PathBuf,
    key: String,
    bytes: u64,
}

/// The files named, directories walked (keys relative to the directory), under `prefix`.
fn collect(files: &[PathBuf], prefix: &str) -> anyhow::Result<Vec<Upload>> {
    fn walk(dir: &Path, relative: &str, found: &mut Vec<(PathBuf, String)>) -> anyhow::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("cannot read {}", dir.display()))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let key = format!("{relative}{name}");
            if path.is_dir() {
                walk(&path, &format!("{key}/"), found)?;
            } else {
                found.push((path, key));
            }
        }
        Ok(())
    }
    let mut found = Vec::new();
    for path in files {
        if path.is_dir() {
            walk(path, "", &mut found)?;
        } else {
            let name = path
                .file_name()
                .with_context(|| format!("{} names no file", path.display()))?;
            found.push((path.clone(), name.to_string_lossy().into_owned()));
        }
    }
    let prefix = match prefix.trim_matches('/') {
        "" => String::new(),
        p => format!("{p}/"),
    };
    found
        .into_iter()
        .map(|(path, key)| {
            let bytes = std::fs::metadata(&path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .len();
            Ok(Upload {
                path,
                key: format!("{prefix}{key}"),
                bytes,
            })
        })
        .collect()
}

/// The content type of a file, by its extension.
fn content_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "txt" | "text" => "text/plain",
        "md" | "markdown" => "text/markdown",
        "html" | "htm" => "text/html",
        "csv" => "text/csv",
        "json" => "application/json",
        "pdf" => "application/pdf",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        _ => "application/octet-stream",
    }
}

fn progress_target() -> ProgressDrawTarget {
    if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}

async fn upload(
    client: &Client,
    out: &Printer,
    bucket: &str,
    files: &[PathBuf],
    prefix: &str,
) -> anyhow::Result<()> {
    let uploads = collect(files, prefix)?;
    if uploads.is_empty() {
        bail!("no files to upload");
    }
    let total: u64 = uploads.iter().map(|u| u.bytes).sum();
    let bar = ProgressBar::with_draw_target(Some(total), progress_target()).with_style(
        ProgressStyle::with_template("{msg:20!} [{wide_bar}] {bytes}/{total_bytes} {eta:>3}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let storage = client.storage();
    storage.create_bucket(bucket).await?;
    let mut done = Vec::new();
    for upload in &uploads {
        bar.set_message(upload.key.clone());
        let data = std::fs::read(&upload.path)
            .with_context(|| format!("cannot read {}", upload.path.display()))?;
        let length = data.len() as u64;
        let chunks: Vec<Vec<u8>> = data.chunks(CHUNK).map(<[u8]>::to_vec).collect();
        let moved = bar.clone();
        let body = stream::iter(chunks.into_iter().map(move |chunk| {
            moved.inc(chunk.len() as u64);
            Ok::<_, std::io::Error>(chunk)
        }));
        storage
            .put_object_stream(
                bucket,
                &upload.key,
                body,
                length,
                content_type(&upload.path),
            )
            .await
            .map_err(|e| anyhow!("uploading {}: {e}", upload.path.display()))?;
        if bar.is_hidden() {
            eprintln!("uploaded {} ({})", upload.key, HumanBytes(length));
        }
        done.push(json!({
            "bucket": bucket,
            "key": upload.key,
            "bytes": length,
            "url": storage.object_url(bucket, &upload.key)?,
        }));
    }
    bar.finish_and_clear();
    if out.output == Output::Json {
        return out.json(&done);
    }
    let rows = uploads
        .iter()
        .map(|u| vec![u.key.clone(), HumanBytes(u.bytes).to_string()])
        .collect();
    emit(&format!(
        "{}uploaded {} file(s), {} to {bucket}; embed them with `parley kb embed {bucket}`\n",
        table(&["key", "size"], rows),
        uploads.len(),
        HumanBytes(total),
    ))
}

/// How long and how often to follow a task.
struct Waiting {
    timeout: Duration,
    every: Duration,
}

/// Whether a file of a bucket is still being embedded.
fn file_pending(file: &BucketFile) -> bool {
    matches!(
        file.status.as_str(),
        "" | "pending" | "queued" | "processing" | "in_progress" | "running"
    )
}

/// Follows a task to its end (unless `wait` is none), then prints it and the bucket's files.
async fn finish_task(
    client: &Client,
    out: &Printer,
    bucket: &str,
    mut task: EmbeddingTask,
    wait: Option<Waiting>,
) -> anyhow::Result<()> {
    let embeddings = client.ai().embeddings();
    let Some(wait) = wait else {
        if out.output == Output::Json {
            return out.json(&task);
        }
        return out.details(&task, &["task_id", "task_name", "status", "created_at"]);
    };
    let hidden = !std::io::stderr().is_terminal();
    // A spinner until the bucket's files are known, then a bar of files embedded.
    let bar = ProgressBar::with_draw_target(None, progress_target()).with_style(
        ProgressStyle::with_template("{spinner} {prefix}  {msg}").expect("a valid template"),
    );
    let files_style =
        ProgressStyle::with_template("{spinner} {prefix} [{wide_bar}] {pos}/{len} files  {msg}")
            .expect("a valid template")
            .progress_chars("=> ");
    bar.set_prefix(format!("embedding {bucket}"));
    bar.enable_steady_tick(Duration::from_millis(120));
    // How many files there are to embed: the bucket's objects (when the storage lists them).
    let stored = client
        .storage()
        .list_objects(bucket)
        .await
        .map(|objects| objects.len() as u64)
        .unwrap_or(0);
    let deadline = Instant::now() + wait.timeout;
    let mut shown = String::new();
    loop {
        let status = task.status.clone().unwrap_or_else(|| "queued".into());
        // The embedded files against the stored ones give the bar its length and position.
        if let Ok(files) = embeddings.buckets().retrieve(bucket).await {
            let total = stored.max(files.data.len() as u64);
            if total > 0 {
                if bar.length().is_none() {
                    bar.set_style(files_style.clone());
                }
                bar.set_length(total);
                bar.set_position(files.data.iter().filter(|f| !file_pending(f)).count() as u64);
            }
        }
        if status != shown {
            bar.set_message(status.clone());
            if hidden {
                eprintln!("task {}: {status}", task.task_id);
            }
            shown = status;
        }
        if task.is_finished() {
            break;
        }
        if Instant::now() >= deadline {
            bar.abandon();
            bail!(
                "task {} still {shown} after {} s (see `parley kb tasks`)",
                task.task_id,
                wait.timeout.as_secs()
            );
        }
        tokio::time::sleep(wait.every).await;
        task = embeddings.retrieve(&task.task_id).await?;
    }
    bar.finish_and_clear();
    let files = embeddings
        .buckets()
        .retrieve(bucket)
        .await
        .map(|f| f.data)
        .unwrap_or_default();
    if out.output == Output::Json {
        out.json(&json!({"task": task, "files": files}))?;
    } else {
        let rows = files
            .iter()
            .map(|f| {
                vec![
                    f.filename.clone(),
                    f.status.clone(),
                    f.error_reason.clone().unwrap_or_default(),
                ]
            })
            .collect();
        emit(&format!(
            "task {} {}\n\n{}",
            task.task_id,
            task.status.as_deref().unwrap_or_default(),
            table(&["file", "status", "error"], rows)
        ))?;
    }
    match task.status.as_deref() {
        Some("failure") => bail!("embedding {bucket} failed"),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_walk_directories_under_a_prefix() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a.md"), "# A").unwrap();
        std::fs::write(dir.path().join("sub/b.txt"), "b").unwrap();
        let single = dir.path().join("a.md");
        let found = collect(&[dir.path().to_owned(), single], "/docs/").unwrap();
        let keys: Vec<(&str, u64)> = found.iter().map(|u| (u.key.as_str(), u.bytes)).collect();
        assert_eq!(
            keys,
            [("docs/a.md", 3), ("docs/sub/b.txt", 1), ("docs/a.md", 3)]
        );
        assert_eq!(content_type(Path::new("x.PDF")), "application/pdf");
        assert_eq!(content_type(Path::new("x")), "application/octet-stream");
    }
}
