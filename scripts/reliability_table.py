"""Renders the JSON lines the reliability tests append to TICKFLOW_RELIABILITY_OUT (tests/e2e/layers.py)
as RELIABILITY.md's table: one row per test and layer. With --into FILE, replaces the table
between FILE's `<!-- figures:begin -->` and `<!-- figures:end -->` lines."""

import argparse
import json
import platform
from datetime import datetime, timezone
from pathlib import Path

COLUMNS = ["expected", "found", "lost", "duplicated", "unexpected"]


def rows(path):
    lines = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    out = ["| test | layer | " + " | ".join(COLUMNS) + " | observed |", "|---|---|" + "---:|" * len(COLUMNS) + "---|"]
    for entry in lines:
        facts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in entry["facts"].items())
        layers = entry["layers"] or [{}]
        for i, layer in enumerate(layers):
            cells = [f"{layer[c]:,}" if c in layer else "" for c in COLUMNS]
            extra = {k: v for k, v in layer.items() if k not in COLUMNS and k != "layer"}
            note = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in extra.items())
            observed = "; ".join(x for x in [facts if i == 0 else "", note] if x)
            out.append(f"| {entry['test'] if i == 0 else ''} | {layer.get('layer', '')} | " + " | ".join(cells)
                       + f" | {observed} |")
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out.append("")
    out.append(f"Run {stamp} on {platform.node() or 'this machine'} ({platform.machine()}), by `scripts/reliability.sh --write`.")
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("results", help="the JSON-lines file the tests wrote")
    parser.add_argument("--into", help="a Markdown file whose figures section is replaced")
    args = parser.parse_args()
    table = rows(args.results)
    if not args.into:
        print(table)
        return
    path = Path(args.into)
    text = path.read_text()
    begin, end = "<!-- figures:begin -->", "<!-- figures:end -->"
    if begin not in text or end not in text:
        raise SystemExit(f"{path} has no {begin} ... {end} section")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{begin}\n{table}\n{end}{tail}")


if __name__ == "__main__":
    main()
