#!/usr/bin/env bash
# Sets up what is missing, builds, and runs every test suite the way CI does:
#   1. the normal build (-O2, no debug info, as the demo runs it): every suite (unit, concurrency, integration);
#   2. an AddressSanitizer + UndefinedBehaviorSanitizer build: every suite again but e2e (the slow
#      whole-process scenarios run once, in the normal build);
#   3. a ThreadSanitizer build of the bus's concurrency tests;
#   4. a bounded libFuzzer run over vs-api's request routing (when clang is available).
# Ends with one line "N passed, N failed" (test programs across all builds).
#
#   scripts/test.sh            everything above
#   scripts/test.sh --quick    the normal build only
#   VS_LONG_TESTS=1 scripts/test.sh   the long stress modes (10^8 records, 1000 kills)
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
quick=0
[[ "${1:-}" == "--quick" ]] && quick=1
jobs=$(nproc)
long=false
[[ "${VS_LONG_TESTS:-0}" == "1" ]] && long=true

scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

logdir="$root/build-logs"
rm -rf "$logdir"
mkdir -p "$logdir"
rm -f build/meson-logs/testlog.json build-asan/meson-logs/testlog.json build-tsan/meson-logs/testlog.json
failed_steps=()

# configure DIR ARGS...: a fresh configuration when the options changed.
configure() {
  local dir=$1; shift
  if [[ -f "$dir/build.ninja" ]]; then
    meson configure "$dir" "$@" >/dev/null 2>&1 || meson setup --wipe "$dir" "$@" >/dev/null
  else
    meson setup "$dir" "$@" >"$logdir/$(basename "$dir")-setup.log" 2>&1 || { tail -40 "$logdir/$(basename "$dir")-setup.log"; return 1; }
  fi
}

# run_suite NAME DIR [meson test args...]
run_suite() {
  local name=$1 dir=$2; shift 2
  echo "== $name: meson test $*"
  rm -f "$dir/meson-logs/testlog.json"
  if ! meson test -C "$dir" --num-processes "$jobs" --print-errorlogs "$@" >"$logdir/$name-test.log" 2>&1; then
    failed_steps+=("$name")
  fi
  grep -E '^ *[0-9]+/[0-9]+ ' "$logdir/$name-test.log" | sed 's/^/   /' | grep -vE ' OK |SKIP ' || true
  grep -E '^(Ok|Fail|Skipped|Timeout|Expected Fail|Unexpected Pass):' "$logdir/$name-test.log" | tr '\n' ' '; echo
}

build() {
  local name=$1 dir=$2; shift 2
  echo "== $name: build"
  local t0=$SECONDS
  if ! ninja -C "$dir" "$@" >"$logdir/$name-build.log" 2>&1; then
    tail -60 "$logdir/$name-build.log"
    failed_steps+=("$name-build")
    return 1
  fi
  echo "   built in $((SECONDS - t0)) s"
}

# 1. Normal build, every suite.
if configure build -Doptimization=2 -Ddebug=false -Dlong_tests=$long && build normal build; then
  run_suite normal build
fi

if (( quick == 0 )); then
  # 2. ASan + UBSan, every suite but 'e2e' (the slow whole-process scenarios: minutes of
  #    waiting on outages and cycles, which the normal build already ran; the processes'
  #    code is exercised under ASan by their integration suites). -Og: the Beast/Asio coroutine units build about twice as
  #    fast as at -O1 (producers/feed/src/ws_connection.cpp: 150 CPU-seconds and 8 GB at -O1,
  #    86 s at -Og) and the suites run as long. Not -O0 (52 s): GCC's UBSan object-size check
  #    needs __builtin_object_size, which finds nothing without optimization. No debug info
  #    (function names still appear in reports). Only what the suites need is built
  #    (meson-test-prereq: every test program and every executable a test runs), not the
  #    benchmarks, which nothing runs here.
  if configure build-asan -Db_sanitize=address,undefined -Db_lundef=false -Doptimization=g -Ddebug=false \
       -Dlong_tests=$long && build asan build-asan meson-test-prereq; then
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      run_suite asan build-asan --timeout-multiplier 3 --no-suite e2e
  fi
  # 3. TSan on the bus's concurrency tests (the lock-free protocol itself). GCC's TSan does
  #    not model standalone fences (-Wtsan); every shared word is accessed atomically, so it
  #    still checks every access, and the self-checking records catch any ordering bug.
  if configure build-tsan -Db_sanitize=thread -Db_lundef=false -Doptimization=1 -Ddebug=false -Dcpp_args=-Wno-tsan && \
     build tsan build-tsan tests/bus/bus_ring_concurrency_test tests/bus/bus_ring_test tests/bus/bus_latest_table_test \
       tests/bus/bus_channel_test; then
    VS_STRESS_RECORDS=${VS_TSAN_RECORDS:-300000} TSAN_OPTIONS=halt_on_error=1 \
      run_suite tsan build-tsan --no-rebuild bus_ring_concurrency bus_ring bus_latest_table bus_channel
  fi
  # 4. libFuzzer over the API's request parsing and routing, bounded.
  if [[ -x consumers/api/fuzz/run_fuzz.sh ]] && command -v clang++ >/dev/null; then
    echo "== fuzz: vs-api router"
    if consumers/api/fuzz/run_fuzz.sh "${VS_FUZZ_SECONDS:-60}" >"$logdir/fuzz.log" 2>&1; then
      echo "   fuzz: ok ($(grep -Eo 'Done [0-9]+ runs' "$logdir/fuzz.log" | tail -1))"
      echo '{"name": "fuzz_api_router", "result": "OK"}' >"$logdir/fuzz-result.json"
    else
      tail -30 "$logdir/fuzz.log"
      echo '{"name": "fuzz_api_router", "result": "FAIL"}' >"$logdir/fuzz-result.json"
      failed_steps+=("fuzz")
    fi
  fi
fi

if ((${#failed_steps[@]})); then
  echo "failed steps: ${failed_steps[*]} (logs in build-logs/)"
fi
build_failures=$(printf '%s\n' "${failed_steps[@]}" | grep -c -- '-build$' || true)
python3 - "$root" "$build_failures" <<'PY'
import json, os, sys
root, build_failures = sys.argv[1], int(sys.argv[2])
passed = failed = skipped = 0
logs = [os.path.join(root, d, 'meson-logs', 'testlog.json') for d in ('build', 'build-asan', 'build-tsan')]
logs.append(os.path.join(root, 'build-logs', 'fuzz-result.json'))
for log in logs:
    if not os.path.exists(log):
        continue
    for line in open(log):
        line = line.strip()
        if not line:
            continue
        r = json.loads(line).get('result')
        if r in ('OK', 'EXPECTEDFAIL'):
            passed += 1
        elif r == 'SKIP':
            skipped += 1
        else:
            failed += 1
failed += build_failures  # a build that failed ran none of its tests
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
((${#failed_steps[@]})) && exit 1
exit 0
