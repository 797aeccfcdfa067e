"""The layers' device branches (`xp is not np`), run on the host.

A few layers take a different route on the GPU than on the CPU: multi-head attention copies
q, k, v and the head gradients into contiguous arrays (cuBLAS needs one batch stride) instead of
using strided views, attention is dense instead of tiled, and the MLP and the block keep the
GELU and layer-norm outputs instead of recomputing them. Those branches are chosen with
`xp is np`, where `np` is each layer module's own name for NumPy. Rebinding that name to
something else makes the layers believe the arrays are not NumPy's, so the GPU route runs here,
on NumPy arrays, and must give the CPU route's numbers. This checks the branch logic on any
machine; tests/test_gpu.py checks the real GPU where one exists.
"""
import numpy as np
import pytest

from nanograd_llm import GPT, GPTConfig
from nanograd_llm.layers import block, causal_tiles, mlp, multihead_attention

BRANCHED = (block, causal_tiles, mlp, multihead_attention)


def _run(cfg, idx, tgt):
    model = GPT(cfg, seed=0, dtype="float64")
    logits, loss = model.forward(idx, tgt)
    grads = {k: v.copy() for k, v in model.backward().items()}
    return logits, float(loss), grads


@pytest.fixture
def device_route(monkeypatch):
    """Make the branched layer modules take their GPU route on NumPy arrays."""
    def enable():
        for mod in BRANCHED:
            monkeypatch.setattr(mod, "np", object())    # `xp is np` is now False everywhere
    return enable


def _host_route_everywhere(monkeypatch):
    """The CPU-only paths at small sizes: tiles from T = 32, recomputed GELU/LN outputs."""
    monkeypatch.setattr(causal_tiles, "TILE_MIN", 8)
    monkeypatch.setattr(block, "LN_RECOMPUTE_MIN", 1)
    monkeypatch.setattr(mlp, "GELU_RECOMPUTE_MIN", 1)


@pytest.mark.parametrize("kw", [dict(), dict(bias=False, tie_weights=False),
                                dict(activation="relu", positional="sinusoidal")])
def test_gpu_route_on_the_host_equals_the_cpu_route(monkeypatch, device_route, kw):
    _host_route_everywhere(monkeypatch)
    cfg = GPTConfig(vocab_size=29, block_size=32, n_layer=2, n_head=4, n_embd=32, **kw)
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 29, (3, 32))
    tgt = rng.integers(0, 29, (3, 32))
    assert causal_tiles.use_causal_tiles(32, 32, np)           # the CPU route really tiles
    lc, loss_c, gc = _run(cfg, idx, tgt)
    device_route()
    assert not causal_tiles.use_causal_tiles(32, 32, np)       # the GPU route does not
    lg, loss_g, gg = _run(cfg, idx, tgt)
    np.testing.assert_allclose(lg, lc, rtol=1e-12, atol=1e-12)
    assert abs(loss_c - loss_g) <= 1e-12
    assert gc.keys() == gg.keys()
    for k in gc:
        np.testing.assert_allclose(gg[k], gc[k], rtol=1e-10, atol=1e-12, err_msg=k)


