#!/usr/bin/env bash
# make bench-kit: a directory (and DIR.tar.gz) from which bench/compare.sh
# runs on another Linux machine of the same architecture without Go:
# bench.test (go test -c), holdfast, holdfast-load, opa (built from the
# OPA module bench/go.mod requires), ghz, compare.sh and its wrk script.
# The machine needs wrk and taskset (apt-get install wrk util-linux).
# Binaries are static (CGO_ENABLED=0).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
kit=${1:?usage: kit.sh DIR}
command -v go >/dev/null || { echo "kit.sh: Go is required to build the kit" >&2; exit 1; }
mkdir -p "$kit"
kit=$(cd "$kit" && pwd)
export CGO_ENABLED=0
echo "== building into $kit (the first build of OPA takes several minutes)"
(cd "$root" && go build -o "$kit/holdfast" ./cmd/holdfast && go build -o "$kit/holdfast-load" ./cmd/holdfast-load)
(cd "$here" && go test -c -o "$kit/bench.test" . && go build -o "$kit/opa" github.com/open-policy-agent/opa)
ghz=$(command -v ghz || true)
[ -n "$ghz" ] || ghz=$(go env GOPATH)/bin/ghz
if [ -x "$ghz" ]; then
  cp "$ghz" "$kit/ghz"
else
  echo "== ghz not found: go install github.com/bojand/ghz/cmd/ghz@v0.93.0 into the kit"
  GOBIN=$kit go install github.com/bojand/ghz/cmd/ghz@v0.93.0
fi
cp "$here/compare.sh" "$here/questions.lua" "$kit/"
cat >"$kit/README" <<'TXT'
Holdfast against OPA, prebuilt (make bench-kit). Needs wrk and taskset:
apt-get install wrk util-linux. Loopback only. For example:

  ./compare.sh                                  # in process only
  NET=1 ./compare.sh                            # and the servers, CPUS 1 2 4 … nproc
  NET=1 CPUS="1 2 4 8 16" SECS=10 ./compare.sh  # choose the points

Settings and columns: the head of compare.sh and docs/performance.md,
"Issue 21 (bench-compare)".
TXT
tar -C "$(dirname "$kit")" -czf "$kit.tar.gz" "$(basename "$kit")"
echo "== $kit and $kit.tar.gz ($(du -sh "$kit.tar.gz" | cut -f1))"
