"""Writes the fuzz targets' seed corpora into fuzz/seeds/<target>/ from the end-to-end test's own
market (tests/e2e/generate.py: real venue frame shapes, with its malformed, mispriced, unknown,
late and duplicate faults), in each target's input format (see fuzz/fuzz_targets/*.rs).
Deterministic: run again, the same files. Usage: python3 fuzz/make_seeds.py"""

import hashlib
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests/e2e"))
from generate import generate  # noqa: E402

SEEDS = ROOT / "fuzz/seeds"
VENUES = {"binance": 0, "coinbase": 1, "finnhub": 2}
ENRICHMENT = {"equity": ("NASDAQ", "USD", "regular"), "crypto": ("BINANCE", "USDT", "continuous")}


def save(target, data: bytes):
    folder = SEEDS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


def contract_trade(trade):
    return {"trade_key": f"{trade['venue']}:{trade['venue_symbol']}:{trade['trade_id'] or trade['event_time_us']}",
            "venue": trade["venue"], "venue_symbol": trade["venue_symbol"], "instrument_id": trade["instrument_id"],
            "trade_id": trade["trade_id"], "price": trade["price"], "size": trade["size"], "side": trade["side"],
            "conditions": [], "price_only": trade["price_only"], "event_time_us": trade["event_time_us"],
            "receive_time_us": trade["event_time_us"] + 2_000}


def enriched(trade):
    exchange, currency, session = ENRICHMENT["equity" if trade["venue"] == "finnhub" else "crypto"]
    value = f"{float(trade['price']) * float(trade['size']):.8f}"
    return {**contract_trade(trade), "asset_class": "equity" if trade["venue"] == "finnhub" else "crypto",
            "exchange": exchange, "quote_currency": currency, "session": session, "trade_value": value,
            "price_change": None, "price_change_bps": None, "is_late": bool(trade.get("is_late"))}


def candle(trade):
    start = trade["event_time_us"] // 60_000_000 * 60_000_000
    p, s = trade["price"], trade["size"]
    return {"metric": "candle", "instrument_id": trade["instrument_id"], "window_start_us": start,
            "window_length_us": 60_000_000, "open": p, "high": p, "low": p, "close": p, "volume": s,
            "quote_volume": f"{float(p) * float(s):.8f}", "vwap": float(p), "trade_count": 1, "buy_volume": s,
            "sell_volume": "0", "realized_volatility": 0.0, "first_event_time_us": trade["event_time_us"],
            "last_event_time_us": trade["event_time_us"], "revision": 0, "is_final": True}


def gap_record(row):
    gap_key, venue, symbol, instrument, reason, start, end, first, last, missing, detected = row
    return {"metric": "feed_gap", "gap_key": gap_key, "venue": venue, "venue_symbol": symbol,
            "instrument_id": instrument, "reason": reason, "from_us": start, "to_us": end,
            "first_missing_trade_id": first, "last_missing_trade_id": last, "missing_trades": missing,
            "detected_at_us": detected}


def main():
    with tempfile.TemporaryDirectory() as directory:
        truth = generate(directory, trades=3_000, faults_each=40)
        frames = [json.loads(line) for line in open(Path(directory) / "frames.jsonl")]
    for frame in frames[::25]:
        if "frame" in frame:
            save("venue_frame", bytes([VENUES[frame["venue"]]]) + frame["frame"].encode())
    trades = truth.trades
    for chunk in range(0, 600, 40):
        lines = [b"t" + json.dumps(contract_trade(t)).encode() for t in trades[chunk:chunk + 40]]
        last = trades[chunk + 39]["event_time_us"]
        lines.append(b"w" + json.dumps({"watermark_us": last, "venue": None, "held": False}).encode())
        lines += [b"g" + json.dumps(gap_record(g)).encode() for g in truth.gaps[chunk // 40:chunk // 40 + 1]]
        save("raw_records", b"\n".join(lines))
    fields = lambda key, headers, value: key + b"\x1f" + headers + b"\x1f" + value  # noqa: E731
    for chunk in range(0, 400, 40):
        part = trades[chunk:chunk + 40]
        save("lake_records", bytes([0]) + b"\n".join(
            fields(t["instrument_id"].encode(), b"", json.dumps(enriched(t)).encode()) for t in part))
        save("lake_records", bytes([1]) + b"\n".join(
            fields(t["instrument_id"].encode(), b"", json.dumps(candle(t)).encode()) for t in part[:10]))
    letter = b"\x1e".join([b"tickflow-reason=parse_error", b"tickflow-detail=not JSON", b"tickflow-stage=producer",
                           b"tickflow-source-topic=binance", b"tickflow-source-partition=0",
                           b"tickflow-source-offset=7", b"tickflow-rejected-at-us=1700000000000000"])
    save("lake_records", bytes([2]) + fields(b"BTC-USDT", letter, b'{"e":"trade","s":"BTC'))
    print(f"seeds in {SEEDS}: " + ", ".join(f"{p.name} {len(list(p.iterdir()))}" for p in sorted(SEEDS.iterdir())))


if __name__ == "__main__":
    main()
