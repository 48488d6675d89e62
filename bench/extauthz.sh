#!/usr/bin/env bash
# Compares Holdfast's Envoy ext_authz service with an OPA ext_authz server
# (bench/extauthz_test.go: grpc-go, the go-control-plane types, a prepared
# Rego query over the same routes and restrictions) under ghz, on loopback:
#
#   1. writes a Holdfast data directory holding the fixture of
#      bench/fixture_test.go (1,000,000 accounts, 100,000 of them
#      restricted), the load's CheckRequests (requests.json: 40% POST
#      /api/v1/withdrawals, 40% POST /api/v1/orders, 20% GET
#      /api/v1/balances; half over every account, half over restricted
#      ones; x-account-id set) and the envoy.service.auth.v3 protoset;
#   2. starts holdfast serve on that directory, with a token of scope check,
#      and the OPA server over the same data;
#   3. requires both to give the same verdict on the first 2,000 requests;
#   4. loads each in turn with ghz, same data, same concurrency, same
#      duration (a 2 s warm-up first), and prints requests/s, p50 and p99
#      and the ratios.
#
# Needs ghz (go install github.com/bojand/ghz/cmd/ghz@v0.93.0), jq, curl.
# SECS (default 15) is the duration per run, CONCS (default "32 128") the
# ghz -c values, CONNS (default 1) ghz --connections, HF_PORT and OPA_PORT
# (default 7497, 7496) the loopback ports; ONLY=opa loads the OPA server
# alone. Preparing takes about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${SECS:-15}
concs=${CONCS:-32 128}
conns=${CONNS:-1}
only=${ONLY:-}
for tool in ghz jq curl; do
  command -v "$tool" >/dev/null || { echo "extauthz.sh: $tool is required" >&2; exit 1; }
