//! Where a partition resumes, as the lake says: after the latest complete batch, or at the start
//! of an interrupted one, which must then end exactly where its marker says.

use crate::writer::LakeWriter;

/// Where reading a partition starts, and where its first batch must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumePoint {
    /// The first offset to read (`None`: the lake has no marker; the committed offset).
    pub start: Option<i64>,
    /// The last offset of an interrupted batch that is being completed.
    pub forced_last: Option<i64>,
}

/// The resume point of a partition from its latest marker and the files that exist.
pub fn resume_point(writer: &LakeWriter, topic: &str, partition: i32) -> anyhow::Result<ResumePoint> {
    let Some(marker) = writer.latest_marker(topic, partition)? else {
        return Ok(ResumePoint { start: None, forced_last: None });
    };
    let missing = writer.missing_files(&marker)?;
    if missing.is_empty() {
        return Ok(ResumePoint { start: Some(marker.last_offset + 1), forced_last: None });
    }
    tracing::info!(
        topic,
        partition,
        first = marker.first_offset,
        last = marker.last_offset,
        missing = missing.len(),
        "completing an interrupted batch"
    );
    Ok(ResumePoint { start: Some(marker.first_offset), forced_last: Some(marker.last_offset) })
}