def test_gpu_route_mha_returns_contiguous_heads(device_route):
    """On the GPU route the cache holds contiguous q, k, v (one batch stride for cuBLAS)."""
    device_route()
    rng = np.random.default_rng(0)
    B, T, C, nh = 2, 8, 16, 4
    p = {"c_attn.weight": rng.standard_normal((C, 3 * C)),
         "c_proj.weight": rng.standard_normal((C, C))}
    x = rng.standard_normal((B, T, C))
    out, cache = multihead_attention.mha_forward(x, p, nh)
    assert out.shape == (B, T, C)
    for t in (cache.attn.q, cache.attn.k, cache.attn.v):
        assert t.shape == (B, nh, T, C // nh)
        assert t.base is not None and t.base.flags.c_contiguous   # views of one contiguous copy
        assert t.base is not cache.c_attn.x2d
    dx, grads = multihead_attention.mha_backward(np.ones_like(out), cache)
    assert dx.shape == x.shape and set(grads) == set(p)


class _StandInDevice:
    """NumPy under another module name, noting for every array function whether it ran inside
    backend.cache_allocation (CuPy's default memory pool) or outside it."""
    __name__ = "stand_in_device"

    def __init__(self):
        self.inside = False
        self.calls = []
        dev = self

        class _Ctx:
            def __enter__(self):
                dev.inside = True

            def __exit__(self, *exc):
                dev.inside = False

        class _Pool:
            malloc = object()

        self.cuda = type("cuda", (), {"using_allocator": staticmethod(lambda alloc: _Ctx())})
        self.get_default_memory_pool = lambda: _Pool()

    def __getattr__(self, name):
        f = getattr(np, name)
        if not callable(f) or isinstance(f, type):
            return f                                   # np.inf, np.float64, …

        def call(*a, **k):
            self.calls.append((name, self.inside))
            return f(*a, **k)
        return call


def test_cached_device_tables_are_allocated_outside_private_pools(monkeypatch):
    """The causal mask and the sinusoidal table live in module-level caches: on the GPU they
    must come from CuPy's default pool, not from the private pool a TrainStep records with
    (that pool's memory is freed when the TrainStep goes, the cache would keep a dangling
    array)."""
    from nanograd_llm.layers import attention, positional
    monkeypatch.setattr(attention, "_MASKS", {})
    monkeypatch.setattr(positional, "_SIN_TABLES", {})
    dev = _StandInDevice()
    m = attention.causal_mask(3, 5, dev, np.float32)
    t = positional.sinusoidal_table(7, 6, dev, np.float32)
    assert dev.calls and all(inside for _, inside in dev.calls), dev.calls
    np.testing.assert_array_equal(m, attention.causal_mask(3, 5, np, np.float32))
    np.testing.assert_array_equal(t, positional.sinusoidal_table(7, 6, np, np.float32))
    n = len(dev.calls)
    assert attention.causal_mask(3, 5, dev, np.float32) is m     # cached: built once
    assert len(dev.calls) == n


# -- Beyond the layers: backend, cuda_kernels.gemm's Python side, the optimizer, generation ----
# Those modules decide "GPU or not" through backend.get_array_module / backend.fused_kernels
# (not through their own `np`), so the stand-ins below replace those: a fake `cupy` module that
# computes with NumPy, and a NumPy model of cuBLAS's column-major GEMM that reads the operands
# from the memory gemm hands it. cuda_kernels.py itself is loaded under the fake `cupy` (it is
# never imported for real here), so its operand preparation, plan and argument passing run on
# the host; only the CUDA kernels are out of reach.
import ctypes
import importlib.util
import os
import sys
import types

from nanograd_llm import backend


class _DevArray(np.ndarray):
    """A NumPy array that the host-loaded cuda_kernels takes for a CuPy one: `.data.ptr`, the
    device pointer gemm passes to cuBLAS, is the array itself."""

    @property
    def data(self):
        return types.SimpleNamespace(ptr=self)


def _dev(x):
    return np.asarray(x).view(_DevArray)


def _fake_cupy(calls):
    """A `cupy` stand-in with what cuda_kernels.py needs at import time and in gemm."""
    cp = types.ModuleType("cupy")
    cp.__name__ = "cupy"
    cp.ElementwiseKernel = lambda *a, **k: object()        # module-level kernels: never run here

    def matmul(a, b, out=None):
        calls.append(("cp.matmul", a.shape, b.shape, out is not None))
        return np.matmul(a, b, out=out)

    def ascontiguousarray(x):
        calls.append(("cp.ascontiguousarray", x.shape, x.flags.c_contiguous))
        return _dev(np.ascontiguousarray(x))

    cp.matmul = matmul
    cp.ascontiguousarray = ascontiguousarray
    cp.empty = lambda shape, dtype: _dev(np.empty(shape, dtype))
    cp.empty_like = lambda x: _dev(np.empty_like(x))
    cp.broadcast_to = lambda x, shape: _dev(np.broadcast_to(x, shape))
    cp.cuda = types.SimpleNamespace(
        device=types.SimpleNamespace(get_cublas_handle=lambda: "handle"),
        get_current_stream=lambda: types.SimpleNamespace(ptr="stream"))
    return cp


def _col_major(flat, off, ld, rows, cols):
    """The rows × cols column-major matrix at flat[off:] with leading dimension ld (a view)."""
    assert rows <= ld and off + rows - 1 + (cols - 1) * ld < flat.size, "cuBLAS reads out of bounds"
    it = flat.itemsize
    return np.lib.stride_tricks.as_strided(flat[off:], shape=(rows, cols), strides=(it, ld * it))


def _fake_cublas(calls):
    """(batched, single, set_stream) with cublasGemm(StridedBatched)Ex's semantics, in NumPy."""
    def gemm(handle, ta, tb, m, n, k, alpha, A, at, lda, sa, B, bt, ldb, sb, beta, C, ct, ldc,
             sc, batch, compute, algo, kind):
        assert handle == "handle" and algo == -1
        for x in (A, B, C):
            assert isinstance(x, np.ndarray) and x.flags.c_contiguous, "device memory is flat"
        f64 = C.dtype == np.float64
        assert A.dtype == B.dtype == C.dtype and at == bt == ct == (1 if f64 else 0)
        scal = ctypes.c_double if f64 else ctypes.c_float
        al, be = scal.from_address(alpha).value, scal.from_address(beta).value
        calls.append((kind, dict(transa=ta, transb=tb, m=m, n=n, k=k, lda=lda, ldb=ldb, ldc=ldc,
                                 batch=batch, compute=compute, alpha=al, beta=be, A=A, B=B, C=C)))
        fa, fb = np.asarray(A).reshape(-1), np.asarray(B).reshape(-1)
        fc = np.asarray(C).reshape(-1)
        assert np.shares_memory(fc, C)
        for i in range(batch):
            a = _col_major(fa, i * sa, lda, *((k, m) if ta else (m, k)))
            b = _col_major(fb, i * sb, ldb, *((n, k) if tb else (k, n)))
            c = _col_major(fc, i * sc, ldc, m, n)
            r = al * ((a.T if ta else a) @ (b.T if tb else b))
            c[...] = r if be == 0 else r + be * c         # beta = 0: C is not read
        return 0

    def batched(h, ta, tb, m, n, k, al, A, at, lda, sa, B, bt, ldb, sb, be, C, ct, ldc, sc,
                batch, compute, algo):
        return gemm(h, ta, tb, m, n, k, al, A, at, lda, sa, B, bt, ldb, sb, be, C, ct, ldc, sc,
                    batch, compute, algo, "batched")

    def single(h, ta, tb, m, n, k, al, A, at, lda, B, bt, ldb, be, C, ct, ldc, compute, algo):
        return gemm(h, ta, tb, m, n, k, al, A, at, lda, 0, B, bt, ldb, 0, be, C, ct, ldc, 0, 1,
                    compute, algo, "single")

    def set_stream(handle, stream):
        calls.append(("set_stream", handle, stream))
        return 0

    return batched, single, set_stream


@pytest.fixture
def host_gpu(monkeypatch):
    """backend sees _DevArray operands as CuPy arrays; cuda_kernels.py runs on the fake cupy and
    the NumPy cuBLAS model. Yields (cuda_kernels module, calls list)."""
    calls = []
    cp = _fake_cupy(calls)
    monkeypatch.setitem(sys.modules, "cupy", cp)
    path = os.path.join(os.path.dirname(backend.__file__), "cuda_kernels.py")
    spec = importlib.util.spec_from_file_location("nanograd_llm.cuda_kernels", path)
    ck = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ck)
    monkeypatch.setitem(sys.modules, "nanograd_llm.cuda_kernels", ck)
    monkeypatch.setattr(ck, "_cublas", lambda: _fake_cublas(calls))
    monkeypatch.setattr(backend, "get_array_module",
                        lambda *arrays: cp if any(isinstance(a, _DevArray) for a in arrays) else np)
    monkeypatch.delenv("NANOGRAD_LLM_FUSED", raising=False)
    monkeypatch.delenv("CUPY_TF32", raising=False)
    return ck, calls


