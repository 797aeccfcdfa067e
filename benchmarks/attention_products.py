"""The causal tiles' matrix products on one core: layouts, leading dimensions, and a rewrite.

    python3 benchmarks/attention_products.py layouts      # small products by layout (NN/NT/TN/TT)
    python3 benchmarks/attention_products.py scores       # a tile's scores q·kᵀ, four ways
    python3 benchmarks/attention_products.py rewrite      # tiled attention fwd+bwd: current vs NN

Why: in a `shakespeare` step the attention's tile products run at 40–90 GFLOP/s against 120–145
for the linear layers (benchmarks/RESULTS.md, session 16). OpenBLAS's SkylakeX build has a
"small matrix" path without packing, for M·N·K up to about 100³; these tiles straddle that limit,
and the scores product q·kᵀ has its second operand transposed (NT).

`layouts`: stacks of 12 products (as a chunk of 2 batch elements × 6 heads) at sizes around the
  limit, in the four layouts; GFLOP/s.
`scores`: one tile's scores for r1 = 128 and 256 keys: the current strided views (q, k read in
  place from the (B, T, 3C) qkv array, k through the transpose flag), and q scaled into a
  contiguous copy times a transposed copy kᵀ (NN), with kᵀ's rows padded by 0, 16 or 32 floats
  (a row of 256 floats is 1 KiB: a power-of-two stride).
`rewrite`: tiled_attention_forward/backward (nanograd_llm/layers/causal_tiles.py) against the same
  algorithm written with NN products only (q·scale, kᵀ and vᵀ copied once per call, rows padded by
  --pad floats; products split so that M·N·K stays within --small), both on the part shape
  (B = 32, nh = 6, T = 256, hs = 64), alternated; also checks that the results agree.

All variants alternate round by round (the host's speed drifts by a third within seconds), one
BLAS thread. The last line is a JSON object with the medians.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import numpy as np  # noqa: E402


def _rounds(variants: dict, rounds: int, reps: int) -> dict:
    """variants: name -> (fn, flops). Round-robin, order flipped every round; returns name ->
    median GFLOP/s (flops > 0) or median ms per call (flops == 0)."""
    for fn, _ in variants.values():
        fn()
        fn()
    out = {k: [] for k in variants}
    names = list(variants)
    for r in range(rounds):
        for k in (names if r % 2 == 0 else names[::-1]):
            fn, fl = variants[k]
            t = time.perf_counter()
            for _ in range(reps):
                fn()
            dt = (time.perf_counter() - t) / reps
            out[k].append(fl / dt / 1e9 if fl else dt * 1e3)
    return {k: round(statistics.median(v), 2) for k, v in out.items()}


def layouts(args) -> dict:
    rng = np.random.default_rng(0)
    bt = 12
    variants = {}
    for (M, K, N) in [(64, 64, 64), (64, 64, 128), (64, 64, 192), (64, 64, 256), (100, 100, 100),
                      (101, 100, 100), (256, 64, 64)]:
        for ta in (False, True):
            for tb in (False, True):
                a = rng.standard_normal((bt, K, M) if ta else (bt, M, K), dtype=np.float32)
                b = rng.standard_normal((bt, N, K) if tb else (bt, K, N), dtype=np.float32)
                A = a.swapaxes(-1, -2) if ta else a
                Bm = b.swapaxes(-1, -2) if tb else b
                out = np.empty((bt, M, N), np.float32)
                name = f"M{M} K{K} N{N} {'T' if ta else 'N'}{'T' if tb else 'N'}"
                variants[name] = (lambda A=A, Bm=Bm, out=out: np.matmul(A, Bm, out=out),
                                  2 * bt * M * N * K)
    res = _rounds(variants, args.rounds, args.reps)
    for k, v in res.items():
        print(f"{k:24s} {v:7.1f} GFLOP/s")
    return res


def _qkv(B, nh, T, hs, seed=0):
    C = nh * hs
    qkv = np.random.default_rng(seed).standard_normal((B, T, 3 * C), dtype=np.float32)
    q, k, v = qkv.reshape(B, T, 3, nh, hs).transpose(2, 0, 3, 1, 4)   # (B,nh,T,hs) views
    return q, k, v


def scores(args) -> dict:
    b, nh, T, hs, t = 2, 6, 256, 64, 64
    q, k, _ = _qkv(b, nh, T, hs)
    qs = np.ascontiguousarray(q)
    variants = {}
    for r1 in (128, 256):
        r0 = r1 - t
        fl = 2 * b * nh * t * r1 * hs
        out = np.empty((b, nh, t, r1), np.float32)
        variants[f"r1={r1} views, q·kᵀ (NT)"] = (
            lambda r0=r0, r1=r1, out=out: np.matmul(q[:, :, r0:r1], k[:, :, :r1].swapaxes(-1, -2),
                                                   out=out), fl)
        for pad in (0, 16, 32):
            kT = np.empty((b, nh, hs, T + pad), np.float32)[..., :T]
            kT[...] = k.swapaxes(-1, -2)
            variants[f"r1={r1} q·kT (NN), pad {pad}"] = (
                lambda r0=r0, r1=r1, out=out, kT=kT: np.matmul(qs[:, :, r0:r1], kT[..., :r1],
                                                               out=out), fl)
            if r1 > 128:
                def split(r0=r0, r1=r1, out=out, kT=kT):
                    for j in range(0, r1, 128):
                        np.matmul(qs[:, :, r0:r1], kT[..., j:j + 128], out=out[..., j:j + 128])
                variants[f"r1={r1} q·kT (NN), pad {pad}, 2×128"] = (split, fl)
    res = _rounds(variants, args.rounds, args.reps)
    for k_, v in res.items():
        print(f"{k_:36s} {v:7.1f} GFLOP/s")
    return res


def _pieces(n: int, other: int, small: int) -> list:
    """Split range(n) into as few pieces as keep piece·other <= small (one row per piece if
    even that is too much), of nearly equal length."""
    most = max(1, small // other)          # longest piece within the limit
    k = -(-n // most)                      # fewest pieces
    step = -(-n // k)                      # balanced length, <= most
    return [(j, min(j + step, n)) for j in range(0, n, step)]


def _nn_forward(q, k, v, pad, small):
    """Causal attention by query tiles with NN products only (benchmark variant)."""
    from nanograd_llm.layers.attention import causal_softmax
    from nanograd_llm.layers.causal_tiles import batch_chunk, tile_bounds
    B, nh, T, hs = q.shape
    scale = 1.0 / math.sqrt(hs)
    bounds = tile_bounds(T)
    chunk = batch_chunk(B, nh, T, q.dtype.itemsize)
    qs = np.empty(q.shape, q.dtype)
    np.multiply(q, q.dtype.type(scale), out=qs)                  # (B,nh,T,hs), q/√hs
    kT = np.empty((B, nh, hs, T + pad), q.dtype)[..., :T]        # (B,nh,hs,T), rows padded
    kT[...] = k.swapaxes(-1, -2)
    y = np.empty(q.shape, q.dtype)
    tiles = tuple(np.empty((B, nh, r1 - r0, r1), q.dtype) for r0, r1 in bounds)
    for b0 in range(0, B, chunk):
        c = slice(b0, min(b0 + chunk, B))
        for a, (r0, r1) in zip(tiles, bounds):
            ac, qi, yi = a[c], qs[c, :, r0:r1], y[c, :, r0:r1]
            ps = _pieces(r1, (r1 - r0) * hs, small)
            for j0, j1 in ps:
                np.matmul(qi, kT[c, :, :, j0:j1], out=ac[..., j0:j1])
            causal_softmax(ac)
            for n, (j0, j1) in enumerate(ps):
                if n == 0:
                    np.matmul(ac[..., j0:j1], v[c, :, j0:j1], out=yi)
                else:
                    yi += ac[..., j0:j1] @ v[c, :, j0:j1]
    return y, (qs, k, v, tiles, bounds, scale, chunk, pad, small)


def _nn_backward(dy, cache):
    from nanograd_llm.layers.attention import softmax_backward
    qs, k, v, tiles, bounds, scale, chunk, pad, small = cache
    B, nh, T, hs = qs.shape
    vT = np.empty((B, nh, hs, T + pad), qs.dtype)[..., :T]        # (B,nh,hs,T), rows padded
    vT[...] = v.swapaxes(-1, -2)
    dq, dk, dv = np.empty((3,) + qs.shape, qs.dtype)
    for b0 in range(0, B, chunk):
        c = slice(b0, min(b0 + chunk, B))
        for a, (r0, r1) in zip(reversed(tiles), reversed(bounds)):
            ac, dyi, qi = a[c], dy[c, :, r0:r1], qs[c, :, r0:r1]
            first = r1 == T
            ps = _pieces(r1, (r1 - r0) * hs, small)
            for j0, j1 in ps:
                if first:
                    np.matmul(ac[..., j0:j1].swapaxes(-1, -2), dyi, out=dv[c, :, j0:j1])
                else:
                    dv[c, :, j0:j1] += ac[..., j0:j1].swapaxes(-1, -2) @ dyi
            da = np.empty(ac.shape, ac.dtype)
            for j0, j1 in ps:
                np.matmul(dyi, vT[c, :, :, j0:j1], out=da[..., j0:j1])
            softmax_backward(ac, da)
            dqi = dq[c, :, r0:r1]
            for n, (j0, j1) in enumerate(ps):
                if n == 0:
                    np.matmul(da[..., j0:j1], k[c, :, j0:j1], out=dqi)
                else:
                    dqi += da[..., j0:j1] @ k[c, :, j0:j1]
            dqi *= scale
            for j0, j1 in ps:
                if first:
                    np.matmul(da[..., j0:j1].swapaxes(-1, -2), qi, out=dk[c, :, j0:j1])
                else:
                    dk[c, :, j0:j1] += da[..., j0:j1].swapaxes(-1, -2) @ qi
    return dq, dk, dv


def rewrite(args) -> dict:
    from nanograd_llm import backend
    from nanograd_llm.layers.causal_tiles import tiled_attention_backward, tiled_attention_forward
    backend._LOCAL.in_shard = True         # as inside a data-parallel part: no row-block threads
    q, k, v = _qkv(args.batch, 6, 256, 64)
    dy = np.random.default_rng(1).standard_normal(q.shape, dtype=np.float32)
    y1, c1 = tiled_attention_forward(q, k, v)
    g1 = tiled_attention_backward(dy, c1)
    y2, c2 = _nn_forward(q, k, v, args.pad, args.small)
    g2 = _nn_backward(dy, c2)
    diff = [float(np.abs(a - b).max()) for a, b in zip((y1,) + tuple(g1), (y2,) + tuple(g2))]
    print("max |difference| y, dq, dk, dv:", diff)

    def current():
        tiled_attention_backward(dy, tiled_attention_forward(q, k, v)[1])

    def nn():
        _nn_backward(dy, _nn_forward(q, k, v, args.pad, args.small)[1])
    res = _rounds({"current (views, NT)": (current, 0), "NN rewrite": (nn, 0)}, args.rounds, 1)
    for k_, v_ in res.items():
        print(f"{k_:22s} {v_:8.1f} ms per forward+backward")
    res["ratio"] = round(res["NN rewrite"] / res["current (views, NT)"], 3)
    res["max_abs_diff"] = diff
    print("NN rewrite / current:", res["ratio"])
    return res


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("what", choices=["layouts", "scores", "rewrite"])
    p.add_argument("--rounds", type=int, default=40)
    p.add_argument("--reps", type=int, default=20, help="calls per round (layouts, scores)")
    p.add_argument("--batch", type=int, default=32, help="rewrite: batch elements (a part's)")
    p.add_argument("--pad", type=int, default=16, help="rewrite: floats of padding per kᵀ/vᵀ row")
    p.add_argument("--small", type=int, default=1_000_000,
                   help="rewrite: largest M·N·K of one product (OpenBLAS's small-matrix limit)")
    args = p.parse_args(argv)
    # --rounds 0 ended in "no median for empty data", --reps 0 in a ZeroDivisionError
    for name, least in (("rounds", 1), ("reps", 1), ("batch", 1), ("pad", 0), ("small", 1)):
        if getattr(args, name) < least:
            p.error(f"--{name} must be at least {least}, got {getattr(args, name)}")
    from threadpoolctl import threadpool_limits
    threadpool_limits(1)
    env = {v: os.environ.get(v) for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    print(" ".join(f"{k}={v}" for k, v in env.items()))
    res = {"layouts": layouts, "scores": scores, "rewrite": rewrite}[args.what](args)
    print(json.dumps({"what": args.what, "results": res, **env}))


if __name__ == "__main__":
    main()
