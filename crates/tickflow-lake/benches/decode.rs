//! Reading JSON records into Arrow columns, per record, one core: the lake's contract-driven
//! decoder against arrow-json (strict mode, the same schema) over the same lines: 20 000
//! enriched trades of the synthetic market through the real processor, as one file's records.
//! Run: `cargo bench -p tickflow-lake --bench decode`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tickflow_core::processor::{ProcessorConfig, StreamProcessor};
use tickflow_core::reference::ReferenceData;
use tickflow_core::synthetic::{SyntheticConfig, SyntheticMarket};
use tickflow_lake::LakeTable;
use tickflow_lake::decode::decode_lines;
use tickflow_lake::schema::columns_schema;

const TRADES: usize = 20_000;

fn trade_lines() -> Vec<u8> {
    let reference = ReferenceData::bundled().expect("reference data");
    let mut market = SyntheticMarket::new(&reference, SyntheticConfig::default());
    let mut processor = StreamProcessor::new(ProcessorConfig::default(), reference.clone()).expect("config");
    let (mut lines, mut count) = (Vec::new(), 0);
    while count < TRADES {
        let record = serde_json::to_vec(&market.next_trade()).expect("serializes");
        if let Ok(enriched) = processor.process(&record, &mut Vec::new()) {
            lines.extend(serde_json::to_vec(&enriched).expect("serializes"));
            lines.push(b'\n');
            count += 1;
        }
    }
    lines
}

fn decode(c: &mut Criterion) {
    let lines = trade_lines();
    let columns = LakeTable::TRADES.contract.columns().expect("contract");
    let schema = Arc::new(columns_schema(&columns));
    let mut group = c.benchmark_group("decode_trades");
    group.throughput(Throughput::Elements(TRADES as u64));
    group.sample_size(20);
    group.bench_function("arrow_json", |b| {
        b.iter(|| {
            let mut decoder = arrow_json::ReaderBuilder::new(Arc::clone(&schema))
                .with_strict_mode(true)
                .with_batch_size(TRADES)
                .build_decoder()
                .expect("decoder");
            let mut rest = lines.as_slice();
            while !rest.is_empty() {
                let used = decoder.decode(rest).expect("decodes");
                rest = &rest[used..];
            }
            black_box(decoder.flush().expect("flushes"))
        })
    });
    group
        .bench_function("contract_decoder", |b| b.iter(|| black_box(decode_lines(&columns, &lines).expect("decodes"))));
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