def _op(x, t):
    return x.swapaxes(-1, -2) if t else x


_GEMM_CASES = [
    # a shape, b shape, trans_a, trans_b, alpha, dtype, cuBLAS entry
    ((4, 5), (5, 3), False, False, 1.0, np.float64, "single"),
    ((5, 4), (3, 5), True, True, 0.25, np.float32, "single"),
    ((4, 5), (3, 5), False, True, 0.5, np.float32, "single"),               # x @ Wᵀ
    ((5, 4), (5, 3), True, False, 1.0, np.float64, "single"),               # dW = xᵀ @ dy
    ((2, 3, 4, 6), (2, 3, 5, 6), False, True, 0.5, np.float64, "batched"),   # attention scores
    ((2, 3, 6, 4), (2, 3, 6, 5), True, False, 1.0, np.float64, "batched"),   # dv = Aᵀ·dy
    ((5,), (5, 3), False, False, 2.0, np.float64, "single"),                # vector @ matrix
    ((3, 5), (5,), False, False, 1.0, np.float64, "single"),                # matrix @ vector
]


@pytest.mark.parametrize("a_shape,b_shape,ta,tb,alpha,dtype,entry", _GEMM_CASES)
def test_matmul_t_gpu_route_calls_cublas_gemm(host_gpu, a_shape, b_shape, ta, tb, alpha, dtype,
                                              entry):
    ck, calls = host_gpu
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(a_shape).astype(dtype), rng.standard_normal(b_shape).astype(dtype)
    want = backend.matmul_t(a, b, ta, tb, alpha)                 # the CPU route
    got = backend.matmul_t(_dev(a), _dev(b), ta, tb, alpha)
    assert isinstance(got, _DevArray) and got.dtype == dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12)
    gemms = [c for c in calls if c[0] in ("single", "batched")]
    assert [c[0] for c in gemms] == [entry]
    assert ("set_stream", "handle", "stream") in calls
    assert not any(c[0] == "cp.matmul" for c in calls)
    p = gemms[0][1]
    plan = backend.gemm_plan(a.shape, b.shape, ta, tb)
    assert (p["transa"], p["transb"], p["m"], p["n"], p["k"]) == \
        (plan["transa"], plan["transb"], plan["m"], plan["n"], plan["k"])
    assert p["alpha"] == np.asarray(alpha, dtype) and p["beta"] == 0
    assert p["compute"] == (70 if dtype == np.float64 else 68)    # 64F / 32F (no TF32)
    assert p["C"] is got                                          # written in place, no copy


def test_gemm_reads_transposes_through_flags_and_copies_strided_operands(host_gpu):
    ck, calls = host_gpu
    rng = np.random.default_rng(1)
    w = rng.standard_normal((6, 4))                              # e.g. a tied embedding
    x = rng.standard_normal((3, 6))
    got = backend.matmul_t(_dev(x), _dev(w).T, trans_b=True)    # x @ (wᵀ)ᵀ = x @ w
    np.testing.assert_allclose(got, x @ w, rtol=1e-12)
    p = calls[-1][1]
    # wᵀ is a transposed view of a C-contiguous array: cuBLAS gets w itself, the flag flipped
    assert np.shares_memory(p["A"], w) and p["transa"] == 0
    assert not any(c[0] == "cp.ascontiguousarray" for c in calls)
    calls.clear()
    s = rng.standard_normal((3, 12))
    got = backend.matmul_t(_dev(s)[:, ::2], _dev(w))             # a strided slice: one copy
    np.testing.assert_allclose(got, s[:, ::2] @ w, rtol=1e-12)
    assert ("cp.ascontiguousarray", (3, 6), False) in calls
    assert [c[0] for c in calls if c[0] in ("single", "batched")] == ["single"]


