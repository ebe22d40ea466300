//! The processor's state as a value, so a shell can persist it and restore it after a crash.
//! Instruments are stored by id, not by index, so a snapshot survives a reordered catalogue.

use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};
use smol_str::SmolStr;

use super::{ConfigError, InstrumentState, ProcessorConfig, SourceStatus, StreamProcessor};
use crate::reference::ReferenceData;

/// Everything a processor knows besides its configuration and reference data. Read back, it
/// holds its instruments' state (`I` is the default); taken from a live processor
/// ([`StreamProcessor::snapshot`]), it borrows them, so saving the state copies it only into
/// its serialized form.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcessorSnapshot<I = SavedInstruments> {
    /// The settings the state was built under: windows and lateness must match to restore.
    windows_us: Vec<i64>,
    allowed_lateness_us: i64,
    instruments: I,
    sources: [SourceStatus; 3],
    stream_watermark_us: i64,
    next_sweep_us: i64,
    arrivals: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the snapshot was taken with other window lengths or lateness")]
    SettingsChanged,
}

/// The state of a snapshot's instruments, by id, as read back.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SavedInstruments(Vec<(SmolStr, InstrumentState)>);

/// The state of a live processor's instruments, by id, serialized as the list
/// [`ProcessorSnapshot`] reads back.
#[derive(Debug, Clone, Copy)]
pub struct LiveInstruments<'a>(&'a StreamProcessor);

impl Serialize for LiveInstruments<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let StreamProcessor { instruments, reference, .. } = self.0;
        let mut list = serializer.serialize_seq(Some(instruments.iter().flatten().count()))?;
        for (state, instrument) in instruments.iter().zip(reference.instruments()) {
            if let Some(state) = state {
                list.serialize_element(&(&instrument.id, &**state))?;
            }
        }
        list.end()
    }
}

impl StreamProcessor {
    /// The current state, to be serialized (it borrows the processor).
    pub fn snapshot(&self) -> ProcessorSnapshot<LiveInstruments<'_>> {
        ProcessorSnapshot {
            windows_us: self.config.windows_us.clone(),
            allowed_lateness_us: self.config.allowed_lateness_us,
            instruments: LiveInstruments(self),
            sources: self.sources,
            stream_watermark_us: self.stream_watermark_us,
            next_sweep_us: self.next_sweep_us,
            arrivals: self.arrivals,
        }
    }

    /// A processor that continues exactly where the snapshot's processor stood. Instruments no
    /// longer in the reference data are dropped.
    pub fn restore(
        config: ProcessorConfig,
        reference: ReferenceData,
        snapshot: ProcessorSnapshot,
    ) -> Result<Self, RestoreError> {
        if snapshot.windows_us != config.windows_us || snapshot.allowed_lateness_us != config.allowed_lateness_us {
            return Err(RestoreError::SettingsChanged);
        }
        let mut processor = StreamProcessor::new(config, reference)?;
        for (id, state) in snapshot.instruments.0 {
            if let Some(ix) = processor.reference.lookup(&id) {
                processor.instruments[ix as usize] = Some(Box::new(state));
            }
        }
        processor.sources = snapshot.sources;
        processor.stream_watermark_us = snapshot.stream_watermark_us;
        processor.next_sweep_us = snapshot.next_sweep_us;
        processor.arrivals = snapshot.arrivals;
        Ok(processor)
    }
}
