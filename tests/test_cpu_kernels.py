"""The CPU fused kernels (nanograd_llm/cpu_kernels.py, Numba) against the generic NumPy code they
replace: each kernel alone, then a whole GPT training step. The generic path is selected with
NANOGRAD_LLM_FUSED=0, exactly as a user would turn the kernels off."""
import contextlib
import math
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanograd_llm import backend
from nanograd_llm.layers import attention, gelu, layernorm
from nanograd_llm.layers.block import block_backward, block_forward
from nanograd_llm.models.gpt import GPT, GPTConfig
from nanograd_llm.optim import AdamW

pytest.importorskip("numba")
from nanograd_llm import cpu_kernels as ck  # noqa: E402

F32 = np.float32


def _close(a, ref, tol):
    """max |a − ref| / max(1, |ref|) below tol (float32 results against the generic path)."""
    err = np.max(np.abs(a.astype(np.float64) - ref) / np.maximum(1.0, np.abs(ref)))
    assert err < tol, f"max scaled error {err:.3g} >= {tol}"


@contextlib.contextmanager
def generic():
    """Run the layers' generic NumPy code inside the block (NANOGRAD_LLM_FUSED=0)."""
    old = os.environ.get("NANOGRAD_LLM_FUSED")
    os.environ["NANOGRAD_LLM_FUSED"] = "0"
    try:
        yield
    finally:
        if old is None:
            del os.environ["NANOGRAD_LLM_FUSED"]
        else:
            os.environ["NANOGRAD_LLM_FUSED"] = old


def test_dispatch_float32_only(monkeypatch):
    monkeypatch.setenv("NANOGRAD_LLM_FUSED", "1")
    assert backend.fused_kernels(np.zeros(3, F32)) is ck
    assert backend.fused_kernels(np.zeros(3, np.float64)) is None     # gradient checks: generic
    monkeypatch.setenv("NANOGRAD_LLM_FUSED", "0")
    assert backend.fused_kernels(np.zeros(3, F32)) is None
    with pytest.raises(TypeError, match="float32 only"):
        ck.gelu_forward(np.zeros(3))


def test_without_numba_the_generic_path_runs(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_numba(name, *args, **kwargs):
        if name == "numba" or name.startswith("numba."):
            raise ImportError("No module named 'numba'")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_numba)
    monkeypatch.setattr(backend, "_CPU_KERNELS", [])
    import sys
    monkeypatch.delitem(sys.modules, "nanograd_llm.cpu_kernels")
    monkeypatch.setenv("NANOGRAD_LLM_FUSED", "1")
    assert backend.fused_kernels(np.zeros(3, F32)) is None
    out, _ = gelu.gelu_forward(np.linspace(-3, 3, 7, dtype=F32))
    assert out.dtype == F32


def test_exp_relative_error_and_clamping():
    x = np.linspace(-87.0, 88.0, 1_000_001, dtype=F32)
    out = np.empty_like(x)
    ck.exp_f32(x, out)
    ref = np.exp(x.astype(np.float64))
    assert np.max(np.abs(out / ref - 1.0)) < 1e-6
    # outside [−87, 88] the argument is clamped: finite, positive, no overflow to inf
    ext = np.array([-1e4, -200.0, -88.0, 89.0, 200.0, 1e4], F32)
    o = np.empty_like(ext)
    ck.exp_f32(ext, o)
    assert np.all(np.isfinite(o)) and np.all(o > 0)
    assert o[0] < 1e-37 and o[-1] > 1e38


def test_gelu_kernel_matches_generic_including_extremes():
    x = np.concatenate([np.linspace(-30, 30, 2001), [-200.0, -60.0, 0.0, 1e-8, 60.0, 200.0]])
    x = x.astype(F32).reshape(1, -1)
    dout = np.random.default_rng(0).standard_normal(x.shape).astype(F32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out, s = ck.gelu_forward(x)
        dx = ck.gelu_backward(dout, x, s)
    with generic():
        ref, cache = gelu.gelu_forward(x)
        dref = gelu.gelu_backward(dout, cache)
    _close(out, ref, 1e-6)
    _close(s, cache.s, 1e-6)
    _close(dx, dref, 1e-5)
    # far from zero the sigmoid is exactly 0 or 1, as in the generic path
    assert s[0, -1] == 1.0 and s[0, -2] == 1.0 and s[0, 2001] == 0.0
    assert np.array_equal(gelu.gelu_output(gelu.GeluCache(x, s)), out)


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 40), n=st.integers(1, 300), scale=st.sampled_from([0.1, 1.0, 8.0]),
       seed=st.integers(0, 2**16))
