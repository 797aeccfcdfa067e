"""Time one full GPT training step (forward, backward, AdamW) in nanograd_llm and in PyTorch eager.

    python3 benchmarks/train_step.py --config baby
    python3 benchmarks/train_step.py --config shakespeare --steps 21
    python3 benchmarks/train_step.py --config baby --no-fused     # without the CPU kernels
    python3 benchmarks/train_step.py --config shakespeare --device cuda [--tf32] [--eager]

On the GPU nanograd_llm's forward+backward is replayed as a CUDA graph (nanograd_llm/cuda_graph.py)
unless --eager is given; PyTorch runs eager either way.

NumPy and PyTorch run in two separate worker processes (in one process their thread pools spin
against each other and both slow down). The driver alternates rounds of steps between them
(A B A B ..., the order flipped every round), with a pause at each switch so that the idle pool's
spinning threads go to sleep, and reports the median step time of each side. Both workers use the
same number of threads. Both models start from the same weights (copied through the GPT-2
parameter names) and the loss of step 0 is compared as a sanity check. The glibc allocator
tuning that building a nanograd_llm model applies (models/base.py) stays out of the torch
worker (NANOGRAD_LLM_MALLOC_TUNING=0 there): torch runs with glibc's defaults.

Each worker also reports the peak resident memory (VmHWM, reset just before the timed steps via
/proc/self/clear_refs) and per-layer forward+backward timings.

The last line printed is a JSON object with numpy_ms, torch_ms, ratio, ratio_paired (the median
over adjacent round pairs of our round median / torch's, which cancels the host's drift) and
the environment.
On the CPU nanograd_llm uses its fused kernels (nanograd_llm/cpu_kernels.py) when Numba is installed
(`pip install -e ".[fast]"`); --no-fused measures the generic NumPy code instead.
torch is only a benchmark dependency; nanograd_llm itself needs NumPy only.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CONFIGS = {
    "baby": dict(vocab_size=65, batch=12, block_size=64, n_layer=4, n_head=4, n_embd=128),
    "shakespeare": dict(vocab_size=65, batch=64, block_size=256, n_layer=6, n_head=6, n_embd=384),
}
ADAMW = dict(lr=1e-3, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)


# ---------------------------------------------------------------------------------------------
# memory helpers (Linux /proc)

def _status_kb(field: str) -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------
# NumPy / CuPy worker

def _numpy_worker(args):
    sys.path.insert(0, ROOT)
    if args.device == "cuda":
        pin_precision(os.environ, args.tf32)   # before cupy is imported
    import numpy as np
    from nanograd_llm.models.gpt import GPT, GPTConfig
    cfg = CONFIGS[args.config]
    B, T = cfg["batch"], cfg["block_size"]
    gcfg = GPTConfig(vocab_size=cfg["vocab_size"], block_size=T, n_layer=cfg["n_layer"],
                     n_head=cfg["n_head"], n_embd=cfg["n_embd"], dropout=0.0)
    model = GPT(gcfg, seed=0, dtype="float32", device=args.device)
    xp = model.xp
    rng = np.random.default_rng(1)
    idx = rng.integers(0, cfg["vocab_size"], (B, T))
    tgt = rng.integers(0, cfg["vocab_size"], (B, T))
    idx_d, tgt_d = xp.asarray(idx), xp.asarray(tgt)
    from nanograd_llm.optim import AdamW
    opt = AdamW.from_model(model, **ADAMW)   # the package's flat-buffer AdamW (fused on the GPU)

    if args.device == "cuda":
        import cupy
        sync = cupy.cuda.Device().synchronize
    else:
        def sync():
            pass

    graph = None
    if args.device == "cuda" and not args.eager:
        from nanograd_llm.cuda_graph import TrainStep
        graph = TrainStep(model)       # forward+backward recorded once, replayed each step

    def step():
        if graph is not None:
            loss = graph(idx_d, tgt_d)
        else:
            _, loss = model.forward(idx_d, tgt_d)
            model.backward()
        opt.step()
        return loss

    def info():
        from nanograd_llm.models import base as _base
        d = {"numpy": np.__version__, "blas": None, "coretype": None, "threads": None,
             "malloc_tuned": _base._MALLOC_TUNED}
        try:
            from threadpoolctl import threadpool_info
            # NumPy's own BLAS (Numba, when installed, also loads SciPy's copy of OpenBLAS)
            blas = [p for p in threadpool_info() if p.get("user_api") == "blas"]
            blas.sort(key=lambda p: "numpy" not in str(p.get("filepath", "")))
            for p in blas:
                if p.get("user_api") == "blas":
                    d.update(blas=f"{p.get('internal_api')} {p.get('version')}",
                             coretype=p.get("architecture"), threads=p.get("num_threads"))
                    break
        except ImportError:
            cfgd = np.show_config(mode="dicts")
            blas = cfgd.get("Build Dependencies", {}).get("blas", {})
            d["blas"] = f"{blas.get('name')} {blas.get('version')}"
            d["coretype"] = os.environ.get("OPENBLAS_CORETYPE", "native (OPENBLAS_CORETYPE unset)")
            d["threads"] = int(os.environ.get("OPENBLAS_NUM_THREADS", os.cpu_count()))
        # CPU data parallelism: how many threads the batch is split over (1 = not split)
        from nanograd_llm.backend import cpu_kernels, fused_kernels, shard_count
        d["shards"] = shard_count(B, B * T * cfg["n_embd"], model.xp)
        # CPU fused kernels (nanograd_llm/cpu_kernels.py): used when Numba is installed and
        # NANOGRAD_LLM_FUSED is not 0 (this script's --no-fused)
        if args.device == "cpu":
            d["cpu_kernels"] = fused_kernels(model.flat) is not None
            if cpu_kernels() is not None:
                import numba
                d["numba"] = numba.__version__
        if args.device == "cuda":
            import cupy
            d["cuda_graph"] = bool(graph is not None and graph.active)
            d["cuda_graph_reason"] = None if graph is None else graph.reason
            d["cupy"] = cupy.__version__
            d["cupy_tf32"] = os.environ.get("CUPY_TF32")
            d["gpu"] = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
        return d

    def layers():
        return _numpy_layer_times(model, idx_d, args, sync)

    _serve(step, sync, info, layers, lambda: None)


def _time_fn(fn, sync, reps):
    """Median time of fn over `reps` calls (ms), after one untimed warm-up call (first-call
    costs: allocations, kernel compilation, torch's autograd set-up)."""
    fn()
    sync()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1e3


def _attention_core(xp, T):
    """(forward, backward) of the attention core as the model runs it at length T: the causal
    tiles on the CPU where multi-head attention uses them (T >= 128), else the dense code."""
    from nanograd_llm.layers import attention_backward, attention_forward
    from nanograd_llm.layers.causal_tiles import (tiled_attention_backward,
                                                  tiled_attention_forward, use_causal_tiles)
    if use_causal_tiles(T, T, xp):
        return tiled_attention_forward, tiled_attention_backward
    return attention_forward, attention_backward


def _numpy_layer_times(model, idx, args, sync):
    """Median forward+backward time of each layer kind at this config's shapes (ms)."""
    from nanograd_llm.layers import (block_backward, block_forward, cross_entropy_backward,
                                     cross_entropy_forward, embedding_backward, embedding_forward,
                                     layernorm_backward, layernorm_forward, linear_backward,
                                     linear_forward, mha_backward, mha_forward, mlp_backward,
                                     mlp_forward)
    xp, cfg = model.xp, model.config
    B, T = idx.shape
    C, nh = cfg.n_embd, cfg.n_head
    rs = xp.random.RandomState(0) if xp.__name__ == "cupy" else __import__("numpy").random.RandomState(0)
    x = xp.asarray(rs.standard_normal((B, T, C)), dtype=model.dtype)
    dq = xp.asarray(rs.standard_normal((B, nh, T, C // nh)), dtype=model.dtype)
    bp = model._block_params[0]
    sub = lambda pre: {k[len(pre) + 1:]: v for k, v in bp.items() if k.startswith(pre + ".")}
    wte = model.params["wte.weight"]
    tgt = idx
    reps = args.layer_reps
    out = {}

    def emb():
        y, c = embedding_forward(idx, wte)
        embedding_backward(y, c)
    out["embedding"] = _time_fn(emb, sync, reps)

    def ln():
        y, c = layernorm_forward(x, bp["ln_1.weight"], bp["ln_1.bias"])
        layernorm_backward(y, c)
    out["layernorm"] = _time_fn(ln, sync, reps)

    att_fwd, att_bwd = _attention_core(xp, T)

    def att():
        y, c = att_fwd(dq, dq, dq)
        att_bwd(y, c)
    out["attention core (softmax(qk)v)"] = _time_fn(att, sync, reps)

    def mha():
        y, c = mha_forward(x, sub("attn"), nh)
        mha_backward(y, c)
    out["multi-head attention"] = _time_fn(mha, sync, reps)

    def mlp():
        y, c = mlp_forward(x, sub("mlp"))
        mlp_backward(y, c)
    out["mlp"] = _time_fn(mlp, sync, reps)

    def blk():
        y, c = block_forward(x, bp, nh)
        block_backward(y, c)
    out["block"] = _time_fn(blk, sync, reps)

    def head():
        y, c = linear_forward(x, wte.T)
        l, cc = cross_entropy_forward(y, tgt)
        linear_backward(cross_entropy_backward(1.0, cc), c)
    out["lm head + cross-entropy"] = _time_fn(head, sync, reps)
    if xp.__name__ == "cupy":
        # The same work replayed as a CUDA graph: the GPU time alone, without launch overhead
        for name, fn in (("layernorm", ln), ("attention core (softmax(qk)v)", att),
                         ("multi-head attention", mha), ("mlp", mlp), ("block", blk),
                         ("lm head + cross-entropy", head)):
            try:
                out[name + " [graph]"] = _graph_ms(fn, reps)
            except Exception as e:       # report, do not lose the other figures
                print(f"graph timing of {name} failed: {e!r}", file=sys.stderr)
    return out


def _graph_ms(fn, reps):
    """Median time of fn recorded once as a CUDA graph and replayed (ms)."""
    import cupy as cp
    fn()
    cp.cuda.Device().synchronize()
    pool, s = cp.cuda.MemoryPool(), cp.cuda.Stream(non_blocking=True)
    with cp.cuda.using_allocator(pool.malloc), s:
        fn()
        s.synchronize()
        s.begin_capture()
        try:
            fn()
        finally:
            g = s.end_capture()
    ts = []
    for _ in range(reps):
        a, b = cp.cuda.Event(), cp.cuda.Event()
        a.record(s)
        g.launch(s)
        b.record(s)
        b.synchronize()
        ts.append(cp.cuda.get_elapsed_time(a, b))
    return statistics.median(ts)


# ---------------------------------------------------------------------------------------------
# PyTorch worker

def _torch_worker(args):
    sys.path.insert(0, HERE)
    sys.path.insert(0, ROOT)
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch_gpt import from_state_dict, param_groups, train_step
    from nanograd_llm.models.gpt import GPT, GPTConfig
    torch.set_num_threads(args.threads)
    if args.device == "cuda" and not args.tf32:
        torch.set_float32_matmul_precision("highest")   # float32 products, no TF32 (the default)
    cfg = CONFIGS[args.config]
    B, T = cfg["batch"], cfg["block_size"]
    gcfg = GPTConfig(vocab_size=cfg["vocab_size"], block_size=T, n_layer=cfg["n_layer"],
                     n_head=cfg["n_head"], n_embd=cfg["n_embd"], dropout=0.0)
    state = GPT(gcfg, seed=0, dtype="float32").state_dict()
    from nanograd_llm.models import base as _base
    malloc_tuned = _base._MALLOC_TUNED      # False: glibc's defaults, as torch runs elsewhere
    dev = torch.device(args.device)
    model = from_state_dict(gcfg.to_dict(), state).to(dev)
    del state
    rng = np.random.default_rng(1)
    idx = torch.from_numpy(rng.integers(0, cfg["vocab_size"], (B, T))).to(dev)
    tgt = torch.from_numpy(rng.integers(0, cfg["vocab_size"], (B, T))).to(dev)
    opt = torch.optim.AdamW(param_groups(model, ADAMW["weight_decay"]), lr=ADAMW["lr"],
                            betas=ADAMW["betas"], eps=ADAMW["eps"])
    autocast = args.device == "cuda" and args.tf32
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)

    def step():
        return train_step(model, opt, idx, tgt, bf16=autocast)

    def info():
        d = {"torch": torch.__version__, "threads": torch.get_num_threads(),
             "interop_threads": torch.get_num_interop_threads(), "malloc_tuned": malloc_tuned}
        if args.device == "cuda":
            d["gpu"] = torch.cuda.get_device_name(0)
            d["float32_matmul_precision"] = torch.get_float32_matmul_precision()
            d["autocast_bf16"] = autocast
        return d

    def layers():
        C, nh = cfg["n_embd"], cfg["n_head"]
        g = torch.Generator().manual_seed(0)
        x = torch.randn(B, T, C, generator=g).to(dev).requires_grad_()
        q = torch.randn(B, nh, T, C // nh, generator=g).to(dev).requires_grad_()
        blk = model.h[0]
        reps = args.layer_reps
        out = {}

        fb = _torch_fwd_bwd
        out["embedding"] = _time_fn(fb(lambda: model.wte(idx), (), model.wte), sync, reps)
        out["layernorm"] = _time_fn(fb(lambda: blk.ln_1(x), (x,), blk.ln_1), sync, reps)
        out["attention core (softmax(qk)v)"] = _time_fn(
            fb(lambda: F.scaled_dot_product_attention(q, q, q, is_causal=True), (q,), None),
            sync, reps)
        out["multi-head attention"] = _time_fn(fb(lambda: blk.attn(x), (x,), blk.attn), sync,
                                               reps)
        out["mlp"] = _time_fn(fb(lambda: blk.mlp(x), (x,), blk.mlp), sync, reps)
        out["block"] = _time_fn(fb(lambda: blk(x), (x,), blk), sync, reps)

        def head():
            x.grad = model.wte.weight.grad = None
            y = x @ model.wte.weight.t()
            F.cross_entropy(y.view(-1, y.size(-1)), tgt.view(-1)).backward()
        out["lm head + cross-entropy"] = _time_fn(head, sync, reps)
        model.zero_grad(set_to_none=True)
        return out

    _serve(step, sync, info, layers, lambda: None)


def _torch_fwd_bwd(fn, inputs, module):
    """A call running fn's forward and backward (dout = the output), as our layer functions do:
    the gradients of `inputs` and of `module`'s parameters (None: no module) are set to None
    first, so that each call writes fresh gradients instead of adding to the last call's
    (our backward functions return new arrays; accumulating would add a pass over every
    parameter gradient to torch's time)."""
    params = tuple(module.parameters()) if module is not None else ()
    tensors = tuple(inputs) + params

    def run():
        for t in tensors:
            t.grad = None
        y = fn()
        y.backward(y.detach())
    return run


# ---------------------------------------------------------------------------------------------
# worker protocol: one JSON command per line on stdin, one JSON answer per line on stdout

def _serve(step, sync, info, layers, _unused):
    out = sys.stdout
    sys.stdout = sys.stderr          # stray prints must not break the protocol
    rss_before = None
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        if op == "loss0":
            ans = {"loss": float(step())}
        elif op == "warmup":
            for _ in range(cmd["n"]):
                step()
            sync()
            rss_before = _status_kb("VmRSS")
            ans = {"peak_reset": _reset_peak(), "rss_kb": rss_before}
        elif op == "steps":
            ts = []
            for _ in range(cmd["n"]):
                t0 = time.perf_counter()
                step()
                sync()
                ts.append((time.perf_counter() - t0) * 1e3)
            ans = {"ms": ts}
        elif op == "mem":
            ans = {"hwm_kb": _status_kb("VmHWM"), "rss_before_kb": rss_before}
        elif op == "info":
            ans = info()
        elif op == "layers":
            ans = layers()
        elif op == "quit":
            break
        else:
            ans = {"error": f"unknown op {op}"}
        out.write(json.dumps(ans) + "\n")
        out.flush()


class Worker:
    def __init__(self, kind, args, env):
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind,
               "--config", args.config, "--device", args.device, "--threads", str(args.threads),
               "--layer-reps", str(args.layer_reps)] + (["--tf32"] if args.tf32 else []) \
            + (["--eager"] if args.eager else [])
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                  text=True)

    def ask(self, **cmd):
        self.p.stdin.write(json.dumps(cmd) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError("benchmark worker died (see its stderr above)")
        return json.loads(line)

    def close(self):
        try:
            self.ask(op="quit")
        except (RuntimeError, BrokenPipeError, json.JSONDecodeError):
            pass
        self.p.wait(timeout=30)


def _lscpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _cpu_arch():
    """The CPU generation as LLVM names it (e.g. 'znver3', 'emeraldrapids'; a VM's model name is
    often just "Intel(R) Xeon(R) Processor") and whether it has AVX-512, or None without
    llvmlite (it comes with Numba)."""
    try:
        import llvmlite.binding as llvm
        feats = llvm.get_host_cpu_features()
        return {"name": llvm.get_host_cpu_name(), "avx512f": bool(feats.get("avx512f", False))}
    except Exception:     # llvmlite missing or too old: the model name alone
        return None


def pin_precision(env, tf32: bool) -> None:
    """Make a process's float32 matrix products the ones the comparison declares, whatever the
    caller's shell holds: CuPy (and our cuBLAS calls, cuda_kernels.gemm) read CUPY_TF32, so it is
    set to "1" for --tf32 and "0" otherwise; NVIDIA_TF32_OVERRIDE (cuBLAS, both sides) and
    TORCH_ALLOW_TF32_CUBLAS_OVERRIDE (torch) would override what each side asks for, so they are
    removed. Mutates `env` (a dict or os.environ, before CuPy and torch are imported)."""
    env["CUPY_TF32"] = "1" if tf32 else "0"
    for var in ("NVIDIA_TF32_OVERRIDE", "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE"):
        env.pop(var, None)


def worker_envs(args, environ) -> dict:
    """The environment of each worker process: {"numpy": ..., "torch": ...}.

    Both get --threads through every thread-count variable. nanograd_llm's data-parallel split
    reads NANOGRAD_LLM_THREADS before OMP_NUM_THREADS, so that one is set too: a value left in
    the caller's shell would otherwise give our side another thread count than torch's."""
    env = dict(environ)
    pin_precision(env, args.tf32)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                "NANOGRAD_LLM_THREADS"):
        env[var] = str(args.threads)
    env_np = dict(env)
    # Our side's settings come from the flags only: a NANOGRAD_LLM_FUSED=0 or
    # NANOGRAD_LLM_MALLOC_TUNING=0 left in the shell would measure another configuration
    env_np.pop("NANOGRAD_LLM_MALLOC_TUNING", None)
    env_np.pop("NANOGRAD_LLM_FUSED", None)
    if args.no_fused:
        env_np["NANOGRAD_LLM_FUSED"] = "0"
    # The torch worker builds a nanograd_llm GPT for its starting weights, and building a model
    # tunes glibc's allocator for the whole process (models/base.py: no mmap, one arena, no
    # trimming). That tuning is part of our side's work; torch is measured as it comes.
    env["NANOGRAD_LLM_MALLOC_TUNING"] = "0"
    return {"numpy": env_np, "torch": env}


def missing_module(name: str) -> bool:
    """Whether `name` cannot be imported (looked up without importing it)."""
    import importlib.util
    try:
        return importlib.util.find_spec(name) is None
    except (ImportError, ValueError):       # a parent package missing, or sys.modules[name] None
        return True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", choices=sorted(CONFIGS), default="baby")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--tf32", action="store_true",
                    help="cuda only: TF32 matmuls for nanograd_llm (CUPY_TF32=1), "
                         "bf16 autocast for PyTorch")
    ap.add_argument("--eager", action="store_true",
                    help="cuda only: run nanograd_llm's forward/backward op by op instead of "
                         "replaying them as a CUDA graph")
    ap.add_argument("--threads", type=int, default=os.cpu_count(),
                    help="threads for both sides (OpenBLAS and torch); default: all cores")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per side (default 40; 21 for shakespeare on the CPU)")
    ap.add_argument("--round", type=int, default=None, help="steps per round before switching")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--pause", type=float, default=0.3,
                    help="seconds to wait at each switch so idle thread pools stop spinning")
    ap.add_argument("--layer-reps", type=int, default=None)
    ap.add_argument("--no-layers", action="store_true", help="skip the per-layer breakdown")
    ap.add_argument("--no-fused", action="store_true",
                    help="nanograd_llm without its fused kernels (NANOGRAD_LLM_FUSED=0): on the "
                         "CPU the generic NumPy code, as without Numba")
    ap.add_argument("--worker", choices=("numpy", "torch"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.tf32 and args.device != "cuda":
        ap.error("--tf32 needs --device cuda")
    if args.eager and args.device != "cuda":
        ap.error("--eager needs --device cuda")
    for name in ("threads", "steps", "round", "layer_reps"):
        v = getattr(args, name)
        if v is not None and v < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1, got {v}")
    if args.warmup < 0 or args.pause < 0:
        ap.error("--warmup and --pause must not be negative")
    big = args.config == "shakespeare" and args.device == "cpu"
    if args.layer_reps is None:
        args.layer_reps = 5 if big else 20
    if args.worker:
        (_numpy_worker if args.worker == "numpy" else _torch_worker)(args)
        return 0
    steps = args.steps or (21 if big else 40)
    rnd = args.round or (3 if big else 5)
    # Without torch the torch worker died at its import and the driver ended in a traceback
    for name, what in (("torch", "PyTorch, the baseline (pip install torch)"),
                       ("cupy", "CuPy for --device cuda")):
        if (name == "torch" or args.device == "cuda") and missing_module(name):
            raise SystemExit(f"error: train_step.py needs {what}: {name} is not installed")
    envs = worker_envs(args, os.environ)
    ws = {k: Worker(k, args, envs[k]) for k in ("numpy", "torch")}
    try:
        loss0 = {k: w.ask(op="loss0")["loss"] for k, w in ws.items()}
        diff = abs(loss0["numpy"] - loss0["torch"])
        print(f"step-0 loss: nanograd_llm {loss0['numpy']:.6f}  torch {loss0['torch']:.6f}  "
              f"|diff| {diff:.2e}")
        tol = 1e-2 if args.tf32 else 1e-4
        if diff > tol:
            raise SystemExit(f"the two models disagree at step 0 (|diff| {diff:.2e} > {tol:g})")
        rss0 = {}
        for k, w in ws.items():
            rss0[k] = w.ask(op="warmup", n=args.warmup)
            time.sleep(args.pause)
        times = {"numpy": [], "torch": []}
        pair_ratios = []      # per pair of adjacent rounds: median ours / median torch
        order = ["numpy", "torch"]
        while min(len(v) for v in times.values()) < steps:
            rnd_med = {}
            for k in order:
                ms = ws[k].ask(op="steps", n=rnd)["ms"]
                times[k] += ms
                rnd_med[k] = statistics.median(ms)
                time.sleep(args.pause)
            pair_ratios.append(rnd_med["numpy"] / rnd_med["torch"])
            order.reverse()
        mem = {k: w.ask(op="mem") for k, w in ws.items()}
        info = {k: w.ask(op="info") for k, w in ws.items()}
        lay = {}
        if not args.no_layers:
            for k in ("numpy", "torch"):
                lay[k] = ws[k].ask(op="layers")
                time.sleep(args.pause)
    finally:
        for w in ws.values():
            w.close()

    med = {k: statistics.median(v) for k, v in times.items()}
    q = {k: (sorted(v)[len(v) // 4], sorted(v)[(3 * len(v)) // 4]) for k, v in times.items()}
    ratio = med["numpy"] / med["torch"]
    cfg = CONFIGS[args.config]
    if args.device == "cuda":
        print(f"nanograd_llm CUDA graph: {info['numpy'].get('cuda_graph')} "
              f"({info['numpy'].get('cuda_graph_reason') or 'replayed'})")
    print(f"\nconfig {args.config}: {cfg}, device {args.device}{' tf32/bf16' if args.tf32 else ''}, "
          f"threads {args.threads}, {len(times['numpy'])} steps per side, rounds of {rnd}")
    if args.device == "cpu":
        ck = info["numpy"].get("cpu_kernels")
        print("nanograd_llm CPU fused kernels: " + (f"on (Numba {info['numpy'].get('numba')})"
              if ck else "off (" + ("--no-fused" if args.no_fused else "Numba not installed")
                                   + "): generic NumPy code"))
    print(f"{'':24}{'median ms':>10}{'q25':>9}{'q75':>9}{'peak RSS MiB':>14}{'step +MiB':>11}")
    for k, label in (("numpy", "nanograd_llm (NumPy)" if args.device == "cpu" else "nanograd_llm (CuPy)"),
                     ("torch", "PyTorch eager")):
        hwm, before = mem[k]["hwm_kb"], mem[k]["rss_before_kb"]
        print(f"{label:24}{med[k]:>10.2f}{q[k][0]:>9.2f}{q[k][1]:>9.2f}"
              f"{hwm / 1024:>14.1f}{(hwm - before) / 1024:>11.1f}")
    print(f"ratio nanograd_llm / torch = {ratio:.3f}")
    # The machine's speed drifts between rounds (shared host); the ratio within each pair of
    # adjacent rounds cancels that drift, so its median is the steadier figure.
    pr = sorted(pair_ratios)
    ratio_pairs = statistics.median(pr)
    print(f"paired ratio (median of {len(pr)} adjacent-round pairs) = {ratio_pairs:.3f} "
          f"(min {pr[0]:.3f}, max {pr[-1]:.3f})")
    if lay:
        print(f"\nper-layer forward+backward, median of {args.layer_reps} (ms)")
        print(f"{'layer':40}{'nanograd_llm':>13}{'torch':>9}{'ratio':>8}")
        for name in lay["numpy"]:
            a, b = lay["numpy"][name], lay["torch"].get(name.replace(" [graph]", ""))
            print(f"{name:40}{a:>13.3f}" + (f"{b:>9.3f}{a / b:>8.2f}" if b else ""))
    result = {
        "config": args.config, **cfg, "device": args.device, "tf32": args.tf32,
        "numpy_ms": round(med["numpy"], 3), "torch_ms": round(med["torch"], 3),
        "ratio": round(ratio, 4), "steps": len(times["numpy"]),
        "ratio_paired": round(ratio_pairs, 4),
        "ratio_pairs": [round(r, 4) for r in pair_ratios],
        "loss0": loss0,
        "peak_rss_mib": {k: round(mem[k]["hwm_kb"] / 1024, 1) for k in mem},
        "step_rss_increase_mib": {k: round((mem[k]["hwm_kb"] - mem[k]["rss_before_kb"]) / 1024, 1)
                                  for k in mem},
        "numpy_threads": info["numpy"].get("threads"), "torch_threads": info["torch"]["threads"],
        "numpy_shards": info["numpy"].get("shards"),
        "malloc_tuned": {k: info[k].get("malloc_tuned") for k in info},
        "cpu_kernels": info["numpy"].get("cpu_kernels"), "numba": info["numpy"].get("numba"),
        "cuda_graph": info["numpy"].get("cuda_graph"),
        "cupy_tf32": info["numpy"].get("cupy_tf32"),
        "torch_float32_matmul_precision": info["torch"].get("float32_matmul_precision"),
        "numpy_blas": info["numpy"].get("blas"), "blas_coretype": info["numpy"].get("coretype"),
        "numpy_version": info["numpy"]["numpy"], "torch_version": info["torch"]["torch"],
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE"),
        "cpu": _lscpu_model(),
        "cpu_arch": _cpu_arch(),
        "layers_ms": lay,
    }
    for k in ("gpu", "cupy"):
        if k in info["numpy"]:
            result[k] = info["numpy"][k]
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
