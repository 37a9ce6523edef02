#!/usr/bin/env bash
# The benchmark (docs/BENCHMARK.md): builds the emulator and the reference server, installs wrk
# if it is missing, and runs bench.py. RUNS, DURATION and WARMUP tune it (defaults 5, 10, 3).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
  apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
cargo build --release --locked --features bench
exec python3 bench/bench.py