def test_gelu_kernel_random_shapes(rows, n, scale, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((rows, n)) * scale).astype(F32)
    d = rng.standard_normal((rows, n)).astype(F32)
    out, s = ck.gelu_forward(x)
    with generic():
        ref, cache = gelu.gelu_forward(x)
        dref = gelu.gelu_backward(d, cache)
    _close(out, ref, 2e-6)
    _close(ck.gelu_backward(d, x, s), dref, 1e-5)


@settings(max_examples=25, deadline=None)
@given(B=st.integers(1, 3), nh=st.integers(1, 3), Tq=st.integers(1, 40), extra=st.integers(0, 9),
       seed=st.integers(0, 2**16))
def test_causal_softmax_kernels_random_shapes(B, nh, Tq, extra, seed):
    """Tk = Tq + extra keys (a KV cache or a query tile): query i sees keys j <= i + extra."""
    rng = np.random.default_rng(seed)
    Tk = Tq + extra
    s = (rng.standard_normal((B, nh, Tq, Tk)) * 4).astype(F32)
    da = rng.standard_normal(s.shape).astype(F32)
    a = s.copy()
    ck.causal_softmax_forward(a)
    ref = s.copy()
    attention.causal_softmax_inplace(ref)
    _close(a, ref, 1e-6)
    mask = np.arange(Tk)[None, :] > np.arange(Tq)[:, None] + extra        # (Tq, Tk)
    assert np.all(a[..., mask] == 0.0)                                   # exact zeros
    np.testing.assert_allclose(a.sum(-1), 1.0, rtol=2e-6)
    d1, d2 = da.copy(), da.copy()
    ck.softmax_backward(ref, d1)
    attention.softmax_backward_inplace(ref, d2)
    _close(d1, d2, 1e-6)


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 50), C=st.integers(2, 200), bias=st.booleans(),
       shift=st.sampled_from([0.0, 3.0, 100.0]), seed=st.integers(0, 2**16))
def test_layernorm_kernels_random_shapes(rows, C, bias, shift, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((rows, C)) * 2 + shift).astype(F32)
    w = rng.standard_normal(C).astype(F32)
    b = rng.standard_normal(C).astype(F32) if bias else None
    dout = rng.standard_normal((rows, C)).astype(F32)
    out, xhat, rstd = ck.layernorm_forward(x, w, b, 1e-5)
    assert rstd.shape == (rows, 1)
    with generic():
        ref, cache = layernorm.layernorm_forward(x, w, b)
        dref, _, _ = layernorm.layernorm_backward(dout, cache)
    # no slack for the shift: both take the mean after subtracting the row's first element, so a
    # large mean no longer costs float32 digits in x − μ
    tol = 1e-5
    _close(xhat, cache.xhat, tol)
    _close(out, ref, 4 * tol)
    np.testing.assert_allclose(rstd, cache.rstd, rtol=1e-5)
    _close(ck.layernorm_backward_dx(dout, xhat, rstd, w), dref, 10 * tol)
    # the block rebuilds LN's output from the cache with NumPy: it must equal the kernel's, bit
    # for bit (no fused multiply-add in the layer-norm kernels)
    rebuilt = layernorm.layernorm_output(layernorm.LayerNormCache(xhat, rstd, w, b))
    assert np.array_equal(rebuilt, out)


