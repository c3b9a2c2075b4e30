#!/usr/bin/env bash
# Builds vs-api's router fuzz target with Debian's clang (libFuzzer + AddressSanitizer +
# UndefinedBehaviorSanitizer) and runs it for a bounded time.
#
#   consumers/api/fuzz/run_fuzz.sh [SECONDS]      default 60; needs: clang libclang-rt-14-dev
#
# Exit status: 0 no finding, 1 a crash/sanitizer report (reproducer in $VS_FUZZ_DIR), 2 setup.
set -euo pipefail
seconds="${1:-60}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
# A work folder of our own is removed at exit unless it holds a finding's reproducers.
own_work=0
keep_work=0
if [[ -n "${VS_FUZZ_DIR:-}" ]]; then
  work="$VS_FUZZ_DIR"
else
  work="$(mktemp -d /tmp/vs-api-fuzz.XXXXXX)"
  own_work=1
fi
cleanup() { if (( own_work && !keep_work )); then rm -rf "$work"; fi; }
trap cleanup EXIT
mkdir -p "$work/gen/schemas" "$work/corpus"
cxx="${CXX_FUZZ:-clang++}"
command -v "$cxx" >/dev/null || { echo "run_fuzz: $cxx not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }
command -v flatc >/dev/null || { echo "run_fuzz: flatc not found" >&2; exit 2; }

for s in "$root"/schemas/*.fbs; do   # every schema, so a new one never breaks the fuzz build
  flatc --cpp --scoped-enums -I "$root/schemas" -o "$work/gen/schemas" "$s"
done
python3 "$root/consumers/api/src/embed_file.py" "$root/consumers/api/src/dashboard.html" \
  "$work/gen/dashboard_html.cpp" dashboard_html
# The dashboard's Chart.js (Debian libjs-chart.js), as the meson build embeds it.
chartjs=/usr/share/javascript/chart.js/chart.min.js
[[ -f "$chartjs" ]] || { echo "run_fuzz: $chartjs not found (apt-get install libjs-chart.js)" >&2; exit 2; }
python3 "$root/consumers/api/src/embed_file.py" "$chartjs" "$work/gen/chartjs.cpp" chartjs
version="$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "$root/meson.build" | head -1)"

"$cxx" -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -DVS_VERSION="\"$version\"" -DFLATBUFFERS_NAN_DEFAULTS -DBOOST_BEAST_USE_STD_STRING_VIEW \
  -DBOOST_ASIO_NO_DEPRECATED \
  -I"$work/gen" -I"$root" -I"$root/consumers/api/include" -I"$root/consumers/api/fuzz" \
  -I"$root/bus/include" -I"$root/common/include" \
  "$root/consumers/api/fuzz/router_fuzz.cpp" \
  "$root/consumers/api/src/json_writer.cpp" "$root/consumers/api/src/metrics.cpp" \
  "$root/consumers/api/src/render.cpp" "$root/consumers/api/src/router.cpp" \
  "$root/consumers/api/src/router_feeds.cpp" "$root/consumers/api/src/history.cpp" \
  "$work/gen/dashboard_html.cpp" "$work/gen/chartjs.cpp" \
  -lfmt -o "$work/router_fuzz"

# Seeds: the requests the API expects, plus a few hostile ones.
i=0
while IFS= read -r line; do
  printf '%b' "$line" > "$work/corpus/seed$i"; i=$((i + 1))
done <<'SEEDS'
GET /funding/BTCUSDT HTTP/1.1\r\nHost: x\r\n\r\n
GET /funding/batch?symbols=BTCUSDT,ETHUSDT,btcusd_perp HTTP/1.1\r\nHost: x\r\n\r\n
GET /funding/%E5%B8%81%E5%AE%89USDT HTTP/1.1\r\nHost: x\r\n\r\n
GET /funding/health HTTP/1.1\r\n\r\n
GET /tickers HTTP/1.1\r\n\r\n
GET /oi/ETHUSDT HTTP/1.1\r\n\r\n
GET /universe HTTP/1.1\r\n\r\n
GET /metrics HTTP/1.1\r\n\r\n
GET /events?symbols=BTCUSDT HTTP/1.1\r\n\r\n
HEAD /dashboard HTTP/1.0\r\n\r\n
GET /history/BTCUSDT?hours=1.5 HTTP/1.1\r\n\r\n
GET /history HTTP/1.1\r\n\r\n
POST /funding/BTCUSDT HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd
GET /funding/%22%00%ff HTTP/1.1\r\n\r\n
GET http://x/funding HTTP/1.1\r\n\r\n
SEEDS

echo "run_fuzz: running $work/router_fuzz for ${seconds}s"
cd "$work"
"$work/router_fuzz" -max_total_time="$seconds" -max_len=8192 -timeout=5 -rss_limit_mb=1024 \
  -print_final_stats=1 "$work/corpus" 2>&1 | tail -n 25
status=${PIPESTATUS[0]}
if [[ $status -ne 0 ]]; then
  keep_work=1
  echo "run_fuzz: FINDING (exit $status); reproducers in $work" >&2
  exit 1
fi
echo "run_fuzz: no finding in ${seconds}s"
