"""T8's classes of bad venue frames (../shared/notes/reliability.md), each with the dead letter it
must become: (stage, reason). The end-to-end market mixes them into its valid flow
(generate(..., bad_input_each=N)); frames that carry a new Binance trade id take it from the
market's sequence, so rejecting them opens no gap in the ids the producer sees.

Records that no venue frame can carry (bytes that are not UTF-8, records of an unknown kind) are
written to `raw_trades` directly by the test (tests/e2e/test_bad_input.py)."""

import json

PRICES = {"price_zero": "0", "price_negative": "-5", "price_nan": "NaN", "price_huge": "1e12",
          "price_too_many_decimals": "1.123456789"}
SIZES = {"size_zero": "0", "size_negative": "-1"}
CLASSES = ["malformed_json", "truncated_frame", "wrong_types", *PRICES, *SIZES, "unknown_symbol", "oversized_frame",
           "clock_skew", "duplicate"]
OVERSIZED_BYTES = 17 * 1024  # above the producer's 16 KiB limit (ValidationRules::max_message_bytes)


def _binance(market):
    return next(i for i, (venue, _, _) in enumerate(market.listed) if venue == "binance")


def bad_frame(kind, market, time_ms, receive_us, recent):
    """The frame of class `kind` at `time_ms` (received at `receive_us`), and the dead letter it
    must become. `recent` is a valid Binance frame already sent (its trade id is known)."""
    frame = {"venue": "binance", "receive_time_us": receive_us}
    if kind == "malformed_json":
        return frame | {"frame": '{"e":"trade","s":"BTCUSDT","p":"1'}, ("producer", "parse_error")
    if kind == "truncated_frame":
        return frame | {"frame": recent["frame"][: len(recent["frame"]) // 2]}, ("producer", "parse_error")
    if kind == "wrong_types":
        fields = json.loads(recent["frame"]) | {"p": 101.5, "q": True}
        return frame | {"frame": json.dumps(fields)}, ("producer", "schema_error")
    if kind == "oversized_frame":
        fields = json.loads(recent["frame"]) | {"pad": "x" * OVERSIZED_BYTES}
        return frame | {"frame": json.dumps(fields)}, ("producer", "too_large")
    if kind == "unknown_symbol":
        fields = json.loads(recent["frame"]) | {"s": "NOPEUSDT"}
        return frame | {"frame": json.dumps(fields)}, ("producer", "unknown_symbol")
    if kind == "duplicate":
        return dict(recent), ("stream-processor", "duplicate")
    if kind == "clock_skew":
        skewed = market.frame(market.trade(time_ms + 3_600_000, index=0))
        return skewed | {"receive_time_us": receive_us}, ("producer", "clock_skew")
    trade = market.trade(time_ms, index=_binance(market))
    if kind in PRICES:
        trade["price"] = PRICES[kind]
        reason = "invalid_price"
    else:
        trade["size"] = SIZES[kind]
        reason = "invalid_size"
    return market.frame(trade) | {"receive_time_us": receive_us}, ("producer", reason)
