//! Test helpers shared by the crates' integration tests: a real Apache Kafka broker, a
//! partition read back whole, and waiting on a condition.
//!
//! [`Broker::start`] uses the Kafka at `KAFKA_BOOTSTRAP_SERVERS` when that is set, and otherwise
//! starts Apache Kafka (KRaft, one node) on a free loopback port with its log in a temporary
//! folder, through `scripts/kafka.sh` (which takes the jars from `KAFKA_HOME` or the cache, and
//! fetches them from Maven Central the first time). Java 17+ is needed.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tickflow_kafka::consumer::{self, ConsumerTuning, StartAt, ping};
use tickflow_kafka::{KafkaArgs, KafkaRecord, OwnedRecord};

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
                let mut broker = Broker { bootstrap: servers, child: None, command: None, _data: None };
                broker.wait_ready();
                broker
            }
            _ => Broker::kafka(),
        }
    }

    /// Apache Kafka on a free loopback port, its log in a temporary folder.
    pub fn kafka() -> Broker {
        let data = tempfile::tempdir().expect("a temporary directory");
        let port = free_port();
        let mut command = Command::new("bash");
        command
            .arg(kafka_script())
            .arg("broker")
            .arg(data.path())
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut broker =
            Broker { bootstrap: format!("127.0.0.1:{port}"), child: None, command: Some(command), _data: Some(data) };
        broker.restart();
        broker
    }

    /// A broker of this test's own (the pipeline's topic names are fixed, so a test of a service
    /// cannot share one) with `topics` created, one partition each, and the settings to reach it.
    pub fn own_with_topics(topics: &[&str]) -> (Broker, KafkaArgs) {
        let broker = Broker::kafka();
        let mut args = broker.args();
        args.topic_partitions = 1;
        tickflow_kafka::admin::ensure_topics(&args, topics, Duration::from_secs(60)).expect("topics created");
        (broker, args)
    }

    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    pub fn args(&self) -> KafkaArgs {
        KafkaArgs::for_servers(self.bootstrap.clone())
    }

    /// Kills the broker process with SIGKILL (one this test started).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same port and log (one this test started).
    pub fn restart(&mut self) {
        self.kill();
        if let Some(command) = self.command.as_mut() {
            self.child = Some(command.spawn().expect("Kafka starts"));
            self.wait_ready();
        }
    }

    fn wait_ready(&mut self) {
        // The first start of a fresh machine fetches the jars from Maven Central first.
        let deadline = Instant::now() + Duration::from_secs(180);
        let args = self.args();
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("the Kafka broker exited ({status}): run `bash scripts/kafka.sh broker /tmp/k 9092` to see why");
            }
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

/// `scripts/kafka.sh` of this repository.
pub fn kafka_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/kafka.sh")
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

/// Every record of a partition, read from the beginning up to its end as the broker reports it now.
pub fn read_partition(kafka: &KafkaArgs, topic: &str, partition: i32) -> Vec<OwnedRecord> {
    let timeout = Duration::from_secs(20);
    let reader = consumer::consumer(kafka, &unique_name("reader"), ConsumerTuning::default()).expect("a reader");
    let (low, high) = consumer::watermarks(&reader, topic, partition, timeout).expect("watermarks");
    let mut records = Vec::new();
    if high <= low {
        return records;
    }
    consumer::assign(&reader, &[(topic, partition, StartAt::Offset(low))]).expect("assigned");
    let deadline = Instant::now() + timeout;
    while records.last().is_none_or(|r: &OwnedRecord| r.offset() < high - 1) {
        assert!(Instant::now() < deadline, "{topic}-{partition} not read to its end ({high}) in time");
        match reader.poll(Duration::from_millis(100)) {
            Some(Ok(record)) => records.push(record.detach()),
            Some(Err(error)) => panic!("reading {topic}-{partition}: {error}"),
            None => {}
        }
    }
    records
}

/// Polls `done` every 20 ms until it holds; panics naming `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `service` on a thread of its own until `done` holds or the service ends by itself, then
/// calls `stop` (a service's shutdown) and returns how the service ended.
pub fn run_until<R: Send>(
    service: impl FnOnce() -> R + Send,
    what: &str,
    mut done: impl FnMut() -> bool,
    stop: impl FnOnce(),
) -> R {
    std::thread::scope(|scope| {
        let running = scope.spawn(service);
        wait_until(what, Duration::from_secs(60), || running.is_finished() || done());
        stop();
        running.join().expect("the service did not panic")
    })
}
