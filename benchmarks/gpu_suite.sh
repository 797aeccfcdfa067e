#!/usr/bin/env bash
# GPU run (CuPy + PyTorch installed, no network), in two stages so a problem found by the first
# can be worked around before the long second one:
#   STAGE=check  GPU tests, fused-kernel equality, a short training smoke run, the training-step
#                benchmark against PyTorch (float32, then TF32 vs torch bf16 autocast)
#   STAGE=train  the `shakespeare` preset for TRAIN_ITERS steps, then sampling with the KV cache
#                on the GPU, the same checkpoint sampled on the CPU, and chat with piped input
#   STAGE=quick  what fits one 15-minute lease with its start (about 3 min of commands in
#                session 12; with TF32 the timeouts add up to 440 s, so give the call at least
#                460 s): the GPU tests, the float32 and TF32 benchmarks without the per-layer
#                table, a QUICK_ITERS-step `shakespeare` run (PRECISION, TF32 by default), the
#                whole-split val loss of its best checkpoint, and one prompt sampled on the GPU
#                and on the CPU
# Logs go to $OUT, at most 8 files per stage and no subfolders (what a device call hands back;
# tests/test_benchmark_tools.py counts them).
#   OUT=gpu_logs DATA=.device_data/tinyshakespeare.txt STAGE=check bash ...
# Without a GPU that CuPy can use, every stage stops after the environment step (exit 3): the
# GPU tests would only be skipped (pytest still reports "passed") and every command fail.
set -u
OUT=${OUT:-gpu_logs}
DATA=${DATA:-.device_data/tinyshakespeare.txt}
TRAIN_ITERS=${TRAIN_ITERS:-5000}
PRECISION=${PRECISION:-tf32}
STAGE=${STAGE:-check}
case "$STAGE" in
  check|quick|train) ;;
  *) echo "unknown STAGE=$STAGE: use check, quick or train" >&2; exit 2 ;;
esac
mkdir -p "$OUT"
export PYTHONPATH=.
export PYTHONUNBUFFERED=1
PY=python3
log() { echo "=== $(date +%T) $*" | tee -a "$OUT/summary.log"; }
# `timeout SECONDS CMD...` that says so in summary.log (and on the script's stderr, fd 3) when CMD
# runs out of time or fails: a step killed by its timeout otherwise left an empty or cut log and
# no word of why. The note goes past the step's pipe and redirection, so it is not copied twice.
exec 3>&2
limit() {
  local s=$1 rc cmd; shift
  timeout "$s" "$@" 3>&-; rc=$?
  cmd="$*"; cmd=${cmd:0:70}
  if [ "$rc" -eq 124 ]; then log "  timed out after $s s: $cmd" >&3
  elif [ "$rc" -ne 0 ]; then log "  exit $rc: $cmd" >&3; fi
  return "$rc"
}

# the environment and the GPU tests, shared by the check and quick stages (the whole pytest
# output is kept in gpu_tests.log, its end goes to the summary: -rfEs ends it with the failed
# and erroring tests' names and the skip reasons; a lone -rs would replace setup.cfg's -ra and
# leave only the skips, so the summary showed the tail of the last traceback and no names)
environment() {
  log "environment"
  { nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    $PY -c "import sys, numpy, cupy, torch; print(sys.version.split()[0], 'numpy', numpy.__version__, 'cupy', cupy.__version__, 'torch', torch.__version__)"
    git log --oneline -1; git status --short | head -20   # HEAD and changes, where there is a .git
    echo "sources sha256 $(sources_sha256)"
  } 2>&1 | tee -a "$OUT/summary.log"
}
# The code that ran, without .git: a device's copy of the working tree can hold a stale .git (in
# session 12 the log printed an old HEAD over newer code). One sha256 over the package's, the
# tests' and the benchmarks' .py and .sh files, by path order; the same line run in the checkout
# that was sent (bash -c "$(grep -A1 '^sources_sha256()' benchmarks/gpu_suite.sh); sources_sha256")
# gives the same 16 hex digits
sources_sha256() { find nanograd_llm tests benchmarks -type f \( -name '*.py' -o -name '*.sh' \) -print0 \
    | LC_ALL=C sort -z | xargs -0 cat | sha256sum | cut -c1-16; }
