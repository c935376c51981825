//! Object bytes, behind one small trait ([`BlobStore`]) so that a multi-node deployment can
//! keep them in a shared S3 bucket; this build ships the local-filesystem store
//! ([`LocalBlobs`], a directory under the data directory). An S3 backend (the `object_store`
//! crate's) is future work: with it, any node can serve any object.
//!
//! Bodies are received into a temporary file first ([`Incoming`]: size limit, MD5 and SHA-256
//! computed while writing), then handed to the store, which renames it into place — a blob is
//! never seen half-written.

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use md5::Digest as _;
use sha2::Digest as _;
use std::io;
use std::path::{Path, PathBuf};
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
