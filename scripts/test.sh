#!/usr/bin/env bash
# The project's test command (README): every test project in the solution:
#   tests/Gateway.Tests       unit and functional tests (real Kestrel on loopback, fake upstreams for faults)
#   tests/Gateway.Browser     the /status dashboard in headless Chromium
#   tests/Gateway.EndToEnd    the real Claude Code CLI -> gateway -> real llama-server with a tiny model
#   tests/Gateway.Soak        64 streaming clients for 60 s with an upstream restart (runs when GATEWAY_SOAK=1)
# The browser and end-to-end tests need what scripts/setup.sh installs; they fail (never skip) with the command to
# run when something is missing. Ends with one plain "tests: N passed, N failed" line over all projects.
set -euo pipefail
cd "$(dirname "$0")/.."
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
dotnet test Gateway.sln -c Release "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
passed=$(grep -oE "(Passed|Failed)! +- Failed: +[0-9]+, Passed: +[0-9]+" "$log" | grep -oE "Passed: +[0-9]+" | awk '{s+=$2} END {print s+0}')
failed=$(grep -oE "(Passed|Failed)! +- Failed: +[0-9]+" "$log" | grep -oE "Failed: +[0-9]+" | awk '{s+=$2} END {print s+0}')
echo "tests: ${passed} passed, ${failed} failed"
exit "$status"