def test_layernorm_kernel_and_generic_path_agree_on_constant_and_offset_rows():
    """Both take the mean after subtracting each row's first element: constant rows (up to
    float32's largest) give x̂ = 0 and out = b exactly in both, offset rows (1000 + N(0, 0.01),
    −3e20 + N(0, 1e13), and 1e38 + N(0, 1e33), which overflows σ² and is rescaled) agree to a
    few float32 ulps. The kernel's one-pass mean had x̂ ≈ ±1 on large constant rows, NaN at
    −2.5e38, and its x̂ on the offset rows differed from the generic path's by up to ~0.8."""
    rng = np.random.default_rng(0)
    C = 96
    consts = np.array([0.1, -7.3, 1e6 + 0.5, 3.3e7, -1e30, -2.5e38, 3.4e38], F32)
    x_const = np.repeat(consts[:, None], C, axis=1)
    parts = [m + s * rng.standard_normal((8, C)) for m, s in
             [(1000.0, 1e-2), (-3e20, 1e13), (1e38, 1e33)]]
    x = np.concatenate([x_const] + parts).astype(F32)
    w, b = rng.standard_normal(C).astype(F32), rng.standard_normal(C).astype(F32)
    out, xhat, rstd = ck.layernorm_forward(x, w, b, 1e-5)
    with generic():
        ref, cache = layernorm.layernorm_forward(x, w, b)
    n = len(consts)
    for o, xh in ((out, xhat), (ref, cache.xhat)):
        assert np.array_equal(xh[:n], np.zeros((n, C), F32))
        assert np.array_equal(o[:n], np.broadcast_to(b, (n, C)))
    assert np.abs(xhat - cache.xhat).max() < 1e-6
    np.testing.assert_allclose(rstd, cache.rstd, rtol=1e-6)
    _close(out, ref, 4e-6)


def test_adamw_kernel_matches_generic_steps():
    cfg = GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8)
    rng = np.random.default_rng(0)
    models, opts = [], []
    for _ in range(2):
        m = GPT(cfg, seed=3)
        models.append(m)
        opts.append(AdamW.from_model(m, lr=3e-3, betas=(0.9, 0.95), weight_decay=0.1))
    for step in range(5):
        g = rng.standard_normal(models[0].grad_flat.shape).astype(F32)
        for i, (m, opt) in enumerate(zip(models, opts)):
            m.grad_flat[...] = g
            if i == 0:
                opt.step()
            else:
                with generic():
                    opt.step()
    # m and v are sums of terms of size |g| ~ 1 that can cancel: compared at the scale of their
    # terms; the parameters at the scale of one update (lr)
    np.testing.assert_allclose(opts[0].m, opts[1].m, rtol=0, atol=1e-6)
    np.testing.assert_allclose(opts[0].v, opts[1].v, rtol=0, atol=1e-6)
    np.testing.assert_allclose(models[0].flat, models[1].flat, rtol=0, atol=3e-3 * 1e-4)
    assert not np.array_equal(models[0].flat, GPT(cfg, seed=3).flat)     # it did update


@pytest.mark.parametrize("T,dropout", [(16, 0.0), (128, 0.0), (128, 0.1)])
def test_gpt_step_with_kernels_matches_generic(T, dropout, monkeypatch):
    """Loss and every gradient of a float32 GPT step, kernels on vs off (T=128 takes the CPU's
    tiled attention path, dropout the masks)."""
    from nanograd_llm import backend
    monkeypatch.setenv("NANOGRAD_LLM_FUSED", "1")      # "on" must really be on, whatever the shell
    assert backend.fused_kernels(np.zeros(1, np.float32)) is not None
    cfg = GPTConfig(vocab_size=17, block_size=T, n_layer=2, n_head=2, n_embd=16, dropout=dropout)
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 17, (4, T))
    tgt = rng.integers(0, 17, (4, T))
    results = []
    for on in (True, False):
        model = GPT(cfg, seed=0)
        model.set_dropout_seed(5)
        if on:
            _, loss = model.forward(idx, tgt)
            grads = {k: v.copy() for k, v in model.backward().items()}
        else:
            with generic():
                _, loss = model.forward(idx, tgt)
                grads = {k: v.copy() for k, v in model.backward().items()}
        results.append((float(loss), grads))
    (l1, g1), (l2, g2) = results
    assert abs(l1 - l2) < 1e-5 * abs(l2)
    for k in g2:
        scale = max(np.abs(g2[k]).max(), 1e-6)
        err = np.abs(g1[k] - g2[k]).max() / scale
        assert err < 2e-4, f"{k}: {err:.3g}"


