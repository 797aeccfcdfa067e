"""Each fast path in the core against the straightforward formula it replaces."""
import math

import numpy as np
import pytest

from nanograd_llm.layers import embedding as emb_mod
from nanograd_llm.layers.attention import attention_backward, attention_forward
from nanograd_llm.layers.embedding import embedding_backward, embedding_forward
from nanograd_llm.layers.gelu import gelu_backward, gelu_forward, gelu_output
from nanograd_llm.layers.mlp import mlp_backward, mlp_forward


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_embedding_one_hot_matches_add_at(dtype, monkeypatch):
    rng = np.random.default_rng(0)
    V, C = 13, 7
    idx = rng.integers(0, V, (5, 9))
    idx[0, :4] = 3                                   # repeated ids must accumulate
    w = rng.standard_normal((V, C)).astype(dtype)
    _, cache = embedding_forward(idx, w)
    dout = rng.standard_normal((5, 9, C)).astype(dtype)
    ref = np.zeros((V, C), dtype)
    np.add.at(ref, idx.reshape(-1), dout.reshape(-1, C))
    fast = embedding_backward(dout, cache)           # one-hot path (N*V small)
    assert fast.dtype == dtype
    np.testing.assert_allclose(fast, ref, rtol=1e-6 if dtype == np.float32 else 1e-13, atol=1e-6)
    # integer-valued gradients: both paths sum exactly, so the results are identical
    dint = rng.integers(-50, 50, dout.shape).astype(dtype)
    ref_i = np.zeros((V, C), dtype)
    np.add.at(ref_i, idx.reshape(-1), dint.reshape(-1, C))
    assert np.array_equal(embedding_backward(dint, cache), ref_i)
    # the scatter_add path (large vocabularies) gives the same result
    monkeypatch.setattr(emb_mod, "ONE_HOT_MAX", 0)
    assert np.array_equal(embedding_backward(dint, cache), ref_i)
    np.testing.assert_allclose(embedding_backward(dout, cache), ref, rtol=1e-6, atol=1e-6)


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def _gelu_tanh_grad(x):
    k = math.sqrt(2.0 / math.pi)
    t = np.tanh(k * (x + 0.044715 * x ** 3))
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * k * (1.0 + 3 * 0.044715 * x * x)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-14), (np.float32, 3e-7)])
def test_gelu_sigmoid_form_matches_tanh_formula(dtype, tol):
    x = np.concatenate([np.linspace(-30, 30, 2001), [-200.0, -60.0, 0.0, 1e-8, 60.0, 200.0]])
    xd = x.astype(dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):   # no warnings escape
        out, cache = gelu_forward(xd)
        dx = gelu_backward(np.ones_like(xd), cache)
    assert out.dtype == dtype and dx.dtype == dtype
    ref = _gelu_tanh(xd.astype(np.float64))
    gref = _gelu_tanh_grad(xd.astype(np.float64))
    # absolute error relative to max(1, |value|): the float32 exp/reciprocal round differently
    assert np.max(np.abs(out - ref) / np.maximum(1.0, np.abs(ref))) < 4 * tol
    assert np.max(np.abs(dx - gref) / np.maximum(1.0, np.abs(gref))) < 8 * tol
    assert np.array_equal(gelu_output(cache), out)


def test_mlp_recomputed_activation_matches_cached():
    """The MLP drops the GELU output after the forward and recomputes it: the weight gradient
    must equal the one computed from the kept output."""
    from nanograd_llm.layers.linear import linear_backward
    rng = np.random.default_rng(3)
    C = 6
    p = {"c_fc.weight": rng.standard_normal((C, 4 * C)), "c_fc.bias": rng.standard_normal(4 * C),
         "c_proj.weight": rng.standard_normal((4 * C, C)), "c_proj.bias": rng.standard_normal(C)}
    x = rng.standard_normal((2, 5, C))
    out, cache = mlp_forward(x, p)
    assert cache.c_proj.x2d is None                  # not kept
    dout = rng.standard_normal(out.shape)
    _, grads = mlp_backward(dout, cache)
    # the reference keeps the output of its own forward pass (nothing shared with the cache)
    a = gelu_forward(x @ p["c_fc.weight"] + p["c_fc.bias"])[0].reshape(-1, 4 * C)
    _, dw_ref, db_ref = linear_backward(dout, cache.c_proj._replace(x2d=a))
    np.testing.assert_allclose(grads["c_proj.weight"], a.T @ dout.reshape(-1, C), rtol=1e-12)
    np.testing.assert_allclose(grads["c_proj.weight"], dw_ref, rtol=1e-12)
    np.testing.assert_allclose(grads["c_proj.bias"], db_ref, rtol=1e-12)


