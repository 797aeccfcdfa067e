"""CPU vs GPU parity. These tests run only where CuPy and an NVIDIA GPU are present."""
import math
import time

import numpy as np
import pytest

from nanograd_llm import GPT, BigramLM, GPTConfig
from nanograd_llm.backend import cuda_available, to_numpy
from nanograd_llm.gradcheck import rel_error

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not cuda_available(), reason="needs CuPy and an NVIDIA GPU")]

CFG = dict(vocab_size=65, block_size=32, n_layer=2, n_head=4, n_embd=64)


@pytest.mark.parametrize("kw", [dict(), dict(tie_weights=False, bias=False),
                                dict(positional="sinusoidal", activation="relu")])
def test_cpu_gpu_forward_and_gradients_agree_float32(kw):
    cfg = GPTConfig(**CFG, **kw)
    cpu = GPT(cfg, seed=0)
    gpu = GPT(cfg, seed=0, device="cuda")
    np.testing.assert_array_equal(cpu.flat, to_numpy(gpu.flat))   # same seed, same weights
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 65, (4, 32))
    tgt = rng.integers(0, 65, (4, 32))
    lc, loss_c = cpu.forward(idx, tgt)
    lg, loss_g = gpu.forward(idx, tgt)
    assert type(lg).__module__.startswith("cupy")
    np.testing.assert_allclose(to_numpy(lg), lc, atol=1e-5)
    assert abs(float(loss_c) - float(loss_g)) < 1e-5
    gc = cpu.backward()
    gg = gpu.backward()
    for k in gc:
        np.testing.assert_allclose(to_numpy(gg[k]), gc[k], atol=1e-4, err_msg=k)
        # and per tensor relative to its own scale: a tensor of small gradients (init std
        # 0.02) would pass the absolute bound even if wrong
        assert rel_error(to_numpy(gg[k]), gc[k]) <= 1e-3, k


def test_gpu_gradcheck_float64():
    from nanograd_llm.gradcheck import TOLERANCE, check_model, model_cases
    for label, model, idx, tgt in model_cases():
        model.to("cuda")
        r = check_model(model, idx, tgt)
        assert r.max_rel_error <= TOLERANCE, (label, r)


def test_gpu_layers_gradcheck_float64():
    import cupy as cp
    from nanograd_llm.gradcheck import LAYERS, TOLERANCE, check_case, layer_case
    for name in LAYERS:
        inputs, f, g = layer_case(name, np.random.default_rng(0), xp=cp)
        r = check_case(name, inputs, f, g)
        assert r.max_rel_error <= TOLERANCE, r


def test_gpu_kv_cache_matches_full_forward():
    model = GPT(GPTConfig(**CFG), seed=0, dtype="float64", device="cuda")
    idx = np.random.default_rng(0).integers(0, 65, (2, 12))
    full, _ = model.forward(idx)
    cache = model.new_kv_cache(batch=2)
    outs = [model.forward(idx[:, :4], kv_cache=cache)[0]]
    for t in range(4, 12):
        outs.append(model.forward(idx[:, t:t + 1], kv_cache=cache)[0])
    import cupy as cp
    np.testing.assert_allclose(to_numpy(cp.concatenate(outs, 1)), to_numpy(full), rtol=1e-10, atol=1e-12)


def test_bigram_on_gpu():
    m = BigramLM(10, seed=0, device="cuda")
    c = BigramLM(10, seed=0)
    idx = np.random.default_rng(0).integers(0, 10, (2, 5))
    tgt = np.random.default_rng(1).integers(0, 10, (2, 5))
    lg, loss = m.forward(idx, tgt)
    g = m.backward()
    lc, loss_c = c.forward(idx, tgt)
    gc = c.backward()
    assert type(lg).__module__.startswith("cupy")
    np.testing.assert_allclose(to_numpy(lg), lc, atol=1e-6)
    assert abs(float(loss) - float(loss_c)) < 1e-5
    assert rel_error(to_numpy(g["token_embedding.weight"]), gc["token_embedding.weight"]) <= 1e-4


