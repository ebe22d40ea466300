"""The end-to-end test's own market: venue frames for the producer to replay, and the ground
truth of what the pipeline must make of them.

Written independently of the Rust core: prices are decimal strings built from integers, the
expected identity of a trade is its venue, symbol, trade id, time, price and size, and the
expected rejections follow from how each bad frame was made.
"""

import csv
import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import bad_frames

REPO = Path(__file__).resolve().parents[2]
T0_MS = 1_700_000_000_000  # 2023-11-14T22:13:20Z


# Coinbase reports the resting (maker) order's side; the aggressor's is the other one
# (tickflow_core::venue::coinbase::aggressor_side).
COINBASE_REPORTED_SIDE = {"buy": "SELL", "sell": "BUY"}


@dataclass
class Truth:
    trades: list = field(default_factory=list)  # accepted trades, in send order (late ones with is_late)
    rejections: dict = field(default_factory=dict)  # (stage, reason) -> count
    gaps: list = field(default_factory=list)  # feed-gap rows the lake must hold, as tuples

    def reject(self, stage, reason):
        self.rejections[(stage, reason)] = self.rejections.get((stage, reason), 0) + 1


def instruments():
    with open(REPO / "schemas/reference/instruments.csv") as f:
        rows = list(csv.DictReader(f))
    listed = []
    for row in rows:
        if row["binance_symbol"]:
            listed.append(("binance", row["binance_symbol"], row["instrument_id"]))
        elif row["coinbase_product"]:
            listed.append(("coinbase", row["coinbase_product"], row["instrument_id"]))
        else:
            listed.append(("finnhub", row["finnhub_symbol"], row["instrument_id"]))
    return listed


def decimal_text(units, scale):
    """An exact decimal string for units * 10^-scale, without trailing zeros."""
    sign = "-" if units < 0 else ""
    whole, fraction = divmod(abs(units), 10**scale)
    text = f"{sign}{whole}"
    if fraction:
        text += "." + f"{fraction:0{scale}d}".rstrip("0")
    return text