def test_gemm_out_buffers_and_tf32(host_gpu, monkeypatch):
    ck, calls = host_gpu
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((2, 4, 5)), rng.standard_normal((2, 5, 3))
    out = _dev(np.zeros((2, 4, 3)))
    assert backend.matmul_t(_dev(a), _dev(b), alpha=3.0, out=out) is out
    np.testing.assert_allclose(out, 3.0 * (a @ b), rtol=1e-12)
    assert calls[-1][0] == "batched" and calls[-1][1]["C"] is out      # straight into out
    # a strided out is filled from a temporary
    big = _dev(np.zeros((2, 4, 6)))
    res = backend.matmul_t(_dev(a), _dev(b), out=big[:, :, ::2])
    np.testing.assert_allclose(big[:, :, ::2], a @ b, rtol=1e-12)
    assert calls[-1][1]["C"] is not res and np.all(big[:, :, 1::2] == 0)
    with pytest.raises(ValueError, match="out has shape"):
        backend.matmul_t(_dev(a), _dev(b), out=_dev(np.zeros((2, 3, 4))))
    # TF32: float32 products switch the compute type, float64 ones do not
    monkeypatch.setenv("CUPY_TF32", "1")
    backend.matmul_t(_dev(a.astype(np.float32)), _dev(b.astype(np.float32)))
    assert calls[-1][1]["compute"] == 77
    backend.matmul_t(_dev(a), _dev(b))
    assert calls[-1][1]["compute"] == 70


@pytest.mark.parametrize("case", ["dtypes differ", "integers", "empty", "broadcast batch"])
def test_gemm_falls_back_to_cupy_matmul(host_gpu, case):
    ck, calls = host_gpu
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((4, 5)), rng.standard_normal((3, 5))
    if case == "dtypes differ":
        b = b.astype(np.float32)
    elif case == "integers":
        a, b = rng.integers(-3, 4, (4, 5)), rng.integers(-3, 4, (3, 5))
    elif case == "empty":
        a, b = a[:0], b
    else:
        a = rng.standard_normal((2, 4, 5))                   # (2,4,5) @ (5,3)ᵀ: broadcast
    want = backend.matmul_t(a, b, trans_b=True, alpha=2.0)
    got = backend.matmul_t(_dev(a), _dev(b), trans_b=True, alpha=2.0)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    out = _dev(np.empty(want.shape, want.dtype))
    assert backend.matmul_t(_dev(a), _dev(b), trans_b=True, alpha=2.0, out=out) is out
    np.testing.assert_allclose(out, want, rtol=1e-6)
    assert not any(c[0] in ("single", "batched", "set_stream") for c in calls)
    assert [c[0] for c in calls] == ["cp.matmul", "cp.matmul"]


def test_gemm_reports_a_cublas_error(host_gpu, monkeypatch):
    ck, calls = host_gpu
    batched, single, _ = _fake_cublas(calls)
    monkeypatch.setattr(ck, "_cublas", lambda: (batched, single, lambda h, s: 7))
    with pytest.raises(RuntimeError, match="status 7"):
        backend.matmul_t(_dev(np.ones((2, 2))), _dev(np.ones((2, 2))))
    assert not any(c[0] in ("single", "batched") for c in calls)


def test_matmul_t_gpu_route_without_fused_kernels(host_gpu, monkeypatch):
    """NANOGRAD_LLM_FUSED=0: the GPU route is cupy.matmul with the flags as views and alpha on
    the smaller operand."""
    ck, calls = host_gpu
    monkeypatch.setenv("NANOGRAD_LLM_FUSED", "0")
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((2, 6, 3)), rng.standard_normal((2, 6, 4))
    out = _dev(np.empty((2, 3, 4)))
    assert backend.matmul_t(_dev(a), _dev(b), trans_a=True, alpha=0.5, out=out) is out
    np.testing.assert_allclose(out, 0.5 * (a.swapaxes(-1, -2) @ b), rtol=1e-12)
    assert calls == [("cp.matmul", (2, 3, 6), (2, 6, 4), True)]


class _RecordingXp:
    """NumPy under another name, recording every call (name, args, kwargs)."""
    __name__ = "recording_xp"

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        f = getattr(np, name)
        if not callable(f) or isinstance(f, type):
            return f

        def call(*a, **k):
            self.calls.append((name, a, k))
            return f(*a, **k)
        return call


def test_adamw_fused_branch_passes_the_decay_and_plain_slices(monkeypatch):
    from nanograd_llm import optim
    cfg = GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8)
    idx = np.random.default_rng(0).integers(0, 11, (2, 8))
    models = [GPT(cfg, seed=0, dtype="float64") for _ in range(2)]
    for m in models:
        m.forward(idx, idx)
        m.backward()
    ref, dev = (optim.AdamW(m, lr=1e-2, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.3)
                for m in models)
    calls = []

    def adamw_update(p, g, m, v, lr, beta1, beta2, eps, wd, bc1, bc2):   # the kernel's formula
        calls.append(dict(p=p, g=g, m=m, v=v, lr=lr, b=(beta1, beta2), eps=eps, wd=wd,
                          bc=(bc1, bc2)))
        m[...] = beta1 * m + (1 - beta1) * g
        v[...] = beta2 * v + (1 - beta2) * g * g
        p[...] = p - lr * wd * p - lr * (m / bc1) / (np.sqrt(v / bc2) + eps)

    monkeypatch.setattr(optim, "fused_kernels",
                        lambda x: types.SimpleNamespace(adamw_update=adamw_update)
                        if x is dev.model.flat else None)
    for t in (1, 2, 3):
        ref.step(lr=1e-2 * t)
        calls.clear()
        dev.step(lr=1e-2 * t)
        nd, flat = dev.model.n_decay, dev.model.flat
        assert 0 < nd < flat.size and len(calls) == 2
        for c, sl, wd in zip(calls, (slice(0, nd), slice(nd, None)), (0.3, 0.0)):
            for name, arr in (("p", flat), ("g", dev.model.grad_flat), ("m", dev.m), ("v", dev.v)):
                assert c[name].base is arr and c[name].shape == arr[sl].shape
                assert np.shares_memory(c[name], arr[sl])
            assert c["wd"] == wd and c["lr"] == 1e-2 * t and c["b"] == (0.8, 0.9)
            assert c["eps"] == 1e-6 and c["bc"] == (1 - 0.8 ** t, 1 - 0.9 ** t)
        np.testing.assert_allclose(dev.model.flat, ref.model.flat, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(dev.m, ref.m, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(dev.v, ref.v, rtol=1e-12, atol=1e-18)


class _CupyIds(np.ndarray):
    """Token ids that _check_idx takes for ids already on the GPU (a cupy.ndarray)."""


_CupyIds.__module__ = "cupy._core.core"


def test_check_idx_trusts_ids_already_on_the_device():
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8), seed=0)
    bad = np.array([[1, 2, 11, -1]])
    with pytest.raises(ValueError, match="outside"):
        model._check_idx(bad, 11, 8)                             # host ids: checked
    dev_ids = bad.view(_CupyIds)
    assert model._check_idx(dev_ids, 11, 8) is dev_ids          # device ids: no sync, no check
    with pytest.raises(ValueError, match="longer than"):         # the shape is still checked
        model._check_idx(np.zeros((1, 9), np.int64).view(_CupyIds), 11, 8)
    with pytest.raises(ValueError, match="integer"):
        model._check_idx(np.zeros((1, 3)).view(_CupyIds), 11, 8)


