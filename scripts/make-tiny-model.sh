#!/usr/bin/env bash
# Generates (once) a tiny random-weight GGUF model with the real Qwen2 tokenizer, for running a real llama-server in
# tests without downloadable weights. Prints the model path on its last stdout line; diagnostics go to stderr.
#   scripts/make-tiny-model.sh [fast|bench]      (default fast)
#   GATEWAY_CACHE=~/.cache/llama-gateway         where models (and the llama.cpp tree with the vocab) are cached
# The model is reused until the generator's sources change: a stamp beside it records their hash, so editing
# tools/TinyModel regenerates without anyone having to remember to bump a version.
set -euo pipefail

SIZE="${1:-fast}"
case "$SIZE" in
  fast|bench) ;;
  *) echo "usage: $0 [fast|bench]" >&2; exit 2 ;;
esac

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROJECT="$REPO/tools/TinyModel"
CACHE="${GATEWAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llama-gateway}"
# Must match the source tree that install-llama-server.sh unpacks (NODE_LLAMA_CPP_VERSION there).
VOCAB="$CACHE/llama.cpp-3.22.1/models/ggml-vocab-qwen2.gguf"
MODELS="$CACHE/models"
MODEL="$MODELS/tiny-$SIZE.gguf"
STAMP="$MODEL.stamp"

# Hash of everything that determines the output bytes: generator sources, the size, and the vocab's identity.
stamp_value() {
  {
    echo "size=$SIZE vocab=$VOCAB"
    (cd "$PROJECT" && find . -type f \( -name '*.cs' -o -name '*.csproj' -o -name '*.jinja' \) \
        -not -path './bin/*' -not -path './obj/*' | LC_ALL=C sort | xargs sha256sum)
  } | sha256sum | cut -d' ' -f1
}

is_current() {
  [[ -s "$MODEL" && -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]
}

WANT="$(stamp_value)"
if is_current; then echo "$MODEL"; exit 0; fi

mkdir -p "$MODELS"
# Parallel test runs may call this at once; they share one dotnet build output, so serialise whole generations.
exec 9>"$MODELS/.make-tiny-model.lock"
if command -v flock >/dev/null; then flock 9; fi
if is_current; then echo "$MODEL"; exit 0; fi

if [[ ! -f "$VOCAB" ]]; then
  echo "make-tiny-model: $VOCAB is missing; running install-llama-server.sh to unpack llama.cpp" >&2
  "$REPO/scripts/install-llama-server.sh" >&2
  [[ -f "$VOCAB" ]] || { echo "make-tiny-model: $VOCAB still missing after install-llama-server.sh" >&2; exit 1; }
fi

command -v dotnet >/dev/null || { echo "make-tiny-model: 'dotnet' (SDK 10) is required" >&2; exit 1; }
echo "make-tiny-model: generating $MODEL" >&2
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# All of dotnet's output goes to stderr so this script's stdout carries only the model path.
dotnet run -c Release --project "$PROJECT" -- --size "$SIZE" --vocab "$VOCAB" --out "$MODEL" >&2
[[ -s "$MODEL" ]] || { echo "make-tiny-model: generator finished but $MODEL is missing" >&2; exit 1; }

# The stamp is written last (and atomically), so an interrupted run is simply redone next time.
echo "$WANT" > "$STAMP.tmp.$$" && mv -f "$STAMP.tmp.$$" "$STAMP"
echo "$MODEL"