def test_block_drop_and_rebuild_path_with_kernels(monkeypatch):
    """The CPU block drops the LN outputs for large activations and rebuilds them in backward
    with NumPy; with the kernels on, the gradients must be the same as when they are kept."""
    import nanograd_llm.layers.block as block_mod
    monkeypatch.setenv("NANOGRAD_LLM_FUSED", "1")
    rng = np.random.default_rng(2)
    C, nh = 16, 2
    p = {"ln_1.weight": 1 + 0.1 * rng.standard_normal(C), "ln_1.bias": 0.1 * rng.standard_normal(C),
         "attn.c_attn.weight": 0.2 * rng.standard_normal((C, 3 * C)),
         "attn.c_attn.bias": 0.1 * rng.standard_normal(3 * C),
         "attn.c_proj.weight": 0.2 * rng.standard_normal((C, C)),
         "attn.c_proj.bias": 0.1 * rng.standard_normal(C),
         "ln_2.weight": 1 + 0.1 * rng.standard_normal(C), "ln_2.bias": 0.1 * rng.standard_normal(C),
         "mlp.c_fc.weight": 0.2 * rng.standard_normal((C, 4 * C)),
         "mlp.c_fc.bias": 0.1 * rng.standard_normal(4 * C),
         "mlp.c_proj.weight": 0.2 * rng.standard_normal((4 * C, C)),
         "mlp.c_proj.bias": 0.1 * rng.standard_normal(C)}
    p = {k: v.astype(F32) for k, v in p.items()}
    x = rng.standard_normal((3, 8, C)).astype(F32)
    dout = rng.standard_normal(x.shape).astype(F32)
    outs = []
    for limit in (10**9, 1):                       # keep the LN outputs / drop and rebuild
        monkeypatch.setattr(block_mod, "LN_RECOMPUTE_MIN", limit)
        y, cache = block_forward(x, p, nh)
        dx, g = block_backward(dout, cache)
        outs.append((y, dx, g))
    (y1, dx1, g1), (y2, dx2, g2) = outs
    assert np.array_equal(y1, y2) and np.array_equal(dx1, dx2)
    for k in g1:
        assert np.array_equal(g1[k], g2[k]), k


def test_row_blocks_give_the_same_bits_on_one_or_two_threads(monkeypatch):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2048, 1024)).astype(F32)       # 2 M elements: split into blocks
    att = rng.standard_normal((64, 4, 64, 64)).astype(F32)
    w = rng.standard_normal(1024).astype(F32)
    res = []
    for threads in ("1", "2"):
        monkeypatch.setenv("NANOGRAD_LLM_THREADS", threads)
        out, s = ck.gelu_forward(x)
        ln, xh, rs = ck.layernorm_forward(x, w, w, 1e-5)
        a = att.copy()
        ck.causal_softmax_forward(a)
        res.append((out, s, ln, xh, rs, a))
    for u, v in zip(*res):
        assert np.array_equal(u, v)


def test_kernel_constants_are_float32():
    # a float64 constant would silently turn a float32 loop into float64 arithmetic
    for name in ("_LOG2E", "_LN2_HI", "_LN2_LO", "_M2K", "_M2KA", "_D2K", "_D6KA", "_ONE"):
        assert isinstance(getattr(ck, name), np.float32), name
    assert math.isclose(float(ck._LN2_HI) + float(ck._LN2_LO), math.log(2), rel_tol=1e-7)