def test_loads_onto_the_gpu_equal_the_cpu_loads(tmp_path):
    """load_hf copies each tensor to the GPU as it is read (cupy.asarray of a host array, a
    16-bit one converted to the model's dtype on the way) into a model built on the GPU;
    load_model does the same with a run's .npz: the weights of a CPU load."""
    pytest.importorskip("safetensors")
    from safetensors.numpy import load_file, save_file
    from nanograd_llm.checkpoint import load_model, save_checkpoint
    from nanograd_llm.hf import load_hf
    model = GPT(GPTConfig(**CFG), seed=1)
    model.save_hf(tmp_path / "hf")
    model.save_hf(tmp_path / "half")
    f = tmp_path / "half" / "model.safetensors"
    save_file({k: a.astype(np.float16) for k, a in load_file(str(f)).items()}, str(f))
    save_checkpoint(tmp_path / "ck", model, None, None, 1)
    for load in (lambda d: load_hf(tmp_path / "hf", device=d),
                 lambda d: load_hf(tmp_path / "half", device=d),
                 lambda d: load_hf(tmp_path / "hf", device=d, dtype="float64", block_size=8),
                 lambda d: load_model(tmp_path / "ck", device=d)):
        got, want = load("cuda"), load("cpu")
        assert type(got.flat).__module__.startswith("cupy") and got.dtype == want.dtype
        np.testing.assert_array_equal(to_numpy(got.flat), want.flat)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_kernels_equal_generic_path(monkeypatch, dtype):
    """Each fused CuPy kernel against the generic xp code it replaces (the reference)."""
    import cupy as cp
    from nanograd_llm.layers import (attention_backward, attention_forward, gelu_backward,
                                     gelu_forward, layernorm_backward, layernorm_forward)
    rng = np.random.default_rng(0)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == "float32" else dict(rtol=1e-11, atol=1e-12)

    def arr(*shape):
        return cp.asarray(rng.standard_normal(shape), dtype=dtype)
    x, dout = arr(4, 16, 96), arr(4, 16, 96)
    w, b = arr(96), arr(96)
    q, k, v, dy = arr(2, 3, 16, 8), arr(2, 3, 16, 8), arr(2, 3, 16, 8), arr(2, 3, 16, 8)
    qc, kc, vc, dyc = arr(2, 3, 5, 8), arr(2, 3, 16, 8), arr(2, 3, 16, 8), arr(2, 3, 5, 8)
    ql = arr(1, 1, 2100, 4)

    def run():
        out = {}
        y, c = gelu_forward(x)
        out["gelu"] = (y, gelu_backward(dout, c))
        y, c = layernorm_forward(x, w, b)
        out["layernorm"] = (y,) + layernorm_backward(dout, c)
        y, c = attention_forward(q, k, v)
        out["attention"] = (y,) + attention_backward(dy, c)
        y, c = attention_forward(qc, kc, vc)                       # Tq < Tk (KV cache)
        out["attention_kv"] = (y,) + attention_backward(dyc, c)
        y, c = attention_forward(ql, ql, ql)    # rows longer than the register kernels take
        out["attention_long"] = (y,) + attention_backward(ql, c)
        return out
    monkeypatch.setenv("NANOGRAD_LLM_FUSED", "1")
    fused = run()
    monkeypatch.setenv("NANOGRAD_LLM_FUSED", "0")
    generic = run()
    for name in fused:
        for a, g in zip(fused[name], generic[name]):
            np.testing.assert_allclose(to_numpy(a), to_numpy(g), err_msg=name, **tol)


@pytest.mark.parametrize("fused", ["0", "1"])
def test_gpu_layernorm_rows_whose_variance_overflows(monkeypatch, fused):
    """The CUDA kernel's (fused=1) and the generic CuPy code's (fused=0) branch for float32 rows
    whose variance overflows, as tests/test_layers.py checks it on the CPU."""
    import cupy as cp
    from _layernorm_extremes import check_extreme_rows

    from nanograd_llm.layers import layernorm_backward, layernorm_forward
    monkeypatch.setenv("NANOGRAD_LLM_FUSED", fused)
    check_extreme_rows(cp, layernorm_forward, layernorm_backward)