# CuPy must import and see a GPU, else stop now (the tests would be skipped, not failed)
need_gpu() {
  $PY -c "import cupy; n = cupy.cuda.runtime.getDeviceCount(); assert n > 0, 'no GPU'; print('cupy', cupy.__version__, 'sees', n, 'GPU(s)')" 2>&1 \
      | tail -3 | tee -a "$OUT/summary.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || { log "CuPy cannot use a GPU here (above): stopping"; exit 3; }
}
need_data() {
  [ -f "$DATA" ] || { log "missing $DATA: copy tinyshakespeare.txt there and carry .device_data"; exit 2; }
}
gpu_tests() {
  log "GPU tests"
  limit "$1" $PY -m pytest -q -p no:cacheprovider -rfEs --tb=short tests/test_gpu.py tests/test_cuda_graph.py \
      tests/test_generate.py tests/test_optim.py tests/test_perf_paths.py > "$OUT/gpu_tests.log" 2>&1
  tail -30 "$OUT/gpu_tests.log" | tee -a "$OUT/summary.log"
}
# How long the host waits in the calls that move a training batch or re-seed dropout while the
# GPU is held busy for 300 ms (tests/test_gpu.py's host_wait_ms): about 0 = it only enqueued
# work, about 300 = it waited for the GPU (a host<->device sync at every training step)
host_waits() {
  log "host waits (ms) while the GPU is busy for 300 ms: ~0 = no sync, ~300 = the call waited"
  limit 20 $PY - <<'EOF' 2>&1 | tail -4 | tee -a "$OUT/summary.log"
import sys; sys.path.insert(0, "tests")
import numpy as np, cupy as cp
from test_gpu import host_wait_ms
w = np.random.default_rng(0).integers(0, 65, (64, 257))        # a shakespeare batch (int64)
buf = cp.empty((64, 256), dtype=np.int64)
for what, fn in (("cupy.asarray(batch), the eager step's upload", lambda: cp.asarray(w)),
                 ("ndarray.set(batch[:, :-1]), the CUDA graph's load",
                  lambda: buf.set(np.ascontiguousarray(w[:, :-1]))),
                 ("cupy.random.default_rng(seed), dropout re-seeded each step",
                  lambda: cp.random.default_rng(12345))):
    host_wait_ms(fn, 300)                                        # first call: set-up costs
    print(f"  {what}: {host_wait_ms(fn, 300):.1f}")
EOF
}

if [ "$STAGE" = check ]; then
  environment
  # its last step trains on DATA: stop before the lease's minutes are spent, not at that step
  need_data
  need_gpu
  gpu_tests 120
  host_waits
  log "benchmark float32 (shakespeare), CUDA graph, per-layer eager and graph"
  limit 100 $PY benchmarks/train_step.py --device cuda --config shakespeare --steps 20 --layer-reps 10 2>&1 | tail -32 | tee "$OUT/bench_fp32.log"
  log "benchmark tf32 vs torch bf16 autocast (shakespeare), CUDA graph"
  limit 60 $PY benchmarks/train_step.py --device cuda --config shakespeare --steps 20 --no-layers --tf32 2>&1 | tail -10 | tee "$OUT/bench_tf32.log"
  log "benchmark float32 (shakespeare), eager (no graph): the same-run baseline"
  limit 60 $PY benchmarks/train_step.py --device cuda --config shakespeare --steps 20 --no-layers --eager 2>&1 | tail -10 | tee "$OUT/bench_eager.log"
  log "kernel profile float32 and tf32"
  { limit 60 $PY benchmarks/gpu_profile.py --config shakespeare
    limit 50 $PY benchmarks/gpu_profile.py --config shakespeare --tf32 --top 10; } 2>&1 | grep -v "^STAGE:\|^USDT\|profiler_st" | tee "$OUT/profile.log"
  log "training smoke run on cuda"
  limit 50 $PY -m nanograd_llm train --data "$DATA" --device cuda --out runs/smoke --overwrite \
      max_iters=30 eval_interval=15 eval_iters=2 sample_tokens=60 dropout=0.1 precision=$PRECISION 2>&1 | tr '\r' '\n' | grep -v "step/s" | tail -12 | tee "$OUT/smoke.log"
  log "check stage done"
fi

