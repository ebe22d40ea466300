//! Start-up steps every service shares: reference data from the bundled catalogue or a folder.

use std::path::{Path, PathBuf};

use anyhow::Context;
use tickflow_core::reference::ReferenceData;

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
