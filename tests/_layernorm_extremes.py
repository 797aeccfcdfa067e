"""Layer norm of rows whose variance overflows float32, of constant rows and of rows with a large
common offset: shared by the CPU and GPU tests."""
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


# Constant-row values: zero, tiny, ordinary, large, and up to near the dtype's largest
LN_CONSTANTS = {np.float32: [0.0, 1e-30, 0.1, -7.3, 1000.1, 1e6 + 0.5, 3.3e7, -1e30, -2.5e38,
                             3.4e38],
                np.float64: [0.0, 1e-300, 0.1, -7.3, 1000.1, 1e6 + 0.1, 1e30, -1e200, 1.7e308]}


def check_constant_rows(xp, dtype, layernorm_forward, layernorm_backward):
    """Constant rows (from 1e-30 up to near the dtype's largest): x̂ exactly 0, out exactly b,
    rstd = 1/√ε, dx = rstd·(dx̂ − mean(dx̂)), and no warning."""
    rng = np.random.default_rng(0)
    top = 38 if dtype == np.float32 else 307
    vals = np.concatenate([LN_CONSTANTS[dtype], rng.uniform(-10, 10, 100),
                           10.0 ** rng.uniform(-30, top, 200) * rng.choice([-1, 1], 200)])
    x = np.repeat(vals.astype(dtype)[:, None], C, axis=1)                  # (rows, C)
    w, b, dout = (rng.standard_normal(s).astype(dtype) for s in (C, C, x.shape))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, cache = layernorm_forward(xp.asarray(x), xp.asarray(w), xp.asarray(b))
        dx, dw, db = layernorm_backward(xp.asarray(dout), cache)
    out, xhat, rstd, dx = (to_numpy(a) for a in (out, cache.xhat, cache.rstd, dx))
    assert np.array_equal(xhat, np.zeros_like(x))
    assert np.array_equal(out, np.broadcast_to(b, x.shape))
    np.testing.assert_allclose(rstd, 1 / np.sqrt(1e-5), rtol=1e-6)
    # x̂ = 0: dx = rstd·(dx̂ − mean(dx̂)), dx̂ = dout⊙w
    g = dout.astype(np.float64) * w
    np.testing.assert_allclose(dx, (g - g.mean(-1, keepdims=True)) / np.sqrt(1e-5),
                               rtol=1e-4, atol=1e-3 if dtype == np.float32 else 1e-9)


def exact_xhat(x, eps=1e-5):
    """x̂ of each row from exact rational μ and σ² (only √ and the last products rounded)."""
    from fractions import Fraction
    rows = []
    for row in x:
        f = [Fraction(float(v)) for v in row]
        mu = sum(f) / len(f)
        var = sum((v - mu) ** 2 for v in f) / len(f)
        r = 1.0 / np.sqrt(float(var + Fraction(eps)))
        rows.append([float(v - mu) * r for v in f])
    return np.array(rows)


def check_offset_rows(xp, dtype, layernorm_forward):
    """Rows with a common offset far above their spread: x̂ within the dtype's precision of the
    exact x̂ (the float32 1e38 rows take the branch for overflowing variances)."""
    rng = np.random.default_rng(0)
    offsets = [(1000.0, 1e-2), (-3e20, 1e13), (1e8, 1e-4)]
    if dtype == np.float32:
        offsets.append((1e38, 1e33))                        # (x − μ)² overflows float32
    x = np.concatenate([m + s * rng.standard_normal((8, C)) for m, s in offsets]).astype(dtype)
    _, cache = layernorm_forward(xp.asarray(x), xp.asarray(np.ones(C, dtype)))
    tol = 2e-6 if dtype == np.float32 else 1e-14
    assert np.abs(to_numpy(cache.xhat) - exact_xhat(x)).max() < tol
