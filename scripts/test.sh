#!/usr/bin/env bash
# The project's test command (README): unit and functional tests.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet test Gateway.sln -c Release
