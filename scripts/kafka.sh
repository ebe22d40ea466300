#!/usr/bin/env bash
# Apache Kafka 4.4 (KRaft: one node, broker and controller combined) for the local stack and the
# tests. Java 17+ is needed; the jars come from KAFKA_HOME/libs when KAFKA_HOME names a Kafka
# distribution, else from Maven Central into the cache (scripts/kafka/pom.xml, once: ~30 s).
#
#   scripts/kafka.sh libs                      prints the folder of the broker's jars (fetching them)
#   scripts/kafka.sh broker DIR PORT [HEAP]    runs a broker on 127.0.0.1:PORT with its log and
#                                              settings in DIR (formatted on first use), in the
#                                              foreground; the controller listens on a free port.
#                                              HEAP: -Xmx (default 512m).
#   scripts/kafka.sh join DIR PORT FIRST_DIR   a second broker (node 2) joining FIRST_DIR's cluster
#
# With KAFKA_SCRAM_USER and KAFKA_SCRAM_PASSWORD set when DIR is first formatted, PORT is a
# SASL_PLAINTEXT listener that takes only SCRAM-SHA-512 logins: that user, and the broker's own
# (a random password kept in DIR). Clients then need KAFKA_PROPERTIES=security.protocol=
# SASL_PLAINTEXT,sasl.mechanism=SCRAM-SHA-512,sasl.username=USER,sasl.password=PASSWORD.
set -euo pipefail
source "$(dirname "$0")/env.sh"
version=4.4.0

need_java() {
  if ! command -v java >/dev/null 2>&1; then
    echo "tickflow runs Apache Kafka, which needs Java 17 or newer: sudo apt-get install -y openjdk-17-jre-headless" >&2
    exit 1
  fi
  local major
  major="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
  if [ "${major%%.*}" -lt 17 ] 2>/dev/null; then
    echo "Apache Kafka $version needs Java 17 or newer; this java is $major (set PATH or JAVA_HOME)" >&2
    exit 1
  fi
}

libs() {
  if [ -n "${KAFKA_HOME:-}" ]; then
    [ -d "$KAFKA_HOME/libs" ] || { echo "KAFKA_HOME=$KAFKA_HOME has no libs/ folder" >&2; exit 1; }
    echo "$KAFKA_HOME/libs"
    return
  fi
  local dir="$TICKFLOW_CACHE/tools/kafka-$version/libs"
  if [ ! -f "$dir/.complete" ]; then
    if ! command -v mvn >/dev/null 2>&1; then
      echo "fetching Apache Kafka needs Maven (sudo apt-get install -y maven), or KAFKA_HOME set to a Kafka distribution" >&2
      exit 1
    fi
    echo "fetching Apache Kafka $version's jars from Maven Central into $dir (first run only)" >&2
    rm -rf "$dir"
    mvn -q -B -f "$TICKFLOW_ROOT/scripts/kafka/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$dir" >&2
    touch "$dir/.complete"
  fi
  echo "$dir"
}

# A free port below the kernel's ephemeral range: one the kernel picks itself may be taken as the
# local port of any outgoing connection before the broker listens on it (or listens again after
# a restart).
free_port() {
  python3 - <<'PY'
import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
while True:
    port = random.randrange(20000, min(low, 32768))
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
    print(port)
    break
PY
}

