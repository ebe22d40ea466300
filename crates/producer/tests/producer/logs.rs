//! Every log line of this test binary, kept in memory so tests can search it.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

static LINES: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

struct Writer(Arc<Mutex<Vec<u8>>>);

impl Write for Writer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends every log line the services' filter lets through at `trace` to memory (once per process).
pub fn capture() {
    LINES.get_or_init(|| {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tickflow_service::log_filter(Some("trace")))
            .with_ansi(false)
            .with_writer(move || Writer(sink.clone()))
            .try_init();
        lines
    });
}

pub fn text() -> String {
    LINES
        .get()
        .map(|l| String::from_utf8_lossy(&l.lock().unwrap_or_else(|e| e.into_inner())).into_owned())
        .unwrap_or_default()
}
