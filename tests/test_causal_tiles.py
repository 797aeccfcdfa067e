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


@settings(max_examples=40, deadline=None)
@given(B=st.integers(1, 3), nh=st.integers(1, 3), T=st.integers(1, 23), hs=st.integers(1, 6),
       tile=st.integers(1, 9), seed=st.integers(0, 2 ** 16))
def test_tiles_equal_dense_attention(B, nh, T, hs, tile, seed):
    rng = np.random.default_rng(seed)
    q, k, v = _qkv(rng, B, nh, T, hs)
    dy = rng.standard_normal((B, nh, T, hs))
    y_ref, c_ref = attention_forward(q, k, v)
    y, c = tiled_attention_forward(q, k, v, tile=tile)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    # the tiles hold exactly the lower-triangle blocks of the dense matrix
    np.testing.assert_allclose(c.att, c_ref.att, rtol=1e-12, atol=1e-14)
    for g, g_ref in zip(tiled_attention_backward(dy, c), attention_backward(dy, c_ref)):
        np.testing.assert_allclose(g, g_ref, rtol=1e-10, atol=1e-12)


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
