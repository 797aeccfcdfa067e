"""Causal attention by query tiles (layers/causal_tiles.py) against the dense layer."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from nanograd_llm.gradcheck import TOLERANCE, check_case, check_layer
from nanograd_llm.layers import causal_tiles
from nanograd_llm.layers.attention import attention_backward, attention_forward
from nanograd_llm.layers.causal_tiles import (tile_bounds, tile_rows, tiled_attention_backward,
                                              tiled_attention_forward, use_causal_tiles)
from nanograd_llm.layers.multihead_attention import mha_backward, mha_forward


def _qkv(rng, B, nh, T, hs, dtype=np.float64):
    return [rng.standard_normal((B, nh, T, hs)).astype(dtype) for _ in range(3)]


def test_causal_tiles_gradcheck():
    r = check_layer("causal_tiles", seed=0)
    assert r.max_rel_error <= TOLERANCE, r


def test_tile_bounds_cover_the_rows_once():
    assert tile_bounds(5, 2) == ((0, 2), (2, 4), (4, 5))
    assert tile_bounds(3, 8) == ((0, 3),)
    assert [tile_rows(T) for T in (16, 64, 256, 1024, 4096)] == [64, 64, 64, 128, 128]
    assert tile_bounds(256) == ((0, 64), (64, 128), (128, 192), (192, 256))
    assert use_causal_tiles(128, 128, np) and use_causal_tiles(1024, 1024, np)
    assert not use_causal_tiles(127, 127, np)                # one tile: nothing to skip
    assert not use_causal_tiles(1, 256, np)                  # KV cache: Tq < Tk
    # a KV cache holding more keys than a long prompt's queries: two tiles' worth of queries,
    # but Tq != Tk (a check of `Tq >= 2 * tile` alone said yes)
    assert not use_causal_tiles(256, 300, np)


@settings(max_examples=40, deadline=None)
@given(B=st.integers(1, 3), nh=st.integers(1, 3), T=st.integers(1, 23), hs=st.integers(1, 6),
       tile=st.integers(1, 9), chunk=st.one_of(st.none(), st.integers(1, 4)),
       seed=st.integers(0, 2 ** 16))
def test_tiles_equal_dense_attention(B, nh, T, hs, tile, chunk, seed):
    rng = np.random.default_rng(seed)
    q, k, v = _qkv(rng, B, nh, T, hs)
    dy = rng.standard_normal((B, nh, T, hs))
    y_ref, c_ref = attention_forward(q, k, v)
    y, c = tiled_attention_forward(q, k, v, tile=tile, chunk=chunk)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    # the tiles hold exactly the lower-triangle blocks of the dense matrix
    np.testing.assert_allclose(c.att, c_ref.att, rtol=1e-12, atol=1e-14)
    for g, g_ref in zip(tiled_attention_backward(dy, c), attention_backward(dy, c_ref)):
        np.testing.assert_allclose(g, g_ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dropout", [0.0, 0.25])
def test_batch_chunks_give_bit_identical_results(dtype, dropout):
    """Working a chunk of batch elements at a time (cache-sized scores) changes the order of
    the work, not a single number: outputs, gradients and dropout masks are the same for every
    chunk size, the masks coming from one draw per tile as before."""
    rng = np.random.default_rng(8)
    q, k, v = _qkv(rng, 5, 2, 130, 4, dtype)              # tiles of 64, 64, 2
    dy = rng.standard_normal(q.shape).astype(dtype)
    runs = []
    for chunk in (5, None, 1, 2, 3):
        y, c = tiled_attention_forward(q, k, v, dropout, np.random.default_rng(3), True,
                                       chunk=chunk)
        runs.append((y, c, tiled_attention_backward(dy, c)))
    y0, c0, g0 = runs[0]
    assert c0.chunk == 5 and runs[2][1].chunk == 1
    for y, c, g in runs[1:]:
        assert np.array_equal(y, y0)
        assert all(np.array_equal(a, b) for a, b in zip(c.tiles, c0.tiles))
        assert all(np.array_equal(a, b) for a, b in zip(g, g0))
        if dropout:
            assert all(np.array_equal(a.scale, b.scale) for a, b in zip(c.drops, c0.drops))
    # the masks are the draws the per-tile code made: one rng.random call per tile, in order
    if dropout:
        gen = np.random.default_rng(3)
        for d, a in zip(c0.drops, c0.tiles):
            keep = gen.random(a.shape, dtype=dtype) >= dropout
            assert np.array_equal(d.scale != 0, keep)


def test_batch_chunk_size():
    # shakespeare's part: nh=6, T=256, tiles of 64 rows, float32 → 393 KB per element: 2
    assert causal_tiles.batch_chunk(32, 6, 256, 4) == 2
    assert causal_tiles.batch_chunk(32, 6, 256, 8) == 1               # float64
    assert causal_tiles.batch_chunk(1, 6, 256, 4) == 1                # never more than B
    assert causal_tiles.batch_chunk(64, 12, 2048, 4) == 1             # never less than one
    assert causal_tiles.batch_chunk(64, 1, 128, 4, tile=8) == 64
    with pytest.raises(ValueError, match="chunk"):
        tiled_attention_forward(*_qkv(np.random.default_rng(0), 2, 1, 8, 2), tile=4, chunk=0)


def test_tiles_float32_and_out_argument():
    rng = np.random.default_rng(3)
    q, k, v = _qkv(rng, 2, 3, 37, 8, np.float32)
    dy = rng.standard_normal(q.shape).astype(np.float32)
    y_ref, c_ref = attention_forward(q, k, v)
    y, c = tiled_attention_forward(q, k, v, tile=8)
    assert y.dtype == np.float32 and all(a.dtype == np.float32 for a in c.tiles)
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-6)
    out = np.full((3,) + q.shape, np.nan, np.float32)     # every element must be written
    grads = tiled_attention_backward(dy, c, out=out)
    assert all(np.shares_memory(g, out) for g in grads)
    for g, g_ref in zip(out, attention_backward(dy, c_ref)):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, g_ref, rtol=1e-4, atol=1e-5)


def test_tiles_with_dropout_gradcheck():
    """Dropout masks are drawn per tile; with the same generator state the forward is a fixed
    function, and its backward matches finite differences."""
    rng = np.random.default_rng(4)
    q, k, v = _qkv(rng, 2, 2, 7, 3)
    R = rng.standard_normal(q.shape)
    inp = {"q": q, "k": k, "v": v}

    def fwd():
        return tiled_attention_forward(inp["q"], inp["k"], inp["v"], dropout=0.3,
                                       rng=np.random.default_rng(11), train=True, tile=3)

    def grads():
        dq, dk, dv = tiled_attention_backward(R, fwd()[1])
        return {"q": dq, "k": dk, "v": dv}

    y, c = fwd()
    assert any(d.scale is not None and (d.scale == 0).any() for d in c.drops)
    r = check_case("tiles+dropout", inp, lambda: float((fwd()[0] * R).sum()), grads)
    assert r.max_rel_error <= TOLERANCE, r


def test_mha_takes_the_tiled_path_and_matches_the_dense_one(monkeypatch):
    rng = np.random.default_rng(5)
    B, T, C, nh = 2, 133, 12, 3                              # tiles of 64, 64, 5
    x = rng.standard_normal((B, T, C))
    p = {"c_attn.weight": rng.standard_normal((C, 3 * C)) * 0.3,
         "c_attn.bias": rng.standard_normal(3 * C) * 0.1,
         "c_proj.weight": rng.standard_normal((C, C)) * 0.3,
         "c_proj.bias": rng.standard_normal(C) * 0.1}
    dout = rng.standard_normal((B, T, C))
    out, cache = mha_forward(x, p, nh)
    assert isinstance(cache.attn, causal_tiles.TiledAttentionCache)
    dx, g = mha_backward(dout, cache)
    import nanograd_llm.layers.multihead_attention as mha_mod
    monkeypatch.setattr(mha_mod, "use_causal_tiles", lambda *a, **k: False)
    out_ref, cache_ref = mha_forward(x, p, nh)
    assert not isinstance(cache_ref.attn, causal_tiles.TiledAttentionCache)
    dx_ref, g_ref = mha_backward(dout, cache_ref)
    np.testing.assert_allclose(out, out_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-10, atol=1e-12)
    for name in g_ref:
        np.testing.assert_allclose(g[name], g_ref[name], rtol=1e-10, atol=1e-12)


def test_tiled_attention_refuses_a_kv_cache_shape():
    rng = np.random.default_rng(6)
    q = rng.standard_normal((1, 1, 2, 4))
    k = rng.standard_normal((1, 1, 5, 4))
    with pytest.raises(ValueError, match="as many keys as queries"):
        tiled_attention_forward(q, k, k)


def test_in_place_softmax_helpers_refuse_strided_arrays():
    """Working in place on a strided array would silently write into a reshaped copy."""
    from nanograd_llm.layers.attention import causal_softmax_inplace, softmax_backward_inplace
    a = np.zeros((2, 4, 4))
    with pytest.raises(ValueError, match="C-contiguous"):
        causal_softmax_inplace(a.swapaxes(-1, -2))
    with pytest.raises(ValueError, match="C-contiguous"):
        softmax_backward_inplace(a, a.swapaxes(-1, -2))


def _strided_qkv(rng, B, nh, T, hs, dtype):
    """q, k, v as the CPU's multi-head attention passes them: views of one (B, T, 3C) array."""
    qkv = rng.standard_normal((B, T, 3 * nh * hs)).astype(dtype)
    v5 = qkv.reshape(B, T, 3, nh, hs).transpose(2, 0, 3, 1, 4)                  # (3,B,nh,T,hs)
    return v5[0], v5[1], v5[2]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("tiled", [False, True])