if [ "$STAGE" = quick ]; then
  need_data
  environment
  need_gpu
  gpu_tests 110
  log "benchmark float32 (shakespeare), CUDA graph"
  limit 70 $PY benchmarks/train_step.py --device cuda --config shakespeare --steps 20 --no-layers 2>&1 | tail -12 | tee "$OUT/bench_fp32.log"
  log "benchmark tf32 vs torch bf16 autocast (shakespeare), CUDA graph"
  limit 60 $PY benchmarks/train_step.py --device cuda --config shakespeare --steps 20 --no-layers --tf32 2>&1 | tail -12 | tee "$OUT/bench_tf32.log"
  log "train shakespeare preset on cuda (${QUICK_ITERS:-2000} iters, precision $PRECISION)"
  # 2000 TF32 steps take about 72 s of training (H200, session 12); float32 about twice that
  if [ "$PRECISION" = tf32 ]; then QUICK_TIMEOUT=130; else QUICK_TIMEOUT=230; fi
  limit $QUICK_TIMEOUT $PY -m nanograd_llm train --preset shakespeare --data "$DATA" --device cuda --out runs/quick \
      --overwrite max_iters=${QUICK_ITERS:-2000} precision=$PRECISION 2>&1 | tr '\r' '\n' | grep -v "step/s" \
      | tail -25 | tee "$OUT/train_quick.log"
  cp runs/quick/metrics.jsonl "$OUT/metrics_quick.jsonl" 2>/dev/null
  log "whole val split of the best checkpoint, on cuda"
  limit 30 $PY -m nanograd_llm eval --ckpt runs/quick/best --data "$DATA" --split val --device cuda 2>&1 | tail -9 | tee "$OUT/eval_quick.log"
  log "the same prompt and seed sampled on cuda (KV cache) and on cpu (both in samples.log)"
  { echo "--- cuda"
    limit 20 $PY -m nanograd_llm sample --ckpt runs/quick/best --device cuda --prompt "ROMEO:" \
        --max-new-tokens 200 --seed 1 --no-stream 2>&1 | tail -12
    echo "--- cpu"
    limit 20 $PY -m nanograd_llm sample --ckpt runs/quick/best --device cpu --prompt "ROMEO:" \
        --max-new-tokens 80 --seed 1 --no-stream 2>&1 | tail -6; } | tee "$OUT/samples.log"
  log "quick stage done"
fi

if [ "$STAGE" = train ]; then
  need_data
  need_gpu
  log "train shakespeare preset on cuda ($TRAIN_ITERS iters, precision $PRECISION)"
  limit ${TRAIN_TIMEOUT:-380} $PY -m nanograd_llm train --preset shakespeare --data "$DATA" --device cuda \
      --out runs/shakespeare_cuda --overwrite max_iters=$TRAIN_ITERS precision=$PRECISION 2>&1 \
      | tr '\r' '\n' | grep -v "step/s" | tail -40 | tee "$OUT/train.log"
  cp runs/shakespeare_cuda/metrics.jsonl "$OUT/metrics.jsonl" 2>/dev/null
  log "whole val split of the lowest-val-loss checkpoint (every position once), on cuda"
  limit 60 $PY -m nanograd_llm eval --ckpt runs/shakespeare_cuda/best --data "$DATA" --split val \
      --device cuda 2>&1 | tail -9 | tee "$OUT/eval_best.log"
  log "sample on cuda (KV cache) and on cpu from the same checkpoint (the lowest-val-loss one)"
  limit 40 $PY -m nanograd_llm sample --ckpt runs/shakespeare_cuda/best --device cuda --prompt "ROMEO:" \
      --max-new-tokens 300 --seed 1 --no-stream 2>&1 | tail -20 | tee "$OUT/sample_cuda.log"
  limit 40 $PY -m nanograd_llm sample --ckpt runs/shakespeare_cuda/best --device cpu --prompt "ROMEO:" \
      --max-new-tokens 100 --seed 1 --no-stream 2>&1 | tail -8 | tee "$OUT/sample_cpu.log"
  printf 'What say you?\nGood morrow, sir.\n' | limit 40 $PY -m nanograd_llm chat --ckpt runs/shakespeare_cuda \
      --device cuda --max-new-tokens 80 --seed 0 2>&1 | tail -12 | tee "$OUT/chat_cuda.log"
  log "train stage done"
fi
