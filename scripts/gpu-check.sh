#!/usr/bin/env bash
# One-call GPU check: the CUDA kernel tests, the fused-vs-reference LIF benchmark, training and
# inference throughput of the full-size Gesture TCSA network at batch 16 and 128, and a short
# CUDA training run of the demo; a table last. Each step has a time limit; all of them
# together stay under 9 minutes.
#
#   scripts/gpu-check.sh            # builds with --features cuda first (needs cargo there)
#   scripts/gpu-check.sh BIN_DIR    # uses prebuilt BIN_DIR/xtask and BIN_DIR/cube_fused
#
# Prebuilt binaries (burn's CUDA backend links without a CUDA toolkit; libcuda and NVRTC are
# loaded at run time), from the repository root on any x86-64 Linux machine:
#
#   scripts/gpu-build.sh gpu-bin    # -> gpu-bin/xtask, gpu-bin/cube_fused
#
# Results go to $OUT (or target/gpu-check): logs, one JSON file per benchmark, summary.md.
set -uo pipefail
cd "$(dirname "$0")/.."
RESULTS=${OUT:-target/gpu-check}
mkdir -p "$RESULTS"
if [ $# -ge 1 ]; then
  XTASK=$1/xtask
  TESTS=$1/cube_fused
else
  cargo build --release -p xtask -p snn-core --features cuda --bins --test cube_fused || exit 1
  XTASK=target/release/xtask
  TESTS=$(ls -t target/release/deps/cube_fused-* | grep -v '\.d$' | head -1)
fi
chmod +x "$XTASK" "$TESTS" 2>/dev/null

# NVRTC (CubeCL compiles kernels at run time) from the CUDA toolkit or the pip wheel.
for dir in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
  "$(python3 -c 'import nvidia.cuda_nvrtc as m, os; print(os.path.join(os.path.dirname(m.__file__), "lib"))' 2>/dev/null)"; do
  [ -n "$dir" ] && [ -d "$dir" ] && export LD_LIBRARY_PATH="$dir:${LD_LIBRARY_PATH:-}"
done

GPU=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)
echo "GPU: ${GPU:-none found}" | tee "$RESULTS/gpu.txt"
start=$(date +%s)
step() { # name timeout command...
  local name=$1 limit=$2; shift 2
  local t0=$(date +%s)
  timeout "$limit" "$@" >"$RESULTS/$name.out" 2>"$RESULTS/$name.err"
  local rc=$?
  echo "$name: exit $rc in $(( $(date +%s) - t0 )) s" | tee -a "$RESULTS/steps.txt"
  tail -5 "$RESULTS/$name.err"
  return $rc
}

step cuda_tests 150 "$TESTS" --test-threads=1
step lif_cuda 60 "$XTASK" bench lif --device cuda --json
step train_b16 90 "$XTASK" bench train --device cuda --model gesture --attention TCSA --T 60 --batch 16 --reps 5 --json
step train_b128 120 "$XTASK" bench train --device cuda --model gesture --attention TCSA --T 60 --batch 128 --reps 3 --json
step demo_cuda 100 "$XTASK" demo --device cuda --epochs 3 --out "$RESULTS/demo" --json

python3 - "$RESULTS" <<'EOF' | tee "$RESULTS/summary.md"
import json, pathlib, sys
root = pathlib.Path(sys.argv[1])
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
print(f"| LIF fused fwd+bwd [60,16,64,32,32] | {lif.get('fused_ms', float('nan')):.2f} ms |")
print(f"| LIF reference fwd+bwd | {lif.get('reference_ms', float('nan')):.2f} ms |")
print(f"| LIF speedup (target >= 10x) | {lif.get('speedup', float('nan')):.1f}x |")
for b in ("16", "128"):
    t = load(f"train_b{b}")
    print(f"| Gesture TCSA T60 batch {b}: train | {t.get('train_samples_per_s', float('nan')):.1f} samples/s "
          f"(fwd {t.get('forward_ms', float('nan')):.0f} / bwd {t.get('backward_ms', float('nan')):.0f} / "
          f"Adam {t.get('optimizer_ms', float('nan')):.0f} ms) |")
    print(f"| Gesture TCSA T60 batch {b}: infer | {t.get('infer_samples_per_s', float('nan')):.1f} samples/s |")
demo = load("demo_cuda")
for m in ("vanilla", "tcsa"):
    r = demo.get(m, {})
    print(f"| demo on CUDA, 3 epochs, {m} | acc {r.get('test_acc', float('nan')):.3f}, "
          f"firing {r.get('firing_rate', float('nan')):.3f} |")
EOF
echo "total $(( $(date +%s) - start )) s"
