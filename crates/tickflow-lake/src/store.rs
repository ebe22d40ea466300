//! The object store and the lake's commit protocol.
//!
//! A lake-writer batch is a contiguous range of offsets of one topic partition. Before any of
//! its files is written, a marker `_progress/<topic>/<partition>/<first offset>.json` records
//! the range and the files it will produce. Files are written create-only: if one exists
//! already, its metadata must name exactly the same records (an earlier attempt of ours), or
//! the write stops with a conflict instead of overwriting. On restart the latest marker says
//! where to resume: after its range if all its files exist, or at its start, replaying exactly
//! that range, if some are missing. Readers only ever see whole files.

use std::sync::Arc;

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::encode::{FileMetadata, read_metadata};
use crate::layout::{progress_dir, progress_marker};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("lake URL {0:?} is not file://, s3:// or memory://")]
    Url(String),
    #[error("the lake at {path} is not usable: {cause}")]
    Local { path: String, cause: std::io::Error },
    #[error("object store: {0}")]
    ObjectStore(object_store::Error),
    #[error("{path} exists with other records than this write: stopping instead of overwriting it")]
    Conflict { path: String },
    #[error("progress marker {path} is unreadable")]
    Marker { path: String },
}

// Causes are part of the messages, not `source`s, so a chain of causes prints each once.
impl From<object_store::Error> for StoreError {
    fn from(cause: object_store::Error) -> Self {
        StoreError::ObjectStore(cause)
    }
}

impl StoreError {
    /// Whether retrying later can help (the store is unreachable), as opposed to a broken
    /// setting or a conflict that needs a person.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::ObjectStore(e) if !matches!(e, object_store::Error::NotImplemented | object_store::Error::UnknownConfigurationKey { .. }))
    }
}

/// Opens the lake at `url`: `file:///abs/dir` or a plain directory, `s3://bucket/prefix`
/// (endpoint, region, credentials and path-style from the `AWS_*` environment variables), or
/// `memory://` for tests.
pub fn open_store(url: &str) -> Result<Arc<dyn ObjectStore>, StoreError> {
    if url.starts_with("memory://") {
        return Ok(Arc::new(InMemory::new()));
    }
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(StoreError::Url(url.to_owned()));
        }
        let s3 = AmazonS3Builder::from_env().with_bucket_name(bucket).build()?;
        let prefix = prefix.trim_matches('/');
        return Ok(if prefix.is_empty() { Arc::new(s3) } else { Arc::new(PrefixStore::new(s3, prefix)) });
    }
    let directory = url.strip_prefix("file://").unwrap_or(url);
    if directory.is_empty() || url.contains("://") && !url.starts_with("file://") {
        return Err(StoreError::Url(url.to_owned()));
    }
    let local = |cause| StoreError::Local { path: directory.to_owned(), cause };
    std::fs::create_dir_all(directory).map_err(local)?;
    let probe = std::path::Path::new(directory).join(".tickflow-writable");
    std::fs::write(&probe, b"").map_err(local)?;
    let _ = std::fs::remove_file(probe);
    let absolute = std::fs::canonicalize(directory).map_err(local)?;
    Ok(Arc::new(LocalFileSystem::new_with_prefix(absolute)?))
}

/// Deletes temporary files a killed writer left in a local lake (`<file>.parquet#<n>`: the
/// local object store writes to such a name and renames it when complete). Readers never see
/// them, since they read only `*.parquet`; this only reclaims the space.
pub fn remove_local_leftovers(url: &str) -> std::io::Result<usize> {
    if url.contains("://") && !url.starts_with("file://") {
        return Ok(0);
    }
    let root = std::path::PathBuf::from(url.strip_prefix("file://").unwrap_or(url));
    let mut removed = 0;
    let mut folders = vec![root];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.contains(".parquet#")) {
                std::fs::remove_file(&path)?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// What a create-only write found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Written,
    /// The same records were already there from an earlier attempt.
    AlreadyThere,
}

/// Writes `file` at `path` unless something is there; an existing file is accepted only if its
/// metadata equals `expected`.
pub async fn put_create(
    store: &dyn ObjectStore,
    path: &Path,
    file: Bytes,
    expected: &FileMetadata,
) -> Result<PutOutcome, StoreError> {
    let options = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
    match store.put_opts(path, PutPayload::from_bytes(file), options).await {
        Ok(_) => Ok(PutOutcome::Written),
        Err(object_store::Error::AlreadyExists { .. }) => {
            let existing = store.get(path).await?.bytes().await?;
            if read_metadata(&existing).as_ref() == Some(expected) {
                Ok(PutOutcome::AlreadyThere)
            } else {
                Err(StoreError::Conflict { path: path.to_string() })
            }
        }
        Err(error) => Err(error.into()),
    }
}

/// The records a batch covers and the files it writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchMarker {
    pub topic: String,
    pub partition: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub files: Vec<String>,
}

pub async fn write_marker(store: &dyn ObjectStore, marker: &BatchMarker) -> Result<(), StoreError> {
    let path = progress_marker(&marker.topic, marker.partition, marker.first_offset);
    let body = serde_json::to_vec(marker).map_err(|_| StoreError::Marker { path: path.to_string() })?;
    store.put(&path, PutPayload::from(body)).await?;
    Ok(())
}

/// Marker paths of a topic partition, oldest first.
async fn marker_paths(store: &dyn ObjectStore, topic: &str, partition: i32) -> Result<Vec<Path>, StoreError> {
    use futures_util::TryStreamExt;
    let listed: Vec<_> = store.list(Some(&progress_dir(topic, partition))).try_collect().await?;
    let mut paths: Vec<Path> =
        listed.into_iter().map(|meta| meta.location).filter(|p| p.as_ref().ends_with(".json")).collect();
    paths.sort();
    Ok(paths)
}

pub async fn latest_marker(
    store: &dyn ObjectStore,
    topic: &str,
    partition: i32,
) -> Result<Option<BatchMarker>, StoreError> {
    let Some(path) = marker_paths(store, topic, partition).await?.pop() else { return Ok(None) };
    let body = store.get(&path).await?.bytes().await?;
    serde_json::from_slice(&body).map(Some).map_err(|_| StoreError::Marker { path: path.to_string() })
}

/// Deletes all but the newest `keep` markers of a topic partition.
pub async fn prune_markers(
    store: &dyn ObjectStore,
    topic: &str,
    partition: i32,
    keep: usize,
) -> Result<(), StoreError> {
    let paths = marker_paths(store, topic, partition).await?;
    for path in paths.iter().take(paths.len().saturating_sub(keep)) {
        store.delete(path).await?;
    }
    Ok(())
}

/// The files a marker lists that are not in the store.
pub async fn missing_files(store: &dyn ObjectStore, marker: &BatchMarker) -> Result<Vec<String>, StoreError> {
    let mut missing = Vec::new();
    for file in &marker.files {
        match store.head(&Path::from(file.as_str())).await {
            Ok(_) => {}
            Err(object_store::Error::NotFound { .. }) => missing.push(file.clone()),
            Err(error) => return Err(error.into()),
        }
    }
    Ok(missing)
}
