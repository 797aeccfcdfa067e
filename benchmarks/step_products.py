"""Every matrix product of a real training step, timed by shape (one data-parallel part, one core).

    python3 benchmarks/step_products.py --config shakespeare          # a part: B = 32
    python3 benchmarks/step_products.py --config baby --steps 200     # a part: B = 6

Runs GPT.forward + backward + AdamW on one thread (NANOGRAD_LLM_THREADS=1, one BLAS thread), with
backend.matmul_t wrapped by a timer in every module that calls it, and prints, per product shape
and layout, the time per step, the calls per step and the rate in GFLOP/s, then the totals per kind:
'2d' (the linear layers), 'batched' (attention: the causal tiles or the dense path), 'gemv'
(bias gradients and row sums). The wrapper adds a few microseconds per call, so the step time
printed is a little above an unwrapped step's. The last line is a JSON object.
"""
from __future__ import annotations

import argparse
import collections
import importlib
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

CONFIGS = {   # as benchmarks/train_step.py; `part` = rows of one data-parallel part (batch / 2)
    "baby": dict(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128, part=6),
    "shakespeare": dict(vocab_size=65, block_size=256, n_layer=6, n_head=6, n_embd=384, part=32),
}
CALLERS = ["nanograd_llm.layers.linear", "nanograd_llm.layers.attention",
           "nanograd_llm.layers.causal_tiles", "nanograd_llm.layers.cross_entropy",
           "nanograd_llm.layers.layernorm", "nanograd_llm.layers.embedding",
           "nanograd_llm.layers.multihead_attention", "nanograd_llm.layers.positional",
           "nanograd_llm.models.gpt"]


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", choices=sorted(CONFIGS), default="shakespeare")
    p.add_argument("--steps", type=int, default=2, help="timed steps (after one warm-up step)")
    p.add_argument("--top", type=int, default=30, help="shapes to list")
    args = p.parse_args(argv)
    if args.steps < 1 or args.top < 1:      # --steps 0 divided by zero after the warm-up step
        p.error(f"--steps and --top must be at least 1, got {args.steps} and {args.top}")
    os.environ["NANOGRAD_LLM_THREADS"] = "1"
    import numpy as np
    from threadpoolctl import threadpool_limits
    threadpool_limits(1)
    from nanograd_llm import backend
    stats = collections.defaultdict(lambda: [0, 0.0, 0.0])    # key -> calls, seconds, flops
    inner = backend.matmul_t

    def timed(a, b, trans_a=False, trans_b=False, alpha=1.0, out=None):
        t = time.perf_counter()
        r = inner(a, b, trans_a, trans_b, alpha, out)
        dt = time.perf_counter() - t
        A = a if a.ndim > 1 else a[None]
        Bm = b if b.ndim > 1 else b[:, None]
        m, k = (A.shape[-1], A.shape[-2]) if trans_a else (A.shape[-2], A.shape[-1])
        n = Bm.shape[-2] if trans_b else Bm.shape[-1]
        batch = int(np.prod(A.shape[:-2])) if A.ndim > 2 else 1
        kind = "batched" if a.ndim > 2 else ("gemv" if min(a.ndim, b.ndim) == 1 else "2d")
        layout = ("T" if trans_a else "N") + ("T" if trans_b else "N")
        key = (kind, f"{m}x{k}·{k}x{n}", layout, "alpha" if alpha != 1.0 else "")
        s = stats[key]
        s[0] += 1
        s[1] += dt
        s[2] += 2.0 * batch * m * n * k
        return r
    backend.matmul_t = timed
    for name in CALLERS:
        mod = importlib.import_module(name)
        if hasattr(mod, "matmul_t"):
            mod.matmul_t = timed

    from nanograd_llm.models.gpt import GPT, GPTConfig
    from nanograd_llm.optim import AdamW
    cfg = dict(CONFIGS[args.config])
    B = cfg.pop("part")
    model = GPT(GPTConfig(**cfg, dropout=0.0), seed=0, dtype="float32")
    opt = AdamW.from_model(model, lr=1e-3, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)
    rng = np.random.default_rng(1)
    idx = rng.integers(0, cfg["vocab_size"], (B, cfg["block_size"]))
    tgt = rng.integers(0, cfg["vocab_size"], (B, cfg["block_size"]))

    def step():
        model.forward(idx, tgt)
        model.backward()
        opt.step()
    step()
    stats.clear()
    t = time.perf_counter()
    for _ in range(args.steps):
        step()
    step_s = (time.perf_counter() - t) / args.steps
    n = args.steps
    rows = sorted(stats.items(), key=lambda kv: -kv[1][1])
    print(f"config {args.config}, part of B = {B}, one thread: {step_s * 1e3:.1f} ms per step; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')} "
          f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE')}")
    print(f"{'ms/step':>9} {'calls':>6} {'GFLOP/s':>8}  kind, product (per matrix), layout")
    for (kind, shape, layout, alpha), (c, s, f) in rows[:args.top]:
        print(f"{s / n * 1e3:9.2f} {c // n:6d} {f / s / 1e9:8.1f}  {kind} {shape} {layout} {alpha}")
    kinds = collections.defaultdict(lambda: [0.0, 0.0])
    for (kind, *_), (c, s, f) in stats.items():
        kinds[kind][0] += s / n
        kinds[kind][1] += f / n
    total = sum(v[0] for v in kinds.values())
    summary = {k: {"ms": round(v[0] * 1e3, 1), "gflops": round(v[1] / v[0] / 1e9, 1)}
               for k, v in kinds.items()}
    print("per kind:", ", ".join(f"{k} {v['ms']} ms ({v['gflops']} GFLOP/s)"
                                 for k, v in summary.items()))
    print(f"products {total * 1e3:.1f} ms of the {step_s * 1e3:.1f} ms step "
          f"({100 * total / step_s:.1f} %)")
    res = {"config": args.config, "part": B, "step_ms": round(step_s * 1e3, 2),
           "products_ms": round(total * 1e3, 2), "kinds": summary,
           "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
           "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE")}
    print(json.dumps(res))
    return res


if __name__ == "__main__":
    main()