def test_scatter_add_cupy_branches(monkeypatch):
    want = np.zeros((4, 2))
    idx, vals = np.array([0, 2, 0, 0]), np.arange(8.0).reshape(4, 2)
    np.add.at(want, idx, vals)
    calls = []

    def add_at(t, i, v):
        calls.append("add.at")
        np.add.at(t, i, v)
    new_cupy = types.SimpleNamespace(add=types.SimpleNamespace(at=add_at))      # CuPy ≥ 12
    old_cupy = types.SimpleNamespace(add=types.SimpleNamespace())               # CuPy < 12
    cupyx = types.ModuleType("cupyx")
    cupyx.scatter_add = lambda t, i, v: (calls.append("cupyx"), np.add.at(t, i, v))
    monkeypatch.setitem(sys.modules, "cupyx", cupyx)
    for xp, route in ((new_cupy, "add.at"), (old_cupy, "cupyx")):
        monkeypatch.setattr(backend, "get_array_module", lambda *a, xp=xp: xp)
        t = np.zeros((4, 2))
        calls.clear()
        backend.scatter_add(t, idx, vals)
        assert calls == [route]
        np.testing.assert_array_equal(t, want)


def test_set_matmul_precision_switches_cupys_compute_type(monkeypatch):
    set_calls = []
    linalg = types.ModuleType("cupy._core._routines_linalg")
    linalg.set_compute_type = lambda dtype, mode: set_calls.append((dtype, mode))
    monkeypatch.setitem(sys.modules, "cupy", types.ModuleType("cupy"))
    monkeypatch.setitem(sys.modules, "cupy._core._routines_linalg", linalg)
    monkeypatch.setenv("CUPY_TF32", "x")                       # restored afterwards
    backend.set_matmul_precision("tf32")
    assert os.environ["CUPY_TF32"] == "1" and set_calls == [(np.float32, 7)]
    backend.set_matmul_precision("highest")
    assert os.environ["CUPY_TF32"] == "0" and set_calls[-1] == (np.float32, 1)
    del linalg.set_compute_type                                 # a CuPy without the switch
    with pytest.raises(backend.DeviceError, match="cannot switch"):
        backend.set_matmul_precision("tf32")
    monkeypatch.delitem(sys.modules, "cupy")                   # CuPy not imported: env only
    set_calls.clear()
    backend.set_matmul_precision("highest")
    assert set_calls == [] and os.environ["CUPY_TF32"] == "0"
    with pytest.raises(ValueError, match="unknown matmul precision 'tf16'"):
        backend.set_matmul_precision("tf16")                  # refused, nothing changed
    assert os.environ["CUPY_TF32"] == "0"


def test_matmul_precision_puts_the_earlier_setting_back(monkeypatch):
    """backend.matmul_precision (train's precision): CUPY_TF32 and CuPy's float32 compute type
    are what they were before once the body ends, also when it raised."""
    compute = {np.dtype(np.float32): 1}
    linalg = types.ModuleType("cupy._core._routines_linalg")
    linalg.get_compute_type = lambda dtype: compute[np.dtype(dtype)]
    linalg.set_compute_type = lambda dtype, mode: compute.__setitem__(np.dtype(dtype), mode)
    monkeypatch.setitem(sys.modules, "cupy", types.ModuleType("cupy"))
    monkeypatch.setitem(sys.modules, "cupy._core._routines_linalg", linalg)
    monkeypatch.setenv("CUPY_TF32", "0")
    with backend.matmul_precision("tf32"):
        assert os.environ["CUPY_TF32"] == "1" and compute[np.dtype(np.float32)] == 7
    assert os.environ["CUPY_TF32"] == "0" and compute[np.dtype(np.float32)] == 1
    monkeypatch.delenv("CUPY_TF32")
    with pytest.raises(KeyError):
        with backend.matmul_precision("highest"):
            assert os.environ["CUPY_TF32"] == "0"
            compute[np.dtype(np.float32)] = 3           # changed inside, then a failure
            raise KeyError
    assert "CUPY_TF32" not in os.environ and compute[np.dtype(np.float32)] == 1


