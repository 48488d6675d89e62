#!/usr/bin/env bash
# make bench-compare: Holdfast against OPA (and Casbin) on the fixture of
# bench/fixture_test.go (1,000,000 accounts, 100,000 of them restricted),
# everything on this machine, loopback only. Prints:
#
#   1. in process: TestCrossCheck, TestRatios (ns/check and ratios),
#      BenchmarkCheck (one goroutine);
#   2. scaling with cores: in-process checks/s from GOMAXPROCS goroutines
#      (BenchmarkCheckParallel) and, with NET=1, API requests/s of each
#      server pinned to N CPUs (taskset) with GOMAXPROCS=N, for N in CPUS;
#   3. with NET=1: TestNetwork (OPA behind a net/http handler in the test
#      process), then the servers as deployed: holdfast serve, and OPA's own
#      server (opa run --server) over the same data with an equivalent
#      policy, same verdicts required on 2,000 questions first; loaded with
#      wrk (JSON: OPA's /v1/data, Holdfast's Connect Check) and ghz
#      (Holdfast's gRPC Check) at each concurrency of CONCS.
#
# Settings (environment): NET=1; CPUS (default "1 2 4 … nproc"); SECS
# (default 5) per measured point, after 1 s of warm-up; CONCS (default
# "32 128"); WRK_THREADS (default 2); GHZ_CONNS (default: as many as
# concurrent calls, like wrk; 1 multiplexes them all); BENCHTIME
# (default 1s, go test -benchtime); HF_PORT, OPA_PORT (default 7481,
# 7482); WORK (below).
#
# Binaries: when this script lies beside bench.test (a kit made by
# make bench-kit), it uses the binaries beside it and needs no Go;
# otherwise it builds them from the checkout (Go required; building OPA
# takes minutes the first time). wrk and ghz come from PATH (or the kit).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
net=${NET:-0}
secs=${SECS:-5}
concs=${CONCS:-32 128}
wrk_threads=${WRK_THREADS:-2}
ncpu=$(getconf _NPROCESSORS_ONLN)
if [ -z "${CPUS:-}" ]; then
  CPUS=""
  for ((n = 1; n < ncpu; n *= 2)); do CPUS+="$n "; done
  CPUS+=$ncpu
fi
cpus=""
for n in $CPUS; do
  if [ "$n" -gt "$ncpu" ]; then
    echo "compare.sh: CPUS: skipping $n, this machine has $ncpu CPUs" >&2
  else
    cpus+="$n "
  fi
done
[ -n "$cpus" ] || { echo "compare.sh: no usable value in CPUS=\"$CPUS\"" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null && return
  echo "compare.sh: $1 is required and not on PATH. $2" >&2
  exit 1
}