def test_strided_views_and_out_views_give_the_same_results(dtype, tiled):
    """Strided q, k, v and `out` views (the CPU layout of multihead_attention) compute what
    contiguous copies compute."""
    rng = np.random.default_rng(7)
    B, nh, T, hs = 2, 3, 133, 8
    q, k, v = _strided_qkv(rng, B, nh, T, hs, dtype)
    assert not q.flags.c_contiguous
    dy_bthd = rng.standard_normal((B, T, nh, hs)).astype(dtype)
    fwd, bwd = ((tiled_attention_forward, tiled_attention_backward) if tiled
                else (attention_forward, attention_backward))
    y_ref, c_ref = fwd(*(np.ascontiguousarray(a) for a in (q, k, v)))
    g_ref = bwd(np.ascontiguousarray(dy_bthd.transpose(0, 2, 1, 3)), c_ref)
    y_bthd = np.full((B, T, nh, hs), np.nan, dtype)          # every element must be written
    y, c = fwd(q, k, v, out=y_bthd.transpose(0, 2, 1, 3))
    assert np.shares_memory(y, y_bthd)
    dqkv = np.full((B, T, 3 * nh * hs), np.nan, dtype)
    out = dqkv.reshape(B, T, 3, nh, hs).transpose(2, 0, 3, 1, 4)
    grads = bwd(dy_bthd.transpose(0, 2, 1, 3), c, out=out)
    assert not np.isnan(y_bthd).any() and not np.isnan(dqkv).any()
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(y, y_ref, **tol)
    for g, gr in zip(grads, g_ref):
        assert np.shares_memory(g, dqkv)
        np.testing.assert_allclose(g, gr, **tol)


