"""How two data-parallel parts share the two cores: threads vs processes, and micro-batches.

    python3 benchmarks/parallel_modes.py modes --config baby --rounds 14
    python3 benchmarks/parallel_modes.py chunks --config shakespeare --chunks 16,4,2,1
    python3 benchmarks/parallel_modes.py split --config shakespeare --rounds 6

nanograd_llm's CPU training step splits the batch into one part per core and runs each part's
forward and backward pass on its own thread (backend.run_shards), BLAS on one thread per part.
This script asks what that costs and whether something else would do better, timing one part's
forward+backward (no optimizer step) in the same run, the variants alternated round by round:

`modes` (steps per round: --steps):
  T1  one part alone, in this process's main thread
  T2  two parts at once on two threads of this process (what the training step does)
  P1  one part alone in a worker process (spawned; the same code and the same weights)
  P2  two parts at once in two worker processes (no shared interpreter lock at all)
  T2 against P2 measures what the threads lose to each other through Python's interpreter lock
  (GIL hand-offs between NumPy calls); P2 against P1 what two busy cores lose to each other in
  the hardware (shared caches, memory, clock).

`chunks`: two threads, each running its half of the batch (--half rows) as micro-batches of
  the given sizes one after the other (forward and backward of one micro-batch, gradients added
  up), as gradient accumulation would. Smaller micro-batches keep the activations small enough
  to stay in the caches, at the price of more, smaller calls.

`split`: the whole batch's forward+backward through GPT.forward/backward, split into one part
  per core (what the package does) against one piece with OpenBLAS on all cores and the large
  element-wise passes on the row-block threads (backend.for_row_blocks), alternated.

Medians per round are printed, then the median over rounds for each variant.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CONFIGS = {   # model shapes as benchmarks/train_step.py; `part` = rows of one part (batch / 2)
    "baby": dict(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128, part=6),
    "shakespeare": dict(vocab_size=65, block_size=256, n_layer=6, n_head=6, n_embd=384, part=32),
}


def _make(config: str, rows: int):
    """A function running `rows` rows of forward+backward n times, median seconds per call."""
    sys.path.insert(0, ROOT)
    import numpy as np
    from threadpoolctl import threadpool_limits

    from nanograd_llm import backend
    from nanograd_llm.models.gpt import GPT, GPTConfig
    threadpool_limits(1)                       # as inside run_shards: one BLAS thread per part
    cfg = dict(CONFIGS[config])
    cfg.pop("part")
    model = GPT(GPTConfig(**cfg, dropout=0.0), seed=0)
    rng = np.random.default_rng(0)
    T = cfg["block_size"]
    idx = rng.integers(0, cfg["vocab_size"], size=(rows, T))
    tgt = rng.integers(0, cfg["vocab_size"], size=(rows, T))

    def run(n: int, chunk: int | None = None, lo: int = 0, hi: int | None = None) -> float:
        backend._LOCAL.in_shard = True         # nested row-block threading off, as in a part
        hi = rows if hi is None else hi
        chunk = chunk or (hi - lo)
        ts = []
        for _ in range(n):
            t = time.perf_counter()
            acc = None
            for a in range(lo, hi, chunk):
                _, _, cache = model._forward_one(idx[a:a + chunk], tgt[a:a + chunk], None, False,
                                                 0.0, None, True, 0)
                g = model._backward_one(cache, chunk / (hi - lo))
                del cache
                if acc is None:
                    acc = g
                else:
                    for k in acc:
                        acc[k] += g[k]
            ts.append(time.perf_counter() - t)
        return statistics.median(ts)
    return run


def _worker(config: str, rows: int, conn) -> None:
    run = _make(config, rows)
    while True:
        n = conn.recv()
        if n is None:
            return
        conn.send(run(n))


def _threads(fns) -> list:
    out = [None] * len(fns)

    def call(i):
        out[i] = fns[i]()
    th = [threading.Thread(target=call, args=(i,)) for i in range(len(fns))]
    for t in th:
        t.start()
    for t in th:
        t.join()
    return out


def modes(args) -> dict:
    rows = CONFIGS[args.config]["part"]
    ctx = mp.get_context("spawn")
    pipes, procs = [], []
    for _ in range(2):
        a, b = ctx.Pipe()
        p = ctx.Process(target=_worker, args=(args.config, rows, b), daemon=True)
        p.start()
        pipes.append(a)
        procs.append(p)
    run = _make(args.config, rows)
    n = args.steps

    def procs_at_once(k):
        for c in pipes[:k]:
            c.send(n)
        return statistics.mean(c.recv() for c in pipes[:k])
    variants = {
        "T1": lambda: run(n),
        "T2": lambda: statistics.mean(_threads([lambda: run(n), lambda: run(n)])),
        "P1": lambda: procs_at_once(1),
        "P2": lambda: procs_at_once(2),
    }
    try:
        return _rounds(variants, args.rounds)
    finally:
        for c in pipes:
            c.send(None)
        for p in procs:
            p.join(5)


def chunks(args) -> dict:
    half = args.half or CONFIGS[args.config]["part"]
    run = _make(args.config, 2 * half)
    try:
        sizes = [int(c) for c in args.chunks.split(",")]
    except ValueError:
        raise SystemExit(f"--chunks: expected comma-separated row counts, got {args.chunks!r}")
    for c in sizes:
        if c < 1 or half % c:
            raise SystemExit(f"--chunks: {c} does not divide the half batch of {half} rows")
    variants = {f"chunk {c}": (lambda c=c: statistics.mean(_threads([
        lambda: run(args.steps, c, 0, half), lambda: run(args.steps, c, half, 2 * half)])))
        for c in sizes}
    return _rounds(variants, args.rounds)


def split(args) -> dict:
    sys.path.insert(0, ROOT)
    import numpy as np

    import nanograd_llm.models.gpt as gpt_mod
    from nanograd_llm.models.gpt import GPT, GPTConfig
    cfg = dict(CONFIGS[args.config])
    B = 2 * cfg.pop("part")
    model = GPT(GPTConfig(**cfg, dropout=0.0), seed=0)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, cfg["vocab_size"], size=(B, cfg["block_size"]))
    tgt = rng.integers(0, cfg["vocab_size"], size=(B, cfg["block_size"]))
    original = gpt_mod.shard_count

    def run(count):
        gpt_mod.shard_count = count
        try:
            ts = []
            for _ in range(args.steps):
                t = time.perf_counter()
                model.forward(idx, tgt)
                model.backward()
                ts.append(time.perf_counter() - t)
            return statistics.median(ts)
        finally:
            gpt_mod.shard_count = original
    return _rounds({"split": lambda: run(original),
                    "one piece": lambda: run(lambda *a, **k: 1)}, args.rounds)


def _rounds(variants: dict, rounds: int) -> dict:
    for f in variants.values():                # warm-up
        f()
    res = {k: [] for k in variants}
    names = list(variants)
    for r in range(rounds):
        for k in (names if r % 2 == 0 else names[::-1]):
            res[k].append(variants[k]() * 1e3)
    for k, v in res.items():
        print(f"{k:10s} median {statistics.median(v):9.1f} ms   rounds: "
              + " ".join(f"{x:.1f}" for x in v))
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=["modes", "chunks", "split"])
    ap.add_argument("--config", choices=sorted(CONFIGS), default="baby")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--steps", type=int, default=0,
                    help="forward+backward calls per round (default: 40 baby, 2 shakespeare; "
                         "`split` runs the whole batch)")
    ap.add_argument("--chunks", default="16,4,2,1", help="micro-batch sizes for `chunks`")
    ap.add_argument("--half", type=int, default=0, help="rows per thread for `chunks`")
    args = ap.parse_args()
    if args.rounds < 1 or args.steps < 0 or args.half < 0:
        ap.error("need --rounds >= 1, --steps >= 0 and --half >= 0")
    args.steps = args.steps or (40 if args.config == "baby" else 2)
    print(f"{args.what}: config {args.config}, {args.rounds} rounds of {args.steps} calls, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')} "
          f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE')}")
    {"modes": modes, "chunks": chunks, "split": split}[args.what](args)


if __name__ == "__main__":
    main()