# WORK=DIR keeps the working directory (fixture, logs); run again with the
# same WORK, the in-process part is not repeated and the servers serve the
# data prepared then (within the hour: no restriction starts or ends
# within an hour of the fixture's making).
if [ -n "${WORK:-}" ]; then
  mkdir -p "$WORK"
  work=$(cd "$WORK" && pwd)
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/holdfast-compare.XXXXXX")
fi
pids=()
bin=$work/bin
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  [ -n "${WORK:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

if [ -x "$here/bench.test" ]; then
  bin=$here
  PATH="$here:$PATH"
fi
# go install puts ghz in $(go env GOPATH)/bin, often not on PATH.
if ! command -v ghz >/dev/null && command -v go >/dev/null; then
  PATH="$PATH:$(go env GOPATH)/bin"
fi
# Before building: the first build of OPA takes minutes.
if [ "$net" = 1 ]; then
  need wrk "Install it: apt-get install wrk (or build https://github.com/wg/wrk)."
  need ghz "Install it: go install github.com/bojand/ghz/cmd/ghz@v0.93.0 (then add \$(go env GOPATH)/bin to PATH), or use a kit."
  need taskset "It comes with util-linux."
fi
if [ "$bin" != "$here" ]; then
  need go "Install Go (https://go.dev/dl/), or run a kit made by make bench-kit."
  echo "== building (go build; the first build of OPA takes several minutes)"
  root=$(cd "$here/.." && pwd)
  (cd "$root" && go build -o "$bin/holdfast" ./cmd/holdfast)
  (cd "$here" && go test -c -o "$bin/bench.test" .)
  if [ "$net" = 1 ]; then
    (cd "$here" && go build -o "$bin/opa" github.com/open-policy-agent/opa)
  fi
  cp "$here/questions.lua" "$bin/"
fi

echo "== $(date -u +%FT%TZ), $(uname -srm), $ncpu CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   servers and load generators share this machine; figures are ratios from one run"

# ---- in process ---------------------------------------------------------
tests='TestCrossCheck|TestRatios'
env=(HOLDFAST_BENCH_CPUS="$cpus")
if [ "$net" = 1 ]; then
  tests+='|TestNetwork|TestServersPrepare'
  env+=(HOLDFAST_BENCH_NET=1 HOLDFAST_BENCH_SECS="$secs" HOLDFAST_BENCH_PREP="$work" HOLDFAST_BENCH_DATA="$work/data")
fi
echo "== in process (one process, the fixture loaded once; a few minutes)"
if [ -s "$work/inprocess.log" ] && grep -q '^PASS$' "$work/inprocess.log" && { [ "$net" != 1 ] || [ -s "$work/questions.txt" ]; }; then
  echo "   (from $work/inprocess.log, an earlier run)"
else
  rm -rf "$work/data"
  (cd "$work" && env "${env[@]}" "$bin/bench.test" -test.run "^($tests)\$" -test.v -test.timeout 60m \
    -test.bench '^BenchmarkCheck(Parallel)?$' -test.benchtime "${BENCHTIME:-1s}" -test.benchmem) >"$work/inprocess.log" 2>&1 ||
    { cat "$work/inprocess.log" >&2; echo "compare.sh: the in-process run failed" >&2; exit 1; }
fi
grep -E '^ +(compare|http|servers)_test\.go:[0-9]+: |^Benchmark|/Holdfast = |^(uniform|restricted):' "$work/inprocess.log" |
  sed -E 's/^ +[a-z]+_test\.go:[0-9]+: /  /'
declare -A inproc_hf inproc_opa
while read -r _ _ procs _ hfr _ opar _; do
  inproc_hf[${procs#GOMAXPROCS=}]=$hfr
  inproc_opa[${procs#GOMAXPROCS=}]=$opar
done < <(grep '^scaling in-process' "$work/inprocess.log")

print_scaling() {
  echo "== scaling with cores (in process: BenchmarkCheckParallel, GOMAXPROCS goroutines; API: $*)"
  local first=${cpus%% *}
  printf '%6s %14s %14s %9s' GOMAX "hf in-proc/s" "opa in-proc/s" "hf÷opa"
  [ "$net" = 1 ] && printf ' %12s %12s %12s %8s %8s' "hf JSON/s" "hf gRPC/s" "opa JSON/s" "JSON÷opa" "gRPC÷opa"
  printf '\n'
  for n in $cpus; do
    printf '%6s %14.0f %14.0f %8.1f×' "$n" "${inproc_hf[$n]:-0}" "${inproc_opa[$n]:-0}" \
      "$(awk -v a="${inproc_hf[$n]:-0}" -v b="${inproc_opa[$n]:-1}" 'BEGIN { print a / b }')"
    if [ "$net" = 1 ]; then
      printf ' %12.0f %12.0f %12.0f %7.1f× %7.1f×' "${api_json[$n]}" "${api_grpc[$n]}" "${api_opa[$n]}" \
        "$(awk -v a="${api_json[$n]}" -v b="${api_opa[$n]}" 'BEGIN { print a / b }')" \
        "$(awk -v a="${api_grpc[$n]}" -v b="${api_opa[$n]}" 'BEGIN { print a / b }')"
    fi
    printf '\n'
  done
  if [ "$(wc -w <<<"$cpus")" -gt 1 ]; then
    printf 'speed-up over GOMAXPROCS=%s:' "$first"
    for n in $cpus; do
      printf '  %s: hf %.2f× opa %.2f×' "$n" \
        "$(awk -v a="${inproc_hf[$n]:-0}" -v b="${inproc_hf[$first]:-1}" 'BEGIN { print a / b }')" \
        "$(awk -v a="${inproc_opa[$n]:-0}" -v b="${inproc_opa[$first]:-1}" 'BEGIN { print a / b }')"
      [ "$net" = 1 ] && printf ' (API hf JSON %.2f× gRPC %.2f× opa %.2f×)' \
        "$(awk -v a="${api_json[$n]}" -v b="${api_json[$first]}" 'BEGIN { print a / b }')" \
        "$(awk -v a="${api_grpc[$n]}" -v b="${api_grpc[$first]}" 'BEGIN { print a / b }')" \
        "$(awk -v a="${api_opa[$n]}" -v b="${api_opa[$first]}" 'BEGIN { print a / b }')"
    done
    printf '\n'
  fi
}

if [ "$net" != 1 ]; then
  print_scaling "NET=1 adds it"
  exit 0
fi

# ---- the servers ----------------------------------------------------------
hf_addr=127.0.0.1:${HF_PORT:-7481}
opa_addr=127.0.0.1:${OPA_PORT:-7482}
umask 077
# A token made before serve: a running server alone writes to its data.
"$bin/holdfast" token create --data "$work/data" --scopes check >"$work/hf.token"
export HOLDFAST_TOKEN
HOLDFAST_TOKEN=$(cat "$work/hf.token")
printf '{"authorization":"Bearer %s"}' "$HOLDFAST_TOKEN" >"$work/hf.md"

# http_ok ADDR PATH: whether GET PATH answers 200 (bash alone, no curl).
http_ok() {
  local line
  # (the group, not exec, takes 2>: exec's own would silence the script)
  { exec 3<>"/dev/tcp/${1%:*}/${1#*:}"; } 2>/dev/null || return 1
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$2" "$1" >&3
  read -r line <&3 || true
  exec 3<&- 3>&-
  [[ $line == *" 200"* ]]
}

# pinned N: the prefix that runs a server on CPUs 0..N-1 with GOMAXPROCS=N
# (nothing for "all": the default placement); loadpin N: where the load
# generator runs, the other CPUs when at least N are left, else anywhere.
pinned() { [ "$1" = all ] || echo "taskset -c 0-$(($1 - 1)) env GOMAXPROCS=$1"; }
loadpin() { [ "$1" != all ] && [ $((ncpu - $1)) -ge "$1" ] && echo "taskset -c $1-$((ncpu - 1))" || true; }

# start N: starts both servers placed by pinned N and waits until ready.
start() {
  stop_servers
  # shellcheck disable=SC2046
  $(pinned "$1") "$bin/holdfast" serve --data "$work/data" --addr "$hf_addr" >/dev/null 2>"$work/serve.log" &
  hf_pid=$!
  # shellcheck disable=SC2046
  $(pinned "$1") "$bin/opa" run --server --addr "$opa_addr" --skip-version-check --log-level error \
    --log-level-request error "$work/opa" >"$work/opa.log" 2>&1 &
  opa_pid=$!
  pids=("$hf_pid" "$opa_pid")
  local t0=$SECONDS
  until http_ok "$hf_addr" /readyz && http_ok "$opa_addr" /health; do
    kill -0 "$hf_pid" 2>/dev/null || { echo "holdfast serve exited:" >&2; tail "$work/serve.log" >&2; exit 1; }
    kill -0 "$opa_pid" 2>/dev/null || { echo "opa run exited:" >&2; tail "$work/opa.log" >&2; exit 1; }
    [ $((SECONDS - t0)) -lt 300 ] || { echo "compare.sh: the servers are not ready after 300 s" >&2; exit 1; }
    sleep 0.5
  done
  echo "   servers ready in $((SECONDS - t0)) s ($([ "$1" = all ] && echo unpinned || echo "each on CPUs 0-$(($1 - 1)), GOMAXPROCS=$1"))"
}
stop_servers() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  pids=()
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# wrk_run TARGET PID CONC PIN: prints "rps p50_µs p99_µs server_cpu_µs_per_request".
wrk_run() {
  local target=$1 pid=$2 conc=$3 pin=$4 addr=$hf_addr out t0 t1
  [ "$target" = opa ] && addr=$opa_addr
  local args=(-t"$wrk_threads" -c"$conc" -s "$bin/questions.lua" "http://$addr")
  TARGET=$target QUESTIONS=$work/questions.txt $pin wrk "${args[@]}" -d1s >/dev/null
  t0=$(cpu_ticks "$pid")
  out=$(TARGET=$target QUESTIONS=$work/questions.txt $pin wrk "${args[@]}" -d"${secs}s" | grep '^WRK ')
  t1=$(cpu_ticks "$pid")
  read -r _ rps p50 p99 failed <<<"$out"
  if [ "$failed" -gt 0 ]; then
    echo "compare.sh: wrk against $target: $failed failed requests" >&2
    exit 1
  fi
  awk -v r="$rps" -v a="$p50" -v b="$p99" -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v s="$secs" \
    'BEGIN { printf "%s %s %s %.1f\n", r, a, b, t / hz * 1e6 / (r * s) }'
}

# ghz_run PID CONC PIN: the same for Holdfast's gRPC Check under ghz.
ghz_run() {
  local pid=$1 conc=$2 pin=$3 out=$work/ghz.json t0 t1
  local args=(--insecure --protoset "$work/holdfast.protoset" --call holdfast.v1.DecisionService.Check
    --data-file "$work/questions.json" --metadata-file "$work/hf.md" -c "$conc" --connections "${GHZ_CONNS:-$conc}" -O json "$hf_addr")
  $pin ghz "${args[@]}" -z 1s >/dev/null
  t0=$(cpu_ticks "$pid")
  $pin ghz "${args[@]}" -z "${secs}s" >"$out"
  t1=$(cpu_ticks "$pid")
  # ghz closes its connections when the time is up, under the calls in
  # flight (at most one per caller), which fail as Unavailable; more is a
  # real failure.
  local ok all
  ok=$(grep -o '"OK":[0-9]*' "$out" | cut -d: -f2)
  all=$(grep -o '"count":[0-9]*' "$out" | head -1 | cut -d: -f2)
  if [ -z "$ok" ] || [ $((all - ok)) -gt "$conc" ]; then
    echo "compare.sh: ghz: $((all - ${ok:-0})) of $all calls failed: $(grep -o '"errorDistribution":{[^}]*}' "$out")" >&2
    exit 1
  fi
  local rps p50 p99
  rps=$(grep -o '"rps":[0-9.e+]*' "$out" | cut -d: -f2)
  p50=$(grep -o '"percentage":50,"latency":[0-9]*' "$out" | cut -d: -f3)
  p99=$(grep -o '"percentage":99,"latency":[0-9]*' "$out" | cut -d: -f3)
  awk -v r="$rps" -v a="$p50" -v b="$p99" -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v n="$ok" \
    'BEGIN { printf "%s %d %d %.1f\n", r, a / 1000, b / 1000, t / hz * 1e6 / n }'
}

ms() { awk -v us="$1" 'BEGIN { printf "%.2f ms", us / 1000 }'; }
row() { printf '  %-20s %9.0f req/s  p50 %10s  p99 %10s  server CPU %6.1f µs/req\n' "$1" "$2" "$(ms "$3")" "$(ms "$4")" "$5"; }

echo "== servers as deployed: holdfast serve and opa run --server (OPA $("$bin/opa" version | awk '/^Version/ { print $2 }')), unpinned"
start all
echo "== same verdicts: holdfast (Connect JSON and gRPC) and OPA on 2,000 questions of the load"
HOLDFAST_BENCH_PREP=$work HOLDFAST_BENCH_SAME="http://$hf_addr,$HOLDFAST_TOKEN,http://$opa_addr" \
  "$bin/bench.test" -test.run '^TestServersSameAnswers$' >"$work/same.log" 2>&1 ||
  { cat "$work/same.log" >&2; echo "compare.sh: the servers do not agree; not measuring" >&2; exit 1; }
grep '^same verdicts' "$work/same.log"
for c in $concs; do
  echo "== $c connections, ${secs} s each (after 1 s of warm-up); wrk -t$wrk_threads -c$c; ghz -c $c --connections ${GHZ_CONNS:-$c}"
  # (assignments alone on their line, so that set -e stops the script when a run fails)
  res=$(wrk_run opa "$opa_pid" "$c" "")
  read -r o_rps o_p50 o_p99 o_cpu <<<"$res"
  res=$(wrk_run holdfast "$hf_pid" "$c" "")
  read -r j_rps j_p50 j_p99 j_cpu <<<"$res"
  res=$(ghz_run "$hf_pid" "$c" "")
  read -r g_rps g_p50 g_p99 g_cpu <<<"$res"
  row "opa JSON (wrk)" "$o_rps" "$o_p50" "$o_p99" "$o_cpu"
  row "holdfast JSON (wrk)" "$j_rps" "$j_p50" "$j_p99" "$j_cpu"
  row "holdfast gRPC (ghz)" "$g_rps" "$g_p50" "$g_p99" "$g_cpu"
  awk -v o="$o_rps" -v j="$j_rps" -v g="$g_rps" -v op="$o_p99" -v jp="$j_p99" -v gp="$g_p99" -v oc="$o_cpu" -v jc="$j_cpu" -v gc="$g_cpu" 'BEGIN {
    printf "  throughput: holdfast JSON ÷ OPA = %.2f×, holdfast gRPC ÷ OPA = %.2f×, gRPC ÷ JSON = %.2f×\n", j / o, g / o, g / j
    printf "  p99: OPA ÷ holdfast JSON = %.2f×, OPA ÷ holdfast gRPC = %.2f×; server CPU per request: OPA ÷ JSON = %.2f×, OPA ÷ gRPC = %.2f×\n", op / jp, op / gp, oc / jc, oc / gc
  }'
done

# ---- API scaling ----------------------------------------------------------
declare -A api_json api_grpc api_opa
sc=${concs%% *}
for n in $cpus; do
  echo "== API at GOMAXPROCS=$n: $sc connections, ${secs} s each; load generators on $(loadpin "$n" | awk '{ print "CPUs " $3 }' | grep . || echo "any CPU")"
  start "$n"
  pin=$(loadpin "$n")
  res=$(wrk_run opa "$opa_pid" "$sc" "$pin")
  api_opa[$n]=${res%% *}
  res=$(wrk_run holdfast "$hf_pid" "$sc" "$pin")
  api_json[$n]=${res%% *}
  res=$(ghz_run "$hf_pid" "$sc" "$pin")
  api_grpc[$n]=${res%% *}
done
stop_servers
print_scaling "each server on N CPUs (taskset) with GOMAXPROCS=N, $sc connections: wrk -t$wrk_threads, ghz -c $sc --connections ${GHZ_CONNS:-$sc}"
