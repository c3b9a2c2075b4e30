#!/usr/bin/env python3
"""Baseline for vs-oi-bench: the old oi_realtime_poller.py's rule, same data, same cycles.

get_oi_at_lookback() and maybe_emit_oi_alert() as the old script had them (a linear scan of
the symbol's whole history per timeframe, then the INSIDE/OUTSIDE and cooldown logic),
without their I/O (the funding-rate file read, the prints and the POST). Times are integer
milliseconds here (the old script used float seconds) so that both sides decide exactly alike.
The history is a deque trimmed to the same 3 h window as vs-oi's.

usage: old_rule.py DATA_FILE
DATA_FILE (written by vs-oi-bench, little endian): b"VSOB", u32 symbols, u32 history
samples, u32 cycles, i64 window ms, then times i64[symbols][history + cycles], OI
f64[...], mark f64[...]. Prints one JSON object: median and per-cycle times in
microseconds, and every alert as "cycle symbol timeframe direction baseline current".
"""
import json
import platform
import statistics
import struct
import sys
import time
from array import array
from collections import deque

TIMEFRAMES = [  # label, threshold, lookback s, cooldown s (the old defaults)
    ("5 min", 0.03, 300, 600),
    ("15 min", 0.07, 900, 900),
    ("1 hour", 0.12, 3600, 3600),
]
OI_MIN_DELTA_CONTRACTS = 5000.0


def get_oi_at_lookback(hist, now, lookback_sec):
    if len(hist) < 2:
        return None
    target_time = now - lookback_sec * 1000
    tolerance = min(120, max(30, lookback_sec // 10)) * 1000
    closest_sample = None
    min_diff = float("inf")
    for ts, oi, mark_price in hist:
        diff = abs(ts - target_time)
        if diff < min_diff and diff <= tolerance:
            min_diff = diff
            closest_sample = (oi, mark_price)
    return closest_sample


def maybe_emit_oi_alert(symbol, hist, current_oi, current_mark_price, timestamp, state, last_alert_at, out):
    if symbol == "USDCUSDT":
        return
    for label, threshold, lookback, cooldown in TIMEFRAMES:
        baseline_data = get_oi_at_lookback(hist, timestamp, lookback)
        if baseline_data is None:
            state[(symbol, label)] = "INSIDE"
            continue
        oi_baseline, mark_price_baseline = baseline_data
        if oi_baseline == 0:
            state[(symbol, label)] = "INSIDE"
            continue
        pct_change = (current_oi - oi_baseline) / oi_baseline
        abs_change = current_oi - oi_baseline
        price_change = None
        if mark_price_baseline > 0 and current_mark_price > 0:
            price_change = (current_mark_price - mark_price_baseline) / mark_price_baseline
        is_outside = abs(pct_change) >= threshold
        previous_state = state.get((symbol, label), "INSIDE")
        if is_outside and previous_state == "INSIDE":
            direction = None
            if pct_change >= threshold and abs_change >= OI_MIN_DELTA_CONTRACTS:
                direction = "UP"
            elif pct_change <= -threshold and abs_change <= -OI_MIN_DELTA_CONTRACTS:
                direction = "DOWN"
            if direction is not None:
                key = (symbol, direction, label)
                if key in last_alert_at and timestamp - last_alert_at[key] < cooldown * 1000:
                    continue
                out.append((symbol, label, direction, oi_baseline, current_oi, price_change))
                last_alert_at[key] = timestamp
                state[(symbol, label)] = "OUTSIDE"
        elif not is_outside:
            state[(symbol, label)] = "INSIDE"


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], "rb") as f:
        data = f.read()
    if data[:4] != b"VSOB":
        print("not a vs-oi-bench data file", file=sys.stderr)
        return 2
    n_sym, n_hist, n_cycles, window_ms = struct.unpack_from("<IIIq", data, 4)
    per = n_hist + n_cycles
    off = 4 + 20
    times = array("q")
    times.frombytes(data[off:off + n_sym * per * 8])
    off += n_sym * per * 8
    ois = array("d")
    ois.frombytes(data[off:off + n_sym * per * 8])
    off += n_sym * per * 8
    marks = array("d")
    marks.frombytes(data[off:off + n_sym * per * 8])
    if sys.byteorder != "little":
        for a in (times, ois, marks):
            a.byteswap()

    symbols = ["SYM%dUSDT" % i for i in range(n_sym)]
    history = {}
    for i, sym in enumerate(symbols):
        base = i * per
        history[sym] = deque((times[base + j], ois[base + j], marks[base + j]) for j in range(n_hist))
    state = {}
    last_alert_at = {}
    cycle_us = []
    alerts = []
    for c in range(n_cycles):
        out = []
        t_start = time.perf_counter()
        for i, sym in enumerate(symbols):
            k = i * per + n_hist + c
            ts, oi, mark = times[k], ois[k], marks[k]
            if oi <= 0:
                continue
            hist = history[sym]
            hist.append((ts, oi, mark))
            while hist[0][0] < ts - window_ms:
                hist.popleft()
            maybe_emit_oi_alert(sym, hist, oi, mark, ts, state, last_alert_at, out)
        cycle_us.append((time.perf_counter() - t_start) * 1e6)
        for sym, label, direction, base, cur, _ in out:
            alerts.append("%d %s %s %s %r %r" % (c, sym, label, direction, base, cur))
    print(json.dumps({
        "python": platform.python_version(),
        "median_us": statistics.median(cycle_us),
        "cycle_us": cycle_us,
        "alerts": alerts,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
