"""Tokens per second of generation with and without the KV cache (not run in CI).

    python3 benchmarks/kv_cache.py [--device cpu|cuda] [--dtype float32] [--new-tokens 32]

Model: GPT(n_layer=4, n_head=4, n_embd=128, vocab_size=65, block_size=1024), random weights.
For each context length L in 64, 256, 1024 the prompt has L - new_tokens tokens and
new_tokens tokens are generated greedily, so the sequence ends at exactly L tokens (the last
step sees the L - 1 before its token).
End-to-end tokens/s = new_tokens / wall time of the whole generation (the cached path includes
its prefill of the prompt); decode tokens/s counts the steps after the first token only. Each
figure is the best of --repeats runs. Both paths must produce the same tokens (checked).
Every context must hold the new tokens and at least one prompt token, and be at most the
model's block_size + 1 = 1025: the last step then sees 1024 tokens, the whole window (a longer
context would be cropped to the last 1024 tokens, its cache rebuilt: its row would not measure
its label); --new-tokens is at least 2 (the decode rate counts the steps after the first).
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
from nanograd_llm.generate import generate, iter_generate  # noqa: E402


def bench(model, prompt, n_new, use_cache, repeats):
    """Best of `repeats` runs: (end-to-end tok/s, decode tok/s after the first token, tokens).

    The first token costs one forward over the whole prompt with or without the cache (the
    cached path fills the cache then: "prefill"); the decode rate is measured over the
    n_new - 1 steps after it.
    """
    best_total = best_decode = float("inf")
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        toks = []
        t_first = None
        for nxt in iter_generate(model, prompt, n_new, temperature=0, use_cache=use_cache):
            toks.append(int(nxt[0]))
            if t_first is None:
                t_first = time.perf_counter()
        t_end = time.perf_counter()
        best_total = min(best_total, t_end - t0)
        best_decode = min(best_decode, t_end - t_first)
        out = toks
    return n_new / best_total, (n_new - 1) / best_decode, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--contexts", default="64,256,1024")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    block_size = 1024
    if args.new_tokens < 2 or args.repeats < 1:
        ap.error(f"need --new-tokens >= 2 (the decode rate counts the steps after the first) "
                 f"and --repeats >= 1, got {args.new_tokens} and {args.repeats}")
    try:
        contexts = [int(c) for c in args.contexts.split(",")]
    except ValueError:
        ap.error(f"--contexts: expected comma-separated integers, got {args.contexts!r}")
    for L in contexts:
        # The last new token is predicted from the L - 1 before it (no forward pass follows it):
        # L = block_size + 1 still fits the window; above it the context is cropped
        if not args.new_tokens < L <= block_size + 1:
            ap.error(f"--contexts: {L} must be above --new-tokens ({args.new_tokens}: a prompt "
                     f"of at least one token) and at most the model's block_size + 1 = "
                     f"{block_size + 1} (the last step sees L - 1 tokens; a longer context is "
                     f"cropped to the last {block_size})")
    cfg = GPTConfig(vocab_size=65, block_size=block_size, n_layer=4, n_head=4, n_embd=128)
    try:
        model = GPT(cfg, seed=0, dtype=args.dtype, device=args.device).eval()
    except RuntimeError as e:           # backend.DeviceError: no CuPy or no GPU for --device cuda
        raise SystemExit(f"error: {e}") from None
    rng = np.random.default_rng(0)
    print(f"model: n_layer=4 n_head=4 n_embd=128 vocab=65 block_size=1024 "
          f"({model.num_params():,} params), {args.dtype}, device={args.device}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"numpy {np.__version__}")
    print(f"{'context':>8} | {'end-to-end tok/s':^27} | {'decode tok/s (after 1st token)':^30}")
    print(f"{'':>8} | {'no cache':>8} {'cache':>8} {'speed-up':>9} | "
          f"{'no cache':>9} {'cache':>9} {'speed-up':>9}")
    rows = []
    for L in contexts:
        prompt = rng.integers(0, 65, size=(1, L - args.new_tokens))
        generate(model, prompt[:, :8], 2)                    # warm-up (masks, tables)
        slow, slow_dec, a = bench(model, prompt, args.new_tokens, False, args.repeats)
        fast, fast_dec, b = bench(model, prompt, args.new_tokens, True, args.repeats)
        rows.append((L, slow, fast, slow_dec, fast_dec))
        print(f"{L:>8} | {slow:>8.1f} {fast:>8.1f} {fast / slow:>8.1f}x | "
              f"{slow_dec:>9.1f} {fast_dec:>9.1f} {fast_dec / slow_dec:>8.1f}x"
              f"{'' if a == b else '  (tokens differ!)'}")
    return rows


if __name__ == "__main__":
    main()
