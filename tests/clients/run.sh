#!/usr/bin/env bash
# The real-SDK client suite: starts the emulator binary on a free port and drives it with the
# pinned Python Graph SDKs from the project's virtualenv (.venv, made by .ci/run).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${EMULATOR_BIN:-$root/target/debug/entitlement-emulator}
py=${PYTHON:-$root/.venv/bin/python}
log=$(mktemp)
"$bin" --bind 127.0.0.1:0 >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 100); do
  url=$(sed -n 's/^entitlement-emulator listening on \(http[^ ]*\)$/\1/p' "$log")
  [ -n "$url" ] && break
  sleep 0.05
done
if [ -z "${url:-}" ]; then
  echo "the emulator did not start:"; cat "$log"; exit 1
fi
EMULATOR_URL="$url" "$py" "$root/tests/clients/python_sdk.py"
