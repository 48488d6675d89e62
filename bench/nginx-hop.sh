#!/usr/bin/env bash
# What the Holdfast hop costs behind nginx: wrk against nginx proxying to a
# stand-in API, once with the auth_request of testdata/gateway/nginx.conf
# (docs/gateway.md) and once with the same config minus auth_request, on
# loopback. nginx runs one worker; access logs are off in both.
#
# Needs nginx (Debian's), wrk and curl. SECS (default 15) per run, CONNS
# (default "32 128") the wrk -c values, ACCOUNT (default acct-1) the
# X-Account-Id sent.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${SECS:-15}
conns=${CONNS:-32 128}
account=${ACCOUNT:-acct-1}
for tool in nginx wrk curl; do
  command -v "$tool" >/dev/null || { echo "nginx-hop.sh: $tool is required" >&2; exit 1; }
done
work=$(mktemp -d)
cleanup() {
  [ -z "${ngx_pid:-}" ] || kill "$ngx_pid" 2>/dev/null || true
  [ -z "${hf_pid:-}" ] || { kill "$hf_pid" 2>/dev/null && wait "$hf_pid" 2>/dev/null; } || true
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/holdfast" ./cmd/holdfast
umask 077
"$work/holdfast" token create --data "$work/data" --scopes check >"$work/gw.token"
"$work/holdfast" serve --data "$work/data" --addr 127.0.0.1:7433 >/dev/null 2>"$work/serve.log" &
hf_pid=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:7433/readyz >/dev/null && break; sleep 0.1; done

# conf VARIANT: the documented config with the gateway's token and no
# access log; "direct" also drops the auth_request lines.
conf() {
  local dir=$work/nginx-$1
  mkdir -p "$dir"
  sed -e "s/hf_GATEWAY_TOKEN/$(cat "$work/gw.token")/" -e 's/access_log access.log;/access_log off;/' \
    testdata/gateway/nginx.conf >"$dir/nginx.conf"
  if [ "$1" = direct ]; then
    sed -i -e '/auth_request/d' -e '/error_page 401 403/d' -e '/holdfast_action/d' "$dir/nginx.conf"
  fi
  echo "$dir"
}

printf 'wrk.method = "POST"\nwrk.path = "/api/v1/orders"\n' >"$work/post.lua"
for variant in direct holdfast; do
  dir=$(conf "$variant")
  nginx -p "$dir" -e stderr -c nginx.conf -g 'daemon off;' 2>"$dir/error.log" &
  ngx_pid=$!
  for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:8080/ && break; sleep 0.1; done
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "X-Account-Id: $account" http://127.0.0.1:8080/api/v1/orders)
  [ "$code" = 200 ] || { echo "$variant: POST /api/v1/orders answered $code" >&2; cat "$dir/error.log" >&2; exit 1; }
  for c in $conns; do
    wrk -t2 -c"$c" -d2s -s "$work/post.lua" -H "X-Account-Id: $account" http://127.0.0.1:8080 >/dev/null
    wrk -t2 -c"$c" -d"${secs}s" --latency -s "$work/post.lua" -H "X-Account-Id: $account" http://127.0.0.1:8080 >"$work/$variant-$c.txt"
    rps=$(awk '/^Requests\/sec/ { print $2 }' "$work/$variant-$c.txt")
    p99=$(awk '$1 == "99%" { print $2 }' "$work/$variant-$c.txt")
    non2xx=$(awk '/Non-2xx/ { print $NF }' "$work/$variant-$c.txt")
    printf '%-9s -c %-4s %9.0f req/s  p99 %8s%s\n' "$variant" "$c" "$rps" "$p99" "${non2xx:+  non-2xx $non2xx}"
  done
  kill "$ngx_pid"
  wait "$ngx_pid" 2>/dev/null || true
  ngx_pid=
done