def test_nan_inputs_stay_nan():
    """A diverged step must still show up as NaN (the trainer stops on a NaN loss): no kernel may
    turn a NaN input into a finite number."""
    nan = np.float32("nan")
    x = np.array([[0.5, nan, -1.0, 2.0]], F32)
    out, s = ck.gelu_forward(x)
    assert np.isnan(out[0, 1]) and np.isfinite(out[0, [0, 2, 3]]).all()
    assert np.isnan(ck.gelu_backward(np.ones_like(x), x, s)[0, 1])
    ln, xhat, rstd = ck.layernorm_forward(x, np.ones(4, F32), None, 1e-5)
    assert np.isnan(ln).all() and np.isnan(xhat).all()
    att = np.zeros((1, 1, 4, 4), F32)
    att[0, 0, 3, 1] = nan
    ck.causal_softmax_forward(att)
    assert np.isnan(att[0, 0, 3]).any() and np.isfinite(att[0, 0, :3]).all()
    p, g = np.zeros(3, F32), np.array([0.1, nan, 0.2], F32)
    ck.adamw_update(p, g, np.zeros(3, F32), np.zeros(3, F32), 1e-3, 0.9, 0.99, 1e-8, 0.0, 0.1,
                    0.01)
    assert np.isnan(p[1]) and np.isfinite(p[[0, 2]]).all()


def test_exp_error_on_the_reduced_interval_is_the_polynomials_alone():
    """On [−ln2/2, ln2/2] (k = 0: no range reduction, 2ᵏ = 1) only the polynomial errs: under 1.8e-7
    (measured 1.2e-7). A mistyped Cephes coefficient (8.3334519073e-3 written 8.30e-3 gives
    2.9e-7) still passes the 1e-6 bound of the whole range above, not this one."""
    x = np.linspace(-0.3465, 0.3465, 200_001, dtype=F32)
    out = np.empty_like(x)
    ck.exp_f32(x, out)
    err = np.abs(out / np.exp(x.astype(np.float64)) - 1.0)
    assert err.max() < 1.8e-7


def test_gelu_kernel_sigmoid_is_zero_wherever_the_generic_one_is():
    """Around x ≈ −9.9 the exponent −2u passes 88: from about 88.7 the generic float32 e^(−2u)
    overflows to ∞ and σ is exactly 0; the kernel writes 0 there too (its clamped exponent would
    give 1/(1 + e⁸⁸) ≈ 6·10⁻³⁹ instead)."""
    x = np.linspace(-10.5, -9.5, 20_001, dtype=F32).reshape(1, -1)
    _, s = ck.gelu_forward(x)
    with generic(), np.errstate(over="ignore"):
        _, cache = gelu.gelu_forward(x)
    zero = cache.s == 0.0
    assert zero.any() and not zero.all()          # the grid crosses the overflow point
    assert np.all(s[zero] == 0.0)


def test_causal_softmax_kernel_on_rows_of_large_negative_scores():
    """Softmax is shift-invariant: scores all far below 0 give the same weights as the generic
    path (a row maximum started at 0 instead of the row's first score would clamp every
    exponent to e⁻⁸⁷ and return uniform rows)."""
    rng = np.random.default_rng(3)
    s = (rng.standard_normal((2, 2, 9, 11)) * 4 - 300.0).astype(F32)
    a = s.copy()
    ck.causal_softmax_forward(a)
    ref = s.copy()
    attention.causal_softmax_inplace(ref)
    _close(a, ref, 1e-6)
    b = (s + F32(300.0)).copy()
    ck.causal_softmax_forward(b)
    _close(a, b, 1e-5)


def test_causal_softmax_kernel_ignores_huge_masked_scores():
    """The row maximum is taken over the keys a query may see: a future (masked) score far above
    them must not enter it, or every visible exponent clamps to e⁻⁸⁷ and the row comes out
    uniform (the generic path adds the −∞ mask before taking the maximum)."""
    rng = np.random.default_rng(4)
    Tq, Tk = 7, 9                                                     # off = 2 (KV cache)
    s = (rng.standard_normal((2, 2, Tq, Tk)) * 3).astype(F32)
    future = np.arange(Tk)[None, :] > np.arange(Tq)[:, None] + (Tk - Tq)   # (Tq, Tk)
    s[..., future] = F32(1e4)
    a = s.copy()
    ck.causal_softmax_forward(a)
    ref = s.copy()
    attention.causal_softmax_inplace(ref)
    _close(a, ref, 1e-6)
    assert np.all(a[..., future] == 0.0)


