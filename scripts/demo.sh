#!/usr/bin/env bash
# One command to try the gateway: builds what is missing (llama-server, the bench tiny model, the Claude Code CLI),
# starts llama-server (bench model, 4 slots) and the gateway in front of it, prints how to point Claude Code at it,
# and stops both on Ctrl+C.
#   LLAMA_PORT=8080 GATEWAY_PORT=8090   loopback ports (must be free)
#   DEMO_SLOTS=4                        llama-server slots (-np); each gets 32K tokens of context
#   DEMO_MODEL=/path/model.gguf         another GGUF instead of the random-weight bench model
# The tiny model has random weights: its answers are empty or gibberish. What the demo shows is the plumbing and the
# cache: watch the gateway's log lines (slot, reason, cached tokens) and llama-server's prompt eval counts.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
LLAMA_PORT="${LLAMA_PORT:-8080}"
GATEWAY_PORT="${GATEWAY_PORT:-8090}"
SLOTS="${DEMO_SLOTS:-4}"
CACHE="${GATEWAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llama-gateway}"
LOGS="$REPO/artifacts/demo"
mkdir -p "$LOGS"
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
say() { echo "demo: $*" >&2; }

# Waits (bounded) until URL answers 200, failing early if the process PID died.
wait_http() { # NAME URL PID SECONDS LOG
  local deadline=$((SECONDS + $4))
  until curl -sf -o /dev/null "$2"; do
    kill -0 "$3" 2>/dev/null || { say "$1 exited during start-up; last lines of $5:"; tail -n 20 "$5" >&2; return 1; }
    ((SECONDS < deadline)) || { say "$1 did not answer $2 within $4 s; see $5"; return 1; }
    sleep 0.2
  done
}

for port in "$LLAMA_PORT" "$GATEWAY_PORT"; do
  if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then
    say "something already listens on 127.0.0.1:$port; choose other ports, e.g. LLAMA_PORT=18080 GATEWAY_PORT=18090 $0"
    exit 1
  fi
done

# --- build what is missing (each step is a no-op when cached) ---------------------------------------------------
LLAMA_SERVER_BIN="$(bash scripts/install-llama-server.sh | tail -n 1)"
MODEL="${DEMO_MODEL:-$(bash scripts/make-tiny-model.sh bench | tail -n 1)}"
if CLAUDE_BIN="$(bash scripts/install-claude-code.sh 2>"$LOGS/install-claude-code.log" | tail -n 1)"; then :; else
  CLAUDE_BIN="claude"; say "could not install the Claude Code CLI (see $LOGS/install-claude-code.log); use your own 'claude'"
fi
say "building the gateway"
dotnet build -c Release src/Gateway --verbosity quiet >&2

# --- start both, each in its own process group so Ctrl+C here stops them cleanly --------------------------------
LLAMA_PID=""; GATEWAY_PID=""
stop() {
  trap - INT TERM EXIT
  echo >&2
  for pid in "$GATEWAY_PID" "$LLAMA_PID"; do
    [[ -n "$pid" ]] && kill -TERM -- "-$pid" 2>/dev/null || true
  done
  for pid in "$GATEWAY_PID" "$LLAMA_PID"; do
    [[ -z "$pid" ]] && continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  say "stopped llama-server and the gateway"
}
trap 'stop; exit 130' INT TERM
trap stop EXIT

say "starting llama-server on 127.0.0.1:$LLAMA_PORT ($(basename "$MODEL"), $SLOTS slots); log $LOGS/llama-server.log"
mkdir -p "$LOGS/slots"
setsid "$LLAMA_SERVER_BIN" -m "$MODEL" --host 127.0.0.1 --port "$LLAMA_PORT" -np "$SLOTS" -c "$((SLOTS * 32768))" \
  --jinja --metrics -l 151645+10 --no-webui --log-colors off --slot-save-path "$LOGS/slots" --no-cache-idle-slots >"$LOGS/llama-server.log" 2>&1 &
LLAMA_PID=$!
wait_http llama-server "http://127.0.0.1:$LLAMA_PORT/health" "$LLAMA_PID" 120 "$LOGS/llama-server.log"

say "starting the gateway on 127.0.0.1:$GATEWAY_PORT; its request log follows (also in $LOGS/gateway.log)"
setsid dotnet run -c Release --no-build --project src/Gateway -- --urls "http://127.0.0.1:$GATEWAY_PORT" \
  --Gateway:Upstreams:0:BaseUrl="http://127.0.0.1:$LLAMA_PORT" --Gateway:Upstreams:0:Slots="$SLOTS" \
  > >(tee "$LOGS/gateway.log" >&2) 2>&1 &
GATEWAY_PID=$!
wait_http gateway "http://127.0.0.1:$GATEWAY_PORT/healthz" "$GATEWAY_PID" 120 "$LOGS/gateway.log"

STATUS_HINT=""
curl -sf -o /dev/null "http://127.0.0.1:$GATEWAY_PORT/status" && STATUS_HINT="(dashboard: http://127.0.0.1:$GATEWAY_PORT/status)"
cat >&2 <<EOF

  llama-server  http://127.0.0.1:$LLAMA_PORT   $(basename "$MODEL"), $SLOTS slots   (metrics: /metrics, slots: /slots)
  gateway       http://127.0.0.1:$GATEWAY_PORT   $STATUS_HINT

  Point Claude Code at the gateway, in another terminal, from any git project:
    ANTHROPIC_BASE_URL=http://127.0.0.1:$GATEWAY_PORT ANTHROPIC_API_KEY=sk-local \\
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 $CLAUDE_BIN -p "hello"
  then continue the conversation with -c -p "..." and watch the gateway keep it on one slot. To compare, point
  ANTHROPIC_BASE_URL at llama-server directly (http://127.0.0.1:$LLAMA_PORT) and watch its prompt eval counts:
    grep 'prompt eval time' $LOGS/llama-server.log

  Ctrl+C stops both.
EOF

# Run until Ctrl+C, or until either process exits on its own.
wait -n "$LLAMA_PID" "$GATEWAY_PID" || true
say "a process exited on its own; see $LOGS"
