"""The CUDA C in cuda_kernels.py compiles (nvcc -ptx), checked without a GPU.

CuPy compiles these sources only on a machine with a GPU, at the first call; a syntax or type
error there would surface in the middle of a GPU run. Where `nvcc` is installed (the CUDA
toolkit, no GPU needed), this test compiles them ahead of time:

* the RawModule sources (`_SOFTMAX`, `_LAYERNORM`) as they are, as CuPy hands them to NVRTC;
* each ElementwiseKernel's operation inside a kernel shaped like the one CuPy generates
  (inputs as `const T name`, outputs as `T &name`, one element per loop step), for float and
  double.

Compiling proves neither speed nor results; the equality tests in test_gpu.py do that on a GPU.
"""
import importlib.util
import os
import shutil
import subprocess
import sys
import types

import pytest

from nanograd_llm import backend

NVCC = shutil.which("nvcc")
pytestmark = pytest.mark.skipif(NVCC is None, reason="needs nvcc (the CUDA toolkit)")

# Hopper (H100/H200), the GPUs the project is measured on.
_ARCH = "-arch=sm_90"


class _Recorded:
    def __init__(self, *args, **kwargs):
        self.args = args


@pytest.fixture(scope="module")
def ck():
    """cuda_kernels.py loaded under a `cupy` stand-in that records the kernels it declares."""
    cp = types.ModuleType("cupy")
    cp.ElementwiseKernel = _Recorded
    cp.RawModule = _Recorded
    saved = sys.modules.get("cupy")
    sys.modules["cupy"] = cp
    try:
        path = os.path.join(os.path.dirname(backend.__file__), "cuda_kernels.py")
        spec = importlib.util.spec_from_file_location("nanograd_llm._ck_sources", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        if saved is None:
            del sys.modules["cupy"]
        else:
            sys.modules["cupy"] = saved
    return mod


def _compile(tmp_path, name, source):
    src = tmp_path / f"{name}.cu"
    src.write_text(source)
    r = subprocess.run([NVCC, "-ptx", _ARCH, "--std=c++14", "-o", str(tmp_path / f"{name}.ptx"),
                        str(src)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"nvcc failed on {name}:\n{r.stderr}"
    return (tmp_path / f"{name}.ptx").read_text()


@pytest.mark.parametrize("name, kernels", [
    ("_SOFTMAX", ["causal_softmax_fwd", "softmax_bwd"]),
    ("_LAYERNORM", ["ln_fwd", "ln_bwd_dx"]),
])
def test_raw_module_sources_compile(ck, tmp_path, name, kernels):
    ptx = _compile(tmp_path, name, getattr(ck, name))
    # the wrappers look kernels up by these names (extern "C": not mangled)
    for k in kernels:
        for suffix in ("f32", "f64"):
            assert f".entry {k}_{suffix}(" in ptx, f"{k}_{suffix} missing from {name}"


def _params(spec):
    """'T x, T y' -> ['x', 'y'] (every parameter of these kernels has the type placeholder T)."""
    out = []
    for p in spec.split(","):
        words = p.split()
        assert words[:-1] == ["T"], f"unexpected parameter {p!r}"
        out.append(words[-1])
    return out


def _elementwise_as_cuda(in_spec, out_spec, operation, name):
    """The kernel CuPy would generate, once with T = float and once with T = double."""
    ins, outs = _params(in_spec), _params(out_spec)
    args = ", ".join([f"const T* _in_{p}" for p in ins] + [f"T* _out_{p}" for p in outs])
    body = "".join(f"const T {p} = _in_{p}[i]; " for p in ins)
    body += "".join(f"T &{p} = _out_{p}[i]; " for p in outs)
    kernel = (f"__global__ void {name}({args}, long long n) {{\n"
              "  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;"
              " i += (long long)blockDim.x * gridDim.x) {\n"
              f"    {body}\n    {operation}\n  }}\n}}\n")
    return "".join(f"namespace {ns} {{ typedef {t} T;\n{kernel}}}\n"
                   for ns, t in (("f32", "float"), ("f64", "double")))


@pytest.mark.parametrize("attr", ["_gelu_fwd", "_gelu_bwd", "_adamw"])
def test_elementwise_kernels_compile(ck, tmp_path, attr):
    in_spec, out_spec, operation, name = getattr(ck, attr).args
    ptx = _compile(tmp_path, name, _elementwise_as_cuda(in_spec, out_spec, operation, name))
    assert ptx.count(".entry") == 2


def test_a_broken_source_is_caught(tmp_path):
    """The check can fail: a type error in a kernel body is a compile error."""
    bad = _elementwise_as_cuda("T x", "T y", "y = x + undefined_name;", "broken")
    with pytest.raises(AssertionError, match="nvcc failed"):
        _compile(tmp_path, "broken", bad)