done
work=$(mktemp -d)
cleanup() {
  for p in ${hf_pid:-} ${opa_pid:-}; do
    kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
hf_addr=127.0.0.1:${HF_PORT:-7497}
opa_addr=127.0.0.1:${OPA_PORT:-7496}

go build -o "$work/holdfast" ./cmd/holdfast
(cd bench && go test -c -o "$work/bench.test" .)
echo "== preparing (fixture into $work/data, requests, protoset)"
if ! HOLDFAST_BENCH_EXTAUTHZ_PREP=$work "$work/bench.test" -test.run '^TestExtAuthzPrepare$' -test.v >"$work/prep.log" 2>&1; then
  cat "$work/prep.log" >&2
  exit 1
fi
grep filled "$work/prep.log"

# Tokens: made before serve (a running server alone writes to its data),
# kept in files, never printed.
umask 077
"$work/holdfast" token create --data "$work/data" --scopes check >"$work/hf.token"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' | sed 's/^/hf_opa_/' >"$work/opa.token"
hf_token=$(cat "$work/hf.token")
opa_token=$(cat "$work/opa.token")
printf '{"authorization":"Bearer %s"}' "$hf_token" >"$work/hf.md"
printf '{"authorization":"Bearer %s"}' "$opa_token" >"$work/opa.md"

if [ "$only" != opa ]; then
  # HF_SERVE_ARGS adds flags, e.g. --pprof-addr 127.0.0.1:6060 to profile a run.
  "$work/holdfast" serve --data "$work/data" --addr "$hf_addr" ${HF_SERVE_ARGS:-} >/dev/null 2>"$work/serve.log" &
  hf_pid=$!
fi
HOLDFAST_BENCH_EXTAUTHZ=$opa_addr HOLDFAST_BENCH_EXTAUTHZ_TOKEN=$opa_token \
  "$work/bench.test" -test.run '^TestOPAExtAuthzServer$' -test.timeout 0 >"$work/opa.log" 2>&1 &
opa_pid=$!
for _ in $(seq 600); do
  { [ "$only" = opa ] || curl -sf "http://$hf_addr/readyz" >/dev/null; } && grep -q listening "$work/opa.log" && break
  [ "$only" = opa ] || kill -0 "$hf_pid" 2>/dev/null || { echo "holdfast serve exited:" >&2; tail "$work/serve.log" >&2; exit 1; }
  kill -0 "$opa_pid" 2>/dev/null || { echo "the OPA server exited:" >&2; tail "$work/opa.log" >&2; exit 1; }
  sleep 0.5
done
grep listening "$work/opa.log" || { echo "the OPA server is not ready" >&2; exit 1; }
if [ "$only" != opa ]; then
  curl -sf "http://$hf_addr/readyz" >/dev/null || { echo "holdfast serve is not ready" >&2; exit 1; }
  grep -m1 '"msg":"ready"' "$work/serve.log" |
    jq -r '"holdfast ready: \(.restrictions) restrictions over \(.accounts) accounts, started in \(.startup / 1e9 * 10 | round / 10) s"' || true
  echo "== same verdicts from both on 2,000 requests"
  HOLDFAST_BENCH_EXTAUTHZ_PREP=$work HOLDFAST_BENCH_EXTAUTHZ_SAME="$hf_addr,$hf_token,$opa_addr,$opa_token" \
    "$work/bench.test" -test.run '^TestExtAuthzSameAnswers$' -test.v | grep -vE '^(=== RUN|PASS)$'
fi

# cpu_ticks PID: the process's user and system CPU time so far, in clock
# ticks (/proc/PID/stat fields 14 and 15).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# run NAME ADDR CONC PID: one ghz run; prints "rps p50_ns p99_ns
# cpu_us_per_request", the last being the server's own CPU time (PID's)
# per answered call: what a check costs the server, whatever the load
# generator beside it on the same cores costs.
run() {
  local name=$1 addr=$2 conc=$3 pid=$4 out=$work/$1-$3.json
  local args=(--insecure --protoset "$work/authz.protoset" --call envoy.service.auth.v3.Authorization.Check
    --data-file "$work/requests.json" --metadata-file "$work/$name.md" -c "$conc" --connections "$conns")
  ghz "${args[@]}" -z 2s -O json "$addr" >/dev/null
  local t0 t1
  t0=$(cpu_ticks "$pid")
  ghz "${args[@]}" -z "${secs}s" -O json "$addr" >"$out"
  t1=$(cpu_ticks "$pid")
  # When the duration ends ghz closes its connections under the calls in
  # flight (at most one per caller), which fail as Unavailable ("transport
  # is closing"); ghz leaves failed calls out of the figures. More than
  # that is a real failure.
  local bad
  bad=$(jq '[.statusCodeDistribution // {} | to_entries[] | select(.key != "OK") | .value] | add // 0' "$out")
  if [ "$bad" -gt "$conc" ]; then
    echo "$name: $bad calls failed: $(jq -c '.errorDistribution' "$out")" >&2
    exit 1
  fi
  jq -r --argjson ticks "$((t1 - t0))" --argjson hz "$(getconf CLK_TCK)" '[.rps, (.latencyDistribution[] | select(.percentage == 50) | .latency),
    (.latencyDistribution[] | select(.percentage == 99) | .latency), ($ticks / $hz * 1e6 / .count)] | map(tostring) | join(" ")' "$out"
}

ms() { awk -v ns="$1" 'BEGIN { printf "%.2f ms", ns / 1e6 }'; }
for c in $concs; do
  echo "== ghz -c $c --connections $conns, ${secs}s each, envoy.service.auth.v3.Authorization/Check"
  if [ "$only" != opa ]; then
    res=$(run hf "$hf_addr" "$c" "$hf_pid")
    read -r hf_rps hf_p50 hf_p99 hf_cpu <<<"$res"
    printf '%-9s %9.0f req/s  p50 %10s  p99 %10s  server CPU %5.0f µs/req\n' holdfast "$hf_rps" "$(ms "$hf_p50")" "$(ms "$hf_p99")" "$hf_cpu"
  fi
  res=$(run opa "$opa_addr" "$c" "$opa_pid")
  read -r opa_rps opa_p50 opa_p99 opa_cpu <<<"$res"
  printf '%-9s %9.0f req/s  p50 %10s  p99 %10s  server CPU %5.0f µs/req\n' opa "$opa_rps" "$(ms "$opa_p50")" "$(ms "$opa_p99")" "$opa_cpu"
  [ "$only" != opa ] || continue
  awk -v a="$hf_rps" -v b="$opa_rps" -v p="$hf_p99" -v q="$opa_p99" -v x="$hf_cpu" -v y="$opa_cpu" \
    'BEGIN { printf "holdfast/OPA throughput = %.1f×, OPA/holdfast p99 = %.1f×, OPA/holdfast server CPU per request = %.1f×\n", a / b, q / p, y / x }'
done
