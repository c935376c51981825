//! Object bytes, behind one small trait ([`BlobStore`]) with two stores, chosen by the
//! `object_store` setting ([`open`]):
//!
//! - [`LocalBlobs`] (`local`, the default): files under `DATA_DIR/objects`. Nothing to run
//!   besides Parley, but only the node that received an object can serve it — the store for a
//!   single node (and any number of nodes sharing one directory).
//! - [`S3Blobs`] (`s3`): objects of one S3 bucket (AWS or any S3-compatible service: MinIO,
//!   R2, Ceph, another Parley's `/s3`), through the `object_store` crate, under an optional
//!   prefix. Every node sees every object, so this is the store for several nodes sharing a
//!   PostgreSQL database. Start-up checks that the bucket can be listed.
//!
//! Bodies are received into a temporary file under the data directory first ([`Incoming`]:
//! size limit, MD5 and SHA-256 computed while writing), then handed to the store: the local
//! store renames it into place, the S3 store uploads it (one `PUT` up to
//! [`S3_MULTIPART_THRESHOLD`], a multipart upload above). Either way a blob is never seen
//! half-written. Reads stream, from an offset and for a length (ranged `GET`s on S3).

use crate::settings::{ObjectStoreSettings, S3Settings, Settings};
use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use md5::Digest as _;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{
    ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, RetryConfig, WriteMultipart,
};
use sha2::Digest as _;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// A stream of a blob's bytes.
pub type BlobStream = BoxStream<'static, io::Result<Bytes>>;

/// Where object bytes live. Blob names are `/`-separated and chosen by the server.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Stores the received file as blob `name` (replacing any blob of that name).
    async fn put(&self, name: &str, incoming: Incoming) -> io::Result<()>;

    /// The bytes of blob `name` from `offset`, at most `length` of them (all when `None`);
    /// `None` when there is no such blob.
    async fn open(
        &self,
        name: &str,
        offset: u64,
        length: Option<u64>,
    ) -> io::Result<Option<BlobStream>>;

    /// Deletes blob `name` (no error when it is missing).
    async fn delete(&self, name: &str) -> io::Result<()>;

    /// Deletes every blob whose name starts with `prefix/`.
    async fn delete_prefix(&self, prefix: &str) -> io::Result<()>;

    /// Where received bodies are written before [`BlobStore::put`].
    fn incoming_dir(&self) -> &Path;

    /// All of blob `name` in memory; `None` when there is no such blob.
    async fn read_all(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        let Some(mut stream) = self.open(name, 0, None).await? else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk?);
        }
        Ok(Some(bytes))
    }
}

/// A body being received into a temporary file, hashed as it is written.
pub struct Incoming {
    file: tokio::fs::File,
    path: tempfile::TempPath,
    md5: md5::Md5,
    sha256: sha2::Sha256,
    size: u64,
    limit: u64,
}

/// What [`Incoming::finish`] measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Bytes written.
    pub size: u64,
    /// MD5, lowercase hex.
    pub md5: String,
    /// SHA-256, lowercase hex.
    pub sha256: String,
}

/// Why a body could not be received.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// It is larger than the limit.
    #[error("the body is larger than {0} bytes")]
    TooLarge(u64),
    /// The temporary file could not be written.
    #[error("cannot write the body: {0}")]
    Io(#[from] io::Error),
}

impl Incoming {
    /// A new temporary file in `dir`, accepting at most `limit` bytes.
    pub async fn create(dir: &Path, limit: u64) -> io::Result<Self> {
        tokio::fs::create_dir_all(dir).await?;
        let dir = dir.to_owned();
        let (file, path) = tokio::task::spawn_blocking(move || {
            tempfile::NamedTempFile::new_in(dir).map(|f| f.into_parts())
        })
        .await
        .map_err(io::Error::other)??;
        Ok(Self {
            file: tokio::fs::File::from_std(file),
            path,
            md5: md5::Md5::new(),
            sha256: sha2::Sha256::new(),
            size: 0,
            limit,
        })
    }

