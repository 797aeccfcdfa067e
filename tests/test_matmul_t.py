"""backend.matmul_t (products with transpose flags) and gemm_plan (its cuBLAS arguments).

gemm_plan is checked against a NumPy model of cuBLAS's column-major strided-batched GEMM that
reads the operands from their flat memory exactly as cuBLAS would, so the index arithmetic
the GPU path depends on is tested on any machine.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanograd_llm.backend import gemm_plan, matmul_t


def _cublas_strided_batched(plan, A_flat, B_flat):
    """C = op(A)·op(B) per batch, everything column-major with the plan's ld and strides."""
    M, N, K = plan["m"], plan["n"], plan["k"]
    C = np.zeros(plan["stride_c"] * plan["batch"])
    for i in range(plan["batch"]):
        def mat(flat, off, ld, rows, cols, trans):
            # the stored column-major matrix is (ld × cols_stored); op picks rows × cols
            r_st, c_st = (cols, rows) if trans else (rows, cols)
            stored = np.empty((r_st, c_st))
            for c in range(c_st):
                stored[:, c] = flat[off + c * ld: off + c * ld + r_st]
            return stored.T if trans else stored
        a = mat(A_flat, i * plan["stride_a"], plan["lda"], M, K, plan["transa"])
        b = mat(B_flat, i * plan["stride_b"], plan["ldb"], K, N, plan["transb"])
        c = a @ b                                              # (M, N) column-major
        for col in range(N):
            C[i * plan["stride_c"] + col * plan["ldc"]: i * plan["stride_c"] + col * plan["ldc"] + M] = c[:, col]
    return C


def _reference(a, b, ta, tb):
    return (a.swapaxes(-1, -2) if ta else a) @ (b.swapaxes(-1, -2) if tb else b)


@settings(max_examples=60, deadline=None)
@given(batch=st.sampled_from([(), (2,), (2, 3)]), m=st.integers(1, 5), n=st.integers(1, 5),
       k=st.integers(1, 5), ta=st.booleans(), tb=st.booleans(), seed=st.integers(0, 99))
def test_gemm_plan_matches_a_column_major_model(batch, m, n, k, ta, tb, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(batch + ((k, m) if ta else (m, k)))
    b = rng.standard_normal(batch + ((n, k) if tb else (k, n)))
    plan = gemm_plan(a.shape, b.shape, ta, tb)
    # our b is cuBLAS's first operand, our a its second
    got = _cublas_strided_batched(plan, b.reshape(-1), a.reshape(-1))
    want = _reference(a, b, ta, tb)
    assert plan["out_shape"] == want.shape
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("a_shape,b_shape,shape", [((4,), (4, 3), (3,)), ((3, 4), (4,), (3,))])
def test_gemm_plan_vectors(a_shape, b_shape, shape):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    plan = gemm_plan(a.shape, b.shape, False, False)
    got = _cublas_strided_batched(plan, b.reshape(-1), a.reshape(-1))
    np.testing.assert_allclose(got.reshape(shape), a @ b, rtol=1e-12)
    assert plan["out_shape"] == shape


def test_gemm_plan_errors():
    with pytest.raises(ValueError, match="do not align"):
        gemm_plan((2, 3), (2, 3), False, False)
    with pytest.raises(ValueError, match="batch shapes"):
        gemm_plan((2, 3, 4), (3, 4, 5), False, False)
    with pytest.raises(ValueError, match="1-D"):
        gemm_plan((3,), (3, 2), True, False)


@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_matmul_t_on_the_cpu(ta, tb):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((2, 3, 5, 4) if ta else (2, 3, 4, 5))
    b = rng.standard_normal((2, 3, 6, 5) if tb else (2, 3, 5, 6))
    np.testing.assert_allclose(matmul_t(a, b, ta, tb), _reference(a, b, ta, tb), rtol=1e-13)
    np.testing.assert_allclose(matmul_t(a, b, ta, tb, alpha=0.5),
                               0.5 * _reference(a, b, ta, tb), rtol=1e-13)
    out = np.empty((2, 3, 4, 6))
    assert matmul_t(a, b, ta, tb, out=out) is out
    np.testing.assert_allclose(out, _reference(a, b, ta, tb), rtol=1e-13)


def test_row_major_reads_transposed_views_without_copies():
    from nanograd_llm.backend import row_major
    rng = np.random.default_rng(2)
    w = rng.standard_normal((5, 3))
    for x, trans in [(w, False), (w.T, False), (w.T, True), (w[:, ::2], False),
                     (rng.standard_normal((2, 4, 3)).swapaxes(-1, -2), True)]:
        y, t = row_major(x, trans, np)
        assert y.flags.c_contiguous
        op = lambda a, f: a.swapaxes(-1, -2) if f else a
        np.testing.assert_array_equal(op(y, t), op(x, trans))
    y, t = row_major(w.T, False, np)
    assert np.shares_memory(y, w) and t is True          # the transpose is a flag, not a copy


def test_matmul_t_rejects_transposed_vectors():
    with pytest.raises(ValueError, match="1-D"):
        matmul_t(np.ones(3), np.ones((3, 2)), trans_a=True)
