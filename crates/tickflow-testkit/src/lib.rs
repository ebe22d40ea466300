//! Test helpers shared by the crates' integration tests: a real Kafka-protocol broker.
//!
//! [`Broker::start`] uses the Kafka at `KAFKA_BOOTSTRAP_SERVERS` when that is set, and otherwise
//! starts a tansu broker on a free loopback port for the test run (the binary comes from
//! `TICKFLOW_TANSU`, or from the cache that `scripts/tansu.sh` fills).

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tickflow_kafka::KafkaArgs;
use tickflow_kafka::consumer::ping;

#[derive(Debug)]
pub struct Broker {
    bootstrap: String,
    child: Option<Child>,
    command: Option<Command>,
    _data: Option<tempfile::TempDir>,
}

impl Broker {
    /// A broker for this test: the external one if configured, else a fresh tansu.
    pub fn start() -> Broker {
        match std::env::var("KAFKA_BOOTSTRAP_SERVERS") {
            Ok(servers) if !servers.trim().is_empty() => {
                let broker = Broker { bootstrap: servers, child: None, command: None, _data: None };
                broker.wait_ready();
                broker
            }
            _ => Broker::tansu(),
        }
    }

    /// A tansu broker on a free loopback port, in memory (tansu 0.6's sqlite storage stalls
    /// offset commits under load).
    pub fn tansu() -> Broker {
        let data = tempfile::tempdir().expect("a temporary directory");
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let engine = "memory://tansu/";
        let mut command = Command::new(tansu_binary());
        command
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url, "--storage-engine", engine])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut broker =
            Broker { bootstrap: format!("127.0.0.1:{port}"), child: None, command: Some(command), _data: Some(data) };
        broker.restart();
        broker
    }

    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    pub fn args(&self) -> KafkaArgs {
        KafkaArgs::for_servers(self.bootstrap.clone())
    }

    /// Kills the broker process with SIGKILL (tansu only).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same port and storage (tansu only).
    pub fn restart(&mut self) {
        self.kill();
        if let Some(command) = self.command.as_mut() {
            self.child = Some(command.spawn().expect("tansu starts"));
            self.wait_ready();
        }
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let args = self.args();
        loop {
            match ping(&args, Duration::from_secs(2)) {
                Ok(()) => return,
                Err(error) if Instant::now() > deadline => {
                    panic!("broker at {} never became ready: {error}", self.bootstrap)
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The tansu binary: `TICKFLOW_TANSU`, or the one `scripts/tansu.sh` builds into the cache.
pub fn tansu_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TICKFLOW_TANSU") {
        return PathBuf::from(path);
    }
    let cache = std::env::var_os("TICKFLOW_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/tickflow")))
        .unwrap_or_else(|| PathBuf::from(".cache/tickflow"));
    let path = cache.join("tools/tansu-0.6.0/bin/tansu");
    assert!(path.exists(), "no tansu at {}: run `bash scripts/tansu.sh` (make test does)", path.display());
    path
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// A topic or group name no other test uses.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{}-{}-{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}