    /// Appends `bytes`.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), ReceiveError> {
        self.size += bytes.len() as u64;
        if self.size > self.limit {
            return Err(ReceiveError::TooLarge(self.limit));
        }
        self.md5.update(bytes);
        self.sha256.update(bytes);
        self.file.write_all(bytes).await?;
        Ok(())
    }

    /// Flushes the file and returns what was received, with the file.
    pub async fn finish(mut self) -> io::Result<(Received, Incoming)> {
        self.file.flush().await?;
        let received = Received {
            size: self.size,
            md5: hex::encode(self.md5.clone().finalize()),
            sha256: hex::encode(self.sha256.clone().finalize()),
        };
        Ok((received, self))
    }

    /// The temporary file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn into_path(self) -> tempfile::TempPath {
        self.path
    }
}

/// The blob store the settings name: [`LocalBlobs`] under `DATA_DIR/objects`, or [`S3Blobs`]
/// (checked by listing the bucket once). Received bodies go to `DATA_DIR/objects/.incoming`
/// with either.
pub async fn open(settings: &Settings) -> io::Result<Arc<dyn BlobStore>> {
    let root = settings.data_dir.join("objects");
    Ok(match &settings.knowledge.object_store {
        ObjectStoreSettings::Local => Arc::new(LocalBlobs::new(root)),
        ObjectStoreSettings::S3(s3) => {
            let blobs = S3Blobs::new(s3, root.join(".incoming"))?;
            blobs.check().await?;
            Arc::new(blobs)
        }
    })
}

/// Checks a blob name: `/`-separated, no empty, `.`, `..` or dot-led segment.
fn check_name(name: &str) -> io::Result<()> {
    if name.is_empty()
        || name
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == ".." || part.starts_with('.'))
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad blob name {name:?}"),
        ));
    }
    Ok(())
}

/// Blobs as files under a directory: blob `a/b` is the file `ROOT/a/b`.
#[derive(Debug, Clone)]
pub struct LocalBlobs {
    root: PathBuf,
    incoming: PathBuf,
}

impl LocalBlobs {
    /// Blobs under `root` (created on first write).
    pub fn new(root: PathBuf) -> Self {
        let incoming = root.join(".incoming");
        Self { root, incoming }
    }

    fn path_of(&self, name: &str) -> io::Result<PathBuf> {
        check_name(name)?;
        Ok(self.root.join(name))
    }
}

/// Reads `file` from where it is, `remaining` bytes at most, in 64 KiB pieces.
fn file_stream(file: tokio::fs::File, remaining: Option<u64>) -> BlobStream {
    futures::stream::unfold((file, remaining), |(mut file, remaining)| async move {
        let want = remaining.map_or(64 * 1024, |r| r.min(64 * 1024) as usize);
        if want == 0 {
            return None;
        }
        let mut buffer = vec![0u8; want];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(n) => {
                buffer.truncate(n);
                let remaining = remaining.map(|r| r - n as u64);
                Some((Ok(Bytes::from(buffer)), (file, remaining)))
            }
            Err(e) => Some((Err(e), (file, Some(0)))),
        }
    })
    .boxed()
}

#[async_trait]
impl BlobStore for LocalBlobs {
    async fn put(&self, name: &str, incoming: Incoming) -> io::Result<()> {
        let target = self.path_of(name)?;
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let file = incoming.file.into_std().await;
        let path = incoming.path;
        tokio::task::spawn_blocking(move || {
            file.sync_all()?;
            drop(file);
            path.persist(&target).map_err(|e| e.error)
        })
        .await
        .map_err(io::Error::other)?
    }

    async fn open(
        &self,
        name: &str,
        offset: u64,
        length: Option<u64>,
    ) -> io::Result<Option<BlobStream>> {
        let path = self.path_of(name)?;
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if offset > 0 {
            file.seek(io::SeekFrom::Start(offset)).await?;
        }
        Ok(Some(file_stream(file, length)))
    }