def rfc3339(ms):
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Market:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.listed = instruments()
        self.price_cents = {sym: self.rng.randint(100, 5_000_000) for _, sym, _ in self.listed}
        self.next_id = {sym: 1_000 for _, sym, _ in self.listed}
        self.sequence = 0

    def trade(self, time_ms, index=None):
        venue, symbol, instrument = self.listed[self.rng.randrange(len(self.listed)) if index is None else index]
        self.price_cents[symbol] = max(1, self.price_cents[symbol] + self.rng.randint(-30, 30))
        trade_id = self.next_id[symbol]
        self.next_id[symbol] += 1
        price = decimal_text(self.price_cents[symbol], 2)
        if venue == "finnhub":
            size_units = self.rng.randint(1, 500) * 100_000_000
            price_only = self.rng.random() < 0.01
            if price_only:
                size_units = 0
        else:
            size_units = self.rng.randint(1, 10**8)
            price_only = False
        side = "unknown" if venue == "finnhub" else self.rng.choice(["buy", "sell"])
        return {
            "venue": venue,
            "venue_symbol": symbol,
            "instrument_id": instrument,
            "trade_id": None if venue == "finnhub" else str(trade_id),
            "price": price,
            "size": decimal_text(size_units, 8),
            "side": side,
            "price_only": price_only,
            "event_time_us": time_ms * 1000,
        }

    def frame(self, trade):
        ms = trade["event_time_us"] // 1000
        venue = trade["venue"]
        if venue == "binance":
            text = json.dumps({
                "e": "trade", "E": ms, "s": trade["venue_symbol"], "t": int(trade["trade_id"]),
                "p": trade["price"], "q": trade["size"], "T": ms, "m": trade["side"] == "sell", "M": True,
            })
        elif venue == "coinbase":
            self.sequence += 1
            text = json.dumps({
                "channel": "market_trades", "client_id": "", "timestamp": rfc3339(ms), "sequence_num": self.sequence,
                "events": [{"type": "update", "trades": [{
                    "trade_id": trade["trade_id"], "product_id": trade["venue_symbol"], "price": trade["price"],
                    "size": trade["size"], "side": COINBASE_REPORTED_SIDE[trade["side"]], "time": rfc3339(ms)}]}],
            })
        else:
            # Finnhub sends JSON numbers; write their text so nothing passes through a float.
            text = ('{"type":"trade","data":[{"s":"%s","p":%s,"t":%d,"v":%s,"c":["1"]}]}'
                    % (trade["venue_symbol"], trade["price"], ms, trade["size"]))
        return {"venue": venue, "receive_time_us": trade["event_time_us"] + 2_000, "frame": text}

    def behind(self, trade, frame, ms):
        """A new trade of the instrument `trade` is of, `ms` older, received with `frame`: (trade, frame)."""
        index = [s for _, s, _ in self.listed].index(trade["venue_symbol"])
        older = self.trade(trade["event_time_us"] // 1000 - ms, index=index)
        older_frame = self.frame(older)
        older_frame["receive_time_us"] = frame["receive_time_us"]
        return older, older_frame

    def missed(self, trade, count):
        """A client's report that `count` trades of the instrument after `trade` are lost: ids
        skipped where the venue numbers its trades. Returns the capture line and the lake row."""
        venue, symbol = trade["venue"], trade["venue_symbol"]
        reason = {"binance": "backfill_failed", "coinbase": "beyond_snapshot", "finnhub": "disconnected"}[venue]
        ids = None
        if venue != "finnhub":
            ids = [self.next_id[symbol], self.next_id[symbol] + count - 1]
            self.next_id[symbol] += count
        start, end, detected = trade["event_time_us"], trade["event_time_us"] + 5_000, trade["event_time_us"] + 6_000
        line = {"missed": {"venue": venue, "venue_symbol": symbol, "reason": reason, "from_us": start, "to_us": end,
                           "ids": ids, "detected_at_us": detected}}
        row = (f"{venue}:{symbol}:{start}:{end}", venue, symbol, trade["instrument_id"], reason, start, end,
               None if ids is None else str(ids[0]), None if ids is None else str(ids[1]),
               None if ids is None else count, detected)
        return line, row


def generate(directory, trades=100_000, seed=7, faults_each=400, start_ms=T0_MS, bad_input_each=0):
    """Writes frames.jsonl and truth.json into `directory`, the market starting at `start_ms`,
    with `bad_input_each` frames of every class of tests/e2e/bad_frames.py mixed in; returns the
    Truth."""
    market = Market(seed)
    truth = Truth()
    frames = []
    sent = []  # (frame, trade) of valid trades, for duplicates
    fault_kinds = ["duplicate", "malformed", "bad_price", "unknown_symbol", "late", "skew", "swap", "gap", "revising"]
    plan = {kind: set(market.rng.sample(range(1_000, trades), faults_each)) for kind in fault_kinds}
    bad_plan = {kind: set(market.rng.sample(range(1_000, trades), bad_input_each)) for kind in bad_frames.CLASSES}
    last_binance = None
    time_ms = start_ms
    for i in range(trades):
        time_ms += market.rng.choice([0, 1, 2, 3, 4])
        trade = market.trade(time_ms)
        frame = market.frame(trade)
        frames.append(frame)
        sent.append((frame, trade))
        truth.trades.append(trade)
        if i in plan["duplicate"]:
            frames.append(market.rng.choice(sent[-20:])[0])
            truth.reject("stream-processor", "duplicate")
        if i in plan["malformed"]:
            frames.append({"venue": "binance", "receive_time_us": frame["receive_time_us"], "frame": '{"e":"trade","s":"BTC'})
            truth.reject("producer", "parse_error")
        if i in plan["bad_price"]:
            binance = next(i for i, (v, _, _) in enumerate(market.listed) if v == "binance")
            bad = dict(market.trade(time_ms, index=binance), price=market.rng.choice(["0", "-5", "1e12", "NaN"]))
            frames.append(market.frame(bad))
            truth.reject("producer", "invalid_price")
        if i in plan["unknown_symbol"]:
            frames.append({"venue": "binance", "receive_time_us": frame["receive_time_us"], "frame": json.dumps(
                {"e": "trade", "E": time_ms, "s": "NOPEUSDT", "t": i, "p": "1.5", "q": "2", "T": time_ms, "m": True})})
            truth.reject("producer", "unknown_symbol")
        if i in plan["late"]:
            # A minute older than its instrument's watermark: kept, marked late, in no realtime candle.
            late, late_frame = market.behind(trade, frame, 60_000)
            frames.append(late_frame)
            truth.trades.append(dict(late, is_late=True))
        if i in plan["revising"]:
            # A second older: within the allowed lateness (2 s) of any watermark, so its
            # window's candle is revised, not closed.
            revising, revising_frame = market.behind(trade, frame, 1_000)
            frames.append(revising_frame)
            truth.trades.append(revising)
        if i in plan["skew"]:
            skewed = market.trade(time_ms + 3_600_000, index=0)
            skewed_frame = market.frame(skewed)
            skewed_frame["receive_time_us"] = frame["receive_time_us"]
            frames.append(skewed_frame)
            truth.reject("producer", "clock_skew")
        if i in plan["gap"]:
            line, row = market.missed(trade, market.rng.randint(1, 5))
            frames.append(line)
            truth.gaps.append(row)
            if len(truth.gaps) == 1:
                # A report naming a symbol nobody lists is dead-lettered by the producer.
                frames.append({"missed": dict(line["missed"], venue="binance", venue_symbol="NOPEUSDT", ids=None)})
                truth.reject("producer", "unknown_symbol")
        if trade["venue"] == "binance":
            last_binance = frame
        for kind in bad_frames.CLASSES:
            if i in bad_plan[kind] and last_binance is not None:
                bad, (stage, reason) = bad_frames.bad_frame(kind, market, time_ms, frame["receive_time_us"], last_binance)
                frames.append(bad)
                truth.reject(stage, reason)
        if i in plan["swap"] and len(frames) >= 2 and frames[-2] is sent[-2][0]:
            frames[-1], frames[-2] = frames[-2], frames[-1]
            truth.trades[-1], truth.trades[-2] = truth.trades[-2], truth.trades[-1]
    for sequence, trade in enumerate(truth.trades):
        trade["seq"] = sequence
    directory = Path(directory)
    with open(directory / "frames.jsonl", "w") as f:
        for frame in frames:
            f.write(json.dumps(frame) + "\n")
    with open(directory / "truth.jsonl", "w") as f:
        for trade in truth.trades:
            f.write(json.dumps(trade) + "\n")
    return truth
