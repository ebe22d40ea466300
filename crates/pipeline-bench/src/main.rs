//! Helpers for the pipeline benchmark (`scripts/pipeline_bench.py`, figures in BENCHMARKS.md).
//!
//! - `observe`: reads `enriched_trades` and `realtime_metrics` from their ends and records, in
//!   HdrHistograms, how long after its exchange time each enriched trade became visible and how
//!   long after its close each candle became visible.
//! - `copy`: the baseline, a bare consume-and-produce copy of `raw_trades` to another topic with
//!   the same client settings the services use, and no processing at all.
//! - `read`: the lake-writer's floor, its input topics read with its consumer settings and
//!   nothing else.
//! - `peers-input`: the peers benchmark's `raw_trades` (`scripts/peers_bench.py`): the synthetic
//!   market with duplicates, stragglers, late trades and invalid records mixed in.

mod copy;
mod observe;
mod peers_input;
mod read;

use std::process::ExitCode;

use clap::Parser;
use tickflow_kafka::KafkaArgs;
use tickflow_service::{ServiceArgs, run_service};

#[derive(Debug, Parser)]
#[command(
    name = "pipeline-bench",
    version,
    about = "tickflow benchmark helpers: the latency observer, the copy and read baselines, the peers input"
)]
struct Args {
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    service: ServiceArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Latency of enriched trades and candles, read from the ends of the output topics.
    Observe(observe::ObserveArgs),
    /// The baseline: a bare consume-and-produce copy of raw_trades.
    Copy(copy::CopyArgs),
    /// The lake-writer's floor: read its input topics, and nothing else.
    Read(read::ReadArgs),
    /// Write the peers benchmark's raw_trades: the synthetic market with faults mixed in.
    PeersInput(peers_input::PeersInputArgs),
}

fn main() -> ExitCode {
    run_service(
        |args: &Args| &args.service,
        |args| {
            args.kafka.validate()?;
            let report = match args.command {
                Command::Observe(observe) => serde_json::to_value(observe::run(&args.kafka, &observe)?)?,
                Command::Copy(copy) => serde_json::to_value(copy::run(&args.kafka, &copy)?)?,
                Command::Read(read) => serde_json::to_value(read::run(&args.kafka, &read)?)?,
                Command::PeersInput(input) => serde_json::to_value(peers_input::run(&args.kafka, &input)?)?,
            };
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        },
    )
}
