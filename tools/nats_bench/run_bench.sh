#!/usr/bin/env bash
# vs-nats's benchmark (issue 17), over loopback with a real nats-server -js started here:
#   1. publish throughput: records/s vs-nats carries from bus A's market ring through
#      nats-server (JetStream, VOLSPIKE_MARKET) to a plain NATS subscriber (vs-nats-bench-probe
#      throughput: at most WINDOW records ahead, so the ring never laps);
#   2. bus A -> bus B latency: vs-nats -> nats-server -> vs-nats --mirror -> bus B, from the
#      record's publish time on bus A to its arrival on bus B (probe latency, RATE records/s
#      for SECONDS s): p50, p99 (goal p50 <= 1 ms);
#   3. the feed host's cost: CPU of vs-nats (publish, default channels) at the real market
#      rate: vs-replay (its normal rate) -> vs-feed -> bus -> vs-nats, over CPU_SECONDS s.
# RUNS runs, medians. Prints a table and one JSON line (prefix "RESULT ").
#
#   tools/nats_bench/run_bench.sh [BUILD_DIR]     (default: build)
#   env: RUNS=3 RECORDS=100000 WINDOW=20000 RATE=1000 SECONDS=5 CPU_SECONDS=20 SMOKE=1 (tiny)
# Run it under the build lock on a shared machine: flock /tmp/vs-build.lock tools/nats_bench/run_bench.sh
# Exit status: 0 measured, 1 a measurement failed, 2 setup problem.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
if [[ "${SMOKE:-0}" == 1 ]]; then
  : "${RUNS:=1}" "${RECORDS:=3000}" "${WINDOW:=2000}" "${RATE:=200}" "${SECONDS_:=2}" "${CPU_SECONDS:=3}"
fi
runs="${RUNS:-3}"
records="${RECORDS:-100000}"
window="${WINDOW:-20000}"
rate="${RATE:-1000}"
lat_secs="${SECONDS_:-${LAT_SECONDS:-5}}"
cpu_secs="${CPU_SECONDS:-20}"
nats_exe="$build/consumers/nats/vs-nats"
probe="$build/tools/nats_bench/vs-nats-bench-probe"
replay="$build/tools/replay/vs-replay"
feed="$build/producers/feed/vs-feed"
for x in "$nats_exe" "$probe" "$replay" "$feed"; do
  [[ -x "$x" ]] || { echo "run_bench: $x missing (build it first)" >&2; exit 2; }
done
command -v nats-server >/dev/null || { echo "run_bench: nats-server missing (apt-get install nats-server)" >&2; exit 2; }

tmp="$(mktemp -d /tmp/vs-nats-bench.XXXXXX)"
pids=()
prefixes=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for pr in "${prefixes[@]}"; do rm -f /dev/shm/"$pr".* 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {  # port
  for _ in $(seq 1 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "run_bench: port $1 did not open" >&2; return 1
}
json_field() { /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

tp=() p50=() p99=() cpu=()
for ((run = 1; run <= runs; run++)); do
  dir="$tmp/run$run"
  mkdir -p "$dir"
  port="$(free_port)"
  nats-server -js -a 127.0.0.1 -p "$port" -sd "$dir/store" >"$dir/nats-server.log" 2>&1 &
  pids+=($!)
  wait_port "$port"
  url="nats://127.0.0.1:$port"
  a="vsnb${$}a$run"; b="vsnb${$}b$run"; c="vsnb${$}c$run"
  prefixes+=("$a" "$b" "$c")

  # 1. throughput (publisher only: the mirror would share the 2 cores)
  "$nats_exe" --nats-url "$url" --bus-prefix "$a" --state-dir "$dir/pub" --channels market \
    --snapshot-channels market --log-level warn 2>"$dir/pub.log" &
  pids+=($!)
  out="$("$probe" throughput "$a" "$url" "$records" "$window" | tail -n 1)" || { echo "run_bench: throughput failed" >&2; cat "$dir/pub.log" >&2; exit 1; }
  tp+=("$(json_field "$out" records_per_s)")

  # 2. latency bus A -> bus B
  "$nats_exe" --mirror --nats-url "$url" --bus-prefix "$b" --state-dir "$dir/mirror" --channels market \
    --durable "bench$run" --log-level warn 2>"$dir/mirror.log" &
  pids+=($!)
  out="$("$probe" latency "$a" "$b" "$rate" "$lat_secs" | tail -n 1)" || { echo "run_bench: latency failed" >&2; cat "$dir/mirror.log" >&2; exit 1; }
  p50+=("$(json_field "$out" p50_us)")
  p99+=("$(json_field "$out" p99_us)")
  stop_all

  # 3. CPU of vs-nats at the real market rate (vs-replay's normal rate, every default channel)
  nats-server -js -a 127.0.0.1 -p "$port" -sd "$dir/store" >>"$dir/nats-server.log" 2>&1 &
  pids+=($!)
  wait_port "$port"
  rport="$(free_port)"
  "$replay" --listen "127.0.0.1:$rport" --log-level warn >"$dir/replay.log" 2>&1 &
  pids+=($!)
  wait_port "$rport"
  "$feed" --ws-url "ws://127.0.0.1:$rport/market/stream" --rest-url "http://127.0.0.1:$rport" --bus-prefix "$c" \
    --state-dir "$dir/feed" --log-level warn 2>"$dir/feed.log" &
  pids+=($!)
  "$nats_exe" --nats-url "$url" --bus-prefix "$c" --state-dir "$dir/pubc" --log-level warn 2>"$dir/pubc.log" &
  npid=$!
  pids+=($npid)
  sleep 5   # connect, streams, first snapshot
  t0="$(cpu_ticks "$npid")"
  s0="$(date +%s.%N)"
  sleep "$cpu_secs"
  t1="$(cpu_ticks "$npid")"
  s1="$(date +%s.%N)"
  hz="$(getconf CLK_TCK)"
  cpu+=("$(awk -v a="$t0" -v b="$t1" -v s="$s0" -v e="$s1" -v hz="$hz" 'BEGIN {printf "%.2f", (b - a) / hz / (e - s) * 100}')")
  stop_all
done

cores="$(nproc)"
m_tp="$(median "${tp[@]}")"; m_p50="$(median "${p50[@]}")"; m_p99="$(median "${p99[@]}")"; m_cpu="$(median "${cpu[@]}")"
printf 'vs-nats benchmark, %d run(s), medians, %s cores, loopback, nats-server %s\n' "$runs" "$cores" "$(nats-server --version | awk '{print $2}')"
printf '  publish throughput      %10s records/s   (runs: %s; %s records, window %s)\n' "$m_tp" "${tp[*]}" "$records" "$window"
printf '  bus A -> bus B latency  p50 %s us, p99 %s us   (runs p50: %s; p99: %s; %s records/s for %s s) goal p50 <= 1000 us\n' \
  "$m_p50" "$m_p99" "${p50[*]}" "${p99[*]}" "$rate" "$lat_secs"
printf '  vs-nats CPU at the market rate  %s %% of one core   (runs: %s; vs-replay -> vs-feed, %s s)\n' "$m_cpu" "${cpu[*]}" "$cpu_secs"
printf 'RESULT {"cores":%s,"runs":%s,"records_per_s":%s,"p50_us":%s,"p99_us":%s,"cpu_percent":%s,"p50_goal_met":%s}\n' \
  "$cores" "$runs" "$m_tp" "$m_p50" "$m_p99" "$m_cpu" "$(awk -v p="$m_p50" 'BEGIN {print (p <= 1000) ? "true" : "false"}')"
