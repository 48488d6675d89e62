#!/usr/bin/env bash
# A 10-minute soak against 3 nodes on PostgreSQL + NATS.
set -u
cd /tmp/soak
DB=hf_soak_$$
psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $DB" postgres
DSN="postgres://postgres@127.0.0.1:5432/$DB?sslmode=disable"
PFX=hfsoak$$
./holdfast migrate --store "$DSN" >/dev/null
./holdfast staff add --store "$DSN" --id admin --roles admin >/dev/null
TOK=$(./holdfast token create --store "$DSN" --scopes staff,check,events --staff admin)
PIDS=()
for i in 0 1 2; do
  ./holdfast serve --store "$DSN" --bus nats://127.0.0.1:4222 --bus-prefix $PFX --addr 127.0.0.1:$((7610+i)) --data /tmp/soak/data$i --log-level error > /tmp/soak/node$i.log 2>&1 &
  PIDS+=($!)
done
sleep 3
echo "minute node req/s(check) p99(check) errors(all) rss_kb" > /tmp/soak/summary.txt
for m in $(seq 1 10); do
  for i in 0 1 2; do
    ./load -server http://127.0.0.1:$((7610+i)) -token "$TOK" -duration 60s -concurrency 16 -rate 500 -accounts 5000 -mix check=90,withdraw=5,event=5 > /tmp/soak/m${m}_n$i.txt 2>&1 &
  done
  wait $(jobs -p | grep -v -e "${PIDS[0]}" -e "${PIDS[1]}" -e "${PIDS[2]}") 2>/dev/null
  for i in 0 1 2; do
    rss=$(ps -o rss= -p ${PIDS[$i]} | tr -d ' ')
    line=$(grep '^check' /tmp/soak/m${m}_n$i.txt)
    errs=$(awk 'NR>2 && $1!~/first/ {s+=$4} END {print s+0}' /tmp/soak/m${m}_n$i.txt)
    echo "$m $i $(echo $line | awk '{print $3, $7}') $errs $rss" >> /tmp/soak/summary.txt
  done
done
kill ${PIDS[@]}
sleep 1
psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE $DB WITH (FORCE)" postgres
echo done >> /tmp/soak/summary.txt