def test_row_blocks_and_shards_do_not_split_on_the_gpu(monkeypatch):
    monkeypatch.setenv("NANOGRAD_LLM_THREADS", "4")
    dev = _RecordingXp()
    n_rows, row = 64, backend.PARALLEL_MIN_ELEMS // 8           # 8 × the parallel threshold
    for xp, n_calls in ((dev, 1), (np, None)):
        seen = []
        backend.for_row_blocks(seen.append, n_rows, row, xp)
        assert sorted(i for s in seen for i in range(n_rows)[s]) == list(range(n_rows))
        if n_calls:
            assert seen == [slice(0, n_rows)]                   # one block, the calling thread
        else:
            assert len(seen) > 1                                # the CPU route does split
    assert backend.shard_count(64, 10 ** 7, dev) == 1
    if backend._blas_controller() is not None:
        assert backend.shard_count(64, 10 ** 7, np) > 1
    # the generic AdamW step on the GPU: one pass over the whole flat array
    from nanograd_llm import optim
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8), seed=0,
                dtype="float64")
    opt = optim.AdamW(model)
    seen = []
    real = optim.for_row_blocks
    monkeypatch.setattr(optim, "for_row_blocks",
                        lambda fn, n, r, xp, min_elems=None: real(lambda s: (seen.append(s), fn(s)),
                                                                  n, r, xp, min_elems=0))
    model.xp = dev
    opt.step()
    assert seen == [slice(0, model.flat.size)]
    assert any(c[0] == "sqrt" for c in dev.calls)               # the step ran on the device xp


def test_evaluate_device_route_gathers_and_sums_in_float64(monkeypatch):
    from nanograd_llm import evaluate
    model = GPT(GPTConfig(vocab_size=13, block_size=8, n_layer=1, n_head=2, n_embd=8), seed=0)
    ids = np.random.default_rng(5).integers(0, 12, 40)
    want = evaluate.evaluate_ids(model, ids, stride=3, vocab_limit=12)
    dev = _RecordingXp()
    monkeypatch.setattr(model, "xp", dev, raising=False)
    monkeypatch.setattr(evaluate, "get_array_module", lambda *a: dev)
    got = evaluate.evaluate_ids(model, ids, stride=3, vocab_limit=12)
    assert got.tokens == want.tokens and abs(got.nll - want.nll) <= 1e-9 * abs(want.nll)
    names = [c[0] for c in dev.calls]
    assert "take_along_axis" in names
    sums = [c for c in dev.calls if c[0] == "sum"]
    assert sums and all(c[2] == {"dtype": np.float64} for c in sums)
    takes = [c for c in dev.calls if c[0] == "take_along_axis"]
    assert all(c[2] == {"axis": -1} and c[1][0].shape[-1] == 12 for c in takes)


def test_gpu_route_generation_with_kv_cache(monkeypatch, device_route, host_gpu):
    """Cached generation on the GPU route: every product goes through gemm, the cache's
    (B, nh, :L, hs) key/value views are not contiguous and must be copied for cuBLAS."""
    from nanograd_llm import generate as gen
    cfg = GPTConfig(vocab_size=17, block_size=8, n_layer=2, n_head=2, n_embd=8)
    model = GPT(cfg, seed=0, dtype="float64")
    prompt = np.array([[1, 5, 2], [3, 3, 9]])
    want = model.generate(prompt, 9, temperature=0.0)           # passes block_size: cache reset
    kv = model.new_kv_cache(2)
    want_logits = [model.forward(prompt, kv_cache=kv)[0]]
    want_logits.append(model.forward(want[:, 3:4], kv_cache=kv)[0])
    ck, calls = host_gpu
    device_route()
    cp = sys.modules["cupy"]
    monkeypatch.setattr(backend, "get_array_module", lambda *a: cp)   # every array is "on the GPU"
    # only gemm is used from the kernels; the layers' arrays are handed over as device arrays
    gemm = lambda a, b, ta, tb, alpha, out: ck.gemm(   # noqa: E731
        _dev(a), _dev(b), ta, tb, alpha, None if out is None else out.view(_DevArray))
    monkeypatch.setattr(backend, "fused_kernels", lambda x: types.SimpleNamespace(gemm=gemm))
    monkeypatch.setattr(gen, "to_numpy", np.asarray)
    from nanograd_llm.layers import attention, gelu, layernorm
    for mod in (attention, gelu, layernorm):                  # their generic xp code, not CUDA
        monkeypatch.setattr(mod, "fused_kernels", lambda x: None)
    got = model.generate(prompt, 9, temperature=0.0)
    np.testing.assert_array_equal(got, want)
    kv = model.new_kv_cache(2)
    got_logits = [model.forward(prompt, kv_cache=kv)[0]]
    got_logits.append(model.forward(want[:, 3:4], kv_cache=kv)[0])
    for g, w in zip(got_logits, want_logits):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
    gemms = [c for c in calls if c[0] in ("single", "batched")]
    assert any(c[0] == "batched" for c in gemms) and not any(c[0] == "cp.matmul" for c in calls)
    # the cached keys (B, nh, L, hs) of a (B, nh, block_size, hs) buffer: copied once per use
    assert ("cp.ascontiguousarray", (2, 2, 4, 4), False) in calls


# -- the raw kernels' argument preparation (cuda_kernels.py) -------------------------------------
# The CUDA kernels read their arrays through raw pointers, as the data's dtype and without bounds
# checks; the Python wrappers must hand them contiguous arrays of the right size and type (or
# refuse), as the generic path would broadcast or refuse them. The launches are recorded here.

@pytest.fixture
def launches(host_gpu, monkeypatch):
    ck, _ = host_gpu
    launched = _Launches()

    class Module:
        def get_function(self, name):
            def launch(grid, block, args):
                launched.append((name, args))
                launched.grids.append((name, grid))
            return launch
    monkeypatch.setattr(ck, "_module", lambda src: Module())
    return ck, launched