broker() {
  local dir="$1" port="$2" heap="${3:-512m}"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  local classpath controller
  classpath="$(libs)/*"
  # The controller's port is kept with the data: a restart finds the same quorum.
  if [ -s "$dir/controller.port" ]; then controller="$(cat "$dir/controller.port")"; else
    controller="$(free_port)"; echo "$controller" > "$dir/controller.port"; fi
  local listener=PLAINTEXT scram=()
  if [ -n "${KAFKA_SCRAM_USER:-}" ] || [ -s "$dir/broker.password" ]; then
    listener=SASL_PLAINTEXT
    [ -s "$dir/broker.password" ] || (umask 077; python3 -c 'import secrets; print(secrets.token_hex(16))' > "$dir/broker.password")
    local broker_password
    broker_password="$(cat "$dir/broker.password")"
    scram=(--add-scram "SCRAM-SHA-512=[name=broker,password=$broker_password]")
    if [ -n "${KAFKA_SCRAM_USER:-}" ]; then
      scram+=(--add-scram "SCRAM-SHA-512=[name=$KAFKA_SCRAM_USER,password=${KAFKA_SCRAM_PASSWORD:?KAFKA_SCRAM_PASSWORD is not set}]")
    fi
  fi
  (umask 077; cat > "$dir/server.properties" <<PROPERTIES
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller
listeners=$listener://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller
advertised.listeners=$listener://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=$listener:$listener,CONTROLLER:PLAINTEXT
inter.broker.listener.name=$listener
log.dirs=$dir/log
# One node: every internal topic has one replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# The services create their topics with the partitions they want.
auto.create.topics.enable=false
# A consumer group starts at once (no 3 s wait for more members).
group.initial.rebalance.delay.ms=0
PROPERTIES
  )
  if [ "$listener" = SASL_PLAINTEXT ]; then
    cat >> "$dir/server.properties" <<PROPERTIES
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="$broker_password";
PROPERTIES
  fi
  local java_opts=(-Xms128m "-Xmx$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
                   "-Dlog4j2.configurationFile=$TICKFLOW_ROOT/scripts/kafka/log4j2.yaml")
  if [ ! -f "$dir/log/meta.properties" ]; then
    java "${java_opts[@]}" -cp "$classpath" kafka.tools.StorageTool format \
      --cluster-id "$(java -cp "$classpath" kafka.tools.StorageTool random-uuid)" \
      --config "$dir/server.properties" --ignore-formatted ${scram[@]+"${scram[@]}"} >/dev/null
  fi
  exec java "${java_opts[@]}" -cp "$classpath" kafka.Kafka "$dir/server.properties"
}

# A second node, broker only (node.id 2), joining the cluster of the broker kept in FIRST_DIR:
# the same cluster id and controller. The tests use it to hold partitions that can be taken away
# while the first broker stays up.
join() {
  local dir="$1" port="$2" first="$3" heap="${4:-384m}"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  first="$(cd "$first" && pwd)"
  local classpath controller cluster
  classpath="$(libs)/*"
  controller="$(cat "$first/controller.port")"
  cluster="$(sed -n 's/^cluster.id=//p' "$first/log/meta.properties")"
  [ -n "$cluster" ] || { echo "$first holds no formatted broker" >&2; exit 1; }
  cat > "$dir/server.properties" <<PROPERTIES
process.roles=broker
node.id=2
controller.quorum.voters=1@127.0.0.1:$controller
listeners=PLAINTEXT://127.0.0.1:$port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/log
auto.create.topics.enable=false
PROPERTIES
  local java_opts=(-Xms128m "-Xmx$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
                   "-Dlog4j2.configurationFile=$TICKFLOW_ROOT/scripts/kafka/log4j2.yaml")
  if [ ! -f "$dir/log/meta.properties" ]; then
    java "${java_opts[@]}" -cp "$classpath" kafka.tools.StorageTool format --cluster-id "$cluster" \
      --config "$dir/server.properties" --ignore-formatted >/dev/null
  fi
  exec java "${java_opts[@]}" -cp "$classpath" kafka.Kafka "$dir/server.properties"
}

need_java
case "${1:-}" in
  libs) libs ;;
  broker) shift; [ $# -ge 2 ] || { echo "usage: scripts/kafka.sh broker DIR PORT [HEAP]" >&2; exit 2; }; broker "$@" ;;
  join) shift; [ $# -ge 3 ] || { echo "usage: scripts/kafka.sh join DIR PORT FIRST_DIR [HEAP]" >&2; exit 2; }; join "$@" ;;
  *) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
