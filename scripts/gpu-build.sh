#!/usr/bin/env bash
# Builds the binaries scripts/gpu-check.sh runs, on a machine without a GPU or CUDA toolkit,
# into DIR (default gpu-bin): xtask and the CubeCL test binaries (the neuron kernel,
# cube_fused; the official fixtures, cube_backend), release, with --features cuda.
# CARGO_TARGET_DIR is respected (a separate one keeps the CPU builds' features apart).
# Also writes gpu-pack/bin.tgz, the same binaries compressed, to carry to a GPU machine whose
# upload limit they exceed uncompressed; there:
#   mkdir -p gpu-bin && tar -xzf gpu-pack/bin.tgz -C gpu-bin && scripts/gpu-check.sh gpu-bin
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-gpu-bin}
TARGET=${CARGO_TARGET_DIR:-target}
CARGO_PROFILE_RELEASE_DEBUG=false cargo build --release -p xtask -p snn-core -p snn-models \
  --features cuda --bins --test cube_fused --test cube_backend
mkdir -p "$DIR"
cp "$TARGET/release/xtask" "$DIR/xtask"
for test in cube_fused cube_backend; do
  cp "$(ls -t "$TARGET"/release/deps/$test-* | grep -v '\.d$' | head -1)" "$DIR/$test"
done
strip "$DIR"/* 2>/dev/null || true
mkdir -p gpu-pack
tar -czf gpu-pack/bin.tgz -C "$DIR" xtask cube_fused cube_backend
# Which code the pack holds: a later session rebuilds when HEAD or the tree differs.
{ git rev-parse HEAD; git status --short --untracked-files=no; } >gpu-pack/commit.txt
ls -la "$DIR" gpu-pack/bin.tgz
