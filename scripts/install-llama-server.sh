#!/usr/bin/env bash
# Builds llama.cpp's llama-server (CPU) from the source tree that npm's node-llama-cpp ships, and caches it
# outside the repository so every later run (and CI on the same machine) reuses it.
# Prints the path of the llama-server binary on its last line.
#   LLAMA_SERVER=/path/to/llama-server   use an existing binary instead of building
#   GATEWAY_CACHE=~/.cache/llama-gateway where builds are cached
set -euo pipefail

NODE_LLAMA_CPP_VERSION="3.22.1"
CACHE="${GATEWAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llama-gateway}"
SRC="$CACHE/llama.cpp-$NODE_LLAMA_CPP_VERSION"
BUILD="$SRC/build"
BIN="$BUILD/bin/llama-server"

if [[ -n "${LLAMA_SERVER:-}" ]]; then
  [[ -x "$LLAMA_SERVER" ]] || { echo "LLAMA_SERVER=$LLAMA_SERVER is not an executable" >&2; exit 1; }
  echo "$LLAMA_SERVER"; exit 0
fi
if [[ -x "$BIN" ]]; then echo "$BIN"; exit 0; fi

for tool in npm git cmake c++; do
  command -v "$tool" >/dev/null || { echo "install-llama-server: '$tool' is required (apt-get install -y nodejs npm git cmake g++)" >&2; exit 1; }
done

mkdir -p "$CACHE"
if [[ ! -f "$SRC/CMakeLists.txt" ]]; then
  tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
  echo "install-llama-server: fetching node-llama-cpp@$NODE_LLAMA_CPP_VERSION from npm" >&2
  (cd "$tmp" && npm pack "node-llama-cpp@$NODE_LLAMA_CPP_VERSION" --silent >/dev/null && tar xzf node-llama-cpp-*.tgz)
  rm -rf "$SRC"
  git clone --quiet "$tmp/package/llama/gitRelease.bundle" "$SRC"
fi

echo "install-llama-server: building llama-server (CPU, ~17 min on 2 cores, once)" >&2
cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_CUDA=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF >&2
cmake --build "$BUILD" --target llama-server -j"$(nproc)" >&2
[[ -x "$BIN" ]] || { echo "install-llama-server: build finished but $BIN is missing" >&2; exit 1; }
echo "$BIN"
