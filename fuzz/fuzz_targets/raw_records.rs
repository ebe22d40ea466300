//! A sequence of `raw_trades` records through the stream-processor's core, as its worker feeds
//! them: lines, each starting with its kind (`t` trade, `w` watermark, `g` feed gap) followed by
//! the record's bytes.
//!
//! Holds: no panic, whatever the records and their order; every record is either accepted or
//! rejected with a reason; the processor's state stays consistent enough to finish.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickflow_core::contract::Watermark;
use tickflow_core::processor::{ProcessorConfig, StreamProcessor};
use tickflow_core::reference::ReferenceData;

fuzz_target!(|data: &[u8]| {
    let reference = ReferenceData::bundled().expect("bundled reference data");
    let mut processor = StreamProcessor::new(ProcessorConfig::default(), reference).expect("default configuration");
    let mut metrics = Vec::new();
    for line in data.split(|&b| b == b'\n') {
        let Some((&kind, record)) = line.split_first() else { continue };
        match kind {
            b't' => {
                let _ = processor.process(record, &mut metrics);
            }
            b'w' => {
                if let Ok(watermark) = serde_json::from_slice::<Watermark>(record) {
                    processor.watermark(&watermark, &mut metrics);
                }
            }
            b'g' => {
                let _ = processor.feed_gap(record, &mut metrics);
            }
            _ => {}
        }
        metrics.clear();
    }
    processor.finish(&mut metrics);
});
