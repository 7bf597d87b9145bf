#!/usr/bin/env bash
# The gateway's resident memory before and after a burst of large request bodies: N concurrent count_tokens requests of
# SIZE MB each (the case that once left RSS at ~1 GB for good), against the bench's zero-work upstream. Prints VmRSS
# of the gateway process at idle, right after the burst, and after it has been idle for a while.
#   bash scripts/measure-body-memory.sh [N=24] [SIZE_MB=30]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
N="${1:-24}"
SIZE_MB="${2:-30}"
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1

dotnet build bench/Gateway.Bench/Gateway.Bench.csproj -c Release -nologo -v q >/dev/null
BENCH=(dotnet bench/Gateway.Bench/bin/Release/net10.0/LlamaGateway.Bench.dll)
WORK="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# Starts a bench host in the background; sets $url to what it listens on and appends its pid to pids.
start_host() {
  local log="$WORK/$1.log"
  shift
  "${BENCH[@]}" host "$@" >"$log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 300); do
    url="$(grep -m1 '^LISTENING ' "$log" | cut -d' ' -f2 || true)"
    [[ -n "$url" ]] && return 0
    sleep 0.1
  done
  echo "host $* did not start:" >&2
  cat "$log" >&2
  exit 1
}

start_host zero zero
upstream="$url"
start_host gateway gateway --upstream "$upstream" --log-level Warning
gateway="$url"
gateway_pid="${pids[-1]}"

rss() { awk '/^VmRSS/ { rss = $2 } /^VmHWM/ { peak = $2 } END { printf "%d MB (peak so far %d MB)", rss / 1024, peak / 1024 }' "/proc/$gateway_pid/status"; }

python3 - "$WORK/body.json" "$SIZE_MB" <<'EOF'
import json, sys
size = int(sys.argv[2]) * 1024 * 1024
text = ("The quick brown fox jumps over the lazy dog. " * (size // 45 + 1))[:size]
with open(sys.argv[1], "w") as f:
    json.dump({"model": "claude-sonnet-4", "messages": [{"role": "user", "content": text}]}, f)
EOF

send() {
  curl -s -o /dev/null -w '%{http_code}\n' -H 'content-type: application/json' -H 'anthropic-version: 2023-06-01' \
    --data-binary "@$1" "$gateway/v1/messages/count_tokens"
}

echo '{"model":"m","messages":[{"role":"user","content":"warm up"}]}' >"$WORK/small.json"
for _ in $(seq 20); do send "$WORK/small.json" >/dev/null; done
sleep 2
echo "idle after warm-up:            $(rss)"

statuses="$(seq "$N" | xargs -P "$N" -I{} bash -c "$(declare -f send); gateway=$gateway; send $WORK/body.json")"
echo "burst: $N x ${SIZE_MB} MB count_tokens, statuses: $(echo "$statuses" | sort | uniq -c | tr -s ' \n' ' ')"
echo "right after the burst:         $(rss)"
sleep 5
echo "after 5 s idle:                $(rss)"
sleep 25
echo "after 30 s idle:               $(rss)"
for _ in $(seq 20); do send "$WORK/small.json" >/dev/null; done
echo "after 20 small requests more:  $(rss)"
