#!/usr/bin/env bash
# The real-client conformance suite: starts the emulator binary with http and https on free
# ports, writes the CA bundle its certificate needs, and drives it with the pinned clients:
# Python (.venv) and Node (tests/clients/node/node_modules), both installed by .ci/run.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${EMULATOR_BIN:-$root/target/debug/entitlement-emulator}
py=${PYTHON:-$root/.venv/bin/python}
work=$(mktemp -d)
log=$work/emulator.log
"$bin" --bind 127.0.0.1:0 --https 127.0.0.1:0 >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  url=$(sed -n 's/^entitlement-emulator listening on \(http:[^ ]*\)$/\1/p' "$log")
  https=$(sed -n 's/^entitlement-emulator listening on \(https:[^ ]*\)$/\1/p' "$log")
  [ -n "$url" ] && [ -n "$https" ] && break
  sleep 0.05
done
if [ -z "${url:-}" ] || [ -z "${https:-}" ]; then
  echo "the emulator did not start:"; cat "$log"; exit 1
fi
# System roots + the emulator's test CA, exported as SSL_CERT_FILE, REQUESTS_CA_BUNDLE and
# NODE_EXTRA_CA_CERTS (docs/CLIENTS.md).
eval "$("$bin" cert --out "$work/tls")"
export SSL_CERT_FILE REQUESTS_CA_BUNDLE NODE_EXTRA_CA_CERTS

status=0
echo "-- Python msgraph-sdk / msgraph-beta-sdk with static tokens (http)"
EMULATOR_URL="$url" "$py" "$root/tests/clients/python_sdk.py" || status=1
echo "-- Python azure-identity / msal sign-in (https)"
EMULATOR_URL="$url" EMULATOR_HTTPS="$https" "$py" "$root/tests/clients/python_signin.py" || status=1
echo "-- Node @microsoft/msgraph-sdk and @microsoft/microsoft-graph-client via @azure/identity (https)"
EMULATOR_URL="$url" EMULATOR_HTTPS="$https" node "$root/tests/clients/node/suite.mjs" || status=1
echo "-- the suite's own journal as a cassette, replayed to msgraph-sdk"
"$py" -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())' \
  "$url/_emulator/journal?format=cassette" > "$work/run.json"
"$bin" replay "$work/run.json" --bind 127.0.0.1:0 > "$work/replay.log" 2>&1 &
replay_pid=$!
trap 'kill $pid $replay_pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  replay=$(sed -n 's/^.*listening on \(http:[^ ]*\)$/\1/p' "$work/replay.log")
  [ -n "$replay" ] && break
  sleep 0.05
done
REPLAY_URL="$replay" "$py" "$root/tests/clients/python_replay.py" || status=1
echo "-- the control API's page (/_emulator/) in headless Chromium (playwright-core)"
EMULATOR_URL="$url" node "$root/tests/clients/node/dashboard.mjs" || status=1
exit $status