class _Launches(list):
    """(kernel name, args) of each launch; `.grids` holds (kernel name, grid)."""

    def __init__(self):
        super().__init__()
        self.grids = []


def test_layernorm_kernels_get_w_and_b_as_contiguous_vectors_of_x_dtype(launches):
    ck, launched = launches
    x = _dev(np.arange(12, dtype=np.float32).reshape(4, 3))
    ck.layernorm_forward(x, _dev(np.array([2.0])), _dev(np.array([[0.5, 1.0, 1.5]])), 1e-5)
    (name, args), = launched
    assert name == "ln_fwd_f32"
    w, b = args[1], args[2]
    for v, want in ((w, [2.0, 2.0, 2.0]), (b, [0.5, 1.0, 1.5])):
        assert v.dtype == np.float32 and v.shape == (3,) and v.flags.c_contiguous
        np.testing.assert_array_equal(v, want)
    with pytest.raises(ValueError):                       # a gain of another length
        ck.layernorm_forward(x, _dev(np.ones(4, np.float32)), None, 1e-5)
    launched.clear()
    xhat = _dev(np.ones((4, 3), np.float32))
    ck.layernorm_backward_dx(_dev(np.ones(3, np.float32)), xhat,
                             _dev(np.ones((4, 1), np.float32)), _dev(np.ones(3)))
    (name, args), = launched
    assert name == "ln_bwd_dx_f32"
    assert args[0].shape == (4, 3) and args[0].flags.c_contiguous          # dout broadcast
    assert args[3].dtype == np.float32 and args[3].shape == (3,)           # w cast
    assert not launched[1:]
    with pytest.raises(ValueError):
        ck.layernorm_backward_dx(_dev(np.ones((4, 2), np.float32)), xhat,
                                 _dev(np.ones((4, 1), np.float32)), _dev(np.ones(3, np.float32)))
    with pytest.raises(ValueError, match="one value per row"):   # rstd read row by row
        ck.layernorm_backward_dx(_dev(np.ones((4, 3), np.float32)), xhat,
                                 _dev(np.ones((1, 1), np.float32)), _dev(np.ones(3, np.float32)))
    assert len(launched) == 1


def test_softmax_backward_kernel_refuses_datt_of_another_shape(launches):
    ck, launched = launches
    att = _dev(np.full((2, 3, 3), 1 / 3, np.float32))
    with pytest.raises(ValueError, match="differ"):
        ck.softmax_backward(att, _dev(np.ones((1, 3, 3), np.float32)))
    assert not launched
    ck.softmax_backward(att, _dev(np.ones((2, 3, 3), np.float32)))
    assert [n for n, _ in launched] == ["softmax_bwd_f32"]


@pytest.mark.parametrize("att_dtype,datt_dtype", [(np.float64, np.float32),
                                                  (np.float32, np.float64)])
def test_softmax_backward_kernel_reads_att_as_datts_dtype(launches, att_dtype, datt_dtype):
    """The kernel reads att and writes datt through raw pointers of one type: an att of another
    dtype is cast to datt's (read as the wrong type, or a float64 kernel writing past the end of a
    float32 datt, otherwise); datt is still updated in place, in its own dtype, as in the generic
    path."""
    ck, launched = launches
    att = _dev(np.full((2, 3, 3), 1 / 3, att_dtype))
    datt = _dev(np.ones((2, 3, 3), datt_dtype))
    assert ck.softmax_backward(att, datt) is datt
    (name, args), = launched
    assert name == "softmax_bwd_" + ck._suffix(datt.dtype)
    assert args[0].dtype == datt_dtype and args[1] is datt
    np.testing.assert_array_equal(args[0], att.astype(datt_dtype))


@pytest.mark.parametrize("cache_dtype,dout_dtype", [(np.float32, np.float64),
                                                    (np.float64, np.float32)])
def test_layernorm_backward_kernel_gets_one_dtype(launches, cache_dtype, dout_dtype):
    """dout, x̂, rstd and w go to the raw kernel as one type, dout's (the generic path's dx has
    dout's dtype); a dout of another dtype than the cache's was read as the cache's type."""
    ck, launched = launches
    xhat = _dev(np.ones((4, 3), cache_dtype))
    rstd = _dev(np.ones((4, 1), cache_dtype))
    dout = _dev(np.ones((4, 3), dout_dtype))
    dx = ck.layernorm_backward_dx(dout, xhat, rstd, _dev(np.ones(3, cache_dtype)))
    (name, args), = launched
    assert name == "ln_bwd_dx_" + ck._suffix(dout.dtype)
    assert all(a.dtype == dout_dtype and a.flags.c_contiguous for a in args[:5])
    assert args[4] is dx and dx.dtype == dout_dtype and dx.shape == (4, 3)


