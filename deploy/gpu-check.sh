#!/usr/bin/env bash
# GPU check of the NVML node agent, for a machine with a real NVIDIA GPU (no Slurm needed).
#
#   deploy/gpu-check.sh              real GPU: start a small GPU load with a fake SLURM_JOB_ID, run the agent
#                                    (real pynvml) beside it for ~30 s, print what was sampled and attributed
#   deploy/gpu-check.sh --fake       dry run anywhere: the load is `sleep`, NVML is the fake (same code path)
#   options: --seconds N (agent run, default 30)  --job ID (default 990001)  --keep (keep the work dir)
#
# The load, in order of preference (all dependency-free or already installed):
#   1. a tiny CUDA program compiled with nvcc, if nvcc is on PATH (or in /usr/local/cuda/bin);
#   2. python with torch, or with cupy, if one of them is importable;
#   otherwise the check stops with exit 2 (nothing to attribute).
# Exit: 0 PASS, 1 FAIL (reasons printed), 2 cannot run (no load, no venv).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
QUOTAD="${QUOTAD:-$ROOT/.venv/bin/quotad}"
SECONDS_RUN=30
JOB=990001
FAKE=0
KEEP=0
while (($#)); do
    case "$1" in
        --fake) FAKE=1 ;;
        --seconds) SECONDS_RUN="$2"; shift ;;
        --job) JOB="$2"; shift ;;
        --keep) KEEP=1 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "gpu-check: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
[[ -x "$PY" && -x "$QUOTAD" ]] || { echo "gpu-check: no venv at $ROOT/.venv (run make venv)" >&2; exit 2; }

WORK="$(mktemp -d /tmp/quotad-gpu-check.XXXXXX)"
LOAD_PID=""
cleanup() {
    if [[ -n "$LOAD_PID" ]]; then kill "$LOAD_PID" 2>/dev/null || true; wait "$LOAD_PID" 2>/dev/null || true; fi
    if ((KEEP)); then echo "gpu-check: work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

LOAD_SECONDS=$((SECONDS_RUN + 30))
LOAD=()
if ((FAKE)); then
    LOAD=(sleep "$LOAD_SECONDS")
    echo "gpu-check: dry run with the fake NVML; load: sleep"
else
    command -v nvidia-smi >/dev/null && nvidia-smi -L || echo "gpu-check: nvidia-smi not found (continuing)"
    NVCC="$(command -v nvcc || true)"
    [[ -z "$NVCC" && -x /usr/local/cuda/bin/nvcc ]] && NVCC=/usr/local/cuda/bin/nvcc
    if [[ -n "$NVCC" ]]; then
        cat >"$WORK/load.cu" <<'EOF'
// Keeps one GPU busy and 1 GiB allocated for argv[1] seconds: a spinning kernel, synchronised each round.
#include <cstdio>
#include <cstdlib>
#include <ctime>
__global__ void spin(float *x, size_t n, long long cycles) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    long long start = clock64();
    float v = (float)i;
    while (clock64() - start < cycles) v = v * 1.000001f + 0.5f;
    if (i < n) x[i] = v;
}
int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 60;
    size_t bytes = (size_t)1 << 30;
    float *x = nullptr;
    if (cudaMalloc(&x, bytes) != cudaSuccess) { fprintf(stderr, "load: cudaMalloc failed\n"); return 1; }
    cudaMemset(x, 0, bytes);
    time_t end = time(nullptr) + (time_t)seconds;
    while (time(nullptr) < end) {
        spin<<<1024, 256>>>(x, bytes / sizeof(float), 100000000LL);
        cudaError_t err = cudaDeviceSynchronize();
        if (err != cudaSuccess) { fprintf(stderr, "load: %s\n", cudaGetErrorString(err)); return 1; }
    }
    cudaFree(x);
    return 0;
}
EOF
        echo "gpu-check: compiling the CUDA load with $NVCC"
        "$NVCC" -O2 -o "$WORK/load" "$WORK/load.cu"
        LOAD=("$WORK/load" "$LOAD_SECONDS")
    else
        for candidate in "$PY" python3; do
            for module in torch cupy; do
                if "$candidate" -c "import $module" 2>/dev/null; then
                    LOAD=("$candidate" - "$module" "$LOAD_SECONDS")
                    break 2
                fi
            done
        done
        if ((${#LOAD[@]} == 0)); then
            echo "gpu-check: no way to load the GPU (no nvcc, no torch, no cupy): cannot check attribution" >&2
            exit 2
        fi
        echo "gpu-check: load: ${LOAD[0]} with ${LOAD[2]}"
    fi
fi

cat >"$WORK/quotad.toml" <<EOF
[database]
url = "sqlite:///$WORK/ledger.sqlite"

[[clusters]]
name = "gpucheck"
default_gpu_type = "h100"
EOF
"$QUOTAD" -c "$WORK/quotad.toml" db upgrade

# The load: first GPU in PCI order, with the job id the agent must find in /proc/<pid>/environ.
if [[ "${LOAD[1]:-}" == "-" ]]; then
    SLURM_JOB_ID="$JOB" CUDA_DEVICE_ORDER=PCI_BUS_ID CUDA_VISIBLE_DEVICES=0 "${LOAD[@]}" <<'EOF' &
import sys, time
module, seconds = sys.argv[1], float(sys.argv[2])
end = time.time() + seconds
if module == "torch":
    import torch
    x = torch.randn(4096, 4096, device="cuda")
    while time.time() < end:
        y = x @ x
        torch.cuda.synchronize()
else:
    import cupy
    x = cupy.random.rand(4096, 4096, dtype=cupy.float32)
    while time.time() < end:
        y = x @ x
        cupy.cuda.Device().synchronize()
EOF
else
    SLURM_JOB_ID="$JOB" CUDA_DEVICE_ORDER=PCI_BUS_ID CUDA_VISIBLE_DEVICES=0 "${LOAD[@]}" &
fi
LOAD_PID=$!
echo "gpu-check: load pid $LOAD_PID with SLURM_JOB_ID=$JOB; agent runs ${SECONDS_RUN}s"
sleep 3
kill -0 "$LOAD_PID" 2>/dev/null || { echo "gpu-check: the load exited at once" >&2; wait "$LOAD_PID" || true; exit 1; }

ARGS=(--config "$WORK/quotad.toml" --spool "$WORK/spool" --seconds "$SECONDS_RUN" --job "$JOB" --load-pid "$LOAD_PID")
((FAKE)) && ARGS+=(--fake)
set +e
"$PY" "$ROOT/deploy/gpu-check.py" "${ARGS[@]}"
rc=$?
set -e
exit "$rc"
