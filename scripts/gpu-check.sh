#!/usr/bin/env bash
# One-call GPU check (under 9 minutes): the CubeCL kernel tests and the official fixtures on
# CUDA, the fused-vs-reference LIF benchmark, training and inference throughput of the
# full-size Gesture TCSA network at batch 16 with the implicit-GEMM convolutions in f32 and in
# mixed precision (bf16 convolutions), batch 128 in mixed precision with and without the
# split-K weight gradient, and a short CUDA training run of the demo in mixed precision; a
# table last.
#
#   scripts/gpu-check.sh            # builds with --features cuda first (needs cargo there)
#   scripts/gpu-check.sh BIN_DIR    # uses prebuilt BIN_DIR/{xtask,cube_fused,cube_backend}
#
# Prebuilt binaries (burn's CUDA backend links without a CUDA toolkit; libcuda and NVRTC are
# loaded at run time), from the repository root on any x86-64 Linux machine:
#
#   scripts/gpu-build.sh gpu-bin
#
# Run it from the repository root (the fixture test reads crates/snn-models/tests/fixtures).
# Results go to $OUT (or target/gpu-check): summary.md, steps.txt, gpu.txt and logs.tgz (every
# step's stdout and stderr; a benchmark's stdout is its JSON line).
set -uo pipefail
cd "$(dirname "$0")/.."
RESULTS=${OUT:-target/gpu-check}
mkdir -p "$RESULTS"
if [ $# -ge 1 ]; then
  BIN=$1
else
  scripts/gpu-build.sh target/gpu-bin || exit 1
  BIN=target/gpu-bin
fi
XTASK=$BIN/xtask
chmod +x "$BIN"/* 2>/dev/null

# NVRTC (CubeCL compiles kernels at run time) from the CUDA toolkit or the pip wheel.
for dir in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
  "$(python3 -c 'import nvidia.cuda_nvrtc as m, os; print(os.path.join(os.path.dirname(m.__file__), "lib"))' 2>/dev/null)"; do
  [ -n "$dir" ] && [ -d "$dir" ] && export LD_LIBRARY_PATH="$dir:${LD_LIBRARY_PATH:-}"
done

GPU=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)
echo "GPU: ${GPU:-none found}" | tee "$RESULTS/gpu.txt"
: >"$RESULTS/steps.txt"
start=$(date +%s)
step() { # name timeout command...
  local name=$1 limit=$2; shift 2
  local t0=$(date +%s)
  timeout "$limit" "$@" >"$RESULTS/$name.out" 2>"$RESULTS/$name.err"
  local rc=$?
  echo "$name: exit $rc in $(( $(date +%s) - t0 )) s" | tee -a "$RESULTS/steps.txt"
  tail -4 "$RESULTS/$name.err"
  return $rc
}
train() { # name algorithm precision batch reps limit
  SNN_CUBE_CONV=$2 step "$1" "$6" "$XTASK" bench train --device cuda --model gesture \
    --attention TCSA --T 60 --precision "$3" --batch "$4" --reps "$5" --json
}

# Measured on an H200 (2026-11-28): cube_fused 65 s; each bench process spends 14-24 s in its
# first step compiling kernels (NVRTC); timed steps take 0.7 s (batch 16) to 2.4 s (batch 128).
step cube_fused 80 "$BIN/cube_fused" --test-threads=1
step cube_backend 120 "$BIN/cube_backend" --nocapture
step lif_cuda 20 "$XTASK" bench lif --device cuda --json
# Batch 16 with the implicit GEMM in f32 and in mixed precision (bf16 convolutions); batch 128
# in mixed precision (1.6 times f32 there on an H200: 85.4 against 53.4 samples/s) with and
# without the split-K weight gradient (snn_core::conv::split_k, not yet measured on a GPU).
# The direct kernel was 2.6 times slower than the implicit GEMM (H200, batch 16: 8.4 against
# 21.7 samples/s, sharing the GPU with a third run) and is left out to keep the check short.
train train_b16_gemm implicit-gemm full 16 3 45
train train_b16_gemm_bf16 implicit-gemm bf16 16 3 45
train train_b128 implicit-gemm bf16 128 3 60
train train_b128_split_k implicit-gemm-split-k bf16 128 3 60
DEMO=$(mktemp -d)
step demo_cuda 90 "$XTASK" demo --device cuda --epochs 3 --precision bf16 --out "$DEMO" --json

python3 - "$RESULTS" <<'PY' | tee "$RESULTS/summary.md"
import json, pathlib, sys
root = pathlib.Path(sys.argv[1])
nan = float("nan")
def load(name):
    try:
        return json.loads((root / f"{name}.out").read_text().strip().splitlines()[-1])
    except Exception as e:
        return {"error": str(e)}
print(f"GPU: {(root / 'gpu.txt').read_text().strip()}")
print()
print((root / "steps.txt").read_text())
lif = load("lif_cuda")
print("| check | result |")
print("|---|---|")
print(f"| LIF fused fwd+bwd [60,16,64,32,32] | {lif.get('fused_ms', nan):.2f} ms |")
print(f"| LIF reference fwd+bwd | {lif.get('reference_ms', nan):.2f} ms |")
print(f"| LIF speedup (target >= 10x) | {lif.get('speedup', nan):.1f}x |")
for name in ("train_b16_gemm", "train_b16_gemm_bf16", "train_b128", "train_b128_split_k"):
    t = load(name)
    if "error" in t:
        print(f"| {name} | not finished (see {name}.err in logs.tgz) |")
        continue
    print(f"| Gesture TCSA T60 batch {t['batch']}, convolutions {t['conv_algorithm']} "
          f"in {t.get('precision', '?')} "
          f"({t.get('conv_fallbacks', '?')} fell back to direct): train | "
          f"{t['train_samples_per_s']:.1f} samples/s (fwd {t['forward_ms']:.0f} / "
          f"bwd {t['backward_ms']:.0f} / Adam {t['optimizer_ms']:.0f} ms; "
          f"warm-up step {t['warmup_ms'] / 1e3:.1f} s) |")
    print(f"| same: infer | {t['infer_samples_per_s']:.1f} samples/s |")
demo = load("demo_cuda")
for m in ("vanilla", "tcsa"):
    r = demo.get(m, {})
    print(f"| demo on CUDA, 3 epochs, {m} | acc {r.get('test_acc', nan):.3f}, "
          f"firing {r.get('firing_rate', nan):.3f} |")
PY
echo "total $(( $(date +%s) - start )) s"
# A GPU lease returns only a few files: the logs travel as one archive.
(cd "$RESULTS" && tar -czf logs.tgz ./*.out ./*.err && rm -f ./*.out ./*.err)
