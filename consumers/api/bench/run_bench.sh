#!/usr/bin/env bash
# vs-api side by side with the design it replaces and with the HTTP ceiling, in the same run
# on the same market: vs-api (reading the bus), the old FastAPI server on .funding_state.json
# (/work/shared/baseline), and nginx serving a static file with vs-api's exact body.
# wrk -t2 -c64, RUNS runs of DURATION s per server and scenario (servers interleaved), medians.
#
#   consumers/api/bench/run_bench.sh [BUILD_DIR]      (default: build)
#   env: RUNS=5 DURATION=5 CONNS=64 BASELINE_DIR=../shared/baseline SYMBOLS=648 BATCH=341
#
# Needs: wrk, nginx (nginx-light), /usr/bin/python3 with fastapi + uvicorn
# (scripts/setup.sh --bench). Prints a table and one JSON line (prefix "RESULT ").
# Exit status: 0 all targets met, 1 a target missed or a peer failed, 2 setup problem.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
runs="${RUNS:-5}"
duration="${DURATION:-5}"
conns="${CONNS:-64}"
symbols="${SYMBOLS:-648}"
batch_n="${BATCH:-341}"
baseline="${BASELINE_DIR:-$root/../shared/baseline}"
api="$build/consumers/api/vs-api"
writer="$build/consumers/api/vs-api-bench-writer"

for tool in wrk nginx curl; do
  command -v "$tool" >/dev/null || { echo "run_bench: $tool missing (scripts/setup.sh --bench)" >&2; exit 2; }
done
[[ -x "$api" && -x "$writer" ]] || { echo "run_bench: build vs-api and vs-api-bench-writer in $build first" >&2; exit 2; }
[[ -f "$baseline/funding_api_server.py" ]] || { echo "run_bench: baseline not found in $baseline" >&2; exit 2; }
/usr/bin/python3 -c 'import fastapi, uvicorn' 2>/dev/null || { echo "run_bench: python3-fastapi/uvicorn missing" >&2; exit 2; }

tmp="$(mktemp -d /tmp/vs-api-bench.XXXXXX)"
chmod 755 "$tmp"
prefix="vsbench$$"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -f /dev/shm/"$prefix".* 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {  # url
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null -m 1 "$1"; then return 0; fi
    sleep 0.1
  done
  echo "run_bench: $1 did not come up" >&2; return 1
}

# 1. The market on the bus, and vs-api.
"$writer" --bus-prefix "$prefix" --symbols "$symbols" --update-ms 1000 2>"$tmp/writer.log" &
pids+=($!)
api_port="$(free_port)"
sleep 0.3
"$api" --bus-prefix "$prefix" --listen "127.0.0.1:$api_port" 2>"$tmp/api.log" &
api_pid=$!
pids+=($api_pid)

# 2. The old design: the state file (rewritten every 30 s like the daemon) and FastAPI.
mkdir -p "$tmp/state"
(cd "$tmp/state" && /usr/bin/python3 "$baseline/make_state.py" "$symbols")
( while sleep 30; do (cd "$tmp/state" && /usr/bin/python3 "$baseline/make_state.py" "$symbols"); done ) &
pids+=($!)
py_port="$(free_port)"
(cd "$tmp/state" && STATE_FILE="$tmp/state/.funding_state.json" PORT="$py_port" exec /usr/bin/python3 "$baseline/funding_api_server.py") 2>"$tmp/fastapi.log" &
pids+=($!)

wait_http "http://127.0.0.1:$api_port/funding/BTCUSDT"
wait_http "http://127.0.0.1:$py_port/funding/BTCUSDT"
sleep 1.5   # the baseline's cache loads within a second

batch_list="BTCUSDT,ETHUSDT,SOLUSDT"
for ((i = 3; i < batch_n; i++)); do batch_list+=",$(printf 'SYM%03dUSDT' "$i")"; done
single_path="/funding/BTCUSDT"
batch_path="/funding/batch?symbols=$batch_list"

# 3. nginx with static files holding vs-api's exact bodies.
mkdir -p "$tmp/www" "$tmp/nginx/logs"
curl -s "http://127.0.0.1:$api_port$single_path" >"$tmp/www/single.json"
curl -s "http://127.0.0.1:$api_port$batch_path" >"$tmp/www/batch.json"
chmod -R a+rX "$tmp/www"
ngx_port="$(free_port)"
cat >"$tmp/nginx/nginx.conf" <<CONF
worker_processes $(nproc);
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 65;
  keepalive_requests 100000000;
  default_type application/json;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  server {
    listen 127.0.0.1:$ngx_port;
    root $tmp/www;
  }
}
CONF
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/logs/error.log" &
pids+=($!)
wait_http "http://127.0.0.1:$ngx_port/single.json"

echo "run_bench: $(nproc) cores shared by wrk and the servers; $runs runs x ${duration}s, wrk -t2 -c$conns"
echo "run_bench: bodies: single $(stat -c %s "$tmp/www/single.json") B, batch of $batch_n $(stat -c %s "$tmp/www/batch.json") B"

