#!/usr/bin/env bash
# Builds the binaries scripts/gpu-check.sh runs, on a machine without a GPU or CUDA toolkit,
# into DIR (default gpu-bin): xtask and the CUDA kernel tests, release, with --features cuda.
# CARGO_TARGET_DIR is respected (a separate one keeps the CPU builds' features apart).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-gpu-bin}
TARGET=${CARGO_TARGET_DIR:-target}
CARGO_PROFILE_RELEASE_DEBUG=false cargo build --release -p xtask -p snn-core --features cuda \
  --bins --test cube_fused
mkdir -p "$DIR"
cp "$TARGET/release/xtask" "$DIR/xtask"
cp "$(ls -t "$TARGET"/release/deps/cube_fused-* | grep -v '\.d$' | head -1)" "$DIR/cube_fused"
strip "$DIR/xtask" "$DIR/cube_fused" 2>/dev/null || true
ls -la "$DIR"
