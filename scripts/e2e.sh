#!/usr/bin/env bash
# End-to-end tests: the real Claude Code CLI -> the gateway -> a real llama-server with a tiny model.
# Runs scripts/setup.sh first (seconds when everything is cached; ~20 min on a fresh machine, mostly the one-time
# llama-server build), then `dotnet test tests/Gateway.EndToEnd -c Release`. Extra arguments go to dotnet test,
# e.g. --filter "FullyQualifiedName~SecondConversation".
# Logs of every run (llama-server, gateway, CLI output, measurements) land in artifacts/e2e/<test>/ (or $E2E_ARTIFACTS).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1

if [[ "${E2E_SKIP_SETUP:-}" != 1 ]]; then
  bash scripts/setup.sh
fi

ARTIFACTS="${E2E_ARTIFACTS:-$REPO/artifacts/e2e}"
rm -rf "$ARTIFACTS"
mkdir -p "$ARTIFACTS"
start=$SECONDS
status=0
dotnet test tests/Gateway.EndToEnd -c Release --logger "console;verbosity=normal" \
  --logger "trx;LogFileName=e2e.trx" --results-directory "$ARTIFACTS" "$@" || status=$?

echo
echo "e2e: dotnet test finished in $((SECONDS - start)) s with exit code $status; logs in $ARTIFACTS"
if compgen -G "$ARTIFACTS/*/summary.txt" >/dev/null; then
  echo "e2e: prompt tokens llama-server re-computed (from its /metrics and log):"
  cat "$ARTIFACTS"/*/summary.txt | sed 's/^/  /'
fi
exit "$status"