# Peak RSS of vs-api during the load (VmHWM is the high-water mark since start).
rss_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$api_pid/status"; }

# wrk once: prints "rps p50_ms p99_ms non2xx errors"
run_wrk() {  # url
  local out
  out="$(wrk -t2 -c"$conns" -d"${duration}s" --timeout 10s --latency "$1" 2>&1)"
  echo "$out" | awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec:/ { rps = $2 }
    /^ +50%/ { p50 = ms($2) }
    /^ +99%/ { p99 = ms($2) }
    /Non-2xx or 3xx responses:/ { non2xx = $5 }
    /Socket errors:/ { errs = $4 + $6 + $8 + $10 }
    END { printf "%s %s %s %d %d\n", rps, p50, p99, non2xx, errs }'
}

declare -A urls=(
  [single,vs_api]="http://127.0.0.1:$api_port$single_path"
  [single,fastapi]="http://127.0.0.1:$py_port$single_path"
  [single,nginx]="http://127.0.0.1:$ngx_port/single.json"
  [batch,vs_api]="http://127.0.0.1:$api_port$batch_path"
  [batch,fastapi]="http://127.0.0.1:$py_port$batch_path"
  [batch,nginx]="http://127.0.0.1:$ngx_port/batch.json"
)
servers=(vs_api fastapi nginx)
: >"$tmp/samples"
for scenario in single batch; do
  for ((r = 1; r <= runs; r++)); do
    for s in "${servers[@]}"; do
      res="$(run_wrk "${urls[$scenario,$s]}")"
      echo "$scenario $s $res" >>"$tmp/samples"
      echo "  $scenario run $r $s: $res (rps p50ms p99ms non2xx errors)"
    done
  done
done
rss="$(rss_kb)"

/usr/bin/python3 - "$(nproc)" "$rss" "$runs" "$duration" "$conns" "$batch_n" "$tmp/samples" <<'PY'
import json, statistics, sys
nproc, rss, runs, duration, conns, batch_n, samples = sys.argv[1:]
raw = {}
for line in open(samples):
    scenario, server, *vals = line.split()
    raw.setdefault((scenario, server), []).append(list(map(float, vals)))
res = {}
for (scenario, server), rows in raw.items():
    res.setdefault(scenario, {})[server] = {
        "rps": round(statistics.median(r[0] for r in rows), 1),
        "p50_ms": round(statistics.median(r[1] for r in rows), 3),
        "p99_ms": round(statistics.median(r[2] for r in rows), 3),
        "non2xx": int(sum(r[3] for r in rows)),
        "socket_errors": int(sum(r[4] for r in rows)),
        "runs_rps": [r[0] for r in rows],
    }
s, b = res["single"], res["batch"]
ratios = {
    "single_vs_nginx": round(s["vs_api"]["rps"] / s["nginx"]["rps"], 3),
    "single_vs_fastapi": round(s["vs_api"]["rps"] / max(s["fastapi"]["rps"], 0.001), 1),
    "batch_vs_fastapi": round(b["vs_api"]["rps"] / max(b["fastapi"]["rps"], 0.001), 1),
    "batch_vs_nginx": round(b["vs_api"]["rps"] / b["nginx"]["rps"], 3),
}
rss_mb = int(rss) / 1024
targets = {
    "single_ge_60pct_nginx": ratios["single_vs_nginx"] >= 0.60,
    "single_ge_25x_fastapi": ratios["single_vs_fastapi"] >= 25,
    "batch_ge_50x_fastapi": ratios["batch_vs_fastapi"] >= 50,
    "rss_le_16mb": rss_mb <= 16,
    "vs_api_no_errors": s["vs_api"]["non2xx"] == 0 and b["vs_api"]["non2xx"] == 0
                        and s["vs_api"]["socket_errors"] == 0 and b["vs_api"]["socket_errors"] == 0,
}
print()
print(f"{'scenario':<8} {'server':<8} {'req/s':>10} {'p50 ms':>9} {'p99 ms':>9} {'non-2xx':>8} {'sock err':>8}")
for scen in ("single", "batch"):
    for srv in ("vs_api", "fastapi", "nginx"):
        x = res[scen][srv]
        print(f"{scen:<8} {srv:<8} {x['rps']:>10.1f} {x['p50_ms']:>9.3f} {x['p99_ms']:>9.3f} {x['non2xx']:>8} {x['socket_errors']:>8}")
print(f"vs-api peak RSS under load: {rss_mb:.1f} MB; nproc {nproc}")
print("ratios:", ratios)
print("targets:", targets)
print("RESULT " + json.dumps({"nproc": int(nproc), "runs": int(runs), "duration_s": int(duration),
                              "connections": int(conns), "batch_symbols": int(batch_n),
                              "results": res, "ratios": ratios, "vs_api_peak_rss_mb": round(rss_mb, 2),
                              "targets_met": targets}))
sys.exit(0 if all(targets.values()) else 1)
PY
