"""How two data-parallel parts share the two cores: threads vs processes, and micro-batches.

    python3 benchmarks/parallel_modes.py modes --config baby --rounds 14
    python3 benchmarks/parallel_modes.py chunks --config shakespeare --chunks 16,4,2,1
    python3 benchmarks/parallel_modes.py split --config shakespeare --rounds 6
    python3 benchmarks/parallel_modes.py cputime --config baby --rounds 8
    python3 benchmarks/parallel_modes.py arena --config baby --rounds 8 --arenas 1,2,8

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

`cputime`: the whole batch's forward+backward through GPT.forward/backward (the step's own
  threads), with each part's wall time and the CPU time of the thread that ran it
  (time.thread_time), against one part alone on this thread. A part's wall minus its CPU time is
  what it spent waiting (for the interpreter lock, or for a core); its CPU time above the lone
  part's is what the two busy cores cost each other. Also the gap between the two parts of a
  pass (forward, backward), which the step spends waiting for the slower one.

`arena`: the full training step (forward, backward, AdamW) in fresh processes, alternated, each
  with glibc's arena limit (M_ARENA_MAX) set to one of --arenas after the model is built (the
  package sets 1, models/base.py): does one heap shared by both threads make them wait for each
  other's malloc/free? Also reports the processes' kernel (sys) time.

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


def _instrumented(model_mod):
    """Wrap model_mod.run_shards so that each part records (wall s, thread CPU s) per call."""
    original = model_mod.run_shards
    log: list = []

    def run_shards(fn, n):
        def timed(i):
            w, c = time.perf_counter(), time.thread_time()
            try:
                return fn(i)
            finally:
                log.append((i, time.perf_counter() - w, time.thread_time() - c))
        return original(timed, n)
    model_mod.run_shards = run_shards
    return log


def cputime(args) -> dict:
    sys.path.insert(0, ROOT)
    import numpy as np
    from threadpoolctl import threadpool_limits

    import nanograd_llm.models.gpt as gpt_mod
    from nanograd_llm import backend
    from nanograd_llm.models.gpt import GPT, GPTConfig
    cfg = dict(CONFIGS[args.config])
    rows = cfg.pop("part")
    model = GPT(GPTConfig(**cfg, dropout=0.0), seed=0)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, cfg["vocab_size"], size=(2 * rows, cfg["block_size"]))
    tgt = rng.integers(0, cfg["vocab_size"], size=(2 * rows, cfg["block_size"]))
    log = _instrumented(gpt_mod)
    keys = ("step wall", "part wall", "part CPU", "fwd gap", "bwd gap", "lone wall", "lone CPU")
    res: dict = {k: [] for k in keys}

    def step_round():
        walls, per_part = [], {}
        log.clear()
        for _ in range(args.steps):
            t = time.perf_counter()
            model.forward(idx, tgt)
            model.backward()
            walls.append(time.perf_counter() - t)
            # one forward and one backward call per part: add them up per part and step
        if len(log) != 4 * args.steps:
            raise SystemExit("cputime needs the batch split into two parts (two usable cores, "
                             "threadpoolctl, NANOGRAD_LLM_THREADS unset or 2); got "
                             f"{len(log)} part calls for {args.steps} steps")
        for j, (i, w, c) in enumerate(log):
            step = j // 4
            a = per_part.setdefault((step, i), [0.0, 0.0])
            a[0] += w
            a[1] += c
        vals = list(per_part.values())
        # the step waits for the slower part: the gap between the two parts' walls, per pass
        # (log entries 4s, 4s+1: the forward calls of step s; 4s+2, 4s+3: its backward calls)
        gaps = [abs(log[j][1] - log[j + 1][1]) for j in range(0, len(log), 2)]
        return (statistics.median(walls), statistics.median(v[0] for v in vals),
                statistics.median(v[1] for v in vals), statistics.mean(gaps[0::2]),
                statistics.mean(gaps[1::2]))

    def lone_round():
        ws, cs = [], []
        with threadpool_limits(1):
            backend._LOCAL.in_shard = True
            try:
                for _ in range(args.steps):
                    w, c = time.perf_counter(), time.thread_time()
                    _, _, cache = model._forward_one(idx[:rows], tgt[:rows], None, False, 0.0,
                                                     None, True, 0)
                    model._backward_one(cache, 0.5)
                    del cache
                    ws.append(time.perf_counter() - w)
                    cs.append(time.thread_time() - c)
            finally:
                backend._LOCAL.in_shard = False
        return statistics.median(ws), statistics.median(cs)

    step_round()
    lone_round()                                # warm-up
    for r in range(args.rounds):
        order = (step_round, lone_round) if r % 2 == 0 else (lone_round, step_round)
        for f in order:
            out = f()
            if f is step_round:
                for k, v in zip(keys[:5], out):
                    res[k].append(v * 1e3)
            else:
                for k, v in zip(keys[5:], out):
                    res[k].append(v * 1e3)
    for k, v in res.items():
        print(f"{k:10s} median {statistics.median(v):9.1f} ms   rounds: "
              + " ".join(f"{x:.1f}" for x in v))
    wait = [w - c for w, c in zip(res["part wall"], res["part CPU"])]
    slow = [c / lc for c, lc in zip(res["part CPU"], res["lone CPU"])]
    print(f"waiting per part (wall - CPU): median {statistics.median(wait):.1f} ms; "
          f"CPU of a part beside another / alone: median {statistics.median(slow):.3f} "
          f"({min(slow):.3f}-{max(slow):.3f})")
    print(f"slower minus faster part, mean per step: forward {statistics.median(res['fwd gap']):.1f} "
          f"ms, backward {statistics.median(res['bwd gap']):.1f} ms (median over rounds)")
    return res


def _arena_worker(args) -> None:
    sys.path.insert(0, ROOT)
    import ctypes
    import json

    import numpy as np

    from nanograd_llm.models.gpt import GPT, GPTConfig
    from nanograd_llm.optim import AdamW
    cfg = dict(CONFIGS[args.config])
    B = 2 * cfg.pop("part")
    model = GPT(GPTConfig(**cfg, dropout=0.0), seed=0)
    # after the model (whose first build sets M_ARENA_MAX=1), before the first step creates the
    # worker threads, which pick their arenas when they first allocate
    M_ARENA_MAX = -8
    ctypes.CDLL(None).mallopt(M_ARENA_MAX, args.arena)
    opt = AdamW.from_model(model, lr=1e-3, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, cfg["vocab_size"], size=(B, cfg["block_size"]))
    tgt = rng.integers(0, cfg["vocab_size"], size=(B, cfg["block_size"]))
    ts = []
    t0 = os.times()
    for s in range(args.steps + 3):
        t = time.perf_counter()
        model.forward(idx, tgt)
        model.backward()
        opt.step()
        if s >= 3:
            ts.append(time.perf_counter() - t)
    t1 = os.times()
    print(json.dumps({"ms": statistics.median(ts) * 1e3, "sys_s": t1.system - t0.system}))


def arena(args) -> dict:
    import json
    import subprocess
    try:
        arenas = [int(a) for a in args.arenas.split(",")]
    except ValueError:
        raise SystemExit(f"--arenas: expected comma-separated integers, got {args.arenas!r}")
    if not arenas or min(arenas) < 1:
        raise SystemExit("--arenas: every arena limit must be >= 1")
    res: dict = {a: [] for a in arenas}
    sys_s: dict = {a: [] for a in arenas}
    for r in range(args.rounds):
        for a in (arenas if r % 2 == 0 else arenas[::-1]):
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "_arena_worker",
                                  "--config", args.config, "--steps", str(args.steps),
                                  "--arena", str(a)], capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(f"worker failed:\n{out.stderr}")
            d = json.loads(out.stdout.strip().splitlines()[-1])
            res[a].append(d["ms"])
            sys_s[a].append(d["sys_s"])
    base = arenas[0]
    for a in arenas:
        line = (f"M_ARENA_MAX={a:<3d} median {statistics.median(res[a]):9.1f} ms   sys "
                f"{statistics.median(sys_s[a]):.2f} s   rounds: "
                + " ".join(f"{x:.1f}" for x in res[a]))
        if a != base:
            pr = [x / y for x, y in zip(res[a], res[base])]
            line += (f"   paired / {base}: {statistics.median(pr):.3f} "
                     f"({min(pr):.3f}-{max(pr):.3f})")
        print(line)
    return res


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
    ap.add_argument("what", choices=["modes", "chunks", "split", "cputime", "arena",
                                     "_arena_worker"])
    ap.add_argument("--config", choices=sorted(CONFIGS), default="baby")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--steps", type=int, default=0,
                    help="forward+backward calls per round (default: 40 baby, 2 shakespeare; "
                         "`split` runs the whole batch)")
    ap.add_argument("--chunks", default="16,4,2,1", help="micro-batch sizes for `chunks`")
    ap.add_argument("--half", type=int, default=0, help="rows per thread for `chunks`")
    ap.add_argument("--arenas", default="1,2,8", help="M_ARENA_MAX values for `arena`")
    ap.add_argument("--arena", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rounds < 1 or args.steps < 0 or args.half < 0:
        ap.error("need --rounds >= 1, --steps >= 0 and --half >= 0")
    args.steps = args.steps or (40 if args.config == "baby" else 2)
    if args.what == "_arena_worker":
        _arena_worker(args)
        return
    print(f"{args.what}: config {args.config}, {args.rounds} rounds of {args.steps} calls, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')} "
          f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE')}")
    {"modes": modes, "chunks": chunks, "split": split, "cputime": cputime,
     "arena": arena}[args.what](args)


if __name__ == "__main__":
    main()
