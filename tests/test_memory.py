"""Peak memory of the big paths, measured with tracemalloc (NumPy reports its arrays to it).

The bounds are in units of the arrays that dominate each path (a (B, T, V) logits-sized array,
the parameters' size) with a wide margin: they catch a whole extra copy, not a few percent."""
import gc
import tracemalloc

import numpy as np
import pytest

from nanograd_llm.layers.cross_entropy import cross_entropy_backward, cross_entropy_forward


def peak_bytes(fn):
    """(result, the most bytes fn held at once beyond what was allocated before)."""
    gc.collect()
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_cross_entropy_forward_allocates_one_logits_sized_array():
    """The forward kept the shifted logits and the probabilities as two (N, V) arrays; exp now
    overwrites the shifted logits, which become the saved probabilities."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((4, 64, 4096)).astype(np.float32)
    t = rng.integers(0, 4096, (4, 64))
    (loss, cache), peak = peak_bytes(lambda: cross_entropy_forward(z, t))
    assert peak < 1.5 * z.nbytes, peak / z.nbytes
    # the same numbers as the two-array computation
    shifted = z.reshape(-1, 4096) - z.reshape(-1, 4096).max(axis=1, keepdims=True)
    e = np.exp(shifted)
    s = e.sum(axis=1)
    assert np.array_equal(cache.probs, e / s[:, None])
    nll = np.log(s) - shifted[np.arange(256), t.reshape(-1)]
    assert loss == nll.sum() / np.float32(256)


def test_cross_entropy_backward_can_reuse_the_probabilities():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((4, 64, 4096)).astype(np.float32)
    t = rng.integers(0, 4096, (4, 64))
    t[0, :5] = -1
    _, cache = cross_entropy_forward(z, t, ignore_index=-1)
    want = cross_entropy_backward(0.7, cache)             # a copy: the cache is left as it was
    assert not np.array_equal(want, cache.probs.reshape(want.shape))
    dz, peak = peak_bytes(lambda: cross_entropy_backward(0.7, cache, reuse_probs=True))
    assert peak < 0.5 * z.nbytes, peak / z.nbytes
    assert np.shares_memory(dz, cache.probs) and np.array_equal(dz, want)
