"""The matrix products of one data-parallel part of a training step, NumPy (OpenBLAS) vs PyTorch,
one thread each, in separate processes run alternately (A B A B):

    python3 benchmarks/gemm_rates.py --config shakespeare
    python3 benchmarks/gemm_rates.py --config baby --rounds 6

A part is the share of the batch one core gets in nanograd_llm's data-parallel step (B/2 rows of
the batch on this 2-core machine); torch runs the whole batch on two threads, but the products
and their shapes per core are the same. For every linear layer of a block (c_attn, attn.c_proj,
mlp.c_fc, mlp.c_proj) and the tied output layer the three products of a training step are timed
(forward y = x·W, dX = dY·Wᵀ, dW = Xᵀ·dY), and for the attention the four dense batched
products of one layer (S = Q·Kᵀ, Y = A·V, dA = dY·Vᵀ, dV = Aᵀ·dY; the fifth and sixth, dQ and
dK, have the same shapes as Y and dV). The table gives each product's rate (GFLOP/s, median over
rounds) and the estimated time of all products of one part's step: every timed product
multiplied by how often the step runs it (n_layer times for a block's, once for the head's).

The last line is a JSON object with both libraries' per-product medians and the step estimates.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CONFIGS = {   # as benchmarks/train_step.py
    "baby": dict(vocab_size=65, batch=12, block_size=64, n_layer=4, n_head=4, n_embd=128),
    "shakespeare": dict(vocab_size=65, batch=64, block_size=256, n_layer=6, n_head=6, n_embd=384),
}


def products(cfg: dict, parts: int):
    """[(name, kind, shapes, flops, count per step)] for one data-parallel part."""
    B = cfg["batch"] // parts
    T, C, V, nh, L = cfg["block_size"], cfg["n_embd"], cfg["vocab_size"], cfg["n_head"], cfg["n_layer"]
    N, hs = B * T, C // nh
    out = []
    for name, cin, cout, count in (("c_attn", C, 3 * C, L), ("attn.c_proj", C, C, L),
                                   ("mlp.c_fc", C, 4 * C, L), ("mlp.c_proj", 4 * C, C, L),
                                   ("head", C, V, 1)):
        fl = 2 * N * cin * cout
        out.append((f"{name} y=xW", "nn", (N, cin, cout), fl, count))
        out.append((f"{name} dX=dY·Wᵀ", "nt", (N, cout, cin), fl, count))
        out.append((f"{name} dW=Xᵀ·dY", "tn", (cin, N, cout), fl, count))
    G = B * nh
    fl = 2 * G * T * T * hs
    out.append(("attn S=Q·Kᵀ", "bnt", (G, T, hs, T), fl, L))
    out.append(("attn Y=A·V (also dQ)", "bnn", (G, T, T, hs), fl, 2 * L))
    out.append(("attn dA=dY·Vᵀ", "bnt", (G, T, hs, T), fl, L))
    out.append(("attn dV=Aᵀ·dY (also dK)", "btn", (G, T, T, hs), fl, 2 * L))
    return out


def _worker(lib: str, cfg: dict, parts: int, reps: int) -> None:
    import numpy as np
    rng = np.random.default_rng(0)
    if lib == "torch":
        import torch
        torch.set_num_threads(1)
        conv = torch.from_numpy
    else:
        from threadpoolctl import threadpool_limits
        threadpool_limits(1)
        conv = lambda a: a                                   # noqa: E731
    res = {}
    for name, kind, shp, fl, _ in products(cfg, parts):
        if kind in ("nn", "nt", "tn"):
            m, k, n = shp
            a = rng.standard_normal((k, m) if kind == "tn" else (m, k), dtype=np.float32)
            b = rng.standard_normal((n, k) if kind == "nt" else (k, n), dtype=np.float32)
            a, b = conv(a), conv(b)
            f = {"nn": lambda: a @ b, "nt": lambda: a @ b.T, "tn": lambda: a.T @ b}[kind]
        else:
            g, m, k, n = shp
            a = rng.standard_normal((g, k, m) if kind == "btn" else (g, m, k), dtype=np.float32)
            b = rng.standard_normal((g, n, k) if kind == "bnt" else (g, k, n), dtype=np.float32)
            a, b = conv(a), conv(b)
            if lib == "torch":
                f = {"bnn": lambda: a @ b, "bnt": lambda: a @ b.transpose(1, 2),
                     "btn": lambda: a.transpose(1, 2) @ b}[kind]
            else:
                f = {"bnn": lambda: a @ b, "bnt": lambda: a @ b.swapaxes(1, 2),
                     "btn": lambda: a.swapaxes(1, 2) @ b}[kind]
        f()
        ts = []
        for _ in range(reps):
            t = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t)
        res[name] = statistics.median(ts)
    print(json.dumps(res))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", choices=sorted(CONFIGS), default="shakespeare")
    ap.add_argument("--parts", type=int, default=2, help="data-parallel parts (cores)")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--reps", type=int, default=0, help="timed calls per product (default: by size)")
    ap.add_argument("--worker", choices=["numpy", "torch"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    cfg = CONFIGS[args.config]
    if not 1 <= args.parts <= cfg["batch"] or args.rounds < 1 or args.reps < 0:
        ap.error(f"need 1 <= --parts <= {cfg['batch']}, --rounds >= 1 and --reps >= 0")
    reps = args.reps or (5 if args.config == "shakespeare" else 30)
    if args.worker:
        _worker(args.worker, cfg, args.parts, reps)
        return
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from train_step import missing_module
    if missing_module("torch"):       # the torch worker died at its import: a traceback
        raise SystemExit("error: gemm_rates.py compares with PyTorch, which is not installed "
                         "(pip install torch)")
    rounds = {"numpy": [], "torch": []}
    for r in range(args.rounds):
        for lib in (("numpy", "torch") if r % 2 == 0 else ("torch", "numpy")):
            cmd = [sys.executable, os.path.abspath(__file__), "--config", args.config,
                   "--parts", str(args.parts), "--reps", str(reps), "--worker", lib]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"error: the {lib} worker failed (exit status "
                                 f"{done.returncode}):\n{done.stderr.strip()}")
            out = done.stdout
            rounds[lib].append(json.loads(out.strip().splitlines()[-1]))
    prods = products(cfg, args.parts)
    med = {lib: {name: statistics.median(r[name] for r in rounds[lib]) for name, *_ in prods}
           for lib in rounds}
    print(f"config {args.config}, one part = batch/{args.parts}, one thread per library, "
          f"{args.rounds} alternated rounds (medians)")
    print(f"{'product':28s} {'shape':>22s} {'×':>3s} {'NumPy GF/s':>11s} {'torch GF/s':>11s}")
    step = {lib: 0.0 for lib in rounds}
    for name, kind, shp, fl, count in prods:
        for lib in rounds:
            step[lib] += med[lib][name] * count
        print(f"{name:28s} {str(shp):>22s} {count:3d} {fl / med['numpy'][name] / 1e9:11.1f} "
              f"{fl / med['torch'][name] / 1e9:11.1f}")
    print(f"all products of one part's step: NumPy {step['numpy'] * 1e3:.1f} ms, "
          f"torch {step['torch'] * 1e3:.1f} ms (ratio {step['numpy'] / step['torch']:.3f})")
    print(json.dumps(ensure_ascii=False, obj={"config": args.config, "parts": args.parts, "rounds": args.rounds,
                      "numpy_products_ms": round(step["numpy"] * 1e3, 2),
                      "torch_products_ms": round(step["torch"] * 1e3, 2),
                      "numpy_us": {k: round(v * 1e6, 1) for k, v in med["numpy"].items()},
                      "torch_us": {k: round(v * 1e6, 1) for k, v in med["torch"].items()},
                      "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
                      "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE")}))


if __name__ == "__main__":
    main()
