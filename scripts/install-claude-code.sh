#!/usr/bin/env bash
# Installs the pinned Claude Code CLI from npm into a cache outside the repository (reused on later runs).
# Prints the path of the `claude` executable on its last line.
#   CLAUDE_CODE=/path/to/claude   use an existing CLI instead
set -euo pipefail

CLAUDE_CODE_VERSION="2.1.328"
CACHE="${GATEWAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llama-gateway}"
PREFIX="$CACHE/claude-code-$CLAUDE_CODE_VERSION"
BIN="$PREFIX/node_modules/.bin/claude"

if [[ -n "${CLAUDE_CODE:-}" ]]; then
  [[ -x "$CLAUDE_CODE" ]] || { echo "CLAUDE_CODE=$CLAUDE_CODE is not an executable" >&2; exit 1; }
  echo "$CLAUDE_CODE"; exit 0
fi
if [[ -x "$BIN" ]] && "$BIN" --version >/dev/null 2>&1; then echo "$BIN"; exit 0; fi

command -v npm >/dev/null || { echo "install-claude-code: npm is required (apt-get install -y nodejs npm)" >&2; exit 1; }
mkdir -p "$PREFIX"
echo "install-claude-code: installing @anthropic-ai/claude-code@$CLAUDE_CODE_VERSION (~370 MB, once)" >&2
(cd "$PREFIX" && [[ -f package.json ]] || echo '{"name":"claude-code-cache","private":true}' > "$PREFIX/package.json")
npm install --prefix "$PREFIX" --no-audit --no-fund --loglevel=error "@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION" >&2
"$BIN" --version >&2
echo "$BIN"
