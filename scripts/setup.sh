#!/usr/bin/env bash
# Installs, with apt-get, exactly the Debian packages that are missing for building,
# testing and running volspike-bus. Safe to run again: it installs nothing when all is there.
#
#   scripts/setup.sh            build + run + test dependencies
#   scripts/setup.sh --bench    also the side-by-side benchmark peers (FastAPI, nginx, wrk)
set -euo pipefail

pkgs=(
  g++ meson ninja-build pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libflatbuffers-dev flatbuffers-compiler
  liblmdb-dev lmdb-utils
  libspdlog-dev libfmt-dev
  libsimdjson-dev
  libxml2-dev                    # vs-news: Telegram channel page parser
  libgtest-dev libgmock-dev libbenchmark-dev
  libssl-dev ca-certificates
  libsystemd-dev systemd
  python3 procps util-linux
  chromium                       # vs-api dashboard test (headless)
  libjs-chart.js                 # vs-api dashboard charts, embedded at build time (no CDN)
  prometheus                     # promtool: the /metrics test checks a real scrape
  nats-server libnats-dev        # vs-nats (JetStream) and its tests; vs-deliver's nats target
  ccache
  clang libclang-rt-14-dev       # vs-api router fuzz target (libFuzzer)
)
if [[ "${1:-}" == "--bench" ]]; then
  pkgs+=(python3-fastapi python3-uvicorn nginx-light wrk)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#pkgs[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
