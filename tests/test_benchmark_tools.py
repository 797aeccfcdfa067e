"""Helpers of the hand-run benchmark scripts that later sessions rely on (no GPU needed)."""
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def gpu_profile():
    sys.path.insert(0, str(BENCH))
    try:
        import gpu_profile
        yield gpu_profile
    finally:
        sys.path.remove(str(BENCH))


# kernel names as CUDA reported them in the session-12 profile (H200), with their kinds
KERNELS = [
    ("sm80_xmma_gemm_f32f32_f32f32_f32_tn_n_tilesize128x64x8_stage3", "matrix products"),
    ("void cutlass::Kernel2<cutlass_80_simt_sgemm_256x128_8x4_nn_align1>", "matrix products"),
    ("std::enable_if<!(false), void>::type internal::gemvx::kernel<int, int, float>",
     "matrix products"),
    ("fmha_cutlassB_f32_aligned_64x64_k64_sm80(PyTorchMemEffAttention::AttentionBackwardKernel",
     "fused attention"),
    ("causal_softmax_fwd_f32", "softmax"),
    ("softmax_bwd_f32", "softmax"),
    ("nanograd_gelu_fwd", "GELU"),
    ("void at::native::vectorized_elementwise_kernel<4, at::native::GeluBackwardCUDAKernelImpl",
     "GELU"),
    ("void at::native::(anonymous namespace)::GammaBetaBackwardCUDAKernelTemplate<float>",
     "layer norm"),
    ("void at::native::(anonymous namespace)::vectorized_layer_norm_kernel<float, float>",
     "layer norm"),
    ("cupy_add__float32_float32_float32", "adds"),
    ("void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<float>",
     "adds"),
    ("cupy_copy__float32_float32", "copies"),
    ("void at::native::(anonymous namespace)::CatArrayBatchedCopy_vectorized", "copies"),
    ("void at::native::reduce_kernel<128, 4, at::native::ReduceOp<float>", "reductions"),
    ("nanograd_adamw", "AdamW"),
    ("cupy_scatter_add_float32", "adds"),            # not a copy: "scatter" holds "cat"
    ("cupy_multiply__float32_float32_float32", "other"),
]


@pytest.mark.parametrize("name,kind", KERNELS)
def test_kernel_kinds(gpu_profile, name, kind):
    assert gpu_profile.kernel_kind(name) == kind


def test_kind_sums_add_every_kernel_once_in_kind_order(gpu_profile):
    times = {name: float(i + 1) for i, (name, _) in enumerate(KERNELS)}
    sums = gpu_profile.kind_sums(times)
    assert sum(sums.values()) == pytest.approx(sum(times.values()))
    order = [k for k, _ in gpu_profile.KINDS] + ["other"]
    assert list(sums) == [k for k in order if k in sums]
    assert sums["softmax"] == pytest.approx(5.0 + 6.0)
