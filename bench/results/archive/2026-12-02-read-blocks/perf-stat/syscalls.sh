#!/usr/bin/env bash
# Syscalls, context switches and CPU of the gateway per request over 20 s of steady load (concurrency 64, 100 KB
# bodies), counted by perf on the gateway's process; requests from the gateway's own /metrics over the same 20 s.
# usage: syscalls.sh NAME [VAR=VALUE ...]   (needs perf with syscall tracepoints, and the bench built in Release)
# Writes $OUT/NAME.csv (perf stat -x, output plus a requests= line) and $OUT/NAME.log (the bench run).
set -u
name=$1; shift
out=${OUT:-/tmp/syscalls}
mkdir -p "$out"
cd "$(git rev-parse --show-toplevel)"
env "$@" timeout 900 dotnet bench/Gateway.Bench/bin/Release/net10.0/LlamaGateway.Bench.dll overhead --concurrency 64 \
  --targets gateway --sizes 100 --rounds 1 --measure-seconds 60 --out "$out/$name" > "$out/$name.log" 2>&1 &
# The direct run comes first; 45 s after it the gateway is past its JIT warm-up and under steady load.
for _ in $(seq 1 180); do grep -q 'round 1 direct' "$out/$name.log" && break; sleep 1; done
sleep 45
pid=$(pgrep -f 'host gateway' | head -1)
port=$(ss -ltnp | grep "pid=$pid," | grep -oE '127.0.0.1:[0-9]+' | head -1)
count() { curl -s "http://$port/metrics" | grep -E '^gateway_requests_total' | awk '{s+=$NF} END {print s}'; }
before=$(count)
perf stat -x, -e 'syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_sendmsg,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_futex,context-switches,task-clock' \
  -p "$pid" -o "$out/$name.csv" -- sleep 20
after=$(count)
echo "name=$name pid=$pid port=$port requests=$((after - before))" >> "$out/$name.csv"
wait
awk -F, -v n="$name" '/recvfrom/{r=$1} /sendto/{s=$1} /context-switches/{c=$1} /task-clock/{t=$1} /requests=/{split($0,a,"requests="); q=a[2]}
  END {printf "%s: recvfrom/request %.1f, sendto/request %.1f, context switches/request %.2f, CPU/request %.0f us (%d requests in 20 s)\n", n, r/q, s/q, c/q, t*1000/q, q}' "$out/$name.csv"