@pytest.mark.parametrize("eps", [1e-5, 0.3])
def test_layernorm_kernel_uses_the_given_eps(eps):
    """The fused layer norm takes eps from its caller (GPTConfig.layer_norm_epsilon reaches it
    through the blocks): a kernel that used a built-in 1e-5 instead passed every other test here,
    which all use 1e-5, and test_gpt_reference's eps = 0.3 runs in float64 (no kernel). Rows of
    variance ~0.25, so eps = 0.3 changes rstd by a factor of about 1.5."""
    rng = np.random.default_rng(4)
    C = 24
    x = (rng.standard_normal((6, C)) * 0.5).astype(F32)
    w = rng.standard_normal(C).astype(F32)
    b = rng.standard_normal(C).astype(F32)
    dout = rng.standard_normal(x.shape).astype(F32)
    out, xhat, rstd = ck.layernorm_forward(x, w, b, eps)
    with generic():
        ref, cache = layernorm.layernorm_forward(x, w, b, eps)
        dref, _, _ = layernorm.layernorm_backward(dout, cache)
    var = x.astype(np.float64).var(-1, keepdims=True)
    np.testing.assert_allclose(rstd, 1.0 / np.sqrt(var + eps), rtol=1e-5)
    np.testing.assert_allclose(rstd, cache.rstd, rtol=1e-5)
    _close(xhat, cache.xhat, 1e-5)
    _close(out, ref, 4e-5)
    _close(ck.layernorm_backward_dx(dout, xhat, rstd, w), dref, 1e-4)


def test_causal_softmax_kernel_row_with_an_infinite_score_is_nan_like_the_generic_path():
    """An overflowed (+inf) score is a diverged step: the generic path gives that query's row as
    NaN, and so must the kernel, wherever the inf lies among the keys the query sees, the last
    one (the diagonal) included. A row maximum taken over all but the last visible key clamped
    e^(inf − m) to e⁸⁸ there and returned a finite row [≈0, …, 1], hiding the divergence."""
    T = 5
    for i in range(T):
        for j in range(i + 1):
            s = np.zeros((1, 1, T, T), F32)
            s[0, 0, i, j] = np.inf
            a = s.copy()
            ck.causal_softmax_forward(a)
            ref = s.copy()
            with np.errstate(invalid="ignore"):
                attention.causal_softmax_inplace(ref)
            assert np.isnan(ref[0, 0, i]).all()
            assert np.isnan(a[0, 0, i, :i + 1]).all(), (i, j, a[0, 0, i])
            assert np.all(a[0, 0, i, i + 1:] == 0.0)                  # masked keys stay 0
            others = np.arange(T) != i
            _close(a[0, 0, others], ref[0, 0, others], 1e-6)          # other rows unaffected


def test_layernorm_kernel_on_zero_rows():
    """An empty batch of rows gives empty outputs (the overflow check after the kernel must not
    take the minimum of an empty rstd)."""
    x = np.zeros((0, 8), F32)
    out, xhat, rstd = ck.layernorm_forward(x, np.ones(8, F32), np.zeros(8, F32), 1e-5)
    assert out.shape == xhat.shape == (0, 8) and rstd.shape == (0, 1)
    assert ck.layernorm_backward_dx(x, xhat, rstd, np.ones(8, F32)).shape == (0, 8)


