//! Connection settings, parsed once and validated before any client is built.

use std::fmt;
use std::str::FromStr;

use rdkafka::ClientConfig;

/// What can go wrong talking to Kafka, and whether waiting can help.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error("invalid Kafka setting: {0}")]
    Config(String),
    #[error("Kafka: {context}: {cause}")]
    Client { context: &'static str, cause: rdkafka::error::KafkaError },
    #[error("Kafka: {0} record(s) were not acknowledged")]
    Undelivered(u64),
    #[error("Kafka: {0}")]
    Timeout(&'static str),
    #[error("Kafka consumer group: {0}")]
    Rebalance(String),
    /// librdkafka's client can no longer work (for example a static member fenced by another
    /// with the same instance id); a new client is needed.
    #[error("Kafka: {context}: {cause} (fatal: the client cannot go on; restart the service)")]
    Fatal { context: &'static str, cause: rdkafka::error::KafkaError },
    /// The broker refused the client's credentials: waiting cannot help.
    #[error(
        "Kafka refused the credentials: {0} (check sasl.mechanism, sasl.username and sasl.password in KAFKA_PROPERTIES)"
    )]
    Authentication(String),
}

impl KafkaError {
    pub(crate) fn client(context: &'static str) -> impl FnOnce(rdkafka::error::KafkaError) -> KafkaError {
        move |cause| KafkaError::Client { context, cause }
    }

    /// Whether retrying later can succeed (the broker is down or busy), as opposed to a
    /// setting that will never work.
    pub fn is_transient(&self) -> bool {
        !matches!(
            self,
            KafkaError::Config(_) | KafkaError::Rebalance(_) | KafkaError::Fatal { .. } | KafkaError::Authentication(_)
        )
    }
}

/// One librdkafka property, `key=value`. Values of keys that look secret are never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaProperty {
    pub key: String,
    pub value: String,
}

impl KafkaProperty {
    fn is_secret(&self) -> bool {
        let key = self.key.to_ascii_lowercase();
        ["password", "secret", "token", "key"].iter().any(|word| key.contains(word)) && !key.ends_with(".location")
    }
}

impl FromStr for KafkaProperty {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once('=') {
            // `KAFKA_PROPERTIES=` (empty, as in .env.example) means no properties.
            None if text.trim().is_empty() => Ok(KafkaProperty { key: String::new(), value: String::new() }),
            Some((key, value)) if !key.trim().is_empty() => {
                Ok(KafkaProperty { key: key.trim().to_owned(), value: value.trim().to_owned() })
            }
            // The text may hold a secret, so the message does not repeat it.
            _ => Err("a Kafka property must look like key=value".to_owned()),
        }
    }
}

impl fmt::Debug for KafkaProperty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for KafkaProperty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_secret() { write!(f, "{}=[redacted]", self.key) } else { write!(f, "{}={}", self.key, self.value) }
    }
}

/// Kafka connection flags shared by every service.
#[derive(Debug, Clone, clap::Args)]
pub struct KafkaArgs {
    /// Comma-separated `host:port` list of Kafka brokers.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS", default_value = "127.0.0.1:9092")]
    pub bootstrap_servers: String,

    /// Extra librdkafka properties as `key=value`, comma-separated (SASL, TLS, tuning), e.g.
    /// `security.protocol=SASL_SSL,sasl.mechanism=SCRAM-SHA-512,sasl.username=u,sasl.password=p`.
    #[arg(long = "kafka-property", env = "KAFKA_PROPERTIES", value_delimiter = ',')]
    pub properties: Vec<KafkaProperty>,

    /// Partitions of the topics created at start-up when missing.
    #[arg(long, env = "KAFKA_TOPIC_PARTITIONS", default_value_t = 4)]
    pub topic_partitions: i32,

    /// Replication factor of the topics created at start-up when missing.
    #[arg(long, env = "KAFKA_REPLICATION_FACTOR", default_value_t = 1)]
    pub replication_factor: i32,
}

