#!/usr/bin/env bash
# Measures Check over the API on loopback: starts a server on a fresh data
# directory, restricts 50 of 1,000 accounts, then loads it from separate
# processes — wrk for JSON (if installed: apt-get install wrk) and
# holdfast-load for JSON and gRPC. Bounded in time; loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${SECS:-10}
work=$(mktemp -d)
trap 'kill "${pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/holdfast" ./cmd/holdfast
go build -o "$work/holdfast-load" ./cmd/holdfast-load
addr=127.0.0.1:${PORT:-7499}
# Staff and tokens first: a running server alone writes to its data.
"$work/holdfast" staff add --data "$work/data" --id bench --roles compliance >/dev/null
staff=$("$work/holdfast" token create --data "$work/data" --scopes staff --staff bench)
export HOLDFAST_TOKEN
HOLDFAST_TOKEN=$("$work/holdfast" token create --data "$work/data" --scopes check)
"$work/holdfast" serve --data "$work/data" --addr "$addr" >/dev/null 2>"$work/serve.log" &
pid=$!
until curl -sf "http://$addr/readyz" >/dev/null; do sleep 0.1; done
for i in $(seq 0 20 999); do
  "$work/holdfast" apply --server "http://$addr" --token "$staff" --account "acct-$i" --kind reduce_only >/dev/null
done
if command -v wrk >/dev/null; then
  echo "== wrk, JSON, 1 thread, 64 connections, ${secs}s"
  wrk -t1 -c64 -d"${secs}s" --latency -s bench/check.lua "http://$addr" | grep -E "^ +(50|99)%|Requests/sec|Non-2xx"
fi
for proto in json grpc; do
  echo "== holdfast-load, $proto, 32 callers, ${secs}s"
  "$work/holdfast-load" -server "http://$addr" -protocol "$proto" -concurrency 32 -duration "${secs}s"
done
