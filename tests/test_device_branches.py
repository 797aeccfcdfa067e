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