impl KafkaArgs {
    /// Settings for a broker at `bootstrap_servers` with everything else at its default.
    pub fn for_servers(bootstrap_servers: impl Into<String>) -> Self {
        KafkaArgs {
            bootstrap_servers: bootstrap_servers.into(),
            properties: Vec::new(),
            topic_partitions: 4,
            replication_factor: 1,
        }
    }

    /// Checks what can be checked without a broker.
    pub fn validate(&self) -> Result<(), KafkaError> {
        if self.bootstrap_servers.trim().is_empty() {
            return Err(KafkaError::Config("KAFKA_BOOTSTRAP_SERVERS is empty".into()));
        }
        for server in self.bootstrap_servers.split(',') {
            let server = server.trim();
            let server = server.rsplit_once("://").map_or(server, |(_, rest)| rest);
            let valid =
                server.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !valid {
                return Err(KafkaError::Config(format!("broker address {server:?} is not host:port")));
            }
        }
        if self.topic_partitions < 1 || self.replication_factor < 1 {
            return Err(KafkaError::Config("topic partitions and replication factor must be at least 1".into()));
        }
        Ok(())
    }

    /// The librdkafka properties given, without the blank ones an empty `KAFKA_PROPERTIES` makes.
    pub fn extra_properties(&self) -> impl Iterator<Item = &KafkaProperty> {
        self.properties.iter().filter(|property| !property.key.is_empty())
    }

    /// A client configuration with the bootstrap servers and every extra property.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers);
        for property in self.extra_properties() {
            config.set(&property.key, &property.value);
        }
        config
    }

    /// The effective settings for a start-up log line, secrets masked.
    pub fn describe(&self) -> String {
        let properties: Vec<String> = self.extra_properties().map(ToString::to_string).collect();
        format!("bootstrap.servers={} properties=[{}]", self.bootstrap_servers, properties.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_and_addresses_checked() {
        let mut args = KafkaArgs::for_servers("127.0.0.1:9092,broker:29092");
        args.properties =
            vec!["sasl.password=canary-7f3a".parse().expect("valid"), "linger.ms=1".parse().expect("valid")];
        assert!(args.validate().is_ok());
        let described = args.describe();
        assert!(!described.contains("canary-7f3a") && described.contains("sasl.password=[redacted]"), "{described}");
        assert!(described.contains("linger.ms=1"));
        assert!(format!("{args:?}").contains("[redacted]") && !format!("{args:?}").contains("canary"));
        assert!(KafkaArgs::for_servers("nonsense").validate().is_err());
        assert!(KafkaArgs::for_servers("host:notaport").validate().is_err());
        assert!("novalue".parse::<KafkaProperty>().is_err());
    }

    #[test]
    fn an_empty_properties_variable_means_no_properties() {
        #[derive(Debug, clap::Parser)]
        struct Cli {
            #[command(flatten)]
            kafka: KafkaArgs,
        }
        let cli = <Cli as clap::Parser>::try_parse_from(["test", "--kafka-property", ""]).expect("parses");
        assert_eq!(cli.kafka.extra_properties().count(), 0);
        assert!(cli.kafka.describe().ends_with("properties=[]"), "{}", cli.kafka.describe());
        assert!(cli.kafka.client_config().get("").is_none());
    }
}

#[cfg(test)]
mod error_tests {
    use super::KafkaError;

    #[test]
    fn a_client_error_names_its_cause_once() {
        let cause = rdkafka::error::KafkaError::AdminOp(rdkafka::types::RDKafkaErrorCode::OperationTimedOut);
        let error = KafkaError::Client { context: "creating topics", cause };
        let mut text = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(next) = source {
            text = format!("{text}: {next}");
            source = next.source();
        }
        assert_eq!(text.matches("OperationTimedOut").count(), 1, "{text}");
    }
}
