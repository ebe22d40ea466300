//! Create-only writes and progress markers on a real file system.

use bytes::Bytes;
use object_store::path::Path;
use tickflow_lake::encode::FileMetadata;
use tickflow_lake::store::{
    BatchMarker, PutOutcome, StoreError, latest_marker, missing_files, open_store, prune_markers, put_create,
    write_marker,
};

fn metadata(first_offset: i64) -> FileMetadata {
    FileMetadata {
        topic: "t".into(),
        partition: 0,
        first_offset,
        last_offset: first_offset,
        records: 1,
        batch_first: 0,
        batch_last: 9,
    }
}

fn parquet(metadata: &FileMetadata) -> Bytes {
    let line = b"{\"metric\":\"anomaly\",\"instrument_id\":\"A\",\"window_start_us\":0,\"window_length_us\":1,\"kind\":\"price_jump\",\"observed\":1.0,\"baseline_mean\":0.0,\"baseline_std\":1.0,\"score\":5.0,\"threshold\":4.0,\"lookback_windows\":20}\n";
    tickflow_lake::encode::encode_records(tickflow_lake::LakeTable::ANOMALIES, line, metadata).expect("encodes")
}

#[tokio::test]
async fn create_only_writes_accept_their_own_retry_and_refuse_anything_else() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_store(dir.path().to_str().expect("utf-8")).expect("opens");
    let path = Path::from("anomalies/date=1970-01-01/symbol=A/t-0-00000000000000000003.parquet");
    let ours = metadata(3);
    assert_eq!(put_create(store.as_ref(), &path, parquet(&ours), &ours).await.expect("writes"), PutOutcome::Written);
    assert_eq!(
        put_create(store.as_ref(), &path, parquet(&ours), &ours).await.expect("retry"),
        PutOutcome::AlreadyThere
    );
    let other = metadata(4);
    let conflict = put_create(store.as_ref(), &path, parquet(&other), &other).await;
    assert!(matches!(conflict, Err(StoreError::Conflict { .. })), "{conflict:?}");
    assert!(dir.path().join(path.as_ref()).exists(), "a real file on disk");
}

#[tokio::test]
async fn the_latest_marker_tells_where_to_resume() {
    let store = open_store("memory://").expect("opens");
    assert_eq!(latest_marker(store.as_ref(), "t", 0).await.expect("lists"), None);
    for first in [0, 10, 20] {
        let marker = BatchMarker {
            topic: "t".into(),
            partition: 0,
            first_offset: first,
            last_offset: first + 9,
            files: vec![format!("x/{first}.parquet")],
        };
        write_marker(store.as_ref(), &marker).await.expect("writes");
    }
    let latest = latest_marker(store.as_ref(), "t", 0).await.expect("lists").expect("a marker");
    assert_eq!((latest.first_offset, latest.last_offset), (20, 29));
    assert_eq!(missing_files(store.as_ref(), &latest).await.expect("checks"), vec!["x/20.parquet".to_owned()]);
    prune_markers(store.as_ref(), "t", 0, 1).await.expect("prunes");
    assert_eq!(latest_marker(store.as_ref(), "t", 0).await.expect("lists").map(|m| m.first_offset), Some(20));
    assert!(latest_marker(store.as_ref(), "t", 1).await.expect("lists").is_none());
}

#[test]
fn bad_lake_locations_are_refused() {
    assert!(open_store("ftp://somewhere").is_err());
    assert!(open_store("/proc/definitely/not/writable").is_err());
}

/// An error and its causes as `anyhow`'s `{:#}` prints them: each message, then its source's.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

#[test]
fn an_unusable_lake_names_its_cause_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, b"").expect("writes");
    let error = open_store(&blocker.join("lake").display().to_string()).expect_err("a file is in the way");
    let text = chain(&error);
    assert!(text.contains("is not usable"), "{text}");
    let parts: Vec<_> = text.split(": ").collect();
    let unique: std::collections::BTreeSet<_> = parts.iter().collect();
    assert_eq!(parts.len(), unique.len(), "a cause is repeated: {text}");
}
