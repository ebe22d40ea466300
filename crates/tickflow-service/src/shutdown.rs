//! Graceful stop: the first SIGTERM or SIGINT asks the service to finish its in-flight work,
//! flush and commit; a second one ends the process at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};

#[derive(Debug, Clone)]
pub struct Shutdown(Arc<AtomicBool>);

impl Shutdown {
    pub fn install() -> std::io::Result<Self> {
        let flag = Arc::new(AtomicBool::new(false));
        for signal in [SIGTERM, SIGINT] {
            // A signal while the flag is already set exits immediately.
            signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&flag))?;
            signal_hook::flag::register(signal, Arc::clone(&flag))?;
        }
        Ok(Shutdown(flag))
    }

    /// A flag no signal sets: for a part that runs inside another program or a test.
    pub fn manual() -> Self {
        Shutdown(Arc::new(AtomicBool::new(false)))
    }

    pub fn requested(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Asks for a stop from inside the process (a time limit, a fatal condition).
    pub fn request(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
