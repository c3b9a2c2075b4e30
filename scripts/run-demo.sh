#!/usr/bin/env bash
# The main job on one machine: installs what is missing, builds, then runs the whole pipeline
# against the project's own local stand-ins — no internet, no real backend, no real Telegram:
#
#   vs-replay ── Binance look-alike (REST + WebSocket), t.me/s channel pages, and a local
#   │            backend + Telegram Bot API that record every request they receive
#   ├─WebSocket─► vs-feed ──► bus "market" ──► vs-api :8888 (prices, /dashboard)
#   ├─REST──────► vs-oi (universe, open interest, OI spikes) ──► bus "oi"
#   │             vs-volume (hourly volume spikes, from vs-feed's klines)
#   │             vs-user-alerts (users' price / funding crosses; reads the backend's /active list)
#   │             vs-liquidations (liquidations and whale trades, from vs-feed's streams)
#   ├─t.me/s────► vs-news (channel posts)
#   └◄──────────── vs-deliver (sends the shared outbox to the backend and to Telegram)
#
# The scenario tools/replay/scenarios/demo.jsonl makes every kind of alert happen within about
# four minutes; this terminal prints each one as it reaches the local backend or Telegram,
# with a line of live prices (read back from vs-api) every 5 s. Ctrl-C stops everything.
#
# Settings: VS_API_LISTEN (default 127.0.0.1:8888), DEMO_SECONDS (stop after this long;
# default: until Ctrl-C on a terminal, 300 s otherwise), DEMO_KEEP=1 keeps the temporary
# directory (state, logs) after the end. Everything lives in a fresh temporary directory and
# a bus prefix of its own (/dev/shm/volspike-demo-<pid>.*), both removed at the end.
# Real Binance instead of the look-alike: VS_BINANCE_WS_URL=wss://fstream.binance.com/market/stream
# VS_BINANCE_REST_URL=https://fapi.binance.com scripts/run-demo.sh (alerts still go to the
# local stand-in, never to a real backend or chat).
#
# A second host (opt-in): scripts/run-demo.sh --nats (or DEMO_NATS=1) also starts a local
# nats-server with JetStream (127.0.0.1, a free port, its store in the temporary directory),
# vs-nats publishing this bus, and "host B" on the same machine: vs-nats --mirror writing a
# second bus prefix (/dev/shm/volspike-demo-<pid>-b.*) and a second vs-api on it (a free port,
# or VS_API_B_LISTEN). vs-deliver gets VS_NATS_URL, so the alerts also leave through its
# durable nats target. The view adds host B's BTCUSDT mark price next to host A's and one line
# per alert that reaches host B's alert channels (its vs-api /alerts). The two-host recipe:
# docs/OPERATIONS.md "Two hosts"; vs-nats: consumers/nats/README.md.
#
#   scripts/run-demo.sh [--nats] [--help]
set -euo pipefail

usage() {   # the comment above, without its '#'
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}
nats=${DEMO_NATS:-0}
for arg in "$@"; do
  case $arg in
    --nats) nats=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "run-demo.sh: unknown option '$arg' (known: --nats, --help)" >&2; exit 2 ;;
  esac
done
[[ "$nats" == 1 ]] || nats=0

cd "$(dirname "$0")/.."
root=$(pwd)

scripts/setup.sh
if ((nats)); then
  # Debian installs it in /usr/sbin, which a user's PATH may lack.
  nats_server=$(command -v nats-server || true)
  [[ -n "$nats_server" || ! -x /usr/sbin/nats-server ]] || nats_server=/usr/sbin/nats-server
  if [[ -z "$nats_server" ]]; then
    echo "run-demo.sh --nats: nats-server is not installed (Debian package nats-server); scripts/setup.sh installs it" >&2
    exit 1
  fi
fi
if [[ ! -f build/build.ninja ]]; then
  meson setup build -Doptimization=2 -Ddebug=false >/dev/null
fi
echo "building (the first build takes several minutes on 2 cores)..."
build_log=$(mktemp "${TMPDIR:-/tmp}/volspike-demo-build.XXXXXX")
targets=(tools/replay/vs-replay producers/feed/vs-feed consumers/api/vs-api consumers/oi/vs-oi
  consumers/volume/vs-volume consumers/user_alerts/vs-user-alerts consumers/liquidations/vs-liquidations
  consumers/news/vs-news consumers/deliver/vs-deliver)
((nats)) && targets+=(consumers/nats/vs-nats)
if ! ninja -C build "${targets[@]}" >"$build_log" 2>&1; then
  tail -n 40 "$build_log"
  echo "the build failed (whole output: $build_log)"
  exit 1
