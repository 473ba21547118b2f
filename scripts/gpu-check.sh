#!/usr/bin/env bash
# One-call GPU check (under 9.5 minutes): every CubeCL convolution kernel on each convolution
# of a Gesture training step in mixed precision (bf16 convolutions), checked and timed, which
# picks the fastest plan (`bench conv-kernels`); with that plan, training and inference
# throughput of the full-size Gesture TCSA network at batch 128 and 16 and the official
# fixtures on CUDA; the CubeCL neuron kernel tests, the fused-vs-reference LIF benchmark and a
# one-epoch CUDA training run of the demo; a table last.
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
# The whole check must end (and pack its logs) within a GPU call's 600 s: a step whose time
# limit would pass TOTAL_S is skipped and says so.
TOTAL_S=${TOTAL_S:-570}
step() { # name timeout command...
  local name=$1 limit=$2; shift 2
  local t0=$(date +%s)
  if (( t0 - start + limit > TOTAL_S )); then
    echo "$name: skipped, ${limit} s would pass the ${TOTAL_S} s budget" | tee -a "$RESULTS/steps.txt"
    return 124
  fi
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
# first step compiling kernels (NVRTC); timed steps take 0.7 s (batch 16) to 1.5 s (batch 128,
# bf16, implicit GEMM: 85.4 samples/s, 1.6 times f32; three quarters of the step in the
# convolutions, most of it in their gradients).
#
# First the kernel sweep: it writes the fastest correct plan to plan.txt (the default plan if
# it does not finish), which every later step uses.
step conv_kernels 220 "$XTASK" bench conv-kernels --device cuda --precision bf16 --batch 128 \
  --budget-s 150 --plan-out "$RESULTS/plan.txt" --json
PLAN=$(cat "$RESULTS/plan.txt" 2>/dev/null || echo implicit-gemm)
echo "plan: $PLAN" | tee -a "$RESULTS/steps.txt"
train train_b128 "$PLAN" bf16 128 3 60
train train_b16 "$PLAN" bf16 16 3 40
# The CubeCL kernels against the tensor-op path (9 tests; batch norm, rescaling and the
# squeezes have not run on CUDA yet), then the official fixtures with the plan.
step cube_fused 90 "$BIN/cube_fused" --test-threads=1
SNN_CUBE_CONV=$PLAN step cube_backend 100 "$BIN/cube_backend" --nocapture
step lif_cuda 20 "$XTASK" bench lif --device cuda --json
# One batch-128 step with CubeCL's kernel profiler on, its log in the archive (kernel name and
# time per launch; the timed step lies between the stderr markers).
CUBECL_DEBUG_LOG="$RESULTS/profile.log" CUBECL_DEBUG_OPTION=profile SNN_CUBE_CONV=$PLAN \
  train profile_b128 "$PLAN" bf16 128 1 50
# With the time left (the demo ran on CUDA before, 2026-11-28).
DEMO=$(mktemp -d)
SNN_CUBE_CONV=$PLAN step demo_cuda 60 "$XTASK" demo --device cuda --epochs 1 --precision bf16 \
  --out "$DEMO" --json

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
sweep = load("conv_kernels")
if "error" in sweep:
    print("conv-kernels: not finished (see conv_kernels.err in logs.tgz)")
else:
    print("| op | layer | kernel | status | check error | ms | TFLOP/s |")
    print("|---|---|---|---|---|---|---|")
    for r in sweep["rows"]:
        err = r.get("check_rel_err")
        ms, tf = r.get("ms"), r.get("tflops")
        print(f"| {r['op']} | {r['layer']} | {r['kernel']} | {r['status']} | "
              f"{'-' if err is None else f'{err:.1e}'} | {'-' if ms is None else f'{ms:.2f}'} | "
              f"{'-' if tf is None else f'{tf:.1f}'} |")
    print()
    print(f"fastest plan: {sweep['best_plan']} ({sweep['best_ms']:.1f} ms of convolutions per "
          f"step; implicit-gemm {sweep.get('default_ms')})")
    print()
lif = load("lif_cuda")
print("| check | result |")
print("|---|---|")
print(f"| LIF fused fwd+bwd [60,16,64,32,32] | {lif.get('fused_ms', nan):.2f} ms |")
print(f"| LIF reference fwd+bwd | {lif.get('reference_ms', nan):.2f} ms |")
print(f"| LIF speedup (target >= 10x) | {lif.get('speedup', nan):.1f}x |")
for name in ("train_b128", "train_b16", "profile_b128"):
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
    print(f"| demo on CUDA, 1 epoch, {m} | acc {r.get('test_acc', nan):.3f}, "
          f"firing {r.get('firing_rate', nan):.3f} |")
PY
echo "total $(( $(date +%s) - start )) s"
# A GPU lease returns only a few files: the logs travel as one archive.
(cd "$RESULTS" && tar -czf logs.tgz ./*.out ./*.err ./*.log 2>/dev/null; rm -f ./*.out ./*.err ./*.log)