def test_raw_kernels_launch_no_empty_grid_for_zero_rows(launches):
    """One block per row: an input without rows (an empty batch) would be launched as a grid of
    0 blocks, which CUDA refuses (CUDA_ERROR_INVALID_VALUE); the generic path returns empty
    results. The wrappers return them without a launch, and launch for a non-empty input."""
    ck, launched = launches
    grids = launched.grids
    f32 = np.float32
    for B in (0, 2):
        grids.clear()
        x = _dev(np.ones((B, 4, 6), f32))
        out, xhat, rstd = ck.layernorm_forward(x, _dev(np.ones(6, f32)), _dev(np.zeros(6, f32)),
                                               1e-5)
        assert out.shape == xhat.shape == (B, 4, 6) and rstd.shape == (B, 4, 1)
        dx = ck.layernorm_backward_dx(_dev(np.ones((B, 4, 6), f32)), xhat, rstd,
                                      _dev(np.ones(6, f32)))
        assert dx.shape == (B, 4, 6)
        att = _dev(np.ones((B, 2, 3, 3), f32))
        assert ck.causal_softmax_forward(att) is att
        datt = _dev(np.ones((B, 2, 3, 3), f32))
        assert ck.softmax_backward(att, datt) is datt
        assert all(g[0] >= 1 for _, g in grids), grids
        want = [] if B == 0 else ["ln_fwd_f32", "ln_bwd_dx_f32", "causal_softmax_fwd_f32",
                                  "softmax_bwd_f32"]
        assert [n for n, _ in grids] == want


def test_evaluate_checks_the_ids_on_the_host_before_moving_them(monkeypatch):
    """evaluate_ids moves its windows to the model's device before the forward pass, and ids
    already on the GPU are trusted there (no sync; CuPy's indexing wraps an out-of-range id
    around instead of raising): an id outside the vocabulary must be refused on the host, with
    the id named, before any window runs."""
    from nanograd_llm import evaluate
    model = GPT(GPTConfig(vocab_size=13, block_size=8, n_layer=1, n_head=2, n_embd=8), seed=0)
    ran = []
    real_forward = model.forward
    monkeypatch.setattr(model, "forward",
                        lambda *a, **k: (ran.append(1), real_forward(*a, **k))[1])
    dev = types.SimpleNamespace(asarray=lambda a: np.asarray(a).view(_CupyIds), sum=np.sum,
                                float64=np.float64)
    for xp in (np, dev):                                         # host ids, "device" ids
        monkeypatch.setattr(model, "xp", xp, raising=False)
        for ids, limit, bad in (([1, 2, 3, 4, 13], None, 13),   # 13 only as the last target
                                ([-1, 2, 3, 4, 5], None, -1),
                                ([1, 2, 12, 4, 5], 12, 12)):    # past vocab_limit
            with pytest.raises(ValueError, match=f"token id {bad} "):
                evaluate.evaluate_ids(model, np.array(ids), vocab_limit=limit)
    assert not ran
    monkeypatch.setattr(model, "xp", np, raising=False)
    assert evaluate.evaluate_ids(model, np.array([1, 2, 12, 4, 5])).tokens == 4


def test_cublas_is_found_on_windows(monkeypatch):
    """On Windows the cuBLAS library is cublas64_12.dll (there is no /proc/self/maps to find
    it, and no libcublas.so): every GPU matmul failed with 'cannot load libcublas'. Its
    Windows names are tried there."""
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy([]))
    path = os.path.join(os.path.dirname(backend.__file__), "cuda_kernels.py")
    spec = importlib.util.spec_from_file_location("nanograd_llm.cuda_kernels", path)
    ck = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ck)
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(ck, "_cublas_path", lambda: None)
    tried = []

    def cdll(name):
        tried.append(name)
        if name != "cublas64_12.dll":
            raise OSError(f"Could not find module '{name}'")
        return types.SimpleNamespace(cublasGemmStridedBatchedEx=types.SimpleNamespace(),
                                     cublasGemmEx=types.SimpleNamespace(),
                                     cublasSetStream_v2=types.SimpleNamespace())
    monkeypatch.setattr(ck, "_c", types.SimpleNamespace(
        CDLL=cdll, c_void_p=ctypes.c_void_p, c_int=ctypes.c_int, c_longlong=ctypes.c_longlong))
    batched, single, set_stream = ck._cublas()
    assert tried[-1] == "cublas64_12.dll" and not any(".so" in n for n in tried)
    assert set_stream.restype is ctypes.c_int


@pytest.mark.parametrize("platform, names", [
    ("win32", ("cublas64_13.dll", "cublas64_12.dll")),
    ("linux", ("libcublas.so.13", "libcublas.so.12"))])
def test_the_cublas_loaded_by_name_is_the_version_cupy_runs_on(monkeypatch, platform, names):
    """Without a path to CuPy's own cuBLAS (Windows: no /proc/self/maps) the names were tried
    newest first: with CuPy on CUDA 12 and a CUDA 13 cuBLAS also loadable (two toolkits
    installed), cublas64_13.dll was loaded, a second library that CuPy's handle does not belong
    to. The name of the CUDA runtime's major version is tried first."""
    cp = _fake_cupy([])
    cp.cuda.runtime = types.SimpleNamespace(runtimeGetVersion=lambda: 12080)
    monkeypatch.setitem(sys.modules, "cupy", cp)
    path = os.path.join(os.path.dirname(backend.__file__), "cuda_kernels.py")
    spec = importlib.util.spec_from_file_location("nanograd_llm.cuda_kernels", path)
    ck = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ck)
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(ck, "_cublas_path", lambda: None)
    loaded = []

    def cdll(name):
        if name not in names:
            raise OSError(f"Could not find module '{name}'")
        loaded.append(name)
        return types.SimpleNamespace(cublasGemmStridedBatchedEx=types.SimpleNamespace(),
                                     cublasGemmEx=types.SimpleNamespace(),
                                     cublasSetStream_v2=types.SimpleNamespace())
    monkeypatch.setattr(ck, "_c", types.SimpleNamespace(
        CDLL=cdll, c_void_p=ctypes.c_void_p, c_int=ctypes.c_int, c_longlong=ctypes.c_longlong))
    ck._cublas()
    assert loaded == [names[1]]