    async fn delete(&self, name: &str) -> io::Result<()> {
        match tokio::fs::remove_file(self.path_of(name)?).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> io::Result<()> {
        match tokio::fs::remove_dir_all(self.path_of(prefix)?).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn incoming_dir(&self) -> &Path {
        &self.incoming
    }
}

/// Bodies larger than this are uploaded to S3 in parts (8 MiB); smaller ones in one `PUT`.
pub const S3_MULTIPART_THRESHOLD: u64 = 8 * 1024 * 1024;
/// The size of one part of a multipart upload (S3 wants at least 5 MiB but for the last).
const S3_PART_BYTES: usize = 8 * 1024 * 1024;
/// Parts of one upload in flight at once.
const S3_PARTS_IN_FLIGHT: usize = 4;

/// Blobs as objects of an S3 bucket: blob `a/b` is the object `PREFIX/a/b`.
#[derive(Clone)]
pub struct S3Blobs {
    store: Arc<AmazonS3>,
    bucket: String,
    prefix: Option<String>,
    incoming: PathBuf,
}

impl std::fmt::Debug for S3Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Blobs")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("incoming", &self.incoming)
            .finish()
    }
}

/// An `object_store` error as an `io::Error` of the matching kind (a missing object is
/// `NotFound`).
fn io_error(error: object_store::Error) -> io::Error {
    use object_store::Error as E;
    let kind = match &error {
        E::NotFound { .. } => io::ErrorKind::NotFound,
        E::AlreadyExists { .. } => io::ErrorKind::AlreadyExists,
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => io::ErrorKind::PermissionDenied,
        E::InvalidPath { .. } => io::ErrorKind::InvalidInput,
        E::NotSupported { .. } | E::NotImplemented { .. } => io::ErrorKind::Unsupported,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, error)
}

impl S3Blobs {
    /// A client of the bucket `settings` name; received bodies are written to `incoming`.
    /// Nothing is sent until the first request ([`S3Blobs::check`] makes one).
    pub fn new(settings: &S3Settings, incoming: PathBuf) -> io::Result<Self> {
        let options = ClientOptions::new()
            .with_allow_http(settings.allow_http())
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(300));
        let retry = RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(30),
            ..RetryConfig::default()
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_allow_http(settings.allow_http())
            .with_client_options(options)
            .with_retry(retry);
        if let Some(endpoint) = &settings.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false);
        }
        if let (Some(id), Some(secret)) = (&settings.access_key_id, &settings.secret_access_key) {
            builder = builder
                .with_access_key_id(id)
                .with_secret_access_key(secret);
        }
        let store = builder.build().map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("S3 bucket {:?}: {e}", settings.bucket),
            )
        })?;
        Ok(Self {
            store: Arc::new(store),
            bucket: settings.bucket.clone(),
            prefix: settings.prefix.clone(),
            incoming,
        })
    }

    /// Lists the bucket (under the prefix) once: the bucket exists, the endpoint answers and
    /// the credentials are accepted.
    pub async fn check(&self) -> io::Result<()> {
        let prefix = self.prefix.as_deref().map(ObjectPath::from);
        self.store
            .list_with_delimiter(prefix.as_ref())
            .await
            .map(drop)
            .map_err(|e| io::Error::other(format!("cannot list S3 bucket {:?}: {e}", self.bucket)))
    }

    /// The object of blob `name`.
    fn location(&self, name: &str) -> io::Result<ObjectPath> {
        check_name(name)?;
        let key = match &self.prefix {
            Some(prefix) => format!("{prefix}/{name}"),
            None => name.to_owned(),
        };
        ObjectPath::parse(key).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
    }

    /// Uploads `file` in parts; the upload is aborted if anything fails.
    async fn put_in_parts(
        &self,
        location: &ObjectPath,
        mut file: tokio::fs::File,
    ) -> io::Result<()> {
        let upload = self.store.put_multipart(location).await.map_err(io_error)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, S3_PART_BYTES);
        let mut buffer = vec![0u8; 1024 * 1024];
        let sent: io::Result<()> = async {
            loop {
                let n = file.read(&mut buffer).await?;
                if n == 0 {
                    return Ok(());
                }
                writer
                    .wait_for_capacity(S3_PARTS_IN_FLIGHT)
                    .await
                    .map_err(io_error)?;
                writer.write(&buffer[..n]);
            }
        }
        .await;
        match sent {
            Ok(()) => writer.finish().await.map(drop).map_err(io_error),
            Err(e) => {
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(error = %abort, object = %location, "cannot abort an S3 upload");
                }
                Err(e)
            }
        }
    }
}