def test_attention_against_dense_reference():
    rng = np.random.default_rng(4)
    B, nh, T, hs = 2, 3, 7, 4
    q, k, v = (rng.standard_normal((B, nh, T, hs)) for _ in range(3))
    y, cache = attention_forward(q, k, v)
    s = q @ k.swapaxes(-1, -2) / math.sqrt(hs)
    s = np.where(np.tril(np.ones((T, T), bool)), s, -np.inf)
    a = np.exp(s - s.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    np.testing.assert_allclose(y, a @ v, rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    dq, dk, dv = attention_backward(dy, cache)
    da = dy @ v.swapaxes(-1, -2)
    ds = a * (da - (da * a).sum(-1, keepdims=True))
    np.testing.assert_allclose(dv, a.swapaxes(-1, -2) @ dy, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dq, ds @ k / math.sqrt(hs), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dk, ds.swapaxes(-1, -2) @ q / math.sqrt(hs), rtol=1e-12, atol=1e-12)


def _run_layers(rng_seed, dtype):
    """GELU, layer norm, attention and one AdamW step on small arrays; all outputs in a list."""
    from nanograd_llm.layers.layernorm import layernorm_backward, layernorm_forward
    from nanograd_llm.models.gpt import GPT, GPTConfig
    from nanograd_llm.optim import AdamW
    rng = np.random.default_rng(rng_seed)
    f = lambda *s: rng.standard_normal(s).astype(dtype)
    outs = []
    h = f(3, 7, 20)
    y, c = gelu_forward(h)
    outs += [y, c.s, gelu_backward(f(3, 7, 20), c)]
    x, w, b = f(3, 7, 12), f(12), f(12)
    y, c = layernorm_forward(x, w, b)
    outs += [y, c.xhat, c.rstd, *layernorm_backward(f(3, 7, 12), c)]
    q, k, v = f(2, 3, 9, 4), f(2, 3, 9, 4), f(2, 3, 9, 4)
    y, c = attention_forward(q, k, v)
    outs += [y, c.att, *attention_backward(f(2, 3, 9, 4), c)]
    m = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8), dtype=dtype)
    m.grad_flat[...] = rng.standard_normal(m.grad_flat.shape)
    opt = AdamW.from_model(m, lr=0.1, weight_decay=0.1)
    opt.step()
    opt.step()
    outs += [m.flat.copy(), opt.m.copy(), opt.v.copy()]
    for o in outs:
        assert o.dtype == dtype
    return outs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_blocks_on_threads_match_one_pass(dtype, monkeypatch):
    """backend.for_row_blocks: the blocks depend on the array's shape only, so any thread count
    gives bit-identical results; and blocked results equal the one-pass results to rounding."""
    from nanograd_llm import backend
    monkeypatch.setenv("NANOGRAD_LLM_THREADS", "1")
    one_pass = _run_layers(0, dtype)
    monkeypatch.setattr(backend, "PARALLEL_MIN_ELEMS", 0)
    monkeypatch.setattr(backend, "BLOCK_ELEMS", 16)      # many small blocks, some of 1 row
    ref = _run_layers(0, dtype)                          # blocked, one thread
    monkeypatch.setenv("NANOGRAD_LLM_THREADS", "3")
    got = _run_layers(0, dtype)                          # blocked, three threads
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for a, b, c in zip(ref, got, one_pass):
        assert a.shape == b.shape and np.array_equal(a, b)
        np.testing.assert_allclose(a, c, rtol=tol, atol=tol)