@pytest.mark.parametrize("Tq,Tk", [(3, 2), (6, 2), (10, 2), (5, 1)])
def test_causal_softmax_kernel_with_more_queries_than_keys(Tq, Tk):
    """Tq > Tk: the first Tq − Tk queries see no key at all. The generic path gives those rows
    as NaN (−∞ − (−∞)) and must be matched; the kernel's last loop started at a negative key
    index there and (no bounds checks) wrote zeros into the rows before it, or before the array
    when the index passed −Tk."""
    rng = np.random.default_rng(5)
    s = rng.standard_normal((2, 3, Tq, Tk)).astype(F32)
    buf = np.full(s.size + 2 * 64, 7.0, F32)              # guards on both sides of the scores
    a = buf[64:-64].reshape(s.shape)
    a[...] = s
    ck.causal_softmax_forward(a)
    assert np.all(buf[:64] == 7.0) and np.all(buf[-64:] == 7.0)
    ref = s.copy()
    with np.errstate(invalid="ignore"):
        attention.causal_softmax_inplace(ref)
    blind = Tq - Tk                                       # queries that see no key
    assert np.isnan(ref[..., :blind, :]).all()
    assert np.isnan(a[..., :blind, :]).all()
    _close(a[..., blind:, :], ref[..., blind:, :], 1e-6)


def test_in_place_softmax_kernels_refuse_read_only_arrays_like_the_generic_path():
    """The softmax kernels write into att (forward) and datt (backward). On a read-only array the
    generic path raises NumPy's ValueError; the kernels raised Numba's TypingError (a failed
    compilation, not a ValueError) instead."""
    att = np.zeros((1, 2, 4, 4), F32)
    ck.causal_softmax_forward(att)
    ro = att.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        attention.causal_softmax_inplace(ro)
    with pytest.raises(ValueError, match="read-only"):
        ck.causal_softmax_forward(ro)
    d = np.ones_like(att)
    d.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        attention.softmax_backward_inplace(att, d)
    with pytest.raises(ValueError, match="read-only"):
        ck.softmax_backward(att, d)
    ck.softmax_backward(ro, np.ones_like(att))            # a read-only att is only read: fine


@pytest.mark.parametrize("shape", [(), (1,), (1, 6), (5,), (7,)])
def test_layernorm_kernels_broadcast_w_and_b_like_the_generic_path(shape):
    """w and b broadcast against the rows as in the generic `x̂⊙w + b`: a scalar-like gain
    (shape (), (1,) or (1, C)) works, a wrong length is a ValueError. The kernels index w[c] and
    b[c] without bounds checks: a (1,) gain was read past its end (garbage outputs) and a gain
    of the wrong length was silently accepted."""
    rng = np.random.default_rng(6)
    C = 6
    x = rng.standard_normal((4, C)).astype(F32)
    dout = rng.standard_normal(x.shape).astype(F32)
    w = np.full(shape, 1.5, F32)
    b = np.full(shape, -0.25, F32)
    with generic():
        try:
            ref, cache = layernorm.layernorm_forward(x, w, b)
            dref, _, _ = layernorm.layernorm_backward(dout, cache)
        except ValueError:
            ref = None
    if ref is None:
        with pytest.raises(ValueError):
            ck.layernorm_forward(x, w, b, 1e-5)
        with pytest.raises(ValueError):
            ck.layernorm_backward_dx(dout, x, np.ones((4, 1), F32), w)
        return
    out, cache = layernorm.layernorm_forward(x, w, b)
    _close(out, ref, 1e-5)
    _close(layernorm.layernorm_backward(dout, cache)[0], dref, 1e-4)


