#!/usr/bin/env bash
# One command that installs everything the end-to-end tests (and scripts/demo.sh) need, on a machine that has only
# the .NET SDK. Idempotent: a second run reuses every cached piece and takes seconds.
#   1. system packages (apt-get, as root, only if something is missing): nodejs npm cmake g++ make git curl, and
#      chromium + chromium-driver for the dashboard's browser tests
#   2. llama-server, built once from node-llama-cpp's llama.cpp tree      (scripts/install-llama-server.sh)
#   3. the Claude Code CLI, pinned, from npm (in parallel with step 2)     (scripts/install-claude-code.sh)
#   4. the tiny test models, fast and bench                                (scripts/make-tiny-model.sh)
#   5. dotnet restore of Gateway.sln
# Caches live under $GATEWAY_CACHE (default ~/.cache/llama-gateway), outside the repository.
# Prints what it reused or built, with timings, and the paths (the variables the tests also read).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
CACHE="${GATEWAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llama-gateway}"
LOGS="$CACHE/setup-logs"
mkdir -p "$LOGS"
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

now() { echo "${EPOCHREALTIME/,/.}"; }
START="$(now)"
SUMMARY=()
say() { echo "setup: $*" >&2; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# record NAME STATUS STARTED DETAIL
record() { SUMMARY+=("$(printf '%-16s %-8s %7s s  %s' "$1" "$2" "$(elapsed "$3")" "$4")"); }

command -v dotnet >/dev/null || { say "the .NET SDK (10) is required: https://dotnet.microsoft.com/download"; exit 1; }

# --- 1. system packages -------------------------------------------------------------------------------------------
t="$(now)"
missing=()
for tool in node:nodejs npm:npm cmake:cmake g++:g++ make:make git:git curl:curl; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
# Headless Chromium + ChromeDriver for tests/Gateway.Browser (the dashboard test), unless other builds are named.
[[ -x "${GATEWAY_CHROMIUM:-/usr/bin/chromium}" ]] || missing+=(chromium)
[[ -x "${GATEWAY_CHROMEDRIVER:-/usr/bin/chromedriver}" ]] || missing+=(chromium-driver)
if ((${#missing[@]} == 0)); then
  record "system packages" reused "$t" "node $(node --version), cmake $(cmake --version | head -1 | awk '{print $3}'), g++ $(g++ -dumpversion), $("${GATEWAY_CHROMIUM:-/usr/bin/chromium}" --version 2>/dev/null | head -1)"
else
  if [[ "$(id -u)" != 0 ]]; then
    say "missing: ${missing[*]}. Install them as root, then run this again:"
    say "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]} ca-certificates"
    exit 1
  fi
  command -v apt-get >/dev/null || { say "missing: ${missing[*]}, and there is no apt-get here: install them with your package manager"; exit 1; }
  say "installing system packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" ca-certificates >&2
  record "system packages" built "$t" "apt-get install ${missing[*]}"
fi

# --- 2 + 3. llama-server (CPU-bound build) and Claude Code (network-bound npm install) in parallel ----------------
claude_reused=built
claude_bin="$CACHE/claude-code-$(sed -n 's/^CLAUDE_CODE_VERSION="\(.*\)"/\1/p' scripts/install-claude-code.sh)/node_modules/.bin/claude"
if [[ -n "${CLAUDE_CODE:-}" || -x "$claude_bin" ]]; then claude_reused=reused; fi
t_claude="$(now)"
# Its own duration goes to a file: waiting for it below also waits for the llama-server build.
( bash scripts/install-claude-code.sh >"$LOGS/claude-code.out" 2>"$LOGS/claude-code.log"; rc=$?
  elapsed "$t_claude" >"$LOGS/claude-code.seconds"; exit "$rc" ) &
claude_pid=$!

t="$(now)"
llama_reused=built
llama_bin="$CACHE/llama.cpp-$(sed -n 's/^NODE_LLAMA_CPP_VERSION="\(.*\)"/\1/p' scripts/install-llama-server.sh)/build/bin/llama-server"
if [[ -n "${LLAMA_SERVER:-}" || -x "$llama_bin" ]]; then llama_reused=reused; else say "building llama-server (~17 min on 2 cores, once)"; fi
if ! LLAMA_SERVER_PATH="$(bash scripts/install-llama-server.sh | tail -n 1)"; then
  say "install-llama-server.sh failed (output above)"; wait "$claude_pid" || true; exit 1
fi
record "llama-server" "$llama_reused" "$t" "$LLAMA_SERVER_PATH"

if ! wait "$claude_pid"; then
  say "install-claude-code.sh failed:"; cat "$LOGS/claude-code.log" >&2; exit 1
fi
CLAUDE_CODE_PATH="$(tail -n 1 "$LOGS/claude-code.out")"
SUMMARY+=("$(printf '%-16s %-8s %7s s  %s' "claude code" "$claude_reused" "$(cat "$LOGS/claude-code.seconds")" \
  "$CLAUDE_CODE_PATH ($("$CLAUDE_CODE_PATH" --version 2>/dev/null | head -1)), in parallel with llama-server")")

# --- 4. tiny models ---------------------------------------------------------------------------------------------
[[ -d tools/TinyModel ]] || { say "tools/TinyModel is missing from this checkout (merge main): it generates the tiny test models"; exit 1; }
declare -A MODEL_PATHS
for size in fast bench; do
  t="$(now)"
  stamp="$CACHE/models/tiny-$size.gguf.stamp"
  before="$( [[ -f "$stamp" ]] && { cat "$stamp"; stat -c %Y "$stamp"; } || true)"
  if ! MODEL_PATHS[$size]="$(bash scripts/make-tiny-model.sh "$size" | tail -n 1)"; then
    say "make-tiny-model.sh $size failed (output above)"; exit 1
  fi
  after="$( [[ -f "$stamp" ]] && { cat "$stamp"; stat -c %Y "$stamp"; } || true)"
  status=built; [[ -n "$before" && "$before" == "$after" ]] && status=reused
  record "model $size" "$status" "$t" "${MODEL_PATHS[$size]} ($(du -h "${MODEL_PATHS[$size]}" | cut -f1))"
done

# --- 5. .NET packages -------------------------------------------------------------------------------------------
t="$(now)"
dotnet restore Gateway.sln --verbosity quiet >&2
record "dotnet restore" done "$t" "Gateway.sln"

echo >&2
echo "setup: finished in $(elapsed "$START") s" >&2
printf '  %s\n' "${SUMMARY[@]}" >&2
cat >&2 <<EOF

The tests find these on their own (the cache paths); to use other builds, set:
  LLAMA_SERVER=$LLAMA_SERVER_PATH
  CLAUDE_CODE=$CLAUDE_CODE_PATH
  TINY_MODEL=${MODEL_PATHS[fast]}
  TINY_MODEL_BENCH=${MODEL_PATHS[bench]}
Next: bash scripts/e2e.sh   (end-to-end tests)   or   bash scripts/demo.sh   (gateway + llama-server for Claude Code)
EOF
