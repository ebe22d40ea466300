"""The exchange simulator (crates/exchange-sim: Binance, Coinbase and Finnhub over their real
protocols, every trade it makes written to a manifest) and the producer's real venue clients
connected to it, for the tests that run the pipeline from a live feed."""

from pipeline import Service, binary, free_port


class Venues:
    """Ports for the simulator's four endpoints and the producer's HTTP server."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.ports = {name: free_port() for name in ["binance_ws", "binance_rest", "coinbase_ws", "finnhub_ws", "producer"]}
        self.manifest = workdir / "manifest.jsonl"

    def simulator(self, env, trades, rate, *flags):
        """The simulator making `trades` trades at `rate` per second once the first client connects."""
        ports = self.ports
        return Service("exchange-sim", [
            binary("exchange-sim"), "--manifest", str(self.manifest),
            "--binance-ws-port", str(ports["binance_ws"]), "--binance-rest-port", str(ports["binance_rest"]),
            "--coinbase-ws-port", str(ports["coinbase_ws"]), "--finnhub-ws-port", str(ports["finnhub_ws"]),
            "--rate", str(rate), "--max-trades", str(trades), "--open-on-first-connection", "--ping-interval-ms", "300",
            *flags], env, self.workdir)

    def producer(self, env, *flags):
        """The producer with the Binance, Coinbase and Finnhub clients pointed at the simulator."""
        ports = self.ports
        return Service("producer", [
            binary("producer"), "--http-addr", f"127.0.0.1:{ports['producer']}", "--source", "binance,coinbase,finnhub",
            "--binance-ws-url", f"ws://127.0.0.1:{ports['binance_ws']}",
            "--binance-rest-url", f"http://127.0.0.1:{ports['binance_rest']}",
            "--coinbase-ws-url", f"ws://127.0.0.1:{ports['coinbase_ws']}",
            "--finnhub-ws-url", f"ws://127.0.0.1:{ports['finnhub_ws']}", *flags], env, self.workdir)