def test_row_blocks_cover_rows_once_and_raise(monkeypatch):
    from nanograd_llm import backend
    monkeypatch.setenv("NANOGRAD_LLM_THREADS", "2")
    monkeypatch.setattr(backend, "PARALLEL_MIN_ELEMS", 0)
    monkeypatch.setattr(backend, "BLOCK_ELEMS", 8)
    hits = np.zeros(101, int)

    def fn(r):
        hits[r] += 1
    backend.for_row_blocks(fn, 101, 3)
    assert (hits == 1).all()

    def bad(r):
        if r.start > 50:
            raise ValueError("boom")
    with pytest.raises(ValueError, match="boom"):
        backend.for_row_blocks(bad, 101, 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mlp_gelu_recompute_is_bit_identical(dtype, monkeypatch):
    """Large activations drop GELU's s and rerun GELU's forward pass in backward: same bits."""
    from nanograd_llm.layers import mlp as mlp_mod
    rng = np.random.default_rng(5)
    C = 8
    p = {"c_fc.weight": rng.standard_normal((C, 4 * C)).astype(dtype),
         "c_fc.bias": rng.standard_normal(4 * C).astype(dtype),
         "c_proj.weight": rng.standard_normal((4 * C, C)).astype(dtype),
         "c_proj.bias": rng.standard_normal(C).astype(dtype)}
    x = rng.standard_normal((3, 5, C)).astype(dtype)
    dout = rng.standard_normal((3, 5, C)).astype(dtype)
    out_keep, c_keep = mlp_forward(x, p)
    assert c_keep.act.s is not None
    ref = mlp_backward(dout, c_keep)
    monkeypatch.setattr(mlp_mod, "GELU_RECOMPUTE_MIN", 0)
    out_re, c_re = mlp_forward(x, p)
    assert c_re.act.s is None                        # s is really dropped
    got = mlp_backward(dout, c_re)
    assert np.array_equal(out_keep, out_re)
    assert np.array_equal(ref[0], got[0])
    for k in ref[1]:
        assert np.array_equal(ref[1][k], got[1][k]), k


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layernorm_output_recompute_is_bit_identical(dtype, bias):
    from nanograd_llm.layers.layernorm import layernorm_forward, layernorm_output
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 7, 16)).astype(dtype)
    w = rng.standard_normal(16).astype(dtype)
    b = rng.standard_normal(16).astype(dtype) if bias else None
    out, cache = layernorm_forward(x, w, b)
    again = layernorm_output(cache)
    assert again.dtype == out.dtype and again.shape == out.shape
    assert np.array_equal(again, out)


def _block_params(rng, C, dtype):
    shapes = {"ln_1.weight": (C,), "ln_1.bias": (C,), "attn.c_attn.weight": (C, 3 * C),
              "attn.c_attn.bias": (3 * C,), "attn.c_proj.weight": (C, C), "attn.c_proj.bias": (C,),
              "ln_2.weight": (C,), "ln_2.bias": (C,), "mlp.c_fc.weight": (C, 4 * C),
              "mlp.c_fc.bias": (4 * C,), "mlp.c_proj.weight": (4 * C, C), "mlp.c_proj.bias": (C,)}
    return {k: (0.3 * rng.standard_normal(s)).astype(dtype) for k, s in shapes.items()}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_block_ln_output_recompute_is_bit_identical(dtype, monkeypatch):
    """Large activations: the block drops the layer norms' outputs from the linear caches and
    rebuilds them in backward; output and every gradient keep the same bits."""
    from nanograd_llm.layers import block as block_mod
    from nanograd_llm.layers.block import block_backward, block_forward
    rng = np.random.default_rng(7)
    B, T, C, nh = 2, 9, 8, 2
    p = _block_params(rng, C, dtype)
    x = rng.standard_normal((B, T, C)).astype(dtype)
    dout = rng.standard_normal((B, T, C)).astype(dtype)
    out_keep, c_keep = block_forward(x, p, nh)
    assert c_keep.attn.c_attn.x2d is not None and c_keep.mlp.c_fc.x2d is not None
    ref_dx, ref_g = block_backward(dout, c_keep)
    monkeypatch.setattr(block_mod, "LN_RECOMPUTE_MIN", 0)
    out_drop, c_drop = block_forward(x, p, nh)
    assert c_drop.attn.c_attn.x2d is None and c_drop.mlp.c_fc.x2d is None   # really dropped
    dx, g = block_backward(dout, c_drop)
    assert np.array_equal(out_keep, out_drop)
    assert np.array_equal(ref_dx, dx)
    assert set(g) == set(ref_g)
    for k in ref_g:
        assert g[k].dtype == dtype
        assert np.array_equal(ref_g[k], g[k]), k


def test_block_gradcheck_with_dropped_ln_outputs(monkeypatch):
    """Finite differences (float64) through the path that recomputes the layer norm outputs
    and GELU's s in backward."""
    from nanograd_llm.gradcheck import TOLERANCE, check_case, layer_case
    from nanograd_llm.layers import block as block_mod
    from nanograd_llm.layers import mlp as mlp_mod
    monkeypatch.setattr(block_mod, "LN_RECOMPUTE_MIN", 0)
    monkeypatch.setattr(mlp_mod, "GELU_RECOMPUTE_MIN", 0)
    r = check_case("block", *layer_case("block", np.random.default_rng(2)))
    assert r.max_rel_error <= TOLERANCE, r


