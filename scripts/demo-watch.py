#!/usr/bin/env python3
"""The demo's terminal view (scripts/run-demo.sh starts it): one line per alert as it arrives
at the local backend and at the local Telegram (vs-replay's stand-in records every request:
GET /_control/received), and a line of live prices read back from vs-api every few seconds.

  demo-watch.py --replay http://127.0.0.1:PORT --api http://127.0.0.1:8888 [--seconds N]
                [--api-b http://127.0.0.1:PORT_B]

With --api-b (run-demo.sh --nats: host B's vs-api, on the bus vs-nats --mirror writes) the
price line also shows host B's BTCUSDT mark price next to host A's, and each alert that reaches
host B's alert channels (its GET /alerts) gets a line "-> host B".
At the end (N seconds, or Ctrl-C) a summary: how many alerts of each kind reached each side.
Standard library only."""
import argparse
import json
import signal
import sys
import time
import urllib.error
import urllib.request

# Requests that are data, not alerts: counted in the summary, never printed one by one.
QUIET = {
    "/api/market/open-interest/ingest": "OI batches",
    "/api/user-alerts-trigger/update-checked": "user-alert checks",
    "/api/user-alerts-trigger/active": "user-alert list reads",
}


def get(url, timeout=3.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return json.loads(r.read().decode("utf-8"))
    except (urllib.error.URLError, OSError, ValueError):
        return None
    except Exception:  # noqa: BLE001 - the view must never die on one bad answer
        return None


def short(n):
    n = float(n)
    for unit, div in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return f"{n:.2f}"


def classify_backend(path, body, user_alerts):
    """(kind, text) of one backend request, or None when it is not an alert."""
    b = body if isinstance(body, dict) else {}
    if path == "/api/volume-alerts/ingest":
        return ("VOLUME SPIKE", f"{b.get('symbol')} {b.get('alertType')} {b.get('volumeRatio', 0):.2f}x prev, "
                                f"hour volume {short(b.get('currentVolume', 0))}")
    if path == "/api/open-interest-alerts/ingest":
        return ("OI SPIKE", f"{b.get('symbol')} {b.get('direction')} {100 * float(b.get('pctChange', 0)):+.2f}% "
                            f"in {b.get('timeframe')} ({short(b.get('baseline', 0))} -> {short(b.get('current', 0))} contracts)")
    if path == "/api/user-alerts-trigger/trigger":
        a = user_alerts.get(b.get("alertId"), {})
        kind = {"PRICE_CROSS": "USER PRICE CROSS", "FUNDING_CROSS": "USER FUNDING CROSS",
                "OI_CROSS": "USER OI CROSS"}.get(a.get("alertType"), "USER ALERT")
        way = "up" if b.get("crossedUp") else "down"
        return (kind, f"{b.get('symbol')} crossed {a.get('threshold', '?')} {way}: "
                      f"{b.get('previousValue')} -> {b.get('currentValue')} (alert {b.get('alertId')})")
    if path == "/api/telegram/ingest":
        ch = b.get("channel", {}) if isinstance(b.get("channel"), dict) else {}
        msgs = b.get("messages", []) if isinstance(b.get("messages"), list) else []
        first = msgs[0] if msgs else {}
        text = (first.get("text") or f"[{first.get('media_type') or 'post'}]").replace("\n", " ")
        more = f" (+{len(msgs) - 1} more)" if len(msgs) > 1 else ""
        return ("NEWS POST", f"@{ch.get('username')} #{first.get('id')}: {text[:90]}{more}")
    if path == "/api/market/open-interest/liquid-universe/update":
        syms = b.get("symbols", [])
        return ("OI UNIVERSE", f"{len(syms) if isinstance(syms, list) else '?'} liquid symbols polled for open interest")
    return ("BACKEND", path)


B_KINDS = {"VolumeSpikeAlert": "VOLUME SPIKE", "OiSpikeAlert": "OI SPIKE", "LiquidationAlert": "LIQUIDATION",
           "WhaleTradeAlert": "WHALE TRADE"}


def classify_host_b(a):
    """The view's kind of one alert of vs-api's GET /alerts (host B)."""
    t = a.get("type", "")
    if t == "UserAlertTrigger":
        f = a.get("fields") if isinstance(a.get("fields"), dict) else {}
        return {"PRICE_CROSS": "USER PRICE CROSS", "FUNDING_CROSS": "USER FUNDING CROSS",
                "OI_CROSS": "USER OI CROSS"}.get(f.get("alert_type"), "USER ALERT")
    return B_KINDS.get(t, t or "ALERT")


def mark_of(api, symbol):
    d = get(f"{api}/funding/batch?symbols={symbol}")
    try:
        return float(d["data"][symbol]["markPrice"])
    except (TypeError, KeyError, ValueError):
        return None


def classify_telegram(body):
    b = body if isinstance(body, dict) else {}
    text = str(b.get("text", ""))
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    head = lines[0] if lines else ""
    if "LIQUIDATION" in head.upper() or "liquidations" in head:
        kind = "LIQUIDATION"
    elif "WHALE" in head.upper():
        kind = "WHALE TRADE"
    elif "VOLUME SPIKE" in text:
        kind = "VOLUME SPIKE"
    else:
        kind = "TELEGRAM"
    # A TELEGLAS-shaped message: keep the symbol, side, size and price lines.
    keep = [ln for ln in lines[1:] if any(k in ln for k in ("Symbol", "Side", "Size", "Price"))]
    shown = " | ".join([head] + keep) if keep else " | ".join(lines[:3])
    return kind, shown[:150]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replay", required=True)
    ap.add_argument("--api", required=True)
    ap.add_argument("--symbols", default="BTCUSDT,ETHUSDT,SOLUSDT,BNBUSDT,DOGEUSDT,XRPUSDT")
    ap.add_argument("--seconds", type=float, default=0, help="stop after this long (0: until Ctrl-C)")
    ap.add_argument("--price-every", type=float, default=5)
    ap.add_argument("--api-b", default="", help="host B's vs-api (run-demo.sh --nats)")
    args = ap.parse_args()
    # run-demo.sh stops the view with SIGTERM: end like Ctrl-C, with the summary.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))

    start = time.monotonic()
    since = 0
    next_price = 0.0
    user_alerts = {}
    counts = {}   # (kind, target) -> n
    quiet = {}
    first_seen = {}   # kind -> seconds after start
    misses = 0        # polls of vs-replay in a row without an answer
    color = sys.stdout.isatty()
    b_seen = set()      # host B: alert ids already shown
    b_counts = {}       # kind -> n
    b_first = {}        # kind -> seconds after start (host B)
    b_next = 0.0
    b_same = b_samples = 0   # price lines where host B's BTCUSDT mark equals host A's

    def out(line):
        print(line, flush=True)

    def paint(s, code):
        return f"\x1b[{code}m{s}\x1b[0m" if color else s

    def host_b_price(a_row):
        """'| host B BTC <mark> (= A)': host B's mark read right after host A's; when they differ
        (a new mark between the two reads, or the mirror a record behind) both are read again."""
        nonlocal b_same, b_samples
        a = float(a_row["markPrice"]) if a_row and a_row.get("markPrice") is not None else None
        b = mark_of(args.api_b, "BTCUSDT")
        if a is not None and b is not None and a != b:
            a, b = mark_of(args.api, "BTCUSDT"), mark_of(args.api_b, "BTCUSDT")
        if b is None:
            return "| host B (no BTCUSDT price yet)"
        if a is None:
            return f"| host B BTC {b:,.2f}"
        b_samples += 1
        b_same += a == b
        return f"| host B BTC {b:,.2f} " + ("(= A)" if a == b else paint(f"(A {a:,.2f})", "31"))

    def poll_host_b():
        d = get(f"{args.api_b}/alerts?limit=1000")
        if not d or not isinstance(d.get("alerts"), list):
            return
        new = [a for a in d["alerts"] if isinstance(a, dict) and a.get("id") not in b_seen]
        for a in sorted(new, key=lambda a: (a.get("time_ms") or 0, str(a.get("id")))):
            b_seen.add(a.get("id"))
            kind = classify_host_b(a)
            b_counts[kind] = b_counts.get(kind, 0) + 1
            b_first.setdefault(kind, time.monotonic() - start)
            out(f"{time.strftime('%H:%M:%S')}  {paint('-> host B', '1;35')}  {paint(f'{kind:18}', '1')} "
                f"{str(a.get('summary', ''))[:120]}  (bus B '{a.get('channel', '?')}', id {a.get('id')})")

    try:
        while args.seconds <= 0 or time.monotonic() - start < args.seconds:
            now = time.monotonic()
            if now >= next_price:
                next_price = now + args.price_every
                d = get(f"{args.api}/funding/batch?symbols={args.symbols}")
                if d and isinstance(d.get("data"), dict):
                    parts = []
                    for s in args.symbols.split(","):
                        r = d["data"].get(s)
                        if r:
                            mark = float(r.get("markPrice", 0))
                            parts.append(f"{s[:-4]} {mark:,.{2 if mark >= 1 else 5}f}")
                    fr = d["data"].get("DOGEUSDT", {}).get("fundingRate")
                    if fr is not None:
                        parts.append(f"DOGE funding {float(fr):.4%}")
                    line = "  ".join(parts) or "(waiting for the first prices)"
                    if args.api_b:
                        line += "  " + host_b_price(d["data"].get("BTCUSDT"))
                    out(f"{time.strftime('%H:%M:%S')}  prices   " + line)
                else:
                    out(f"{time.strftime('%H:%M:%S')}  prices   (vs-api not answering yet)")
            if args.api_b and now >= b_next:
                b_next = now + 2
                poll_host_b()
            r = get(f"{args.replay}/_control/received?since={since}&limit=500")
            misses = 0 if r else misses + 1
            if misses >= 10:   # the pipeline was stopped under us (e.g. a signal run-demo.sh could not trap)
                out(f"{time.strftime('%H:%M:%S')}  vs-replay stopped answering: the view ends")
                break
            if r and isinstance(r.get("received"), list):
                if any(x.get("path") == "/api/user-alerts-trigger/trigger" for x in r["received"]):
                    ua = get(f"{args.replay}/_control/user_alerts") or {}
                    user_alerts = {a["id"]: a for a in ua.get("alerts", [])}
                for x in r["received"]:
                    since = max(since, int(x.get("seq", since)))
                    path, target, status = x.get("path", ""), x.get("target", ""), x.get("status", 0)
                    if path in QUIET:
                        quiet[QUIET[path]] = quiet.get(QUIET[path], 0) + 1
                        continue
                    if target == "telegram":
                        kind, text = classify_telegram(x.get("body"))
                    else:
                        kind, text = classify_backend(path, x.get("body"), user_alerts)
                    ok = 200 <= int(status) < 300 or (status == 400 and "trigger" in path)
                    if ok:
                        counts[(kind, target)] = counts.get((kind, target), 0) + 1
                        first_seen.setdefault(kind, time.monotonic() - start)
                    where = paint(f"-> {target:8}", "1;33" if target == "telegram" else "1;36")
                    note = "" if 200 <= int(status) < 300 else paint(f"  (HTTP {status})", "31")
                    out(f"{time.strftime('%H:%M:%S')}  {where} {paint(f'{kind:18}', '1')} {text}{note}")
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    # The summary is written whole: run-demo.sh's SIGTERM may follow a Ctrl-C's SIGINT.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out("")
    if args.api_b:
        poll_host_b()
        out("---- alerts received by the local backend and Telegram (vs-replay's stand-in), and on host B's bus:")
    else:
        out("---- alerts received by the local backend and Telegram (vs-replay's stand-in):")
    kinds = sorted({k for k, _ in counts} | set(b_counts))
    for k in kinds:
        b, t = counts.get((k, "backend"), 0), counts.get((k, "telegram"), 0)
        host_b = f"  host B {b_counts.get(k, 0):3}" if args.api_b else ""
        out(f"  {k:20} backend {b:3}  telegram {t:3}{host_b}  first after {first_seen.get(k, b_first.get(k, 0)):.0f} s")
    if quiet:
        out("  data: " + ", ".join(f"{n} {k}" for k, n in sorted(quiet.items())))
    if args.api_b:
        out(f"  host B (vs-nats --mirror, its vs-api /alerts): {sum(b_counts.values())} alerts; BTCUSDT mark price "
            f"equal to host A's in {b_same} of {b_samples} price lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
