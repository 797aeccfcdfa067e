"""Where the GPU time of one training step goes: kernel-by-kernel, nanograd_llm vs PyTorch.

    python3 benchmarks/gpu_profile.py --config shakespeare [--tf32] [--steps 3]

PyTorch's profiler (CUPTI) records every CUDA kernel launched in the process, CuPy's included.
For each side it prints the GPU time summed over all kernels per step (what the step would cost
with no launch overhead at all), the wall time per step, the kernels that take the most time, and
the time of all kernels summed by kind (matrix products, fused attention, softmax, layer norm,
GELU, AdamW, copies, adds, reductions, other; `kernel_kind` tells them apart by name).
The two sides run one after the other in this one process, so the wall times here are only for
orientation; benchmarks/train_step.py gives the comparable ones (separate processes).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from train_step import ADAMW, CONFIGS, pin_precision  # noqa: E402


# Kernel kinds for the per-kind sums (the first match wins, in this order). The names are those
# CUDA reports: cuBLAS/CUTLASS matrix products ("gemm", "gemv", "xmma", "cutlass"; recent cuBLAS
# on Hopper also "nvjet_…" kernels and "splitKreduce_kernel", the reduction of a split-K product),
# PyTorch's fused attention ("fmha", "flash", "attention"), our fused kernels (cuda_kernels.py:
# the layer norm is "ln_fwd_f32"/"ln_bwd_dx_f32") and CuPy's element-wise ones.
KINDS = (
    ("fused attention", ("fmha", "flash", "attention")),
    ("matrix products", ("gemm", "gemv", "xmma", "cutlass", "gemmk", "nvjet", "splitk")),
    ("softmax", ("softmax",)),
    ("layer norm", ("layer_norm", "layernorm", "_ln_", "gammabeta", "ln_fwd", "ln_bwd")),
    ("GELU", ("gelu",)),
    ("AdamW", ("adam",)),
    ("copies", ("copy", "catarray")),
    ("adds", ("add",)),
    ("reductions", ("reduce", "sum")),
)


def kernel_kind(name: str) -> str:
    """The kind of a CUDA kernel from its name (see KINDS); "other" when none matches."""
    low = name.lower()
    for kind, keys in KINDS:
        if any(k in low for k in keys):
            return kind
    return "other"


def kind_sums(times: dict) -> dict:
    """{kernel name: ms} -> {kind: ms}, kinds in KINDS order, "other" last, empty kinds left out."""
    sums: dict = {}
    for name, ms in times.items():
        kind = kernel_kind(name)
        sums[kind] = sums.get(kind, 0.0) + ms
    order = [k for k, _ in KINDS] + ["other"]
    return {k: sums[k] for k in order if k in sums}


def _profile(step, sync, steps, label, top):
    import torch
    from torch.profiler import ProfilerActivity, profile
    for _ in range(3):
        step()
    sync()
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            step()
        sync()
    wall = (time.perf_counter() - t0) / steps * 1e3
    events = [e for e in prof.key_averages() if e.device_type == torch.autograd.DeviceType.CUDA]
    attr = "self_device_time_total" if hasattr(events[0] if events else None,
                                               "self_device_time_total") else "self_cuda_time_total"
    total_us = sum(getattr(e, attr) for e in events) / steps
    n_kernels = sum(e.count for e in events) / steps
    print(f"\n== {label}: wall {wall:.2f} ms/step (profiled), GPU kernels {total_us / 1e3:.2f} ms/step, "
          f"{n_kernels:.0f} kernels/step")
    events.sort(key=lambda e: -getattr(e, attr))
    for e in events[:top]:
        t = getattr(e, attr) / steps
        print(f"  {t / 1e3:8.3f} ms {100 * t / max(total_us, 1e-9):5.1f}%  x{e.count // steps:<4d} "
              f"{e.key[:110]}")
    by_kind = kind_sums({e.key: getattr(e, attr) / steps / 1e3 for e in events})
    print("  by kind (all kernels): " + ", ".join(f"{k} {ms:.2f} ms" for k, ms in by_kind.items()))
    return total_us / 1e3, wall


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", choices=sorted(CONFIGS), default="shakespeare")
    ap.add_argument("--tf32", action="store_true", help="TF32 for ours, bf16 autocast for torch")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--top", type=int, default=18)
    args = ap.parse_args(argv)
    if args.steps < 1 or args.top < 0:     # --steps 0 divided by zero after the warm-up
        ap.error(f"need --steps >= 1 and --top >= 0, got {args.steps} and {args.top}")
    pin_precision(os.environ, args.tf32)    # CUPY_TF32 0 or 1, whatever the shell holds
    try:
        import cupy
        import torch
    except ImportError as e:
        raise SystemExit(f"error: gpu_profile.py needs CuPy and PyTorch with CUDA (a GPU "
                         f"machine): {e}") from None
    import numpy as np
    if not args.tf32:
        torch.set_float32_matmul_precision("highest")   # float32 products for torch too

    from nanograd_llm.cuda_graph import TrainStep
    from nanograd_llm.models.gpt import GPT, GPTConfig
    from nanograd_llm.optim import AdamW
    cfg = CONFIGS[args.config]
    B, T, V = cfg["batch"], cfg["block_size"], cfg["vocab_size"]
    gcfg = GPTConfig(vocab_size=V, block_size=T, n_layer=cfg["n_layer"], n_head=cfg["n_head"],
                     n_embd=cfg["n_embd"], dropout=0.0)
    model = GPT(gcfg, seed=0, dtype="float32", device="cuda")
    opt = AdamW.from_model(model, **ADAMW)
    rng = np.random.default_rng(1)
    idx = cupy.asarray(rng.integers(0, V, (B, T)))
    tgt = cupy.asarray(rng.integers(0, V, (B, T)))
    sync = cupy.cuda.Device().synchronize
    print(f"config {args.config} {cfg}, {'tf32 / bf16 autocast' if args.tf32 else 'float32'}, "
          f"{cupy.cuda.runtime.getDeviceProperties(0)['name'].decode()}")

    def eager():
        model.forward(idx, tgt)
        model.backward()
        opt.step()
    _profile(eager, sync, args.steps, "nanograd_llm eager", args.top)

    ts = TrainStep(model)

    def graphed():
        ts(idx, tgt)
        opt.step()
    graphed()
    print(f"\nCUDA graph active: {ts.active} ({ts.reason or 'replayed'})")
    _profile(graphed, sync, args.steps, "nanograd_llm CUDA graph", args.top)

    from torch_gpt import from_state_dict, param_groups, train_step   # the benchmark's GPT
    tmodel = from_state_dict(gcfg.to_dict(), GPT(gcfg, seed=0, dtype="float32").state_dict())
    tmodel = tmodel.to("cuda")
    topt = torch.optim.AdamW(param_groups(tmodel, ADAMW["weight_decay"]), lr=ADAMW["lr"],
                             betas=ADAMW["betas"], eps=ADAMW["eps"])
    ti = torch.as_tensor(rng.integers(0, V, (B, T)), device="cuda")
    tt = torch.as_tensor(rng.integers(0, V, (B, T)), device="cuda")

    def tstep():
        train_step(tmodel, topt, ti, tt, bf16=args.tf32)
    _profile(tstep, torch.cuda.synchronize, args.steps, "PyTorch eager", args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
