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
pub fn wait_for_topics(kafka: &KafkaArgs, shutdown: &Shutdown, metrics: &ServiceMetrics) -> anyhow::Result<()> {
    let mut delay = Duration::from_millis(200);
    loop {
        match ensure_topics(kafka, &ALL_TOPICS, Duration::from_secs(10)) {
            Ok(()) => return Ok(()),
            Err(error) if error.is_transient() && !shutdown.requested() => {
                tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "Kafka not ready");
                ServiceMetrics::named(&metrics.retries, "ensure_topics").inc();
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(error) => return Err(error.into()),
        }
    }
}
