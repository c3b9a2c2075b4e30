#!/usr/bin/env bash
# vs-user-alerts: the check benchmark and the real process's memory with 100,000 alerts.
#   1. vs-user-alerts-bench: one check of every alert with the values read from the bus
#      (RUNS runs, median), and the REST weight per minute the old checker would need;
#   2. the vs-user-alerts process itself against a local backend (python3 http.server serving
#      the same 100,000-alert /active answer, 200 to every update-checked) and a market + oi
#      channel kept fresh by the bench: VmRSS sampled every second for PROCESS_S seconds
#      (the list fetched, every tier checked at least once), and VmHWM.
#
#   consumers/user_alerts/bench/run_bench.sh [BUILD_DIR]     (default: build)
#   env: ALERTS=100000 SYMBOLS=650 RUNS=15 PROCESS_S=45
# Run it under the build lock (flock /tmp/vs-build.lock ...): it measures time.
# Exit status: 0 goals met (check <= 10 ms, RSS <= 48 MB), 1 a goal missed, 2 setup problem.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
alerts="${ALERTS:-100000}"
symbols="${SYMBOLS:-650}"
runs="${RUNS:-15}"
process_s="${PROCESS_S:-45}"
bench="$build/consumers/user_alerts/vs-user-alerts-bench"
ua="$build/consumers/user_alerts/vs-user-alerts"
[[ -x "$bench" && -x "$ua" ]] || { echo "run_bench: build vs-user-alerts and vs-user-alerts-bench first" >&2; exit 2; }

tmp="$(mktemp -d /tmp/vs-ua-bench.XXXXXX)"
prefix="vsuabench$$"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -f /dev/shm/"$prefix".* 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "== 1. one check, in process ($alerts alerts, $symbols symbols, $runs runs, $(nproc) cores)"
"$bench" --alerts "$alerts" --symbols "$symbols" --runs "$runs" 2>/dev/null | tee "$tmp/check.txt"
check_ms="$(sed -n 's/^RESULT .*"check_median_ms":\([0-9.]*\).*/\1/p' "$tmp/check.txt")"

echo "== 2. the vs-user-alerts process with $alerts alerts ($process_s s)"
"$bench" --alerts "$alerts" --symbols "$symbols" --write-list "$tmp/active.json"
"$bench" --bus-prefix "$prefix" --symbols "$symbols" --serve-s $((process_s + 30)) 2>"$tmp/market.log" &
pids+=($!)
port="$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat >"$tmp/backend.py" <<'PY'
import sys, http.server
body = open(sys.argv[2], 'rb').read()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def log_message(self, *a): pass
    def reply(self, data):
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self):
        self.reply(body if self.path.startswith('/api/user-alerts-trigger/active') else b'{}')
    def do_POST(self):
        self.rfile.read(int(self.headers.get('Content-Length', 0)))
        self.reply(b'{"success":true}')
http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
PY
/usr/bin/python3 "$tmp/backend.py" "$port" "$tmp/active.json" &
pids+=($!)
sleep 1
mkdir -p "$tmp/state"
"$ua" --bus-prefix "$prefix" --state-dir "$tmp/state" --backend-url "http://127.0.0.1:$port" \
  --api-key bench-key-123456 --free-interval-ms 30000 --log-level info 2>"$tmp/ua.log" &
ua_pid=$!
pids+=($ua_pid)
max_rss=0
for ((i = 0; i < process_s; i++)); do
  sleep 1
  rss="$(awk '/^VmRSS:/ {print $2}' /proc/$ua_pid/status 2>/dev/null || echo 0)"
  (( rss > max_rss )) && max_rss=$rss
done
hwm="$(awk '/^VmHWM:/ {print $2}' /proc/$ua_pid/status)"
rss_now="$(awk '/^VmRSS:/ {print $2}' /proc/$ua_pid/status)"
grep -E "active alerts|cannot|error" "$tmp/ua.log" | head -5 || true
kill -TERM "$ua_pid"; wait "$ua_pid" || true
echo "   vs-user-alerts with $alerts alerts: VmRSS now $rss_now kB, highest sample $max_rss kB, VmHWM $hwm kB"
echo "RESULT {\"check_median_ms\":$check_ms,\"process_rss_kb\":$rss_now,\"process_rss_max_kb\":$max_rss,\"process_hwm_kb\":$hwm,\"cores\":$(nproc)}"
awk -v c="$check_ms" -v r="$max_rss" 'BEGIN { exit !(c <= 10 && r <= 48 * 1024) }'
