"""Layer norm of rows whose variance overflows float32: shared by the CPU and GPU tests."""
import warnings

import numpy as np

from nanograd_llm.backend import to_numpy

C = 96
# Row scales: ordinary rows, rows where (x − μ)² or its sum overflows float32 (|x| ≳ 1.8e19)
# up to values near float32's largest, and a tiny row (its variance underflows towards 0)
SCALES = [1.0, 2.0 ** 70, 3.0, 2.0 ** 100, 2.0 ** 124, 1e-30, 1e25]


def _reference(x, w, b, dout, eps=1e-5):
    """Float64 layer norm and its dx (float64 does not overflow at these sizes)."""
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = (x - mu) * rstd
    g = dout * w
    dx = rstd * (g - g.mean(-1, keepdims=True) - xhat * (g * xhat).mean(-1, keepdims=True))
    return xhat * w + b, xhat, rstd, dx


def check_extreme_rows(xp, layernorm_forward, layernorm_backward):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((len(SCALES), C))
    x = (z * np.array(SCALES)[:, None]).astype(np.float32)
    w = rng.standard_normal(C).astype(np.float32)
    b = rng.standard_normal(C).astype(np.float32)
    dout = rng.standard_normal(x.shape).astype(np.float32)
    ref_out, ref_xhat, ref_rstd, ref_dx = _reference(*(a.astype(np.float64) for a in (x, w, b, dout)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")              # no overflow warnings either
        out, cache = layernorm_forward(xp.asarray(x), xp.asarray(w), xp.asarray(b))
        dx, dw, db = layernorm_backward(xp.asarray(dout), cache)
    out, xhat, rstd, dx = (to_numpy(a) for a in (out, cache.xhat, cache.rstd, dx))
    np.testing.assert_allclose(xhat, ref_xhat, atol=2e-5)
    np.testing.assert_allclose(out, ref_out, atol=1e-4)
    np.testing.assert_allclose(rstd, ref_rstd, rtol=1e-5)
    # dx scales as rstd: compared row by row relative to the row's largest |dx|
    scale = np.abs(ref_dx).max(-1, keepdims=True)
    np.testing.assert_allclose(dx / scale, ref_dx / scale, atol=1e-4)
    assert np.isfinite(to_numpy(dw)).all() and np.isfinite(to_numpy(db)).all()

    # the ordinary rows take the ordinary path: bit for bit what they give in a batch of the
    # same shape without overflowing rows (the shape, since BLAS's row sums may depend on it)
    normal = np.array([abs(s) < 1e15 for s in SCALES])
    x_ok = x.copy()
    x_ok[~normal] = z[~normal].astype(np.float32)
    ok, c_ok = layernorm_forward(xp.asarray(x_ok), xp.asarray(w), xp.asarray(b))
    assert np.array_equal(to_numpy(ok)[normal], out[normal])
    assert np.array_equal(to_numpy(c_ok.rstd)[normal], rstd[normal])

    # a row holding inf gives NaN (as torch does); the other rows are unaffected
    x_inf = x.copy()
    x_inf[1, 5] = np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")             # inf − inf is a genuine invalid operation
        out_inf, _ = layernorm_forward(xp.asarray(x_inf), xp.asarray(w), xp.asarray(b))
    out_inf = to_numpy(out_inf)
    assert np.isnan(out_inf[1]).all()
    assert np.array_equal(np.delete(out_inf, 1, 0), np.delete(out, 1, 0))
