#!/usr/bin/env python3
"""Baseline for vs-feed-bench: what the old binance_funding_ws_daemon.py did per frame.

json.loads() of one combined-stream frame, then for every row the field-alias lookups of
the frontend's parseFundingRate and a dict update of the symbol's state, under the lock the
daemon held. Times N iterations and prints one JSON object with the median in microseconds.

usage: bench_baseline.py FRAME_FILE [ITERATIONS]
"""
import json
import statistics
import sys
import threading
import time

FUNDING_KEYS = ("r", "R", "fr", "lastFundingRate", "fundingRate", "estimatedSettlePriceRate")
MARK_KEYS = ("p", "markPrice", "c", "lastPrice")


def first_float(row, keys):
    for k in keys:
        v = row.get(k)
        if v is not None and v != "":
            try:
                return float(v)
            except (TypeError, ValueError):
                return None
    return None


def handle(message, state, lock):
    msg = json.loads(message)
    data = msg.get("data", msg)
    rows = data if isinstance(data, list) else [data]
    now = time.time()
    with lock:
        for row in rows:
            symbol = row.get("s")
            if not symbol:
                continue
            entry = state.setdefault(symbol, {})
            funding = first_float(row, FUNDING_KEYS)
            mark = first_float(row, MARK_KEYS)
            if funding is not None:
                entry["fundingRate"] = funding
            if mark is not None:
                entry["markPrice"] = mark
            if "T" in row:
                entry["nextFundingTime"] = row["T"]
            if "i" in row:
                entry["indexPrice"] = float(row["i"])
            entry["updatedAt"] = now
    return len(rows)


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        frame = f.read()
    iterations = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    state = {}
    lock = threading.Lock()
    rows = 0
    for _ in range(10):  # warm-up
        rows = handle(frame, state, lock)
    samples = []
    for _ in range(iterations):
        t0 = time.perf_counter_ns()
        handle(frame, state, lock)
        samples.append((time.perf_counter_ns() - t0) / 1000.0)
    print(json.dumps({
        "median_us": statistics.median(samples),
        "min_us": min(samples),
        "iterations": iterations,
        "rows": rows,
        "python": sys.version.split()[0],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
