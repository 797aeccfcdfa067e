"""Tokens per second of generation with and without the KV cache (not run in CI).

    python3 benchmarks/kv_cache.py [--device cpu|cuda] [--dtype float32] [--new-tokens 32]

Model: GPT(n_layer=4, n_head=4, n_embd=128, vocab_size=65, block_size=1024), random weights.
For each context length L in 64, 256, 1024 the prompt has L - new_tokens tokens and
new_tokens tokens are generated greedily, so the last step sees a context of exactly L.
tokens/s = new_tokens / wall time of the whole generate() call (the cached path includes its
prefill of the prompt). Both paths must produce the same tokens; the script checks it.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from nanograd_llm import GPT, GPTConfig  # noqa: E402
from nanograd_llm.generate import generate  # noqa: E402


def bench(model, prompt, n_new, use_cache, repeats):
    best = float("inf")
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = generate(model, prompt, n_new, temperature=0, use_cache=use_cache)
        if model.device == "cuda":
            model.xp.cuda.Stream.null.synchronize()
        best = min(best, time.perf_counter() - t0)
    return n_new / best, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--contexts", default="64,256,1024")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    cfg = GPTConfig(vocab_size=65, block_size=1024, n_layer=4, n_head=4, n_embd=128)
    model = GPT(cfg, seed=0, dtype=args.dtype, device=args.device).eval()
    rng = np.random.default_rng(0)
    print(f"model: n_layer=4 n_head=4 n_embd=128 vocab=65 block_size=1024 "
          f"({model.num_params():,} params), {args.dtype}, device={args.device}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"numpy {np.__version__}")
    print(f"{'context':>8} {'no cache tok/s':>15} {'cache tok/s':>12} {'speed-up':>9}")
    rows = []
    for L in (int(c) for c in args.contexts.split(",")):
        prompt = rng.integers(0, 65, size=(1, L - args.new_tokens))
        generate(model, prompt[:, :8], 2)                    # warm-up (masks, tables)
        slow, a = bench(model, prompt, args.new_tokens, False, args.repeats)
        fast, b = bench(model, prompt, args.new_tokens, True, args.repeats)
        same = np.array_equal(a, b)
        rows.append((L, slow, fast))
        print(f"{L:>8} {slow:>15.1f} {fast:>12.1f} {fast / slow:>8.1f}x"
              f"{'' if same else '  (tokens differ!)'}")
    return rows


if __name__ == "__main__":
    main()