def test_gpt_step_same_bits_with_every_recompute_path(monkeypatch):
    """A whole GPT forward+backward (with dropout) gives the same loss and gradients whether the
    blocks keep or recompute their layer norm outputs and GELU's s."""
    from nanograd_llm.layers import block as block_mod
    from nanograd_llm.layers import mlp as mlp_mod
    from nanograd_llm.models.gpt import GPT, GPTConfig
    cfg = GPTConfig(vocab_size=11, block_size=16, n_layer=2, n_head=2, n_embd=16, dropout=0.1)
    rng = np.random.default_rng(4)
    idx = rng.integers(0, 11, size=(4, 16))
    tgt = rng.integers(0, 11, size=(4, 16))

    def run():
        m = GPT(cfg, seed=3)
        m.set_dropout_seed(5)
        _, loss = m.forward(idx, tgt)
        return float(loss), {k: v.copy() for k, v in m.backward().items()}
    ref_loss, ref_g = run()
    monkeypatch.setattr(block_mod, "LN_RECOMPUTE_MIN", 0)
    monkeypatch.setattr(mlp_mod, "GELU_RECOMPUTE_MIN", 0)
    loss, g = run()
    assert loss == ref_loss
    for k in ref_g:
        assert np.array_equal(ref_g[k], g[k]), k


_FAULTS = """
import resource, sys
import numpy as np
from nanograd_llm.models.gpt import GPT, GPTConfig
from nanograd_llm.models.base import tune_host_allocator
GPT(GPTConfig(vocab_size=8, block_size=4, n_layer=1, n_head=1, n_embd=4))


def touch():
    a = np.empty(64 * 2 ** 20 // 4, np.float32)   # 64 MiB: above glibc's largest mmap threshold
    a.fill(1.0)
    assert a[:: 4096].sum() == a.size // 4096


touch()
r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
touch()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0, tune_host_allocator())
"""


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="glibc only")
def test_allocator_tuning_reuses_freed_memory_without_page_faults():
    """After a model is built, a freed 64 MiB array is reused on the next step without page
    faults; with NANOGRAD_LLM_MALLOC_TUNING=0 the same allocation faults every page back in."""
    import os
    import subprocess
    import sys

    def faults(tuning):
        env = dict(os.environ, NANOGRAD_LLM_MALLOC_TUNING=tuning)
        out = subprocess.run([sys.executable, "-c", _FAULTS], env=env, capture_output=True,
                             text=True, check=True).stdout.split()
        return int(out[0]), out[1] == "True"

    tuned, applied = faults("1")
    if not applied:
        pytest.skip("mallopt is not available (not glibc)")
    untuned, applied_off = faults("0")
    assert not applied_off
    assert tuned <= 8, tuned                       # memory came back from the heap
    assert untuned >= 16, untuned                   # ≥ 32 huge pages or 16 384 small ones


@pytest.mark.parametrize("limit_offset, scatter", [(0, False), (-1, True)])
def test_embedding_backward_takes_scatter_add_only_above_one_hot_max(limit_offset, scatter,
                                                                      monkeypatch):
    """The one-hot product builds an (N, V) matrix: it is taken up to N·V = ONE_HOT_MAX and
    scatter_add above it. A reversed comparison (`>=`) gave the same gradients (both paths are
    right), so every other test passed, but built the (N, V) matrix exactly for the large
    vocabularies it is kept away from (GPT-2: 50 257 columns per position)."""
    rng = np.random.default_rng(3)
    V, C = 11, 4
    idx = rng.integers(0, V, (3, 5))
    w = rng.standard_normal((V, C))
    _, cache = embedding_forward(idx, w)
    dout = rng.standard_normal((3, 5, C))
    calls = []
    real = emb_mod.scatter_add
    monkeypatch.setattr(emb_mod, "scatter_add", lambda *a: (calls.append(1), real(*a)))
    monkeypatch.setattr(emb_mod, "ONE_HOT_MAX", idx.size * V + limit_offset)
    ref = np.zeros((V, C))
    np.add.at(ref, idx.reshape(-1), dout.reshape(-1, C))
    np.testing.assert_allclose(embedding_backward(dout, cache), ref, rtol=1e-13, atol=1e-13)
    assert bool(calls) == scatter
