#!/usr/bin/env bash
# The project's test command (README): every test project in the solution:
#   tests/Gateway.Tests       unit and functional tests (real Kestrel on loopback, fake upstreams for faults)
#   tests/Gateway.Browser     the /status dashboard in headless Chromium
#   tests/Gateway.EndToEnd    the real Claude Code CLI -> gateway -> real llama-server with a tiny model
#   tests/Gateway.Soak        64 streaming clients for 60 s with an upstream restart (runs when GATEWAY_SOAK=1)
# The browser and end-to-end tests need what scripts/setup.sh installs; they fail (never skip) with the command to
# run when something is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet test Gateway.sln -c Release "$@"