#[async_trait]
impl BlobStore for S3Blobs {
    async fn put(&self, name: &str, incoming: Incoming) -> io::Result<()> {
        let location = self.location(name)?;
        let Incoming {
            file, path, size, ..
        } = incoming;
        drop(file);
        let mut file = tokio::fs::File::open(&path).await?;
        if size > S3_MULTIPART_THRESHOLD {
            self.put_in_parts(&location, file).await?;
        } else {
            let mut bytes = Vec::with_capacity(size as usize);
            file.read_to_end(&mut bytes).await?;
            self.store
                .put(&location, Bytes::from(bytes).into())
                .await
                .map_err(io_error)?;
        }
        drop(path);
        Ok(())
    }

    async fn open(
        &self,
        name: &str,
        offset: u64,
        length: Option<u64>,
    ) -> io::Result<Option<BlobStream>> {
        let location = self.location(name)?;
        let range = match (offset, length) {
            // S3 has no empty range: ask whether the object exists and answer no bytes.
            (_, Some(0)) => {
                return match self.store.head(&location).await {
                    Ok(_) => Ok(Some(futures::stream::empty().boxed())),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(io_error(e)),
                }
            }
            (0, None) => None,
            (offset, None) => Some(GetRange::Offset(offset)),
            (offset, Some(length)) => {
                Some(GetRange::Bounded(offset..offset.saturating_add(length)))
            }
        };
        let options = GetOptions {
            range,
            ..GetOptions::default()
        };
        match self.store.get_opts(&location, options).await {
            Ok(result) => Ok(Some(result.into_stream().map_err(io_error).boxed())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(io_error(e)),
        }
    }

    async fn delete(&self, name: &str) -> io::Result<()> {
        match self.store.delete(&self.location(name)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(io_error(e)),
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> io::Result<()> {
        let prefix = self.location(prefix)?;
        let objects = self
            .store
            .list(Some(&prefix))
            .map_ok(|meta| meta.location)
            .boxed();
        let mut deleted = self.store.delete_stream(objects);
        while let Some(result) = deleted.next().await {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(io_error(e)),
            }
        }
        Ok(())
    }

    fn incoming_dir(&self) -> &Path {
        &self.incoming
    }
}

impl Incoming {
    /// Drops the temporary file.
    pub fn discard(self) {
        drop(self.into_path());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blobs_are_written_read_ranged_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = LocalBlobs::new(dir.path().join("objects"));
        let mut incoming = Incoming::create(blobs.incoming_dir(), 100).await.unwrap();
        incoming.write(b"hello ").await.unwrap();
        incoming.write(b"world").await.unwrap();
        let (received, incoming) = incoming.finish().await.unwrap();
        assert_eq!(received.size, 11);
        assert_eq!(received.md5, "5eb63bbbe01eeed093cb22bb8f5acdc3");
        blobs.put("org/a", incoming).await.unwrap();
        assert_eq!(
            blobs.read_all("org/a").await.unwrap().unwrap(),
            b"hello world"
        );
        let mut part = blobs.open("org/a", 6, Some(3)).await.unwrap().unwrap();
        assert_eq!(&part.next().await.unwrap().unwrap()[..], b"wor");
        blobs.delete("org/a").await.unwrap();
        assert!(blobs.read_all("org/a").await.unwrap().is_none());
        assert!(blobs.path_of("../etc").is_err());

        let mut big = Incoming::create(blobs.incoming_dir(), 4).await.unwrap();
        assert!(matches!(
            big.write(b"12345").await,
            Err(ReceiveError::TooLarge(4))
        ));
    }
}