@pytest.mark.parametrize("fused", ["0", "1"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_layernorm_constant_and_offset_rows(monkeypatch, fused, dtype):
    """The CUDA kernel (fused=1) and the generic CuPy code (fused=0) on constant rows (x̂ exactly
    0) and on rows with a large common offset, as tests/test_layers.py checks them on the CPU."""
    import cupy as cp
    from _layernorm_extremes import check_constant_rows, check_offset_rows

    from nanograd_llm.layers import layernorm_backward, layernorm_forward
    monkeypatch.setenv("NANOGRAD_LLM_FUSED", fused)
    check_constant_rows(cp, dtype, layernorm_forward, layernorm_backward)
    check_offset_rows(cp, dtype, layernorm_forward)


def test_fused_adamw_equals_generic():
    import cupy as cp
    from nanograd_llm import cuda_kernels
    rng = np.random.default_rng(0)
    p0, g = rng.standard_normal(1000), rng.standard_normal(1000)
    m0, v0 = rng.standard_normal(1000) * 0.1, rng.random(1000) * 0.1
    p, m, v = cp.asarray(p0), cp.asarray(m0), cp.asarray(v0)
    lr, b1, b2, eps, wd, t = 1e-3, 0.9, 0.99, 1e-8, 0.1, 3
    bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
    cuda_kernels.adamw_update(p, cp.asarray(g), m, v, lr, b1, b2, eps, wd, bc1, bc2)
    m_ref = b1 * m0 + (1 - b1) * g
    v_ref = b2 * v0 + (1 - b2) * g * g
    p_ref = p0 * (1 - lr * wd) - lr * (m_ref / bc1) / (np.sqrt(v_ref / bc2) + eps)
    np.testing.assert_allclose(to_numpy(p), p_ref, rtol=1e-12)
    np.testing.assert_allclose(to_numpy(m), m_ref, rtol=1e-12)


@pytest.mark.parametrize("dtype,dropout,atol", [("float32", 0.0, 1e-5), ("float32", 0.2, 1e-5),
                                                ("float64", 0.1, 1e-12)])
def test_cuda_graph_step_equals_ordinary_steps(dtype, dropout, atol):
    """Five AdamW steps: the replayed CUDA graph against forward/backward called each step."""
    from nanograd_llm.cuda_graph import TrainStep
    from nanograd_llm.optim import AdamW, clip_grad_norm
    cfg = GPTConfig(**CFG, dropout=dropout)
    a = GPT(cfg, seed=0, dtype=dtype, device="cuda")
    b = GPT(cfg, seed=0, dtype=dtype, device="cuda")
    oa, ob = AdamW(a, lr=1e-3), AdamW(b, lr=1e-3)
    ts = TrainStep(b)
    rng = np.random.default_rng(0)
    for step in range(5):
        w = rng.integers(0, 65, (4, 33))
        a.set_dropout_seed([1, 4, step])
        _, la = a.forward(w[:, :-1], w[:, 1:])
        a.backward()
        lb = ts(w[:, :-1], w[:, 1:], [1, 4, step])
        assert abs(float(la) - float(lb)) <= atol * 10, step
        np.testing.assert_allclose(to_numpy(b.grad_flat), to_numpy(a.grad_flat), atol=atol * 10)
        for m, o in ((a, oa), (b, ob)):
            clip_grad_norm(m.grad_flat, 1.0)
            o.step(lr=1e-3)
    assert ts.active and ts.reason is None and ts.replays == 4, ts.reason
    np.testing.assert_allclose(to_numpy(b.flat), to_numpy(a.flat), atol=atol * 10)


def test_training_with_and_without_cuda_graph_agree(tmp_path, monkeypatch):
    import nanograd_llm.train as train_mod
    from nanograd_llm.train import make_config, train
    made = {}
    real = train_mod._graph_step

    def graph_step(cfg, model):         # the trainer's TrainStep, to check that it was replayed
        made[cfg.cuda_graph] = real(cfg, model)
        return made[cfg.cuda_graph]
    monkeypatch.setattr(train_mod, "_graph_step", graph_step)
    res = {}
    for graph in (True, False):
        cfg = make_config("default", overrides=dict(
            device="cuda", max_iters=12, eval_interval=6, eval_iters=2, dropout=0.1,
            batch_size=4, block_size=32, sample_tokens=0, cuda_graph=graph,
            out_dir=str(tmp_path / f"g{graph}")))
        res[graph] = train(cfg, quiet=True, progress=False)
    # a capture that fails falls back to the ordinary path quietly: both runs would then agree
    # without the graph ever running
    ts = made[True]
    assert ts is not None and ts.active and ts.reason is None and ts.replays == 11, ts.reason
    assert made[False] is None
    assert abs(res[True]["val_loss"] - res[False]["val_loss"]) < 1e-4
    np.testing.assert_allclose(to_numpy(res[True]["model"].flat),
                               to_numpy(res[False]["model"].flat), atol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gemm_equals_cupy_matmul(dtype):
    """cuda_kernels.gemm (cuBLAS through ctypes, transpose flags, alpha) against cupy.matmul."""
    import cupy as cp
    from nanograd_llm.backend import matmul_t
    from nanograd_llm.cuda_kernels import gemm
    rng = np.random.default_rng(0)
    tol = 1e-5 if dtype == "float32" else 1e-12
    for batch in [(), (3,), (2, 3)]:
        for ta in (False, True):
            for tb in (False, True):
                m, n, k = 5, 7, 6
                a = cp.asarray(rng.standard_normal(batch + ((k, m) if ta else (m, k))), dtype=dtype)
                b = cp.asarray(rng.standard_normal(batch + ((n, k) if tb else (k, n))), dtype=dtype)
                want = (a.swapaxes(-1, -2) if ta else a) @ (b.swapaxes(-1, -2) if tb else b)
                got = gemm(a, b, ta, tb, 0.5)
                np.testing.assert_allclose(to_numpy(got), 0.5 * to_numpy(want), rtol=tol, atol=tol)
                out = cp.empty(want.shape, dtype=dtype)
                assert matmul_t(a, b, ta, tb, out=out) is out
                np.testing.assert_allclose(to_numpy(out), to_numpy(want), rtol=tol, atol=tol)
    # transposed views of contiguous arrays (the tied head's wte.T) are read through the flag
    x = cp.asarray(rng.standard_normal((5, 6)), dtype=dtype)
    W = cp.asarray(rng.standard_normal((4, 6)), dtype=dtype)
    np.testing.assert_allclose(to_numpy(gemm(x, W.T)), to_numpy(x @ W.T), rtol=tol, atol=tol)
    np.testing.assert_allclose(to_numpy(gemm(W.T, x.T, trans_a=True, trans_b=False)),
                               to_numpy(W @ x.T), rtol=tol, atol=tol)
    with pytest.raises(ValueError, match="out has shape"):
        gemm(x, W.T, out=cp.empty((4, 5), dtype=dtype))
    v = cp.asarray(rng.standard_normal(6), dtype=dtype)
    M = cp.asarray(rng.standard_normal((6, 4)), dtype=dtype)
    np.testing.assert_allclose(to_numpy(gemm(v, M)), to_numpy(v @ M), rtol=tol, atol=tol)
    np.testing.assert_allclose(to_numpy(gemm(M.T, v)), to_numpy(M.T @ v), rtol=tol, atol=tol)



@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_backward_kernel_without_mask(dtype):
    import cupy as cp
    from nanograd_llm import cuda_kernels
    rng = np.random.default_rng(0)
    for Tk in (7, 256, 300, 2100):
        z = rng.standard_normal((3, 5, Tk))
        a = np.exp(z - z.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        d = rng.standard_normal((3, 5, Tk))
        want = a * (d - (a * d).sum(-1, keepdims=True))
        got = cuda_kernels.softmax_backward(cp.asarray(a, dtype=dtype), cp.asarray(d, dtype=dtype))
        np.testing.assert_allclose(to_numpy(got), want, atol=1e-6 if dtype == "float32" else 1e-12)


def test_evaluation_on_gpu_equals_cpu():
    from nanograd_llm.evaluate import evaluate_ids
    cfg = GPTConfig(**CFG)
    ids = np.random.default_rng(3).integers(0, 65, 300)
    cpu = evaluate_ids(GPT(cfg, seed=0, dtype="float64"), ids, stride=7, batch_size=5)
    gpu = evaluate_ids(GPT(cfg, seed=0, dtype="float64", device="cuda"), ids, stride=7,
                       batch_size=5)
    assert gpu.tokens == cpu.tokens == 299
    assert abs(gpu.nll - cpu.nll) <= 1e-9 * abs(cpu.nll)


# A kernel that keeps the GPU busy for `ns` nanoseconds of wall-clock time (%globaltimer), so
# that a host call made meanwhile shows whether it waits for the GPU (a synchronisation).
_BUSY = r"""
extern "C" __global__ void nanograd_busy(unsigned long long ns) {
    unsigned long long t0, t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
    do { asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t)); } while (t - t0 < ns);
}
"""


def host_wait_ms(fn, busy_ms: float = 1000.0) -> float:
    """Milliseconds the host spends in fn() while the current stream is held busy for busy_ms
    by a spinning kernel: far below busy_ms when fn only enqueues work, about busy_ms (or
    more) when something in it waits for the GPU. The GPU is idle before and after."""
    import cupy as cp
    busy = cp.RawKernel(_BUSY, "nanograd_busy")
    cp.cuda.Device().synchronize()
    busy((1,), (1,), (np.uint64(busy_ms * 1e6),))
    t0 = time.perf_counter()
    fn()
    waited = (time.perf_counter() - t0) * 1e3
    cp.cuda.Device().synchronize()
    return waited


def test_a_copied_model_draws_the_dropout_numbers_the_original_draws():
    """copy.deepcopy of a GPU model copies CuPy's generator (backend.copy_rng: a new lock for
    its bit generator, the cuRAND states copied on the device), so the copy draws the masks the
    original will draw; CuPy's own deepcopy refuses the generator (a threading.Lock)."""
    import copy

    import cupy as cp
    with pytest.raises(TypeError):
        copy.deepcopy(cp.random.default_rng(0))
    cfg = GPTConfig(**CFG, dropout=0.3)
    x = np.random.default_rng(0).integers(0, 65, (2, 32))
    model = GPT(cfg, seed=0, dtype="float64", device="cuda")
    model.set_dropout_seed([1, 4, 0])
    first = float(model.forward(x, x)[1])
    twin = copy.deepcopy(model)
    a, b = float(twin.forward(x, x)[1]), float(model.forward(x, x)[1])
    assert a == b and a != first


@pytest.mark.parametrize("graph", [False, True])
def test_a_training_step_does_not_wait_for_the_gpu(graph):
    """Between the steps whose loss the trainer reads, a step must only enqueue GPU work: the
    dropout generator re-seeded, forward and backward (eagerly, or the recorded CUDA graph
    replayed), the gradient norm, clipping with that norm and the AdamW update. The fake CuPy
    counts the explicit reads (float(), .get(), boolean masks); this catches any other wait
    (a cuBLAS result read on the host, a synchronising allocation or copy): with the GPU held
    busy for 1 s, the step's host side must end long before."""
    import cupy as cp
    from nanograd_llm.cuda_graph import TrainStep
    from nanograd_llm.optim import AdamW, clip_grad_norm, global_grad_norm
    model = GPT(GPTConfig(**dict(CFG, n_layer=1), dropout=0.1), seed=0, device="cuda")
    opt = AdamW(model, lr=1e-3)
    w = cp.asarray(np.random.default_rng(0).integers(0, 65, (4, 33)))   # on the device already
    ts = TrainStep(model) if graph else None
    losses = []

    def step(i):
        if ts is not None:
            loss = ts(w[:, :-1], w[:, 1:], [0, 1, i])
        else:
            model.set_dropout_seed([0, 1, i])
            _, loss = model.forward(w[:, :-1], w[:, 1:], return_logits=False)
            model.backward()
        norm = global_grad_norm(model.grad_flat)
        clip_grad_norm(model.grad_flat, 1.0, norm=norm)
        opt.step(model.grads, lr=1e-3)
        losses.append(loss)

    step(0)                              # kernels compiled, the graph recorded, the pool filled
    step(1)
    waited = host_wait_ms(lambda: step(2), busy_ms=1000.0)
    assert ts is None or (ts.active and ts.replays == 2), ts.reason
    assert waited < 500.0, f"the step's host side waited {waited:.0f} ms for the busy GPU"
    assert all(math.isfinite(float(x)) for x in losses)


@pytest.mark.parametrize("fused", ["1", "0"])
def test_tables_cached_during_a_recording_outlive_the_steps_memory_pool(monkeypatch, fused):
    """The sinusoidal table (and on the generic path, fused=0, the causal masks) that a
    TrainStep's first step caches are made from CuPy's default pool (backend.cache_allocation),
    not from the step's private pool: once the TrainStep is gone, its pool freed and that
    memory overwritten, the model still computes what the CPU does. (fused=0 also takes the
    fallback of a capture that fails: the generic layer norm reads a flag on the host.)"""
    import gc

    import cupy as cp
    from nanograd_llm.cuda_graph import TrainStep
    from nanograd_llm.layers import attention, positional
    monkeypatch.setenv("NANOGRAD_LLM_FUSED", fused)
    monkeypatch.setattr(positional, "_SIN_TABLES", {})
    monkeypatch.setattr(attention, "_MASKS", {})
    cfg = GPTConfig(**CFG, positional="sinusoidal")
    idx = np.random.default_rng(0).integers(0, 65, (4, 33))
    model = GPT(cfg, seed=0, dtype="float64", device="cuda")
    ts = TrainStep(model)
    ts(idx[:, :-1], idx[:, 1:])
    assert positional._SIN_TABLES and (fused == "1" or attention._MASKS)
    assert fused == "0" or ts.active, ts.reason
    del ts
    gc.collect()
    cp.get_default_memory_pool().free_all_blocks()
    junk = [cp.full(1 << 24, np.nan) for _ in range(8)]      # the freed memory, overwritten
    got, _ = model.forward(idx[:, :-1])
    want, _ = GPT(cfg, seed=0, dtype="float64").forward(idx[:, :-1])
    del junk
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-9, atol=1e-10)
