//! The process metrics Prometheus' client libraries export by convention (`process_*`), read
//! from `/proc/self` on each scrape: CPU time, resident memory, open file descriptors and the
//! start time, so dashboards show CPU and memory per service without a node exporter.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// Registers the process collector (Linux; elsewhere it exports nothing).
pub fn register(registry: &mut Registry) {
    registry.register_collector(Box::new(ProcessCollector));
}

#[derive(Debug)]
struct ProcessCollector;

/// What `/proc/self/stat` says, in the units Prometheus uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessStat {
    pub cpu_seconds: f64,
    pub resident_bytes: f64,
    pub start_time_seconds: f64,
}

/// Parses `/proc/self/stat` (fields after the parenthesised command name, which may hold
/// spaces), given the clock ticks per second, the page size and the boot time.
pub fn parse_stat(stat: &str, ticks_per_second: f64, page_bytes: f64, boot_time_seconds: f64) -> Option<ProcessStat> {
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    // After the name: state is field 3 of proc(5), so field N is fields[N - 3].
    let number = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<f64>().ok());
    Some(ProcessStat {
        cpu_seconds: (number(14)? + number(15)?) / ticks_per_second,
        resident_bytes: number(24)? * page_bytes,
        start_time_seconds: boot_time_seconds + number(22)? / ticks_per_second,
    })
}

fn boot_time_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines().find_map(|line| line.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok())
}

fn read() -> Option<(ProcessStat, f64)> {
    // Linux' USER_HZ is 100 on every architecture Rust targets; pages are 4 KiB on x86_64 and
    // aarch64 defaults (statm would say the same in pages).
    let stat = parse_stat(&std::fs::read_to_string("/proc/self/stat").ok()?, 100.0, 4096.0, boot_time_seconds()?)?;
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as f64;
    Some((stat, open_fds))
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some((stat, open_fds)) = read() else { return Ok(()) };
        let cpu = ConstCounter::new(stat.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            cpu.metric_type(),
        )?)?;
        for (name, help, value) in [
            ("process_resident_memory_bytes", "Resident memory size in bytes", stat.resident_bytes),
            (
                "process_start_time_seconds",
                "Start time of the process since the epoch in seconds",
                stat.start_time_seconds,
            ),
            ("process_open_fds", "Number of open file descriptors", open_fds),
        ] {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_with_spaces_in_the_name_is_read_by_field() {
        // proc(5): utime 14, stime 15, starttime 22, rss 24 (pages).
        let mut fields: Vec<String> = (3..=52).map(|n| n.to_string()).collect();
        fields[0] = "S".into();
        let line = format!("4242 (lake writer) {}", fields.join(" "));
        let stat = parse_stat(&line, 100.0, 4096.0, 1_000.0).expect("parses");
        assert_eq!(
            stat,
            ProcessStat { cpu_seconds: 0.29, resident_bytes: 24.0 * 4096.0, start_time_seconds: 1_000.22 }
        );
    }

    #[test]
    fn this_process_is_read() {
        let (stat, open_fds) = read().expect("/proc/self is readable");
        assert!(stat.resident_bytes > 1e6 && open_fds >= 1.0 && stat.start_time_seconds > 1.5e9, "{stat:?}");
    }
}