def test_tiled_attention_refuses_a_wrong_out_shape():
    rng = np.random.default_rng(8)
    q, k, v = _qkv(rng, 1, 2, 9, 4)
    with pytest.raises(ValueError, match="out has shape"):
        tiled_attention_forward(q, k, v, tile=4, out=np.empty((1, 2, 8, 4)))


def test_mha_on_the_cpu_keeps_q_k_v_as_views_of_qkv():
    """No head-major copies on the CPU: q, k, v in the cache are strided views of c_attn's
    output, and the output and gradients equal a contiguous computation."""
    from nanograd_llm.layers.linear import linear_forward
    rng = np.random.default_rng(9)
    B, T, C, nh = 2, 130, 12, 3
    x = rng.standard_normal((B, T, C))
    p = {"c_attn.weight": rng.standard_normal((C, 3 * C)) * 0.3,
         "c_attn.bias": rng.standard_normal(3 * C) * 0.1,
         "c_proj.weight": rng.standard_normal((C, C)) * 0.3,
         "c_proj.bias": rng.standard_normal(C) * 0.1}
    out, cache = mha_forward(x, p, nh)
    q, k = cache.attn.q, cache.attn.k
    assert q.strides[-2] == 3 * C * q.itemsize and np.may_share_memory(q, k)   # one buffer
    # the same forward with contiguous head-major copies
    qkv, _ = linear_forward(x, p["c_attn.weight"], p["c_attn.bias"])
    heads = np.ascontiguousarray(qkv.reshape(B, T, 3, nh, C // nh).transpose(2, 0, 3, 1, 4))
    y, _ = tiled_attention_forward(heads[0], heads[1], heads[2])
    ref = y.transpose(0, 2, 1, 3).reshape(B, T, C) @ p["c_proj.weight"] + p["c_proj.bias"]
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    # and the gradients: backward through the contiguous copies, by hand
    dout = rng.standard_normal(out.shape)
    dx, grads = mha_backward(dout, cache)
    y_m = y.transpose(0, 2, 1, 3).reshape(B, T, C)
    _, ycache = tiled_attention_forward(heads[0], heads[1], heads[2])
    dy = (dout.reshape(-1, C) @ p["c_proj.weight"].T).reshape(B, T, nh, C // nh)
    dq, dk, dv = tiled_attention_backward(np.ascontiguousarray(dy.transpose(0, 2, 1, 3)), ycache)
    dqkv = np.stack([dq, dk, dv]).transpose(1, 3, 0, 2, 4).reshape(B, T, 3 * C)
    np.testing.assert_allclose(grads["c_proj.weight"],
                               y_m.reshape(-1, C).T @ dout.reshape(-1, C), rtol=1e-11)
    np.testing.assert_allclose(grads["c_proj.bias"], dout.sum((0, 1)), rtol=1e-11)
    np.testing.assert_allclose(grads["c_attn.weight"],
                               x.reshape(-1, C).T @ dqkv.reshape(-1, 3 * C), rtol=1e-11)
    np.testing.assert_allclose(grads["c_attn.bias"], dqkv.sum((0, 1)), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(dx, dqkv @ p["c_attn.weight"].T, rtol=1e-11, atol=1e-12)