@pytest.mark.parametrize("shape", [(5,), (1, 5), (3, 1), (), (2, 5), (5, 3)])
def test_gelu_backward_kernel_broadcasts_dout_like_the_generic_path(shape):
    """dout broadcasts against x as in the generic `g *= dout`: a (5,) or (1, 5) dout for x
    (3, 5) works, (2, 5) is a ValueError. The kernel indexed dout as if it had x's size (no
    bounds checks): it read past the end of a smaller dout (garbage gradients) and silently
    accepted a (5, 3) one."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 5)).astype(F32)
    dout = rng.standard_normal(shape).astype(F32)
    with generic():
        _, cache = gelu.gelu_forward(x)
        try:
            ref = gelu.gelu_backward(dout, cache)
        except ValueError:
            ref = None
    _, cache = gelu.gelu_forward(x)
    if ref is None:
        with pytest.raises(ValueError):
            gelu.gelu_backward(dout, cache)
        return
    dx = gelu.gelu_backward(dout, cache)
    assert dx.shape == ref.shape
    _close(dx, ref, 1e-5)


@pytest.mark.parametrize("dshape", [(1, 1, 4, 4), (2, 1, 4, 1), (2, 1, 2, 4)])
def test_softmax_backward_kernel_refuses_datt_of_another_shape(dshape):
    """The kernel walks att's rows and indexes datt's without bounds checks: a datt with fewer
    rows (or shorter ones) than att was read and written past its end. The generic path raises
    a ValueError for these shapes; so must the kernel."""
    att = np.zeros((2, 1, 4, 4), F32)
    ck.causal_softmax_forward(att)
    with pytest.raises(ValueError):
        attention.softmax_backward_inplace(att, np.ones(dshape, F32))
    buf = np.full(int(np.prod(dshape)) + 64, 7.0, F32)
    d = buf[:-64].reshape(dshape)
    d[...] = 1.0
    with pytest.raises(ValueError):
        ck.softmax_backward(att, d)
    assert np.all(buf[-64:] == 7.0)


def test_adamw_kernel_takes_a_float64_flat_gradient_like_the_generic_path():
    """AdamW.step accepts any flat gradient of the model's shape; the generic update casts a
    float64 one into its float32 buffers. With the kernels on the same call raised 'CPU fused
    kernels support float32 only'."""
    cfg = GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8)
    g = np.random.default_rng(8).standard_normal(GPT(cfg, seed=3).flat.shape)      # float64
    flats = []
    for on in (True, False):
        model = GPT(cfg, seed=3)
        opt = AdamW.from_model(model, lr=3e-3, weight_decay=0.1)
        with contextlib.nullcontext() if on else generic():
            opt.step(g)
        assert model.flat.dtype == F32
        flats.append(model.flat)
    np.testing.assert_allclose(flats[0], flats[1], rtol=0, atol=3e-3 * 1e-4)


def test_layernorm_kernels_take_float64_w_and_b_like_the_generic_path():
    """A float32 x with a float64 gain and bias (np.ones(C) is float64): the generic layer norm
    casts into its float32 outputs; with the kernels on, forward and backward raised 'CPU fused
    kernels support float32 only' (the kernel is chosen by x's dtype)."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((5, 12)).astype(F32)
    dout = rng.standard_normal(x.shape).astype(F32)
    w, b = 1 + 0.1 * rng.standard_normal(12), 0.1 * rng.standard_normal(12)       # float64
    with generic():
        ref, cache = layernorm.layernorm_forward(x, w, b)
        dref = layernorm.layernorm_backward(dout, cache)
    out, cache = layernorm.layernorm_forward(x, w, b)
    dx = layernorm.layernorm_backward(dout, cache)
    assert out.dtype == ref.dtype == F32 and dx[0].dtype == dref[0].dtype == F32
    _close(out, ref, 1e-5)
    for a, r in zip(dx, dref):
        _close(a, r, 1e-4)


@pytest.mark.parametrize("layer", ["gelu", "layernorm"])
@pytest.mark.parametrize("fwd,grad", [(np.float64, F32), (F32, np.float64)])
def test_backward_with_a_dout_of_another_dtype_than_the_cache_is_the_generic_one(
        monkeypatch, layer, fwd, grad):
    """The backward picked the kernel by dout's dtype alone: a float32 dout on a float64 forward's
    cache went to the float32 kernels, which raised TypeError ('float32 only'), while the
    generic path computes it (in the dtype the generic code gives)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 8)).astype(fwd)
    dout = rng.standard_normal(x.shape).astype(grad)

    def run():
        if layer == "gelu":
            _, cache = gelu.gelu_forward(x)
            return gelu.gelu_backward(dout, cache)
        _, cache = layernorm.layernorm_forward(x, np.ones(8, fwd), np.zeros(8, fwd))
        return layernorm.layernorm_backward(dout, cache)[0]

    monkeypatch.setenv("NANOGRAD_LLM_FUSED", "1")
    got = run()
    with generic():
        ref = run()
    assert got.dtype == ref.dtype
    _close(got, ref, 1e-5)
