"""Each fused CPU kernel (nanograd_llm/cpu_kernels.py, Numba) against the generic NumPy code it
replaces, at the shapes one data-parallel part of a training step gives it.

    python3 benchmarks/cpu_kernels.py --config baby
    python3 benchmarks/cpu_kernels.py --config shakespeare --rounds 5

One thread (as inside a data-parallel part), glibc's allocator tuned as a model tunes it. Kernel and generic code are alternated call by call
within each round; the figure is the median over rounds of each side's best time per round, in
nanoseconds per element of the layer's main array, and their ratio. Needs Numba
(`pip install -e ".[fast]"`).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CONFIGS = {   # one part = half the batch of benchmarks/train_step.py
    "baby": dict(B=6, T=64, C=128, nh=4, V=65),
    "shakespeare": dict(B=32, T=256, C=384, nh=6, V=65),
}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", choices=sorted(CONFIGS), default="baby")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--calls", type=int, default=0, help="calls per side and round (default: "
                                                         "20 baby, 3 shakespeare)")
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.calls < 0:
        ap.error("need --rounds >= 1 and --calls >= 0")
    calls = args.calls or (20 if args.config == "baby" else 3)
    sys.path.insert(0, ROOT)
    import numpy as np
    from threadpoolctl import threadpool_limits

    from nanograd_llm import backend
    from nanograd_llm.layers import attention, gelu, layernorm
    from nanograd_llm.models.base import tune_host_allocator
    # As in training: building a model tunes glibc's allocator so that large arrays come from
    # the heap and are reused. Without it every fresh (B,T,4C) result at shakespeare size is a
    # new mmap whose pages fault in on first touch, and that cost (not the kernel's) would
    # dominate the figures (GELU forward at shakespeare size: 2.29 ns per element untuned in
    # session 6, 0.88 tuned in session 7).
    tune_host_allocator()
    ck = backend.cpu_kernels()
    if ck is None:
        raise SystemExit('error: cpu_kernels.py needs Numba, which is not installed: '
                         'pip install -e ".[fast]"')
    cfg = CONFIGS[args.config]
    B, T, C, nh = cfg["B"], cfg["T"], cfg["C"], cfg["nh"]
    rng = np.random.default_rng(0)
    f32 = np.float32
    x4 = (rng.standard_normal((B, T, 4 * C)) * 2).astype(f32)      # MLP hidden (B,T,4C)
    d4 = rng.standard_normal(x4.shape).astype(f32)
    x1 = rng.standard_normal((B, T, C)).astype(f32)                  # residual stream (B,T,C)
    d1 = rng.standard_normal(x1.shape).astype(f32)
    w, b = rng.standard_normal(C).astype(f32), rng.standard_normal(C).astype(f32)
    scores = (rng.standard_normal((B, nh, T, T)) * 3).astype(f32)   # (B,nh,T,T)
    datt = rng.standard_normal(scores.shape).astype(f32)
    n_par = 12 * C * C * 4 + 2 * 65 * C                             # about a model's parameters
    p = rng.standard_normal(n_par).astype(f32)
    g = rng.standard_normal(n_par).astype(f32)
    m, v = np.zeros_like(p), np.zeros_like(p)
    _, s4 = ck.gelu_forward(x4)
    _, xhat, rstd = ck.layernorm_forward(x1, w, b, 1e-5)
    att = scores.copy()
    ck.causal_softmax_forward(att)
    ln_cache = layernorm.LayerNormCache(xhat, rstd, w, b)

    tmp = np.empty_like(p)
    p2, m2, v2 = p.copy(), m.copy(), v.copy()

    def generic_adamw():
        # optim.py's thirteen passes (the generic code of AdamW._step_flat), in place
        np.multiply(m2, 0.9, out=m2)
        np.multiply(g, 0.1, out=tmp)
        np.add(m2, tmp, out=m2)
        np.multiply(v2, 0.99, out=v2)
        np.multiply(g, g, out=tmp)
        np.multiply(tmp, 0.01, out=tmp)
        np.add(v2, tmp, out=v2)
        np.sqrt(v2, out=tmp)
        np.multiply(tmp, 1.0, out=tmp)
        np.add(tmp, 1e-8, out=tmp)
        np.divide(m2, tmp, out=tmp)
        np.multiply(tmp, -1e-3, out=tmp)
        np.multiply(p2, 1 - 1e-4, out=p2)
        np.add(p2, tmp, out=p2)

    # Both sides call the layer's own function, as the model does: with NANOGRAD_LLM_FUSED=1 it
    # runs the kernel, with 0 the generic NumPy code (switched around each call below).
    def layer(fn):
        return fn, fn
    pairs = {
        "GELU forward": layer(lambda: gelu.gelu_forward(x4)) + (x4.size,),
        "GELU backward": layer(lambda: gelu.gelu_backward(d4, gelu.GeluCache(x4, s4)))
        + (x4.size,),
        "layer norm forward": layer(lambda: layernorm.layernorm_forward(x1, w, b)) + (x1.size,),
        "layer norm backward": layer(lambda: layernorm.layernorm_backward(d1, ln_cache))
        + (x1.size,),
        "causal softmax forward": layer(lambda: attention.causal_softmax(scores.copy()))
        + (scores.size,),
        "softmax backward": layer(lambda: attention.softmax_backward(att, datt.copy()))
        + (scores.size,),
        "AdamW (one step)": (lambda: ck.adamw_update(p, g, m, v, 1e-3, 0.9, 0.99, 1e-8, 0.1,
                                                     0.1, 0.01),
                             generic_adamw, p.size),
    }
    print(f"config {args.config}: part B={B}, T={T}, C={C}, nh={nh}; {args.rounds} rounds of "
          f"{calls} calls per side, one thread; OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE')} OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE')}")
    print("(layer functions as the model calls them: the layer-norm backward includes dw and "
          "db, both softmax sides copy their input; AdamW updates in place)")
    print(f"{'':26}{'kernel ns/el':>13}{'NumPy ns/el':>13}{'ratio':>8}")
    with threadpool_limits(1):
        backend._LOCAL.in_shard = True          # as inside a part: no row-block threads
        # The kernel side's warm-up call runs the kernel too: a NANOGRAD_LLM_FUSED=0 left in
        # the shell made it run the generic code, and the first timed call compiled the kernel
        os.environ["NANOGRAD_LLM_FUSED"] = "1"
        for name, (kern, gen, n) in pairs.items():
            kern()
            os.environ["NANOGRAD_LLM_FUSED"] = "0"
            gen()
            os.environ["NANOGRAD_LLM_FUSED"] = "1"
            rk, rg = [], []
            for _ in range(args.rounds):
                tk, tg = [], []
                for _ in range(calls):
                    t = time.perf_counter()
                    kern()
                    tk.append(time.perf_counter() - t)
                    os.environ["NANOGRAD_LLM_FUSED"] = "0"
                    t = time.perf_counter()
                    gen()
                    tg.append(time.perf_counter() - t)
                    os.environ["NANOGRAD_LLM_FUSED"] = "1"
                rk.append(min(tk) / n * 1e9)
                rg.append(min(tg) / n * 1e9)
            k, gg = statistics.median(rk), statistics.median(rg)
            print(f"{name:26}{k:>13.2f}{gg:>13.2f}{k / gg:>8.2f}")


if __name__ == "__main__":
    main()
