#!/usr/bin/env bash
# One run on an NVIDIA GPU (CuPy + PyTorch installed, no network): GPU tests, gradient checks,
# the training-step benchmark against PyTorch, the Shakespeare training run, sampling with the KV
# cache, chat, and a checkpoint written on the GPU and read on the CPU. Logs go to $OUT.
#
#   OUT=gpu_logs DATA=.device_data/tinyshakespeare.txt bash benchmarks/gpu_suite.sh
set -u
OUT=${OUT:-gpu_logs}
DATA=${DATA:-.device_data/tinyshakespeare.txt}
TRAIN_ITERS=${TRAIN_ITERS:-5000}
mkdir -p "$OUT"
export PYTHONPATH=.
export PYTHONUNBUFFERED=1
PY=python3
log() { echo "=== $(date +%T) $*" | tee -a "$OUT/summary.log"; }

log "environment"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  $PY -c "import sys, numpy, cupy, torch; print(sys.version.split()[0], 'numpy', numpy.__version__, 'cupy', cupy.__version__, 'torch', torch.__version__)"
} 2>&1 | tee -a "$OUT/summary.log"

log "GPU tests"
timeout 150 $PY -m pytest -q -p no:cacheprovider tests/test_gpu.py tests/test_generate.py -k "gpu or cuda or Gpu" 2>&1 | tail -25 | tee "$OUT/gpu_tests.log"

log "gradcheck on cuda"
timeout 60 $PY -m nanograd_llm gradcheck --device cuda 2>&1 | tail -22 | tee "$OUT/gradcheck_cuda.log"

log "benchmark float32 (shakespeare)"
timeout 150 $PY benchmarks/train_step.py --device cuda --config shakespeare --steps 20 --no-layers 2>&1 | tail -15 | tee "$OUT/bench_fp32.log"
log "benchmark tf32 (shakespeare)"
timeout 120 $PY benchmarks/train_step.py --device cuda --config shakespeare --steps 20 --no-layers --tf32 2>&1 | tail -15 | tee "$OUT/bench_tf32.log"

log "train shakespeare preset on cuda ($TRAIN_ITERS iters)"
timeout 330 $PY -m nanograd_llm train --preset shakespeare --data "$DATA" --device cuda \
    --out runs/shakespeare_cuda max_iters=$TRAIN_ITERS precision=tf32 2>&1 \
    | tr '\r' '\n' | grep -v "it/s\]$" | tail -40 | tee "$OUT/train.log"
cp runs/shakespeare_cuda/metrics.jsonl "$OUT/metrics.jsonl" 2>/dev/null

log "sample on cuda (KV cache) and on cpu from the same checkpoint"
timeout 60 $PY -m nanograd_llm sample --ckpt runs/shakespeare_cuda --device cuda --prompt "ROMEO:" \
    --max-new-tokens 300 --seed 1 --no-stream 2>&1 | tail -20 | tee "$OUT/sample_cuda.log"
timeout 60 $PY -m nanograd_llm sample --ckpt runs/shakespeare_cuda --device cpu --prompt "ROMEO:" \
    --max-new-tokens 100 --seed 1 --no-stream 2>&1 | tail -8 | tee "$OUT/sample_cpu.log"
printf 'What say you?\nGood morrow, sir.\n' | timeout 60 $PY -m nanograd_llm chat --ckpt runs/shakespeare_cuda \
    --device cuda --max-new-tokens 80 --seed 0 2>&1 | tail -12 | tee "$OUT/chat_cuda.log"
log "done"
