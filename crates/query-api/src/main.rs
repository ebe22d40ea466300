//! The query-api binary: its command line and environment; the service is in `lib.rs`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use prometheus_client::registry::Registry;
use query_api::api::{Api, Limits};
use query_api::lake_files::LakeFiles;
use query_api::live::{LiveHub, follow};
use query_api::metrics::ApiMetrics;
use query_api::warehouse::{DuckdbSettings, Warehouse};
use tickflow_kafka::KafkaArgs;
use tickflow_service::shutdown::Shutdown;
use tickflow_service::startup::ReferenceArgs;
use tickflow_service::{Readiness, ServiceArgs, run_service};

/// Serves the marts, the fresh part of the lake and a live stream of realtime_metrics over HTTP.
#[derive(Debug, Parser)]
#[command(name = "query-api", version)]
struct Args {
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    service: ServiceArgs,
    #[command(flatten)]
    reference: ReferenceArgs,
    /// Address of the API, with /metrics, /healthz and /readyz beside it.
    #[arg(long, env = "QUERY_API_ADDR", default_value = "127.0.0.1:8000")]
    addr: SocketAddr,
    /// The published marts (scripts/marts.sh renames each build over it); watched and reopened.
    #[arg(long, env = "QUERY_API_MARTS", default_value = ".tickflow/warehouse/marts.duckdb")]
    marts: PathBuf,
    /// The lake: a directory (or file:///abs/dir) or s3://bucket/prefix.
    #[arg(long, env = "LAKE_URL", default_value = ".tickflow/lake")]
    lake_url: String,
    /// Requires `Authorization: Bearer <token>` on /v1 (the OpenAPI document stays open).
    #[arg(long, env = "QUERY_API_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A query running longer than this is stopped and answered 503.
    #[arg(long, env = "QUERY_API_TIMEOUT_MS", default_value_t = 10_000)]
    timeout_ms: u64,
    /// The longest time range one request may ask for, in hours.
    #[arg(long, env = "QUERY_API_MAX_RANGE_HOURS", default_value_t = 24 * 31)]
    max_range_hours: u64,
    /// How long before a range a lake file may have been written and still hold rows of it
    /// (the lake-writer's flush interval plus clock skew).
    #[arg(long, env = "QUERY_API_WRITE_MARGIN_S", default_value_t = 120)]
    write_margin_s: u64,
    /// How often the marts file is checked for a new build.
    #[arg(long, env = "QUERY_API_MARTS_CHECK_MS", default_value_t = 1_000)]
    marts_check_ms: u64,
    /// DuckDB's threads.
    #[arg(long, env = "QUERY_API_DUCKDB_THREADS", default_value_t = 2)]
    duckdb_threads: usize,
    /// DuckDB's memory limit.
    #[arg(long, env = "QUERY_API_DUCKDB_MEMORY", default_value = "1GB")]
    duckdb_memory: String,
    /// DuckDB's httpfs extension file, for an s3:// lake (the duckdb-extension-httpfs wheel ships it).
    #[arg(long, env = "QUERY_API_HTTPFS")]
    httpfs: Option<PathBuf>,
    /// Do not follow realtime_metrics (no Kafka; /v1/live then sends nothing).
    #[arg(long, env = "QUERY_API_NO_LIVE")]
    no_live: bool,
}

fn main() -> ExitCode {
    run_service(|args: &Args| &args.service, run)
}

/// DuckDB's set-up for an s3:// lake: httpfs and a secret from the AWS_* variables.
fn s3_setup(args: &Args) -> anyhow::Result<Vec<String>> {
    if !args.lake_url.starts_with("s3://") {
        return Ok(Vec::new());
    }
    let quote = |s: &str| s.replace('\'', "''");
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut statements = vec![match &args.httpfs {
        Some(path) => format!("LOAD '{}'", quote(&path.to_string_lossy())),
        None => "LOAD httpfs".to_owned(),
    }];
    let mut secret = vec!["TYPE s3".to_owned()];
    if let (Some(key), Some(secret_key)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        secret.push(format!("KEY_ID '{}', SECRET '{}'", quote(&key), quote(&secret_key)));
    }
    if let Some(region) = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")) {
        secret.push(format!("REGION '{}'", quote(&region)));
    }
    if let Some(endpoint) = env("AWS_ENDPOINT_URL").or_else(|| env("AWS_ENDPOINT")) {
        let (scheme, host) = endpoint.split_once("://").unwrap_or(("https", &endpoint));
        secret.push(format!(
            "ENDPOINT '{}', URL_STYLE 'path', USE_SSL {}",
            quote(host.trim_end_matches('/')),
            scheme == "https"
        ));
    }
    statements.push(format!("CREATE SECRET lake ({})", secret.join(", ")));
    Ok(statements)
}

fn run(args: Args) -> anyhow::Result<()> {
    let reference = args.reference.load()?;
    let settings = DuckdbSettings {
        threads: args.duckdb_threads,
        memory_limit: args.duckdb_memory.clone(),
        init_sql: s3_setup(&args)?,
    };
    let warehouse = Warehouse::open(args.marts.clone(), settings, Duration::from_millis(args.timeout_ms))
        .with_context(|| format!("opening the marts at {}", args.marts.display()))?;
    let lake = LakeFiles::open(&args.lake_url).with_context(|| format!("opening the lake at {}", args.lake_url))?;
    let shutdown = Shutdown::install()?;
    let mut registry = Registry::default();
    let metrics = ApiMetrics::register(&mut registry);
    tickflow_service::process::register(&mut registry);
    metrics.marts_published.set(warehouse.current().published_us.unwrap_or(0) / 1_000_000);
    let readiness = Readiness::default();
    let live = LiveHub::default();
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let limits = Limits {
        max_range: Duration::from_secs(args.max_range_hours * 3600),
        write_margin: Duration::from_secs(args.write_margin_s),
        max_lake_days: 31,
    };
    let follower = if args.no_live {
        None
    } else {
        Some(follow(args.kafka.clone(), live.clone(), metrics.clone(), shutdown.clone())?)
    };
    let api = Arc::new(Api {
        warehouse,
        lake,
        reference,
        live,
        limits,
        token: args.token.clone(),
        metrics,
        stopping: stopping.clone(),
    });

    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().thread_name("query-api").build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.addr).await.map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.addr))?;
        tracing::info!(addr = %args.addr, marts = %args.marts.display(), lake = args.lake_url, auth = args.token.is_some(), "query-api serving");
        tokio::spawn(query_api::watch_marts(Arc::clone(&api), Duration::from_millis(args.marts_check_ms), stopping.clone()));
        let app = query_api::app(Arc::clone(&api), registry, readiness.clone());
        readiness.set(true);
        let signal = shutdown.clone();
        let stopped = async move {
            while !signal.requested() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            tracing::info!("stopping: no new requests, open ones finish");
            let _ = stop.send(true);
        };
        axum::serve(listener, app).with_graceful_shutdown(stopped).await?;
        anyhow::Ok(())
    })?;
    readiness.set(false);
    if let Some(follower) = follower {
        let _ = follower.join();
    }
    tracing::info!("query-api stopped");
    Ok(())
}
