#!/usr/bin/env bash
# Builds and runs the benchmarks (docs/benchmarks.md); results go to bench/results/ (bench/results/quick/ with --quick).
#   scripts/bench.sh cache    [--quick] [--users 6 --slots 4 --instances 1 --turns 8 --conversations 3 --cache-ram 170 --batch 512 --seed 42 ...]
#   scripts/bench.sh overhead [--quick] [--concurrency 1,16,64 --requests 3000 --sizes 40,100,200 ...]
#   scripts/bench.sh micro    [--quick]
#   scripts/bench.sh floor    --solo DIR --load DIR   (follow-up turns: own work against waiting; no server needed)
#   scripts/bench.sh all      [--quick]      (micro, overhead, then cache; other options are not passed on)
# `cache` needs a real llama-server and the tiny models: it runs scripts/install-llama-server.sh if the binary is
# missing, and scripts/make-tiny-model.sh (through the bench) for the model. Options: bench/Gateway.Bench --help.
set -euo pipefail
cd "$(dirname "$0")/.."

SUITE="${1:-all}"
[[ $# -gt 0 ]] && shift
case "$SUITE" in
  cache|overhead|micro|floor|all) ;;
  -h|--help|help) SUITE=help ;;
  *) echo "usage: $0 [cache|overhead|micro|floor|all] [options]" >&2; exit 2 ;;
esac

export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
if ! BUILD_LOG="$(dotnet build bench/Gateway.Bench/Gateway.Bench.csproj -c Release -nologo 2>&1)"; then
  echo "$BUILD_LOG" >&2
  exit 1
fi
BENCH=(dotnet bench/Gateway.Bench/bin/Release/net10.0/LlamaGateway.Bench.dll)

if [[ "$SUITE" == help ]]; then exec "${BENCH[@]}" --help; fi

CACHE_DIR="${GATEWAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llama-gateway}"
need_llama_server() {
  if [[ ! -x "$CACHE_DIR/llama.cpp-3.22.1/build/bin/llama-server" ]]; then
    echo "bench: llama-server is not built yet; running scripts/install-llama-server.sh" >&2
    scripts/install-llama-server.sh >&2
  fi
}

case "$SUITE" in
  cache) need_llama_server; exec "${BENCH[@]}" cache "$@" ;;
  overhead|micro|floor) exec "${BENCH[@]}" "$SUITE" "$@" ;;
  all)
    QUICK=()
    for arg in "$@"; do [[ "$arg" == "--quick" ]] && QUICK=(--quick); done
    "${BENCH[@]}" micro "${QUICK[@]}"
    "${BENCH[@]}" overhead "${QUICK[@]}"
    need_llama_server
    "${BENCH[@]}" cache "${QUICK[@]}"
    ;;
esac
