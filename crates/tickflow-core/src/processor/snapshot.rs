//! The processor's state as a value, so a shell can persist it and restore it after a crash.
//! Instruments are stored by id, not by index, so a snapshot survives a reordered catalogue.

use serde::{Deserialize, Serialize};
use smol_str::SmolStr;

use super::{ConfigError, InstrumentState, ProcessorConfig, SourceStatus, StreamProcessor};
use crate::reference::ReferenceData;

/// Everything a processor knows besides its configuration and reference data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcessorSnapshot {
    /// The settings the state was built under: windows and lateness must match to restore.
    windows_us: Vec<i64>,
    allowed_lateness_us: i64,
    instruments: Vec<(SmolStr, InstrumentState)>,
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

impl StreamProcessor {
    /// A copy of the current state.
    pub fn snapshot(&self) -> ProcessorSnapshot {
        let instruments = self
            .instruments
            .iter()
            .enumerate()
            .filter_map(|(ix, state)| state.as_ref().map(|s| (self.reference.instruments()[ix].id.clone(), s.clone())))
            .collect();
        ProcessorSnapshot {
            windows_us: self.config.windows_us.clone(),
            allowed_lateness_us: self.config.allowed_lateness_us,
            instruments,
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
        for (id, state) in snapshot.instruments {
            if let Some(ix) = processor.reference.lookup(&id) {
                processor.instruments[ix as usize] = Some(state);
            }
        }
        processor.sources = snapshot.sources;
        processor.stream_watermark_us = snapshot.stream_watermark_us;
        processor.next_sweep_us = snapshot.next_sweep_us;
        processor.arrivals = snapshot.arrivals;
        Ok(processor)
    }
}
