//! Start-up steps every service shares: reference data, and topics that may not exist yet on a
//! broker that may not be up yet.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use tickflow_core::contract::topics::ALL_TOPICS;
use tickflow_core::reference::ReferenceData;
use tickflow_kafka::KafkaArgs;
use tickflow_kafka::admin::ensure_topics;

use crate::metrics::ServiceMetrics;
use crate::shutdown::Shutdown;

/// Where reference data comes from.
#[derive(Debug, Clone, clap::Args)]
pub struct ReferenceArgs {
    /// A folder with instruments.csv and calendars.csv to use instead of the bundled reference data.
    #[arg(long, env = "TICKFLOW_REFERENCE_DIR")]
    pub reference_dir: Option<PathBuf>,
}

impl ReferenceArgs {
    pub fn load(&self) -> anyhow::Result<ReferenceData> {
        match self.reference_dir.as_deref() {
            None => Ok(ReferenceData::bundled()?),
            Some(dir) => {
                let read = |name: &str| -> anyhow::Result<String> {
                    let path: PathBuf = Path::new(dir).join(name);
                    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
                };
                Ok(ReferenceData::from_csv(&read("instruments.csv")?, &read("calendars.csv")?)?)
            }
        }
    }
}

/// Creates the pipeline's topics, retrying with capped backoff while the broker is not up.
/// Returns `false` if the service was asked to stop before that: a stop while waiting is
/// immediate and is not an error.
pub fn wait_for_topics(kafka: &KafkaArgs, shutdown: &Shutdown, metrics: &ServiceMetrics) -> anyhow::Result<bool> {
    let mut delay = Duration::from_millis(200);
    loop {
        if shutdown.requested() {
            return Ok(false);
        }
        // On its own thread, so a stop does not wait for the admin request to time out.
        let (done, outcome) = std::sync::mpsc::channel();
        let attempt = kafka.clone();
        std::thread::spawn(move || done.send(ensure_topics(&attempt, &ALL_TOPICS, Duration::from_secs(5))));
        let result = loop {
            match outcome.recv_timeout(Duration::from_millis(20)) {
                Ok(result) => break result,
                Err(_) if shutdown.requested() => return Ok(false),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => anyhow::bail!("creating the topics failed"),
            }
        };
        match result {
            Ok(()) => return Ok(true),
            Err(error) if error.is_transient() => {
                tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "Kafka not ready");
                ServiceMetrics::named(&metrics.retries, "ensure_topics").inc();
                let until = std::time::Instant::now() + delay;
                while std::time::Instant::now() < until && !shutdown.requested() {
                    std::thread::sleep(Duration::from_millis(20));
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(error) => return Err(error.into()),
        }
    }
}
