#!/usr/bin/env bash
# The main job on one machine: installs what is missing, builds, then runs the pipeline
# against the project's own local exchange (vs-replay) — no internet needed:
#
#   vs-replay (Binance look-alike) ──WebSocket──► vs-feed ──► bus channel "market" ──► vs-api :8888
#                                                                  └──► vs-bus-dump --summary (this terminal)
#
# Production (real Binance) is one variable away:
#   VS_BINANCE_WS_URL=wss://fstream.binance.com/market/stream scripts/run-demo.sh
#
# Settings: VS_BUS_PREFIX (default volspike-demo), VS_STATE_DIR (default ./demo-state),
# VS_API_LISTEN (default 127.0.0.1:8888), DEMO_SECONDS (stop after this long; default: until
# Ctrl-C on a terminal, 30 s otherwise), DEMO_SYMBOLS (default BTCUSDT,ETHUSDT,SOLUSDT,XAUUSDT).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/setup.sh
if [[ ! -f build/build.ninja ]]; then
  meson setup build -Doptimization=2 -Ddebug=false >/dev/null
fi
echo "building (the first build takes several minutes on 2 cores)..."
ninja -C build tools/replay/vs-replay producers/feed/vs-feed consumers/api/vs-api tools/bus_dump/vs-bus-dump \
  tools/snapshot/vs-snapshot consumers/oi/vs-oi >/dev/null

export VS_BUS_PREFIX=${VS_BUS_PREFIX:-volspike-demo}
export VS_STATE_DIR=${VS_STATE_DIR:-$root/demo-state}
export VS_API_LISTEN=${VS_API_LISTEN:-127.0.0.1:8888}
symbols=${DEMO_SYMBOLS:-BTCUSDT,ETHUSDT,SOLUSDT,XAUUSDT}
mkdir -p "$VS_STATE_DIR"
logs="$VS_STATE_DIR/logs"
mkdir -p "$logs"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

if [[ -z "${VS_BINANCE_WS_URL:-}" ]]; then
  rm -f "$VS_STATE_DIR/replay.port"
  build/tools/replay/vs-replay --listen 127.0.0.1:0 --port-file "$VS_STATE_DIR/replay.port" \
    >"$logs/vs-replay.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [[ -s "$VS_STATE_DIR/replay.port" ]] && break; sleep 0.1; done
  port=$(cat "$VS_STATE_DIR/replay.port")
  export VS_BINANCE_WS_URL="ws://127.0.0.1:$port/market/stream"
  export VS_BINANCE_REST_URL="http://127.0.0.1:$port"
  echo "vs-replay: a local Binance look-alike on 127.0.0.1:$port (log: $logs/vs-replay.log)"
fi

build/producers/feed/vs-feed >"$logs/vs-feed.log" 2>&1 &
pids+=($!)
echo "vs-feed:   $VS_BINANCE_WS_URL -> bus /dev/shm/$VS_BUS_PREFIX.market (log: $logs/vs-feed.log)"
build/consumers/api/vs-api >"$logs/vs-api.log" 2>&1 &
pids+=($!)
echo "vs-api:    http://$VS_API_LISTEN/funding/BTCUSDT  http://$VS_API_LISTEN/dashboard (log: $logs/vs-api.log)"
# vs-oi with the 5 min window shortened to 60 s (the demo only; the defaults are the old
# script's): the scenario's DOGEUSDT ramp (+5 % at 40 s) alerts within the first minutes.
OI_LOOKBACK_WINDOW_5MIN=${OI_LOOKBACK_WINDOW_5MIN:-60} build/consumers/oi/vs-oi >"$logs/vs-oi.log" 2>&1 &
pids+=($!)
echo "vs-oi:     universe + open interest -> bus /dev/shm/$VS_BUS_PREFIX.oi (log: $logs/vs-oi.log)"
sleep 3

if [[ -t 1 && -z "${DEMO_SECONDS:-}" ]]; then
  echo "live view (Ctrl-C to stop everything):"
  sleep 1
  build/tools/bus_dump/vs-bus-dump --summary --symbol "$symbols" || true
else
  end=$((SECONDS + ${DEMO_SECONDS:-30}))
  while ((SECONDS < end)); do
    echo "---- $(date -u +%H:%M:%S)"
    build/tools/bus_dump/vs-bus-dump --summary --once --human --symbol "$symbols" || true
    sleep 5
  done
  echo "---- vs-api:"
  curl -fsS "http://$VS_API_LISTEN/funding/BTCUSDT" 2>/dev/null || python3 -c "import urllib.request;print(urllib.request.urlopen('http://$VS_API_LISTEN/funding/BTCUSDT').read().decode())" || true
  echo
fi