fi
rm -f "$build_log"

demo_dir=$(mktemp -d "${TMPDIR:-/tmp}/volspike-demo.XXXXXX")
export VS_BUS_PREFIX="volspike-demo-$$"
export VS_STATE_DIR="$demo_dir/state"
export VS_API_LISTEN=${VS_API_LISTEN:-127.0.0.1:8888}
logs="$demo_dir/logs"
mkdir -p "$VS_STATE_DIR" "$logs"
bus_b="$VS_BUS_PREFIX-b"   # --nats: host B's bus prefix
nats_pid=

pids=()
names=()
cleaned=0
cleanup() {
  set +e
  ((cleaned)) && return
  cleaned=1
  trap '' INT TERM
  local i
  if [[ -n "${watch_pid:-}" ]]; then   # the view first: its summary before the stop messages
    kill -TERM "$watch_pid" 2>/dev/null || true
    wait "$watch_pid" 2>/dev/null || true
  fi
  echo "stopping ${#pids[@]} processes..."
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
  # SIGTERM drains (vs-deliver finishes the send in hand, at most 20 s); then nothing is left.
  for _ in $(seq 250); do
    local alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for ((i = 0; i < ${#pids[@]}; i++)); do
    if kill -0 "${pids[$i]}" 2>/dev/null; then
      echo "${names[$i]} did not stop within 25 s: SIGKILL"
      kill -KILL "${pids[$i]}" 2>/dev/null || true
    fi
  done
  if [[ -n "$nats_pid" ]]; then   # the server last: vs-deliver and vs-nats talk to it until they stop
    kill -TERM "$nats_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$nats_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$nats_pid" 2>/dev/null; then
      echo "nats-server did not stop within 10 s: SIGKILL"
      kill -KILL "$nats_pid" 2>/dev/null || true
    fi
  fi
  wait 2>/dev/null || true
  rm -f /dev/shm/"$VS_BUS_PREFIX".* /dev/shm/sem."$VS_BUS_PREFIX".* 2>/dev/null || true
  rm -f /dev/shm/"$bus_b".* /dev/shm/sem."$bus_b".* 2>/dev/null || true
  if [[ "${DEMO_KEEP:-0}" == 1 ]]; then
    echo "state and logs kept in $demo_dir"
  else
    rm -rf "$demo_dir"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start() {   # start NAME LOG COMMAND...: in the background, remembered for cleanup
  local name=$1 log=$2
  shift 2
  "$@" >"$log" 2>&1 &
  pids+=($!)
  names+=("$name")
}

# -- the stand-ins: Binance, t.me/s pages, the backend and the Telegram Bot API -----------------
api_key=demo-key
bot_token=123456:demo-bot-token
start vs-replay "$logs/vs-replay.log" build/tools/replay/vs-replay --listen 127.0.0.1:0 \
  --port-file "$demo_dir/replay.port" --scenario tools/replay/scenarios/demo.jsonl \
  --backend-api-key "$api_key" --telegram-bot-token "$bot_token"
for _ in $(seq 100); do [[ -s "$demo_dir/replay.port" ]] && break; sleep 0.1; done
port=$(cat "$demo_dir/replay.port")
replay="http://127.0.0.1:$port"
export VS_BINANCE_WS_URL=${VS_BINANCE_WS_URL:-ws://127.0.0.1:$port/market/stream}
export VS_BINANCE_REST_URL=${VS_BINANCE_REST_URL:-$replay}
export VS_TELEGRAM_WEB_URL=$replay                      # vs-news reads t.me/s/<channel> here
export VOLSPIKE_API_URL=$replay VOLSPIKE_API_KEY=$api_key  # the backend (vs-deliver, vs-user-alerts)
export VS_TELEGRAM_API_URL=$replay TELEGRAM_TOKEN=$bot_token CHAT_ID=-1001234567890
unset VOLSPIKE_API_URL_DEV VOLSPIKE_API_KEY_DEV TELEGRAM_ALERT_TOKEN VS_DISCORD_WEBHOOK_URL VS_NATS_URL
echo "vs-replay:         Binance + t.me + backend + Telegram stand-in on $replay (log: $logs/vs-replay.log)"

# -- windows shortened for the demo, through the environment only (defaults are production's) --
export OI_LOOKBACK_WINDOW_5MIN=60         # OI "5 min" window: 60 s (the DOGEUSDT ramp alerts at once)
export VS_USER_ALERTS_REFRESH_MS=5000     # the backend's active list every 5 s (30 s)
export VS_USER_ALERTS_PRO_MS=2000         # Pro alerts checked every 2 s (30 s)
export VS_NEWS_INTERVAL_MS=5000           # channel pages every 5 s (30 s)
export VS_NEWS_FIRST_RUN_POSTS=0          # start after the newest post: only the scenario's posts
export TELEGRAM_CHANNELS=marketfeed,watcherguru
export VS_LIQ_WINDOW_MS=3000              # liquidations of a symbol grouped for 3 s (10 s)
export VS_WHALE_THRESHOLD_USD=5000000     # whales from $5M ($1M): the synthetic trades stay below

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
if ((nats)); then
  # In a session of its own (setsid): Ctrl-C reaches the script and the pipeline, and the
  # server is stopped by cleanup after them.
  nats_port=$(free_port)
  setsid "$nats_server" -js -a 127.0.0.1 -p "$nats_port" -sd "$demo_dir/nats" >"$logs/nats-server.log" 2>&1 &
  nats_pid=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null && break
    kill -0 "$nats_pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null; then
    tail -n 20 "$logs/nats-server.log"
    echo "nats-server did not listen on 127.0.0.1:$nats_port"
    exit 1
  fi
  export VS_NATS_URL="nats://127.0.0.1:$nats_port"   # vs-deliver's nats target, vs-nats
  echo "nats-server:       $VS_NATS_URL, JetStream store $demo_dir/nats (log: $logs/nats-server.log)"
fi

start vs-feed "$logs/vs-feed.log" build/producers/feed/vs-feed
start vs-api "$logs/vs-api.log" build/consumers/api/vs-api
start vs-oi "$logs/vs-oi.log" build/consumers/oi/vs-oi
start vs-volume "$logs/vs-volume.log" build/consumers/volume/vs-volume
start vs-user-alerts "$logs/vs-user-alerts.log" build/consumers/user_alerts/vs-user-alerts
start vs-liquidations "$logs/vs-liquidations.log" build/consumers/liquidations/vs-liquidations
start vs-news "$logs/vs-news.log" build/consumers/news/vs-news
start vs-deliver "$logs/vs-deliver.log" build/consumers/deliver/vs-deliver
echo "pipeline:          ${names[*]:1} (bus /dev/shm/$VS_BUS_PREFIX.*, logs $logs)"
echo "vs-api:            http://$VS_API_LISTEN/dashboard  http://$VS_API_LISTEN/alerts  http://$VS_API_LISTEN/funding/BTCUSDT"
echo "what arrived:      curl -s '$replay/_control/received?since=0' (every request the backend and Telegram got)"
watch_b=()
if ((nats)); then
  api_b=${VS_API_B_LISTEN:-127.0.0.1:$(free_port)}
  mkdir -p "$demo_dir/state-b"
  start vs-nats "$logs/vs-nats.log" build/consumers/nats/vs-nats
  start vs-nats-mirror "$logs/vs-nats-mirror.log" build/consumers/nats/vs-nats --mirror \
    --bus-prefix "$bus_b" --state-dir "$demo_dir/state-b"
  start vs-api-b "$logs/vs-api-b.log" build/consumers/api/vs-api --bus-prefix "$bus_b" \
    --state-dir "$demo_dir/state-b" --listen "$api_b"
  echo "host B (NATS):     vs-nats (bus A -> $VS_NATS_URL), vs-nats --mirror -> bus /dev/shm/$bus_b.*, vs-deliver's nats target on"
  echo "host B vs-api:     http://$api_b/dashboard  http://$api_b/alerts  (vs-bus-dump --bus-prefix $bus_b --channel nats_mirror --table)"
  watch_b=(--api-b "http://$api_b")
fi
echo

seconds=${DEMO_SECONDS:-}
if [[ -z "$seconds" && ! -t 1 ]]; then
  seconds=300
fi
if [[ -n "$seconds" ]]; then
  echo "alerts as they reach the local backend and Telegram, prices every 5 s (for $seconds s):"
else
  echo "alerts as they reach the local backend and Telegram, prices every 5 s (Ctrl-C stops everything):"
fi
python3 scripts/demo-watch.py --replay "$replay" --api "http://$VS_API_LISTEN" --seconds "${seconds:-0}" "${watch_b[@]}" &
watch_pid=$!
# `wait` returns at once when a signal arrives, so Ctrl-C reaches the trap without delay.
wait "$watch_pid" || true
watch_pid=
