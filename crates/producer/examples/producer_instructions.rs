//! The producer's work per trade message counted in instructions rather than time: one pass of
//! the `producer_frames` benchmark's work over its 50 000 frames of one venue, to run under
//! `valgrind --tool=callgrind` (`scripts/bench-producer-instructions.sh` runs it and subtracts
//! the `setup` pass, which only makes the frames). Instruction counts repeat exactly for the same
//! binary, whatever else the machine is doing. Usage:
//! `producer_instructions <binance|coinbase|finnhub> <setup|normalize|client>`.

#[path = "../benches/support/mod.rs"]
mod support;

use producer::live::FeedCounters;
use prometheus_client::registry::Registry;
use tickflow_core::contract::Venue;
use tickflow_core::reference::ReferenceData;
use tickflow_core::validate::ValidationRules;
use tickflow_core::venue::NormalizeContext;
use tickflow_service::metrics::ServiceMetrics;

fn main() -> anyhow::Result<()> {
    let usage = "usage: producer_instructions <binance|coinbase|finnhub> <setup|normalize|client>";
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [venue, mode] = args.as_slice() else { anyhow::bail!(usage) };
    let venue = Venue::ALL.into_iter().find(|v| v.as_str() == venue).ok_or_else(|| anyhow::anyhow!(usage))?;
    let reference = ReferenceData::bundled()?;
    let rules = ValidationRules::default();
    let counters = FeedCounters::new(&ServiceMetrics::register(&mut Registry::default()), "bench");
    let frames = support::frames(&reference, venue);
    let mut buffer = Vec::with_capacity(1_024);
    match mode.as_str() {
        "setup" => {}
        "normalize" => {
            for (frame, receive_time_us) in &frames {
                let context =
                    NormalizeContext { reference: &reference, rules: &rules, receive_time_us: *receive_time_us };
                support::publish(venue, frame, &context, &mut buffer);
            }
        }
        "client" => {
            let encoded = support::client_and_publisher(venue, &frames, &reference, &rules, &counters, &mut buffer);
            println!("{encoded} trades encoded by the client");
        }
        _ => anyhow::bail!(usage),
    }
    Ok(())
}
