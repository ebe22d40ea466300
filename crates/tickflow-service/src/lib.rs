//! What every tickflow service binary shares: command-line handling with one-line errors,
//! logging, graceful shutdown on SIGTERM/SIGINT, and an HTTP listener for `/metrics` (Prometheus
//! text format), `/healthz` and `/readyz`.

pub mod memory;
pub mod metrics;
pub mod process;
pub mod shutdown;
pub mod startup;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use prometheus_client::registry::Registry;

/// Flags every service takes.
#[derive(Debug, Clone, clap::Args)]
pub struct ServiceArgs {
    /// Log format: `text` for people, `json` for log pipelines.
    #[arg(long, env = "TICKFLOW_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The wall clock in microseconds since the epoch: receive times, rejection times, latencies.
pub fn now_us() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// The whole life of a service binary: parse the command line, start logging, run `body`, and
/// turn its error into one line on stderr.
pub fn run_service<A: clap::Parser>(
    service_args: impl Fn(&A) -> &ServiceArgs,
    body: impl FnOnce(A) -> anyhow::Result<()>,
) -> ExitCode {
    let args: A = parse_args();
    init_logging(service_args(&args).log_format);
    exit_with(body(args))
}

/// Parses the command line; on a bad flag prints one line and exits with status 2.
pub fn parse_args<A: clap::Parser>() -> A {
    match A::try_parse() {
        Ok(args) => args,
        Err(error) => {
            use clap::error::ErrorKind;
            if matches!(error.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                error.exit();
            }
            let rendered = error.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments").trim_start_matches("error: ");
            eprintln!("{}: {first} (see --help)", binary_name());
            std::process::exit(2);
        }
    }
}

/// Runs a service body and turns an error into one line on stderr and exit status 1.
pub fn exit_with(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{}: {error:#}", binary_name());
            ExitCode::FAILURE
        }
    }
}

fn binary_name() -> String {
    std::env::args().next().and_then(|a| a.rsplit('/').next().map(str::to_owned)).unwrap_or_else(|| "tickflow".into())
}

/// Crates whose logs stay at info or above whatever `RUST_LOG` asks: the WebSocket library logs
/// request URLs and handshakes at debug and trace, and Finnhub's API key is in its URL.
const SECRET_BEARING: &[&str] = &["tungstenite", "tungstenite::handshake", "tungstenite::client", "tokio_tungstenite"];

/// The filter every service logs through: `RUST_LOG` (default `info`), with [`SECRET_BEARING`]
/// crates capped at info.
pub fn log_filter(rust_log: Option<&str>) -> tracing_subscriber::EnvFilter {
    let asked = rust_log.filter(|s| !s.trim().is_empty()).unwrap_or("info,librdkafka=warn,rdkafka=warn");
    let capped: Vec<String> = SECRET_BEARING.iter().map(|target| format!("{target}=info")).collect();
    tracing_subscriber::EnvFilter::try_new(format!("{asked},{}", capped.join(",")))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
}

/// Logs to stderr, filtered by [`log_filter`].
pub fn init_logging(format: LogFormat) {
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// What a running service holds on to: its stop signal, its metrics and its readiness.
#[derive(Debug, Clone)]
pub struct Service {
    pub shutdown: shutdown::Shutdown,
    pub metrics: metrics::ServiceMetrics,
    pub readiness: Readiness,
}

impl Service {
    /// Installs the signal handlers and starts the HTTP listener on `http_addr`.
    pub fn start(http_addr: SocketAddr) -> anyhow::Result<Self> {
        let shutdown = shutdown::Shutdown::install()?;
        let mut registry = Registry::default();
        let metrics = metrics::ServiceMetrics::register(&mut registry);
        process::register(&mut registry);
        let readiness = Readiness::default();
        serve_http(http_addr, registry, readiness.clone())?;
        Ok(Service { shutdown, metrics, readiness })
    }
}

/// Readiness, as `/readyz` reports it.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` (axum, on a thread and runtime of its own, so the
/// service's own loop never waits for a scrape). The address is bound before this returns, so
/// a port in use is a start-up error.
pub fn serve_http(address: SocketAddr, registry: Registry, readiness: Readiness) -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind(address)
        .map_err(|e| anyhow::anyhow!("cannot listen for HTTP on {address}: {e}"))?;
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
    let app = http_routes(Arc::new(registry), readiness);
    std::thread::Builder::new().name("http".into()).spawn(move || {
        runtime.block_on(async move {
            match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => {
                    if let Err(error) = axum::serve(listener, app).await {
                        tracing::error!(%error, "the HTTP listener stopped");
                    }
                }
                Err(error) => tracing::error!(%error, "the HTTP listener could not start"),
            }
        });
    })?;
    Ok(())
}

/// The routes of [`serve_http`], for a server of the caller's (a query API mounts them next to its own).
pub fn http_routes(registry: Arc<Registry>, readiness: Readiness) -> axum::Router {
    use axum::http::StatusCode;
    use axum::routing::get;
    let metrics = move || {
        let registry = Arc::clone(&registry);
        async move {
            let mut text = String::new();
            match prometheus_client::encoding::text::encode(&mut text, &registry) {
                Ok(()) => (StatusCode::OK, [("content-type", PROMETHEUS_TEXT)], text),
                Err(_) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    [("content-type", "text/plain")],
                    "metrics could not be encoded\n".into(),
                ),
            }
        }
    };
    let ready = move || {
        let ready = readiness.is_ready();
        async move { if ready { (StatusCode::OK, "ready\n") } else { (StatusCode::SERVICE_UNAVAILABLE, "not ready\n") } }
    };
    axum::Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
}

/// The content type of the Prometheus text exposition format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod http_tests {
    use std::io::{Read, Write};

    use super::*;

    fn get(address: SocketAddr, path: &str) -> (u16, String) {
        let mut stream = std::net::TcpStream::connect(address).expect("connects");
        write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").expect("sends");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("reads");
        let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
        (status, response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default())
    }

    #[test]
    fn metrics_health_and_readiness_are_served() {
        let mut registry = Registry::default();
        let metrics = metrics::ServiceMetrics::register(&mut registry);
        process::register(&mut registry);
        metrics.counter_in("raw_trades").inc_by(7);
        let readiness = Readiness::default();
        let address = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port");
        serve_http(address, registry, readiness.clone()).expect("listens");
        let busy = serve_http(address, Registry::default(), Readiness::default()).expect_err("the port is taken");
        assert!(busy.to_string().contains("cannot listen for HTTP"), "{busy}");

        let (status, body) = get(address, "/metrics");
        assert_eq!(status, 200);
        assert!(body.contains("tickflow_records_in_total{topic=\"raw_trades\"} 7"), "{body}");
        assert!(
            body.contains("\nprocess_cpu_seconds_total ") && body.contains("\nprocess_resident_memory_bytes "),
            "{body}"
        );
        assert_eq!(get(address, "/healthz"), (200, "ok\n".into()));
        assert_eq!(get(address, "/readyz"), (503, "not ready\n".into()));
        readiness.set(true);
        assert_eq!(get(address, "/readyz"), (200, "ready\n".into()));
        assert_eq!(get(address, "/nope").0, 404);
    }
}
