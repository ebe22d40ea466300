//! What every tickflow service binary shares: command-line handling with one-line errors,
//! logging, graceful shutdown on SIGTERM/SIGINT, and an HTTP listener for `/metrics` (Prometheus
//! text format), `/healthz` and `/readyz`.

pub mod metrics;
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
const SECRET_BEARING: &[&str] = &["tungstenite", "tungstenite::handshake", "tungstenite::client"];

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

/// Serves `/metrics`, `/healthz` and `/readyz` on a thread of its own.
pub fn serve_http(address: SocketAddr, registry: Registry, readiness: Readiness) -> anyhow::Result<()> {
    let server =
        tiny_http::Server::http(address).map_err(|e| anyhow::anyhow!("cannot listen for HTTP on {address}: {e}"))?;
    std::thread::Builder::new().name("http".into()).spawn(move || {
        for request in server.incoming_requests() {
            let (status, body) = match request.url() {
                "/metrics" => {
                    let mut text = String::new();
                    match prometheus_client::encoding::text::encode(&mut text, &registry) {
                        Ok(()) => (200, text),
                        Err(_) => (500, "metrics could not be encoded\n".to_owned()),
                    }
                }
                "/healthz" => (200, "ok\n".to_owned()),
                "/readyz" if readiness.is_ready() => (200, "ready\n".to_owned()),
                "/readyz" => (503, "not ready\n".to_owned()),
                _ => (404, "not found\n".to_owned()),
            };
            let _ = request.respond(tiny_http::Response::from_string(body).with_status_code(status));
        }
    })?;
    Ok(())
}
